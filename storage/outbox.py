"""The durable outbox: every message is a row before it is sent, and its fate is recorded."""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso
from bot.rules.kinds import KINDS, names
from bot.rules.schedule import expires_at as policy_expiry


def enqueue(
    db: Database,
    *,
    chat_id: int,
    kind: str,
    due_at: datetime,
    dedupe_key: str,
    now: datetime,
    payload: dict | None = None,
    patient_id: int | None = None,
    expires_at: datetime | None = None,
) -> int | None:
    """Insert a row unless its dedupe key exists; returns the new id, or None for a duplicate."""
    expires = expires_at if expires_at is not None else policy_expiry(kind, due_at)
    cursor = db.execute(
        "INSERT INTO outbox (chat_id, patient_id, kind, due_at, expires_at, dedupe_key, payload, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
        [
            chat_id,
            patient_id,
            kind,
            iso(due_at),
            iso(expires) if expires else None,
            dedupe_key,
            json.dumps(payload or {}, ensure_ascii=False),
            iso(now),
        ],
    )
    return cursor.lastrowid if cursor.rowcount else None


def enqueue_many(db: Database, rows: list[tuple]) -> int:
    """Insert prepared rows (chat_id, patient_id, kind, due_at, expires_at, dedupe_key, payload,
    created_at; times and payload as stored) unless their key exists; returns how many were new."""
    return db.conn.executemany(
        "INSERT INTO outbox (chat_id, patient_id, kind, due_at, expires_at, dedupe_key, payload, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
        rows,
    ).rowcount


def keys_due_between(
    db: Database, patient_ids: list[int], start: datetime, end: datetime
) -> set[str]:
    """Dedupe keys of these patients' rows (any status) due in [start, end)."""
    marks = ", ".join("?" for _ in patient_ids)
    return {
        key
        for (key,) in db.execute(
            f"SELECT dedupe_key FROM outbox WHERE patient_id IN ({marks}) AND due_at >= ? "
            f"AND due_at < ?",
            [*patient_ids, iso(start), iso(end)],
        ).fetchall()
    }


def get(db: Database, row_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM outbox WHERE id = ?", [row_id]))
    return rows[0] if rows else None


def recover(db: Database) -> int:
    """Rows claimed by a process that died before recording the result go back to the queue.

    Safe only under the instance lock: nobody else can be sending them right now.
    """
    return db.execute(
        "UPDATE outbox SET status = 'pending', claimed_at = NULL WHERE status = 'sending'"
    ).rowcount


# The sender's two lanes (jobs.dispatch.Sender). Planned prompts go in the bulk lane, nudges
# last; everything else (replies, clinic and caregiver alerts, advice, files a person asked for)
# in the fast lane, which the sender serves at once when a handler queues something.
PLANNED = names(lane="bulk") + names(lane="nudge")
NUDGES = names(lane="nudge")
# Queued "now" and never scheduled: the fast lane sends them even when their due time is ahead
# of the clock, so a wall clock stepped back never holds a reply or an alert.
IMMEDIATE = names(immediate=True)
# The sender's Pace lets these go ahead of every other send waiting for its turn.
URGENT = names(priority=0)


def priority_order() -> str:
    """An SQL expression: each row's kind's priority (bot.rules.kinds), 0 first."""
    cases = " ".join(
        f"WHEN '{k.name}' THEN {k.priority}" for k in KINDS.values() if k.priority != 0
    )
    return f"CASE kind {cases} ELSE 0 END"


def due(db: Database, now: datetime, limit: int, lane: str | None = None) -> list[dict]:
    """Pending rows due now; `lane` 'fast' or 'bulk' picks one lane of the sender, each served by
    its kinds' priority (replies and alerts, then questions, lessons and summaries, nudges last)
    and within a priority oldest first. Without a lane (tests, the simulator: everything due goes
    in one tick), oldest first."""
    planned = ", ".join(f"'{k}'" for k in PLANNED)
    ready = "status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= :now)"
    if lane == "fast":
        # Two index look-ups (outbox_due, outbox_pending_kind), not a scan of every pending row.
        immediate = ", ".join(f"'{k}'" for k in IMMEDIATE)
        sql = (
            f"SELECT * FROM (SELECT * FROM outbox WHERE {ready} AND due_at <= :now "
            f"AND kind NOT IN ({planned}) UNION SELECT * FROM outbox "
            f"INDEXED BY outbox_pending_kind WHERE {ready} AND kind IN ({immediate})) "
            f"ORDER BY {PRIORITY}, due_at, id LIMIT :limit"
        )
    elif lane == "bulk":
        sql = (
            f"SELECT * FROM outbox WHERE {ready} AND due_at <= :now AND kind IN ({planned}) "
            f"ORDER BY {PRIORITY}, due_at, id LIMIT :limit"
        )
    else:
        sql = (
            f"SELECT * FROM outbox WHERE {ready} AND due_at <= :now "
            "ORDER BY due_at, id LIMIT :limit"
        )
    return list(db.query(sql, {"now": iso(now), "limit": limit}))


PRIORITY = priority_order()


def reap(db: Database, claimed_before: datetime, in_flight: set[int] | frozenset[int]) -> int:
    """The lease: rows left 'sending' (claimed before `claimed_before`) that this process is not
    sending go back to the queue. A row is in flight only while its send is awaited, so one
    stuck this long was stranded by an error between the claim and the recorded result."""
    rows = [
        r
        for (r,) in db.execute(
            "SELECT id FROM outbox WHERE status = 'sending' AND claimed_at < ?",
            [iso(claimed_before)],
        )
        if r not in in_flight
    ]
    for row_id in rows:
        db.execute(
            "UPDATE outbox SET status = 'pending', claimed_at = NULL, "
            "last_error = 'lease' WHERE id = ? AND status = 'sending'",
            [row_id],
        )
    return len(rows)


def claim(db: Database, row_id: int, now: datetime) -> bool:
    """Mark one pending row as being sent; False if someone else already took it."""
    return (
        db.execute(
            "UPDATE outbox SET status = 'sending', claimed_at = ?, "
            "attempts = attempts + 1 WHERE id = ? AND status = 'pending'",
            [iso(now), row_id],
        ).rowcount
        == 1
    )


def mark_sent(db: Database, row_id: int, now: datetime, message_id: int | None) -> None:
    db.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?, telegram_message_id = ?, "
        "last_error = NULL WHERE id = ?",
        [iso(now), message_id, row_id],
    )


def mark_retry(db: Database, row_id: int, at: datetime, error: str) -> None:
    db.execute(
        "UPDATE outbox SET status = 'pending', next_attempt_at = ?, last_error = ?, "
        "claimed_at = NULL WHERE id = ?",
        [iso(at), error, row_id],
    )


def postpone(db: Database, row_id: int, until: datetime) -> None:
    db.execute("UPDATE outbox SET next_attempt_at = ? WHERE id = ?", [iso(until), row_id])


def mark_final(db: Database, row_id: int, status: str, error: str | None = None) -> None:
    db.execute(
        "UPDATE outbox SET status = ?, last_error = ?, claimed_at = NULL WHERE id = ?",
        [status, error, row_id],
    )


def cancel_pending(db: Database, patient_id: int, kinds: tuple[str, ...] | None = None) -> int:
    sql = "UPDATE outbox SET status = 'cancelled' WHERE patient_id = ? AND status = 'pending'"
    params: list = [patient_id]
    if kinds:
        sql += f" AND kind IN ({', '.join('?' for _ in kinds)})"
        params.extend(kinds)
    return db.execute(sql, params).rowcount


def counts(db: Database) -> dict[str, int]:
    return {
        r["status"]: r["n"]
        for r in db.query("SELECT status, count(*) AS n FROM outbox GROUP BY status")
    }


def sent_since(
    db: Database,
    patient_id: int,
    since: datetime,
    *,
    kinds: tuple[str, ...] | None = None,
    exclude_kinds: tuple[str, ...] = (),
) -> int:
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


def _marks(items) -> str:
    return ", ".join("?" for _ in items)


def cancel_for(db: Database, patient_id: int, kinds: tuple[str, ...], reason: str) -> int:
    """Cancel this person's queued rows of these kinds, saying why (/pause, a red-flag hold)."""
    return db.execute(
        f"UPDATE outbox SET status = 'cancelled', last_error = ? WHERE patient_id = ? "
        f"AND status = 'pending' AND kind IN ({_marks(kinds)})",
        [reason, patient_id, *kinds],
    ).rowcount


def delete_pending(db: Database, patient_id: int, kinds: tuple[str, ...]) -> int:
    """Forget queued rows the planner makes again (after a change of settings or of course)."""
    return db.execute(
        f"DELETE FROM outbox WHERE patient_id = ? AND status = 'pending' "
        f"AND kind IN ({_marks(kinds)})",
        [patient_id, *kinds],
    ).rowcount


def resume_rows(db: Database, patient_id: int, now: datetime) -> None:
    """Back to active: each kind's `on_resume` (bot.rules.kinds) applied to this person's rows."""
    replan, restore = names(on_resume="replan"), names(on_resume="restore")
    cancel = names(on_resume="cancel")
    db.execute(
        f"DELETE FROM outbox WHERE patient_id = ? AND status = 'cancelled' "
        f"AND kind IN ({_marks(replan)}) AND due_at >= ?",
        [patient_id, *replan, iso(now)],
    )
    db.execute(
        f"UPDATE outbox SET status = 'pending', last_error = NULL "
        f"WHERE patient_id = ? AND status = 'cancelled' AND kind IN ({_marks(restore)})",
        [patient_id, *restore],
    )
    db.execute(
        f"UPDATE outbox SET status = 'cancelled', last_error = 'hold_lifted' "
        f"WHERE patient_id = ? AND status = 'pending' AND kind IN ({_marks(cancel)})",
        [patient_id, *cancel],
    )


def pending_id(db: Database, dedupe_key: str) -> int | None:
    """The id of the still-queued row with this key, if any."""
    row = db.execute(
        "SELECT id FROM outbox WHERE dedupe_key = ? AND status = 'pending'", [dedupe_key]
    ).fetchone()
    return row[0] if row else None


def bring_forward(db: Database, row_id: int, now: datetime) -> None:
    """A queued row goes out now rather than at its planned time."""
    db.execute(
        "UPDATE outbox SET due_at = ?, next_attempt_at = NULL WHERE id = ?", [iso(now), row_id]
    )


def requeue_stranded(db: Database, row_id: int, at: datetime) -> None:
    """A row whose send path failed after the claim goes back to the queue (the lease)."""
    db.execute(
        "UPDATE outbox SET status = 'pending', claimed_at = NULL, "
        "next_attempt_at = ?, last_error = ? WHERE id = ? AND status = 'sending'",
        [iso(at), "stranded", row_id],
    )


def last_reply_payload(db: Database, chat_id: int) -> str | None:
    """The stored payload (JSON) of the last reply queued for this chat."""
    row = db.execute(
        "SELECT payload FROM outbox WHERE chat_id = ? AND kind = 'reply' ORDER BY id DESC LIMIT 1",
        [chat_id],
    ).fetchone()
    return row[0] if row else None


def give_back_attempt(db: Database, row_id: int) -> None:
    """Telegram asked us to wait: the try does not count against the row's attempts."""
    db.execute("UPDATE outbox SET attempts = attempts - 1 WHERE id = ?", [row_id])


def next_due_at(db: Database) -> str | None:
    """The earliest max(due_at, next_attempt_at) over pending rows, in two index look-ups: rows
    with no next attempt, in due order, and the few waiting for quiet hours or a retry."""
    plain = db.execute(
        "SELECT due_at FROM outbox WHERE status = 'pending' "
        "AND next_attempt_at IS NULL ORDER BY due_at LIMIT 1"
    ).fetchone()
    waiting = db.execute(
        "SELECT min(max(due_at, next_attempt_at)) FROM outbox "
        "INDEXED BY outbox_waiting WHERE status = 'pending' "
        "AND next_attempt_at IS NOT NULL"
    ).fetchone()
    times = [row[0] for row in (plain, waiting) if row and row[0]]
    return min(times) if times else None


def first_checkin_due(db: Database, status: str) -> str | None:
    """The due time of the earliest check-in row in this status."""
    row = db.execute(
        "SELECT due_at FROM outbox WHERE status = ? AND kind = 'checkin' ORDER BY due_at LIMIT 1",
        [status],
    ).fetchone()
    return row[0] if row else None


def cancel_keyed(db: Database, patient_id: int, key_prefix: str, reason: str) -> int:
    """Cancel this person's queued rows whose dedupe key starts with `key_prefix`."""
    return db.execute(
        "UPDATE outbox SET status = 'cancelled', last_error = ? WHERE patient_id = ? "
        "AND status = 'pending' AND dedupe_key LIKE ?",
        [reason, patient_id, key_prefix.replace("%", "") + "%"],
    ).rowcount
