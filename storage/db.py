"""Opening the database: pragmas, migrations, and the single-instance lock."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import sqlite_utils

from storage.migrations import migrations


class AlreadyRunning(Exception):
    """Another bot process holds the database."""


def open_database(path: Path | str | None) -> sqlite_utils.Database:
    """A migrated database at `path` (created with its folder if needed); None or ':memory:' for tests."""
    if path is None or str(path) == ":memory:":
        db = sqlite_utils.Database(memory=True)
    else:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(path)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable with WAL except for the last commit before a power cut (not a crash).
        db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA foreign_keys=ON")
    migrations.apply(db)
    return db


class InstanceLock:
    """An exclusive lock beside the database, so two bots never send from one schedule.

    flock is released by the kernel when the process dies, so a crash never leaves a stale lock.
    """

    def __init__(self, db_path: Path | str):
        self.path = Path(f"{db_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"Another backpain-bot is already running on this database ({self.path.parent}). "
                "Stop it first, or point DATABASE_PATH at another file: two bots on one schedule "
                "would send every message twice."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "InstanceLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
