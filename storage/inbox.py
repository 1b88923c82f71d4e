"""The durable inbox: every update Telegram delivers is a row here before Telegram is told so.

Polling confirms a batch to Telegram with the next getUpdates offset, a webhook with its HTTP 200;
both happen only after the batch committed (`bot.inbound.Inbound.receive`). Handling then reads
the rows (`bot/inbound.py`), so a crash at any instant loses nothing: rows still 'new' are
handled at the next start.

UNIQUE(update_id, digest): the same update delivered twice (same id, same JSON) is recognised and
stored once; an update id Telegram reuses (after a week without updates) with other content is a
new row. The payload is the raw JSON; it is scrubbed a day after handling (`scrub`), the digest
stays so a late redelivery is still recognised.
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.clock import iso

NEW, DONE, THROTTLED, IGNORED, BAD = "new", "done", "throttled", "ignored", "bad"
KEEP_PAYLOAD = timedelta(days=1)
KEEP_ROW = timedelta(days=7)

# The inbox row being handled, set by the worker (bot/inbound.py) around process_update: replies
# are then keyed by it (handlers.common.update_key). None when tests call process_update directly.
CURRENT: ContextVar[int | None] = ContextVar("inbox_row", default=None)

# The update kinds we ask Telegram for (allowed_updates); anything else is stored as 'ignored'.
KINDS = ("message", "edited_message", "callback_query", "my_chat_member")


@dataclass(frozen=True)
class Stored:
    id: int
    chat_id: int | None
    kind: str
    status: str


def digest(raw: bytes | str) -> str:
    return hashlib.sha256(raw.encode("utf-8") if isinstance(raw, str) else raw).hexdigest()


def describe(update: object) -> tuple[int | None, str, int | None]:
    """(update id, kind, chat id) of a decoded update, without trusting its shape; kind 'bad'
    when it is not an update at all."""
    if (
        not isinstance(update, dict)
        or not isinstance(update.get("update_id"), int)
        or isinstance(update.get("update_id"), bool)
    ):
        return None, BAD, None
    kinds = [k for k in update if k != "update_id"]
    kind = kinds[0] if len(kinds) == 1 and isinstance(update[kinds[0]], dict) else BAD
    chat_id = None
    if kind != BAD:
        body = update[kind]
        chat = body.get("chat")
        if chat is None and isinstance(body.get("message"), dict):
            chat = body["message"].get("chat")  # a button under a message
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            chat_id = chat["id"]
        elif isinstance(body.get("from"), dict) and isinstance(body["from"].get("id"), int):
            chat_id = body["from"]["id"]  # a callback on an inline message: answer the person
    return update["update_id"], kind, chat_id


def store(db: Database, raw: bytes | str, now: datetime) -> Stored | None:
    """Store one update's raw JSON; None when the very same update is already stored.

    Never raises for bad content: what cannot be decoded is stored as 'bad' (and never handled).
    Call inside a transaction to store a batch at once.
    """
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        decoded = json.loads(text)
        # One spelling per content (polling re-encodes, a webhook posts bytes): the digest
        # then recognises the same update whichever way it came.
        text = json.dumps(decoded, ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        decoded = None
    update_id, kind, chat_id = describe(decoded)
    status = NEW if kind in KINDS else BAD if kind == BAD else IGNORED
    cursor = db.execute(
        "INSERT INTO inbox (update_id, chat_id, kind, payload, digest, received_at, status, "
        "handled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (update_id, digest) DO NOTHING",
        [
            update_id if update_id is not None else -1,
            chat_id,
            kind,
            text,
            digest(text),
            iso(now),
            status,
            None if status == NEW else iso(now),
        ],
    )
    if not cursor.rowcount or cursor.lastrowid is None:
        return None
    return Stored(cursor.lastrowid, chat_id, kind, status)


def get(db: Database, row_id: int) -> dict | None:
    row = db.execute(
        "SELECT id, update_id, chat_id, kind, payload, status FROM inbox WHERE id = ?", [row_id]
    ).fetchone()
    if row is None:
        return None
    return dict(zip(("id", "update_id", "chat_id", "kind", "payload", "status"), row, strict=True))


def open_rows(
    db: Database, received_before: datetime | None = None
) -> list[tuple[int, int | None]]:
    """(id, chat id) of rows still to handle, oldest first (crash recovery at start-up; with
    `received_before`, the sweep for rows a failed worker left behind)."""
    if received_before is None:
        rows = db.execute("SELECT id, chat_id FROM inbox WHERE status = 'new' ORDER BY id")
    else:
        rows = db.execute(
            "SELECT id, chat_id FROM inbox WHERE status = 'new' AND received_at < ? ORDER BY id",
            [iso(received_before)],
        )
    return [(r[0], r[1]) for r in rows]


def mark(db: Database, row_id: int, status: str, now: datetime, error: str | None = None) -> bool:
    """Finish a 'new' row; False if it was finished already (idempotent)."""
    return (
        db.execute(
            "UPDATE inbox SET status = ?, handled_at = ?, error = ? "
            "WHERE id = ? AND status = 'new'",
            [status, iso(now), error, row_id],
        ).rowcount
        == 1
    )


def mark_done(db: Database, row_id: int, now: datetime) -> bool:
    return mark(db, row_id, DONE, now)


def status(db: Database, row_id: int) -> str | None:
    row = db.execute("SELECT status FROM inbox WHERE id = ?", [row_id]).fetchone()
    return row[0] if row else None


def counts(db: Database) -> dict[str, int]:
    return {s: n for s, n in db.execute("SELECT status, count(*) FROM inbox GROUP BY status")}


def scrub(
    db: Database, now: datetime, keep: timedelta = KEEP_PAYLOAD, keep_row: timedelta = KEEP_ROW
) -> int:
    """Payloads of rows handled more than `keep` ago become '{}' (they can hold what a person
    typed); the digest stays, so a late redelivery is still recognised. Rows handled more than
    `keep_row` ago are deleted: Telegram keeps an undelivered update for 24 hours, so nothing
    that old comes again. Returns how many payloads were scrubbed."""
    with db.atomic():
        db.execute(
            "DELETE FROM inbox WHERE handled_at IS NOT NULL AND handled_at < ?",
            [iso(now - keep_row)],
        )
        return db.execute(
            "UPDATE inbox SET payload = '{}' WHERE handled_at IS NOT NULL "
            "AND handled_at < ? AND payload != '{}'",
            [iso(now - keep)],
        ).rowcount
