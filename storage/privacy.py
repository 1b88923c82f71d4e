"""A person's data rights: everything stored about them, exported or deleted, whatever their role
(patient, caregiver, clinician, or someone who only opened a link).

`PERSONAL_TABLES` names every table that holds rows about a person and how they are found: a list
of lookups, OR-ed, each on one of the person's ids; a lookup whose id the person does not have (a
caregiver has no patient id) is left out, the others still run. A test checks that every table in
the schema is listed here or in `NOT_PERSONAL`, and that every column holding a person's id is
looked up here or declared in `UNMAPPED_COLUMNS`, so a new table or column cannot be forgotten by
/mydata or /delete.
"""

from __future__ import annotations

import csv
import io
import json

from markupsafe import escape
from sqlite_utils import Database

# Which id a lookup takes: "patient" (patients.id), "user" (Telegram user id), "chat" (the
# private chat's id).
CLINICIAN_OF_USER = "clinician_id IN (SELECT id FROM clinicians WHERE user_id = ?)"

# table -> ((SQL condition with one ?, which id), ...): a row is the person's if any holds.
PERSONAL_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "patients": (("id = ?", "patient"),),
    "consents": (("patient_id = ?", "patient"),),
    "onboarding": (("user_id = ?", "user"), ("patient_id = ?", "patient")),
    "checkins": (("patient_id = ?", "patient"),),
    "awaiting": (("patient_id = ?", "patient"),),
    "activities": (("patient_id = ?", "patient"),),
    "sessions": (("patient_id = ?", "patient"),),
    "sitting_breaks": (("patient_id = ?", "patient"),),
    "sitting_off": (("patient_id = ?", "patient"),),
    "lessons_sent": (("patient_id = ?", "patient"),),
    "events": (("patient_id = ?", "patient"),),
    # Outcome questions (issue 17): sets before their answers, so answers are deleted first.
    "outcome_sets": (("patient_id = ?", "patient"),),
    "outcome_answers": (("patient_id = ?", "patient"),),
    "goals": (("patient_id = ?", "patient"),),
    # Messages about them (wherever they went) and every message to their chat.
    "outbox": (("patient_id = ?", "patient"), ("chat_id = ?", "chat")),
    # A patient's links and invites; a caregiver's own links, and the invites they opened.
    "caregivers": (("patient_id = ?", "patient"), ("user_id = ?", "user")),
    "invites": (("patient_id = ?", "patient"), ("claimed_by = ?", "user")),
    "invite_failures": (("user_id = ?", "user"),),
    "alert_episodes": (("patient_id = ?", "patient"),),
    # /message and /contact rows: the patient's, and those a clinician wrote.
    "clinic_messages": (("patient_id = ?", "patient"), (CLINICIAN_OF_USER, "user")),
    "memberships": (("patient_id = ?", "patient"),),
    "cohort_offers": (("user_id = ?", "user"),),
    "clinicians": (("user_id = ?", "user"),),  # a clinician's own rows (name, chat)
    "clinic_confirms": ((CLINICIAN_OF_USER, "user"),),  # after clinicians: deleted first
    "inbox": (("chat_id = ?", "chat"),),  # updates as received (scrubbed after a day)
}
# Organisations, not people, and the machinery: clinics and cohorts (names, settings);
# cohort_log (who changed a cohort's settings: a clinician's row number, kept as the clinic's
# audit trail; the name is read from `clinicians` and is gone after that clinician's /delete);
# planner_marks (where record_missed_days resumes); liveness (when each tick last ran).
NOT_PERSONAL = {
    "_sqlite_migrations",
    "sqlite_sequence",
    "clinics",
    "cohorts",
    "cohort_log",
    "planner_marks",
    "liveness",
}
# Columns holding a person's id that no lookup uses, and why that is safe.
ID_COLUMNS = ("user_id", "chat_id", "patient_id", "claimed_by", "clinician_id")
UNMAPPED_COLUMNS = {
    ("patients", "user_id"): "their patient row is found by its id, which patient_of reads",
    ("patients", "chat_id"): "as above",
    ("onboarding", "chat_id"): "the private chat of the user_id looked up",
    ("caregivers", "chat_id"): "the private chat of the user_id looked up",
    ("clinicians", "chat_id"): "the private chat of the user_id looked up",
    ("cohort_log", "clinician_id"): "a row number for the clinic's audit trail (NOT_PERSONAL)",
}


def _lookups(table: str, ids: dict[str, int | None]) -> tuple[str, list] | None:
    """The WHERE clause and parameters for this person, or None if no lookup applies."""
    parts = [(cond, ids[kind]) for cond, kind in PERSONAL_TABLES[table] if ids[kind] is not None]
    if not parts:
        return None
    return " OR ".join(f"({cond})" for cond, _ in parts), [value for _, value in parts]


def _ids(patient_id: int | None, user_id: int | None, chat_id: int | None) -> dict:
    return {"patient": patient_id, "user": user_id, "chat": chat_id}


def collect(db: Database, patient_id: int | None, user_id: int, chat_id: int) -> dict:
    """Every row about this person, by table. Other people's Telegram ids in it (a patient's
    caregivers, the chats of the clinic's staff) are replaced by their names."""
    found = {}
    names = set(db.table_names())
    ids = _ids(patient_id, user_id, chat_id)
    for table in PERSONAL_TABLES:
        lookup = _lookups(table, ids)
        if lookup is None or table not in names:
            continue
        where, params = lookup
        found[table] = list(db.query(f"SELECT * FROM [{table}] WHERE {where}", params))
    return _others_named(db, found, user_id, chat_id)


def _others_named(db: Database, data: dict, user_id: int, chat_id: int) -> dict:
    """Someone else's Telegram ids out, their first name (or the clinic's name) in."""
    who: dict[int, str] = {}
    for row in data.get("caregivers", []):
        if row["user_id"] != user_id:
            who[row["chat_id"]] = f"caregiver {row['first_name']}".strip()
            row["user_id"] = row["chat_id"] = None
    for row in data.get("memberships", []):
        place = next(
            iter(
                db.query(
                    "SELECT h.name AS cohort_name, c.name AS clinic_name, c.id AS clinic_id "
                    "FROM cohorts h JOIN clinics c ON c.id = h.clinic_id WHERE h.id = ?",
                    [row["cohort_id"]],
                )
            ),
            None,
        )
        if place:
            row["cohort_name"], row["clinic_name"] = place["cohort_name"], place["clinic_name"]
            for staff in db.query(
                "SELECT chat_id FROM clinicians WHERE clinic_id = ?", [place["clinic_id"]]
            ):
                who.setdefault(staff["chat_id"], f"clinic {place['clinic_name']}")
    for row in data.get("invites", []):
        if row["claimed_by"] is not None and row["claimed_by"] != user_id:
            row["claimed_by"] = None
            row["opened_by_someone"] = True
    for row in data.get("outbox", []):
        if row["chat_id"] != chat_id:
            row["sent_to"] = who.get(row["chat_id"], "someone else")
            row["chat_id"] = None
    return data


def as_json(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1, default=str).encode("utf-8")


def as_csv(data: dict) -> bytes:
    """One row per stored value: table, row id, column, value (opens in any spreadsheet)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["table", "row", "column", "value"])
    for table, rows in data.items():
        for n, row in enumerate(rows):
            for column, value in row.items():
                writer.writerow([table, row.get("id", n + 1), column, value])
    return out.getvalue().encode("utf-8")


def links_as_caregiver(db: Database, user_id: int) -> list[dict]:
    """The active links where this user is the caregiver (their patients are told of a /delete)."""
    return list(
        db.query(
            "SELECT c.*, p.chat_id AS patient_chat, p.first_name AS patient_name "
            "FROM caregivers c JOIN patients p ON p.id = c.patient_id "
            "WHERE c.user_id = ? AND c.ended_at IS NULL",
            [user_id],
        )
    )


def scrub_addressed_to_others(db: Database, patient_id: int) -> int:
    """The patient's name and figures out of sent messages in other people's chats: their
    caregivers (and whoever opened their invites) and the staff of every clinic they were a
    member of (rosters). Rows about the patient are deleted with them; these rows are about others
    too, so only their text goes ({} as the retention purge leaves it). Returns how many."""
    chats = [
        r["chat"]
        for r in db.query(
            "SELECT chat_id AS chat FROM caregivers WHERE patient_id = :p "
            "UNION SELECT claimed_by FROM invites WHERE patient_id = :p AND claimed_by IS NOT NULL "
            "UNION SELECT k.chat_id FROM memberships m JOIN cohorts h ON h.id = m.cohort_id "
            "JOIN clinicians k ON k.clinic_id = h.clinic_id WHERE m.patient_id = :p",
            {"p": patient_id},
        )
    ]
    if not chats:
        return 0
    owner = next(iter(db.query("SELECT first_name FROM patients WHERE id = ?", [patient_id])), None)
    name = (owner or {}).get("first_name") or ""
    # As the name appears in a stored payload: HTML-escaped in the text, then JSON-encoded.
    needle = json.dumps(str(escape(name)), ensure_ascii=False)[1:-1]
    marks = ", ".join("?" for _ in chats)
    return db.execute(
        f"UPDATE outbox SET payload = '{{}}' WHERE chat_id IN ({marks}) "
        "AND status NOT IN ('pending', 'sending') AND payload != '{}' "
        "AND json_extract(payload, '$.text') IS NOT NULL AND instr(payload, ?) > 0",
        [*chats, needle],
    ).rowcount


def delete(db: Database, patient_id: int | None, user_id: int, chat_id: int) -> dict[str, int]:
    """Remove every row about this person; returns how many rows per table (for the receipt).

    Call inside a transaction. A patient's name and figures in messages sent to others are
    scrubbed first. Children are deleted before the patient row, so the counts are honest rather
    than hidden in ON DELETE CASCADE.
    """
    counts = {}
    if patient_id is not None:
        scrub_addressed_to_others(db, patient_id)
    names = set(db.table_names())
    ids = _ids(patient_id, user_id, chat_id)
    for table in reversed(PERSONAL_TABLES):
        lookup = _lookups(table, ids)
        if lookup is None or table not in names:
            continue
        where, params = lookup
        counts[table] = db.execute(f"DELETE FROM [{table}] WHERE {where}", params).rowcount
    return {t: n for t, n in counts.items() if n}
