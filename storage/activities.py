"""The activities a person does, with their current dose (the pacing rule moves it)."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso


def add_activity(
    db: Database, patient_id: int, name: str, dose_minutes: int, now: datetime
) -> None:
    db.execute(
        "INSERT INTO activities (patient_id, name, dose_minutes, created_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (patient_id, name) DO NOTHING",
        [patient_id, name, dose_minutes, iso(now)],
    )


def for_patient(db: Database, patient_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM activities WHERE patient_id = ? ORDER BY id", [patient_id]))


def get(db: Database, activity_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM activities WHERE id = ?", [activity_id]))
    return rows[0] if rows else None


def owned(db: Database, activity_id: int, patient_id: int) -> dict | None:
    """The activity, only if it is this patient's (button data is never trusted)."""
    row = get(db, activity_id)
    return row if row is not None and row["patient_id"] == patient_id else None


def set_dose(
    db: Database, activity_id: int, dose_minutes: int, paused_until: str | None = None
) -> None:
    """A new dose from a pacing decision; a pause also sets the local date it ends."""
    db.execute(
        "UPDATE activities SET dose_minutes = ?, paused_until = ? WHERE id = ?",
        [dose_minutes, paused_until, activity_id],
    )


def remove(db: Database, activity_id: int) -> None:
    db.execute("DELETE FROM activities WHERE id = ?", [activity_id])


def is_paused(activity: dict, today: str) -> bool:
    """Paused until a local date (ISO); from that date on it is offered again."""
    return bool(activity["paused_until"]) and today < activity["paused_until"]
