"""Outcome questionnaires (issue 17, migration m020_outcomes): sets, answers and personal goals.

The write side (task K). A set is one instrument at one timepoint, UNIQUE per person, so asking
twice is a no-op; an answer is one row per item, UNIQUE per set, so a double tap or a redelivered
update stores nothing twice (the first answer stands). Pure definitions: bot.rules.outcomes.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso
from bot.rules.outcomes import MAX_GOALS


# -- sets ------------------------------------------------------------------------------------
def create_set(
    db: Database, patient_id: int, instrument: str, timepoint: str, now: datetime
) -> int | None:
    """Open a set; None when this person already has one for this instrument and timepoint."""
    cur = db.execute(
        "INSERT OR IGNORE INTO outcome_sets (patient_id, instrument, timepoint, asked_at) "
        "VALUES (?, ?, ?, ?)",
        [patient_id, instrument, timepoint, iso(now)],
    )
    return int(cur.lastrowid or 0) if cur.rowcount else None


def get_set(db: Database, set_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM outcome_sets WHERE id = ?", [set_id]))
    return rows[0] if rows else None


def find_set(db: Database, patient_id: int, instrument: str, timepoint: str) -> dict | None:
    rows = list(
        db.query(
            "SELECT * FROM outcome_sets WHERE patient_id = ? AND instrument = ? AND timepoint = ?",
            [patient_id, instrument, timepoint],
        )
    )
    return rows[0] if rows else None


def has_any(db: Database, patient_id: int, instrument: str) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM outcome_sets WHERE patient_id = ? AND instrument = ? LIMIT 1",
            [patient_id, instrument],
        ).fetchone()
        is not None
    )


def open_sets(db: Database, patient_id: int) -> list[dict]:
    """This person's open sets, oldest first."""
    return list(
        db.query(
            "SELECT * FROM outcome_sets WHERE patient_id = ? AND status = 'open' "
            "ORDER BY asked_at, id",
            [patient_id],
        )
    )


def close_set(db: Database, set_id: int, status: str, now: datetime) -> bool:
    """An open set closes (complete | partial | skipped | expired); False if already closed."""
    return bool(
        db.execute(
            "UPDATE outcome_sets SET status = ?, closed_at = ? WHERE id = ? AND status = 'open'",
            [status, iso(now), set_id],
        ).rowcount
    )


def mark_reminded(db: Database, set_id: int, now: datetime) -> bool:
    return bool(
        db.execute(
            "UPDATE outcome_sets SET reminded_at = ? WHERE id = ? AND reminded_at IS NULL "
            "AND status = 'open'",
            [iso(now), set_id],
        ).rowcount
    )


def open_asked_before(db: Database, before: datetime) -> list[dict]:
    """Open sets (everyone's) asked before `before`: due a reminder, or due to close."""
    return list(
        db.query(
            "SELECT * FROM outcome_sets WHERE status = 'open' AND asked_at <= ? "
            "ORDER BY patient_id, asked_at, id",
            [iso(before)],
        )
    )


# -- answers ---------------------------------------------------------------------------------
def record_answer(
    db: Database,
    set_id: int,
    patient_id: int,
    item: str,
    value: int | None,
    now: datetime,
) -> bool:
    """Store one item's answer (value None: skipped); False if that item was answered already."""
    cur = db.execute(
        "INSERT OR IGNORE INTO outcome_answers (set_id, patient_id, item, value, skipped, "
        "answered_at) VALUES (?, ?, ?, ?, ?, ?)",
        [set_id, patient_id, item, value, 1 if value is None else 0, iso(now)],
    )
    return bool(cur.rowcount)


def answers(db: Database, set_id: int) -> dict[str, dict]:
    """The set's answers by item."""
    return {
        r["item"]: r
        for r in db.query("SELECT * FROM outcome_answers WHERE set_id = ? ORDER BY id", [set_id])
    }


def latest_grc(db: Database, patient_id: int, before_set: int | None = None) -> dict | None:
    """The person's most recent global rating answered (not skipped), with its set's timepoint."""
    sql = (
        "SELECT a.value, a.answered_at, s.timepoint, s.id AS set_id FROM outcome_answers a "
        "JOIN outcome_sets s ON s.id = a.set_id WHERE a.patient_id = ? AND s.instrument = 'grc' "
        "AND a.item = 'grc' AND a.skipped = 0"
    )
    params: list = [patient_id]
    if before_set is not None:
        sql += " AND s.id < ?"
        params.append(before_set)
    rows = list(db.query(sql + " ORDER BY a.answered_at DESC, a.id DESC LIMIT 1", params))
    return rows[0] if rows else None


def goal_values(db: Database, patient_id: int) -> list[dict]:
    """Every goal rating of this person: item, timepoint, value (None: skipped), oldest first."""
    return list(
        db.query(
            "SELECT a.item, a.value, s.timepoint, a.answered_at FROM outcome_answers a "
            "JOIN outcome_sets s ON s.id = a.set_id WHERE a.patient_id = ? "
            "AND s.instrument = 'goals' AND a.item LIKE 'goal:%' ORDER BY a.answered_at, a.id",
            [patient_id],
        )
    )


# -- goals -----------------------------------------------------------------------------------
def current_goals(db: Database, patient_id: int) -> list[dict]:
    return list(
        db.query(
            "SELECT * FROM goals WHERE patient_id = ? AND removed_at IS NULL ORDER BY position, id",
            [patient_id],
        )
    )


def add_goal(db: Database, patient_id: int, name: str, now: datetime) -> int | None:
    """A new goal in the next free position; None when three are current already."""
    taken = [g["position"] for g in current_goals(db, patient_id)]
    free = [p for p in range(1, MAX_GOALS + 1) if p not in taken]
    if not free:
        return None
    cur = db.execute(
        "INSERT INTO goals (patient_id, position, name, created_at) VALUES (?, ?, ?, ?)",
        [patient_id, free[0], name, iso(now)],
    )
    return int(cur.lastrowid or 0)


def get_goal(db: Database, goal_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM goals WHERE id = ?", [goal_id]))
    return rows[0] if rows else None
