"""The benchmark machinery end to end at small sizes (`--quick`), and the yardsticks behind the
performance work: the batched planner writes exactly what planning each person alone writes, and
next_due answers what the plain query answers. Timings are not checked here: outcomes are."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import VirtualClock, iso
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.simulator.runner import SIM_TOKEN
from jobs import plan
from jobs.dispatch import next_due
from storage import sitting
from storage.db import open_database
from tests.benchmarks import reference
from tests.benchmarks.population import populate

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = 100  # for the planner comparison: every time zone twice and more


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    report, raw = tmp / "benchmarks.md", tmp / "benchmarks.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.run",
            "--quick",
            "--output",
            str(report),
            "--json",
            str(raw),
            "--workdir",
            str(tmp / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return report.read_text(), json.loads(raw.read_text()), done.stdout


@pytest.mark.slow
def test_report_has_machine_command_targets_and_every_section(quick_run):
    text, raw, stdout = quick_run
    assert "`python -m tests.benchmarks.run --quick`" in text
    assert f"{raw['machine']['cores']} cores" in text and "python-telegram-bot" in text
    for heading in (
        "## Targets",
        "## 1. Fan-out",
        "## 2. Planning",
        "## 3. Handling",
        "## 4. Simulation",
        "## 7. The busiest hours",
    ):
        assert heading in text
    assert text.count("**met**") + text.count("**missed**") == 4
    assert "## 1. Fan-out at the limit" in stdout and "| 30 → 30 |" in stdout  # printed too


@pytest.mark.slow
def test_fanout_loses_nothing_sends_nothing_twice_and_keeps_the_limits(quick_run):
    _, raw, _ = quick_run
    for run in raw["results"]["fanout"]:
        assert run["lost"] == 0 and run["duplicated"] == 0
        assert run["delivered"] == run["messages"]
        assert run["statuses"] == {"sent": run["messages"]}
        assert run["busiest_second"] <= 30  # the stand-in answers 429 beyond that
    per_chat = raw["results"]["fanout"][1]
    assert per_chat["messages"] > per_chat["chats"]
    assert per_chat["closest_same_chat_s"] >= 1.0


@pytest.mark.slow
def test_planning_startup_naive_handling_and_simulation_did_their_work(quick_run):
    _, raw, _ = quick_run
    [(_n, size)] = raw["results"]["sizes"].items()
    assert size["population"]["timezones"] > 20
    ours, old = size["plan"], size["plan_reference"]
    assert ours["rows"] > 0 and ours["rows"] == old["rows"]  # same plan as the plain planner
    assert ours["warm_rows"] == old["warm_rows"] and ours["rows_total"] == old["rows_total"]
    assert set(ours["kinds"]) >= {"checkin", "sitting", "lesson"}
    assert size["startup"]["scheduler_jobs"] == 3  # plan, dispatch, retention; none per person
    assert size["startup_first"]["rows_added"] == ours["rows_after_cold"] > ours["rows"]
    assert ours["kinds"]["summary_caregiver"] > 0 and ours["kinds"]["advice"] > 0
    assert ours["parts"]["open_sessions"] > 0
    assert size["history"]["checkin_rows"] == 5 * size["population"]["active"]
    assert size["startup_history"]["rows_added"] == size["startup"]["rows_added"]
    naive = size["naive"]
    assert naive["scheduler_jobs"] == sum(naive["jobs"].values())
    assert naive["jobs"]["checkin"] == size["population"]["active"]
    assert naive["jobs"]["summary_caregiver"] > 0 and naive["jobs"]["session_deadline"] > 0
    handled = size["handling"]
    assert handled["stored"] == handled["answers"]
    # One reply per answer, and a flare-day rating (7 or more) also gets its offer of lower doses.
    assert handled["answers"] <= handled["replies_sent"] <= handled["answers"] * 2
    assert handled["typed"] == handled["answers"] // 10
    sim = raw["results"]["simulation"]
    assert sim["messages_out"] > 0 and sim["answers_in"] > 0 and sim["by_kind"]["checkin"] > 0
    assert sim["api_calls"]["sendMessage"] == sim["messages_out"]
    assert "simulation_profile" not in raw["results"]  # the full run only


@pytest.mark.slow
def test_peak_hours_answer_replies_at_once_and_drop_nothing_for_rate(quick_run):
    """Issue 20 at the smoke size (500 patients, 4 virtual hours): the real sender behind a
    stand-in holding Telegram's limits on the virtual clock, answers through the real handler."""
    text, raw, _ = quick_run
    peak, answer = raw["results"]["peak"], raw["results"]["peak_model"]
    kinds = peak["kinds"]
    assert peak["patients"] == 500 and peak["hours"] == 4.0
    assert peak["retried"] == 0  # VirtualPace kept the stand-in's limits: no 429
    assert peak["answers"] > 0 and kinds["reply"]["sent"] == kinds["reply"]["rows"]
    assert peak["reply_latency_p99_s"] < 1.0 and peak["peak_reply_p99_s"] < 1.0
    assert kinds["checkin"]["p99_s"] < 180 and kinds["checkin"]["expired"] == 0
    assert kinds["sitting"]["dropped"] == kinds["sitting"]["expired"] == 0
    assert sum(k["sent"] for k in kinds.values()) == peak["sends"]
    assert peak["busiest_minute_due"] > 0 and peak["longest_queue"] > 0
    # The model beside it, and beyond: 3 and 10 times the size.
    assert set(answer["error"]) >= {"checkin", "sitting", "reply"}
    assert all(e <= 0.10 for e in answer["error"].values())
    assert set(answer["scaled"]) == {"1500", "5000"} and answer["ceiling"] > 500
    assert "| replies under 1.00 s |" in text and "**Ceiling of one bot token" in text


def test_the_model_serves_by_priority_and_gives_up_only_past_max_late():
    """The model's policy: replies at once, check-ins before lessons before nudges; a nudge
    left waiting past its 10 minutes is dropped, and the line sends about 29.4 a second."""
    from tests.benchmarks import model

    rows = {
        "sitting": [0.0] * 20_000,  # 11 minutes of line time, all due at once
        "lesson": [0.0] * 3_000,
        "checkin": [0.0] * 3_000,
        "reply": [60.0],
    }
    result = model.drain(rows)["kinds"]
    assert result["reply"]["max_s"] < 0.6  # at most half a window: Pace sends in bursts
    assert result["checkin"]["max_s"] < result["lesson"]["p50_s"]
    assert result["lesson"]["max_s"] < result["sitting"]["p50_s"]
    assert abs(result["lesson"]["max_s"] - 6_000 / 29.41) < 3
    assert result["sitting"]["given_up"] > 0 and result["checkin"]["given_up"] == 0
    spread = {"sitting": [i * 0.1 for i in range(20_000)]}  # the same nudges over 33 minutes
    assert model.drain(spread)["kinds"]["sitting"]["given_up"] == 0


def test_benchmarks_are_not_collected_by_the_default_test_run():
    names = [p.name for p in (ROOT / "tests" / "benchmarks").glob("*.py")]
    assert "run.py" in names
    assert not [n for n in names if n.startswith("test_") or n.endswith("_test.py")]


def _rows(db):
    """Every row the planner tick writes, without row ids: the batched planner writes a person's
    check-ins before their sitting nudges (the plain one interleaves them by time), which only
    changes ids, and outbox.due sends by due time anyway."""
    return [
        sorted(row[1:] for row in db.execute(f"SELECT * FROM {table}").fetchall())
        for table in ("outbox", "checkins", "sessions")
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 7, 18, 7, tzinfo=UTC),  # US DST
        datetime(2026, 3, 28, 23, 59, tzinfo=UTC),  # EU DST
        datetime(2026, 4, 4, 13, 0, tzinfo=UTC),
    ],
)  # AU/NZ
def test_batched_planner_writes_what_planning_each_person_alone_writes(start):
    outcomes = []
    for plan_all in (reference.plan_all, plan.plan_all):
        db = open_database(None)
        populate(db, PEOPLE, start - timedelta(days=3), seed=3)
        clock = VirtualClock(start)
        rt = Runtime(
            db=db,
            clock=clock,
            settings=load_settings(environ={}, dotenv=None, TELEGRAM_BOT_TOKEN=SIM_TOKEN),
        )
        rng = random.Random(1)
        added = []
        for tick in range(30):
            if tick % 5 == 2:  # what the bot does between ticks
                for pid in rng.sample(range(1, PEOPLE + 1), 8):  # "not sitting today/tomorrow"
                    day = (clock.now() + timedelta(days=rng.choice([-1, 0, 1]))).date()
                    sitting.day_off(db, pid, day.isoformat())
                for pid in rng.sample(range(1, PEOPLE + 1), 5):  # a new setting, as replan does it
                    db.execute(
                        "DELETE FROM outbox WHERE patient_id = ? AND status = 'pending'", [pid]
                    )
                    db.execute(
                        "UPDATE patients SET checkin_time = '09:10', updated_at = ? WHERE id = ?",
                        [iso(clock.now()), pid],
                    )
                in_course = [
                    r[0]
                    for r in db.execute(
                        "SELECT id FROM patients WHERE course_state = 'active' ORDER BY id"
                    )
                ]
                for pid in rng.sample(in_course, 4):  # the course end, as compose.after_sent
                    db.execute(
                        "UPDATE patients SET course_state = 'maintenance' WHERE id = ? "
                        "AND course_state = 'active'",
                        [pid],
                    )
                    db.execute(
                        "DELETE FROM outbox WHERE patient_id = ? AND kind = 'checkin' "
                        "AND status = 'pending'",
                        [pid],
                    )
                for pid in rng.sample(range(1, PEOPLE + 1), 3):  # blocked the bot, or came back
                    db.execute(
                        "UPDATE patients SET status = CASE status WHEN 'active' "
                        "THEN 'inactive' ELSE 'active' END WHERE id = ?",
                        [pid],
                    )
            # sent or expired, a few left pending until later (the dispatcher's part)
            # (chosen by the row's key: the two planners number rows differently)
            db.execute(
                "UPDATE outbox SET status = CASE WHEN unicode(substr(dedupe_key, -1)) "
                "% 3 = 0 THEN 'expired' ELSE 'sent' END WHERE status = 'pending' "
                "AND due_at <= ? AND (length(dedupe_key) % 7 != 0 OR ? > 20)",
                [iso(clock.now()), tick],
            )
            added.append(plan_all(rt))
            clock.advance(timedelta(minutes=rng.choice([15, 15, 15, 15, 60, 240, 600, 1])))
        outcomes.append((_rows(db), added))
        db.close()
    assert outcomes[0][1] == outcomes[1][1]
    assert outcomes[0][0] == outcomes[1][0]


@pytest.mark.slow
def test_next_due_is_the_plain_query(harness, clock):
    db, rng = harness.db, random.Random(2)
    for n in range(300):
        harness.add_patient(
            user_id=2000 + n,
            sitting_days="mon,tue,wed,thu,fri",
            sitting_from="09:00",
            sitting_to="17:00",
        )
    plain = (
        "SELECT min(max(due_at, coalesce(next_attempt_at, due_at))) FROM outbox "
        "WHERE status = 'pending'"
    )
    for _ in range(20):
        plan.plan_all(harness.rt)
        ids = [r[0] for r in db.execute("SELECT id FROM outbox WHERE status = 'pending'")]
        for row in rng.sample(ids, min(len(ids), 30)):  # postponed, retried, sent
            choice = rng.random()
            if choice < 0.4:
                db.execute(
                    "UPDATE outbox SET next_attempt_at = ? WHERE id = ?",
                    [iso(clock.now() + timedelta(minutes=rng.randrange(-90, 900))), row],
                )
            elif choice < 0.7:
                db.execute("UPDATE outbox SET status = 'sent' WHERE id = ?", [row])
        expected = db.execute(plain).fetchone()[0]
        assert next_due(harness.rt) == (datetime.fromisoformat(expected) if expected else None)
        clock.advance(timedelta(minutes=rng.choice([15, 45, 180])))
