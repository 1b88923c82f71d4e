"""The read side of the research export (issue 17, task M): raw rows per cohort member.

Only the queries; jobs/research.py decides which rows go into which file. Members are the
cohort's current ones (clinics.members): a person who left the cohort, withdrew consent or was
deleted is absent from every export.
"""

from __future__ import annotations

from sqlite_utils import Database

# Audit-log events a research export carries (jobs/research.py names them).
EVENT_KINDS = (
    "red_flag",
    "red_flag_seen",
    "red_flag_mistake",
    "hold_lifted",
    "hold_kept",
    "prompts_paused",
    "prompts_resumed",
    "pause_ended",
    "cohort_joined",
    "cohort_left",
    "consent_withdrawn",
)


def checkins(db: Database, patient_id: int) -> list[dict]:
    """Every daily check-in row (answered or missed), by local date."""
    return list(
        db.query(
            "SELECT id, local_date, pain, status, answered_at FROM checkins "
            "WHERE patient_id = ? ORDER BY local_date",
            [patient_id],
        )
    )


def sessions(db: Database, patient_id: int) -> list[dict]:
    """Every session with its activity's name (`activity`), oldest first."""
    return list(
        db.query(
            "SELECT s.*, a.name AS activity FROM sessions s JOIN activities a "
            "ON a.id = s.activity_id WHERE s.patient_id = ? ORDER BY s.started_at, s.id",
            [patient_id],
        )
    )


def events(db: Database, patient_id: int) -> list[dict]:
    """The person's audit-log events of EVENT_KINDS, with `level` and `cohort` from the data."""
    marks = ", ".join("?" for _ in EVENT_KINDS)
    return list(
        db.query(
            "SELECT id, at, kind, json_extract(data, '$.level') AS level, "
            "json_extract(data, '$.cohort') AS cohort FROM events "
            f"WHERE patient_id = ? AND kind IN ({marks}) ORDER BY at, id",
            [patient_id, *EVENT_KINDS],
        )
    )


def lessons(db: Database, patient_id: int) -> list[dict]:
    """Lessons received, with the reaction (feedback) and the check question's answer."""
    return list(
        db.query(
            "SELECT lesson_id, sent_at, feedback, check_answer FROM lessons_sent "
            "WHERE patient_id = ? ORDER BY sent_at, id",
            [patient_id],
        )
    )


def outcome_sets(db: Database, patient_id: int) -> list[dict]:
    """Every outcome set of this person, oldest first."""
    return list(
        db.query(
            "SELECT * FROM outcome_sets WHERE patient_id = ? ORDER BY asked_at, id", [patient_id]
        )
    )


def outcome_answers(db: Database, patient_id: int) -> list[dict]:
    """Every outcome answer of this person with the goal's name for goal items (`goal_name`)."""
    return list(
        db.query(
            "SELECT a.*, g.name AS goal_name FROM outcome_answers a "
            "LEFT JOIN goals g ON a.item = 'goal:' || g.id AND g.patient_id = a.patient_id "
            "WHERE a.patient_id = ? ORDER BY a.set_id, a.id",
            [patient_id],
        )
    )


def rating_count(db: Database, patient_ids: list[int]) -> int:
    """How many daily pain ratings these people have stored (answered, with a number)."""
    if not patient_ids:
        return 0
    marks = ", ".join("?" for _ in patient_ids)
    return db.execute(
        f"SELECT count(*) FROM checkins WHERE patient_id IN ({marks}) "
        "AND status = 'answered' AND pain IS NOT NULL",
        patient_ids,
    ).fetchone()[0]
