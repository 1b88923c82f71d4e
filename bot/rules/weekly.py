"""Weekly figures for the summary: pure arithmetic on one person's stored answers.

Everything here is computed from plain values (ratings by local date, verdicts, counts), so a test
can recompute the same figures straight from the database and compare them with the message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

VERDICTS = ("keep", "progress", "adapt", "pause")
# docs/clinical-rules.md: a 7-day average at least 2 points above the first week's, each window
# with at least RISE_MIN_RATINGS ratings (issue 16: one rating per window is no trend).
SUSTAINED_RISE = 2.0
RISE_MIN_RATINGS = 3


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
            return "quiet"
        if self.sustained_rise:
            return "rise"
        if self.change_vs_last is not None and self.change_vs_last <= -1:
            return "better"
        if self.verdicts.get("adapt") or self.verdicts.get("pause"):
            return "adjusting"
        if self.verdicts.get("progress"):
            return "stepping_up"
        if self.answered >= 5:
            return "steady"
        return "keep_going"

    def as_dict(self) -> dict[str, Any]:
        return {
            "week_start": self.week_start.isoformat(),
            "week_end": self.week_end.isoformat(),
            "answered": self.answered,
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


def week_figures(
    ratings: dict[date, int],
    week_end: date,
    start: date,
    verdicts: list[str],
    breaks: int,
    lessons: int,
) -> WeekFigures:
    """The figures of the week ending `week_end`; `ratings` maps local dates to answered pain."""
    this = [ratings[d] for d in week_days(week_end) if d in ratings]
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
    )
