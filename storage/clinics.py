"""Clinics, their clinicians and cohorts, and the patients who joined a cohort.

Access is decided in one place, `cohort_for`: a clinician sees a cohort only while they are an
active (not removed) clinician of the clinic that owns it. Every clinician command goes through it.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from sqlite_utils import Database

from bot.clock import iso
from storage import invites
from storage.db import new_id

CLINICIAN_INVITE_VALID = timedelta(days=7)
ENROL_LINK_VALID = timedelta(days=365)  # a waiting-room poster stays up; /cohort_link replaces it
# A fixed cohort start date lies from 4 weeks before to a year after the clinic's local today: a
# late-starting group can still be set up, a typo (2025 for 2026) cannot leave newcomers with a
# course that ended long ago, and no date is so far off that date arithmetic overflows.
START_PAST = timedelta(weeks=12)
START_AHEAD = timedelta(weeks=26)


def _one(db: Database, sql: str, params: list) -> dict | None:
    rows = list(db.query(sql, params))
    return rows[0] if rows else None


# --- clinics (created from the command line) -------------------------------------------------


def create_clinic(db: Database, name: str, timezone: str, now: datetime) -> int:
    return new_id(
        db.table("clinics").insert({"name": name, "timezone": timezone, "created_at": iso(now)})
    )


def clinic(db: Database, clinic_id: int) -> dict | None:
    return _one(db, "SELECT * FROM clinics WHERE id = ?", [clinic_id])


def clinic_by_ref(db: Database, ref: str) -> dict | None:
    """A clinic by its number or its exact name."""
    if ref.isdecimal():
        found = clinic(db, int(ref))
        if found:
            return found
    return _one(db, "SELECT * FROM clinics WHERE name = ?", [ref])


def all_clinics(db: Database) -> list[dict]:
    return list(
        db.query(
            "SELECT c.*, "
            "(SELECT count(*) FROM clinicians k WHERE k.clinic_id = c.id AND k.removed_at IS NULL) "
            "  AS clinicians, "
            "(SELECT count(*) FROM cohorts h WHERE h.clinic_id = c.id) AS cohorts, "
            "(SELECT count(*) FROM memberships m JOIN cohorts h ON h.id = m.cohort_id "
            "  WHERE h.clinic_id = c.id AND m.left_at IS NULL) AS patients "
            "FROM clinics c ORDER BY c.id"
        )
    )


def invite_clinician(db: Database, clinic_id: int, now: datetime) -> tuple[int, str]:
    """A single-use, 7-day invite for one more clinician; returns (invite id, code)."""
    return invites.create(
        db,
        kind="clinician",
        patient_id=None,
        scope="clinician",
        now=now,
        valid_for=CLINICIAN_INVITE_VALID,
        clinic_id=clinic_id,
    )


# --- clinicians ------------------------------------------------------------------------------


def add_clinician(
    db: Database,
    *,
    clinic_id: int,
    user_id: int,
    chat_id: int,
    first_name: str,
    invite_id: int,
    now: datetime,
) -> int:
    return new_id(
        db.table("clinicians").insert(
            {
                "clinic_id": clinic_id,
                "user_id": user_id,
                "chat_id": chat_id,
                "first_name": first_name,
                "invite_id": invite_id,
                "joined_at": iso(now),
            }
        )
    )


def clinician(db: Database, clinician_id: int) -> dict | None:
    return _one(db, "SELECT * FROM clinicians WHERE id = ?", [clinician_id])


def clinicians_of(db: Database, clinic_id: int, *, active_only: bool = True) -> list[dict]:
    sql = "SELECT * FROM clinicians WHERE clinic_id = ?"
    if active_only:
        sql += " AND removed_at IS NULL"
    return list(db.query(sql + " ORDER BY id", [clinic_id]))


def roles_of(db: Database, user_id: int) -> list[dict]:
    """This Telegram user's active clinician memberships, with the clinic's name and zone."""
    return list(
        db.query(
            "SELECT k.*, c.name AS clinic_name, c.timezone AS clinic_timezone FROM clinicians k "
            "JOIN clinics c ON c.id = k.clinic_id WHERE k.user_id = ? AND k.removed_at IS NULL "
            "ORDER BY k.id",
            [user_id],
        )
    )


def remove_clinician(db: Database, clinician_id: int, now: datetime) -> bool:
    """Access ends at once: every check reads `removed_at`; their queued digests are cancelled."""
    cursor = db.execute(
        "UPDATE clinicians SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
        [iso(now), clinician_id],
    )
    if cursor.rowcount == 1:
        db.execute(
            "UPDATE outbox SET status = 'cancelled', last_error = 'clinician_removed' "
            "WHERE status = 'pending' AND kind IN ('digest', 'alert_clinician') "
            "AND json_extract(payload, '$.clinician_id') = ?",
            [clinician_id],
        )
    return cursor.rowcount == 1


# --- cohorts ---------------------------------------------------------------------------------


def start_range(today: date) -> tuple[date, date]:
    """The first and last fixed start date a clinic may set on its local date `today`."""
    return today - START_PAST, today + START_AHEAD


def create_cohort(
    db: Database,
    *,
    clinic_id: int,
    name: str,
    start_date: str | None,
    created_by: int,
    now: datetime,
) -> int:
    return new_id(
        db.table("cohorts").insert(
            {
                "clinic_id": clinic_id,
                "name": name,
                "start_date": start_date,
                "created_by": created_by,
                "created_at": iso(now),
            }
        )
    )


def cohort(db: Database, cohort_id: int) -> dict | None:
    return _one(
        db,
        "SELECT h.*, c.name AS clinic_name, c.timezone AS clinic_timezone "
        "FROM cohorts h JOIN clinics c ON c.id = h.clinic_id WHERE h.id = ?",
        [cohort_id],
    )


def cohort_for(db: Database, cohort_id: int, user_id: int) -> tuple[dict, dict] | None:
    """(cohort, clinician) if this user is an active clinician of the cohort's clinic, else None.

    The one authorization check for every clinician command: a cohort of another clinic, a removed
    clinician and a patient or stranger all get None, which callers answer the same way.
    """
    found = cohort(db, cohort_id)
    if found is None:
        return None
    staff = _one(
        db,
        "SELECT * FROM clinicians WHERE clinic_id = ? AND user_id = ? "
        "AND removed_at IS NULL ORDER BY id LIMIT 1",
        [found["clinic_id"], user_id],
    )
    return (found, staff) if staff else None


def cohorts_for_user(db: Database, user_id: int) -> list[dict]:
    """Every cohort of every clinic where this user is an active clinician, with head counts."""
    return list(
        db.query(
            "SELECT h.*, c.name AS clinic_name, "
            "(SELECT count(*) FROM memberships m WHERE m.cohort_id = h.id AND m.left_at IS NULL) "
            "  AS patients FROM cohorts h JOIN clinics c ON c.id = h.clinic_id "
            "WHERE h.clinic_id IN (SELECT clinic_id FROM clinicians WHERE user_id = ? "
            "AND removed_at IS NULL) ORDER BY c.name, h.id",
            [user_id],
        )
    )


def update_cohort(db: Database, cohort_id: int, **fields: object) -> None:
    db.table("cohorts").update(cohort_id, fields)


def thresholds_of(cohort_row: dict) -> dict:
    return json.loads(cohort_row["thresholds"] or "{}")


def new_enrolment_link(db: Database, cohort_id: int, now: datetime) -> str:
    """A fresh enrolment code for the cohort; the previous one stops working. Returns the code."""
    db.execute(
        "UPDATE invites SET revoked_at = ? WHERE kind = 'cohort' AND cohort_id = ? "
        "AND revoked_at IS NULL",
        [iso(now), cohort_id],
    )
    _, code = invites.create(
        db,
        kind="cohort",
        patient_id=None,
        scope="cohort",
        now=now,
        valid_for=ENROL_LINK_VALID,
        cohort_id=cohort_id,
    )
    return code


def cohort_by_code(db: Database, code: str, now: datetime) -> dict | None:
    """The cohort a current enrolment code belongs to (used by many people, unlike invites)."""
    invite = invites.find(db, code)
    if (
        invite is None
        or invite["kind"] != "cohort"
        or invite["revoked_at"]
        or invite["expires_at"] <= iso(now)
    ):
        return None
    return cohort(db, invite["cohort_id"])


# --- joining and leaving ---------------------------------------------------------------------


def make_offer(db: Database, cohort_id: int, user_id: int, terms_hash: str, now: datetime) -> int:
    return new_id(
        db.table("cohort_offers").insert(
            {
                "cohort_id": cohort_id,
                "user_id": user_id,
                "terms_hash": terms_hash,
                "created_at": iso(now),
            }
        )
    )


def offer(db: Database, offer_id: int) -> dict | None:
    return _one(db, "SELECT * FROM cohort_offers WHERE id = ?", [offer_id])


def accept_offer(db: Database, offer_id: int, now: datetime) -> bool:
    cursor = db.execute(
        "UPDATE cohort_offers SET accepted_at = ? WHERE id = ? AND accepted_at IS NULL",
        [iso(now), offer_id],
    )
    return cursor.rowcount == 1


def accepted_offers_waiting(db: Database, user_id: int) -> list[dict]:
    """Offers this person accepted before they had finished setting up (no membership yet)."""
    return list(
        db.query(
            "SELECT * FROM cohort_offers WHERE user_id = ? AND accepted_at IS NOT "
            "NULL AND membership_id IS NULL ORDER BY id",
            [user_id],
        )
    )


def join(
    db: Database, *, cohort_id: int, patient_id: int, consent_id: int, offer_id: int, now: datetime
) -> int:
    membership_id = new_id(
        db.table("memberships").insert(
            {
                "cohort_id": cohort_id,
                "patient_id": patient_id,
                "consent_id": consent_id,
                "joined_at": iso(now),
            }
        )
    )
    db.execute("UPDATE cohort_offers SET membership_id = ? WHERE id = ?", [membership_id, offer_id])
    return membership_id


def membership(db: Database, patient_id: int) -> dict | None:
    """This patient's current cohort membership (at most one), with cohort and clinic."""
    return _one(
        db,
        "SELECT m.*, h.name AS cohort_name, h.clinic_id, h.start_date, "
        "h.thresholds, h.emergency_text, c.name AS clinic_name "
        "FROM memberships m JOIN cohorts h ON h.id = m.cohort_id "
        "JOIN clinics c ON c.id = h.clinic_id "
        "WHERE m.patient_id = ? AND m.left_at IS NULL ORDER BY m.id DESC LIMIT 1",
        [patient_id],
    )


def leave(db: Database, membership_id: int, now: datetime) -> bool:
    """The clinic sees nothing of this person from now on; the sharing consent is withdrawn."""
    row = _one(db, "SELECT * FROM memberships WHERE id = ? AND left_at IS NULL", [membership_id])
    if row is None:
        return False
    db.execute("UPDATE memberships SET left_at = ? WHERE id = ?", [iso(now), membership_id])
    db.execute(
        "UPDATE consents SET withdrawn_at = ? WHERE id = ? AND withdrawn_at IS NULL",
        [iso(now), row["consent_id"]],
    )
    db.execute(
        "UPDATE outbox SET status = 'cancelled', last_error = 'left_cohort' "
        "WHERE status = 'pending' AND kind = 'alert_clinician' AND patient_id = ?",
        [row["patient_id"]],
    )
    return True


def members(db: Database, cohort_id: int) -> list[dict]:
    """The cohort's current members: patient rows with `membership_id` and `joined_at`.

    A patient who has withdrawn consent to the bot altogether is not shown at all.
    """
    return list(
        db.query(
            "SELECT p.*, m.id AS membership_id, m.joined_at FROM memberships m "
            "JOIN patients p ON p.id = m.patient_id WHERE m.cohort_id = ? AND m.left_at IS NULL "
            "AND p.status != 'withdrawn' ORDER BY p.id",
            [cohort_id],
        )
    )


def watchers(db: Database, patient_id: int) -> list[dict]:
    """The active clinicians of the clinic of this patient's current cohort (for alerts)."""
    return list(
        db.query(
            "SELECT k.*, m.cohort_id, c.timezone AS clinic_timezone FROM memberships m "
            "JOIN cohorts h ON h.id = m.cohort_id JOIN clinics c ON c.id = h.clinic_id "
            "JOIN clinicians k ON k.clinic_id = h.clinic_id JOIN patients p ON p.id = m.patient_id "
            "WHERE m.patient_id = ? AND m.left_at IS NULL AND k.removed_at IS NULL "
            "AND p.status != 'withdrawn' ORDER BY k.id",
            [patient_id],
        )
    )


def emergency_text(db: Database, patient_id: int | None) -> str | None:
    """The emergency-number text the patient's cohort set, if they are in one that set it."""
    if patient_id is None:
        return None
    found = membership(db, patient_id)
    return found["emergency_text"] if found and found["emergency_text"] else None


def active_clinicians(db: Database) -> list[dict]:
    """Every clinician not removed, with their clinic's time zone (`clinic_timezone`)."""
    return list(
        db.query(
            "SELECT k.*, c.timezone AS clinic_timezone FROM clinicians k "
            "JOIN clinics c ON c.id = k.clinic_id WHERE k.removed_at IS NULL"
        )
    )


def cohort_ids(db: Database, clinic_id: int) -> list[int]:
    return [r["id"] for r in db.query("SELECT id FROM cohorts WHERE clinic_id = ?", [clinic_id])]


def left_since(db: Database, cohort_id: int, since: str) -> int:
    """How many left this cohort since `since` (stored time)."""
    return db.execute(
        "SELECT count(*) FROM memberships WHERE cohort_id = ? AND left_at >= ?", [cohort_id, since]
    ).fetchone()[0]


def joined_and_left_between(
    db: Database, cohort_id: int, since: str, until: str
) -> tuple[int, int]:
    """How many joined, and how many left, this cohort within [since, until) (stored times)."""
    row = db.execute(
        "SELECT sum(joined_at >= :since AND joined_at < :until), "
        "sum(left_at IS NOT NULL AND left_at >= :since AND left_at < :until) "
        "FROM memberships WHERE cohort_id = :cohort",
        {"since": since, "until": until, "cohort": cohort_id},
    ).fetchone()
    return row[0] or 0, row[1] or 0
