"""Sitting breaks taken, snoozed or declined."""

from __future__ import annotations

from datetime import date, datetime

from sqlite_utils import Database

from bot.clock import iso


def record(
    db: Database, patient_id: int, outbox_id: int, local_date: str, action: str, now: datetime
) -> bool:
    """False if this nudge was already answered."""
    return (
        db.execute(
            "INSERT INTO sitting_breaks (patient_id, outbox_id, local_date, action, at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (outbox_id) DO NOTHING",
            [patient_id, outbox_id, local_date, action, iso(now)],
        ).rowcount
        == 1
    )


def day_off(db: Database, patient_id: int, local_date: str) -> None:
    db.execute(
        "INSERT INTO sitting_off (patient_id, local_date) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [patient_id, local_date],
    )
    db.execute(
        "UPDATE outbox SET status = 'cancelled' WHERE patient_id = ? AND kind = 'sitting' "
        "AND status = 'pending' AND json_extract(payload, '$.local_date') = ?",
        [patient_id, local_date],
    )


def days_off(db: Database, patient_id: int, since: str) -> frozenset[date]:
    return frozenset(
        date.fromisoformat(r["local_date"])
        for r in db.query(
            "SELECT local_date FROM sitting_off WHERE patient_id = ? AND local_date >= ?",
            [patient_id, since],
        )
    )


def breaks_taken(db: Database, patient_id: int, since: str, until: str) -> int:
    return db.execute(
        "SELECT count(*) FROM sitting_breaks WHERE patient_id = ? AND action = 'done' "
        "AND local_date >= ? AND local_date < ?",
        [patient_id, since, until],
    ).fetchone()[0]


def break_dates(db: Database, patient_id: int) -> list[str]:
    """The local date of every sitting break this person took (one per break)."""
    return [
        r["local_date"]
        for r in db.query(
            "SELECT local_date FROM sitting_breaks WHERE patient_id = ? AND action = 'done'",
            [patient_id],
        )
    ]


def days_off_since(db: Database, patient_ids: list[int], since: str) -> list[dict]:
    """Days without sitting nudges from `since` on, for a batch of people."""
    marks = ", ".join("?" for _ in patient_ids)
    return list(
        db.query(
            f"SELECT patient_id, local_date FROM sitting_off "
            f"WHERE patient_id IN ({marks}) AND local_date >= ?",
            [*patient_ids, since],
        )
    )


def ignored_in_a_row(db: Database, patient_id: int, local_date: str) -> int:
    """How many of this day's latest sent nudges in a row went unanswered (no tap at all)."""
    rows = db.execute(
        "SELECT b.id FROM outbox o LEFT JOIN sitting_breaks b ON b.outbox_id = o.id "
        "WHERE o.patient_id = ? AND o.kind = 'sitting' AND o.status = 'sent' "
        "AND json_extract(o.payload, '$.local_date') = ? ORDER BY o.sent_at DESC, o.id DESC",
        [patient_id, local_date],
    ).fetchall()
    count = 0
    for (answered,) in rows:
        if answered is not None:
            break
        count += 1
    return count


def pause_asked(db: Database, patient_id: int, local_date: str) -> bool:
    """Was "Shall I pause these for today?" already asked on this day?"""
    return (
        db.execute(
            "SELECT 1 FROM events WHERE patient_id = ? AND kind = 'sitting_pause_asked' "
            "AND json_extract(data, '$.local_date') = ?",
            [patient_id, local_date],
        ).fetchone()
        is not None
    )


def mark_pause_asked(
    db: Database, patient_id: int, local_date: str, outbox_id: int, now: datetime
) -> None:
    db.execute(
        "INSERT INTO events (at, patient_id, kind, data) VALUES (?, ?, 'sitting_pause_asked', "
        "json_object('local_date', ?, 'row', ?))",
        [iso(now), patient_id, local_date, outbox_id],
    )
