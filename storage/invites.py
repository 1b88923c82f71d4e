"""Invite codes: random, stored only as a hash, single use, expiring; guessing is slowed down."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.clock import iso
from storage.db import new_id

MAX_FAILURES = 5  # wrong codes per person ...
FAILURE_WINDOW = timedelta(minutes=15)  # ... in this long, then every code is refused for a while


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def create(
    db: Database,
    *,
    kind: str,
    patient_id: int | None,
    scope: str,
    now: datetime,
    valid_for: timedelta,
    clinic_id: int | None = None,
    cohort_id: int | None = None,
) -> tuple[int, str]:
    """A new invite; returns its id and the code (shown once, never stored).

    Kinds: `caregiver` (a patient's, single use), `clinician` (a clinic's, single use),
    `cohort` (a cohort's enrolment link, used by many until replaced).
    """
    code = secrets.token_urlsafe(16)
    invite_id = new_id(
        db.table("invites").insert(
            {
                "code_hash": code_hash(code),
                "kind": kind,
                "patient_id": patient_id,
                "scope": scope,
                "clinic_id": clinic_id,
                "cohort_id": cohort_id,
                "created_at": iso(now),
                "expires_at": iso(now + valid_for),
            }
        )
    )
    return invite_id, code


def usable(db: Database, code: str, kind: str, now: datetime, user_id: int) -> dict | None:
    """The invite behind `code` if it can still be used by this person; None otherwise.

    Unknown, expired, revoked, used, another kind, or opened first by someone else: all the same
    None, so the answer tells a guesser nothing.
    """
    invite = find(db, code)
    if (
        invite is None
        or invite["kind"] != kind
        or invite["used_at"]
        or invite["revoked_at"]
        or invite["expires_at"] <= iso(now)
        or invite["claimed_by"] not in (None, user_id)
    ):
        return None
    return invite


def open_code(
    db: Database, code: str, kind: str, now: datetime, user_id: int, valid=lambda invite: True
) -> dict | None:
    """The invite behind a code someone opened, claimed for them; or None, with the failure
    counted, when it is unusable, fails `valid`, or they have failed too often lately."""
    invite = None
    if not too_many_failures(db, user_id, now):
        invite = usable(db, code, kind, now, user_id)
    with db.atomic():
        if invite is None or not valid(invite):
            record_failure(db, user_id, now)
            return None
        claim(db, invite["id"], user_id)
    return invite


def answered(
    db: Database, cb, head: str, kind: str, user_id: int, now: datetime
) -> tuple[dict, bool] | None:
    """The invite and the answer behind an accept / decline button (`cb`, decoded by
    bot.rules.callbacks: `<head>:<invite>:y|n`), if it is of this kind, was opened by this person
    and is still valid; None otherwise."""
    if cb is None or cb.head != head:
        return None
    invite = get(db, cb["invite"])
    if (
        invite is None
        or invite["kind"] != kind
        or invite["claimed_by"] != user_id
        or invite["used_at"]
        or invite["revoked_at"]
        or invite["expires_at"] <= iso(now)
    ):
        return None
    return invite, cb["answer"] == "y"


def find(db: Database, code: str) -> dict | None:
    if len(code) > 64:
        return None
    rows = list(db.query("SELECT * FROM invites WHERE code_hash = ?", [code_hash(code)]))
    return rows[0] if rows else None


def claim(db: Database, invite_id: int, user_id: int) -> bool:
    cursor = db.execute(
        "UPDATE invites SET claimed_by = ? WHERE id = ? AND (claimed_by IS NULL OR claimed_by = ?)",
        [user_id, invite_id, user_id],
    )
    return cursor.rowcount == 1


def get(db: Database, invite_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM invites WHERE id = ?", [invite_id]))
    return rows[0] if rows else None


def use(db: Database, invite_id: int, user_id: int, now: datetime) -> bool:
    """Mark used, once, by the person who opened it, if still valid."""
    cursor = db.execute(
        "UPDATE invites SET used_at = ? WHERE id = ? AND claimed_by = ? AND "
        "used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
        [iso(now), invite_id, user_id, iso(now)],
    )
    return cursor.rowcount == 1


def too_many_failures(db: Database, user_id: int, now: datetime) -> bool:
    count = db.execute(
        "SELECT count(*) FROM invite_failures WHERE user_id = ? AND at > ?",
        [user_id, iso(now - FAILURE_WINDOW)],
    ).fetchone()[0]
    return count >= MAX_FAILURES


def record_failure(db: Database, user_id: int, now: datetime) -> None:
    db.execute("INSERT INTO invite_failures (user_id, at) VALUES (?, ?)", [user_id, iso(now)])
    db.execute("DELETE FROM invite_failures WHERE at < ?", [iso(now - FAILURE_WINDOW)])


def open_for_patient(db: Database, patient_id: int, now: datetime) -> list[dict]:
    """Invites this patient made that nobody has accepted yet and that are still valid."""
    return list(
        db.query(
            "SELECT * FROM invites WHERE patient_id = ? AND used_at IS NULL AND "
            "revoked_at IS NULL AND expires_at > ? ORDER BY id",
            [patient_id, iso(now)],
        )
    )


def revoke(db: Database, invite_id: int, patient_id: int, now: datetime) -> bool:
    cursor = db.execute(
        "UPDATE invites SET revoked_at = ? WHERE id = ? AND patient_id = ? "
        "AND used_at IS NULL AND revoked_at IS NULL",
        [iso(now), invite_id, patient_id],
    )
    return cursor.rowcount == 1
