"""Operations: one person's bad data never stops anyone else, dates checked where people type
them, one bot per database file whatever the path, an honest health check, private files."""

from __future__ import annotations

import json
import logging
from datetime import UTC, timedelta

import pytest

from bot.clock import iso
from jobs import sessions as sessions_flow
from jobs.clinic import plan_digests
from jobs.plan import plan_all, record_missed_days
from messages import render
from storage import clinics
from tests.conftest import Harness
from tests.test_clinics import STAFF, join_staff, make_clinic, new_cohort
from tests.test_sessions import button

OTHERS = range(2001, 2021)  # 20 people with nothing wrong
POISONED = 1001


def skips(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("skipped one")]


def queued(db, patient_id: int) -> int:
    return db.execute("SELECT count(*) FROM outbox WHERE patient_id = ?", [patient_id]).fetchone()[
        0
    ]


def crowd(h) -> tuple[int, list[int]]:
    """The measured case: one person whose course starts 9999-12-31 (stored before dates were
    checked: a cohort's start they followed), and 20 others."""
    bad = h.add_patient(user_id=POISONED)
    h.db.execute(
        "UPDATE patients SET course_start = '9999-12-31', course_state = 'active' WHERE id = ?",
        [bad],
    )
    others = [
        h.add_patient(user_id=u, course_start="2026-03-02", course_state="active") for u in OTHERS
    ]
    return bad, others


# --- one bad row never stops the bot ---------------------------------------------------------


async def test_a_date_that_overflows_skips_that_person_and_plans_everyone_else(harness, caplog):
    h = harness
    bad, others = crowd(h)
    caplog.set_level(logging.INFO)
    for _ in range(2):  # every tick, not just the first
        plan_all(h.rt)
    assert queued(h.db, bad) == 0
    for pid in others:  # check-in tomorrow 08:00 Berlin and Wednesday's lesson... within 36 h
        kinds = {r[0] for r in h.db.execute("SELECT kind FROM outbox WHERE patient_id = ?", [pid])}
        assert "checkin" in kinds
    [first, *_] = skips(caplog)
    assert (first.patient, first.error, first.stage) == (bad, "OverflowError", "plan")
    assert all("9999" not in r.getMessage() and "9999" not in str(vars(r)) for r in caplog.records)


async def test_start_up_keeps_going_with_the_poisoned_person(clock, fresh_db, db_path, caplog):
    """`_post_init` runs plan_all: with the bad person stored, start-up neither raises nor leaves
    the others without their schedule (before: OverflowError, `run` exited 1)."""
    first = await Harness(clock, fresh_db, db_path).start()
    bad, others = crowd(first)
    await first.stop()
    again = Harness(clock, fresh_db, db_path)
    await again.start()  # post_init: recover, plan_all
    try:
        assert queued(fresh_db, bad) == 0
        assert all(queued(fresh_db, pid) > 0 for pid in others)
        assert {r.patient for r in skips(caplog)} == {bad}  # each stage skips only them
    finally:
        await again.stop()


@pytest.mark.parametrize(
    "column, value",
    [
        ("timezone", "Mars/Olympus"),
        ("checkin_time", "25:99"),
        ("course_start", "someday"),
        ("course_days", "mon,,xyz"),
        ("summary_day", "caturday"),
    ],
)
async def test_any_unusable_stored_setting_skips_only_its_owner(harness, caplog, column, value):
    h = harness
    bad = h.add_patient(user_id=POISONED, course_start="2026-03-02", course_state="active")
    h.db.execute(f"UPDATE patients SET {column} = ? WHERE id = ?", [value, bad])
    others = [h.add_patient(user_id=u) for u in OTHERS]
    plan_all(h.rt)
    assert all(queued(h.db, pid) > 0 for pid in others)
    if skips(caplog):  # some values are merely ignored (an unknown lesson day)
        assert {r.patient for r in skips(caplog)} == {bad}


def _checkin_row(h, pid: int, payload: str, hours_ago: int) -> None:
    due = h.clock.now() - timedelta(hours=hours_ago)
    h.db.execute(
        "INSERT INTO outbox (chat_id, patient_id, kind, due_at, dedupe_key, payload, "
        "created_at, status) VALUES (?, ?, 'checkin', ?, ?, ?, ?, 'sent')",
        [pid, pid, iso(due), f"checkin:{pid}:{hours_ago}", payload, iso(due)],
    )


async def test_a_damaged_row_skips_only_its_owners_missed_days(harness, caplog):
    h = harness
    bad, good = h.add_patient(user_id=POISONED), h.add_patient(user_id=2001)
    _checkin_row(h, bad, "{not json", 19)  # after the mark start-up left (now - 20 h)
    _checkin_row(h, good, json.dumps({"local_date": "2026-03-01"}), 19)
    h.clock.advance(timedelta(hours=2))  # both now unanswered for 21 hours
    assert record_missed_days(h.rt) == 1
    assert [
        r["local_date"]
        for r in h.db.query(
            "SELECT local_date FROM checkins WHERE patient_id = ? AND status = 'missed'", [good]
        )
    ] == ["2026-03-01"]
    assert [(r.patient, r.stage) for r in skips(caplog)] == [(bad, "missed_days")]


async def _session(h, user: int, activity_id: int) -> int:
    """/activity, before 3, Done, after 5: then nothing (the next-day answer never comes)."""

    async def press(message, prefix, value=None):
        await h.tap(user, button(message, prefix, value), message.message_id)
        return h.last(user)

    await h.send_text(user, "/activity")
    msg = await press(h.last(user), f"a:s:{activity_id}")
    sid = max(s["id"] for s in h.db.query("SELECT id FROM sessions"))
    msg = await press(msg, f"r:{sid}:b:", 3)
    h.clock.advance(timedelta(minutes=20))
    msg = await press(msg, f"a:e:{sid}")
    await press(msg, f"r:{sid}:a:", 5)
    return sid


async def test_an_overdue_decision_that_fails_skips_only_that_person(harness, caplog):
    from storage import activities

    h = harness
    bad, good = h.add_patient(user_id=POISONED), h.add_patient(user_id=2001)
    for pid in (bad, good):
        activities.add_activity(h.db, pid, "walk", 20, h.clock.now())
    act = {a["patient_id"]: a["id"] for a in h.db.query("SELECT id, patient_id FROM activities")}
    bad_session = await _session(h, POISONED, act[bad])  # the lower id: looked at first
    good_session = await _session(h, 2001, act[good])
    h.db.execute("UPDATE patients SET timezone = 'Mars/Olympus' WHERE id = ?", [bad])
    h.clock.advance(timedelta(hours=37))
    assert sessions_flow.decide_overdue(h.rt) == 1
    stages = dict(h.db.execute("SELECT id, stage FROM sessions").fetchall())
    assert (stages[bad_session], stages[good_session]) == ("waiting", "decided")
    assert [(r.patient, r.stage) for r in skips(caplog)] == [(bad, "decide_overdue")]


async def test_a_clinic_with_unusable_data_does_not_stop_other_clinics_digests(harness, caplog):
    h = harness
    for name in ("Broken", "Fine"):
        clinic_id, code = make_clinic(h, name)
        await join_staff(h, code, user=STAFF if name == "Fine" else STAFF + 5)
        h.db.execute(
            "INSERT INTO cohorts (clinic_id, name, created_at) VALUES (?, 'g', ?)",
            [clinic_id, iso(h.clock.now())],
        )
    h.db.execute("UPDATE clinics SET timezone = 'Mars/Olympus' WHERE name = 'Broken'")
    sunday = h.clock.now() + timedelta(days=6)
    assert plan_digests(h.db, sunday, sunday + timedelta(hours=36)) == 1
    assert [
        r["chat_id"] for r in h.db.query("SELECT chat_id FROM outbox WHERE kind = 'digest'")
    ] == [STAFF]
    assert [r.stage for r in skips(caplog)] == ["digests"]


# --- checked at the edge ---------------------------------------------------------------------

RANGE = "from <code>2025-12-08</code> to <code>2026-08-31</code>"  # London, Monday 2026-03-02


@pytest.fixture
async def staff(harness):
    _, code = make_clinic(harness)
    await join_staff(harness, code)
    return harness


@pytest.mark.parametrize("day", ["9999-12-31", "2025-01-06", "2025-12-07", "2026-09-01"])
async def test_cohort_new_refuses_a_start_date_out_of_range_and_says_the_range(staff, day):
    h = staff
    await h.send_text(STAFF, f"/cohort_new Spring group {day}")
    answer = h.last(STAFF).text
    assert RANGE in answer and "12 weeks ago" in answer and "26 weeks ahead" in answer
    assert clinics.cohorts_for_user(h.db, STAFF) == []


@pytest.mark.parametrize("day", ["2025-12-08", "2026-03-02", "2026-08-31"])
async def test_cohort_new_accepts_the_range_inclusive(staff, day):
    if day < "2026-03-02":  # issue 16: a date in the past is created after a confirmation
        await staff.send_text(STAFF, f"/cohort_new Spring group {day}")
        ask = staff.last(STAFF)
        data = next(d for row in ask.buttons for _, d in row if d.startswith("cc:"))
        await staff.tap(STAFF, data, ask.message_id)
        [cohort] = clinics.cohorts_for_user(staff.db, STAFF)
        assert cohort["start_date"] == day
        return
    cohort_id, _ = await new_cohort(staff, f"Spring group {day}")
    assert clinics.cohort(staff.db, cohort_id)["start_date"] == day


async def test_the_range_follows_the_clinics_own_date(harness):
    """12:00 UTC on Monday is already Tuesday at Kiritimati (UTC+14): 26 weeks from its today."""
    h = harness
    _, code = make_clinic(h, "Line Islands", timezone="Pacific/Kiritimati")
    await join_staff(h, code)
    cohort_id, _ = await new_cohort(h, "Group 2026-09-01")
    assert clinics.cohort(h.db, cohort_id)["start_date"] == "2026-09-01"


@pytest.mark.parametrize("day", ["9999-12-31", "2025-01-06"])
async def test_cohort_set_start_refuses_a_date_out_of_range(staff, day):
    h = staff
    cohort_id, _ = await new_cohort(h, "Group 2026-03-09")
    await h.send_text(STAFF, f"/cohort_set {cohort_id} start {day}")
    answer = h.last(STAFF).text
    assert RANGE in answer and "start rolling" in answer
    assert clinics.cohort(h.db, cohort_id)["start_date"] == "2026-03-09"
    await h.send_text(STAFF, f"/cohort_set {cohort_id} start 2026-04-01")  # in range: saved
    assert clinics.cohort(h.db, cohort_id)["start_date"] == "2026-04-01"


def test_the_range_answer_reads_plainly():
    text = render("clinic_bad_date", earliest="2025-12-08", latest="2026-08-31")
    assert text.startswith("That start date is outside the range")
    assert "leave the date out" in text
    assert render("clinic_bad_date").startswith("I couldn't read")


# --- one bot per database file ---------------------------------------------------------------


def _link(kind: str, target, link) -> None:
    import os

    (os.symlink if kind == "symlink" else os.link)(target, link)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["symlink", "hard link"])
def test_a_second_bot_through_a_link_is_refused(tmp_path, kind):
    from storage.db import AlreadyRunning, InstanceLock, open_database
    from tests.test_settings_cli import GOOD_TOKEN, cli

    real = tmp_path / "data" / "bot.sqlite3"
    open_database(real).close()
    (tmp_path / "elsewhere").mkdir()
    other = tmp_path / "elsewhere" / "same.sqlite3"
    _link(kind, real, other)
    with InstanceLock(real):
        with pytest.raises(AlreadyRunning, match="already running"):
            InstanceLock(other).acquire()
        result = cli(
            "run", "--db", str(other), cwd=tmp_path, env={"TELEGRAM_BOT_TOKEN": GOOD_TOKEN}
        )
        assert result.returncode == 3 and "already running" in result.stderr
        assert "Traceback" not in result.stderr
        db = open_database(other)  # the lock leaves SQLite's own locking alone
        db.execute("INSERT INTO liveness (name, at) VALUES ('x', 'y')")
        db.conn.commit()
        db.close()  # and closing another descriptor of the file does not drop it
        with pytest.raises(AlreadyRunning):
            InstanceLock(other).acquire()
    # released with its holder; held through the link it is the same
    with InstanceLock(other), pytest.raises(AlreadyRunning):
        InstanceLock(real).acquire()


def test_the_lock_creates_a_missing_database_privately(tmp_path):
    from storage.db import InstanceLock

    path = tmp_path / "new" / "bot.sqlite3"
    with InstanceLock(path):
        assert _mode(path.parent) == 0o700 and _mode(path) == 0o600


# --- health ----------------------------------------------------------------------------------


def _mode(path) -> int:
    import stat

    return stat.S_IMODE(path.stat().st_mode)


def _health(capsys, path, *flags) -> tuple[int, list[str]]:
    from bot.cli import main

    capsys.readouterr()
    code = main(["health", "--db", str(path), *flags])
    return code, capsys.readouterr().out.splitlines()


@pytest.fixture
def env(monkeypatch):
    for name in ("DATABASE_PATH", "DISPATCH_INTERVAL_SECONDS", "PLAN_INTERVAL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")  # no .env file around


def _beats(path, dispatch_ago: float | None, plan_ago: float | None) -> None:
    from datetime import datetime

    from storage import liveness
    from storage.db import open_database

    db = open_database(path)
    now = datetime.now(UTC)
    for name, ago in (("dispatch", dispatch_ago), ("plan", plan_ago)):
        if ago is not None:
            liveness.beat(db, name, now - timedelta(seconds=ago))
    db.conn.commit()
    db.close()


def test_health_with_the_database_deleted_is_unhealthy_and_creates_nothing(tmp_path, capsys, env):
    from storage.db import open_database

    path = tmp_path / "bot.sqlite3"
    open_database(path).close()
    path.unlink()
    before = sorted(p.name for p in tmp_path.iterdir())
    code, lines = _health(capsys, path)
    assert code == 1 and lines[-1] == "unhealthy"
    assert lines[0].startswith("unhealthy: there is no database at")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_health_with_the_folder_missing_is_unhealthy_and_creates_nothing(tmp_path, capsys, env):
    code, lines = _health(capsys, tmp_path / "volume" / "bot.sqlite3")
    assert code == 1 and "volume mounted" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_health_is_healthy_while_both_ticks_beat(tmp_path, capsys, env):
    path = tmp_path / "bot.sqlite3"
    _beats(path, dispatch_ago=2, plan_ago=600)
    code, lines = _health(capsys, path)
    assert code == 0 and lines[-1] == "healthy"
    assert [line.split(":")[0] for line in lines[:-1]] == ["ok"] * 6  # one line per check
    assert any(line.startswith("ok: dispatch tick last finished") for line in lines)


@pytest.mark.parametrize(
    "dispatch_ago, plan_ago, stale",
    [(16, 600, "dispatch"), (2, 2701, "plan"), (None, 600, "dispatch"), (2, None, "plan")],
)
def test_health_with_a_stale_or_missing_beat_is_unhealthy(
    tmp_path, capsys, env, dispatch_ago, plan_ago, stale
):
    """Three intervals: dispatch 3 x 5 s, plan 3 x 900 s (the defaults)."""
    path = tmp_path / "bot.sqlite3"
    _beats(path, dispatch_ago, plan_ago)
    code, lines = _health(capsys, path)
    assert code == 1 and lines[-1] == "unhealthy"
    [bad] = [line for line in lines if line.startswith("unhealthy:")]
    assert f"{stale} tick" in bad
    assert _health(capsys, path, "--no-liveness")[0] == 0  # a stopped bot's database is fine


def test_health_reports_a_pending_migration_and_leaves_it_pending(tmp_path, capsys, env):
    from storage.db import open_database

    path = tmp_path / "bot.sqlite3"
    db = open_database(path)
    db.execute("DROP TABLE liveness")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm009_liveness'")
    db.conn.commit()
    db.close()
    code, lines = _health(capsys, path, "--no-liveness")
    assert code == 1 and "1 migration(s) not applied (m009_liveness)" in lines[-2]
    assert _health(capsys, path, "--no-liveness")[0] == 1  # still pending: health changed nothing


def test_health_refuses_a_file_that_is_not_a_database(tmp_path, capsys, env):
    path = tmp_path / "bot.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    code, lines = _health(capsys, path, "--no-liveness")
    assert code == 1 and "cannot read the database" in lines[-2]


async def test_the_plan_tick_and_start_up_beat(harness):
    from storage import liveness

    h = harness  # started: post_init ran plan_all
    assert liveness.last(h.db, "plan") == h.clock.now()
    h.clock.advance(timedelta(minutes=15))
    plan_all(h.rt)
    assert liveness.last(h.db, "plan") == h.clock.now()


# --- private files ---------------------------------------------------------------------------


@pytest.fixture
def umask_022():
    import os

    old = os.umask(0o022)  # the usual default, which made everything world-readable
    yield
    os.umask(old)


def test_database_wal_and_shm_are_private_in_a_private_folder(tmp_path, umask_022):
    from storage.db import open_database

    path = tmp_path / "data" / "deeper" / "bot.sqlite3"
    db = open_database(path)
    db.execute("INSERT INTO liveness (name, at) VALUES ('x', 'y')")
    db.conn.commit()
    files = [path, path.with_name("bot.sqlite3-wal"), path.with_name("bot.sqlite3-shm")]
    try:
        assert [_mode(f) for f in files] == [0o600] * 3
        assert _mode(path.parent) == _mode(path.parent.parent) == 0o700
    finally:
        db.close()


def test_a_folder_that_exists_keeps_its_mode(tmp_path, umask_022):
    from storage.db import open_database

    (tmp_path / "shared").mkdir(mode=0o755)
    open_database(tmp_path / "shared" / "bot.sqlite3").close()
    assert _mode(tmp_path / "shared") == 0o755
    assert _mode(tmp_path / "shared" / "bot.sqlite3") == 0o600


async def test_cli_exports_and_backups_are_private(harness, tmp_path, monkeypatch, umask_022):
    from bot.cli import main

    h = harness
    _, code = make_clinic(h)
    await join_staff(h, code)
    cohort_id, _ = await new_cohort(h)
    h.db.conn.commit()
    monkeypatch.setenv("DATABASE_PATH", str(h.db_path))
    out = tmp_path / "exports" / "march"
    assert main(["export", "--cohort", str(cohort_id), "--out", str(out)]) == 0
    files = list(out.iterdir())
    assert len(files) == 2 and all(_mode(f) == 0o600 for f in files)
    assert _mode(out) == _mode(out.parent) == 0o700
    files[0].chmod(0o644)  # written over (issue 16: only with --force): made private too
    assert main(["export", "--cohort", str(cohort_id), "--out", str(out), "--force"]) == 0
    assert _mode(files[0]) == 0o600
    assert main(["backup", "--out", str(tmp_path / "copy.sqlite3")]) == 0
    assert _mode(tmp_path / "copy.sqlite3") == 0o600


async def test_a_stage_failing_whole_lets_the_others_run_and_the_tick_is_not_alive(
    harness, monkeypatch
):
    """The database failing under one stage (not one person's data): the rest still run, the
    error is raised afterwards, and no `plan` beat is written, so health sees it."""
    import sqlite3

    from storage import liveness

    h = harness
    pid = h.add_patient(user_id=2001)
    before = liveness.last(h.db, "plan")
    h.clock.advance(timedelta(minutes=15))

    def locked(rt, *_):
        raise sqlite3.OperationalError("database is locked")

    # what the plan pass calls (decide_overdue in steps)
    monkeypatch.setattr(sessions_flow, "decide_overdue_steps", locked)
    with pytest.raises(sqlite3.OperationalError):
        plan_all(h.rt)
    assert queued(h.db, pid) > 0  # planning ran before, and the digests after, regardless
    assert liveness.last(h.db, "plan") == before
