"""The durable outbox: every message is a row before it is sent, and its fate is recorded."""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso
from bot.schedule import expires_at as policy_expiry


def enqueue(db: Database, *, chat_id: int, kind: str, due_at: datetime, dedupe_key: str,
            now: datetime, payload: dict | None = None, patient_id: int | None = None,
            expires_at: datetime | None = None) -> int | None:
    """Insert a row unless its dedupe key exists; returns the new id, or None for a duplicate."""
    expires = expires_at if expires_at is not None else policy_expiry(kind, due_at)
    cursor = db.execute(
        "INSERT INTO outbox (chat_id, patient_id, kind, due_at, expires_at, dedupe_key, payload, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
        [chat_id, patient_id, kind, iso(due_at), iso(expires) if expires else None, dedupe_key,
         json.dumps(payload or {}, ensure_ascii=False), iso(now)])
    return cursor.lastrowid if cursor.rowcount else None


def enqueue_many(db: Database, rows: list[tuple]) -> int:
    """Insert prepared rows (chat_id, patient_id, kind, due_at, expires_at, dedupe_key, payload,
    created_at; times and payload as stored) unless their key exists; returns how many were new."""
    return db.conn.executemany(
        "INSERT INTO outbox (chat_id, patient_id, kind, due_at, expires_at, dedupe_key, payload, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
        rows).rowcount


def keys_due_between(db: Database, patient_ids: list[int], start: datetime,
                     end: datetime) -> set[str]:
    """Dedupe keys of these patients' rows (any status) due in [start, end)."""
    marks = ", ".join("?" for _ in patient_ids)
    return {key for (key,) in db.execute(
        f"SELECT dedupe_key FROM outbox WHERE patient_id IN ({marks}) AND due_at >= ? "
        f"AND due_at < ?", [*patient_ids, iso(start), iso(end)]).fetchall()}


def get(db: Database, row_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM outbox WHERE id = ?", [row_id]))
    return rows[0] if rows else None


def recover(db: Database) -> int:
    """Rows claimed by a process that died before recording the result go back to the queue.

    Safe only under the instance lock: nobody else can be sending them right now.
    """
    return db.execute("UPDATE outbox SET status = 'pending', claimed_at = NULL "
                      "WHERE status = 'sending'").rowcount


def due(db: Database, now: datetime, limit: int) -> list[dict]:
    return list(db.query(
        "SELECT * FROM outbox WHERE status = 'pending' AND due_at <= :now "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= :now) ORDER BY due_at, id LIMIT :limit",
        {"now": iso(now), "limit": limit}))


def claim(db: Database, row_id: int, now: datetime) -> bool:
    """Mark one pending row as being sent; False if someone else already took it."""
    return db.execute("UPDATE outbox SET status = 'sending', claimed_at = ?, "
                      "attempts = attempts + 1 WHERE id = ? AND status = 'pending'",
                      [iso(now), row_id]).rowcount == 1


def mark_sent(db: Database, row_id: int, now: datetime, message_id: int | None) -> None:
    db.execute("UPDATE outbox SET status = 'sent', sent_at = ?, telegram_message_id = ?, "
               "last_error = NULL WHERE id = ?", [iso(now), message_id, row_id])


def mark_retry(db: Database, row_id: int, at: datetime, error: str) -> None:
    db.execute("UPDATE outbox SET status = 'pending', next_attempt_at = ?, last_error = ?, "
               "claimed_at = NULL WHERE id = ?", [iso(at), error, row_id])


def postpone(db: Database, row_id: int, until: datetime) -> None:
    db.execute("UPDATE outbox SET next_attempt_at = ? WHERE id = ?", [iso(until), row_id])


def mark_final(db: Database, row_id: int, status: str, error: str | None = None) -> None:
    db.execute("UPDATE outbox SET status = ?, last_error = ?, claimed_at = NULL WHERE id = ?",
               [status, error, row_id])


def cancel_pending(db: Database, patient_id: int, kinds: tuple[str, ...] | None = None) -> int:
    sql = "UPDATE outbox SET status = 'cancelled' WHERE patient_id = ? AND status = 'pending'"
    params: list = [patient_id]
    if kinds:
        sql += f" AND kind IN ({', '.join('?' for _ in kinds)})"
        params.extend(kinds)
    return db.execute(sql, params).rowcount


def counts(db: Database) -> dict[str, int]:
    return {r["status"]: r["n"] for r in
            db.query("SELECT status, count(*) AS n FROM outbox GROUP BY status")}


def sent_since(db: Database, patient_id: int, since: datetime, *,
               kinds: tuple[str, ...] | None = None, exclude_kinds: tuple[str, ...] = ()) -> int:
    """How many messages of these kinds reached this person since `since` (message-cap checks)."""
    sql = "SELECT count(*) FROM outbox WHERE patient_id = ? AND status = 'sent' AND sent_at >= ?"
    params: list = [patient_id, iso(since)]
    if kinds is not None:
        sql += f" AND kind IN ({', '.join('?' for _ in kinds)})"
        params += kinds
    if exclude_kinds:
        sql += f" AND kind NOT IN ({', '.join('?' for _ in exclude_kinds)})"
        params += exclude_kinds
    return db.execute(sql, params).fetchone()[0]
