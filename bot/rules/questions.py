"""Which open question a typed answer goes to, how long questions stay open, and how long a
rating can still be changed or given late (issue 15). Pure: rows in, a choice out.

* A typed answer goes to the newest open question it fits: a number to a rating question
  (today's check-in, an activity's before/after, the next-day rating), a yes/no to "has the pain
  settled?"; an activity's open before/after comes before a prompt sent meanwhile (the check-in
  stays open and takes the next number). Safety questions are not chosen here: they come first
  (handlers.safety).
* Only questions asked today (local date) or in the last hour fit, and a check-in only if it
  is about today: a question from an earlier day never takes today's answer (an activity's
  unanswered "pain before" from last evening does not take this morning's check-in).
* Each question expires: a check-in at the end of its day, an activity's before/after after
  6 hours, the next-day and settle questions after 12 and 6 hours.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.clock import iso, parse_iso
from bot.rules.localtime import local_date, local_to_utc

# A rating can be changed this long after it was given (the "Undo / change" button, an edited
# message, "sorry I meant 3"); today's check-in all day long through /checkin.
CHANGE_WINDOW = timedelta(minutes=10)
# A tap on an old check-in's button stores that day's rating up to this many days later.
LATE_DAYS = 3
EXPIRES_AFTER: dict[str, timedelta] = {
    "session_before": timedelta(hours=6),
    "session_after": timedelta(hours=6),
    "next_day": timedelta(hours=12),
    "settle": timedelta(hours=6),
}
JUST_ASKED = timedelta(hours=1)  # a question this fresh fits across midnight
RATING_QUESTIONS = ("checkin", "session_before", "session_after", "next_day")
YES_NO_QUESTIONS = ("settle",)

Answer = Literal["rating", "yes_no"]


def checkin_expires(day: str, tz: ZoneInfo) -> datetime:
    """A check-in stays open until the end of its local day."""
    return local_to_utc(date.fromisoformat(day) + timedelta(days=1), time(0, 0), tz)


def fits(row: dict[str, Any], answer: Answer, today: str, now: datetime, tz: ZoneInfo) -> bool:
    """Can this open question (an `awaiting` row) take a typed answer of this sort now?"""
    if row["status"] != "open":
        return False
    if row["expires_at"] and row["expires_at"] <= iso(now):
        return False
    kinds = RATING_QUESTIONS if answer == "rating" else YES_NO_QUESTIONS
    if row["kind"] not in kinds:
        return False
    if row["kind"] == "checkin":
        return bool(row["subject"] == today)
    asked = parse_iso(row["asked_at"])
    # Asked today, or just now (an activity's question at 23:50 still takes 00:05's answer).
    return bool(local_date(asked, tz).isoformat() == today or now - asked <= JUST_ASKED)


def choose(
    rows: list[dict[str, Any]], answer: Answer, today: str, now: datetime, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """The open questions this answer fits, the one it goes to first: the newest asked, the
    one on the screen (issue 15). The other stays open and takes the next answer; the reply
    says which one was answered and what is still open."""
    fitting = [r for r in rows if fits(r, answer, today, now, tz)]
    return sorted(fitting, key=lambda r: (r["asked_at"], r["id"]), reverse=True)


def late_day_status(day: str, today: str) -> Literal["today", "late", "too_late", "future"]:
    """A tap on a check-in about `day`: today's, a late answer still taken, or too late."""
    d, t = date.fromisoformat(day), date.fromisoformat(today)
    if d == t:
        return "today"
    if d > t:
        return "future"
    return "late" if (t - d).days <= LATE_DAYS else "too_late"


def within_change_window(answered_at: str | None, now: datetime) -> bool:
    if not answered_at:
        return False
    return now - parse_iso(answered_at) <= CHANGE_WINDOW
