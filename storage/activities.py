"""The activities a person does, with their current dose (the pacing rule moves it).

An activity removed in /settings keeps its row (`removed_at`), so its sessions and history stay;
`for_patient` no longer lists it, and adding the same name again brings it back. One paused by
the person (`stopped`) is listed but counts as paused (`is_paused`) until they unpause it.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso


def add_activity(
    db: Database, patient_id: int, name: str, dose_minutes: int, now: datetime
) -> None:
    """Add it; a current one of that name is left as it is, a removed one comes back."""
    db.execute(
        "INSERT INTO activities (patient_id, name, dose_minutes, created_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (patient_id, name) DO UPDATE SET removed_at = NULL, "
        "stopped = 0, paused_until = NULL, dose_minutes = excluded.dose_minutes "
        "WHERE activities.removed_at IS NOT NULL",
        [patient_id, name, dose_minutes, iso(now)],
    )


def for_patient(db: Database, patient_id: int) -> list[dict]:
    """The person's current activities (removed ones left out), oldest first."""
    return list(
        db.query(
            "SELECT * FROM activities WHERE patient_id = ? AND removed_at IS NULL ORDER BY id",
            [patient_id],
        )
    )


def rename(db: Database, activity_id: int, name: str) -> None:
    db.execute("UPDATE activities SET name = ? WHERE id = ?", [name, activity_id])


def name_taken(db: Database, patient_id: int, name: str, but: int | None = None) -> bool:
    """Is `name` another row's (removed ones too: the name is unique per person)?"""
    row = db.execute(
        "SELECT 1 FROM activities WHERE patient_id = ? AND name = ? AND id IS NOT ?",
        [patient_id, name, but],
    ).fetchone()
    return row is not None


def mark_removed(db: Database, activity_id: int, now: datetime) -> None:
    """Removed in /settings: no longer offered or prompted; its sessions stay."""
    db.execute("UPDATE activities SET removed_at = ? WHERE id = ?", [iso(now), activity_id])


def set_stopped(db: Database, activity_id: int, stopped: bool) -> None:
    """Paused (or unpaused) by the person in /settings, with no end date."""
    db.execute("UPDATE activities SET stopped = ? WHERE id = ?", [int(stopped), activity_id])


def get(db: Database, activity_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM activities WHERE id = ?", [activity_id]))
    return rows[0] if rows else None


def owned(db: Database, activity_id: int, patient_id: int) -> dict | None:
    """The activity, only if it is this patient's (button data is never trusted) and not removed
    (an old keyboard cannot start or change a removed one)."""
    row = get(db, activity_id)
    if row is None or row["patient_id"] != patient_id or row["removed_at"]:
        return None
    return row


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
    """Paused until a local date (ISO; from that date on it is offered again), or by the person
    until they unpause it, or removed."""
    if activity.get("stopped") or activity.get("removed_at"):
        return True
    return bool(activity["paused_until"]) and today < activity["paused_until"]
