"""The course calendar: every lesson once, in order, inside its own week."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.course import load_course
from bot.rules.course_plan import calendar, course_end, course_week, missed
from bot.rules.schedule import WEEKDAYS

COURSE = load_course()


@given(
    st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 1, 1)),
    st.sets(st.sampled_from(WEEKDAYS), max_size=7),
)
def test_every_lesson_once_in_order_within_its_week(start, days):
    plan = calendar(COURSE, start, days)
    assert [lesson.id for _, lesson in plan] == [lesson.id for lesson in COURSE]
    dates = [d for d, _ in plan]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)  # one lesson a day at most
    for d, lesson in plan:
        assert course_week(start, d) == lesson.week
    assert dates[-1] < course_end(start)


def test_chosen_days_are_used_first():
    start = date(2026, 3, 2)  # Monday
    plan = calendar(COURSE, start, ("mon", "wed", "fri"))
    week2 = [d for d, lesson in plan if lesson.week == 2]
    assert [WEEKDAYS[d.weekday()] for d in week2] == ["mon", "wed", "fri"]


def test_missed_lessons_are_those_past_and_not_received():
    start = date(2026, 3, 2)
    today = start + timedelta(days=15)  # week 3
    plan = calendar(COURSE, start)
    received = {lesson.id for d, lesson in plan[:2]}
    gaps = missed(COURSE, start, ("mon", "wed", "fri"), today, received)
    assert gaps and all(lesson.id not in received for lesson in gaps)
    assert all(lesson.week <= 3 for lesson in gaps)
