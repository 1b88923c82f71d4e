"""Issue 15, findings 6, 7 and 10: activities that end well, a settle question never promised
into quiet hours, and less noise (ignored nudges, nudges right after a command, nudges all on
the same minute, a /pause with no end). Through the real Application on a virtual clock; each
test asserts what the person sees and what is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.rules.schedule import Preferences, Sitting, nudge_offset, plan_messages
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from jobs.prompts import missed_while_paused
from storage import events, outbox, patients, sessions
from tests.test_sessions import USER, button, data_of, do_session, press, setup


@pytest.fixture
def h(harness):
    return harness


SITTING = dict(
    sitting_days="mon,tue,wed,thu,fri",
    sitting_from="09:00",
    sitting_to="17:00",
    sitting_every=30,
)


async def tick(h):
    plan_all(h.rt)
    return await dispatch_due(h.rt)


def rows(h, kind: str) -> list[dict]:
    return list(h.db.query("SELECT * FROM outbox WHERE kind = ? ORDER BY due_at, id", [kind]))


async def start_walk(h, activity_id: int, before: int = 3) -> int:
    await h.send_text(USER, "/activity")
    msg = await press(h, h.last(USER), f"a:s:{activity_id}")
    sid = max(s["id"] for s in h.db.query("SELECT id FROM sessions"))
    await press(h, msg, f"r:{sid}:b:", before)
    return sid


# -- finding 6: forgetting "Done" ------------------------------------------------------------
async def test_finding_06_forgotten_done_asks_finished_once_then_nudges_come_again(h, clock):
    _pid, ids = setup(h, ("walk", 20), **SITTING)
    clock.set(clock.now().replace(day=3, hour=10, minute=5))  # Tue 11:05 Berlin
    sid = await start_walk(h, ids["walk"])
    clock.set(clock.now().replace(hour=10, minute=45))  # the walk is over; no Done
    await tick(h)
    assert not any("Finished your" in t for t in h.texts(USER))
    clock.set(clock.now().replace(hour=10, minute=56))  # 20 min + 30 min after the start
    await tick(h)
    ask = h.last(USER)
    assert "Finished your <b>walk</b>?" in ask.text
    assert data_of(ask) == [f"a:e:{sid}", f"a:x:{sid}"]  # the activity's own Done / didn't
    # Sent once; from now on the unfinished walk no longer holds sitting nudges back.
    for minute in (0, 30):  # 12:00 gives way to the question just sent; 12:30 goes out
        clock.set(clock.now().replace(hour=11, minute=minute))
        await tick(h)
    assert sum("Finished your" in t for t in h.texts(USER)) == 1
    assert [r["status"] for r in rows(h, "finish_check")] == ["sent"]
    assert any(r["status"] == "sent" for r in rows(h, "sitting"))
    # Done still works from the question: it asks the "after" rating.
    after = await press(h, ask, f"a:e:{sid}")
    assert "worst" in after.text or "highest" in after.text
    assert sessions.get(h.db, sid)["stage"] == "after"


async def test_finding_06_i_didnt_do_it_under_the_question_cancels(h, clock):
    _pid, ids = setup(h, ("walk", 20))
    sid = await start_walk(h, ids["walk"])
    clock.advance(timedelta(minutes=51))
    await tick(h)
    ask = h.last(USER)
    assert "Finished your <b>walk</b>?" in ask.text
    await press(h, ask, f"a:x:{sid}")
    assert sessions.get(h.db, sid)["stage"] == "cancelled"
    assert "walk" in h.last(USER).text


async def test_finding_06_a_session_never_finished_is_closed_with_a_word(h, clock):
    pid, ids = setup(h, ("walk", 20))
    sid = await start_walk(h, ids["walk"])  # Mon 13:00 Berlin, never finished
    clock.advance(timedelta(hours=37))  # past the 36-hour deadline: Wed 02:00 Berlin
    await tick(h)
    assert sessions.get(h.db, sid)["stage"] == "incomplete"
    assert not any("closed your" in t for t in h.texts(USER))  # quiet hours: it waits
    clock.set(clock.now().replace(hour=6, minute=31))  # 07:31 Berlin
    await tick(h)
    word = h.last(USER).text
    assert "I've closed your <b>walk</b> from Monday" in word
    assert "didn't hear whether you finished" in word and "left your plan as it was" in word
    assert [e["data"]["session"] for e in events.for_patient(h.db, pid, "pacing_decision")] == [sid]


# -- finding 7: the settle question and quiet hours ----------------------------------------------
async def test_finding_07_evening_walk_settle_is_asked_when_quiet_hours_end(h, clock):
    _pid, ids = setup(h, ("walk", 20), quiet_from="22:00", quiet_to="07:00")
    clock.set(clock.now().replace(hour=19, minute=30))  # Mon 20:30 Berlin
    sid = await do_session(h, ids["walk"], before=3, after=4)  # ends 20:50: settle 22:50
    noted = h.last(USER).text
    assert "I'll ask tomorrow morning whether it settled" in noted
    assert "couple of hours" not in noted
    [settle] = rows(h, "settle")
    assert settle["due_at"] == "2026-03-03T06:00:00+00:00"  # Tue 07:00 Berlin, not 22:50
    clock.set(clock.now().replace(day=2, hour=23, minute=0))
    await tick(h)
    assert h.last(USER).text == noted  # nothing in the night
    clock.set(clock.now().replace(day=3, hour=6, minute=1))  # Tue 07:01 Berlin
    await tick(h)
    question = next(m for m in h.api.sent_to(USER) if "settle overnight" in m.text)
    assert "walk" in question.text
    await press(h, question, f"r:{sid}:s:", 1)
    assert sessions.get(h.db, sid)["settled"] == 1
    # The next day's answer decides it with S known: not partial.
    clock.set(clock.now().replace(hour=19, minute=31))
    await tick(h)
    await press(h, h.last(USER), "n:", 3)
    row = sessions.get(h.db, sid)
    assert row["stage"] == "decided" and row["partial"] == 0 and row["verdict"] == "keep"


async def test_finding_07_settle_outside_quiet_hours_is_unchanged(h, clock):
    _pid, ids = setup(h, ("walk", 20), quiet_from="22:00", quiet_to="07:00")
    await do_session(h, ids["walk"], before=3, after=4)  # Mon 13:00 Berlin
    assert "couple of hours" in h.last(USER).text
    [settle] = rows(h, "settle")
    assert settle["due_at"] == "2026-03-02T14:20:00+00:00"


# -- finding 10: less noise ------------------------------------------------------------------
async def test_finding_10_three_ignored_nudges_ask_once_to_pause_for_today(h, clock):
    pid, _ids = setup(h, **SITTING)
    clock.set(clock.now().replace(day=3, hour=7, minute=20))  # Tue 08:20 Berlin
    await tick(h)
    seen: list[str] = []
    for _ in range(4 * 3):  # 09:30 .. 11:00 Berlin: nudges every 30 minutes, none answered
        clock.advance(timedelta(minutes=15))
        await tick(h)
    texts = [m.text for m in h.api.sent_to(USER)]
    asks = [t for t in texts if "Shall I pause these for today?" in t]
    assert len(asks) == 1
    ask = next(m for m in h.api.sent_to(USER) if "Shall I pause" in m.text)
    nudges_before = [t for t in texts[: texts.index(ask.text)] if "movement break" in t]
    assert len(nudges_before) == 3
    seen = [r["status"] for r in rows(h, "sitting") if r["status"] == "sent"]
    assert seen
    # "Yes": no more nudges today; stored as a day off.
    reply = await press(h, ask, "s:", "pause")
    assert "no more sitting reminders today" in reply.text
    assert h.db.execute("SELECT local_date FROM sitting_off").fetchall() == [("2026-03-03",)]
    sent = len(h.api.sent_to(USER))
    for _ in range(8):
        clock.advance(timedelta(minutes=30))
        await tick(h)
    assert not any("movement break" in t for t in h.texts(USER)[sent:])
    assert [e["data"]["local_date"] for e in events.for_patient(h.db, pid, "sitting_pause_asked")]
    # The next day they come again.
    for hour, minute in ((7, 1), (8, 31)):  # Wed: the check-in, then a nudge
        clock.set(clock.now().replace(day=4, hour=hour, minute=minute))
        await tick(h)
    assert any("movement break" in t for t in h.texts(USER)[sent:])


async def test_finding_10_no_keep_them_keeps_the_nudges(h, clock):
    setup(h, **SITTING)
    clock.set(clock.now().replace(day=3, hour=7, minute=20))
    await tick(h)
    for _ in range(12):
        clock.advance(timedelta(minutes=15))
        await tick(h)
    ask = next(m for m in h.api.sent_to(USER) if "Shall I pause" in m.text)
    reply = await press(h, ask, "s:", "keep")
    assert "keep them coming" in reply.text
    assert h.db.execute("SELECT count(*) FROM sitting_off").fetchone()[0] == 0
    clock.set(clock.now().replace(hour=11, minute=0))
    await tick(h)
    assert "movement break" in h.last(USER).text
    assert "Shall I pause" not in h.last(USER).text


async def test_finding_10_no_nudge_within_ten_minutes_of_a_command(h, clock):
    setup(h, ("walk", 20), **SITTING)
    clock.set(clock.now().replace(day=3, hour=8, minute=55))  # Tue 09:55; a nudge at 10:00
    await tick(h)
    await h.send_text(USER, "/settings")
    clock.set(clock.now().replace(hour=9, minute=0))
    await tick(h)
    assert not any("movement break" in t for t in h.texts(USER))
    [nudge] = [r for r in rows(h, "sitting") if r["due_at"] == "2026-03-03T09:00:00+00:00"]
    assert nudge["status"] == "skipped"
    clock.set(clock.now().replace(hour=9, minute=30))  # half an hour on, quiet: it comes
    await tick(h)
    assert "movement break" in h.last(USER).text


async def test_finding_10_nudges_are_spread_by_person_and_stay_inside_sitting_hours(h):
    from datetime import UTC, datetime, time
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/Berlin")
    sitting = Sitting(frozenset({"mon"}), time(9), time(11), 30)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    minutes = {}
    for pid in range(1, 13):
        prefs = Preferences(
            pid, tz, None, sitting=sitting, sitting_offset_minutes=nudge_offset(pid, 30)
        )
        plan = plan_messages(prefs, start, start + timedelta(days=1))
        local = [p.due_at.astimezone(tz).time() for p in plan]
        assert all(time(9) < t < time(11) for t in local)
        # The key (and the slot the person chose) is the same; only the minute moves.
        assert [p.dedupe_key.rsplit(":", 2)[-2:] for p in plan] == [
            ["09", "30"],
            ["10", "00"],
            ["10", "30"],
        ]
        minutes[pid] = {t.minute % 30 for t in local}
    assert minutes[1] == {0}
    assert len({m for s in minutes.values() for m in s}) == 10  # ten different minutes


async def test_finding_10_a_nudge_is_not_sent_with_the_finished_question(h, clock):
    _pid, ids = setup(h, ("walk", 30), **SITTING)
    clock.set(clock.now().replace(day=3, hour=8, minute=40))  # Tue 09:40 Berlin
    sid = await start_walk(h, ids["walk"])
    clock.set(clock.now().replace(hour=9, minute=40))  # 10:40: "Finished?" (due 10:40)
    await tick(h)
    assert "Finished your" in h.last(USER).text
    assert sessions.get(h.db, sid)["stage"] == "doing"


# -- finding 10: /pause with an end, a reminder, and the lessons missed ----------------------------
async def test_finding_10_pause_for_a_day_ends_by_itself_and_offers_missed_lessons(h, clock):
    pid, _ids = setup(h, course_start="2026-02-23")  # week 2 of the course
    await h.send_text(USER, "/pause")
    offer = h.last(USER)
    assert "paused all" in offer.text and "For how long?" in offer.text
    assert data_of(offer) == ["pause:day", "pause:week", "pause:open"]
    chosen = await press(h, offer, "pause:day")
    assert "paused until Tuesday 3 Mar at 13:00" in chosen.text
    assert patients.get(h.db, pid)["paused_until"] == "2026-03-03T12:00:00+00:00"
    clock.advance(timedelta(hours=6))  # Mon 18:00: a lesson day, nothing sent
    await tick(h)
    assert h.last(USER).text == chosen.text
    clock.set(clock.now().replace(day=3, hour=12, minute=5))  # the day is over
    await tick(h)
    back = h.last(USER)
    assert patients.get(h.db, pid)["status"] == "active"
    assert patients.get(h.db, pid)["paused_until"] is None
    assert "Welcome back" in back.text and "pause is over" in back.text
    missed = missed_while_paused(
        h.db, {**patients.get(h.db, pid)}, "2026-03-02T12:00:00+00:00", clock.now()
    )
    assert len(missed) == 1  # Monday's lesson fell in the pause
    assert "You missed 1 lesson while paused" in back.text
    assert data_of(back) == ["l:c", "pause:later"]
    later = await press(h, back, "pause:later")
    assert "/course" in later.text
    assert outbox.pending_id(h.db, f"checkin:{pid}:2026-03-04") is not None  # planned again
    kinds = [e["kind"] for e in events.for_patient(h.db, pid)]
    assert kinds == ["prompts_paused", "pause_length", "pause_ended"]


async def test_finding_10_open_pause_reminds_once_after_a_week(h, clock):
    pid, _ids = setup(h)
    await h.send_text(USER, "/pause")
    await press(h, h.last(USER), "pause:open")
    assert "I'll check in with you once, in a week" in h.last(USER).text
    sent = len(h.api.sent_to(USER))
    for _ in range(7 * 4):
        clock.advance(timedelta(hours=6))
        await tick(h)
    reminders = [t for t in h.texts(USER)[sent:] if "paused for" in t]
    assert reminders == [
        "Hello Ana. Your prompts have been paused for 7 days. Whenever you'd like to pick up "
        "again, send /resume. If you're happy as you are, there's nothing to do."
    ]
    assert patients.get(h.db, pid)["status"] == "paused"


async def test_finding_10_resume_offers_the_lessons_missed_while_paused(h, clock):
    pid, _ids = setup(h, course_start="2026-02-23")
    await h.send_text(USER, "/pause")  # no end chosen: until /resume
    clock.advance(timedelta(days=5))  # Mon .. Sat: Mon, Wed, Fri lessons missed
    await h.send_text(USER, "/resume")
    back = h.last(USER)
    assert "Welcome back" in back.text and "You missed 3 lessons while paused" in back.text
    assert button(back, "l:c") == "l:c"
    caught = await press(h, back, "l:c")
    assert "Week 1" in caught.text  # the oldest lesson not received comes first
    assert patients.get(h.db, pid)["status"] == "active"
    # The reminder of the open pause is dropped with it.
    assert [r["status"] for r in rows(h, "pause_reminder")] == ["cancelled"]


async def test_finding_10_a_sunday_lesson_comes_an_hour_before_the_summary(h, clock):
    pid, _ids = setup(h, course_start="2026-03-02", course_days="sun")
    clock.set(clock.now().replace(day=7, hour=12, minute=0))  # Sat: Sunday is in the horizon
    plan_all(h.rt)
    sunday = {
        r["kind"]: r["due_at"]
        for r in h.db.query(
            "SELECT kind, due_at FROM outbox WHERE patient_id = ? AND due_at LIKE '2026-03-08%' "
            "AND kind IN ('lesson', 'summary')",
            [pid],
        )
    }
    # Berlin: the summary at 18:00 as chosen, the lesson (also due 18:00) at 17:00.
    assert sunday == {"summary": "2026-03-08T17:00:00+00:00", "lesson": "2026-03-08T16:00:00+00:00"}
    clock.set(clock.now().replace(day=8, hour=16, minute=0))
    await tick(h)
    assert "Week 1" in h.last(USER).text
    clock.set(clock.now().replace(hour=17, minute=0))
    await tick(h)
    assert "Week 1" not in h.last(USER).text  # the summary, on its own hour


async def test_finding_10_a_dated_pause_survives_a_hold_and_still_ends(h, clock):
    pid, _ids = setup(h)
    await h.send_text(USER, "/pause")
    await press(h, h.last(USER), "pause:day")
    await h.send_text(USER, "/pause")  # already paused: the end can be changed
    again = h.last(USER)
    assert "already paused" in again.text and "pause:week" in data_of(again)
    await h.send_text(USER, "/urgent")
    answer = await press(h, h.last(USER), "u:emergency:yes")
    assert patients.get(h.db, pid)["status"] == "hold"
    carry_on = await press(h, answer, "u:seen")
    await press(h, carry_on, "u:ok:yes")
    held = patients.get(h.db, pid)
    assert held["status"] == "paused"  # the /pause from before the hold is still theirs
    assert held["paused_until"] == "2026-03-03T12:00:00+00:00"
    clock.set(clock.now().replace(day=3, hour=12, minute=15))
    await tick(h)
    assert patients.get(h.db, pid)["status"] == "active"
    assert any("pause is over" in t for t in h.texts(USER))
