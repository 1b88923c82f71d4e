"""Consent withdrawn without deleting: processing stops at once, what is stored stays.

A withdrawn patient has `patients.status = 'withdrawn'` (and `inactive_reason =
'consent_withdrawn'`); their consent rows keep version, text hash and given time, with
`withdrawn_at` set. Agreeing again adds a new consent row; the old one is never reused.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso
from bot.rules.kinds import names
from storage import events
from storage.sessions import OPEN_STAGES

WITHDRAWN = "withdrawn"
REASON = "consent_withdrawn"
# A data-rights request made before withdrawing is still answered.
KEEP_KINDS = names(kept_on_withdraw=True)
# Scheduled rows cancelled by the withdrawal that the planner makes again after re-consent; their
# dedupe keys must be free for that (the same list /resume uses).
REPLANNED_KINDS = names(on_consent_again="replan")
RESTORED_KINDS = names(on_consent_again="restore")


def is_withdrawn(db: Database, patient_id: int | None) -> bool:
    """Read fresh from the database: a row fetched before an await may be stale."""
    if patient_id is None:
        return False
    row = db.execute("SELECT status FROM patients WHERE id = ?", [patient_id]).fetchone()
    return row is not None and row[0] == WITHDRAWN


def withdraw(db: Database, patient: dict, now: datetime) -> dict[str, int]:
    """Stop everything for this patient. Call inside a transaction; returns what was stopped."""
    pid, at = patient["id"], iso(now)
    done = {
        "consents": db.execute(
            "UPDATE consents SET withdrawn_at = ? WHERE patient_id = ? AND withdrawn_at IS NULL",
            [at, pid],
        ).rowcount,
        # Their own prompts and replies, and caregivers' copies and alerts about them (those
        # rows carry the patient's id too). Even rows already due never go out.
        "messages": db.execute(
            f"UPDATE outbox SET status = 'cancelled', last_error = ? WHERE patient_id = ? "
            f"AND status = 'pending' AND kind NOT IN ({', '.join('?' for _ in KEEP_KINDS)})",
            [WITHDRAWN, pid, *KEEP_KINDS],
        ).rowcount,
        # Open sessions are closed as they are: no settle or next-day question, no decision.
        "sessions": db.execute(
            f"UPDATE sessions SET stage = 'stopped' WHERE patient_id = ? "
            f"AND stage IN ({', '.join('?' for _ in OPEN_STAGES)})",
            [pid, *OPEN_STAGES],
        ).rowcount,
        # An unused caregiver invite must not create a link while they are withdrawn.
        "invites": db.execute(
            "UPDATE invites SET revoked_at = ? WHERE patient_id = ? "
            "AND used_at IS NULL AND revoked_at IS NULL",
            [at, pid],
        ).rowcount,
    }
    db.execute("DELETE FROM awaiting WHERE patient_id = ?", [pid])  # typed numbers answer nothing
    db.execute("DELETE FROM onboarding WHERE user_id = ?", [patient["user_id"]])  # a /settings edit
    db.table("patients").update(
        pid, {"status": WITHDRAWN, "inactive_reason": REASON, "updated_at": at}
    )
    events.record(db, now, "consent_withdrawn", pid, was=patient["status"], **done)
    return done


def status_before(db: Database, patient_id: int) -> str:
    """What to go back to on agreeing again: a warning-sign hold stays a hold, else active."""
    row = db.execute(
        "SELECT data FROM events WHERE patient_id = ? AND kind = 'consent_withdrawn' "
        "ORDER BY id DESC LIMIT 1",
        [patient_id],
    ).fetchone()
    was = json.loads(row[0]).get("was") if row else None
    return "hold" if was == "hold" else "active"


def restore(db: Database, patient_id: int, now: datetime) -> str:
    """After a new consent row, processing restarts (the caller re-plans); returns the status."""
    status = status_before(db, patient_id)
    db.table("patients").update(
        patient_id,
        {"status": status, "inactive_reason": None, "paused_from": None, "updated_at": iso(now)},
    )
    marks = ", ".join("?" for _ in REPLANNED_KINDS)
    db.execute(
        f"DELETE FROM outbox WHERE patient_id = ? AND status = 'cancelled' "
        f"AND last_error = ? AND kind IN ({marks}) AND due_at >= ?",
        [patient_id, WITHDRAWN, *REPLANNED_KINDS, iso(now)],
    )
    # A paused activity is still offered again when its break ends.
    marks = ", ".join("?" for _ in RESTORED_KINDS)
    db.execute(
        f"UPDATE outbox SET status = 'pending', last_error = NULL WHERE patient_id = ? "
        f"AND status = 'cancelled' AND last_error = ? AND kind IN ({marks}) "
        f"AND due_at >= ?",
        [patient_id, WITHDRAWN, *RESTORED_KINDS, iso(now)],
    )
    return status
