"""Daily pain check-ins, and what the bot is waiting to hear from a person."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso
from storage import questions


def record_answer(
    db: Database,
    patient_id: int,
    local_date: str,
    pain: int,
    now: datetime,
    outbox_id: int | None = None,
) -> bool:
    """Store today's rating; False if this day already has one (the first answer stands)."""
    cursor = db.execute(
        "INSERT INTO checkins (patient_id, local_date, pain, status, answered_at, outbox_id) "
        "VALUES (?, ?, ?, 'answered', ?, ?) ON CONFLICT (patient_id, local_date) DO UPDATE SET "
        "pain = excluded.pain, status = 'answered', answered_at = excluded.answered_at "
        "WHERE checkins.status = 'missed'",
        [patient_id, local_date, pain, iso(now), outbox_id],
    )
    return cursor.rowcount == 1


def record_missed(db: Database, patient_id: int, local_date: str) -> None:
    db.execute(
        "INSERT INTO checkins (patient_id, local_date, status) VALUES (?, ?, 'missed') "
        "ON CONFLICT (patient_id, local_date) DO NOTHING",
        [patient_id, local_date],
    )


def for_date(db: Database, patient_id: int, local_date: str) -> dict | None:
    rows = list(
        db.query(
            "SELECT * FROM checkins WHERE patient_id = ? AND local_date = ?",
            [patient_id, local_date],
        )
    )
    return rows[0] if rows else None


def recent(db: Database, patient_id: int, since_date: str) -> list[dict]:
    return list(
        db.query(
            "SELECT * FROM checkins WHERE patient_id = ? AND local_date >= ? ORDER BY local_date",
            [patient_id, since_date],
        )
    )


# What the bot waits for: storage.questions keeps one row per question (several may be open);
# these three are the single-question view older callers use.
def set_awaiting(db: Database, patient_id: int, kind: str, ref: str, now: datetime) -> None:
    """Open a question of this kind (storage.questions.open_question; a session question's
    subject is its session id)."""
    subject = ref if kind in ("session_before", "session_after") else None
    if kind == "checkin" and ref.isdigit():  # a check-in's subject is its local day
        found = db.execute(
            "SELECT json_extract(payload, '$.local_date') FROM outbox WHERE id = ?", [int(ref)]
        ).fetchone()
        subject = found[0] if found else None
    questions.open_question(db, patient_id, kind, ref, now, subject=subject)


def awaiting(db: Database, patient_id: int) -> dict | None:
    """The question a typed answer would answer first: an open safety question, else the newest
    open one (storage.questions.current)."""
    return questions.current(db, patient_id)


def clear_awaiting(db: Database, patient_id: int, kind: str | None = None) -> None:
    """Close this person's open questions (of one kind) as answered."""
    questions.close(db, patient_id, kind)


def last_answer_times(db: Database, patient_id: int) -> list[str]:
    """The last check-in answered and the last session started (stored times; None dropped)."""
    return [
        r["t"]
        for r in db.query(
            "SELECT max(answered_at) AS t FROM checkins WHERE patient_id = ? "
            "AND status = 'answered' "
            "UNION ALL SELECT max(created_at) FROM sessions WHERE patient_id = ?",
            [patient_id, patient_id],
        )
        if r["t"]
    ]


def all_of(db: Database, patient_id: int) -> list[dict]:
    """Every check-in day of this person: local date, status, pain."""
    return list(
        db.query("SELECT local_date, status, pain FROM checkins WHERE patient_id = ?", [patient_id])
    )


def ratings_until(db: Database, patient_id: int, until: str) -> list[dict]:
    """Answered days up to `until` (a local date), in date order: local date and pain."""
    return list(
        db.query(
            "SELECT local_date, pain FROM checkins WHERE patient_id = ? AND status = 'answered' "
            "AND local_date <= ? ORDER BY local_date",
            [patient_id, until],
        )
    )


def pain_answered_between(db: Database, patient_id: int, start: str, end: str) -> int | None:
    """The pain of the latest check-in answered in [start, end] (stored times), if any."""
    rows = list(
        db.query(
            "SELECT pain FROM checkins WHERE patient_id = ? AND status = 'answered' "
            "AND answered_at BETWEEN ? AND ? ORDER BY answered_at DESC LIMIT 1",
            [patient_id, start, end],
        )
    )
    return rows[0]["pain"] if rows else None


_MISSED = (
    "INSERT INTO checkins (patient_id, local_date, status) "
    "SELECT patient_id, json_extract(payload, '$.local_date'), 'missed' FROM outbox "
    "WHERE kind = 'checkin' AND status IN ('sent', 'expired') AND due_at < ? "
    "AND due_at >= ? AND patient_id IN (SELECT id FROM patients "
    "WHERE status != 'withdrawn') "
)


def record_missed_since(
    db: Database, cutoff: str, since: str, patient_id: int | None = None
) -> int:
    """Check-ins sent or expired in [since, cutoff) and never answered become missed days
    (everyone's, or one person's); returns how many were new."""
    if patient_id is None:
        return db.execute(
            _MISSED + "ON CONFLICT (patient_id, local_date) DO NOTHING", [cutoff, since]
        ).rowcount
    return db.execute(
        _MISSED + "AND patient_id = ? ON CONFLICT (patient_id, local_date) DO NOTHING",
        [cutoff, since, patient_id],
    ).rowcount


def missed_candidates(db: Database, cutoff: str, since: str) -> list[int]:
    """People with a check-in sent or expired in [since, cutoff)."""
    return [
        pid
        for (pid,) in db.execute(
            "SELECT DISTINCT patient_id FROM outbox WHERE kind = 'checkin' "
            "AND status IN ('sent', 'expired') AND due_at < ? AND due_at >= ?",
            [cutoff, since],
        ).fetchall()
    ]


def get(db: Database, checkin_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM checkins WHERE id = ?", [checkin_id]))
    return rows[0] if rows else None
