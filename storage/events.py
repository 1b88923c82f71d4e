"""The append-only audit log of decisions and changes (what the bot decided and why)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso
from storage.db import new_id


def record(db: Database, now: datetime, kind: str, patient_id: int | None = None,
           **data: object) -> int:
    return new_id(db.table("events").insert({"at": iso(now), "patient_id": patient_id, "kind": kind,
                                "data": json.dumps(data, ensure_ascii=False, default=str)}))


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
