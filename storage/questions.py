"""Open questions as records (the `awaiting` table, migration m012_questions).

Each question the bot asks is a row: kind (bot.rules.kinds.QUESTIONS), ref (what the answer is
stored against: the outbox id of a check-in, a session id, a safety question's JSON), subject
(a check-in's local date, a session id), asked and expiry times, status
(open|answered|expired|superseded), the outbox row that asked it, and the message that answered
it. Several may be open; at most one safety question is (a new one supersedes the old).
Which open question a typed answer goes to is decided in jobs.questions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.clock import iso
from bot.rules.kinds import questions

SAFETY_KINDS = questions("safety")
RATING_KINDS = ("checkin", "session_before", "session_after", "next_day")
KEEP_CLOSED = timedelta(days=14)  # answered and expired rows are history for this long


def _marks(values: tuple[str, ...]) -> str:
    return ", ".join("?" for _ in values)


def open_question(
    db: Database,
    patient_id: int,
    kind: str,
    ref: str,
    now: datetime,
    *,
    subject: str | None = None,
    outbox_id: int | None = None,
    expires_at: datetime | None = None,
) -> int:
    """Open a question (or ask an open one again: same kind and ref, asked now). A safety
    question supersedes any other open safety question."""
    if kind in SAFETY_KINDS:
        db.execute(
            f"UPDATE awaiting SET status = 'superseded' WHERE patient_id = ? AND status = 'open' "
            f"AND kind IN ({_marks(SAFETY_KINDS)})",
            [patient_id, *SAFETY_KINDS],
        )
    else:
        found = db.execute(
            "SELECT id FROM awaiting WHERE patient_id = ? AND kind = ? AND ref = ? "
            "AND status = 'open'",
            [patient_id, kind, ref],
        ).fetchone()
        if found is not None:
            db.execute(
                "UPDATE awaiting SET asked_at = ?, expires_at = coalesce(?, expires_at), "
                "outbox_id = coalesce(?, outbox_id) WHERE id = ?",
                [iso(now), iso(expires_at) if expires_at else None, outbox_id, found[0]],
            )
            return int(found[0])
    cursor = db.execute(
        "INSERT INTO awaiting (patient_id, kind, ref, subject, asked_at, expires_at, outbox_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            patient_id,
            kind,
            ref,
            subject,
            iso(now),
            iso(expires_at) if expires_at else None,
            outbox_id,
        ],
    )
    return int(cursor.lastrowid or 0)


def record_answered(
    db: Database,
    patient_id: int,
    kind: str,
    ref: str,
    now: datetime,
    *,
    subject: str | None = None,
    message_id: int | None = None,
) -> None:
    """Close the open question of this kind and ref as answered (by `message_id` if typed); with
    none open (an answer typed before the question went out, a tap on a row never recorded) an
    answered row is written, so every stored rating has its record."""
    # A check-in is one question per day however often it was asked (/checkin, the reminder).
    match, value = ("subject", subject) if kind == "checkin" else ("ref", ref)
    changed = db.execute(
        f"UPDATE awaiting SET status = 'answered', answered_at = ?, answer_message_id = ? "
        f"WHERE patient_id = ? AND kind = ? AND {match} = ? AND status = 'open'",
        [iso(now), message_id, patient_id, kind, value],
    ).rowcount
    if changed == 0:
        db.execute(
            "INSERT INTO awaiting (patient_id, kind, ref, subject, asked_at, status, answered_at, "
            "answer_message_id) VALUES (?, ?, ?, ?, ?, 'answered', ?, ?)",
            [patient_id, kind, ref, subject, iso(now), iso(now), message_id],
        )


def note_message(db: Database, patient_id: int, kind: str, ref: str, message_id: int) -> None:
    """The typed message that answered this question (its latest answered row)."""
    db.execute(
        "UPDATE awaiting SET answer_message_id = ? WHERE id = (SELECT id FROM awaiting "
        "WHERE patient_id = ? AND kind = ? AND ref = ? AND status = 'answered' "
        "ORDER BY id DESC LIMIT 1)",
        [message_id, patient_id, kind, ref],
    )


def close(
    db: Database,
    patient_id: int,
    kind: str | None = None,
    *,
    ref: str | None = None,
    status: str = "answered",
    now: datetime | None = None,
    message_id: int | None = None,
) -> int:
    """Close open questions of this person (of one kind, one ref); returns how many. A typed
    answer's `message_id` is kept, so an edit of it within 10 minutes changes the answer."""
    where = "patient_id = ? AND status = 'open'"
    params: list[object] = [patient_id]
    if kind is not None:
        where += " AND kind = ?"
        params.append(kind)
    if ref is not None:
        where += " AND ref = ?"
        params.append(ref)
    return db.execute(
        f"UPDATE awaiting SET status = ?, answered_at = coalesce(?, answered_at), "
        f"answer_message_id = coalesce(?, answer_message_id) WHERE {where}",
        [status, iso(now) if now else None, message_id, *params],
    ).rowcount


def open_rows(db: Database, patient_id: int, now: datetime | None = None) -> list[dict]:
    """Open questions, newest first (safety ones included); with `now`, unexpired ones only."""
    sql = "SELECT * FROM awaiting WHERE patient_id = ? AND status = 'open'"
    params: list = [patient_id]
    if now is not None:
        sql += " AND (expires_at IS NULL OR expires_at > ?)"
        params.append(iso(now))
    return list(db.query(sql + " ORDER BY asked_at DESC, id DESC", params))


def current(db: Database, patient_id: int) -> dict | None:
    """What a typed answer would answer first: the open safety question, else the newest open
    question (the single-question view the code before issue 15 had)."""
    rows = open_rows(db, patient_id)
    safety = [r for r in rows if r["kind"] in SAFETY_KINDS]
    found = safety or rows
    return found[0] if found else None


def set_ref(db: Database, question_id: int, ref: str) -> None:
    db.execute("UPDATE awaiting SET ref = ? WHERE id = ?", [ref, question_id])


def expire_due(db: Database, now: datetime, patient_id: int | None = None) -> int:
    """Open questions past their expiry become `expired`; closed rows older than two weeks are
    deleted (the `events` table keeps what changed). Returns how many expired."""
    scope, params = ("AND patient_id = ?", [patient_id]) if patient_id is not None else ("", [])
    expired = db.execute(
        f"UPDATE awaiting SET status = 'expired' WHERE status = 'open' AND expires_at IS NOT NULL "
        f"AND expires_at <= ? {scope}",
        [iso(now), *params],
    ).rowcount
    db.execute(
        f"DELETE FROM awaiting WHERE status != 'open' AND asked_at < ? {scope}",
        [iso(now - KEEP_CLOSED), *params],
    )
    return expired


def last_answered(db: Database, patient_id: int, since: datetime) -> dict | None:
    """The rating question answered most recently, at or after `since`."""
    rows = list(
        db.query(
            f"SELECT * FROM awaiting WHERE patient_id = ? AND status = 'answered' "
            f"AND kind IN ({_marks(RATING_KINDS)}) AND answered_at >= ? "
            f"ORDER BY answered_at DESC, id DESC LIMIT 1",
            [patient_id, *RATING_KINDS, iso(since)],
        )
    )
    return rows[0] if rows else None


def answered_by_message(db: Database, patient_id: int, message_id: int) -> dict | None:
    """The rating question a typed message answered (for an edit of that message)."""
    rows = list(
        db.query(
            f"SELECT * FROM awaiting WHERE patient_id = ? AND answer_message_id = ? "
            f"AND status = 'answered' AND kind IN ({_marks(RATING_KINDS)}) "
            f"ORDER BY id DESC LIMIT 1",
            [patient_id, message_id, *RATING_KINDS],
        )
    )
    return rows[0] if rows else None


def planned_checkin(db: Database, patient_id: int, local_date: str) -> bool:
    """Is a daily check-in for this local day planned or gone out (not cancelled)?"""
    return (
        db.execute(
            "SELECT 1 FROM outbox WHERE dedupe_key = ? AND status != 'cancelled'",
            [f"checkin:{patient_id}:{local_date}"],
        ).fetchone()
        is not None
    )


# -- changing a stored rating (a correction): the value changes, the history is an event ------
def change_checkin(db: Database, patient_id: int, local_date: str, pain: int) -> int | None:
    """Set an answered day's rating; returns the old value (None: no answered day)."""
    row = db.execute(
        "SELECT pain FROM checkins WHERE patient_id = ? AND local_date = ? AND status = 'answered'",
        [patient_id, local_date],
    ).fetchone()
    if row is None:
        return None
    db.execute(
        "UPDATE checkins SET pain = ? WHERE patient_id = ? AND local_date = ?",
        [pain, patient_id, local_date],
    )
    return int(row[0])


_SESSION_FIELDS = ("before", "after", "settled")


def change_session(db: Database, session_id: int, field: str, value: int) -> int | None:
    """Set a session's B, A or S while it is not yet decided; returns the old value (None: not
    answered yet, or already decided or closed)."""
    if field not in _SESSION_FIELDS:
        raise ValueError(field)
    row = db.execute(
        f"SELECT {field} FROM sessions WHERE id = ? AND {field} IS NOT NULL "
        f"AND stage IN ('before', 'doing', 'after', 'waiting')",
        [session_id],
    ).fetchone()
    if row is None:
        return None
    db.execute(f"UPDATE sessions SET {field} = ? WHERE id = ?", [value, session_id])
    return int(row[0])
