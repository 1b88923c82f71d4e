"""A reviewer typing through set-up: list endings, doses typed a step early, check-in times and
quiet hours in words, and common places for the time zone. Pure rules, then the real Application."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules import onboarding_rules as R
from bot.rules.parsing import parse_clock, parse_hhmm
from handlers.onboarding_questions import Reask, from_text
from storage import activities, consents, patients

U = 1001


def step(h):
    state = consents.onboarding(h.db, U)
    return state["step"] if state else None


def _act_state() -> dict:
    return {"step": "act", "data": {}}


# -- finding 1: junk saved as activities -------------------------------------------------------


@pytest.mark.parametrize(
    "typed, names",
    [
        ("walking, and gardening, that's it", ["walking", "gardening"]),
        ("walking and gardening. that's all", ["walking", "gardening"]),
        ("walking, swimming and that's it", ["walking", "swimming"]),
        ("Walking; yoga. Done!", ["walking", "yoga"]),
        ("dancing, nothing else", ["dancing"]),
        ("rock and roll, no more", ["rock and roll"]),
        ("walking and none", ["walking"]),
        ("walking, swimming and that’s all.", ["walking", "swimming"]),
    ],
)
def test_finding_01_a_list_ending_ends_the_list_and_keeps_the_names(typed, names):
    assert R.activity_list(typed) == (names, True)
    assert from_text(_act_state(), typed) == ("end", *names)


@pytest.mark.parametrize(
    "typed, names",
    [
        ("walking. yoga", ["walking", "yoga"]),
        ("rock and roll", ["rock and roll"]),
        ("walk and swim", ["walking", "swimming"]),
        ("dancing, 20", ["dancing, 20"]),
        ("gardening done", ["gardening done"]),
        ("nordic walking", ["nordic walking"]),
    ],
)
def test_finding_01_other_lists_stay_open(typed, names):
    assert R.activity_list(typed) == (names, False)


@pytest.mark.parametrize("typed", ["half an hour", "20 min", "20", "twenty", "1.5 h", "15 mins."])
def test_finding_01_a_dose_typed_early_is_not_an_activity(typed):
    assert R.looks_like_dose(typed)
    with pytest.raises(Reask) as asked:
        from_text(_act_state(), typed)
    assert asked.value.problem == "dose_early"


@given(st.text(max_size=60))
def test_finding_01_a_list_ending_is_never_stored_as_a_name(text):
    found = R.activity_list(text)
    ends = {R.safety_words(w) for w in ("that's it", "that's all", "done", "none", "no more")}
    if found is not None:
        names, _ = found
        assert all(R.safety_words(n) not in ends for n in names)


async def _to_activities(h, tz="Berlin", ci="8:00", qh="22:00-07:00"):
    await h.send_text(U, "/start")
    for typed in ["ok", "I agree", "no", "none", tz, ci, qh, "no"]:
        await h.send_text(U, typed)
    assert step(h) == "act", h.last(U).text


async def test_finding_01_typed_list_with_an_ending_goes_to_the_doses(harness):
    h = harness
    await _to_activities(h)
    await h.send_text(U, "half an hour")
    assert "what is the activity called" in h.last(U).text
    assert consents.onboarding(h.db, U)["data"].get("chosen", []) == []
    await h.send_text(U, "walking, and gardening, that's it")
    assert step(h) == "dose" and "<b>walking</b>" in h.last(U).text
    await h.send_text(U, "20")
    assert "<b>gardening</b>" in h.last(U).text and "that's it" not in h.last(U).text
    await h.send_text(U, "half an hour")
    pid = patients.by_user(h.db, U)["id"]
    stored = [(a["name"], a["dose_minutes"]) for a in activities.for_patient(h.db, pid)]
    assert stored == [("walking", 20), ("gardening", 30)]


# -- finding 2: check-in times in words --------------------------------------------------------


@pytest.mark.parametrize(
    "typed, at",
    [
        ("eight", time(8)),
        ("half past 8", time(8, 30)),
        ("8 in the morning", time(8)),
        ("8ish", time(8)),
        ("around 9", time(9)),
        ("9 am", time(9)),
        ("Eight.", time(8)),
        ("quarter to 7", time(6, 45)),
        ("eight thirty", time(8, 30)),
        ("half past seven in the evening", time(19, 30)),
        ("11 at night", time(23)),
        ("at 7:30", time(7, 30)),
        ("about 8 o'clock", time(8)),
    ],
)
def test_finding_02_checkin_times_in_words(typed, at):
    assert parse_clock(typed) == at
    assert from_text({"step": "ci", "data": {}}, typed) == R.hhmm(at)


@pytest.mark.parametrize(
    "typed",
    [
        "8 or 9",
        "830",
        "morning",
        "soon",
        "half past",
        "5 at night",
        "14 in the morning",
        "8pm in the morning",
        "12 in the morning",
        "after 8",
        "around",
    ],
)
def test_finding_02_real_ambiguity_is_still_refused(typed):
    assert parse_clock(typed) is None


@given(st.text(max_size=70))
def test_finding_02_parse_clock_agrees_with_parse_hhmm_and_never_raises(text):
    strict, loose = parse_hhmm(text), parse_clock(text)
    assert loose is None or isinstance(loose, time)
    if strict is not None:
        assert loose == strict


# -- finding 3: quiet hours in set-up ----------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["none", "no", "No.", "I don't want quiet hours", "I don’t need any quiet hours"]
)
def test_finding_03_no_quiet_hours_in_setup(typed):
    assert from_text({"step": "qh", "data": {}}, typed) == "none"


@pytest.mark.parametrize(
    "typed, span",
    [
        ("from 11 at night until 7", ("23:00", "07:00")),
        ("11pm to 7am", ("23:00", "07:00")),
        ("between 10pm and 6:30am", ("22:00", "06:30")),
        ("half past 10 at night - 7", ("22:30", "07:00")),
    ],
)
def test_finding_03_quiet_hours_in_words(typed, span):
    assert from_text({"step": "qh", "data": {}}, typed) == span


async def test_finding_03_setup_with_no_quiet_hours_and_a_time_in_words(harness):
    h = harness
    await _to_activities(h, tz="Manchester", ci="half past 8", qh="I don't want quiet hours")
    p = patients.by_user(h.db, U)
    assert (p["timezone"], p["checkin_time"]) == ("Europe/London", "08:30")
    assert (p["quiet_from"], p["quiet_to"]) == (None, None)


# -- finding 4: common places for the time zone ------------------------------------------------


@pytest.mark.parametrize(
    "typed, zone",
    [
        ("Manchester", "Europe/London"),
        ("Glasgow", "Europe/London"),
        ("UK", "Europe/London"),
        ("England", "Europe/London"),
        ("NYC", "America/New_York"),
        ("Mumbai", "Asia/Kolkata"),
        ("manchester, uk", "Europe/London"),
        ("Berlin", "Europe/Berlin"),
    ],
)
def test_finding_04_common_places(typed, zone):
    assert R.match_timezone(typed) == zone
