"""The activities a person does, with their current dose (the pacing rule moves it)."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso


def add_activity(db: Database, patient_id: int, name: str, dose_minutes: int,
                 now: datetime) -> None:
    db.execute("INSERT INTO activities (patient_id, name, dose_minutes, created_at) "
               "VALUES (?, ?, ?, ?) ON CONFLICT (patient_id, name) DO NOTHING",
               [patient_id, name, dose_minutes, iso(now)])


def for_patient(db: Database, patient_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM activities WHERE patient_id = ? ORDER BY id",
                         [patient_id]))
