"""Activity sessions: the B, A, S, N answers of one go at one activity, and its pacing decision."""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso
from storage.db import new_id

# Stages a session moves through; the last four are final ("stopped": consent was withdrawn
# while it was open, so it is kept as it was and never decided).
OPEN_STAGES = ("before", "doing", "after", "waiting")
FINAL_STAGES = ("decided", "incomplete", "cancelled", "stopped")


def create(
    db: Database,
    *,
    patient_id: int,
    activity_id: int,
    dose_minutes: int,
    started_at: datetime,
    now: datetime,
    stage: str,
    logged: bool = False,
    ended_at: datetime | None = None,
    before: int | None = None,
    before_source: str | None = None,
) -> int:
    return new_id(
        db.table("sessions").insert(
            {
                "patient_id": patient_id,
                "activity_id": activity_id,
                "dose_minutes": dose_minutes,
                "logged": int(logged),
                "started_at": iso(started_at),
                "ended_at": iso(ended_at) if ended_at else None,
                "before": before,
                "before_source": before_source,
                "stage": stage,
                "created_at": iso(now),
            }
        )
    )


def get(db: Database, session_id: int) -> dict | None:
    rows = list(
        db.query(
            "SELECT s.*, a.name AS activity, a.dose_minutes AS current_dose, "
            "a.paused_until FROM sessions s JOIN activities a ON a.id = s.activity_id "
            "WHERE s.id = ?",
            [session_id],
        )
    )
    return rows[0] if rows else None


def existing(db: Database, session_id: int) -> dict:
    """`get` for a session the caller has just written or read: its absence is a bug."""
    row = get(db, session_id)
    if row is None:
        raise LookupError(f"session {session_id} does not exist")
    return row


def owned(db: Database, session_id: int, patient_id: int) -> dict | None:
    """The session, only if it belongs to this patient (button data is never trusted)."""
    row = get(db, session_id)
    return row if row is not None and row["patient_id"] == patient_id else None


def update(db: Database, session_id: int, **fields: object) -> None:
    db.table("sessions").update(session_id, fields)


def set_if_empty(
    db: Database,
    session_id: int,
    field: str,
    value: object,
    stage_from: str | tuple[str, ...],
    stage_to: str | None = None,
    **extra: object,
) -> bool:
    """Store one answer only if it is still unanswered at that stage; True if this call stored it.

    The guard in the WHERE clause makes a double tap or a redelivered update a no-op.
    """
    stages = (stage_from,) if isinstance(stage_from, str) else stage_from
    sets = {field: value, **extra}
    if stage_to is not None:
        sets["stage"] = stage_to
    assignments = ", ".join(f"{k} = ?" for k in sets)
    marks = ", ".join("?" for _ in stages)
    cursor = db.execute(
        f"UPDATE sessions SET {assignments} WHERE id = ? AND {field} IS NULL "
        f"AND stage IN ({marks})",
        [*sets.values(), session_id, *stages],
    )
    return cursor.rowcount == 1


def open_for(db: Database, patient_id: int) -> list[dict]:
    marks = ", ".join("?" for _ in OPEN_STAGES)
    return list(
        db.query(
            "SELECT s.*, a.name AS activity FROM sessions s "
            "JOIN activities a ON a.id = s.activity_id "
            f"WHERE s.patient_id = ? AND s.stage IN ({marks}) ORDER BY s.started_at",
            [patient_id, *OPEN_STAGES],
        )
    )


def in_progress(db: Database, patient_id: int) -> dict | None:
    """A session started live and not yet ended (the person is doing it now)."""
    rows = [s for s in open_for(db, patient_id) if s["stage"] in ("before", "doing")]
    return rows[-1] if rows else None


def waiting_next_day(
    db: Database, patient_id: int, earliest_start: datetime, latest_start: datetime
) -> list[dict]:
    """Sessions with A known and N missing that started inside the window (N is due for them)."""
    return list(
        db.query(
            "SELECT s.*, a.name AS activity FROM sessions s "
            "JOIN activities a ON a.id = s.activity_id "
            "WHERE s.patient_id = ? AND s.stage = 'waiting' AND s.next_day IS NULL "
            "AND s.started_at BETWEEN ? AND ? ORDER BY s.started_at",
            [patient_id, iso(earliest_start), iso(latest_start)],
        )
    )


def open_started_before(db: Database, moment: datetime) -> list[dict]:
    """Undecided sessions that started before `moment` (candidates for a deadline decision)."""
    marks = ", ".join("?" for _ in OPEN_STAGES)
    return list(
        db.query(
            f"SELECT id, patient_id, started_at FROM sessions WHERE stage IN ({marks}) "
            "AND started_at < ? ORDER BY id",
            [*OPEN_STAGES, iso(moment)],
        )
    )


def decided_for_activity(db: Database, activity_id: int, before_id: int) -> list[dict]:
    """Earlier decided sessions of one activity, most recent decision first."""
    return list(
        db.query(
            "SELECT * FROM sessions WHERE activity_id = ? AND stage = 'decided' AND id != ? "
            "ORDER BY decided_at DESC, id DESC",
            [activity_id, before_id],
        )
    )


def record_decision(db: Database, session_id: int, decision: dict, now: datetime) -> bool:
    """Store the verdict with its findings, thresholds and rule version, once."""
    stage = "decided" if decision["status"] == "decided" else "incomplete"
    cursor = db.execute(
        "UPDATE sessions SET stage = ?, verdict = ?, findings = ?, partial = ?, next_dose = ?, "
        "pause_days = ?, thresholds = ?, rule_version = ?, decided_at = ? "
        f"WHERE id = ? AND stage NOT IN ({', '.join('?' for _ in FINAL_STAGES)})",
        [
            stage,
            decision["verdict"],
            json.dumps(decision["findings"]),
            int(decision["partial"]),
            decision["next_dose"],
            decision["pause_days"],
            json.dumps(decision["thresholds"]),
            decision["rule_version"],
            iso(now),
            session_id,
            *FINAL_STAGES,
        ],
    )
    return cursor.rowcount == 1


def since(db: Database, patient_id: int, started_after: datetime) -> list[dict]:
    return list(
        db.query(
            "SELECT s.*, a.name AS activity FROM sessions s "
            "JOIN activities a ON a.id = s.activity_id "
            "WHERE s.patient_id = ? AND s.started_at >= ? AND s.stage != 'cancelled' "
            "ORDER BY s.started_at",
            [patient_id, iso(started_after)],
        )
    )


def decided(db: Database, patient_id: int) -> list[dict]:
    """This person's sessions with a decision (verdict, decided_at, started_at...)."""
    return list(
        db.query("SELECT * FROM sessions WHERE patient_id = ? AND stage = 'decided'", [patient_id])
    )


def with_activity_names(db: Database, patient_id: int) -> list[dict]:
    """Every session of this person with its activity's name (`activity`), oldest first."""
    return list(
        db.query(
            "SELECT s.*, a.name AS activity FROM sessions s JOIN activities a "
            "ON a.id = s.activity_id WHERE s.patient_id = ? ORDER BY s.id",
            [patient_id],
        )
    )


def mark_done(db: Database, session_id: int, now: datetime) -> bool:
    """Done tapped: the session moves to 'after' (once; False if it was not under way)."""
    return (
        db.execute(
            "UPDATE sessions SET ended_at = ?, stage = 'after' WHERE id = ? AND stage = 'doing'",
            [iso(now), session_id],
        ).rowcount
        == 1
    )


def mark_cancelled(db: Database, session_id: int) -> bool:
    """Not done after all (once; False if it had got past 'doing')."""
    return (
        db.execute(
            "UPDATE sessions SET stage = 'cancelled' WHERE id = ? AND stage IN ('before', 'doing')",
            [session_id],
        ).rowcount
        == 1
    )


def live_unfinished(db: Database, started_after: datetime) -> list[dict]:
    """Live sessions still under way (Done not tapped) of active people, started after
    `started_after`: each gets one "Finished?" question (jobs.sessions.plan_finish_checks)."""
    return list(
        db.query(
            "SELECT s.id, s.patient_id, s.started_at, s.dose_minutes, p.chat_id "
            "FROM sessions s JOIN patients p ON p.id = s.patient_id "
            "WHERE s.stage = 'doing' AND s.logged = 0 AND s.started_at >= ? "
            "AND p.status = 'active'",
            [iso(started_after)],
        )
    )


# -- a decision taken again (issue 15: a next-day rating corrected within its 10 minutes) -------


def decided_since(db: Database, patient_id: int, since: datetime) -> list[dict]:
    """This person's sessions decided at or after `since` (a pain-now rating may have decided
    them), each the latest decision of its activity (nothing taken later rests on it)."""
    return list(
        db.query(
            "SELECT s.* FROM sessions s WHERE s.patient_id = ? AND s.stage = 'decided' "
            "AND s.decided_at >= ? AND s.next_day IS NOT NULL AND NOT EXISTS ("
            "SELECT 1 FROM sessions t WHERE t.activity_id = s.activity_id AND t.id != s.id "
            "AND t.decided_at > s.decided_at)",
            [patient_id, iso(since)],
        )
    )


def reopen_with_next_day(db: Database, session_id: int, next_day: int) -> bool:
    """Undo the stored decision of a session (to take it again) with a corrected N."""
    return (
        db.execute(
            "UPDATE sessions SET stage = 'waiting', verdict = NULL, findings = NULL, "
            "partial = 0, next_dose = NULL, pause_days = NULL, thresholds = NULL, "
            "rule_version = NULL, decided_at = NULL, next_day = ? "
            "WHERE id = ? AND stage = 'decided'",
            [next_day, session_id],
        ).rowcount
        == 1
    )
