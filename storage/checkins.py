"""Daily pain check-ins, and what the bot is waiting to hear from a person."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso


def record_answer(db: Database, patient_id: int, local_date: str, pain: int, now: datetime,
                  outbox_id: int | None = None) -> bool:
    """Store today's rating; False if this day already has one (the first answer stands)."""
    cursor = db.execute(
        "INSERT INTO checkins (patient_id, local_date, pain, status, answered_at, outbox_id) "
        "VALUES (?, ?, ?, 'answered', ?, ?) ON CONFLICT (patient_id, local_date) DO UPDATE SET "
        "pain = excluded.pain, status = 'answered', answered_at = excluded.answered_at "
        "WHERE checkins.status = 'missed'",
        [patient_id, local_date, pain, iso(now), outbox_id])
    return cursor.rowcount == 1


def record_missed(db: Database, patient_id: int, local_date: str) -> None:
    db.execute("INSERT INTO checkins (patient_id, local_date, status) VALUES (?, ?, 'missed') "
               "ON CONFLICT (patient_id, local_date) DO NOTHING", [patient_id, local_date])


def for_date(db: Database, patient_id: int, local_date: str) -> dict | None:
    rows = list(db.query("SELECT * FROM checkins WHERE patient_id = ? AND local_date = ?",
                         [patient_id, local_date]))
    return rows[0] if rows else None


def recent(db: Database, patient_id: int, since_date: str) -> list[dict]:
    return list(db.query("SELECT * FROM checkins WHERE patient_id = ? AND local_date >= ? "
                         "ORDER BY local_date", [patient_id, since_date]))


def set_awaiting(db: Database, patient_id: int, kind: str, ref: str, now: datetime) -> None:
    db.table("awaiting").upsert({"patient_id": patient_id, "kind": kind, "ref": ref,
                           "asked_at": iso(now)}, pk="patient_id")


def awaiting(db: Database, patient_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM awaiting WHERE patient_id = ?", [patient_id]))
    return rows[0] if rows else None


def clear_awaiting(db: Database, patient_id: int, kind: str | None = None) -> None:
    if kind is None:
        db.execute("DELETE FROM awaiting WHERE patient_id = ?", [patient_id])
    else:
        db.execute("DELETE FROM awaiting WHERE patient_id = ? AND kind = ?", [patient_id, kind])
