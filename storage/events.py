"""The append-only audit log of decisions and changes (what the bot decided and why)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso
from storage.db import new_id


def record(
    db: Database, now: datetime, kind: str, patient_id: int | None = None, **data: object
) -> int:
    return new_id(
        db.table("events").insert(
            {
                "at": iso(now),
                "patient_id": patient_id,
                "kind": kind,
                "data": json.dumps(data, ensure_ascii=False, default=str),
            }
        )
    )


def for_patient(db: Database, patient_id: int, kind: str | None = None) -> list[dict]:
    sql = "SELECT * FROM events WHERE patient_id = ?"
    params: list[int | str] = [patient_id]
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    rows = list(db.query(sql + " ORDER BY id", params))
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows


def red_flag_reports(db: Database, patient_id: int) -> list[dict]:
    """Every confirmed warning sign: its time and level, oldest first."""
    return list(
        db.query(
            "SELECT at, json_extract(data, '$.level') AS level FROM events "
            "WHERE patient_id = ? AND kind = 'red_flag' ORDER BY id",
            [patient_id],
        )
    )


def soon_signs_since(db: Database, patient_id: int, since: str) -> int:
    """How many "see a doctor soon" signs were reported since `since` (stored time)."""
    return db.execute(
        "SELECT count(*) FROM events WHERE patient_id = ? AND kind = 'red_flag' "
        "AND json_extract(data, '$.level') = 'soon' AND at >= ?",
        [patient_id, since],
    ).fetchone()[0]


def seen_since_report(db: Database, patient_id: int) -> bool:
    """Has the patient said they were seen since their latest emergency report?"""
    row = db.execute(
        "SELECT max(CASE WHEN kind = 'red_flag' THEN id END), "
        "max(CASE WHEN kind = 'red_flag_seen' THEN id END) FROM events WHERE patient_id = ? "
        "AND (kind = 'red_flag_seen' OR (kind = 'red_flag' "
        "AND json_extract(data, '$.level') = 'emergency'))",
        [patient_id],
    ).fetchone()
    return row[1] is not None and (row[0] is None or row[1] > row[0])


def last_full_advice(db: Database, patient_id: int) -> str | None:
    """When the whole hold advice was last given (an emergency report gives it too)."""
    row = db.execute(
        "SELECT max(at) FROM events WHERE patient_id = ? AND (kind = 'hold_advice' OR "
        "(kind = 'red_flag' AND json_extract(data, '$.level') = 'emergency'))",
        [patient_id],
    ).fetchone()
    return row[0] if row and row[0] else None
