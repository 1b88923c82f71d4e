"""/history, /settings, /pause, /resume and /urgent through the real Application."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import activities, checkins, events, patients, sessions
from tests.test_sessions import button, press

USER = 1001


async def tick(h):
    plan_all(h.rt)
    return await dispatch_due(h.rt)


def pending(h, kind):
    return [
        r for r in h.db.query("SELECT * FROM outbox WHERE kind = ? AND status = 'pending'", [kind])
    ]


async def test_history_shows_14_days_of_ratings_and_verdicts(harness, clock):
    pid = harness.add_patient()
    activities.add_activity(harness.db, pid, "walk", 20, clock.now())
    aid = activities.for_patient(harness.db, pid)[0]["id"]
    checkins.record_answer(harness.db, pid, "2026-03-02", 4, clock.now())
    checkins.record_missed(harness.db, pid, "2026-02-27")
    checkins.record_answer(harness.db, pid, "2026-02-10", 9, clock.now())  # too old to show
    sid = sessions.create(
        harness.db,
        patient_id=pid,
        activity_id=aid,
        dose_minutes=20,
        started_at=clock.now(),
        now=clock.now(),
        stage="waiting",
    )
    sessions.record_decision(
        harness.db,
        sid,
        {
            "status": "decided",
            "verdict": "adapt",
            "findings": ["during_flare"],
            "partial": False,
            "next_dose": 14,
            "pause_days": 0,
            "thresholds": {},
            "rule_version": 1,
        },
        clock.now(),
    )
    await harness.send_text(USER, "/history")
    text = harness.last(USER).text
    assert "Mon 2 Mar: 4/10 · walk 20 min (adjusted)" in text
    assert "Fri 27 Feb: no check-in" in text
    assert "9/10" not in text
    assert text.count("\n") >= 14


async def test_settings_change_checkin_time_replans(harness, clock):
    harness.add_patient()
    plan_all(harness.rt)
    await harness.send_text(USER, "/settings")
    menu = harness.last(USER)
    assert "Daily check-in: 08:00" in menu.text
    question = await press(harness, menu, "set:ci")
    assert "When should I ask" in question.text
    await harness.send_text(USER, "9:15")
    assert "Saved" in harness.last(USER).text and "Daily check-in: 09:15" in harness.last(USER).text
    dues = [r["due_at"] for r in pending(harness, "checkin")]
    assert dues and all(d.endswith("08:15:00+00:00") for d in dues)  # 09:15 Berlin (CET)
    assert patients.get(harness.db, 1)["status"] == "active"


async def test_settings_checkin_inside_quiet_hours_asks_for_new_quiet_hours(harness):
    harness.add_patient()
    await harness.send_text(USER, "/settings")
    await press(harness, harness.last(USER), "set:ci")
    await harness.send_text(USER, "7:00")  # quiet hours are 21:30-07:30
    assert "quiet" in harness.last(USER).text.lower()
    await press(harness, harness.last(USER), "o:qh:")
    assert "Saved" in harness.last(USER).text


async def test_settings_add_an_activity_and_change_a_dose(harness):
    pid = harness.add_patient()
    activities.add_activity(harness.db, pid, "walk", 20, harness.clock.now())
    await harness.send_text(USER, "/settings")
    await press(harness, harness.last(USER), "set:act")
    await harness.send_text(USER, "nordic walking")
    await press(harness, harness.last(USER), "o:act:done")
    await press(harness, harness.last(USER), "o:dose:", 15)
    assert "nordic walking (15 min)" in harness.last(USER).text
    await press(harness, harness.last(USER), "set:dose")
    walk = activities.for_patient(harness.db, pid)[0]
    await press(harness, harness.last(USER), f"set:d:{walk['id']}")
    await press(harness, harness.last(USER), f"set:dm:{walk['id']}:", 30)
    assert activities.owned(harness.db, walk["id"], pid)["dose_minutes"] == 30
    assert "walk (30 min)" in harness.last(USER).text


@pytest.mark.parametrize(
    "data", ["set:dm:{aid}:999", "set:d:{other}", "set:zz", "set:", "set:dm:{other}:30"]
)
async def test_settings_forged_buttons_change_nothing(harness, data):
    pid = harness.add_patient()
    other = harness.add_patient(user_id=2002)
    activities.add_activity(harness.db, pid, "walk", 20, harness.clock.now())
    activities.add_activity(harness.db, other, "swim", 20, harness.clock.now())
    aid = activities.for_patient(harness.db, pid)[0]["id"]
    oid = activities.for_patient(harness.db, other)[0]["id"]
    await harness.tap(USER, data.format(aid=aid, other=oid))
    assert "expired" in harness.last(USER).text
    assert [a["dose_minutes"] for a in harness.db.query("SELECT * FROM activities")] == [20, 20]


async def test_pause_stops_every_prompt_and_resume_starts_them_again(harness, clock):
    pid = harness.add_patient(
        sitting_days="mon,tue,wed,thu,fri", sitting_from="09:00", sitting_to="17:00"
    )
    plan_all(harness.rt)
    assert pending(harness, "checkin")
    await harness.send_text(USER, "/pause")
    assert "paused all" in harness.last(USER).text
    assert not pending(harness, "checkin") and not pending(harness, "sitting")
    sent = len(harness.api.sent_to(USER))
    for _ in range(24):
        clock.advance(timedelta(hours=1))
        await tick(harness)
    assert len(harness.api.sent_to(USER)) == sent
    await harness.send_text(USER, "/pause")
    assert "already paused" in harness.last(USER).text
    await harness.send_text(USER, "/resume")
    assert "Welcome back" in harness.last(USER).text
    assert pending(harness, "checkin")
    assert [e["kind"] for e in events.for_patient(harness.db, pid)] == [
        "prompts_paused",
        "prompts_resumed",
    ]


async def test_urgent_emergency_sign_holds_prompts_until_seen(harness, clock):
    pid = harness.add_patient()
    plan_all(harness.rt)
    await harness.send_text(USER, "/urgent")
    question = harness.last(USER)
    assert "warning signs" in question.text and "bladder" in question.text
    answer = await press(harness, question, "u:emergency:yes")
    assert "get medical help now" in answer.text
    assert "Call 112," in answer.text  # Europe/Berlin's number (issue 14: no generic list)
    assert patients.get(harness.db, pid)["status"] == "hold"
    assert not pending(harness, "checkin")
    await harness.send_text(USER, "/checkin")
    assert "on hold" in harness.last(USER).text
    await harness.send_text(USER, "/resume")
    assert "Have you been seen" in harness.last(USER).text
    # "I have been seen" asks one question before anything resumes (issue 14).
    carry_on = await press(harness, answer, "u:seen")
    assert "fine to carry on" in carry_on.text
    assert patients.get(harness.db, pid)["status"] == "hold"
    await press(harness, carry_on, "u:ok:yes")
    assert patients.get(harness.db, pid)["status"] == "active"
    assert pending(harness, "checkin")
    kinds = [(e["kind"], e["data"].get("level")) for e in events.for_patient(harness.db, pid)]
    assert kinds == [("red_flag", "emergency"), ("red_flag_seen", None), ("hold_lifted", None)]


async def test_urgent_soon_and_no_signs(harness):
    pid = harness.add_patient()
    await harness.send_text(USER, "/urgent")
    soon = await press(harness, harness.last(USER), "u:emergency:no")
    assert "fever" in soon.text
    reply = await press(harness, soon, "u:soon:yes")
    assert "today or tomorrow" in reply.text
    assert patients.get(harness.db, pid)["status"] == "active"
    await harness.send_text(USER, "/urgent")
    await press(harness, harness.last(USER), "u:emergency:no")
    calm = await press(harness, harness.last(USER), "u:soon:no")
    assert "No warning signs" in calm.text and "rather than resting in bed" in calm.text


async def test_urgent_works_for_someone_not_registered_and_stores_nothing(harness):
    await harness.send_text(3003, "/urgent")
    answer = await press_user(harness, 3003, "u:emergency:yes")
    assert "get medical help now" in answer.text and "paused" not in answer.text
    assert list(harness.db.query("SELECT * FROM patients")) == []
    assert list(harness.db.query("SELECT * FROM events")) == []


async def press_user(h, user, prefix):
    message = h.last(user)
    await h.tap(user, button(message, prefix), message.message_id)
    return h.last(user)


async def test_seen_button_without_a_hold_is_expired(harness):
    harness.add_patient()
    await harness.tap(USER, "u:seen")
    assert "expired" in harness.last(USER).text


async def test_a_patient_who_had_blocked_the_bot_is_back_with_start(harness, clock):
    pid = harness.add_patient()
    patients.mark_unreachable(harness.db, USER, clock.now(), "blocked")
    assert not pending(harness, "checkin")
    await harness.send_text(USER, "/start")
    assert patients.get(harness.db, pid)["status"] == "active"
    assert pending(harness, "checkin")


@pytest.mark.parametrize("command", ["/history", "/settings", "/pause", "/activity", "/plan"])
async def test_commands_need_a_set_up_patient(harness, command):
    await harness.send_text(4004, command)
    assert "/start" in harness.last(4004).text
    assert list(harness.db.query("SELECT * FROM patients")) == []


async def test_settings_weekly_summary_time(harness, clock):
    pid = harness.add_patient()
    await harness.send_text(USER, "/settings")
    assert "Weekly summary: Sun 18:00" in harness.last(USER).text
    await press(harness, harness.last(USER), "set:sum")
    await press(harness, harness.last(USER), "set:sum:sat1800")
    assert "Weekly summary: Sat 18:00" in harness.last(USER).text
    assert patients.get(harness.db, pid)["summary_day"] == "sat"
    await harness.tap(USER, "set:sum:tue0300")
    assert "expired" in harness.last(USER).text
