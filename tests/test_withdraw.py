"""/withdraw: consent withdrawn without deleting. Processing stops at once, the record stays,
/start brings the person back with a new consent row, /mydata and /delete keep working."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.clock import iso
from bot.rules import onboarding_rules as R
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from jobs.sessions import decide_overdue
from storage import checkins, consents, events, outbox, patients, privacy, sessions
from tests.test_caregivers import CARER, accept, invite
from tests.test_sessions import USER, button, do_session, press, setup

KIND = "withdrawn your consent"


async def busy(h):
    """Ana: a check-in answered, a walk waiting for S and N, a caregiver, a week planned."""
    pid, ids = setup(h, ("walk", 20), course_start="2026-03-02")
    consents.give(h.db, pid, R.CONSENT_KIND, R.CONSENT_VERSION, "a" * 64, h.clock.now())
    await h.send_text(USER, "/checkin")
    checkin = h.last(USER)
    await press(h, checkin, "c:", 4)
    sid = await do_session(h, ids["walk"], before=None, after=5)
    await accept(h, await invite(h))
    plan_all(h.rt)
    return pid, sid, checkin


async def withdraw(h):
    await h.send_text(USER, "/withdraw")
    confirm = h.last(USER)
    assert "Withdraw your consent?" in confirm.text
    return await press(h, confirm, "w:yes")


def pending(h, pid):
    return list(
        h.db.query("SELECT kind FROM outbox WHERE patient_id = ? AND status = 'pending'", [pid])
    )


async def test_withdrawal_stops_everything_at_once_and_keeps_the_record(harness):
    h = harness
    pid, sid, _ = await busy(h)
    assert {r["kind"] for r in pending(h, pid)} >= {"settle", "next_day", "checkin"}
    given = consents.current(h.db, pid, R.CONSENT_KIND)
    # The settle question is already due when she withdraws: it must not go out either.
    h.clock.advance(timedelta(hours=3))
    receipt = await withdraw(h)
    assert "What stops" in receipt.text and "What is kept" in receipt.text
    assert "/start" in receipt.text and "/mydata" in receipt.text and "/delete" in receipt.text
    patient = patients.get(h.db, pid)
    assert (patient["status"], patient["inactive_reason"]) == ("withdrawn", "consent_withdrawn")
    [row] = list(h.db.query("SELECT * FROM consents WHERE patient_id = ?", [pid]))
    assert {k: row[k] for k in ("version", "text_hash", "given_at")} == {
        k: given[k] for k in ("version", "text_hash", "given_at")
    }
    assert row["withdrawn_at"] == iso(h.clock.now())
    assert pending(h, pid) == []
    assert sessions.get(h.db, sid)["stage"] == "stopped"
    assert checkins.awaiting(h.db, pid) is None
    [event] = events.for_patient(h.db, pid, "consent_withdrawn")
    assert event["data"] == {
        "was": "active",
        "consents": 1,
        "messages": event["data"]["messages"],
        "sessions": 1,
        "invites": 0,
    }  # counts only, no ratings
    assert event["data"]["messages"] >= 3
    kept = (checkins.for_date(h.db, pid, "2026-03-02")["pain"], sessions.get(h.db, sid)["after"])
    assert kept == (4, 5)  # nothing erased
    sent_before = (len(h.api.sent_to(USER)), len(h.api.sent_to(CARER)))
    # A week on: no check-in, settle, next-day, advice, lesson, summary; no caregiver copy.
    for _ in range(7 * 24):
        h.clock.advance(timedelta(hours=1))
        await h.tick()
    assert (len(h.api.sent_to(USER)), len(h.api.sent_to(CARER))) == sent_before
    assert decide_overdue(h.rt) == 0 and sessions.get(h.db, sid)["verdict"] is None
    assert events.for_patient(h.db, pid, "pacing_decision") == []
    assert [
        r["status"] for r in h.db.query("SELECT status FROM checkins WHERE patient_id = ?", [pid])
    ] == ["answered"]  # no "missed" days made up


async def test_rows_that_slip_into_the_queue_are_not_sent(harness):
    """Whatever is queued after the withdrawal (a planner racing it, a caregiver's summary) is
    skipped when it comes due, not sent."""
    h = harness
    pid, _, _ = await busy(h)
    await withdraw(h)
    now = h.clock.now()
    for kind, chat, payload in (
        ("checkin", USER, {"local_date": "2026-03-03"}),
        (
            "summary_caregiver",
            CARER,
            {"week_end": "2026-03-08", "caregiver_id": 1, "chat_id": CARER},
        ),
        ("alert_caregiver", CARER, {"caregiver_id": 1, "text": "x"}),
        ("advice", USER, {"text": "keep going"}),
    ):
        outbox.enqueue(
            h.db,
            chat_id=chat,
            patient_id=pid,
            kind=kind,
            due_at=now,
            now=now,
            dedupe_key=f"late:{kind}",
            payload=payload,
        )
    before = (len(h.api.sent_to(USER)), len(h.api.sent_to(CARER)))
    report = await dispatch_due(h.rt)
    assert len(report.skipped) == 4 and report.sent == []
    assert (len(h.api.sent_to(USER)), len(h.api.sent_to(CARER))) == before


async def test_answers_and_old_buttons_are_not_stored_and_get_a_kind_answer(harness):
    h = harness
    pid, sid, _checkin = await busy(h)
    h.clock.set(h.clock.now().replace(day=3, hour=7, minute=0))  # Tue 08:00 Berlin
    await h.tick()
    question = h.last(USER)
    assert button(question, "c:")
    await withdraw(h)
    stored = {
        t: len(rows) for t, rows in privacy.collect(h.db, pid, USER, USER).items() if t != "outbox"
    }
    await h.tap(USER, button(question, "c:", 7), question.message_id)  # the open check-in
    assert KIND in h.last(USER).text
    await h.tap(USER, f"r:{sid}:s:1", 5)  # a settle button of the stopped session
    assert KIND in h.last(USER).text
    for text in (
        "7",
        "seven",
        "/checkin",
        "/activity",
        "/history",
        "/settings",
        "/resume",
        "/urgent",
        "/caregiver",
        "/course",
        "/pause",
        "/dance",
    ):
        await h.send_text(USER, text)
        assert KIND in h.last(USER).text, text
        assert "/start" in h.last(USER).text
    after = {
        t: len(rows) for t, rows in privacy.collect(h.db, pid, USER, USER).items() if t != "outbox"
    }
    assert after == stored
    assert checkins.for_date(h.db, pid, "2026-03-03") is None
    assert sessions.get(h.db, sid)["settled"] is None
    await h.send_text(USER, "/help")
    assert "/withdraw" in h.last(USER).text and KIND not in h.last(USER).text
    await h.send_text(USER, "/withdraw")
    assert "already withdrawn" in h.last(USER).text
    assert patients.get(h.db, pid)["status"] == "withdrawn"


async def test_no_keeps_everything_going(harness):
    h = harness
    pid, _, _ = await busy(h)
    await h.send_text(USER, "/withdraw")
    kept = await press(h, h.last(USER), "w:no")
    assert "No change" in kept.text
    assert patients.get(h.db, pid)["status"] == "active" and pending(h, pid)


async def test_start_asks_for_consent_again_and_everything_carries_on(harness):
    h = harness
    pid, sid, _ = await busy(h)
    await withdraw(h)
    await h.send_text(USER, "/start")
    question = h.last(USER)
    assert "agree again" in h.texts(USER)[-2]
    still = await press(h, question, "o:consent:no")
    assert "stays withdrawn" in still.text
    assert patients.get(h.db, pid)["status"] == "withdrawn"
    await h.send_text(USER, "/start")
    back = await press(h, h.last(USER), "o:consent:yes")
    assert "consent is recorded again" in back.text
    assert patients.get(h.db, pid)["status"] == "active"
    rows = list(h.db.query("SELECT * FROM consents WHERE patient_id = ? ORDER BY id", [pid]))
    assert len(rows) == 2 and rows[0]["withdrawn_at"] and rows[1]["withdrawn_at"] is None
    assert rows[1]["version"] == R.CONSENT_VERSION and len(rows[1]["text_hash"]) == 64
    assert consents.current(h.db, pid, R.CONSENT_KIND)["id"] == rows[1]["id"]
    assert {r["kind"] for r in pending(h, pid)} >= {"checkin", "lesson"}  # re-planned
    assert sessions.get(h.db, sid)["stage"] == "stopped"  # stays closed, never decided
    h.clock.set(h.clock.now().replace(day=3, hour=7, minute=0))
    await h.tick()
    await press(h, h.last(USER), "c:", 6)
    assert checkins.for_date(h.db, pid, "2026-03-03")["pain"] == 6
    assert "Thanks, noted" in h.texts(USER)[-2] or "Thanks, noted" in h.last(USER).text


async def test_a_hold_stays_a_hold_after_agreeing_again(harness):
    h = harness
    pid, _, _ = await busy(h)
    patients.update(h.db, pid, h.clock.now(), status="hold")
    await withdraw(h)
    await h.send_text(USER, "/start")
    back = await press(h, h.last(USER), "o:consent:yes")
    assert "on hold" in back.text and patients.get(h.db, pid)["status"] == "hold"


async def test_mydata_and_delete_still_work_while_withdrawn(harness):
    h = harness
    pid, _, _ = await busy(h)
    await withdraw(h)
    await h.send_text(USER, "/mydata")
    await h.tick()
    docs = [s for s in h.api.sent_to(USER) if s.method == "sendDocument"]
    data = json.loads(next(d for d in docs if "JSON" in d.text).params["_bytes"])
    assert data["consents"][0]["withdrawn_at"] and data["patients"][0]["status"] == "withdrawn"
    await h.send_text(USER, "/delete")
    await press(h, h.last(USER), "del:yes")
    assert "I deleted" in h.last(USER).text
    left = privacy.collect(h.db, pid, USER, USER)
    assert {t: rows for t, rows in left.items() if rows} == {"outbox": left["outbox"]}


async def test_a_blocked_bot_does_not_turn_a_withdrawal_into_a_plain_inactive(harness):
    """/start after "inactive" resumes without asking consent: a withdrawal must not become that."""
    h = harness
    pid, _, _ = await busy(h)
    await withdraw(h)
    h.api.block(USER)
    await h.send_text(USER, "7")  # the kind answer fails with 403
    assert patients.get(h.db, pid)["status"] == "withdrawn"
    h.api.unblock(USER)
    await h.send_text(USER, "/start")
    assert button(h.last(USER), "o:consent:")
