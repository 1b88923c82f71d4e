"""Lessons a person received and how they reacted."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso


def record_sent(
    db: Database, patient_id: int, lesson_id: str, outbox_id: int | None, now: datetime
) -> None:
    db.execute(
        "INSERT INTO lessons_sent (patient_id, lesson_id, outbox_id, sent_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (patient_id, lesson_id) DO NOTHING",
        [patient_id, lesson_id, outbox_id, iso(now)],
    )


def received(db: Database, patient_id: int) -> dict[str, dict]:
    return {
        r["lesson_id"]: r
        for r in db.query(
            "SELECT * FROM lessons_sent WHERE patient_id = ? ORDER BY sent_at, id", [patient_id]
        )
    }


def set_feedback(db: Database, patient_id: int, lesson_id: str, feedback: str) -> bool:
    return (
        db.execute(
            "UPDATE lessons_sent SET feedback = ? WHERE patient_id = ? AND lesson_id = ?",
            [feedback, patient_id, lesson_id],
        ).rowcount
        == 1
    )


def set_check_answer(db: Database, patient_id: int, lesson_id: str, answer: bool) -> bool:
    """False if this check was already answered (the first answer stands)."""
    return (
        db.execute(
            "UPDATE lessons_sent SET check_answer = ? WHERE patient_id = ? "
            "AND lesson_id = ? AND check_answer IS NULL",
            [int(answer), patient_id, lesson_id],
        ).rowcount
        == 1
    )


def read_count(db: Database, patient_id: int, since: str | None = None) -> int:
    """Lessons the person reacted to (a tap on any of its buttons counts as read)."""
    sql = (
        "SELECT count(*) FROM lessons_sent WHERE patient_id = ? "
        "AND (feedback IS NOT NULL OR check_answer IS NOT NULL)"
    )
    params: list = [patient_id]
    if since:
        sql += " AND sent_at >= ?"
        params.append(since)
    return db.execute(sql, params).fetchone()[0]


def sent_times(db: Database, patient_id: int) -> list[str]:
    """When each lesson reached this person (stored times)."""
    return [
        r["sent_at"]
        for r in db.query("SELECT sent_at FROM lessons_sent WHERE patient_id = ?", [patient_id])
    ]
