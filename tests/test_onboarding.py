"""/start through the real Application: buttons, typed answers, consent, warning signs, resuming."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from bot.rules.onboarding_rules import consent_hash, in_window, match_timezone, parse_time_range
from messages import render
from storage import activities, consents, events, patients

U = 1001


def buttons(h, uid=U) -> list[tuple[str, str]]:
    return [b for row in h.last(uid).buttons for b in row]


async def press(h, data: str, uid=U):
    """Tap a button of the last message, failing if that message has no such button."""
    last = h.last(uid)
    assert data in [d for _, d in buttons(h, uid)], (data, last.text, last.buttons)
    await h.tap(uid, data, last.message_id)


def patient(h, uid=U):
    return patients.by_user(h.db, uid)


def step(h, uid=U):
    state = consents.onboarding(h.db, uid)
    return state["step"] if state else None


def pending_kinds(h, pid):
    return {
        r["kind"]
        for r in h.db.query(
            "SELECT kind FROM outbox WHERE patient_id = ? AND status = 'pending'", [pid]
        )
    }


async def through_consent(h, uid=U):
    await h.send_text(uid, "/start")
    await press(h, "o:intro:go", uid)
    await press(h, "o:consent:yes", uid)


async def to_timezone(h, uid=U):
    await through_consent(h, uid)
    await press(h, "o:rf:no", uid)
    await press(h, "o:soon:no", uid)
    assert step(h, uid) == "tz"


async def test_happy_path_by_buttons(harness):
    h = harness
    await h.send_text(U, "/start")
    intro = h.last(U).text
    assert "diagnose" in intro and "emergency" in intro and "Ana" in intro
    assert patient(h) is None  # nothing about them before they agree
    await press(h, "o:intro:go")
    assert h.last(U).text == render("onboarding_consent")
    assert patient(h) is None
    await press(h, "o:consent:yes")
    await press(h, "o:rf:no")
    await press(h, "o:soon:no")
    await press(h, "o:tz:Europe/Berlin")
    await press(h, "o:ci:1800")
    await press(h, "o:qh:2200-0700")
    await press(h, "o:sit:wd")
    await press(h, "o:sh:0900-1700")
    await press(h, "o:se:45")
    await press(h, "o:act:walk")
    await press(h, "o:act:yoga")
    await press(h, "o:act:gym")
    await press(h, "o:act:gym")  # a second tap takes it off again
    assert "✅ Walking" in [label for label, _ in buttons(h)]
    await press(h, "o:act:done")
    assert "walking" in h.last(U).text
    await press(h, "o:dose:0:10")
    assert "yoga" in h.last(U).text
    await press(h, "o:dose:1:15")

    p = patient(h)
    assert (p["status"], p["timezone"], p["checkin_time"], p["quiet_from"], p["quiet_to"]) == (
        "active",
        "Europe/Berlin",
        "18:00",
        "22:00",
        "07:00",
    )
    assert (p["sitting_days"], p["sitting_from"], p["sitting_to"], p["sitting_every"]) == (
        "mon,tue,wed,thu,fri",
        "09:00",
        "17:00",
        45,
    )
    assert p["start_date"] == p["course_start"] == "2026-03-02"
    assert step(h) is None
    consent = consents.current(h.db, p["id"], "health_data")
    assert consent["version"] == 1 and consent["withdrawn_at"] is None
    assert consent["text_hash"] == consent_hash(render("onboarding_consent"))
    assert consent["given_at"].startswith("2026-03-02T12:00")
    assert [(a["name"], a["dose_minutes"]) for a in activities.for_patient(h.db, p["id"])] == [
        ("walking", 10),
        ("yoga", 15),
    ]
    summary = h.last(U).text
    assert "all set" in summary and "18:00" in summary and "walking (10 min)" in summary
    assert {"checkin", "sitting"} <= pending_kinds(h, p["id"])
    assert [e["kind"] for e in events.for_patient(h.db, p["id"])] == ["consent_given", "onboarded"]
    # Today's 18:00 Berlin check-in really goes out.
    h.clock.set(h.clock.now().replace(hour=17, minute=1))
    await h.tick()
    assert any("How is your back" in t for t in h.texts(U)[-2:])


async def test_happy_path_typed(harness):
    h = harness
    await h.send_text(U, "/start")
    for typed in ["ok", "I agree", "no", "none"]:
        await h.send_text(U, typed)
    await h.send_text(U, "são paulo")
    await h.send_text(U, "8:30")
    await h.send_text(U, "22:30–07:00")
    await h.send_text(U, "every day")
    await h.send_text(U, "9-17")
    await h.send_text(U, "30")
    await h.send_text(U, "<b>dance</b>")
    assert "&lt;b&gt;dance&lt;/b&gt;" in h.last(U).text and "<b>dance</b>" not in h.last(U).text
    await h.send_text(U, "Walk")
    await h.send_text(U, "done")
    assert "&lt;b&gt;dance&lt;/b&gt;" in h.last(U).text  # the dose question
    await h.send_text(U, "10")
    await h.send_text(U, "15 min")
    p = patient(h)
    assert (p["status"], p["timezone"], p["checkin_time"], p["quiet_from"], p["quiet_to"]) == (
        "active",
        "America/Sao_Paulo",
        "08:30",
        "22:30",
        "07:00",
    )
    assert (p["sitting_days"], p["sitting_from"], p["sitting_to"], p["sitting_every"]) == (
        "mon,tue,wed,thu,fri,sat,sun",
        "09:00",
        "17:00",
        30,
    )
    assert [(a["name"], a["dose_minutes"]) for a in activities.for_patient(h.db, p["id"])] == [
        ("<b>dance</b>", 10),
        ("walking", 15),
    ]
    assert "&lt;b&gt;dance&lt;/b&gt; (10 min)" in h.last(U).text
    assert "checkin" in pending_kinds(h, p["id"])


async def test_no_thanks_keeps_nothing(harness):
    h = harness
    await h.send_text(U, "/start")
    await press(h, "o:intro:go")
    await press(h, "o:consent:no")
    assert "haven't kept anything" in h.last(U).text
    assert patient(h) is None and consents.onboarding(h.db, U) is None
    for table in ("patients", "consents", "activities", "onboarding"):
        assert h.db[table].count == 0
    assert (
        h.db.execute(
            "SELECT count(*) FROM outbox WHERE chat_id = ? AND status = 'sent'", [U]
        ).fetchone()[0]
        == 0
    )
    await h.tap(U, "o:consent:yes", 2)
    assert "expired" in h.last(U).text and patient(h) is None
    await h.send_text(U, "/start")  # they may change their mind later
    assert "o:intro:go" in [d for _, d in buttons(h)]


async def test_emergency_sign_holds_everything_until_seen(harness):
    h = harness
    await through_consent(h)
    await press(h, "o:rf:yes")
    p = patient(h)
    assert p["status"] == "hold" and step(h) == "hold"
    assert "emergency" in h.last(U).text and "112" in h.last(U).text
    flags = events.for_patient(h.db, p["id"], "red_flag")
    assert [f["data"] for f in flags] == [{"level": "emergency", "at": "onboarding"}]
    await h.send_text(U, "I'm fine now")  # typed text does not lift the hold
    assert step(h) == "hold" and "o:hold:seen" in [d for _, d in buttons(h)]
    h.clock.advance(timedelta(days=1))
    assert await h.tick() is not None
    assert pending_kinds(h, p["id"]) == set()
    await h.send_text(U, "/start")  # resumes at the hold
    assert "o:hold:seen" in [d for _, d in buttons(h)]
    await press(h, "o:hold:seen")
    assert patient(h)["status"] == "onboarding" and step(h) == "soon"
    assert "Thank you for letting me know" in h.last(U).text
    await press(h, "o:soon:yes")
    texts = h.texts(U)
    assert "doctor today or tomorrow" in texts[-2] and step(h) == "tz"
    levels = [f["data"]["level"] for f in events.for_patient(h.db, p["id"], "red_flag")]
    assert levels == ["emergency", "soon"]


async def test_interrupted_onboarding_resumes_at_the_same_step(harness):
    h = harness
    await h.send_text(U, "/start")
    await h.send_text(U, "/start")
    assert step(h) == "intro" and "carry on" in h.texts(U)[-2]
    await to_timezone(h)
    await press(h, "o:tz:Asia/Kolkata")
    before = h.last(U).buttons
    h.clock.advance(timedelta(hours=5))  # e.g. a restart in between: nothing is held in memory
    await h.send_text(U, "/start")
    assert step(h) == "ci" and h.last(U).buttons == before
    await press(h, "o:ci:0900")
    assert patient(h)["checkin_time"] == "09:00" and step(h) == "qh"


async def test_stale_forged_and_other_peoples_buttons_expire(harness):
    h = harness
    await to_timezone(h)
    tz_message = h.last(U)
    await press(h, "o:tz:Europe/London")
    assert step(h) == "ci"
    for data in [
        "o:tz:America/Chicago",
        "o:ci:0715",
        "o:qh:2200-0700",
        "o:ci",
        "o:",
        "o:ci:0800:x",
        "o:consent:yes",
        "o:dose:0:10",
    ]:
        await h.tap(U, data, tz_message.message_id)
        assert "expired" in h.last(U).text, data
    assert patient(h)["timezone"] == "Europe/London" and patient(h)["checkin_time"] is None
    await h.tap(2002, "o:ci:0800", 5)  # a stranger with no onboarding at all
    assert "expired" in h.last(2002).text and patient(h, 2002) is None
    await h.tap(U, "o:ci:0800", 5)  # the real one still works
    assert patient(h)["checkin_time"] == "08:00"


async def test_a_dose_button_only_sets_the_activity_it_asked_about(harness):
    h = harness
    await to_timezone(h)
    for data in [
        "o:tz:Europe/London",
        "o:ci:0800",
        "o:qh:2200-0700",
        "o:sit:no",
        "o:act:walk",
        "o:act:swim",
        "o:act:done",
    ]:
        await press(h, data)
    first = h.last(U)
    await press(h, "o:dose:0:20")
    second = h.last(U)
    await h.tap(U, "o:dose:0:5", first.message_id)  # the walking question again
    assert "expired" in h.last(U).text
    await h.tap(U, "o:dose:1:7", 9)  # not a dose a button offers
    assert "expired" in h.last(U).text
    assert "o:dose:1:5" in [d for row in second.buttons for _, d in row]
    await h.tap(U, "o:dose:1:5", second.message_id)
    pid = patient(h)["id"]
    assert [(a["name"], a["dose_minutes"]) for a in activities.for_patient(h.db, pid)] == [
        ("walking", 20),
        ("swimming", 5),
    ]
    assert patient(h)["sitting_days"] == "" and "sitting" not in pending_kinds(h, pid)


async def test_checkin_time_inside_quiet_hours_is_refused(harness):
    h = harness
    await to_timezone(h)
    await press(h, "o:tz:Europe/Berlin")
    await h.send_text(U, "23:00")
    await press(h, "o:qh:2200-0700")
    assert "inside those quiet hours" in h.last(U).text and step(h) == "qh"
    assert patient(h)["quiet_from"] is None
    await h.send_text(U, "21:00-08:00")
    assert "inside those quiet hours" in h.last(U).text
    await press(h, "o:qh:back")
    assert step(h) == "ci"
    await press(h, "o:ci:2000")
    await press(h, "o:qh:2200-0700")
    assert patient(h)["quiet_from"] == "22:00" and step(h) == "sit"


@pytest.mark.parametrize("bad", ["Atlantis", "EST", "", "x" * 80])
async def test_unknown_zone_is_asked_again_and_nothing_stored(harness, bad):
    h = harness
    await to_timezone(h)
    await h.send_text(U, bad or " ")
    assert "couldn't find" in h.last(U).text and "Madrid" in h.last(U).text
    assert patient(h)["timezone"] == "UTC" and step(h) == "tz"
    await press(h, "o:tz:other")
    assert "city" in h.last(U).text and h.last(U).buttons == []
    await h.send_text(U, "new york")
    assert patient(h)["timezone"] == "America/New_York" and step(h) == "ci"


@pytest.mark.parametrize("bad", ["25:00", "soon", "830", "8:75"])
async def test_bad_time_is_asked_again_and_nothing_stored(harness, bad):
    h = harness
    await to_timezone(h)
    await press(h, "o:tz:Europe/Berlin")
    await h.send_text(U, bad)
    assert "didn't catch a time" in h.last(U).text
    assert patient(h)["checkin_time"] is None and step(h) == "ci"
    await h.send_text(U, "8pm")
    assert patient(h)["checkin_time"] == "20:00"


async def test_other_bad_answers_are_asked_again(harness):
    h = harness
    await h.send_text(U, "/start")
    await h.send_text(U, "what?")
    assert step(h) == "intro" and "o:intro:go" in [d for _, d in buttons(h)]
    await press(h, "o:intro:go")
    await h.send_text(U, "maybe")
    assert step(h) == "consent" and patient(h) is None
    await press(h, "o:consent:yes")
    await h.send_text(U, "hmm")
    assert step(h) == "rf" and "yes" in h.last(U).text
    for data in ["o:rf:no", "o:soon:no", "o:tz:Europe/Berlin", "o:ci:0800", "o:qh:2200-0700"]:
        await press(h, data)
    await h.send_text(U, "sometimes")
    assert step(h) == "sit"
    await press(h, "o:sit:wd")
    await h.send_text(U, "17-9")  # sitting hours run within a day
    assert step(h) == "sh" and patient(h)["sitting_from"] is None
    await press(h, "o:sh:0800-1600")
    await h.send_text(U, "20")
    assert step(h) == "se" and "30, 45 or 60" in h.last(U).text
    await press(h, "o:se:60")
    await press(h, "o:act:done")
    assert "at least one" in h.last(U).text and step(h) == "act"
    for bad in ["a very long description of what I like to do on sundays", "10", "/dance"]:
        await h.send_text(U, bad)
        assert "a word or two" in h.last(U).text or "don't know that command" in h.last(U).text
    assert consents.onboarding(h.db, U)["data"] == {}
    await h.send_text(U, "Dancing")
    await h.send_text(U, "dancing")  # the same again is not a second activity
    await press(h, "o:act:done")
    await h.send_text(U, "forever")
    assert step(h) == "dose" and activities.for_patient(h.db, patient(h)["id"]) == []
    await h.send_text(U, "600")  # more than a starting dose
    await h.send_text(U, "half an hour")
    chosen = activities.for_patient(h.db, patient(h)["id"])
    assert [(a["name"], a["dose_minutes"]) for a in chosen] == [("Dancing", 30)]
    assert patient(h)["status"] == "active"


async def test_start_when_already_set_up_welcomes_back(harness):
    h = harness
    h.add_patient()
    await h.send_text(U, "/start")
    assert "Welcome back, Ana" in h.last(U).text and "/help" in h.last(U).text
    assert consents.onboarding(h.db, U) is None and h.last(U).buttons == []


async def test_start_in_a_group_is_not_onboarding(harness):
    h = harness
    await h.send_text(U, "/start", chat_id=-100123, chat_type="supergroup")
    assert "private chat" in h.last(-100123).text and consents.onboarding(h.db, U) is None


@pytest.mark.parametrize(
    "typed, zone",
    [
        ("madrid", "Europe/Madrid"),
        ("Madrid", "Europe/Madrid"),
        ("MADRID, Spain", "Europe/Madrid"),
        ("new york", "America/New_York"),
        ("New_York", "America/New_York"),
        ("sao paulo", "America/Sao_Paulo"),
        ("São Paulo", "America/Sao_Paulo"),
        ("Europe/Madrid", "Europe/Madrid"),
        ("europe/madrid", "Europe/Madrid"),
        ("zürich", "Europe/Zurich"),
        ("port au prince", "America/Port-au-Prince"),
        ("buenos aires", "America/Argentina/Buenos_Aires"),
        ("UTC", "UTC"),
        ("Atlantis", None),
        ("EST", None),
        ("", None),
        (None, None),
        ("Europe", None),
    ],
)
def test_match_timezone(typed, zone):
    assert match_timezone(typed) == zone


@pytest.mark.parametrize(
    "typed, span",
    [
        ("22:30-07:00", (time(22, 30), time(7))),
        ("22:30 – 07:00", (time(22, 30), time(7))),
        ("9-17", (time(9), time(17))),
        ("9am to 5pm", (time(9), time(17))),
        ("9-9", None),
        ("9", None),
        ("9-17-20", None),
        ("late-early", None),
        (None, None),
    ],
)
def test_parse_time_range(typed, span):
    assert parse_time_range(typed) == span


@pytest.mark.parametrize(
    "at, inside",
    [
        (time(23), True),
        (time(6, 59), True),
        (time(7), False),
        (time(21, 59), False),
        (time(22), True),
    ],
)
def test_in_window_wraps_midnight(at, inside):
    assert in_window(at, time(22), time(7)) is inside
    assert in_window(at, time(7), time(7)) is False


async def test_a_redelivered_answer_changes_nothing_twice(harness):
    h = harness
    await through_consent(h)
    update = h.updates.text(U, "no")
    await h.app.process_update(update)
    assert step(h) == "soon"
    sent = len(h.texts(U))
    await h.app.process_update(update)  # Telegram sends it again after a crash
    assert step(h) == "soon" and len(h.texts(U)) == sent


async def test_checkin_command_during_a_red_flag_hold_points_to_care(harness):
    harness.add_patient(status="hold")
    await harness.send_text(1001, "/checkin")
    assert "on hold" in harness.last(1001).text
    assert (
        harness.db.execute("SELECT count(*) FROM outbox WHERE kind = 'checkin_asked'").fetchone()[0]
        == 0
    )


async def test_a_shared_location_sets_the_time_zone_and_is_not_kept(harness):
    await to_timezone(harness)
    await harness.app.process_update(harness.updates.location(U, 41.39, 2.17))  # Barcelona
    assert patient(harness)["timezone"] == "Europe/Madrid"
    assert step(harness) == "ci"
    dump = "\n".join(
        str(r)
        for table in harness.db.table_names()
        for r in harness.db.query(f"SELECT * FROM [{table}]")
    )
    assert "41.39" not in dump and "2.17" not in dump


async def test_a_location_at_sea_asks_for_a_city(harness):
    await to_timezone(harness)
    await harness.app.process_update(harness.updates.location(U, 0.0, -30.0))
    assert "open sea" in harness.last(U).text and step(harness) == "tz"


async def test_a_location_outside_onboarding_gets_the_media_help(harness):
    harness.add_patient()
    await harness.app.process_update(harness.updates.location(U, 41.39, 2.17))
    assert patient(harness)["timezone"] == "Europe/Berlin"
    # Issue 15, finding 13: not "I can only read text", but what a location is used for.
    assert harness.last(U).text == render("location_unused", setting_up=False)
