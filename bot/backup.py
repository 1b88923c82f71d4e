"""`backpain-bot backup`: a consistent copy of the live database, safe while the bot runs.

SQLite's online backup API copies the database page by page inside one read transaction. The
database runs in WAL mode, so that read never blocks the bot's writes, and the copy is the state
of one moment even while rows are being added. The backup opens the file read-only and never
touches the bot's instance lock (storage.db.InstanceLock): it is not a second bot.

The copy is written beside its target under a temporary name, checked with
`PRAGMA integrity_check`, switched to a single self-contained file (journal_mode=DELETE, no -wal
or -shm to carry along), made readable by its owner only, and only then moved into place.
Restoring it is described in docs/PRIVACY.md ("Backups and restore").
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

# Tables worth counting in the success line: enough to see the copy is not empty.
_COUNTED = ("patients", "checkins", "outbox")


class BackupError(Exception):
    """The backup was not made. `exit_code` 2: refused (bad input); 1: it failed."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    counts: dict[str, int]

    def summary(self) -> str:
        rows = ", ".join(f"{n} {table}" for table, n in self.counts.items())
        return (
            f"backup written to {self.path} ({self.size} bytes; {rows}); integrity check ok. "
            "It holds health data: store it encrypted and access-controlled."
        )


def _source(db_path: Path) -> sqlite3.Connection:
    """The live database, opened read-only: the backup must never write to it (nor create it)."""
    if not db_path.is_file():
        raise BackupError(
            f"There is no database at {db_path}, so there is nothing to back up. Check "
            "DATABASE_PATH (or --db): it must point at the bot's existing .sqlite3 file.",
            2,
        )
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(
            f"{db_path} cannot be read as an SQLite database ({exc}). Check that DATABASE_PATH "
            "(or --db) points at the bot's database and that this user may read it.",
            2,
        ) from None
    return conn


def _check(path: Path) -> dict[str, int]:
    """Integrity check of the finished copy; returns a few row counts for the report."""
    conn = sqlite3.connect(path)
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupError(
                f"The copy failed SQLite's integrity check ({'; '.join(result[:3])}), so it was "
                "thrown away. The live database may itself be damaged: run `backpain-bot health` "
                "and keep the previous backup safe."
            )
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        # Table names from _COUNTED, present in this file; no value reaches the SQL.
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in _COUNTED
            if t in tables
        }
    finally:
        conn.close()


def backup(db_path: Path | str, out: Path | str, *, force: bool = False) -> BackupResult:
    """Copy the database at `db_path` to `out`; refuses to replace `out` unless `force`."""
    db_path, out = Path(db_path), Path(out)
    if out.exists() and not force:
        raise BackupError(
            f"{out} already exists. Choose a new file name (a date in the name helps), or add "
            "--force to replace it.",
            2,
        )
    if out.exists() and not out.is_file():
        raise BackupError(f"{out} exists and is not a file; choose a file name for the backup.", 2)
    if out.resolve() in {
        db_path.resolve(),
        Path(f"{db_path}-wal").resolve(),
        Path(f"{db_path}-shm").resolve(),
    }:
        raise BackupError(
            "The backup cannot be written over the live database; choose another file.", 2
        )
    if not out.parent.is_dir():
        raise BackupError(
            f"The folder {out.parent} does not exist; create it first or choose "
            "another place for the backup.",
            2,
        )
    source = _source(db_path)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        try:
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # owner only, from birth
            os.close(fd)
            target = sqlite3.connect(tmp)
            try:
                # pages=-1: the whole database in one step, i.e. one read snapshot; in WAL mode
                # that never waits for, nor blocks, the bot's writers.
                source.backup(target, pages=-1)
                # A single file to carry around: no -wal/-shm beside the copy.
                target.execute("PRAGMA journal_mode=DELETE").fetchone()
                target.commit()
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise BackupError(
                f"The backup could not be made ({exc}). Nothing was written to {out}. If the "
                "database is busy, try again; if the disk is full, free space first."
            ) from None
        except OSError as exc:
            raise BackupError(
                f"The backup could not be written next to {out} ({exc.strerror}). "
                "Check the folder exists and is writable."
            ) from None
        counts = _check(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        if force:
            os.replace(tmp, out)
        else:
            try:
                os.link(tmp, out)  # fails if `out` appeared meanwhile: never overwrite silently
            except FileExistsError:
                raise BackupError(
                    f"{out} appeared while the backup was running; it was left "
                    "alone. Choose another name or add --force.",
                    2,
                ) from None
            except OSError:  # a file system without hard links
                os.replace(tmp, out)
    finally:
        source.close()
        tmp.unlink(missing_ok=True)
    return BackupResult(out, out.stat().st_size, counts)
