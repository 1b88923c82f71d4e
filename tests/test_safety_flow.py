"""Issue 14's findings, one by one, through the real Application: only clear answers count at
every safety question, the way back from a hold, the 24-hour follow-up and the "seen" question,
the right emergency number, a clinic's text without "Call Call", and "soon" signs reaching the
clinic (alert, dated roster flag, export column)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.rules import safety
from bot.rules.onboarding_rules import is_mistake, is_not_yet, is_seen
from handlers.onboarding_questions import Reask, from_text
from jobs import clinic as clinic_flow
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from messages import render
from storage import checkins, clinics, consents, events, patients
from tests.test_caregivers import accept, invite
from tests.test_clinics import PATIENT, STAFF, alerts_to, clinic  # noqa: F401 - the fixture
from tests.test_sessions import button

USER = 1001
EMERGENCY = "I can't feel my bum and I wet myself"
SOON = "I've had a fever and I feel really unwell with it"
UNCLEAR = ["ok", "fine", "sure", "next", "I agree", "help"]
CLEAR_YES_NO = "clear yes or no"
NOT_SURE_LINE = "If you are not sure, please contact a doctor today"


def last(h, user=USER):
    return h.last(user)


async def tap(h, prefix, value=None, user=USER):
    message = h.last(user)
    await h.tap(user, button(message, prefix, value), message.message_id)
    return h.last(user)


async def say(h, text, user=USER):
    await h.send_text(user, text)
    return h.last(user)


def status(h, pid):
    return patients.get(h.db, pid)["status"]


def red_flags(h, pid):
    return [
        (e["data"]["level"], e["data"].get("at")) for e in events.for_patient(h.db, pid, "red_flag")
    ]


async def on_hold(h, **fields):
    pid = h.add_patient(**fields)
    plan_all(h.rt)
    await say(h, "/urgent")
    await tap(h, "u:emergency:yes")
    assert status(h, pid) == "hold"
    return pid


def step(h, user=USER):
    state = consents.onboarding(h.db, user)
    return state["step"] if state else None


async def onboard_to(h, target):
    await say(h, "/start")
    for data in {
        "rf": ["o:intro:go", "o:consent:yes"],
        "soon": ["o:intro:go", "o:consent:yes", "o:rf:no"],
        "hold": ["o:intro:go", "o:consent:yes", "o:rf:yes"],
    }[target]:
        await h.tap(USER, data, h.last(USER).message_id)
    assert step(h) == target


# --- 2. only clear answers, at every safety question -----------------------------------------


@pytest.mark.parametrize("target", ["rf", "soon"])
async def test_onboarding_warning_sign_questions_take_only_a_clear_answer(harness, target):
    h = harness
    await onboard_to(h, target)
    pid = patients.by_user(h.db, USER)["id"]
    for text in UNCLEAR:
        reply = await say(h, text)
        assert CLEAR_YES_NO in reply.text and step(h) == target, text
    reply = await say(h, "not sure")
    assert NOT_SURE_LINE in reply.text and step(h) == target
    assert status(h, pid) == "onboarding" and red_flags(h, pid) == []
    await say(h, "no")
    assert step(h) == ("soon" if target == "rf" else "tz")


async def test_onboarding_hold_takes_only_a_clear_answer_and_has_a_way_back(harness):
    h = harness
    await onboard_to(h, "hold")
    pid = patients.by_user(h.db, USER)["id"]
    full = last(h).text
    assert "Call 112 or your local emergency number" in full and "now" in full
    for text in UNCLEAR + ["sorry I meant to say I'm fine"]:
        reply = await say(h, text)
        assert step(h) == "hold" and status(h, pid) == "hold", text
        assert "Setting up is on hold" in reply.text  # short: not the whole advice again
    reply = await say(h, "not sure")
    assert NOT_SURE_LINE in reply.text and step(h) == "hold"
    h.clock.advance(timedelta(minutes=61))
    assert "Please get medical help now" in (await say(h, "hello?")).text  # hourly at most
    # The way back: no doctor visit needs declaring.
    reply = await say(h, "I answered by mistake")
    assert step(h) == "rf" and status(h, pid) == "onboarding"
    assert "go through them again" in reply.text
    await say(h, "no")
    assert step(h) == "soon"
    kinds = [e["kind"] for e in events.for_patient(h.db, pid) if e["kind"].startswith("red_flag")]
    assert kinds == ["red_flag", "red_flag_mistake"]


async def test_the_onboarding_way_back_button(harness):
    h = harness
    await onboard_to(h, "hold")
    await tap(h, "o:hold:mistake")
    assert step(h) == "rf"


@pytest.mark.parametrize("question", ["emergency", "soon"])
async def test_urgent_questions_take_typed_answers_and_only_clear_ones(harness, question):
    h = harness
    pid = h.add_patient()
    await say(h, "/checkin")  # a check-in open: a typed "yes" must not become a rating
    await say(h, "/urgent")
    if question == "soon":
        await say(h, "no")
        assert "fever" in last(h).text
    for text in UNCLEAR:
        reply = await say(h, text)
        assert CLEAR_YES_NO in reply.text, text
    assert NOT_SURE_LINE in (await say(h, "not sure")).text
    assert status(h, pid) == "active" and red_flags(h, pid) == []
    reply = await say(h, "yes")
    if question == "emergency":
        assert "get medical help now" in reply.text and status(h, pid) == "hold"
        assert red_flags(h, pid) == [("emergency", "urgent")]
    else:
        assert "today or tomorrow" in reply.text and status(h, pid) == "active"
        assert red_flags(h, pid) == [("soon", "urgent")]
    assert h.db["checkins"].count == 0


async def test_a_stranger_can_answer_urgent_by_typing(harness):
    h = harness
    await say(h, "/urgent", 3003)
    assert CLEAR_YES_NO in (await say(h, "ok", 3003)).text
    assert "fever" in (await say(h, "no", 3003)).text
    assert "No warning signs" in (await say(h, "no", 3003)).text
    assert h.db["patients"].count == 0 and h.db["events"].count == 0


async def test_the_confirming_question(harness):
    h = harness
    pid = h.add_patient()
    await say(h, "/checkin")
    reply = await say(h, EMERGENCY)
    assert "Is this happening now" in reply.text and "Call 112" in reply.text
    assert checkins.awaiting(h.db, pid)["kind"] == "safety_confirm"
    for text in UNCLEAR:
        assert CLEAR_YES_NO in (await say(h, text)).text, text
    assert NOT_SURE_LINE in (await say(h, "not sure")).text
    assert status(h, pid) == "active" and red_flags(h, pid) == []
    reply = await say(h, "no")
    assert "If it does happen, or you are not sure, call 112 straight away" in reply.text
    # The check-in it displaced is open again: a typed number is its rating.
    assert checkins.awaiting(h.db, pid)["kind"] == "checkin"
    await say(h, "4")
    assert h.db["checkins"].count == 1
    # Yes by button: the same as /urgent's emergency answer.
    await say(h, EMERGENCY)
    reply = await tap(h, "sf:emergency:yes")
    assert "get medical help now" in reply.text and status(h, pid) == "hold"
    assert red_flags(h, pid) == [("emergency", "message")]
    [heard, *_] = events.for_patient(h.db, pid, "warning_sign_heard")
    assert set(heard["data"]) == {"level", "signs", "doubtful"}  # never the words


async def test_a_confirmed_soon_sign_is_recorded(harness):
    h = harness
    pid = h.add_patient()
    reply = await say(h, SOON)
    assert "Does this apply to you?" in reply.text and "today or tomorrow" in reply.text
    await say(h, "yes")
    assert red_flags(h, pid) == [("soon", "message")] and status(h, pid) == "active"


async def test_a_doubtful_match_asks_without_claiming(harness, monkeypatch):
    h = harness
    h.add_patient()
    monkeypatch.setattr(safety, "screen", lambda text: safety.Screen("emergency", ("legs",), True))
    reply = await say(h, "no numbness in my legs, not weak either")
    assert "could be a warning sign" in reply.text and "Is this happening now" in reply.text
    assert "This could be a warning sign that needs help now" not in reply.text


# --- 3. the way back, the follow-up, the seen question ---------------------------------------


async def test_the_way_back_lifts_a_mistaken_hold_without_a_doctor_visit(harness):
    h = harness
    pid = await on_hold(h)
    assert "I answered by mistake" in [b for row in last(h).buttons for b, _ in row]
    await tap(h, "u:mistake")
    assert "go through them again" in last(h).text
    await tap(h, "u:emergency:no")
    reply = await tap(h, "u:soon:no")
    assert status(h, pid) == "active"
    assert "off hold" in h.texts(USER)[-1] or "off hold" in reply.text
    kinds = [e["kind"] for e in events.for_patient(h.db, pid)]
    assert "red_flag_mistake" in kinds and "red_flag_seen" not in kinds
    assert (
        h.db.execute(
            "SELECT count(*) FROM outbox WHERE patient_id = ? AND kind = 'checkin' "
            "AND status = 'pending'",
            [pid],
        ).fetchone()[0]
        >= 1
    )
    assert (
        h.db.execute(
            "SELECT count(*) FROM outbox WHERE patient_id = ? AND "
            "kind = 'safety_followup' AND status = 'pending'",
            [pid],
        ).fetchone()[0]
        == 0
    )


@pytest.mark.parametrize("typed", ["I answered by mistake", "mistake", "wrong button"])
async def test_the_way_back_typed(harness, typed):
    h = harness
    pid = await on_hold(h)
    await say(h, typed)
    await say(h, "no")
    await say(h, "no")
    assert status(h, pid) == "active"


async def test_none_of_these_after_urgent_on_hold_offers_the_way_back(harness):
    h = harness
    pid = await on_hold(h)
    await say(h, "/urgent")
    await tap(h, "u:emergency:no")
    reply = await tap(h, "u:soon:no")
    assert "still on hold" in reply.text and status(h, pid) == "hold"
    await tap(h, "u:mistake")
    await tap(h, "u:emergency:no")
    await tap(h, "u:soon:no")
    assert status(h, pid) == "active"


async def test_on_hold_a_short_reminder_and_the_full_advice_hourly(harness):
    h = harness
    await on_hold(h)
    reply = await say(h, "what now?")
    assert "on hold" in reply.text and "Please get medical help now" not in reply.text
    assert "Send /checkin" not in reply.text
    for _ in range(5):
        assert "Please get medical help now" not in (await say(h, "hello")).text
    h.clock.advance(timedelta(minutes=61))
    assert "Please get medical help now" in (await say(h, "hello")).text
    assert "Please get medical help now" not in (await say(h, "hello")).text
    # "sorry I meant no" is the way back: the questions again (a clear "no" twice lifts it).
    assert "go through them again" in (await say(h, "sorry I meant no")).text


async def test_the_follow_up_a_day_later_and_the_seen_question(harness):
    h = harness
    pid = await on_hold(h, quiet_from="21:30", quiet_to="07:30")
    carer_code = await invite(h, "a")
    await accept(h, carer_code)
    h.clock.advance(timedelta(hours=23))
    await dispatch_due(h.rt)
    assert not any("get checked" in t for t in h.texts(USER))
    h.clock.advance(timedelta(hours=1, minutes=1))  # 24 h later: 13:01 in Berlin
    await dispatch_due(h.rt)
    follow = last(h)
    assert "Were you able to get checked?" in follow.text
    labels = [b for row in follow.buttons for b, _ in row]
    assert labels == ["I have been seen by a doctor", "Not yet", "I answered by mistake"]
    for text in UNCLEAR:
        assert CLEAR_YES_NO in (await say(h, text)).text
    assert NOT_SURE_LINE in (await say(h, "not sure")).text
    reply = await say(h, "I have been seen")
    assert "fine to carry on with your activities?" in reply.text
    await dispatch_due(h.rt)
    assert any("has been seen by a doctor" in t for t in h.texts(2002))  # the caregiver
    for text in UNCLEAR:
        assert CLEAR_YES_NO in (await say(h, text)).text
    assert NOT_SURE_LINE in (await say(h, "not sure")).text
    reply = await say(h, "no")
    assert status(h, pid) == "hold" and "/resume" in reply.text
    reply = await say(h, "/resume")  # seen already: straight to "may you carry on?"
    assert "fine to carry on" in reply.text
    await tap(h, "u:ok:yes")
    assert status(h, pid) == "active"
    kinds = [e["kind"] for e in events.for_patient(h.db, pid)]
    assert kinds.count("red_flag_seen") == 1 and "hold_kept" in kinds and "hold_lifted" in kinds


async def test_the_follow_up_is_not_cancelled_by_the_hold_and_waits_for_quiet_hours(harness):
    h = harness
    h.clock.advance(timedelta(hours=9))  # 22:00 in Berlin: the follow-up falls in quiet hours
    pid = await on_hold(h, quiet_from="21:30", quiet_to="07:30")
    row = h.db.execute(
        "SELECT * FROM outbox WHERE patient_id = ? AND kind = 'safety_followup'", [pid]
    ).fetchone()
    assert row is not None
    h.clock.advance(timedelta(hours=24))
    await dispatch_due(h.rt)
    assert not any("get checked" in t for t in h.texts(USER))
    h.clock.advance(timedelta(hours=10))
    await dispatch_due(h.rt)
    assert "Were you able to get checked?" in last(h).text
    await tap(h, "u:fu:notyet")
    assert "as soon as you can" in last(h).text
    assert (
        h.db.execute(
            "SELECT count(*) FROM outbox WHERE patient_id = ? AND kind = "
            "'safety_followup' AND status = 'pending'",
            [pid],
        ).fetchone()[0]
        == 1
    )


async def test_the_follow_up_says_nothing_once_the_hold_is_lifted(harness):
    h = harness
    pid = await on_hold(h)
    await tap(h, "u:seen")
    await tap(h, "u:ok:yes")
    assert status(h, pid) == "active"
    h.clock.advance(timedelta(hours=25))
    await dispatch_due(h.rt)
    assert not any("get checked" in t for t in h.texts(USER))


# --- 4. the right number ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone_name, expected",
    [
        ("Europe/Berlin", "Call 112"),
        ("Europe/London", "Call 999"),
        ("America/New_York", "Call 911"),
        ("Asia/Tokyo", "Call 119"),
        ("Australia/Sydney", "Call 000"),
        ("Asia/Kolkata", "Call 112"),
        ("Etc/GMT+5", "Call 112 or your local emergency number"),
    ],
)
async def test_the_emergency_number_follows_the_patients_zone(harness, zone_name, expected):
    h = harness
    h.add_patient(timezone=zone_name)
    await say(h, "/urgent")
    reply = await tap(h, "u:emergency:yes")
    assert expected in reply.text
    assert "911 in North America" not in reply.text
    await say(h, "/help")
    assert expected.casefold() in last(h).text.casefold()  # /help says it mid-sentence


async def test_now_not_today_in_the_emergency_texts():
    for name in ("urgent_emergency", "onboarding_emergency"):
        text = render(name, emergency_number="999", held=True)
        assert "emergency department now" in text and "today" not in text, name


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("Call 999 or the clinic on 0123", "999 or the clinic on 0123"),
        ("DIAL 000", "000"),
        ("phone: 112", "112"),
        ("ring 999", "999"),
        ("999", "999"),
    ],
)
async def test_a_clinic_text_never_reads_call_call(clinic, typed, stored):  # noqa: F811 - the fixture
    h = clinic["h"]
    await h.send_text(STAFF, f"/cohort_set {clinic['cohort']} emergency {typed}")
    shown = h.last(STAFF).text
    assert clinics.cohort(h.db, clinic["cohort"])["emergency_text"] == stored
    assert f"Call {stored}, or go to the nearest emergency department now." in shown, shown
    await h.send_text(PATIENT, "/urgent")
    await h.tap(PATIENT, "u:emergency:yes", h.last(PATIENT).message_id)
    await h.send_text(PATIENT, "/help")
    for text in h.texts(PATIENT)[-2:]:
        assert f"all {stored}" in text and "Call Call" not in text and "call Call" not in text
        assert "call call" not in text.lower()


async def test_a_clinic_text_is_capped(clinic):  # noqa: F811 - the fixture
    h = clinic["h"]
    await h.send_text(STAFF, f"/cohort_set {clinic['cohort']} emergency {'9' * 61}")
    assert "60 characters" in h.last(STAFF).text
    assert clinics.cohort(h.db, clinic["cohort"])["emergency_text"] is None
    await h.send_text(STAFF, f"/cohort_set {clinic['cohort']} emergency {'9' * 60}")
    assert clinics.cohort(h.db, clinic["cohort"])["emergency_text"] == "9" * 60


def test_clean_emergency_text():
    assert clinic_flow.clean_emergency_text("  Call  call 999 ") == "999"
    assert clinic_flow.clean_emergency_text("Call") is None
    assert clinic_flow.clean_emergency_text("Caller line 0800") == "Caller line 0800"


# --- 5. "soon" reaches the clinic; seen alerts -----------------------------------------------


def soon_alerts(h):
    return [a for a in alerts_to(h, STAFF) if "needs a doctor's check soon" in a]


async def test_a_soon_sign_alerts_the_clinic_once_per_episode_with_roster_and_export(clinic):  # noqa: F811 - the fixture
    h, pid = clinic["h"], clinic["pid"]
    await h.send_text(PATIENT, "/urgent")
    await h.tap(PATIENT, "u:emergency:no", h.last(PATIENT).message_id)
    await h.tap(PATIENT, "u:soon:yes", h.last(PATIENT).message_id)
    await h.tick()
    [alert] = soon_alerts(h)
    assert "fever" not in alert
    # Again within 14 days (typed this time): recorded, but the clinic is not alerted again.
    h.clock.advance(timedelta(days=3))
    await h.send_text(PATIENT, SOON)
    await h.send_text(PATIENT, "yes")
    await h.tick()
    assert len(soon_alerts(h)) == 1
    assert [lvl for lvl, _ in red_flags(h, pid)] == ["soon", "soon"]
    await h.send_text(STAFF, f"/cohort {clinic['cohort']}")
    assert "see-doctor sign 2026-03-05" in h.last(STAFF).text
    days, _ = clinic_flow.export_rows(h.db, clinic["cohort"], h.clock.now())
    reported = {
        r["local_date"]: r["soon_sign_reported_at"] for r in days if r["soon_sign_reported_at"]
    }
    assert sorted(reported) == ["2026-03-02", "2026-03-05"]
    files = dict(
        clinic_flow.export_files(h.db, clinics.cohort(h.db, clinic["cohort"]), h.clock.now())
    )
    header = next(csv.reader(io.StringIO(next(iter(files.values())).decode())))
    assert "soon_sign_reported_at" in header and "emergency_sign_reported_at" in header
    # After 14 days it is a new episode.
    h.clock.advance(timedelta(days=15))
    await h.send_text(PATIENT, "/urgent")
    await h.tap(PATIENT, "u:emergency:no", h.last(PATIENT).message_id)
    await h.tap(PATIENT, "u:soon:yes", h.last(PATIENT).message_id)
    await h.tick()
    assert len(soon_alerts(h)) == 2


async def test_the_emergency_flag_is_dated_and_seen_alerts_the_clinic(clinic):  # noqa: F811 - the fixture
    h, pid = clinic["h"], clinic["pid"]
    await h.send_text(PATIENT, "/urgent")
    await h.tap(PATIENT, "u:emergency:yes", h.last(PATIENT).message_id)
    await h.tick()
    await h.send_text(STAFF, f"/cohort {clinic['cohort']}")
    assert "red flag reported 2026-03-02" in h.last(STAFF).text
    days, _ = clinic_flow.export_rows(h.db, clinic["cohort"], h.clock.now())
    assert [r["local_date"] for r in days if r["emergency_sign_reported_at"]] == ["2026-03-02"]
    await h.tap(PATIENT, "u:seen", h.last(PATIENT).message_id)
    await h.tick()
    assert any("says a doctor has seen them" in a for a in alerts_to(h, STAFF))
    assert all("wet" not in a for a in alerts_to(h, STAFF))
    # Tapping "seen" again tells no one twice.
    await h.send_text(PATIENT, "/resume")
    await h.tick()
    assert sum("has seen them" in a for a in alerts_to(h, STAFF)) == 1
    assert status(h, pid) == "hold"


# --- the rules as pure functions --------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=30),
        st.sampled_from(
            UNCLEAR
            + [
                "okay",
                "k",
                "y",
                "continue",
                "start",
                "maybe",
                "don't know",
                "not sure",
                "yes",
                "no",
                "YES!",
                "nope",
                "yes I have numbness",
                "help",
            ]
        ),
    )
)
def test_no_answer_outside_the_clear_sets_moves_a_safety_step(text):
    answer = safety.safety_answer(text)
    for step_name in ("rf", "soon"):
        try:
            moved = from_text({"step": step_name, "data": {}}, text)
        except Reask:
            moved = None
        assert moved == (answer if answer in ("yes", "no") else None)
    try:
        held = from_text({"step": "hold", "data": {}}, text)
    except Reask:
        held = None
    assert held in (None, "seen", "mistake", "notyet")
    if held == "seen":  # only an explicit "I have been seen": a bare "yes" may mean "I will go"
        assert is_seen(text)
    if held == "mistake":
        assert is_mistake(text)
    if held == "notyet":  # keeps the hold; asked again tomorrow
        assert answer == "no" or is_not_yet(text)


# --- more states ------------------------------------------------------------------------------


async def test_an_emergency_confirmed_while_setting_up_holds_the_set_up(harness):
    h = harness
    await onboard_to(h, "soon")
    await say(h, "no")
    assert step(h) == "tz"
    await say(h, EMERGENCY)
    reply = await say(h, "yes")
    assert step(h) == "hold" and "Please get medical help now" in reply.text
    pid = patients.by_user(h.db, USER)["id"]
    assert status(h, pid) == "hold" and red_flags(h, pid) == [("emergency", "message")]
    # /urgent while setting up does the same.
    await tap(h, "o:hold:mistake")
    await say(h, "/urgent")
    await say(h, "yes")
    assert step(h) == "hold"


async def test_resume_on_hold_takes_a_typed_yes(harness):
    h = harness
    pid = await on_hold(h)
    assert "Have you been seen" in (await say(h, "/resume")).text
    assert CLEAR_YES_NO in (await say(h, "ok")).text
    assert "fine to carry on" in (await say(h, "yes")).text
    await say(h, "yes")
    assert status(h, pid) == "active"


async def test_a_redelivered_message_is_answered_once(harness):
    h = harness
    pid = h.add_patient()
    update = h.updates.text(USER, EMERGENCY)
    await h.app.process_update(update)
    await h.app.process_update(update)
    assert sum("Is this happening now" in t for t in h.texts(USER)) == 1
    assert len(events.for_patient(h.db, pid, "warning_sign_heard")) == 1


async def test_a_paused_patient_who_confirms_is_put_on_hold(harness):
    h = harness
    pid = h.add_patient()
    await say(h, "/pause")
    await say(h, EMERGENCY)
    await tap(h, "sf:emergency:yes")
    assert status(h, pid) == "hold"
    assert (
        h.db.execute(
            "SELECT count(*) FROM outbox WHERE patient_id = ? AND "
            "kind = 'safety_followup' AND status = 'pending'",
            [pid],
        ).fetchone()[0]
        == 1
    )


async def test_a_hold_while_setting_up_gets_the_follow_up_too(harness):
    h = harness
    await onboard_to(h, "hold")
    h.clock.advance(timedelta(hours=24, minutes=1))
    await dispatch_due(h.rt)
    follow = last(h)
    assert "Were you able to get checked?" in follow.text
    await tap(h, "o:hold:notyet")
    assert "as soon as you can" in last(h).text and step(h) == "hold"
    await tap(h, "o:hold:seen")
    assert step(h) == "soon"
    h.clock.advance(timedelta(hours=25))
    await dispatch_due(h.rt)  # the second follow-up has nothing to ask now
    assert "Were you able to get checked?" not in last(h).text


def test_the_follow_up_kind_is_declared_and_the_screen_runs_first(harness):
    from telegram.ext import MessageHandler

    from bot.rules.schedule import POLICIES, SCHEDULED_KINDS
    from handlers import safety as screen_module
    from handlers.settings import PROMPT_KINDS

    policy = POLICIES["safety_followup"]
    assert policy.respects_quiet_hours and policy.max_late is not None
    # Not a prompt the hold cancels, nor one composed away while on hold.
    assert "safety_followup" not in PROMPT_KINDS and "safety_followup" not in SCHEDULED_KINDS
    first = min(harness.app.handlers)
    assert first < -2 and any(
        isinstance(x, MessageHandler) and x.callback is screen_module.screen_message
        for x in harness.app.handlers[first]
    )
