"""The append-only audit log of decisions and changes (what the bot decided and why)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso


def record(db: Database, now: datetime, kind: str, patient_id: int | None = None,
           **data: object) -> int:
    return db["events"].insert({"at": iso(now), "patient_id": patient_id, "kind": kind,
                                "data": json.dumps(data, ensure_ascii=False, default=str)}).last_pk


def for_patient(db: Database, patient_id: int, kind: str | None = None) -> list[dict]:
    sql, params = "SELECT * FROM events WHERE patient_id = ?", [patient_id]
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    rows = list(db.query(sql + " ORDER BY id", params))
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows
