"""Pure figures a clinic sees about one patient: adherence, trend, verdicts and flags.

`jobs.clinic` reads the rows and renders; this module only counts. Days are the patient's local
dates. "Today" counts towards adherence only once it has been answered, so a morning roster does not
show everyone as behind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.rules.weekly import VERDICTS, week_figures

INACTIVE_DAYS = 3  # days without an answer before the roster flags someone as quiet
FLAGS = ("red_flag", "soon_sign", "rise", "inactive", "blocked")


@dataclass(frozen=True)
class Adherence:
    answered: int
    days: int


@dataclass(frozen=True)
class PatientFigures:
    last_7: Adherence
    overall: Adherence
    days_since_answer: int | None  # None: never answered
    first_week: float | None  # mean of the course's first 7 days
    last_week: float | None  # mean of the last 7 days
    change: float | None  # last_week - first_week; None while they overlap
    verdicts: dict[str, int] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    # The local date a dated flag was last reported: "red_flag" (an emergency sign) and
    # "soon_sign" (a see-doctor sign).
    flag_dates: dict[str, date] = field(default_factory=dict)


def _adherence(answered: set[date], first: date, today: date) -> Adherence:
    if first > today:
        return Adherence(0, 0)
    days = (today - first).days + (1 if today in answered else 0)
    return Adherence(sum(1 for d in answered if first <= d <= today), days)


def figures(
    *,
    ratings: dict[date, int],
    start: date,
    today: date,
    last_answer: date | None,
    verdicts: list[str],
    red_flag: bool | date | None,
    blocked: bool,
    soon_sign: date | None = None,
) -> PatientFigures:
    """All the roster shows about one patient, from their answered check-ins by local date."""
    answered = {d for d in ratings if start <= d <= today}
    # The same means and the same sustained-rise rule as the patient's own weekly summary.
    week = week_figures(ratings, today, start, verdicts, 0, 0)
    since = (today - last_answer).days if last_answer else None
    quiet_since = since if since is not None else (today - start).days
    flags, dates = [], {}
    if red_flag:
        flags.append("red_flag")
        if isinstance(red_flag, date):
            dates["red_flag"] = red_flag
    if soon_sign:
        flags.append("soon_sign")
        dates["soon_sign"] = soon_sign
    if week.sustained_rise:
        flags.append("rise")
    if quiet_since >= INACTIVE_DAYS:
        flags.append("inactive")
    if blocked:
        flags.append("blocked")
    counts = Counter(v for v in verdicts if v in VERDICTS)  # all sessions, not only this week's
    return PatientFigures(
        last_7=_adherence(answered, max(start, today - timedelta(days=6)), today),
        overall=_adherence(answered, start, today),
        days_since_answer=since,
        first_week=week.first_week,
        last_week=week.average,
        change=week.change_vs_first,
        verdicts={v: counts.get(v, 0) for v in VERDICTS},
        flags=tuple(flags),
        flag_dates=dates,
    )
