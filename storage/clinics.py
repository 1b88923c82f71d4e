"""Clinics, their clinicians and cohorts, and the patients who joined a cohort.

Access is decided in one place, `cohort_for`: a clinician sees a cohort only while they are an
active (not removed) clinician of the clinic that owns it. Every clinician command goes through it.
"""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime, timedelta

from sqlite_utils import Database

from bot.clock import iso
from storage import invites
from storage.db import new_id

CLINICIAN_INVITE_VALID = timedelta(days=7)
ENROL_LINK_VALID = timedelta(days=365)  # a waiting-room poster stays up; /cohort_link replaces it
# A fixed cohort start date lies from 12 weeks before to 26 weeks after the clinic's local today:
# a late-starting group can still be set up (a past date is confirmed first), a typo (2025 for
# 2026) cannot leave newcomers with a course that ended long ago, and no date is so far off that
# date arithmetic overflows.
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
    """A clinic by `#NUMBER`, or by its name (ignoring case and spaces at the ends); a bare
    number names a clinic only when no clinic is called that (`ambiguous_ref` tells)."""
    ref = ref.strip()
    if ref.startswith("#"):
        number = ref[1:]
        return clinic(db, int(number)) if number.isdecimal() and len(number) < 10 else None
    found = clinic_by_name(db, ref)
    if found is None and ref.isdecimal() and len(ref) < 10:
        found = clinic(db, int(ref))
    return found


def ambiguous_ref(db: Database, ref: str) -> bool:
    """A bare number that is both a clinic's name and another clinic's number."""
    ref = ref.strip()
    if not ref.isdecimal() or len(ref) >= 10:
        return False
    named, numbered = clinic_by_name(db, ref), clinic(db, int(ref))
    return named is not None and numbered is not None and named["id"] != numbered["id"]


def clinic_by_name(db: Database, name: str) -> dict | None:
    """The clinic with this name, ignoring case and spaces at the ends."""
    key = clean_clinic_name(name) or ""
    for row in db.query("SELECT * FROM clinics ORDER BY id"):
        if (clean_clinic_name(row["name"]) or "").casefold() == key.casefold():
            return row
    return None


CLINIC_NAME_MAX = 100


def clean_clinic_name(name: str) -> str | None:
    """The name trimmed, inner runs of spaces made one; None if empty or over 100 characters."""
    cleaned = " ".join(name.split())
    return cleaned if 1 <= len(cleaned) <= CLINIC_NAME_MAX else None


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
    """Access ends at once: every check reads `removed_at`; their queued digests are cancelled,
    and every unused clinician invite of their clinic is revoked (one could let them back in).
    `removal_blocked` says whether the command line should refuse it first."""
    staff = clinician(db, clinician_id)
    cursor = db.execute(
        "UPDATE clinicians SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
        [iso(now), clinician_id],
    )
    if cursor.rowcount == 1 and staff is not None:
        db.execute(
            "UPDATE outbox SET status = 'cancelled', last_error = 'clinician_removed' "
            "WHERE status = 'pending' AND kind IN ('digest', 'alert_clinician') "
            "AND json_extract(payload, '$.clinician_id') = ?",
            [clinician_id],
        )
        db.execute(
            "UPDATE invites SET revoked_at = ? WHERE kind = 'clinician' AND clinic_id = ? "
            "AND used_at IS NULL AND revoked_at IS NULL",
            [iso(now), staff["clinic_id"]],
        )
    return cursor.rowcount == 1


def removal_blocked(db: Database, clinician_id: int) -> int | None:
    """The number of patients who would be left with no one at the clinic, if this is the last
    active clinician of a clinic that has members; else None (removing them is fine)."""
    staff = clinician(db, clinician_id)
    if staff is None or staff["removed_at"]:
        return None
    others = db.execute(
        "SELECT count(*) FROM clinicians WHERE clinic_id = ? AND removed_at IS NULL AND id != ?",
        [staff["clinic_id"], clinician_id],
    ).fetchone()[0]
    members_now = db.execute(
        "SELECT count(*) FROM memberships m JOIN cohorts h ON h.id = m.cohort_id "
        "WHERE h.clinic_id = ? AND m.left_at IS NULL",
        [staff["clinic_id"]],
    ).fetchone()[0]
    return members_now if others == 0 and members_now else None


def clinic_invites(db: Database, now: datetime, clinic_id: int | None = None) -> list[dict]:
    """Clinician invites not used, revoked or expired (of one clinic, or all), oldest first."""
    sql = (
        "SELECT i.id, i.clinic_id, i.created_at, i.expires_at, i.claimed_by IS NOT NULL AS opened, "
        "c.name AS clinic_name FROM invites i JOIN clinics c ON c.id = i.clinic_id "
        "WHERE i.kind = 'clinician' AND i.used_at IS NULL AND i.revoked_at IS NULL "
        "AND i.expires_at > ?"
    )
    params: list = [iso(now)]
    if clinic_id is not None:
        sql += " AND i.clinic_id = ?"
        params.append(clinic_id)
    return list(db.query(sql + " ORDER BY i.id", params))


def revoke_clinic_invite(db: Database, invite_id: int, now: datetime) -> bool:
    """An unused clinician invite stops working at once."""
    cursor = db.execute(
        "UPDATE invites SET revoked_at = ? WHERE id = ? AND kind = 'clinician' "
        "AND used_at IS NULL AND revoked_at IS NULL",
        [iso(now), invite_id],
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


def cohort_named(db: Database, clinic_id: int, name: str) -> dict | None:
    """The clinic's cohort in use (not archived) with this name, ignoring case and spaces."""
    return _one(
        db,
        "SELECT * FROM cohorts WHERE clinic_id = ? AND archived_at IS NULL "
        "AND lower(trim(name)) = lower(trim(?)) ORDER BY id LIMIT 1",
        [clinic_id, name],
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
        or invite["kind"] not in ("cohort", PERSONAL_INVITE)
        or invite["revoked_at"]
        or invite["expires_at"] <= iso(now)
        or (invite["kind"] == PERSONAL_INVITE and invite["used_at"])
    ):
        return None
    found = cohort(db, invite["cohort_id"])
    if found is None or found["archived_at"]:
        return None
    if invite["kind"] == PERSONAL_INVITE:
        found["personal_invite_id"] = invite["id"]  # the offer carries it to the membership
    return found


# --- joining and leaving ---------------------------------------------------------------------


def make_offer(
    db: Database,
    cohort_id: int,
    user_id: int,
    terms_hash: str,
    now: datetime,
    invite_id: int | None = None,
) -> int:
    """What a person was shown; `invite_id` when they opened a personal enrolment link."""
    return new_id(
        db.table("cohort_offers").insert(
            {
                "cohort_id": cohort_id,
                "user_id": user_id,
                "terms_hash": terms_hash,
                "created_at": iso(now),
                "invite_id": invite_id,
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


def open_offer(db: Database, user_id: int, since: datetime) -> dict | None:
    """This person's newest offer shown after `since`, neither accepted nor declined."""
    return _one(
        db,
        "SELECT * FROM cohort_offers o WHERE user_id = ? AND accepted_at IS NULL "
        "AND membership_id IS NULL AND created_at > ? AND NOT EXISTS (SELECT 1 FROM events "
        "WHERE kind = 'cohort_offer_declined' AND json_extract(data, '$.offer') = o.id) "
        "ORDER BY id DESC LIMIT 1",
        [user_id, iso(since)],
    )


def claimed_clinician_invite(db: Database, user_id: int, now: datetime) -> dict | None:
    """The newest clinician invite this person opened that is still usable and not declined."""
    return _one(
        db,
        "SELECT * FROM invites i WHERE kind = 'clinician' AND claimed_by = ? AND used_at IS NULL "
        "AND revoked_at IS NULL AND expires_at > ? AND NOT EXISTS (SELECT 1 FROM events "
        "WHERE kind = 'clinician_invite_declined' AND json_extract(data, '$.invite') = i.id) "
        "ORDER BY id DESC LIMIT 1",
        [user_id, iso(now)],
    )


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
                "study_id": new_study_id(db),
                "reference": _personal_reference(db, offer_id, now),
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
    db.execute(  # their alert episodes end with the membership (issue 16)
        "UPDATE alert_episodes SET state = 'resolved', resolved_at = ?, resolved_how = 'left' "
        "WHERE patient_id = ? AND state != 'resolved'",
        [iso(now), row["patient_id"]],
    )
    return True


def members(db: Database, cohort_id: int) -> list[dict]:
    """The cohort's current members: patient rows with `membership_id`, `joined_at`, the clinic's
    `reference` and the membership's `study_id` (`member_label` names one).

    A patient who has withdrawn consent to the bot altogether is not shown at all.
    """
    return list(
        db.query(
            "SELECT p.*, m.id AS membership_id, m.joined_at, m.reference, m.study_id "
            "FROM memberships m "
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
    """The clinic's cohorts that are not archived (the digest covers these)."""
    return [
        r["id"]
        for r in db.query(
            "SELECT id FROM cohorts WHERE clinic_id = ? AND archived_at IS NULL", [clinic_id]
        )
    ]


def left_since(db: Database, cohort_id: int, since: str) -> int:
    """How many left this cohort since `since` (stored time)."""
    return db.execute(
        "SELECT count(*) FROM memberships WHERE cohort_id = ? AND left_at >= ?", [cohort_id, since]
    ).fetchone()[0]


# --- cohort hygiene: course end, archive, the change log, confirmations (issue 16) ----------

COURSE_WEEKS = 12


def course_end(start_date: str | None) -> date | None:
    """The last day of a fixed cohort's 12-week course (None for a rolling cohort)."""
    if not start_date:
        return None
    return date.fromisoformat(start_date) + timedelta(weeks=COURSE_WEEKS, days=-1)


def course_over(start_date: str | None, today: date) -> bool:
    """A fixed cohort whose 12 weeks ended before `today`: a newcomer follows their own course."""
    end = course_end(start_date)
    return end is not None and end < today


def archive_cohort(db: Database, cohort_id: int, clinician_id: int, now: datetime) -> bool:
    """The cohort's link stops, no more digests; members and the roster stay as they are."""
    cursor = db.execute(
        "UPDATE cohorts SET archived_at = ? WHERE id = ? AND archived_at IS NULL",
        [iso(now), cohort_id],
    )
    if cursor.rowcount != 1:
        return False
    db.execute(
        "UPDATE invites SET revoked_at = ? WHERE kind = 'cohort' AND cohort_id = ? "
        "AND revoked_at IS NULL",
        [iso(now), cohort_id],
    )
    db.execute(
        "UPDATE outbox SET status = 'cancelled', last_error = 'cohort_archived' "
        "WHERE status = 'pending' AND kind = 'digest' AND json_extract(payload, '$.cohort_id') = ?",
        [cohort_id],
    )
    log_change(db, cohort_id, clinician_id, "archive", None, "archived", now)
    return True


def log_change(
    db: Database,
    cohort_id: int,
    clinician_id: int | None,
    what: str,
    old: object,
    new: object,
    now: datetime,
) -> None:
    """One line of the cohort's change log (/cohort_log): who changed what, from what to what."""
    db.table("cohort_log").insert(
        {
            "cohort_id": cohort_id,
            "clinician_id": clinician_id,
            "at": iso(now),
            "what": what,
            "old": None if old is None else str(old),
            "new": None if new is None else str(new),
        }
    )


def change_log(db: Database, cohort_id: int) -> list[dict]:
    """The cohort's change log, oldest first, with each clinician's first name if still known."""
    return list(
        db.query(
            "SELECT g.*, k.first_name AS clinician_name FROM cohort_log g "
            "LEFT JOIN clinicians k ON k.id = g.clinician_id WHERE g.cohort_id = ? "
            "ORDER BY g.at, g.id",
            [cohort_id],
        )
    )


def ask_confirm(
    db: Database,
    clinician_id: int,
    action: str,
    cohort_id: int | None,
    args: dict,
    now: datetime,
) -> int:
    """A request held until the clinician confirms it with a button; returns its id."""
    return new_id(
        db.table("clinic_confirms").insert(
            {
                "clinician_id": clinician_id,
                "action": action,
                "cohort_id": cohort_id,
                "args": json.dumps(args, sort_keys=True),
                "created_at": iso(now),
            }
        )
    )


def pending_confirm(db: Database, confirm_id: int, since: datetime) -> dict | None:
    """An unanswered request made after `since`, with its clinician's user id."""
    found = _one(
        db,
        "SELECT f.*, k.user_id FROM clinic_confirms f JOIN clinicians k ON k.id = f.clinician_id "
        "WHERE f.id = ? AND f.answered_at IS NULL AND f.created_at > ? AND k.removed_at IS NULL",
        [confirm_id, iso(since)],
    )
    if found is not None:
        found["args"] = json.loads(found["args"])
    return found


def answer_confirm(db: Database, confirm_id: int, now: datetime) -> bool:
    cursor = db.execute(
        "UPDATE clinic_confirms SET answered_at = ? WHERE id = ? AND answered_at IS NULL",
        [iso(now), confirm_id],
    )
    return cursor.rowcount == 1


def set_own_course(db: Database, membership_id: int) -> None:
    """This member joined after the cohort's course had ended: they keep their own start."""
    db.execute("UPDATE memberships SET own_course = 1 WHERE id = ?", [membership_id])


# --- who is who, and who is told (issue 16: references, study ids, alert recipients) ---------

PERSONAL_INVITE = "cohort_personal"  # one patient's own enrolment link, with the clinic's reference
PERSONAL_LINK_VALID = timedelta(days=30)
REFERENCE_MAX = 40


def new_study_id(db: Database) -> str:
    """A random id for research exports (8 hex digits), unique among memberships."""
    while True:
        candidate = secrets.token_hex(4).upper()
        if not list(db.query("SELECT 1 FROM memberships WHERE study_id = ?", [candidate])):
            return candidate


def _personal_reference(db: Database, offer_id: int, now: datetime) -> str | None:
    """The reference of the personal link behind this offer, if this join is its first use."""
    found = offer(db, offer_id)
    if found is None or not found.get("invite_id"):
        return None
    cursor = db.execute(
        "UPDATE invites SET used_at = ?, claimed_by = ? WHERE id = ? AND used_at IS NULL "
        "AND revoked_at IS NULL",
        [iso(now), found["user_id"], found["invite_id"]],
    )
    if cursor.rowcount != 1:
        return None  # the link was used already (shared?): the clinic can set it with /ref
    return (invites.get(db, found["invite_id"]) or {}).get("reference")


def invite_patient(db: Database, cohort_id: int, reference: str, now: datetime) -> tuple[int, str]:
    """A personal enrolment link for one patient: single use, 30 days, carrying the clinic's
    reference to their membership. Returns (invite id, code)."""
    invite_id, code = invites.create(
        db,
        kind=PERSONAL_INVITE,
        patient_id=None,
        scope="cohort",
        now=now,
        valid_for=PERSONAL_LINK_VALID,
        cohort_id=cohort_id,
    )
    db.execute("UPDATE invites SET reference = ? WHERE id = ?", [reference, invite_id])
    return invite_id, code


def set_reference(db: Database, membership_id: int, reference: str | None) -> None:
    db.execute("UPDATE memberships SET reference = ? WHERE id = ?", [reference, membership_id])


def member_label(member: dict) -> str:
    """How the clinic names a member: first name, then the clinic's reference if set
    ("Ana · ref MRN-12"). Plain text; templates escape it."""
    name = member.get("first_name") or "A patient"
    reference = member.get("reference")
    return f"{name} · ref {reference}" if reference else name


def find_members(db: Database, user_id: int, key: str) -> list[dict]:
    """Current members of the cohorts this user may see (an active clinician of their clinic)
    whose patient number or clinic reference (any case) is `key`; with cohort and clinic."""
    number = int(key) if key.isascii() and key.isdecimal() and len(key) < 10 else -1
    return list(
        db.query(
            "SELECT p.*, m.id AS membership_id, m.cohort_id, m.reference, m.study_id, "
            "h.name AS cohort_name, h.clinic_id, c.name AS clinic_name FROM memberships m "
            "JOIN patients p ON p.id = m.patient_id JOIN cohorts h ON h.id = m.cohort_id "
            "JOIN clinics c ON c.id = h.clinic_id WHERE m.left_at IS NULL "
            "AND p.status != 'withdrawn' AND h.clinic_id IN (SELECT clinic_id FROM clinicians "
            "WHERE user_id = ? AND removed_at IS NULL) "
            "AND (p.id = ? OR lower(m.reference) = lower(?)) ORDER BY p.id",
            [user_id, number, key],
        )
    )


def responsible_ids(cohort_row: dict) -> list[int]:
    """The clinicians (ids) a cohort named as responsible; [] means every active clinician."""
    try:
        found = json.loads(cohort_row.get("responsible") or "[]")
    except (TypeError, ValueError):
        return []
    return [int(x) for x in found] if isinstance(found, list) else []


def alert_recipients(db: Database, patient_id: int) -> list[dict]:
    """Who is told of this patient's alerts: the active clinicians of their cohort's clinic, only
    the cohort's responsible ones if it named any still active (the others get the digest)."""
    staff = watchers(db, patient_id)
    if not staff:
        return []
    found = membership(db, patient_id)
    named = set(responsible_ids(cohort(db, found["cohort_id"]) or {})) if found else set()
    chosen = [s for s in staff if s["id"] in named]
    return chosen or staff


def set_work_hours(db: Database, clinic_id: int, days: str, start: str, end: str) -> None:
    """Working hours for non-urgent alerts: weekdays as '0,1,2,3,4' (Monday 0), HH:MM times."""
    db.execute(
        "UPDATE clinics SET work_days = ?, work_from = ?, work_to = ? WHERE id = ?",
        [days, start, end, clinic_id],
    )


def quiet_cohorts(db: Database) -> list[dict]:
    """Cohorts that asked to be told when a member goes quiet for `quiet_days` days."""
    return list(db.query("SELECT * FROM cohorts WHERE quiet_days IS NOT NULL AND quiet_days > 0"))


def clinician_in_clinic(db: Database, clinic_id: int, key: str) -> dict | None:
    """An active clinician of the clinic by number, or by first name or @username-less name."""
    for staff in clinicians_of(db, clinic_id):
        if (
            key.lstrip("#") == str(staff["id"])
            or key.lstrip("@").lower() == (staff["first_name"] or "").lower()
        ):
            return staff
    return None


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
