"""The course: lesson buttons (feedback, checks, next, re-read, catch up), /course, week 12 end."""

from __future__ import annotations

from datetime import date

from telegram import Update
from telegram.ext import ContextTypes

from bot.course import default_course
from bot.rules import course_plan
from bot.rules.callbacks import decode, encode
from bot.rules.localtime import local_date, zone
from handlers.common import (
    answer_callback,
    clear_buttons,
    patient_of,
    reply,
    reply_template,
    runtime,
    tapped,
    update_key,
)
from jobs.compose import lesson_feedback_rows
from jobs.dispatch import dispatch_now
from messages import Outgoing, label, render
from storage import lessons, outbox

RECENT_BUTTONS = 8  # re-read buttons under /course: the latest few fit on a phone screen
DAY_PRESETS = {"mwf": "mon,wed,fri", "tts": "tue,thu,sat", "wkd": "mon,tue,wed,thu,fri"}
TIME_PRESETS = ("0800", "1200", "1800", "2000")


def _lesson(lesson_id: str):
    return next((x for x in default_course() if x.id == lesson_id), None)


def _today(rt, patient: dict) -> date:
    return local_date(rt.clock.now(), zone(patient["timezone"]))


async def send_lesson(
    rt, update: Update, patient: dict, lesson_id: str, kind: str = "lesson"
) -> None:
    """Send a lesson now; a lesson already planned for later is brought forward, not duplicated."""
    now = rt.clock.now()
    key = (
        f"lesson:{patient['id']}:{lesson_id}"
        if kind == "lesson"
        else f"{kind}:{update_key(update)}"
    )
    row_id = outbox.enqueue(
        rt.db,
        chat_id=patient["chat_id"],
        patient_id=patient["id"],
        kind=kind,
        due_at=now,
        now=now,
        dedupe_key=key,
        payload={"lesson_id": lesson_id},
    )
    if row_id is None:
        row_id = outbox.pending_id(rt.db, key)
        if row_id is None:
            return
        outbox.bring_forward(rt.db, row_id, now)
    await dispatch_now(rt, row_id)


async def course_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/course: where you are, re-read a lesson, catch up on missed ones."""
    rt = runtime(context)
    patient = patient_of(rt, update)
    if patient is None or not patient["course_start"]:
        await reply_template(rt, update, "not_registered")
        return
    course = default_course()
    start, today = date.fromisoformat(patient["course_start"]), _today(rt, patient)
    got = lessons.received(rt.db, patient["id"])
    days = [d for d in patient["course_days"].split(",") if d]
    gaps = course_plan.missed(course, start, days, today, set(got))
    text = render(
        "course_status",
        week=course_plan.course_week(start, today),
        start=start,
        received=len(got),
        total=len(course),
        missed=len(gaps),
        reacted=lessons.read_count(rt.db, patient["id"]),
        days=patient["course_days"].replace(",", ", "),
        at=patient["course_time"],
    )
    titles = {x.id: x for x in course}
    rows = [
        [(f"W{titles[i].week}: {titles[i].title}"[:60], encode("l:r", i))]
        for i in list(got)[-RECENT_BUTTONS:]
        if i in titles
    ]
    if gaps:
        rows.insert(0, [(label("course_catch_up"), encode("l:c"))])
    rows.append([(label(f"course_days_{key}"), encode("l:d", key)) for key in DAY_PRESETS])
    rows.append([(f"{t[:2]}:{t[2:]}", encode("l:a", t)) for t in TIME_PRESETS])
    await reply(rt, update, Outgoing(text, rows), patient_id=patient["id"])


async def _rhythm(rt, update, patient, action, args) -> bool:
    """Lesson days or time chosen under /course; the schedule is re-planned at once."""
    from jobs.plan import replan_patient
    from storage import patients

    if action == "d" and args and args[0] in DAY_PRESETS:
        patients.update(rt.db, patient["id"], rt.clock.now(), course_days=DAY_PRESETS[args[0]])
    elif action == "a" and args and args[0] in TIME_PRESETS:
        patients.update(
            rt.db, patient["id"], rt.clock.now(), course_time=f"{args[0][:2]}:{args[0][2:]}"
        )
    else:
        return False
    fresh = patients.existing(rt.db, patient["id"])
    replan_patient(rt, fresh)
    await reply_template(
        rt,
        update,
        "course_rhythm",
        patient_id=patient["id"],
        days=fresh["course_days"].replace(",", ", "),
        at=fresh["course_time"],
    )
    return True


async def lesson_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any tap under a lesson or /course (data `l:<action>[:<lesson id>[:<value>]]`)."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    if patient is None or cb is None or not cb.head.startswith("l:"):
        await reply_template(rt, update, "expired")
        return
    action, args = cb.head[2:], [str(v) for v in cb.fields.values()]
    handler = _ACTIONS.get(action)
    if handler is None or not await handler(rt, update, patient, action, args):
        await reply_template(rt, update, "expired")


async def _feedback(rt, update, patient, action, args) -> bool:
    if len(args) != 1 or args[0] not in lessons.received(rt.db, patient["id"]):
        return False
    value = "helpful" if action == "h" else "not_for_me"
    lessons.set_feedback(rt.db, patient["id"], args[0], value)
    await reply_template(rt, update, "lesson_feedback", feedback=value, patient_id=patient["id"])
    return True


async def _check(rt, update, patient, action, args) -> bool:
    lesson = _lesson(args[0]) if len(args) == 2 and args[1] in ("0", "1") else None
    if (
        lesson is None
        or lesson.check is None
        or args[0] not in lessons.received(rt.db, patient["id"])
    ):
        return False
    answer = args[1] == "1"
    if not lessons.set_check_answer(rt.db, patient["id"], lesson.id, answer):
        return False
    shown = lesson.render(name="").check
    got = set(lessons.received(rt.db, patient["id"]))
    text = render(
        "lesson_check", feedback=shown.right if answer == lesson.check.answer else shown.wrong
    )
    await clear_buttons(update)
    rows = lesson_feedback_rows(default_course(), got, lesson.id)
    await reply(rt, update, Outgoing(text, rows), patient_id=patient["id"])
    return True


async def _next(rt, update, patient, action, args) -> bool:
    got = lessons.received(rt.db, patient["id"])
    if len(args) != 1 or args[0] not in got:
        return False
    if got[args[0]]["feedback"] is None:
        lessons.set_feedback(rt.db, patient["id"], args[0], "more")
    upcoming = course_plan.next_unreceived(default_course(), set(got))
    if upcoming is None:
        await reply_template(rt, update, "lesson_none", patient_id=patient["id"])
    else:
        await send_lesson(rt, update, patient, upcoming.id)
    return True


async def _reread(rt, update, patient, action, args) -> bool:
    if len(args) != 1 or args[0] not in lessons.received(rt.db, patient["id"]):
        return False
    await send_lesson(rt, update, patient, args[0], kind="lesson_reread")
    return True


async def _catch_up(rt, update, patient, action, args) -> bool:
    if args or not patient["course_start"]:
        return False
    days = [d for d in patient["course_days"].split(",") if d]
    gaps = course_plan.missed(
        default_course(),
        date.fromisoformat(patient["course_start"]),
        days,
        _today(rt, patient),
        set(lessons.received(rt.db, patient["id"])),
    )
    if not gaps:
        await reply_template(rt, update, "lesson_none", patient_id=patient["id"])
    else:
        await send_lesson(rt, update, patient, gaps[0].id)
    return True


async def _maintenance(rt, update, patient, action, args) -> bool:
    if args not in (["keep"], ["stop"]) or patient["course_state"] not in ("active", "maintenance"):
        return False
    from jobs.plan import replan_patient
    from storage import patients

    if args == ["keep"]:
        patients.update(rt.db, patient["id"], rt.clock.now(), course_state="maintenance")
    else:
        patients.update(
            rt.db, patient["id"], rt.clock.now(), course_state="stopped", status="finished"
        )
        outbox.cancel_pending(rt.db, patient["id"])
    await clear_buttons(update)
    replan_patient(rt, patients.existing(rt.db, patient["id"]))
    await reply_template(rt, update, "course_maintenance", choice=args[0], patient_id=patient["id"])
    return True


_ACTIONS = {
    "h": _feedback,
    "n": _feedback,
    "t": _check,
    "x": _next,
    "r": _reread,
    "c": _catch_up,
    "m": _maintenance,
    "d": _rhythm,
    "a": _rhythm,
}
