"""Caregivers linked to a patient by the patient's invite and the caregiver's acceptance."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso
from storage.db import new_id


def link(
    db: Database,
    *,
    patient_id: int,
    user_id: int,
    chat_id: int,
    first_name: str,
    timezone: str,
    alerts: bool,
    invite_id: int,
    terms_hash: str,
    now: datetime,
) -> int:
    return new_id(
        db.table("caregivers").insert(
            {
                "patient_id": patient_id,
                "user_id": user_id,
                "chat_id": chat_id,
                "first_name": first_name,
                "timezone": timezone,
                "alerts": int(alerts),
                "invite_id": invite_id,
                "terms_hash": terms_hash,
                "linked_at": iso(now),
            }
        )
    )


def get(db: Database, caregiver_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM caregivers WHERE id = ?", [caregiver_id]))
    return rows[0] if rows else None


def active_for_patient(db: Database, patient_id: int) -> list[dict]:
    return list(
        db.query(
            "SELECT * FROM caregivers WHERE patient_id = ? AND ended_at IS NULL ORDER BY id",
            [patient_id],
        )
    )


def active_for_user(db: Database, user_id: int) -> list[dict]:
    """The links where this Telegram user is the caregiver, with the patient's first name."""
    return list(
        db.query(
            "SELECT c.*, p.first_name AS patient_name FROM caregivers c "
            "JOIN patients p ON p.id = c.patient_id WHERE c.user_id = ? AND c.ended_at IS NULL "
            "ORDER BY c.id",
            [user_id],
        )
    )


def end(db: Database, caregiver_id: int, by: str, now: datetime) -> bool:
    """Revoke (by the patient) or stop (by the caregiver); effective at once, recorded once."""
    cursor = db.execute(
        "UPDATE caregivers SET ended_at = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL",
        [iso(now), by, caregiver_id],
    )
    if cursor.rowcount == 1:
        db.execute(
            "UPDATE outbox SET status = 'cancelled', last_error = 'caregiver_ended' "
            "WHERE status = 'pending' AND kind IN ('summary_caregiver', 'alert_caregiver') "
            "AND json_extract(payload, '$.caregiver_id') = ?",
            [caregiver_id],
        )
    return cursor.rowcount == 1


def set_timezone(db: Database, caregiver_id: int, timezone: str) -> None:
    db.execute("UPDATE caregivers SET timezone = ? WHERE id = ?", [timezone, caregiver_id])


def active_for_patients(db: Database, patient_ids: list[int]) -> list[dict]:
    """Active caregivers of a batch of people, oldest link first."""
    marks = ", ".join("?" for _ in patient_ids)
    return list(
        db.query(
            f"SELECT * FROM caregivers WHERE patient_id IN ({marks}) "
            f"AND ended_at IS NULL ORDER BY id",
            patient_ids,
        )
    )
