"""Opening the database: pragmas, migrations, the single-instance lock, and private files.

Files holding health data (the database, its -wal and -shm, exports, backups) are created 0600,
and a folder the bot creates for them 0700. SQLite creates the -wal and -shm with the database
file's own mode, so creating the database file 0600 first covers all three.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from pathlib import Path

import sqlite_utils

from storage.migrations import migrations


class AlreadyRunning(Exception):
    """Another bot process holds the database."""


def private_folder(folder: Path | str) -> None:
    """`folder`, created 0700 (with any missing parents) if it does not exist; an existing
    folder is left as it is (its owner chose its mode)."""
    folder = Path(folder)
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        try:
            os.mkdir(made, 0o700)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs
        os.chmod(made, 0o700)  # whatever the umask


def private_file(path: Path | str) -> None:
    """Create `path` empty and 0600 if it does not exist (its folder 0700 if missing)."""
    path = Path(path)
    private_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.fchmod(fd, 0o600)
    os.close(fd)


def write_private(path: Path | str, data: bytes) -> None:
    """Write `data` to `path`, readable by its owner only (an existing file is made so too)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data)
    finally:
        os.close(fd)


def new_id(table: sqlite_utils.db.Table) -> int:
    """The id of the row `table.insert(...)` just wrote (sqlite-utils types it as optional)."""
    if not isinstance(table.last_pk, int):
        raise RuntimeError(f"an insert into {table.name} gave no integer id")
    return table.last_pk


def open_database(path: Path | str | None) -> sqlite_utils.Database:
    """A migrated database at `path` (created with its folder if needed, 0600 in 0700);
    None or ':memory:' for tests."""
    if path is None or str(path) == ":memory:":
        db = sqlite_utils.Database(memory=True)
    else:
        path = Path(path)
        private_file(path)  # before SQLite creates it (and its -wal/-shm) with the umask's mode
        db = sqlite_utils.Database(path)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable with WAL except for the last commit before a power cut (not a crash).
        db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA foreign_keys=ON")
    migrations.apply(db)
    return db


# A byte of the database file that SQLite never locks (its own lock bytes sit at 1 GiB): only
# bots compete for it. Locks beyond the end of a file are allowed and change nothing in it.
_LOCK_BYTE = 1 << 62


class InstanceLock:
    """An exclusive lock on the database file itself, so two bots never send from one schedule.

    The lock belongs to the file (its inode), not to a path: a second bot reaching the same file
    through a symlink, a hard link or another spelling of the path is refused. On Linux it is an
    open-file-description lock (F_OFD_SETLK) on one byte SQLite never uses, so it neither touches
    SQLite's own locks nor is dropped when SQLite closes its descriptors; elsewhere an flock on
    `<resolved path>.lock`. The kernel releases either when the process dies, so a crash never
    leaves a stale lock.
    """

    def __init__(self, db_path: Path | str):
        self.path = Path(os.path.realpath(db_path))
        self._fd: int | None = None

    def acquire(self) -> None:
        if hasattr(fcntl, "F_OFD_SETLK"):
            private_file(self.path)  # the lock is on the file: it must exist (an empty database)
            target = self.path
        else:  # pragma: no cover - not Linux
            private_folder(self.path.parent)
            target = Path(f"{self.path}.lock")
        fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if target == self.path:
                fcntl.fcntl(
                    fd,
                    fcntl.F_OFD_SETLK,
                    struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, _LOCK_BYTE, 1, 0),
                )
            else:  # pragma: no cover - not Linux
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK):
                raise
            raise AlreadyRunning(
                f"Another backpain-bot is already running on this database ({self.path.parent}). "
                "Stop it first, or point DATABASE_PATH at another file: two bots on one schedule "
                "would send every message twice."
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock: it lives and dies with this descriptor
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
