"""Pure planning: a person's preferences become the messages due in a window, and lateness rules.

Nothing here touches the database or Telegram: `jobs.plan` stores what `plan_messages` returns, and
`jobs.dispatch` asks `send_decision` what to do with a row that is due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.rules.kinds import KINDS, names
from bot.rules.localtime import DailyWindow, local_date, local_to_utc

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class KindPolicy:
    """How a kind of message behaves when it cannot go out on time."""

    max_late: timedelta | None  # None: still worth sending however late
    respects_quiet_hours: bool  # scheduled nudges do; a direct reply to the person does not
    late_action: str = "expire"  # what happens past max_late: "expire" (recorded) or "drop"


# One policy per declared kind (bot.rules.kinds is the one place kinds are declared).
POLICIES: dict[str, KindPolicy] = {
    k.name: KindPolicy(k.max_late, k.quiet_hours, k.late_action) for k in KINDS.values()
}
DEFAULT_POLICY = KindPolicy(None, False)

# Messages the bot starts (not replies). A day never has more than DAILY_PROMPT_CAP of them:
# sitting nudges, the most frequent and least urgent, give way first (see jobs.compose), and any
# nudge that would land within MERGE_GAP of another prompt is left out: one message is enough.
SCHEDULED_KINDS = names(prompt=True)
DAILY_PROMPT_CAP = 20
MERGE_GAP = timedelta(minutes=10)


def policy_for(kind: str) -> KindPolicy:
    return POLICIES.get(kind, DEFAULT_POLICY)


def expires_at(kind: str, due_at: datetime) -> datetime | None:
    late = policy_for(kind).max_late
    return None if late is None else due_at + late


@dataclass(frozen=True)
class Sitting:
    days: frozenset[str]
    start: time
    end: time
    every_minutes: int = 30


@dataclass(frozen=True)
class Preferences:
    patient_id: int
    timezone: ZoneInfo
    checkin_time: time | None
    quiet: DailyWindow | None = None
    sitting: Sitting | None = None
    sitting_off_dates: frozenset[date] = field(default_factory=frozenset)
    checkin_weekdays: frozenset[str] | None = None  # None: every day (after the course: one day)
    sitting_offset_minutes: int = 0  # nudges come this long after each slot (nudge_offset)


@dataclass(frozen=True)
class Planned:
    kind: str
    due_at: datetime
    dedupe_key: str
    payload: dict[str, Any]

    @property
    def expires_at(self) -> datetime | None:
        return expires_at(self.kind, self.due_at)


CHECKIN_MODES = ("daily", "weekdays", "off")


def checkin_days(mode: str, weekly: int | None = None) -> frozenset[str] | None:
    """The weekdays a check-in is planned on: None for every day. `mode` is the person's choice
    in /settings (daily, weekdays; "off" plans none: its time is left out before this);
    `weekly` (a weekday number) is the one day after the course, kept within weekdays if they
    chose weekdays only (a weekend day moves to Monday)."""
    if weekly is not None:
        day = WEEKDAYS[weekly]
        if mode == "weekdays" and weekly >= 5:
            day = "mon"
        return frozenset({day})
    if mode == "weekdays":
        return frozenset(WEEKDAYS[:5])
    return None


def _local_days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    first, last = local_date(start, tz), local_date(end, tz)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def sitting_times(day: date, sitting: Sitting) -> list[time]:
    """Nudge times on a day: an interval after sitting starts, then every interval until its end."""
    if WEEKDAYS[day.weekday()] not in sitting.days:
        return []
    step = timedelta(minutes=sitting.every_minutes)
    start = datetime.combine(day, sitting.start)
    end = datetime.combine(day, sitting.end)
    times, moment = [], start + step
    while moment < end:
        times.append(moment.time())
        moment += step
    return times


# Two planned messages landing together are one too many. A lesson due within LESSON_SPACING of
# the person's weekly summary (which brings its chart) goes out LESSON_BEFORE_SUMMARY earlier, so
# Sunday 18:00 is the summary and its chart, and the lesson came at 17:00.
LESSON_SPACING = timedelta(minutes=30)
LESSON_BEFORE_SUMMARY = timedelta(hours=1)


def lesson_time(day: date, at: time, summary_day: str | None, summary_at: time | None) -> time:
    """The local time of a lesson on `day`: its own, or an hour before a weekly summary that
    would land within half an hour of it."""
    if not summary_day or summary_at is None or WEEKDAYS[day.weekday()] != summary_day:
        return at
    lesson, summary = datetime.combine(day, at), datetime.combine(day, summary_at)
    if abs(lesson - summary) >= LESSON_SPACING:
        return at
    moved = summary - LESSON_BEFORE_SUMMARY
    return moved.time() if moved.date() == day else at


# Sitting nudges are spread over people: each person's come a stable few minutes after the slot
# (:00, :30...), never past the end of their sitting hours, so a population's nudges do not all
# land on the same minute and a person's come at a less mechanical time. Slot 0 for person 1.
NUDGE_SPREAD_MINUTES = 10


def nudge_offset(patient_id: int, every_minutes: int) -> int:
    """Minutes after each slot for this person: 0 to 9 (less for short intervals), by id."""
    spread = max(1, min(NUDGE_SPREAD_MINUTES, every_minutes // 3))
    return (patient_id - 1) % spread


def plan_messages(prefs: Preferences, start: datetime, end: datetime) -> list[Planned]:
    """Every scheduled prompt for one person due in [start, end), keyed so replanning is a no-op."""
    planned: list[Planned] = []
    tz = prefs.timezone
    for day in _local_days(start, end, tz):
        if prefs.checkin_time is not None and (
            prefs.checkin_weekdays is None or WEEKDAYS[day.weekday()] in prefs.checkin_weekdays
        ):
            due = local_to_utc(day, prefs.checkin_time, tz)
            planned.append(
                Planned(
                    "checkin",
                    due,
                    f"checkin:{prefs.patient_id}:{day.isoformat()}",
                    {"local_date": day.isoformat()},
                )
            )
        if prefs.sitting is not None and day not in prefs.sitting_off_dates:
            shift = timedelta(minutes=prefs.sitting_offset_minutes)
            for at in sitting_times(day, prefs.sitting):
                moved = (datetime.combine(day, at) + shift).time()
                if shift and not at < moved < prefs.sitting.end:
                    moved = at  # the last slot stays inside the sitting hours
                due = local_to_utc(day, moved, tz)
                key = f"sitting:{prefs.patient_id}:{day.isoformat()}:{at.strftime('%H:%M')}"
                planned.append(
                    Planned(
                        "sitting",
                        due,
                        key,
                        {"local_date": day.isoformat(), "local_time": at.strftime("%H:%M")},
                    )
                )
    kept = [p for p in planned if start <= p.due_at < end]
    if prefs.quiet is not None:
        kept = [
            p
            for p in kept
            if not (policy_for(p.kind).respects_quiet_hours and prefs.quiet.contains(p.due_at, tz))
        ]
    return sorted(kept, key=lambda p: (p.due_at, p.kind))


@dataclass(frozen=True)
class Send:
    pass


@dataclass(frozen=True)
class Expire:
    status: str  # "expired" or "dropped"


@dataclass(frozen=True)
class Postpone:
    until: datetime


def send_decision(
    kind: str,
    due_at: datetime,
    expires: datetime | None,
    now: datetime,
    quiet: DailyWindow | None,
    tz: ZoneInfo | None,
) -> Send | Expire | Postpone:
    """What to do with a due row now: send it, give it up, or wait for quiet hours to end."""
    policy = policy_for(kind)
    late_status = "dropped" if policy.late_action == "drop" else "expired"
    if expires is not None and now > expires:
        return Expire(late_status)
    if (
        policy.respects_quiet_hours
        and quiet is not None
        and tz is not None
        and quiet.contains(now, tz)
    ):
        until = quiet.next_end(now, tz)
        if expires is not None and until > expires:
            return Expire(late_status)
        return Postpone(until)
    return Send()
