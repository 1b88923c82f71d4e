"""Start-up and the plan tick never block (issue 20, deliverable 4).

The real Application on the fake Bot API. post_init starts the plan pass in the background and
returns; the pass turns the event loop between batches of people (`jobs.plan.turn`), which the
tests replace with a gate so that they decide, without sleeping, where the pass is held.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

import jobs.plan
from jobs.plan import plan_all, plan_all_async, plan_done, plan_tick, stop_planning
from storage import liveness
from storage.db import open_database
from tests.benchmarks.population import populate
from tests.conftest import Harness

PEOPLE = (1001, 1002, 1003)


class Gate:
    """A pause that holds the pass between two steps until released (no sleeping)."""

    def __init__(self) -> None:
        self.steps = 0
        self.open = asyncio.Event()

    async def __call__(self) -> None:
        self.steps += 1
        await self.open.wait()
        await asyncio.sleep(0)  # open: a turn of the loop, as jobs.plan.turn

    async def held(self) -> None:
        """Until the pass has run its first step and waits at the gate."""
        while not self.steps:
            await asyncio.sleep(0)  # a turn of the loop, not a wait on the clock


@pytest.fixture
def gate(monkeypatch) -> Gate:
    g = Gate()
    monkeypatch.setattr(jobs.plan, "turn", g)
    monkeypatch.setattr(jobs.plan, "PASS_BATCH", 1)  # a step per person
    return g


async def booted(clock, fresh_db, db_path) -> Harness:
    """A Harness with three patients, started as `run` starts: post_init, no waiting for it."""
    h = Harness(clock, fresh_db, db_path)
    for user in PEOPLE:
        h.add_patient(user)
    await h.app.initialize()
    from bot.simulator.updates import UpdateFactory

    h.updates = UpdateFactory(h.app.bot, clock)
    await h.app.post_init(h.app)
    return h


def planned(db, kind: str = "checkin") -> int:
    return db.execute("SELECT count(*) FROM outbox WHERE kind = ?", [kind]).fetchone()[0]


def rows(db) -> set[tuple]:
    return {
        tuple(r)
        for r in db.execute(
            "SELECT chat_id, patient_id, kind, due_at, expires_at, dedupe_key, payload"
            " FROM outbox WHERE status = 'pending'"
        )
    }


async def test_post_init_returns_before_the_plan_pass_has_run(clock, fresh_db, db_path):
    h = await booted(clock, fresh_db, db_path)
    try:
        task = h.rt.planning
        assert task is not None and not task.done()
        assert planned(h.db) == 0  # nothing planned yet: post_init did not wait for it
        assert liveness.last(h.db, "plan") is None  # the beat comes when the pass has finished
        await plan_done(h.rt)
        assert task.done() and task.result() > 0
        assert planned(h.db) == len(PEOPLE)  # tomorrow's 08:00 check-in each
        assert liveness.last(h.db, "plan") == clock.now()
    finally:
        await h.stop()


async def test_an_update_sent_during_the_first_pass_is_answered_before_it_ends(
    clock, fresh_db, db_path, gate
):
    h = await booted(clock, fresh_db, db_path)
    try:
        await gate.held()  # the pass has planned the first step and waits between two batches
        await h.send_text(1003, "/help")
        assert h.texts(1003)  # answered while the pass is still under way
        assert not h.rt.planning.done()
        assert planned(h.db) == 0  # the pass has not reached anyone's check-in yet
        gate.open.set()
        await plan_done(h.rt)
        assert planned(h.db) == len(PEOPLE)
        during = h.texts(1003)
        await h.send_text(1003, "/help")
        assert h.texts(1003) == during * 2  # the same answer as once the pass is over
    finally:
        await h.stop()


async def test_a_tick_while_a_pass_runs_is_skipped(clock, fresh_db, db_path, gate, caplog):
    h = await booted(clock, fresh_db, db_path)
    try:
        await gate.held()
        first = h.rt.planning
        with caplog.at_level(logging.INFO, logger="jobs.plan"):
            assert await plan_tick(h.rt) is None  # at once: it does not wait for the pass
        assert h.rt.planning is first  # no second pass
        assert any("skipped" in r.getMessage() for r in caplog.records)
        gate.open.set()
        await plan_done(h.rt)
        clock.advance(timedelta(minutes=15))
        assert await plan_tick(h.rt) == 0  # the next tick runs: nothing new in 15 minutes
        assert h.rt.planning is not first
        assert liveness.last(h.db, "plan") == clock.now()
    finally:
        await h.stop()


async def test_a_tick_whose_pass_is_cancelled_by_another_ends_quietly(
    clock, fresh_db, db_path, gate
):
    """The loop that ticks awaits the pass: a pass cancelled by someone else (stop_planning) must
    end that tick with None, not with CancelledError, or the loop would stop planning for good."""
    h = await booted(clock, fresh_db, db_path)
    try:
        gate.open.set()
        await plan_done(h.rt)
        gate.open.clear()
        clock.advance(timedelta(minutes=15))
        ticking = asyncio.ensure_future(plan_tick(h.rt))
        while h.rt.planning is None or h.rt.planning.done():
            await asyncio.sleep(0)
        await stop_planning(h.rt)
        assert await ticking is None  # the tick ended quietly
        gate.open.set()
        assert await plan_tick(h.rt) is not None  # and the next one plans
    finally:
        await h.stop()


async def test_shutdown_cancels_the_pass_between_batches(clock, fresh_db, db_path, gate):
    h = await booted(clock, fresh_db, db_path)
    gate.open.set()
    while planned(h.db) == 0:  # run until the first person's check-in is in
        await asyncio.sleep(0)
    task = h.rt.planning
    await stop_planning(h.rt)
    assert task.cancelled() and h.rt.planning is None
    assert planned(h.db) < len(PEOPLE)  # stopped part way, what was written is whole
    assert liveness.last(h.db, "plan") is None  # not counted as alive
    await h.app.shutdown()
    again = await Harness(clock, open_database(db_path), db_path).start()  # the next start
    try:
        assert planned(again.db) == len(PEOPLE)
        assert liveness.last(again.db, "plan") == clock.now()
    finally:
        await again.stop()


async def test_the_async_pass_plans_the_same_rows_as_plan_all(clock, migrated, tmp_path):
    """The benchmark population (time zones, quiet hours, caregivers, sessions, courses) on two
    copies of one database: the pass in odd-sized steps writes exactly plan_all's rows."""
    dbs = []
    for name in ("sync", "async"):
        path = tmp_path / f"{name}.sqlite3"
        path.write_bytes(migrated.read_bytes())
        db = open_database(path)
        populate(db, 120, clock.now() - timedelta(days=20), seed=5)
        dbs.append(Harness(clock, db, path))
    sync, background = dbs
    assert plan_all(sync.rt) == await plan_all_async(background.rt, size=7)
    assert len(rows(sync.db)) > 1000
    assert rows(sync.db) == rows(background.db)
    clock.advance(timedelta(minutes=15))  # and the next tick too
    assert plan_all(sync.rt) == await plan_all_async(background.rt, size=13)
    assert rows(sync.db) == rows(background.db)
    for h in dbs:
        h.db.close()


async def test_a_session_closed_between_two_steps_is_left_alone(harness):
    """decide_overdue in steps: a session the person closed after it was listed (between two
    steps of the pass, where a handler may run) gets no second word from the pass."""
    from jobs import sessions as sessions_flow
    from storage import activities
    from tests.test_ops import _session

    h = harness
    ids = [h.add_patient(user_id=user) for user in (2001, 2002)]
    for pid in ids:
        activities.add_activity(h.db, pid, "walk", 20, h.clock.now())
    act = {a["patient_id"]: a["id"] for a in h.db.query("SELECT id, patient_id FROM activities")}
    first, second = [await _session(h, 2001 + k, act[pid]) for k, pid in enumerate(ids)]
    h.clock.advance(timedelta(hours=37))
    steps = sessions_flow.decide_overdue_steps(h.rt, size=1)
    assert next(steps) == 1  # the first session decided; the second listed, still open
    h.db.execute("UPDATE sessions SET stage = 'incomplete' WHERE id = ?", [second])  # meanwhile
    assert next(steps) == 0
    keys = {r[0] for r in h.db.execute("SELECT dedupe_key FROM outbox WHERE kind = 'advice'")}
    assert f"advice:{first}" in keys and f"advice:{second}" not in keys
