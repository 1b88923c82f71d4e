"""The planner tick: top up every active person's schedule for the next hours, idempotently."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from bot.runtime import Runtime
from bot.schedule import plan_messages
from bot.localtime import local_date
from storage import outbox, patients, sitting

log = logging.getLogger(__name__)


def plan_patient(rt: Runtime, patient: dict) -> int:
    """Insert this person's messages for the horizon; returns how many rows were new."""
    now = rt.clock.now()
    horizon = now + timedelta(hours=rt.settings.PLAN_HORIZON_HOURS)
    prefs = patients.preferences(patient)
    today = local_date(now, prefs.timezone).isoformat()
    prefs = replace(prefs, sitting_off_dates=sitting.days_off(rt.db, patient["id"], today))
    added = 0
    with rt.db.atomic():
        for item in plan_messages(prefs, now, horizon):
            if outbox.enqueue(rt.db, chat_id=patient["chat_id"], patient_id=patient["id"],
                              kind=item.kind, due_at=item.due_at, dedupe_key=item.dedupe_key,
                              payload=item.payload, now=now):
                added += 1
    return added


def replan_patient(rt: Runtime, patient: dict) -> int:
    """After a change of settings: forget what was queued for the old settings, plan anew."""
    with rt.db.atomic():
        rt.db.execute("DELETE FROM outbox WHERE patient_id = ? AND status = 'pending' "
                      "AND kind IN ('checkin', 'sitting')", [patient["id"]])
        return plan_patient(rt, patient) if patient["status"] == patients.PLANNABLE else 0


def record_missed_days(rt: Runtime) -> int:
    """A check-in left unanswered for 20 hours is recorded as a missed day (and never nagged)."""
    cutoff = (rt.clock.now() - timedelta(hours=20)).isoformat(timespec="seconds")
    return rt.db.execute(
        "INSERT INTO checkins (patient_id, local_date, status) "
        "SELECT patient_id, json_extract(payload, '$.local_date'), 'missed' FROM outbox "
        "WHERE kind = 'checkin' AND status IN ('sent', 'expired') AND due_at < ? "
        "AND patient_id IS NOT NULL ON CONFLICT (patient_id, local_date) DO NOTHING",
        [cutoff]).rowcount


def plan_all(rt: Runtime) -> int:
    added = sum(plan_patient(rt, p) for p in patients.plannable(rt.db))
    missed = record_missed_days(rt)
    log.info("plan tick", extra={"added": added, "missed_days": missed})
    return added
