"""Patients and their preferences."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from sqlite_utils import Database

from bot.clock import iso
from bot.rules.localtime import DailyWindow, parse_hhmm, zone
from bot.rules.schedule import Preferences, Sitting, checkin_days, nudge_offset
from storage.db import new_id

PLANNABLE = "active"


def create(
    db: Database,
    *,
    user_id: int,
    chat_id: int,
    now: datetime,
    first_name: str = "",
    **fields: object,
) -> int:
    row = {
        "user_id": user_id,
        "chat_id": chat_id,
        "first_name": first_name,
        "created_at": iso(now),
        "updated_at": iso(now),
        **fields,
    }
    return new_id(db.table("patients").insert(row))


def get(db: Database, patient_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM patients WHERE id = ?", [patient_id]))
    return rows[0] if rows else None


def existing(db: Database, patient_id: int) -> dict:
    """`get` for a patient the caller has just read or written: their absence is a bug."""
    row = get(db, patient_id)
    if row is None:
        raise LookupError(f"patient {patient_id} does not exist")
    return row


def get_many(db: Database, patient_ids: set[int] | list[int]) -> dict[int, dict]:
    """Patients by id, in one query per 500 ids."""
    ids = list(patient_ids)
    found: dict[int, dict] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            (row["id"], row)
            for row in db.query(
                f"SELECT * FROM patients WHERE id IN ({', '.join('?' for _ in chunk)})", chunk
            )
        )
    return found


def by_user(db: Database, user_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM patients WHERE user_id = ?", [user_id]))
    return rows[0] if rows else None


def by_chat(db: Database, chat_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM patients WHERE chat_id = ?", [chat_id]))
    return rows[0] if rows else None


def update(db: Database, patient_id: int, now: datetime, **fields: object) -> None:
    db.table("patients").update(patient_id, {**fields, "updated_at": iso(now)})


def plannable(db: Database) -> list[dict]:
    return list(db.query("SELECT * FROM patients WHERE status = ?", [PLANNABLE]))


def plannable_batches(db: Database, size: int = 1000) -> Iterator[list[dict]]:
    """The same people as `plannable`, in id order, `size` at a time (memory stays flat)."""
    last = 0
    while True:
        batch = list(
            db.query(
                "SELECT * FROM patients WHERE status = ? AND id > ? ORDER BY id LIMIT ?",
                [PLANNABLE, last, size],
            )
        )
        if not batch:
            return
        yield batch
        last = batch[-1]["id"]


def mark_unreachable(db: Database, chat_id: int, now: datetime, reason: str) -> int | None:
    """The person blocked the bot or the chat is gone: stop planning and drop what was queued."""
    patient = by_chat(db, chat_id)
    with db.atomic():
        if patient is not None:
            # A hold stays a hold: coming back must still mean "I have been seen" first.
            status = patient["status"] if patient["status"] in ("hold", "withdrawn") else "inactive"
            update(db, patient["id"], now, status=status, inactive_reason=reason)
        db.execute(
            "UPDATE outbox SET status = 'cancelled', last_error = ? "
            "WHERE chat_id = ? AND status = 'pending'",
            [reason, chat_id],
        )
    return patient["id"] if patient else None


def preferences(patient: dict) -> Preferences:
    tz = zone(patient["timezone"])
    quiet = None
    if patient["quiet_from"] and patient["quiet_to"]:
        quiet = DailyWindow(parse_hhmm(patient["quiet_from"]), parse_hhmm(patient["quiet_to"]))
    sitting = None
    if patient["sitting_days"] and patient["sitting_from"] and patient["sitting_to"]:
        sitting = Sitting(
            frozenset(patient["sitting_days"].split(",")),
            parse_hhmm(patient["sitting_from"]),
            parse_hhmm(patient["sitting_to"]),
            int(patient["sitting_every"]),
        )
    offset = sitting_offset(patient["id"], int(patient["sitting_every"]))
    mode = patient.get("checkin_mode") or "daily"
    checkin = (
        parse_hhmm(patient["checkin_time"]) if patient["checkin_time"] and mode != "off" else None
    )
    weekly = None
    if patient.get("course_state") == "maintenance" and patient.get("course_start"):
        weekly = date.fromisoformat(patient["course_start"]).weekday()
    return Preferences(
        patient["id"],
        tz,
        checkin,
        quiet,
        sitting,
        checkin_weekdays=checkin_days(mode, weekly),
        sitting_offset_minutes=offset,
    )


def checkin_on(patient: dict) -> bool:
    """Does this person get a scheduled check-in at all (a time, and not switched off)?"""
    return bool(patient["checkin_time"]) and (patient.get("checkin_mode") or "daily") != "off"


def summary_on(patient: dict) -> bool:
    """Does this person get the weekly summary (not switched off in /settings)?"""
    return not patient.get("summary_off")


def sitting_offset(patient_id: int, every_minutes: int) -> int:
    """Minutes this person's sitting nudges come after each slot: stable, and spread over
    people so that nudges do not all land on :00 and :30 (bot.rules.schedule.nudge_offset)."""
    return nudge_offset(patient_id, every_minutes)


def pauses_over(db: Database, now: datetime) -> list[dict]:
    """People paused for a day or a week whose pause has ended (jobs.prompts.end_pause)."""
    return list(
        db.query(
            "SELECT * FROM patients WHERE paused_until IS NOT NULL AND paused_until <= ? "
            "AND status = 'paused'",
            [iso(now)],
        )
    )


def start_maintenance(db: Database, patient_id: int) -> None:
    """The course is over: the lighter rhythm starts (unless the person already chose)."""
    db.execute(
        "UPDATE patients SET course_state = 'maintenance' WHERE id = ? AND course_state = 'active'",
        [patient_id],
    )


def timezone_of(
    db: Database, *, patient_id: int | None = None, user_id: int | None = None
) -> str | None:
    """A person's stored time zone, found by patient id or else by user id."""
    if patient_id is not None:
        row = db.execute("SELECT timezone FROM patients WHERE id = ?", [patient_id]).fetchone()
    else:
        row = db.execute("SELECT timezone FROM patients WHERE user_id = ?", [user_id]).fetchone()
    return row[0] if row else None


def set_course_start(db: Database, patient_id: int, start: str) -> None:
    """A cohort's fixed start date becomes this person's course start."""
    db.execute("UPDATE patients SET course_start = ? WHERE id = ?", [start, patient_id])
