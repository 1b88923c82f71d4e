"""The simulator and its transcript, on the scenario format's documented example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, time
from pathlib import Path

import pytest

from bot.rules.localtime import zone
from bot.simulator.runner import Simulation, local_dates
from bot.simulator.scenario import ScenarioError, load_scenario, parse_scenario

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / "scenarios" / "issue_example.yaml"


@pytest.fixture
async def example_run():
    scenario = load_scenario(EXAMPLE)
    sim = Simulation(scenario)
    lines = await sim.run()
    return scenario, sim, lines


@pytest.mark.slow
async def test_example_runs_and_transcript_is_well_formed(example_run):
    _scenario, _, lines = example_run
    assert lines
    times = [line["t"] for line in lines]
    assert times == sorted(times)
    for line in lines:
        assert set(line) == {"t", "patient", "chat_id", "dir", "kind", "text", "buttons", "data"}
        assert line["dir"] in {"out", "in", "event"}
        assert datetime.fromisoformat(line["t"]).utcoffset().total_seconds() == 0


@pytest.mark.slow
async def test_checkins_arrive_at_her_local_time_and_are_answered(example_run):
    scenario, sim, lines = example_run
    ana = scenario.patients[0]
    tz = zone(ana.timezone)
    checkins = [line for line in lines if line["kind"] == "checkin" and line["dir"] == "out"]
    # Day 0 starts at 07:00 in New York, so days 0-7 have check-ins; she blocks the bot on day 8.
    assert [datetime.fromisoformat(c["t"]).astimezone(tz).time() for c in checkins] == [time(8)] * 8
    days = local_dates(ana, lines, "checkin")
    assert len(days) == len(set(days))  # the US DST change on 2026-03-08 moved nothing
    answers = [line["text"] for line in lines if line["kind"] == "checkin" and line["dir"] == "in"]
    # Day 2's 08:00 check-in comes 22 h after her day-1 walk, so it is also that walk's next-day
    # question: she answers it with the session's next_day (4), not the day's 5.
    assert answers == ["4", "4", "4", "3", "3", "3", "3", "3"]
    [walk] = [line["data"] for line in lines if line["kind"] == "pacing"]
    assert (walk["before"], walk["after"], walk["settled"], walk["next_day"]) == (4, 6, True, 4)
    assert walk["verdict"] == "keep"
    stored = [
        r["pain"]
        for r in sim.db.query(
            "SELECT pain FROM checkins WHERE status='answered' ORDER BY local_date"
        )
    ]
    assert stored == [4, 4, 4, 3, 3, 3, 3, 3]


@pytest.mark.slow
async def test_ignored_sitting_nudges_stay_inside_sitting_hours_on_weekdays(example_run):
    scenario, _, lines = example_run
    tz = zone(scenario.patients[0].timezone)
    nudges = [
        datetime.fromisoformat(line["t"]).astimezone(tz)
        for line in lines
        if line["kind"] == "sitting" and line["dir"] == "out"
    ]
    assert nudges
    assert all(n.weekday() < 5 and time(9) < n.time() < time(17) for n in nudges)
    assert not [line for line in lines if line["kind"] == "sitting" and line["dir"] == "in"]


@pytest.mark.slow
async def test_blocking_the_bot_stops_everything_for_her(example_run):
    _scenario, sim, lines = example_run
    block = next(line for line in lines if line["kind"] == "blocked_bot")
    unreachable = next(line for line in lines if line["kind"] == "unreachable")
    assert block["t"] <= unreachable["t"]
    after = [line for line in lines if line["dir"] == "out" and line["t"] > unreachable["t"]]
    assert after == []
    assert sim.db.execute("SELECT status FROM patients").fetchone()[0] == "inactive"


@pytest.mark.parametrize(
    "raw,words",
    [
        ({"days": 3, "patients": [{"id": "a"}]}, "start"),
        ({"start": "2026-03-02T12:00:00", "patients": [{"id": "a"}]}, "time zone"),
        ({"start": "2026-03-02T12:00:00Z", "patients": []}, "patient"),
        (
            {"start": "2026-03-02T12:00:00Z", "patients": [{"id": "a", "timezone": "Mars/Base"}]},
            "time zone",
        ),
        (
            {
                "start": "2026-03-02T12:00:00Z",
                "patients": [{"id": "a", "answers": {"checkin_pain": 12}}],
            },
            "0 to 10",
        ),
        (
            {
                "start": "2026-03-02T12:00:00Z",
                "patients": [
                    {
                        "id": "a",
                        "answers": {"sessions": [{"day": 1, "at": "10:00", "activity": "run"}]},
                    }
                ],
            },
            "activities",
        ),
    ],
)
def test_bad_scenarios_say_what_is_wrong(raw, words):
    with pytest.raises(ScenarioError, match=words):
        parse_scenario(raw)


@pytest.mark.slow
def test_simulate_command_writes_json_lines(tmp_path):
    out, db = tmp_path / "t.jsonl", tmp_path / "sim.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "simulate",
            "--scenario",
            str(EXAMPLE),
            "--db",
            str(db),
            "--transcript",
            str(out),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(line["kind"] == "checkin" for line in lines) and db.exists()
    again = subprocess.run(
        [sys.executable, "-m", "bot", "simulate", "--scenario", str(EXAMPLE), "--db", str(db)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "already exists" in again.stderr
