"""When each scheduler tick last finished: written by the ticks, read by `backpain-bot health`."""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.clock import iso, parse_iso


def beat(db: Database, name: str, now: datetime) -> None:
    """Record that tick `name` ran to the end at `now`."""
    db.execute(
        "INSERT INTO liveness (name, at) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET at = excluded.at",
        [name, iso(now)],
    )


def last(db: Database, name: str) -> datetime | None:
    """When tick `name` last finished, or None if it never has."""
    row = db.execute("SELECT at FROM liveness WHERE name = ?", [name]).fetchone()
    return parse_iso(row[0]) if row else None


def mark(db: Database, name: str) -> str | None:
    """Where a tick resumes (planner_marks), e.g. 'missed_days'."""
    row = db.execute("SELECT value FROM planner_marks WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def set_mark(db: Database, name: str, value: str) -> None:
    db.execute(
        "INSERT INTO planner_marks (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [name, value],
    )
