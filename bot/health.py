"""`backpain-bot health`: is the database there, intact, migrated, and are the ticks running?

It never creates nor changes anything: the database is opened read-only (`mode=ro`), so a
missing file or an unmounted volume is reported, not papered over with a new empty database.
Liveness comes from the `liveness` table the ticks write (storage/liveness.py): a tick whose last
beat is older than three of its intervals, or that never beat, means the process is stuck or gone.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlite_utils

from bot.clock import parse_iso
from bot.settings import Settings

STALE_AFTER = 3  # intervals without a beat before a tick counts as stopped


@dataclass(frozen=True)
class Check:
    ok: bool
    line: str

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'unhealthy'}: {self.line}"


def _file_checks(path: Path) -> list[Check]:
    if not path.parent.is_dir():
        return [
            Check(
                False,
                f"the folder {path.parent} does not exist (is the volume mounted?); "
                "nothing was created",
            )
        ]
    if not path.is_file():
        return [
            Check(
                False,
                f"there is no database at {path}; nothing was created. Check "
                "DATABASE_PATH (or --db) and that the volume is mounted",
            )
        ]
    return [Check(True, f"database {path} found")]


def _liveness(conn: sqlite3.Connection, settings: Settings, now: datetime) -> list[Check]:
    found = {name: at for name, at in conn.execute("SELECT name, at FROM liveness")}
    out = []
    for name, interval in (
        ("dispatch", settings.DISPATCH_INTERVAL_SECONDS),
        ("plan", settings.PLAN_INTERVAL_SECONDS),
    ):
        limit = STALE_AFTER * interval
        if name not in found:
            out.append(
                Check(
                    False,
                    f"the {name} tick has never finished (is the bot running? "
                    "--no-liveness checks a stopped bot's database)",
                )
            )
            continue
        age = max(0, round((now - parse_iso(found[name])).total_seconds()))
        out.append(
            Check(
                age <= limit,
                f"{name} tick last finished {age} s ago (limit {limit} s: three intervals)",
            )
        )
    return out


def check(
    path: Path | str,
    settings: Settings,
    now: datetime,
    *,
    liveness: bool = True,
    full: bool = False,
) -> list[Check]:
    """Every check in order, stopping at the first that makes the rest meaningless."""
    from storage.migrations import migrations

    path = Path(path)
    checks = _file_checks(path)
    if not checks[-1].ok:
        return checks
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        return checks + [Check(False, f"cannot open the database read-only ({type(exc).__name__})")]
    try:
        pragma = "integrity_check" if full else "quick_check"
        try:
            result = [row[0] for row in conn.execute(f"PRAGMA {pragma}")]
        except sqlite3.Error as exc:
            return checks + [
                Check(
                    False,
                    f"cannot read the database ({type(exc).__name__}): "
                    "is it an SQLite file this user may read?",
                )
            ]
        if result != ["ok"]:
            return checks + [Check(False, f"the database failed SQLite's {pragma}")]
        checks.append(Check(True, f"integrity ({pragma}) ok"))
        db = sqlite_utils.Database(conn)
        pending = [m.name for m in migrations.pending(db)]
        if pending:
            checks.append(
                Check(
                    False,
                    f"{len(pending)} migration(s) not applied "
                    f"({', '.join(pending)}): start the bot once to apply them",
                )
            )
            return checks
        checks.append(Check(True, f"schema up to date ({len(migrations.applied(db))} migrations)"))
        queued = conn.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
        checks.append(Check(True, f"{queued} messages queued"))
        if liveness:
            checks += _liveness(conn, settings, now)
    finally:
        conn.close()
    return checks
