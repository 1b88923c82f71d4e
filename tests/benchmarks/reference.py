"""The planner as it is on main before the benchmarks (jobs/plan.py at 5e8570b): each person
planned on their own, one INSERT per message. Kept as the yardstick: the batched planner in
jobs/plan.py must write exactly the same rows (tests/test_benchmarks_smoke.py), and the benchmark
reports how much faster it is."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime, timedelta

from bot.course import default_course
from bot.rules import course_plan
from bot.rules.localtime import local_date, parse_hhmm
from bot.rules.schedule import Planned, plan_messages
from bot.runtime import Runtime
from jobs import sessions as sessions_flow
from jobs.plan import lesson_clock  # a lesson moved away from the weekly summary (issue 15)
from jobs.summary import summary_items
from storage import outbox, patients, sitting

log = logging.getLogger(__name__)


def course_items(
    rt: Runtime, patient: dict, prefs, now: datetime, horizon: datetime
) -> list[Planned]:
    """Lessons due in the window, and the closing message once week 12 is over."""
    if patient["course_state"] != "active" or not patient["course_start"]:
        return []
    tz = prefs.timezone
    start = date.fromisoformat(patient["course_start"])
    at = parse_hhmm(patient["course_time"])
    days = [d for d in patient["course_days"].split(",") if d]
    first, last = local_date(now, tz), local_date(horizon, tz)
    items = []
    for day, lesson in course_plan.due_between(default_course(), start, days, first, last):
        due = course_plan.lesson_due_at(day, lesson_clock(patient, day), tz, prefs.quiet)
        if now <= due < horizon:
            items.append(
                Planned(
                    "lesson", due, f"lesson:{patient['id']}:{lesson.id}", {"lesson_id": lesson.id}
                )
            )
    end_day = course_plan.course_end(start)
    if first <= end_day <= last:
        due = course_plan.lesson_due_at(end_day, at, tz, prefs.quiet)
        if now <= due < horizon:
            items.append(Planned("course_end", due, f"course_end:{patient['id']}", {}))
    return items


def plan_patient(rt: Runtime, patient: dict) -> int:
    """Insert this person's messages for the horizon; returns how many rows were new."""
    now = rt.clock.now()
    horizon = now + timedelta(hours=rt.settings.PLAN_HORIZON_HOURS)
    prefs = patients.preferences(patient)
    today = local_date(now, prefs.timezone).isoformat()
    prefs = replace(prefs, sitting_off_dates=sitting.days_off(rt.db, patient["id"], today))
    added = 0
    with rt.db.atomic():
        for item in (
            plan_messages(prefs, now, horizon)
            + course_items(rt, patient, prefs, now, horizon)
            + summary_items(rt.db, patient, now, horizon)
        ):
            chat_id = item.payload.get("chat_id", patient["chat_id"])  # a caregiver's copy
            if outbox.enqueue(
                rt.db,
                chat_id=chat_id,
                patient_id=patient["id"],
                kind=item.kind,
                due_at=item.due_at,
                dedupe_key=item.dedupe_key,
                payload=item.payload,
                now=now,
            ):
                added += 1
    return added


def record_missed_days(rt: Runtime) -> int:
    """A check-in left unanswered for 20 hours is recorded as a missed day (and never nagged)."""
    cutoff = (rt.clock.now() - timedelta(hours=20)).isoformat(timespec="seconds")
    return rt.db.execute(
        "INSERT INTO checkins (patient_id, local_date, status) "
        "SELECT patient_id, json_extract(payload, '$.local_date'), 'missed' FROM outbox "
        "WHERE kind = 'checkin' AND status IN ('sent', 'expired') AND due_at < ? "
        "AND patient_id IS NOT NULL ON CONFLICT (patient_id, local_date) DO NOTHING",
        [cutoff],
    ).rowcount


def plan_all(rt: Runtime) -> int:
    added = sum(plan_patient(rt, p) for p in patients.plannable(rt.db))
    missed = record_missed_days(rt)
    decided = sessions_flow.decide_overdue(rt)
    log.info("plan tick", extra={"added": added, "missed_days": missed, "decided": decided})
    return added
