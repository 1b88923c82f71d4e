"""Issue 17's 12-week outcome cohort, played through the real Application (bot.simulator).

One clinic ("Eastside Physio", Europe/London; clinician Kim) and one fixed-start cohort of
twelve personas from Monday 2 March 2026, run for 88 days (week 12's questions stay open 3 days).
Everyone is asked the baseline PEG and goals at enrolment, as at the end of set-up:

* o01-o08 answer everything on time (PEG, goals, the weekly change), with varied change;
* o09 answers week 6 late (only after the reminder);
* o10 skips every PEG item at the start (nothing can be compared), answers later;
* o11 skips one PEG item at week 6 (a partial set, no score) and never answers week 12;
* o12 never answers any outcome question (lost to follow-up at both timepoints).

`run_outcomes_simulation(path)` builds the database at `path` and returns what was played; the
database holds every raw row (outcome_sets, outcome_answers, goals, checkins, memberships), so
task M's export tests can recompute each CSV cell from it. Drawing charts is replaced by a tiny
PNG (tested elsewhere).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import chart
from bot.simulator.runner import Simulation
from bot.simulator.scenario import parse_scenario

START = datetime(2026, 3, 2, 6, 0, tzinfo=ZoneInfo("UTC"))  # a Monday
DAYS = 88
KIM = 9301
CLINIC, COHORT = "Eastside Physio", "Outcome group"
TINY_PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PERSONAS = [f"o{n:02d}" for n in range(1, 13)]


def _pains(rng: random.Random, begin: int, end: int) -> list[int | None]:
    out: list[int | None] = []
    for day in range(DAYS):
        base = begin + (end - begin) * day / (DAYS - 1)
        value = max(0, min(10, round(base + rng.choice((-1, 0, 0, 1)))))
        out.append(None if rng.random() < 0.1 else value)
    return out


def scenario():
    rng = random.Random(17)
    patients = []
    for n, pid in enumerate(PERSONAS, start=1):
        begin = rng.randint(5, 8)
        end = max(0, begin - rng.choice((0, 1, 2, 3, 4)))
        peg0 = [begin, min(10, begin + rng.choice((-1, 0, 1))), begin]
        drop6, drop12 = rng.choice((0, 1, 2)), rng.choice((0, 1, 2, 3, 4))
        outcomes: dict = {
            "peg": {
                "baseline": peg0,
                "w06": [max(0, v - drop6) for v in peg0],
                "w12": [max(0, v - drop12 + rng.choice((-1, 0, 1))) for v in peg0],
            },
            "goals": [
                {"name": "gardening", "baseline": 3, "w06": 3 + drop6, "w12": 3 + drop12},
                {"name": "carrying shopping", "baseline": 5, "w06": 5, "w12": min(10, 6 + n % 3)},
            ][: 1 + n % 2],
            "grc": [0, 0, 1, 1, 1, rng.choice((1, 2)), 2, 2, rng.choice((1, 2, 3)), 2, 2, 3],
        }
        if pid == "o09":
            outcomes["late"] = ["w06"]
        if pid == "o10":
            outcomes["peg"]["baseline"] = [None, None, None]
            outcomes["grc"] = [None, 0, 1, None, 1, 1, 1, 2, 2, 2, 2, 2]
        if pid == "o11":
            outcomes["peg"]["w06"][1] = None
            del outcomes["peg"]["w12"]
            for g in outcomes["goals"]:
                g.pop("w12", None)
        if pid == "o12":
            outcomes = {"peg": {}, "goals": []}
        patients.append(
            {
                "id": pid,
                "name": f"{pid.upper()}name",
                "chat_id": 30000 + n,
                "timezone": "Europe/London" if n % 3 else "Europe/Berlin",
                "checkin_time": ("08:00", "09:30", "19:00")[n % 3],
                "answers": {
                    "checkin_pain": _pains(rng, begin, end),
                    "ignore": ["lesson"],
                    "outcomes": outcomes,
                },
            }
        )
    return parse_scenario(
        {
            "start": START.isoformat(),
            "days": DAYS,
            "seed": 17,
            "patients": patients,
            "clinics": [
                {
                    "name": CLINIC,
                    "timezone": "Europe/London",
                    "clinicians": [{"id": KIM, "name": "Kim"}],
                    "cohorts": [{"name": COHORT, "start": "2026-03-02", "patients": PERSONAS}],
                }
            ],
        }
    )


@dataclass
class OutcomesRun:
    sim: Simulation
    db_path: Path
    cohort_id: int
    now: datetime  # the end of the run, when /outcomes was sent
    report_text: str  # what /outcomes COHORT_ID sent Kim at the end
    mid_report_text: str  # the same on day 44 (week 6 answered, week 12 not reached)
    mid_now: datetime


async def _play(sim: Simulation, db_path: Path) -> OutcomesRun:
    await sim.start()
    try:
        staff = next(k for c in sim.scenario.clinics for k in c.clinicians if k.chat_id == KIM)
        cohort_id = sim.cohort_ids[(CLINIC, COHORT)]
        await sim.run_until(START + timedelta(days=44, hours=12))
        mid = await sim.clinician_say(staff, f"/outcomes {cohort_id}", "outcomes")
        mid_now = sim.clock.now()
        await sim.run_until(START + timedelta(days=DAYS))
        final = await sim.clinician_say(staff, f"/outcomes {cohort_id}", "outcomes")
        return OutcomesRun(
            sim,
            db_path,
            cohort_id,
            sim.clock.now(),
            "\n".join(s.text for s in final),
            "\n".join(s.text for s in mid),
            mid_now,
        )
    finally:
        await sim.app.shutdown()


def run_outcomes_simulation(db_path: Path) -> OutcomesRun:
    """Play the twelve weeks into the SQLite database at `db_path` (a new file)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chart, "render_png", lambda data: TINY_PNG)
        sim = Simulation(scenario(), db_path=db_path, PLAN_INTERVAL_SECONDS=3600)
        return asyncio.run(_play(sim, db_path))
