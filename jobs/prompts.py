"""Prompts off and on again: /pause and a red-flag hold cancel them, /resume, the end of a dated
pause and a lifted hold bring them back. What each outbox kind does then is declared in
bot.rules.kinds; no telegram.

/pause stops prompts at once, until /resume; its reply offers an end ("1 day", "1 week") or
confirms "until I resume". A dated pause ends by itself (the plan tick: `pause_over_due`, then
`end_pause`), with a short welcome back; an open-ended one gets one reminder 7 days in. Coming
back either way offers the lessons that fell due while paused (the planner plans none then).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.clock import iso, parse_iso
from bot.course import default_course
from bot.rules import course_plan
from bot.rules.callbacks import encode
from bot.rules.kinds import names
from bot.rules.localtime import local_date, zone
from messages import Outgoing, label, render
from storage import events, lessons, outbox, patients

# Everything the bot would send on its own; /pause cancels these (replies still go out).
PROMPT_KINDS = names(paused=True)
PAUSE_LENGTHS = {"day": timedelta(days=1), "week": timedelta(days=7)}
REMIND_AFTER = timedelta(days=7)  # an open-ended pause: one reminder, a week in


def cancel_prompts(db, patient_id: int, reason: str) -> None:
    outbox.cancel_for(db, patient_id, PROMPT_KINDS, reason)


def reactivate(db, patient_id: int, now) -> None:
    """Back to active (after a pause, a block or a hold): prompts cancelled meanwhile are planned
    afresh from now on, session follow-ups held back go out again, a hold's follow-up is dropped.
    The caller re-plans (after its transaction)."""
    patients.update(
        db,
        patient_id,
        now,
        status=patients.PLANNABLE,
        paused_from=None,
        paused_until=None,
        inactive_reason=None,
    )
    outbox.resume_rows(db, patient_id, now)


def lift_hold(rt, patient: dict, event: str) -> Outgoing:
    """Inside a handler's transaction: the hold ends (cleared by a doctor, or reported by
    mistake) and prompts start again; the plan tick (or `replan_after`) plans them."""
    now = rt.clock.now()
    paused = bool(patient.get("paused_from"))  # on hold from a /pause: the pause stays theirs
    if paused:
        # A dated pause keeps its end: the plan tick ends it when it is due.
        patients.update(rt.db, patient["id"], now, status="paused")
        outbox.cancel_for(rt.db, patient["id"], names(on_resume="cancel"), "hold_lifted")
    else:
        reactivate(rt.db, patient["id"], now)
    events.record(rt.db, now, event, patient["id"])
    return Outgoing(
        render("safety_hold_lifted", mistake=event == "red_flag_mistake", paused=paused)
    )


# -- /pause and how long -----------------------------------------------------------------------
def pause(db, patient: dict, now: datetime) -> Outgoing:
    """/pause, inside the handler's transaction: prompts stop now, until /resume (one reminder
    after 7 days); the reply offers 1 day or 1 week instead."""
    pid = patient["id"]
    patients.update(db, pid, now, status="paused", paused_from=iso(now), paused_until=None)
    cancel_prompts(db, pid, "paused")
    _remind_later(db, patient, now, iso(now))
    events.record(db, now, "prompts_paused", pid)
    return Outgoing(render("paused", already=False), pause_length_buttons())


def pause_length_buttons() -> list[list[tuple[str, str]]]:
    return [
        [
            (label("pause_day"), encode("pause", "day")),
            (label("pause_week"), encode("pause", "week")),
        ],
        [(label("pause_open"), encode("pause", "open"))],
    ]


def _remind_later(db, patient: dict, now: datetime, paused_from: str) -> None:
    outbox.enqueue(
        db,
        chat_id=patient["chat_id"],
        patient_id=patient["id"],
        kind="pause_reminder",
        due_at=now + REMIND_AFTER,
        now=now,
        dedupe_key=f"pause_reminder:{patient['id']}:{paused_from}",
        payload={"paused_from": paused_from},
    )


def set_pause_length(db, patient: dict, length: str, now: datetime) -> Outgoing | None:
    """A tap under /pause's reply: the pause ends after a day or a week (counted from the
    /pause), or lasts until /resume. None if they are not paused (any more)."""
    pid, since = patient["id"], patient["paused_from"]
    if patient["status"] != "paused" or not since:
        return None
    until = None
    if length in PAUSE_LENGTHS:
        until = max(parse_iso(since) + PAUSE_LENGTHS[length], now)
    # The week's reminder stays queued: it says nothing while the pause has an end.
    patients.update(db, pid, now, paused_until=iso(until) if until else None)
    events.record(db, now, "pause_length", pid, length=length)
    return Outgoing(
        render("pause_length", length=length, until=_when(patient, until) if until else "")
    )


def _when(patient: dict, moment: datetime) -> str:
    local = moment.astimezone(zone(patient["timezone"]))
    return f"{local.strftime('%A')} {local.day} {local.strftime('%b')} at {local.strftime('%H:%M')}"


def end_pause(db, patient: dict, now: datetime) -> None:
    """The plan tick, once a dated pause is over: back to active, and a short welcome back (with
    the lessons missed) that waits for the end of quiet hours. The caller re-plans."""
    since = patient["paused_from"] or iso(now)
    reactivate(db, patient["id"], now)
    events.record(db, now, "pause_ended", patient["id"])
    outbox.enqueue(
        db,
        chat_id=patient["chat_id"],
        patient_id=patient["id"],
        kind="pause_end",
        due_at=now,
        now=now,
        dedupe_key=f"pause_end:{patient['id']}:{since}",
        payload={"paused_from": since},
    )


# -- coming back -------------------------------------------------------------------------------
def missed_while_paused(db, patient: dict, paused_from: str | None, now: datetime) -> list[str]:
    """Lessons whose day fell in the pause (from its first day to yesterday) and never arrived."""
    if not paused_from or not patient["course_start"] or patient["course_state"] != "active":
        return []
    tz = zone(patient["timezone"])
    first = local_date(parse_iso(paused_from), tz)
    days = [d for d in patient["course_days"].split(",") if d]
    gaps = course_plan.missed(
        default_course(),
        date.fromisoformat(patient["course_start"]),
        days,
        local_date(now, tz),
        set(lessons.received(db, patient["id"])),
    )
    dates = dict(
        (lesson.id, day)
        for day, lesson in course_plan.calendar(
            default_course(), date.fromisoformat(patient["course_start"]), days
        )
    )
    return [lesson.id for lesson in gaps if dates[lesson.id] >= first]


def welcome_back(
    db, patient: dict, paused_from: str | None, now: datetime, *, ended: bool
) -> Outgoing:
    """ "Welcome back", and the lessons that fell due while paused: catch up now, or later."""
    missed = missed_while_paused(db, patient, paused_from, now)
    buttons = []
    if missed:
        buttons = [
            [
                (label("pause_lessons_now"), encode("l:c")),
                (label("pause_lessons_later"), encode("pause:later")),
            ]
        ]
    return Outgoing(render("resumed", already=False, missed=len(missed), ended=ended), buttons)


def compose_pause_end(
    db, row: dict, payload: dict, patient: dict, now: datetime
) -> Outgoing | None:
    if patient["status"] != patients.PLANNABLE:
        return None  # paused again, or on hold, meanwhile
    return welcome_back(db, patient, payload.get("paused_from"), now, ended=True)


def compose_pause_reminder(
    db, row: dict, payload: dict, patient: dict, now: datetime
) -> Outgoing | None:
    if (
        patient["status"] != "paused"
        or patient["paused_from"] != payload.get("paused_from")
        or patient["paused_until"]
    ):
        return None  # resumed, on hold, paused again since, or the pause has an end
    days = (now - parse_iso(payload["paused_from"])).days
    return Outgoing(render("pause_reminder", name=patient["first_name"], days=days))
