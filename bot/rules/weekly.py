"""Weekly figures for the summary: pure arithmetic on one person's stored answers.

Everything here is computed from plain values (ratings by local date, verdicts, counts), so a test
can recompute the same figures straight from the database and compare them with the message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.rules.localtime import local_to_utc

VERDICTS = ("keep", "progress", "adapt", "pause")
# docs/clinical-rules.md: a 7-day average at least 2 points above the first week's, each window
# with at least RISE_MIN_RATINGS ratings (issue 16: one rating per window is no trend).
SUSTAINED_RISE = 2.0
RISE_MIN_RATINGS = 3
# A change of the weekly average smaller than this reads "about the same".
SAME_WITHIN = 0.5


def mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def week_days(week_end: date) -> list[date]:
    """The 7 local dates of the week that ends on `week_end` (inclusive)."""
    return [week_end - timedelta(days=n) for n in range(6, -1, -1)]


@dataclass(frozen=True)
class WeekFigures:
    week_start: date
    week_end: date
    answered: int  # check-ins answered, out of 7
    average: float | None  # mean pain of the answered days
    last_week: float | None  # the week before
    first_week: float | None  # the first 7 days from the start date
    verdicts: dict[str, int] = field(default_factory=dict)  # verdict -> sessions decided this week
    breaks: int = 0  # sitting breaks taken
    lessons: int = 0  # lessons received this week
    first_week_is_this_week: bool = False
    first_week_answered: int = RISE_MIN_RATINGS  # ratings in the first week (the rise rule)
    possible: int = 7  # days the person could answer a check-in (not paused, held, before start)
    weekly_checkin: bool = False  # after the course: one check-in a week

    @property
    def change_vs_last(self) -> float | None:
        if self.average is None or self.last_week is None:
            return None
        return round(self.average - self.last_week, 1)

    @property
    def change_vs_first(self) -> float | None:
        if self.average is None or self.first_week is None or self.first_week_is_this_week:
            return None
        return round(self.average - self.first_week, 1)

    @property
    def sustained_rise(self) -> bool:
        change = self.change_vs_first
        return (
            change is not None
            and change >= SUSTAINED_RISE
            and self.answered >= RISE_MIN_RATINGS
            and self.first_week_answered >= RISE_MIN_RATINGS
        )

    @property
    def mood(self) -> str:
        """Which line of encouragement fits the week (a key into the templates)."""
        if self.answered == 0:
            return "paused" if self.possible == 0 else "quiet"
        if self.sustained_rise:
            return "rise"
        if self.change_vs_last is not None and self.change_vs_last <= -1:
            return "better"
        if self.verdicts.get("adapt") or self.verdicts.get("pause"):
            return "adjusting"
        if self.verdicts.get("progress"):
            return "stepping_up"
        if self.answered >= min(5, self.possible):
            return "steady"
        return "keep_going"

    def as_dict(self) -> dict[str, Any]:
        return {
            "week_start": self.week_start.isoformat(),
            "week_end": self.week_end.isoformat(),
            "answered": self.answered,
            "possible": self.possible,
            "average": self.average,
            "last_week": self.last_week,
            "first_week": self.first_week,
            "change_vs_last": self.change_vs_last,
            "change_vs_first": self.change_vs_first,
            "verdicts": dict(self.verdicts),
            "breaks": self.breaks,
            "lessons": self.lessons,
            "mood": self.mood,
        }


def in_words(change: float | None) -> str | None:
    """A change of average pain in words: "0.5 higher", "1.2 lower", "about the same"."""
    if change is None:
        return None
    if abs(change) < SAME_WITHIN:
        return "about the same"
    return f"{abs(change):.1f} {'higher' if change > 0 else 'lower'}"


Span = tuple[datetime | None, datetime | None]  # [from, until): None is open-ended


def days_off(spans: Iterable[Span], days: Iterable[date], at: time, tz: ZoneInfo) -> set[date]:
    """The days whose check-in time (`at`, local) fell inside a span of pause or hold."""
    spans = list(spans)
    off = set()
    for day in days:
        moment = local_to_utc(day, at, tz)
        if any((a is None or a <= moment) and (b is None or moment < b) for a, b in spans):
            off.add(day)
    return off


def possible_days(
    week_end: date,
    first_day: date,
    *,
    off: Iterable[date] = (),
    weekdays: Iterable[int] | None = None,
    weekly_from: date | None = None,
    weekly_day: int | None = None,
    checkins_off: bool = False,
) -> list[date]:
    """The days of the week ending `week_end` on which a check-in was asked of the person:
    from `first_day` (their start) on, not `off` (paused or on hold at check-in time), only on
    `weekdays` (a weekdays-only check-in mode; None: every day), from `weekly_from` only on
    `weekly_day` (the weekly check-in after the course), none at all when `checkins_off`."""
    if checkins_off:
        return []
    off = set(off)
    allowed = None if weekdays is None else set(weekdays)
    found = []
    for day in week_days(week_end):
        if day < first_day or day in off:
            continue
        if allowed is not None and day.weekday() not in allowed:
            continue
        if weekly_from is not None and day >= weekly_from and day.weekday() != weekly_day:
            continue
        found.append(day)
    return found


def week_figures(
    ratings: dict[date, int],
    week_end: date,
    start: date,
    verdicts: list[str],
    breaks: int,
    lessons: int,
    *,
    possible: Iterable[date] | None = None,
    weekly_checkin: bool = False,
) -> WeekFigures:
    """The figures of the week ending `week_end`; `ratings` maps local dates to answered pain.

    `possible`: the days a check-in was asked (`possible_days`); None means all 7. A day answered
    anyway (a rating typed while paused) counts as possible, so it is never "5 of 4"."""
    days = week_days(week_end)
    this = [ratings[d] for d in days if d in ratings]
    could = set(days) if possible is None else set(possible) & set(days)
    could |= {d for d in days if d in ratings}
    before = [ratings[d] for d in week_days(week_end - timedelta(days=7)) if d in ratings]
    first_days = [start + timedelta(days=n) for n in range(7)]
    first = [ratings[d] for d in first_days if d in ratings]
    counts = Counter(v for v in verdicts if v in VERDICTS)
    return WeekFigures(
        week_end - timedelta(days=6),
        week_end,
        len(this),
        mean(this),
        mean(before),
        mean(first),
        {v: counts[v] for v in VERDICTS},
        breaks,
        lessons,
        first_week_is_this_week=week_end - timedelta(days=6) <= start,
        first_week_answered=len(first),
        possible=len(could),
        weekly_checkin=weekly_checkin,
    )
