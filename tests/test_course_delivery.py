"""Lessons delivered over 12 weeks: once each, in order, at local time, outside quiet hours."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

import pytest

from bot.course import default_course
from bot.rules.localtime import DailyWindow, zone
from bot.simulator.runner import Simulation
from bot.simulator.scenario import parse_scenario
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import lessons

COURSE = default_course()


def scenario(**course):
    return parse_scenario(
        {
            "start": "2026-03-01T12:00:00Z",
            "days": 92,
            "seed": 3,
            "patients": [
                {
                    "id": "mia",
                    "timezone": "Europe/Berlin",
                    "checkin_time": "08:00",
                    "quiet_hours": {"from": "22:00", "to": "07:30"},
                    "course": {"days": ["mon", "wed", "fri"], "time": "07:00", **course},
                    "answers": {"checkin_pain": {"min": 2, "max": 6}},
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def twelve_weeks():
    """One 13-week run shared by the tests that read its transcript."""
    sim = Simulation(scenario(start="2026-03-02"))
    return sim, asyncio.run(sim.run())


@pytest.mark.slow
def test_every_lesson_once_in_order_at_local_time_outside_quiet_hours(twelve_weeks):
    _sim, lines = twelve_weeks
    tz = zone("Europe/Berlin")
    out = [line for line in lines if line["dir"] == "out" and line["kind"] == "lesson"]
    assert [line["data"]["lesson_id"] for line in out] == [lesson.id for lesson in COURSE]
    quiet = DailyWindow(time(22), time(7, 30))
    for line in out:
        moment = datetime.fromisoformat(line["t"])
        assert not quiet.contains(moment, tz)
        # 07:00 is inside quiet hours, so lessons wait for 07:30 local, summer time or not
        assert moment.astimezone(tz).time() == time(7, 30)
    weeks = [
        (datetime.fromisoformat(line["t"]).astimezone(tz).date() - date(2026, 3, 2)).days // 7 + 1
        for line in out
    ]
    assert weeks == [lesson.week for lesson in COURSE]


@pytest.mark.slow
def test_after_week_12_one_closing_message_then_weekly_checkins(twelve_weeks):
    sim, lines = twelve_weeks
    tz = zone("Europe/Berlin")
    ends = [line for line in lines if line["kind"] == "course_end" and line["dir"] == "out"]
    assert len(ends) == 1 and "plan" in ends[0]["text"]
    end_at = datetime.fromisoformat(ends[0]["t"])
    assert end_at.astimezone(tz).date() == date(2026, 3, 2) + timedelta(weeks=12)
    later = [
        datetime.fromisoformat(line["t"]).astimezone(tz).date()
        for line in lines
        if line["kind"] == "checkin" and line["dir"] == "out" and line["t"] > ends[0]["t"]
    ]
    assert later and all(d.weekday() == 0 for d in later)  # course began on a Monday
    assert sim.db.execute("SELECT course_state FROM patients").fetchone()[0] == "maintenance"


async def test_mid_cohort_starts_at_the_cohorts_current_week():
    sim = Simulation(
        parse_scenario(
            {
                **{
                    "start": "2026-03-23T05:00:00Z",
                    "days": 7,
                    "patients": [
                        {
                            "id": "leo",
                            "timezone": "Europe/Berlin",
                            "course": {"start": "2026-03-02", "time": "18:00"},
                        }
                    ],
                }
            }
        )
    )
    lines = await sim.run()
    got = [
        line["data"]["lesson_id"]
        for line in lines
        if line["kind"] == "lesson" and line["dir"] == "out"
    ]
    assert got and all(lid.startswith("w04-") for lid in got)  # 2026-03-23 is in week 4


@pytest.fixture
async def with_lesson(harness, clock):
    pid = harness.add_patient(
        course_start="2026-03-02", course_time="18:00", course_days="mon,wed,fri"
    )
    clock.set(clock.now().replace(hour=16, minute=0))  # Monday 17:00 Berlin
    plan_all(harness.rt)
    clock.advance(timedelta(hours=1))
    await dispatch_due(harness.rt)
    msg = harness.last(1001)
    assert "Week 1" in msg.text
    return harness, pid, msg


def data_of(msg, prefix):
    return next(d for row in msg.buttons for _, d in row if d.startswith(prefix))


async def test_feedback_and_check_are_recorded_once(with_lesson):
    h, pid, msg = with_lesson
    await h.tap(1001, data_of(msg, "l:h:"), msg.message_id)
    assert lessons.received(h.db, pid)["w01-01"]["feedback"] == "helpful"
    assert "helped" in h.last(1001).text


async def test_next_sends_the_following_lesson_once(with_lesson, clock):
    h, pid, msg = with_lesson
    await h.tap(1001, data_of(msg, "l:x:"), msg.message_id)
    assert "w01-02" in lessons.received(h.db, pid)
    clock.advance(timedelta(days=3))
    plan_all(h.rt)
    await dispatch_due(h.rt)
    ids = [r["lesson_id"] for r in h.db.query("SELECT lesson_id FROM lessons_sent ORDER BY id")]
    assert len(ids) == len(set(ids))


async def test_check_question_feedback(harness, clock):
    pid = harness.add_patient(course_start="2026-03-02")
    checked = next(lesson for lesson in COURSE if lesson.check is not None)
    lessons.record_sent(harness.db, pid, checked.id, None, clock.now())
    right = int(checked.check.answer)
    await harness.tap(1001, f"l:t:{checked.id}:{right}")
    assert harness.last(1001).text.strip() != ""
    await harness.tap(1001, f"l:t:{checked.id}:{1 - right}")
    assert "expired" in harness.last(1001).text  # the first answer stands


@pytest.mark.parametrize(
    "data",
    [
        "l:h:w99-01",
        "l:h:w01-01",
        "l:t:w01-01:7",
        "l:x",
        "l:zz:1",
        "l:r:../../etc",
        "l:m:maybe",
        "l:" + "x" * 200,
    ],
)
async def test_forged_or_unreceived_lesson_buttons_expire(harness, data):
    harness.add_patient(course_start="2026-03-02")
    await harness.tap(1001, data)
    assert "expired" in harness.last(1001).text


async def test_course_command_offers_reread_and_catch_up(harness, clock):
    pid = harness.add_patient(course_start="2026-02-09")  # week 4 today
    lessons.record_sent(harness.db, pid, "w01-01", None, clock.now())
    await harness.send_text(1001, "/course")
    msg = harness.last(1001)
    assert "week 4 of 12" in msg.text
    catch_up = data_of(msg, "l:c")
    await harness.tap(1001, data_of(msg, "l:r:w01-01"))
    assert "Week 1" in harness.last(1001).text
    await harness.tap(1001, catch_up)
    assert "w01-02" in lessons.received(harness.db, pid)


async def test_stopping_after_the_course_ends_all_prompts(harness, clock):
    harness.add_patient(course_start="2025-12-01", course_state="maintenance")
    await harness.tap(1001, "l:m:stop")
    row = harness.db.execute("SELECT status, course_state FROM patients").fetchone()
    assert tuple(row) == ("finished", "stopped")
    plan_all(harness.rt)
    assert (
        harness.db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
        == 0
    )


async def test_lesson_days_and_time_can_be_changed_and_replan_at_once(harness, clock):
    harness.add_patient(course_start="2026-03-02")
    plan_all(harness.rt)
    await harness.tap(1001, "l:d:tts")
    await harness.tap(1001, "l:a:0800")
    assert "tue, thu, sat" in harness.last(1001).text and "08:00" in harness.last(1001).text
    tz = zone("Europe/Berlin")
    due = [
        datetime.fromisoformat(r["due_at"]).astimezone(tz)
        for r in harness.db.query(
            "SELECT due_at FROM outbox WHERE kind = 'lesson' AND status = 'pending'"
        )
    ]
    assert due and all(
        d.strftime("%a %H:%M") in {"Tue 08:00", "Thu 08:00", "Sat 08:00"} for d in due
    )
    await harness.tap(1001, "l:a:0315")
    assert "expired" in harness.last(1001).text
