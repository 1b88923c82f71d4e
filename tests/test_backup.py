"""`backpain-bot backup` and the restore described in docs/PRIVACY.md ("Backups and restore").

The backup runs while something keeps writing (another connection inserting in a loop, or the
real Application answering check-ins), then the copy is restored the documented way into a new
place and opened with storage.db.open_database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from bot.backup import BackupError, backup
from storage import checkins
from storage.db import InstanceLock, open_database
from tests.conftest import Harness

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "WEBHOOK_", "DATABASE_"))
    }
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def restore(backup_file: Path, db_path: Path) -> None:
    """The documented restore (docs/PRIVACY.md), step for step, the bot being stopped."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(backup_file, db_path)  # copy the backup into place
    for suffix in ("-wal", "-shm"):  # remove stale -wal/-shm
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


class Writer(threading.Thread):
    """Another connection inserting rows, one transaction each, until told to stop."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path, self.written, self.stop = path, 0, threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA busy_timeout=30000")
            while not self.stop.is_set():
                with conn:
                    conn.execute(
                        "INSERT INTO events (at, kind, data) VALUES (?, 'load', ?)",
                        ["2026-03-02T12:00:00+00:00", str(self.written + 1)],
                    )
                self.written += 1
            conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def wait_for(self, rows: int) -> None:
        while self.written < rows and self.is_alive():
            self.stop.wait(0.001)


def test_backup_while_another_connection_writes_then_restore(tmp_path):
    live = tmp_path / "live" / "backpain.sqlite3"
    open_database(live).close()
    writer = Writer(live)
    with InstanceLock(live):  # the bot is "running": it holds the lock; backup must not need it
        writer.start()
        writer.wait_for(200)
        before = writer.written
        out = tmp_path / "backups" / "b1.sqlite3"
        out.parent.mkdir()
        result = cli("backup", "--db", str(live), "--out", str(out), cwd=tmp_path)
        during = writer.written
        writer.wait_for(during + 50)  # still writing afterwards: the backup overlapped the writes
        writer.stop.set()
        writer.join(10)
    assert writer.error is None
    assert result.returncode == 0, result.stderr
    assert "integrity check ok" in result.stdout and str(out) in result.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # health data: owner only
    assert not Path(f"{out}-wal").exists()  # one self-contained file
    assert not list(out.parent.glob(".*partial"))

    restored = tmp_path / "restored" / "backpain.sqlite3"
    restore(out, restored)
    db = open_database(restored)
    seq = [
        int(r["data"]) for r in db.query("SELECT data FROM events WHERE kind = 'load' ORDER BY id")
    ]
    db.close()
    # A snapshot of one moment: every row committed before it, none torn, none missing between.
    assert before <= len(seq) <= writer.written
    assert seq == list(range(1, len(seq) + 1))
    assert integrity(restored) == "ok"


async def test_backup_while_the_application_answers_checkins(tmp_path, clock):
    live = tmp_path / "bot.sqlite3"
    h = await Harness(clock, open_database(live), live).start()
    users = list(range(2001, 2041))
    for uid in users:
        h.add_patient(
            user_id=uid, timezone="UTC", checkin_time="13:00", quiet_from=None, quiet_to=None
        )
    await h.tick()
    clock.advance(timedelta(hours=1))  # 13:00 UTC: every check-in goes out
    await h.tick()
    answered = 0

    async def answer_all() -> None:
        nonlocal answered
        for uid in users:
            await h.send_text(uid, str(uid % 11))
            answered += 1
            await asyncio.sleep(0)  # let the backup thread interleave

    out = tmp_path / "copy.sqlite3"
    task = asyncio.create_task(answer_all())
    await asyncio.sleep(0)
    result = await asyncio.to_thread(backup, live, out)
    await task
    await h.stop()
    assert answered == len(users)

    restored = tmp_path / "restore" / "bot.sqlite3"
    restore(out, restored)
    db = open_database(restored)
    rows = list(db.query("SELECT patient_id, pain FROM checkins WHERE status = 'answered'"))
    assert rows, "the backup holds the answers given before it"
    assert result.counts["checkins"] == len(rows)
    for row in rows:
        # The rating and its acknowledgement are written in one transaction; a consistent copy
        # has both or neither.
        acks = db.execute(
            "SELECT count(*) FROM outbox WHERE patient_id = ? AND kind = 'reply'",
            [row["patient_id"]],
        ).fetchone()[0]
        assert acks == 1
        assert checkins.awaiting(db, row["patient_id"]) is None
    db.close()
    assert integrity(restored) == "ok"


def test_restore_replaces_a_crashed_database_and_its_stale_wal(tmp_path):
    """A bot killed mid-run leaves -wal/-shm beside the file; the restore removes them."""
    good = tmp_path / "good.sqlite3"
    db = open_database(good)
    db.execute("INSERT INTO events (at, kind) VALUES ('2026-03-02T12:00:00+00:00', 'kept')")
    db.close()
    out = tmp_path / "good.backup"
    backup(good, out)

    crashed = tmp_path / "data" / "backpain.sqlite3"
    holder = open_database(crashed)
    holder.execute("PRAGMA wal_autocheckpoint=0")
    holder.execute("INSERT INTO events (at, kind) VALUES ('2026-03-02T12:00:00+00:00', 'stale')")
    for suffix in ("-wal", "-shm"):  # what SIGKILL leaves behind
        shutil.copyfile(f"{crashed}{suffix}", tmp_path / f"leftover{suffix}")
    holder.close()
    for suffix in ("-wal", "-shm"):
        shutil.copyfile(tmp_path / f"leftover{suffix}", f"{crashed}{suffix}")
    assert Path(f"{crashed}-wal").stat().st_size > 0

    restore(out, crashed)
    db = open_database(crashed)
    kinds = [r["kind"] for r in db.query("SELECT kind FROM events")]
    db.close()
    assert kinds == ["kept"]
    assert integrity(crashed) == "ok"


def test_refuses_to_overwrite_without_force(tmp_path):
    live = tmp_path / "db.sqlite3"
    open_database(live).close()
    out = tmp_path / "b.sqlite3"
    out.write_text("an older backup")
    result = cli("backup", "--db", str(live), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert out.read_text() == "an older backup"
    forced = cli("backup", "--db", str(live), "--out", str(out), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert integrity(out) == "ok"


def test_database_path_setting_is_the_default_source(tmp_path):
    live = tmp_path / "data" / "bot.sqlite3"
    open_database(live).close()
    result = cli("backup", "--out", "b.sqlite3", cwd=tmp_path, env={"DATABASE_PATH": str(live)})
    assert result.returncode == 0, result.stderr
    assert integrity(tmp_path / "b.sqlite3") == "ok"


@pytest.mark.parametrize("case", ["missing", "not_sqlite", "no_folder", "over_itself"])
def test_problems_are_one_clear_paragraph_without_traceback(tmp_path, case):
    live = tmp_path / "db.sqlite3"
    out = tmp_path / "b.sqlite3"
    if case == "not_sqlite":
        live.write_text("this is not a database, it is a shopping list\n" * 200)
    elif case != "missing":
        open_database(live).close()
    if case == "no_folder":
        out = tmp_path / "nowhere" / "b.sqlite3"
    if case == "over_itself":
        out = live
    result = cli("backup", "--db", str(live), "--out", str(out), "--force", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip()
    assert message.startswith("backup failed:") and "\n" not in message
    assert "Traceback" not in result.stderr + result.stdout
    if case == "missing":
        assert "no database" in message and not live.exists()  # never creates an empty one
    if case == "over_itself":
        assert integrity(live) == "ok"


def test_a_damaged_copy_is_reported_and_thrown_away(tmp_path, monkeypatch):
    live = tmp_path / "db.sqlite3"
    open_database(live).close()
    out = tmp_path / "b.sqlite3"

    def damaged(path):
        raise BackupError("The copy failed SQLite's integrity check (simulated).")

    monkeypatch.setattr("bot.backup._check", damaged)
    with pytest.raises(BackupError, match="integrity"):
        backup(live, out)
    assert not out.exists() and not list(tmp_path.glob(".*partial"))
