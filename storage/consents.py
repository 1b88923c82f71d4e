"""Consent to store health data, and the onboarding step kept before and while it is given.

Before someone agrees, only their Telegram ids and the step they are on are kept (`onboarding`);
the patient row, and everything about their health, exists only after agreement.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso
from storage.db import new_id


def give(
    db: Database, patient_id: int, kind: str, version: int, text_hash: str, now: datetime
) -> int:
    return new_id(
        db.table("consents").insert(
            {
                "patient_id": patient_id,
                "kind": kind,
                "version": version,
                "text_hash": text_hash,
                "given_at": iso(now),
                "withdrawn_at": None,
            }
        )
    )


def current(db: Database, patient_id: int, kind: str) -> dict | None:
    """The latest consent of this kind that has not been withdrawn."""
    rows = list(
        db.query(
            "SELECT * FROM consents WHERE patient_id = ? AND kind = ? "
            "AND withdrawn_at IS NULL ORDER BY id DESC LIMIT 1",
            [patient_id, kind],
        )
    )
    return rows[0] if rows else None


def onboarding(db: Database, user_id: int) -> dict | None:
    """Where this Telegram user is in onboarding (data decoded), or None if not onboarding."""
    rows = list(db.query("SELECT * FROM onboarding WHERE user_id = ?", [user_id]))
    if not rows:
        return None
    row = rows[0]
    row["data"] = json.loads(row["data"])
    return row


def existing_onboarding(db: Database, user_id: int) -> dict:
    """`onboarding` for a state the caller has just read or written: its absence is a bug."""
    state = onboarding(db, user_id)
    if state is None:
        raise LookupError(f"user {user_id} is not onboarding")
    return state


def set_step(
    db: Database,
    user_id: int,
    chat_id: int,
    step: str,
    now: datetime,
    *,
    patient_id: int | None = None,
    data: dict | None = None,
) -> None:
    """Create or move the onboarding state; patient_id and data are kept unless given."""
    db.execute(
        "INSERT INTO onboarding (user_id, chat_id, patient_id, step, data, updated_at) "
        "VALUES (:user, :chat, :patient, :step, coalesce(:data, '{}'), :now) "
        "ON CONFLICT (user_id) DO UPDATE SET step = excluded.step, "
        "updated_at = excluded.updated_at, "
        "patient_id = coalesce(:patient, onboarding.patient_id), "
        "data = coalesce(:data, onboarding.data)",
        {
            "user": user_id,
            "chat": chat_id,
            "patient": patient_id,
            "step": step,
            "now": iso(now),
            "data": None if data is None else json.dumps(data, ensure_ascii=False),
        },
    )


def finish(db: Database, user_id: int) -> None:
    db.execute("DELETE FROM onboarding WHERE user_id = ?", [user_id])


def forget_visitor(db: Database, user_id: int, chat_id: int) -> None:
    """Someone said no before agreeing: drop their step and the bot's sent replies to them."""
    db.execute("DELETE FROM onboarding WHERE user_id = ? AND patient_id IS NULL", [user_id])
    db.execute(
        "DELETE FROM outbox WHERE chat_id = ? AND patient_id IS NULL AND kind = 'reply' "
        "AND status = 'sent'",
        [chat_id],
    )
