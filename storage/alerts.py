"""Alert episodes (issue 16): one row per flag episode of a clinic's patient.

An episode opens when a flag first appears (a warning sign, a sustained rise, a blocked bot, a
quiet spell, a request to be contacted); the clinic is told once, when it opens. While it is open
(or acknowledged) and less than `EPISODE` old, the same flag tells no one again. A clinician
acknowledges or resolves it (their id and the time are kept); the patient's "I have been seen"
resolves an emergency-sign episode (`resolved_how = 'seen'`). The roster, digest and per-patient
view read the states and dates from here (`for_patient`, `for_cohort`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.clock import iso
from storage.db import new_id

EPISODE = timedelta(days=14)  # an unresolved episode older than this no longer holds alerts back
URGENT = ("red_flag", "red_flag_soon")  # told at once, day or night
KINDS = ("red_flag", "red_flag_soon", "rise", "blocked", "quiet", "contact")
STATES = ("open", "acknowledged", "resolved")


def _one(db: Database, sql: str, params: list) -> dict | None:
    rows = list(db.query(sql, params))
    return rows[0] if rows else None


def get(db: Database, episode_id: int) -> dict | None:
    return _one(db, "SELECT * FROM alert_episodes WHERE id = ?", [episode_id])


def current(db: Database, patient_id: int, kind: str, now: datetime) -> dict | None:
    """The episode of this kind that still holds alerts back: not resolved, under 14 days old."""
    return _one(
        db,
        "SELECT * FROM alert_episodes WHERE patient_id = ? AND kind = ? AND state != 'resolved' "
        "AND opened_at > ? ORDER BY id DESC LIMIT 1",
        [patient_id, kind, iso(now - EPISODE)],
    )


def open_episode(
    db: Database,
    *,
    patient_id: int,
    cohort_id: int,
    clinic_id: int,
    kind: str,
    now: datetime,
    notify_at: datetime,
    recipients: list[int],
) -> int | None:
    """A new episode, or None while one of this kind still holds alerts back. An unresolved one
    older than 14 days is closed first (`expired`), so the flag is told again."""
    if kind not in KINDS:
        raise ValueError(kind)
    if current(db, patient_id, kind, now) is not None:
        return None
    db.execute(
        "UPDATE alert_episodes SET state = 'resolved', resolved_at = ?, resolved_how = 'expired' "
        "WHERE patient_id = ? AND kind = ? AND state != 'resolved'",
        [iso(now), patient_id, kind],
    )
    return new_id(
        db.table("alert_episodes").insert(
            {
                "patient_id": patient_id,
                "cohort_id": cohort_id,
                "clinic_id": clinic_id,
                "kind": kind,
                "opened_at": iso(now),
                "state": "open",
                "notify_at": iso(notify_at),
                "recipients": json.dumps(sorted(recipients)),
            }
        )
    )


def recipients(episode: dict) -> list[int]:
    """The clinicians (ids) told of this episode when it opened."""
    try:
        found = json.loads(episode["recipients"] or "[]")
    except (TypeError, ValueError):
        return []
    return [int(x) for x in found] if isinstance(found, list) else []


def acknowledge(db: Database, episode_id: int, clinician_id: int, now: datetime) -> bool:
    """Open → acknowledged, once; False if someone already did, or it is resolved."""
    cursor = db.execute(
        "UPDATE alert_episodes SET state = 'acknowledged', acknowledged_at = ?, "
        "acknowledged_by = ? WHERE id = ? AND state = 'open'",
        [iso(now), clinician_id, episode_id],
    )
    return cursor.rowcount == 1


def resolve(
    db: Database, episode_id: int, now: datetime, *, by: int | None = None, how: str = "clinician"
) -> bool:
    """→ resolved, once; False if it already was."""
    cursor = db.execute(
        "UPDATE alert_episodes SET state = 'resolved', resolved_at = ?, resolved_by = ?, "
        "resolved_how = ? WHERE id = ? AND state != 'resolved'",
        [iso(now), by, how, episode_id],
    )
    return cursor.rowcount == 1


def resolve_open(db: Database, patient_id: int, kind: str, now: datetime, how: str) -> list[dict]:
    """Resolve every unresolved episode of this kind for the patient (e.g. `seen`); returns them
    as they are now."""
    ids = [
        r["id"]
        for r in db.query(
            "SELECT id FROM alert_episodes WHERE patient_id = ? AND kind = ? "
            "AND state != 'resolved'",
            [patient_id, kind],
        )
    ]
    for episode_id in ids:
        resolve(db, episode_id, now, how=how)
    return [e for e in (get(db, i) for i in ids) if e is not None]


def unresolved(db: Database, kind: str) -> list[dict]:
    """Every episode of this kind not yet resolved (the plan tick closes those that ended)."""
    return list(
        db.query("SELECT * FROM alert_episodes WHERE kind = ? AND state != 'resolved'", [kind])
    )


def latest(db: Database, patient_id: int, kind: str) -> dict | None:
    return _one(
        db,
        "SELECT * FROM alert_episodes WHERE patient_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
        [patient_id, kind],
    )


def batch(db: Database, clinic_id: int, notify_at: str) -> list[dict]:
    """The non-urgent episodes of a clinic to be told together at `notify_at` (stored time)."""
    return list(
        db.query(
            "SELECT * FROM alert_episodes WHERE clinic_id = ? AND notify_at = ? "
            "AND kind NOT IN ('red_flag', 'red_flag_soon') ORDER BY id",
            [clinic_id, notify_at],
        )
    )


def for_patient(db: Database, patient_id: int) -> list[dict]:
    """Every episode of this patient, newest first: kind, opened_at, state and who did what."""
    return list(
        db.query(
            "SELECT * FROM alert_episodes WHERE patient_id = ? ORDER BY opened_at DESC, id DESC",
            [patient_id],
        )
    )


def for_cohort(db: Database, cohort_id: int, *, unresolved_only: bool = False) -> list[dict]:
    """Every episode of the cohort's patients (newest first), for the roster and digest."""
    sql = "SELECT * FROM alert_episodes WHERE cohort_id = ?"
    if unresolved_only:
        sql += " AND state != 'resolved'"
    return list(db.query(sql + " ORDER BY opened_at DESC, id DESC", [cohort_id]))


# --- messages between a clinic and a patient (/message, its one reply, /contact) --------------

REPLY_OPEN_FOR = timedelta(hours=1)  # after tapping Reply, the next text within this is the answer


def create_message(
    db: Database,
    *,
    clinic_id: int,
    cohort_id: int,
    patient_id: int,
    clinician_id: int | None,
    kind: str,
    now: datetime,
) -> int:
    """A clinician's message (`message`) or a patient's request to be contacted (`contact`); the
    words themselves live only in the outbox row that carries them."""
    return new_id(
        db.table("clinic_messages").insert(
            {
                "clinic_id": clinic_id,
                "cohort_id": cohort_id,
                "patient_id": patient_id,
                "clinician_id": clinician_id,
                "kind": kind,
                "created_at": iso(now),
            }
        )
    )


def message(db: Database, message_id: int) -> dict | None:
    return _one(db, "SELECT * FROM clinic_messages WHERE id = ?", [message_id])


def open_reply(db: Database, message_id: int, now: datetime) -> bool:
    """The patient tapped Reply: their next text is the answer (one, within the hour)."""
    cursor = db.execute(
        "UPDATE clinic_messages SET reply_opened_at = ? WHERE id = ? AND replied_at IS NULL "
        "AND kind = 'message'",
        [iso(now), message_id],
    )
    return cursor.rowcount == 1


def reply_waiting(db: Database, patient_id: int, now: datetime) -> dict | None:
    """The message whose Reply this patient tapped within the hour and has not answered yet."""
    return _one(
        db,
        "SELECT * FROM clinic_messages WHERE patient_id = ? AND kind = 'message' "
        "AND replied_at IS NULL AND reply_opened_at > ? ORDER BY reply_opened_at DESC LIMIT 1",
        [patient_id, iso(now - REPLY_OPEN_FOR)],
    )


def mark_replied(db: Database, message_id: int, now: datetime) -> bool:
    cursor = db.execute(
        "UPDATE clinic_messages SET replied_at = ? WHERE id = ? AND replied_at IS NULL",
        [iso(now), message_id],
    )
    return cursor.rowcount == 1
