"""Crash safety: the bot as a separate process, killed with SIGKILL at random moments, restarted.

`python -m bot.simulator.crashrun` runs the real Application through two busy virtual days (24
people in four time zones: check-ins tapped or typed, sitting breaks, lessons, and a walk each on
the first day with its before/after/settled ratings and the next-day rating) against a database
file, journaling everything the fake Telegram delivers and every patient action, fsynced, so the
Telegram side of the story survives each kill (see that module's docstring). This test kills it
at least 20 times (seeded RNG: sometimes during start-up and recovery, mostly a random number of
deliveries into the days), restarts it each time, lets the last run finish, and then checks,
from the journal and the database:

Telegram's side is honest: an update is delivered again after a kill only if Telegram never saw
it confirmed (no `ack` line: the bot had not stored it yet), byte for byte, and never once
confirmed. So "every tap or text got an answer" below is the promise itself, not a harness
re-delivering until the bot catches up. Before the inbox (`CRASH_INTAKE=updater`, which confirms
before handling as PTB's Updater did) this test fails: taps are lost.

* no check-in or rating lost: every person got each day's check-in, every rating they gave is
  stored exactly as given, every acknowledgement ("Thanks, noted: N/10") matches the stored N;
  every sitting break and every lesson reaction they tapped is stored; every tap or text got an
  answer; nothing is left mid-send and nothing failed;
* no session answer or decision lost: each person has exactly one walk, with the before (asked,
  or from the check-in), after, settled and next-day ratings she gave; it is decided (with its
  findings, thresholds and rule version, recorded once in the audit log), and the advice reached
  her;
* at most one duplicate message per kill, and only a message that was mid-send at that kill
  (the fake API answers without yielding, so one send is in flight at a time; see the note below);
* the database passes `PRAGMA integrity_check` and opens with storage.db.open_database.

Note on duplicates: with real network I/O, jobs.dispatch sends up to CONCURRENCY (32) rows at
once, so one kill can duplicate up to that many messages (one per chat at most while the
per-chat rate limit keeps one send per chat in flight); "at most one" holds only for sends that
do not overlap, as here.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.clock import parse_iso
from bot.rules.localtime import local_date, zone
from bot.simulator.crashrun import ACTIVITY, busy_day, session_answers
from storage.db import open_database

ROOT = Path(__file__).resolve().parent.parent
SEED = 20260303
PATIENTS = 24
KILLS = 24  # at least 20 are required; a few spare for runs that finish early
EXPECTED_LINES = 1745  # journal lines of an uninterrupted run (1737), to spread the kills
# CRASH_INTAKE=updater runs the code path before the durable inbox (confirmed before handled).
INTAKE = os.environ.get("CRASH_INTAKE", "inbox")


def lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return handle.read().count(b"\n")
    except FileNotFoundError:
        return 0


def spawn(db: Path, journal: Path, log) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.simulator.crashrun",
            "--db",
            str(db),
            "--journal",
            str(journal),
            "--patients",
            str(PATIENTS),
            "--seed",
            str(SEED),
            "--intake",
            INTAKE,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )


def wait_for(proc: subprocess.Popen, condition, timeout: float) -> bool:
    """Poll (2 ms) until `condition()` holds; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if condition():
            return True
        time.sleep(0.002)
    raise AssertionError("the crash run made no progress")


def run_with_kills(tmp_path: Path) -> tuple[int, Path, Path]:
    rng = random.Random(SEED)
    db, journal = tmp_path / "bot.sqlite3", tmp_path / "journal.jsonl"
    log = open(tmp_path / "runs.log", "ab")  # noqa: SIM115 - closed in the finally below
    kills, proc = 0, None
    try:
        while True:
            proc = spawn(db, journal, log)
            if kills >= KILLS:
                assert proc.wait(timeout=120) == 0, (tmp_path / "runs.log").read_text()[-3000:]
                return kills, db, journal
            start_lines = lines(journal)
            # Each run may get through at most a share of what is left of the day, so the day
            # outlasts the kills; within that, the moment is random.
            left = max(EXPECTED_LINES - start_lines, KILLS)
            step = rng.randint(1, max(1, left // (KILLS - kills + 1)))
            deadline = time.monotonic() + (
                rng.uniform(0.05, 1.5) if rng.random() < 0.25 else 60
            )  # a quarter die during start-up/recovery
            alive = wait_for(
                proc,
                lambda target=start_lines + step, deadline=deadline: (
                    lines(journal) >= target or time.monotonic() >= deadline
                ),
                60,
            )
            if not alive:  # the day ended before this kill: the test wants more kills than that
                assert proc.returncode == 0, (tmp_path / "runs.log").read_text()[-3000:]
                return kills, db, journal
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            kills += 1
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def check_walk(db, chat: int, patient_id: int, sends: list, taps: list) -> None:
    """Her one walk: every answer she gave stored as given, decided once, the advice delivered."""
    before, after, settled = session_answers(chat)
    pain = chat % 11
    walks = db.execute(
        "SELECT id, before, before_source, after, settled, next_day, stage, "
        "verdict, findings, thresholds, rule_version, partial FROM sessions "
        "WHERE patient_id = ?",
        [patient_id],
    ).fetchall()
    assert len(walks) == 1, f"chat {chat}: {len(walks)} walks (a start lost or repeated)"
    ((sid, b, source, a, s, n, stage, verdict, findings, thresholds, rule, partial),) = walks
    mine = [t for t in taps if t["chat"] == chat]
    asked = [t for t in mine if t["prompt_kind"] == "session_before"]
    assert (b, source) == ((before, "asked") if asked else (pain, "checkin")), chat
    assert (a, s, n) == (after, int(settled), pain), chat
    assert all(
        t["value"]
        == {
            "session_before": before,
            "session_after": after,
            "session_settled": int(settled),
            "next_day": pain,
        }[t["prompt_kind"]]
        for t in mine
        if "value" in t
    )
    assert (stage, rule, partial) == ("decided", 1, 0) and verdict in ("keep", "adapt"), chat
    assert json.loads(findings) is not None and json.loads(thresholds)["flare_tolerance"]
    decisions = [
        r[0]
        for r in db.execute(
            "SELECT data FROM events WHERE patient_id = ? AND kind = 'pacing_decision'",
            [patient_id],
        )
    ]
    assert len(decisions) == 1 and json.loads(decisions[0])["session"] == sid
    assert json.loads(decisions[0])["verdict"] == verdict
    words = {"keep": "keep going", "adapt": "let's adjust it"}[verdict]
    assert any(r["chat"] == chat and f"Your {ACTIVITY}: {words}" in r["text"] for _, r in sends), (
        f"chat {chat}: the advice never arrived"
    )


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_and_duplicates_little(tmp_path):
    kills, db_path, journal = run_with_kills(tmp_path)
    assert kills >= 20
    records = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    assert records[-1]["e"] == "done"
    starts = [i for i, r in enumerate(records) if r["e"] == "start"]
    sends = [(i, r) for i, r in enumerate(records) if r["e"] == "send"]
    taps = [r for r in records if r["e"] == "in"]
    assert 1 < len(starts) <= kills + 1  # a kill during imports leaves no start line
    assert all(r["row"] is not None for _, r in sends), "a message outside the outbox (an apology?)"

    # -- at most one duplicate per kill, each one a row that was mid-send at that kill ----------
    per_row = Counter(r["row"] for _, r in sends)
    duplicated = {row: n - 1 for row, n in per_row.items() if n > 1}
    assert sum(duplicated.values()) <= kills
    for row in duplicated:
        first = next(i for i, r in sends if r["row"] == row)
        restart = next(s for s in starts if s > first)
        assert row in records[restart]["recovered"], f"row {row} was sent twice without a crash"
    for a, b in zip(starts, starts[1:] + [len(records)], strict=True):
        recovered = set(records[a]["recovered"])
        redone = {
            r["row"]
            for i, r in sends
            if a < i < b
            and r["row"] in recovered
            and any(j < a and s["row"] == r["row"] for j, s in sends)
        }
        assert len(redone) <= 1

    db = open_database(db_path)
    try:
        # -- nothing lost -------------------------------------------------------------------
        scenario = busy_day(PATIENTS, SEED)
        for persona in scenario.patients:
            patient = db.execute(
                "SELECT id, status FROM patients WHERE chat_id = ?", [persona.chat_id]
            ).fetchone()
            assert patient[1] == "active"
            expected = persona.chat_id % 11
            prompts = [
                r for _, r in sends if r["chat"] == persona.chat_id and r["kind"] == "checkin"
            ]
            days = sorted(
                {local_date(parse_iso(p["t"]), zone(persona.timezone)).isoformat() for p in prompts}
            )
            assert len(days) == 2, f"{persona.id} did not get a check-in each day"
            stored = [
                tuple(r)
                for r in db.execute(
                    "SELECT local_date, pain, status FROM checkins WHERE patient_id = ? "
                    "ORDER BY local_date",
                    [patient[0]],
                )
            ]
            assert stored == [(day, expected, "answered") for day in days], persona.id
            thanks = [
                r["text"]
                for _, r in sends
                if r["chat"] == persona.chat_id and r["text"].startswith("Thanks, noted")
            ]
            before = session_answers(persona.chat_id)[0]
            assert [t for t in thanks if "for today" in t]
            for t in thanks:  # the check-in's, the walk's "before" and the next-day rating's
                shown = (
                    f"<b>{expected}/10</b>"
                    if "for today" in t
                    else f"noted {before}/10."
                    if "Enjoy your" in t
                    else f"noted {expected}/10."
                )
                assert shown in t, (persona.id, t)
            check_walk(db, persona.chat_id, patient[0], sends, taps)
        acked = {r["update"] for _, r in sends if r["update"] is not None}
        assert [t["update"] for t in taps if t["update"] not in acked] == []
        for tap in taps:
            if tap["prompt_kind"] == "sitting":
                assert (
                    db.execute(
                        "SELECT action FROM sitting_breaks WHERE outbox_id = ?", [tap["prompt"]]
                    ).fetchone()[0]
                    == "done"
                )
            elif tap["prompt_kind"] == "lesson":
                lesson_id = tap["data"].split(":")[2]
                assert (
                    db.execute(
                        "SELECT feedback FROM lessons_sent WHERE lesson_id = ? AND "
                        "patient_id = (SELECT id FROM patients WHERE chat_id = ?)",
                        [lesson_id, tap["chat"]],
                    ).fetchone()[0]
                    == "helpful"
                )
        assert {t["prompt_kind"] for t in taps} == {
            "checkin",
            "sitting",
            "lesson",
            "activity_start",
            "session_before",
            "session_done",
            "session_after",
            "session_settled",
            "next_day",
        }
        statuses = Counter(r[0] for r in db.execute("SELECT status FROM outbox"))
        assert statuses["sending"] == 0 and statuses["failed"] == 0, statuses
        sent_rows = {r[0] for r in db.execute("SELECT id FROM outbox WHERE status = 'sent'")}
        assert sent_rows <= set(per_row), "the database says sent, Telegram never got it"
    finally:
        db.close()

    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
