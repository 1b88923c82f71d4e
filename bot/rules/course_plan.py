"""When each lesson is due: a pure calendar from a course start date and chosen weekdays.

Week w runs over days [start + 7(w-1), start + 7w). Its lessons go, in order, on the person's chosen
weekdays inside that week; a week with more lessons than chosen days borrows the next free days of
the same week, so nothing slips into the following week and the course ends with week 12.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.rules.localtime import DailyWindow, local_to_utc
from bot.rules.schedule import WEEKDAYS

if TYPE_CHECKING:  # the lessons themselves are read (jinja2, yaml) by bot.course
    from bot.course import Lesson

WEEKS = 12
DEFAULT_DAYS = ("mon", "wed", "fri")


def course_week(start: date, today: date) -> int:
    """1-based week of the course on `today` (0 before it starts; may exceed 12 after it ends)."""
    if today < start:
        return 0
    return (today - start).days // 7 + 1


def course_end(start: date) -> date:
    """The first day after week 12."""
    return start + timedelta(days=7 * WEEKS)


def _week_days(start: date, week: int, chosen: Iterable[str], needed: int) -> list[date]:
    days = [start + timedelta(days=7 * (week - 1) + n) for n in range(7)]
    chosen = set(chosen)
    preferred = [d for d in days if WEEKDAYS[d.weekday()] in chosen]
    if len(preferred) >= needed:
        return preferred[:needed]
    extra = [d for d in days if d not in preferred]
    # Spread borrowed days out: take them from the back so they sit between the chosen ones.
    return sorted(preferred + extra[::-1][: needed - len(preferred)])


def calendar(
    course: Sequence[Lesson], start: date, chosen_days: Iterable[str] = DEFAULT_DAYS
) -> list[tuple[date, Lesson]]:
    """Every lesson with its local date, in course order (dates never decrease)."""
    chosen = tuple(chosen_days) or DEFAULT_DAYS
    out: list[tuple[date, Lesson]] = []
    for week in range(1, WEEKS + 1):
        lessons = [lesson for lesson in course if lesson.week == week]
        lessons.sort(key=lambda lesson: lesson.order)
        for day, lesson in zip(
            _week_days(start, week, chosen, len(lessons)), lessons, strict=False
        ):
            out.append((day, lesson))
    return out


def due_between(
    course: Sequence[Lesson], start: date, chosen_days: Iterable[str], first: date, last: date
) -> list[tuple[date, Lesson]]:
    return [(d, lesson) for d, lesson in calendar(course, start, chosen_days) if first <= d <= last]


def missed(
    course: Sequence[Lesson],
    start: date,
    chosen_days: Iterable[str],
    today: date,
    received: set[str],
) -> list[Lesson]:
    """Lessons whose day has passed but which never reached the person, oldest first."""
    return [
        lesson
        for d, lesson in calendar(course, start, chosen_days)
        if d < today and lesson.id not in received
    ]


def next_unreceived(course: Sequence[Lesson], received: set[str]) -> Lesson | None:
    return next((lesson for lesson in course if lesson.id not in received), None)


def lesson_due_at(day: date, at: time, tz: ZoneInfo, quiet: DailyWindow | None) -> datetime:
    """The UTC instant of a lesson: its local time, or the end of quiet hours if inside them."""
    moment = local_to_utc(day, at, tz)
    if quiet is not None and quiet.contains(moment, tz):
        moment = quiet.next_end(moment, tz)
    return moment
