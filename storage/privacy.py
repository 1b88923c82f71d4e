"""A person's data rights: everything stored about them, exported or deleted.

`PERSONAL_TABLES` names every table that holds rows about a person and how they are found; a test
checks that every table in the schema is listed here or in `NOT_PERSONAL`, so a new table cannot
be forgotten by /mydata or /delete.
"""

from __future__ import annotations

import csv
import io
import json

from sqlite_utils import Database

# table -> (WHERE clause, which id it takes: "patient", "user" or "chat")
PERSONAL_TABLES: dict[str, tuple[str, str]] = {
    "patients": ("id = ?", "patient"),
    "consents": ("patient_id = ?", "patient"),
    "onboarding": ("user_id = ?", "user"),
    "checkins": ("patient_id = ?", "patient"),
    "awaiting": ("patient_id = ?", "patient"),
    "activities": ("patient_id = ?", "patient"),
    "sessions": ("patient_id = ?", "patient"),
    "sitting_breaks": ("patient_id = ?", "patient"),
    "sitting_off": ("patient_id = ?", "patient"),
    "lessons_sent": ("patient_id = ?", "patient"),
    "events": ("patient_id = ?", "patient"),
    "outbox": ("patient_id = ? OR chat_id = ?", "patient+chat"),
    "caregivers": ("patient_id = ? OR user_id = ?", "patient+user"),
    "invites": ("patient_id = ?", "patient"),
    "invite_failures": ("user_id = ?", "user"),
    "alert_episodes": ("patient_id = ?", "patient"),
    "clinic_messages": ("patient_id = ?", "patient"),
    "memberships": ("patient_id = ?", "patient"),
    "cohort_offers": ("user_id = ?", "user"),
    "clinicians": ("user_id = ?", "user"),  # a clinician's own row (name, chat)
    "inbox": ("chat_id = ?", "chat"),  # updates as received (scrubbed after a day)
}
# Clinics and cohorts describe organisations, not people; planner_marks holds one row: where
# record_missed_days resumes; liveness when each tick last ran.
NOT_PERSONAL = {
    "_sqlite_migrations",
    "sqlite_sequence",
    "clinics",
    "cohorts",
    "planner_marks",
    "liveness",
}


def _params(kind: str, patient_id: int | None, user_id: int, chat_id: int) -> list | None:
    values = {"patient": patient_id, "user": user_id, "chat": chat_id}
    params = [values[k] for k in kind.split("+")]
    return None if any(p is None for p in params) else params


def collect(db: Database, patient_id: int | None, user_id: int, chat_id: int) -> dict:
    """Every row about this person, by table."""
    found = {}
    for table, (where, kind) in PERSONAL_TABLES.items():
        params = _params(kind, patient_id, user_id, chat_id)
        if params is None or table not in db.table_names():
            continue
        found[table] = list(db.query(f"SELECT * FROM [{table}] WHERE {where}", params))
    return found


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


def delete(db: Database, patient_id: int | None, user_id: int, chat_id: int) -> dict[str, int]:
    """Remove every row about this person; returns how many rows per table (for the receipt).

    Call inside a transaction. Children are deleted before the patient row, so the counts are
    honest rather than hidden in ON DELETE CASCADE.
    """
    counts = {}
    for table, (where, kind) in reversed(PERSONAL_TABLES.items()):
        params = _params(kind, patient_id, user_id, chat_id)
        if params is None or table not in db.table_names():
            continue
        counts[table] = db.execute(f"DELETE FROM [{table}] WHERE {where}", params).rowcount
    return {t: n for t, n in counts.items() if n}
