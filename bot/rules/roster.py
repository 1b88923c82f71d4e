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
# In order of urgency: flagged patients are listed by their most urgent flag first.
FLAGS = ("red_flag", "soon_sign", "blocked", "rise", "inactive")
EPISODE_DAYS = 14  # a sign's flag stays this long after the report (the emergency one: after
# the patient said a doctor has seen them; until then it stays)
IMPROVED_BY = 2.0  # points of pain, last 7 days below the first week, that count as improved


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
    # "soon_sign" (a see-doctor sign); "rise" when it was first noticed.
    flag_dates: dict[str, date] = field(default_factory=dict)
    # Where each flag stands, in a few words: "open", "seen by a doctor 2026-03-04",
    # "on hold since 2026-03-02", "paused since 2026-03-10".
    flag_states: dict[str, str] = field(default_factory=dict)

    @property
    def urgency(self) -> int:
        """The rank of the most urgent flag (FLAGS order); len(FLAGS) when none."""
        return min((FLAGS.index(f) for f in self.flags), default=len(FLAGS))


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
    seen: date | None = None,
    status: str = "active",
    status_since: date | None = None,
    rise_since: date | None = None,
    episode_states: dict[str, str] | None = None,
    asked_from: date | None = None,
) -> PatientFigures:
    """All the roster shows about one patient, from their answered check-ins by local date.

    `seen`: when they last said a doctor has seen them; `status` and `status_since` (a hold or
    a pause and its first day); `rise_since`: when the rise was first noticed;
    `episode_states`: the clinic's own states of alert episodes by flag, when it keeps them.
    An emergency sign stays flagged until the patient was seen and EPISODE_DAYS have passed; a
    see-doctor sign for EPISODE_DAYS after its last report."""
    answered = {d for d in ratings if start <= d <= today}
    # The same means and the same sustained-rise rule as the patient's own weekly summary.
    week = week_figures(ratings, today, start, verdicts, 0, 0)
    since = (today - last_answer).days if last_answer else None
    quiet_since = since if since is not None else (today - start).days
    flags, dates, states = [], {}, {}
    red_date = red_flag if isinstance(red_flag, date) else None
    seen_after = seen if seen is not None and (red_date is None or seen >= red_date) else None
    if red_flag and not (seen_after and (today - seen_after).days > EPISODE_DAYS):
        flags.append("red_flag")
        if red_date is not None:
            dates["red_flag"] = red_date
        if seen_after is not None:
            states["red_flag"] = f"seen by a doctor {seen_after.isoformat()}"
        elif status == "hold":
            states["red_flag"] = "open, on hold" + _since(status_since)
        else:
            states["red_flag"] = "open"
    if soon_sign and (today - soon_sign).days <= EPISODE_DAYS:
        flags.append("soon_sign")
        dates["soon_sign"] = soon_sign
    if blocked:
        flags.append("blocked")
    if week.sustained_rise:
        flags.append("rise")
        if rise_since is not None:
            dates["rise"] = rise_since
    if quiet_since >= INACTIVE_DAYS:
        flags.append("inactive")
        if status == "hold":
            states["inactive"] = "on hold" + _since(status_since)
        elif status == "paused":
            states["inactive"] = "paused" + _since(status_since)
    for flag, state in (episode_states or {}).items():
        if flag not in flags or state == "open":  # "open" adds nothing to the roster's words
            continue
        own = states.get(flag)
        if own and own.startswith("open"):  # "open, on hold since ..." -> "acknowledged by ..."
            states[flag] = state + own[len("open") :]
        else:
            states[flag] = f"{state}, {own}" if own else state
    counts = Counter(v for v in verdicts if v in VERDICTS)  # all sessions, not only this week's
    # Days a check-in could be answered: from the first one asked (set up after the check-in
    # time, the first day had none), though a rating given on the first day still counts.
    asked = start if asked_from is None or asked_from <= start else asked_from
    if asked > start and start in answered:
        asked = start
    return PatientFigures(
        last_7=_adherence(answered, max(asked, today - timedelta(days=6)), today),
        overall=_adherence(answered, asked, today),
        days_since_answer=since,
        first_week=week.first_week,
        last_week=week.average,
        change=week.change_vs_first,
        verdicts={v: counts.get(v, 0) for v in VERDICTS},
        flags=tuple(flags),
        flag_dates=dates,
        flag_states=states,
    )


def _since(day: date | None) -> str:
    return f" since {day.isoformat()}" if day is not None else ""


@dataclass(frozen=True)
class CohortFigures:
    """The cohort line: how the group as a whole is doing."""

    members: int
    flagged: int
    answered: int  # check-ins answered in the last 7 days, all members
    possible: int
    changed: int  # members with a pain change (a first week and a last 7 days apart)
    mean_change: float | None
    improved: int  # of `changed`, pain down by IMPROVED_BY points or more

    @property
    def adherence(self) -> int | None:
        return round(100 * self.answered / self.possible) if self.possible else None


def cohort_figures(members: list[PatientFigures]) -> CohortFigures:
    changes = [f.change for f in members if f.change is not None]
    return CohortFigures(
        members=len(members),
        flagged=sum(1 for f in members if f.flags),
        answered=sum(f.last_7.answered for f in members),
        possible=sum(f.last_7.days for f in members),
        changed=len(changes),
        mean_change=round(sum(changes) / len(changes), 1) if changes else None,
        improved=sum(1 for c in changes if c <= -IMPROVED_BY),
    )


def week_adherence(
    answered: set[date], start: date, today: date, week: tuple[date, date]
) -> Adherence:
    """Check-ins answered of the days of one Monday-Sunday week the patient was on the course
    (from their start, up to today; today counts only once answered)."""
    first, last = max(start, week[0]), min(week[1], today)
    if first > last:
        return Adherence(0, 0)
    days = (last - first).days + (0 if last == today and today not in answered else 1)
    return Adherence(sum(1 for d in answered if first <= d <= last), days)
