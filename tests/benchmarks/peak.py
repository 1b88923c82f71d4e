"""The busiest hours at scale (issue 20): the existing population through one day on a virtual
clock, with the real planner (`jobs.plan.plan_all`), the real sender (`jobs.dispatch.dispatch_due`
in its two lanes, as `Sender` runs them, with each kind's priority) and a Bot API stand-in
(`FakeBotApi`) enforcing 30 messages a second overall and one a second per chat on that clock.

Patients answer a share of their check-ins by tapping a rating: the tap goes through
`Application.process_update` (the real handler, which stores the rating and queues its reply with
the real `reply` path and kicks the sender); a few answers also report a warning sign, whose
caregiver alerts are queued by the real `jobs.summary.alert_caregivers`.

Only the pacing is the benchmark's own: `VirtualPace` keeps `jobs.dispatch.Pace`'s rules (30 sends
in any 1.02 s, at least half an even spacing apart, 1.02 s between two to one chat, urgent sends
first) but waits by moving the virtual clock instead of sleeping. Sends are one line: a send takes
the next free slot, so the clock is the line's time. Handling an answer takes no line time: while
the world handles a tap (the handler, then the fast lane's pass that sends its reply), the bulk
lane takes no new slot. On the real bot that handling costs about 2 ms of CPU (docs/benchmarks.md,
handling), well under one slot (34 ms); without the hold, every await inside the handler let a
bulk send take a slot and move the clock, so a reply was charged up to a second of line time it
would not wait on the wire. The stand-in answers at once (no network round trip); a real reply
also waits for the round trip of `answerCallbackQuery`, which the handler awaits first.

    python -m tests.benchmarks.peak --patients 100000            # one day, ~an hour of CPU
    python -m tests.benchmarks.peak --patients 500 --hours 4     # the smoke test's size
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import heapq
import json
import logging
import random
import sys
import time
from collections import Counter, defaultdict, deque
from datetime import datetime, timedelta
from pathlib import Path

import jobs.dispatch
from bot.app import build_application
from bot.clock import VirtualClock, iso, parse_iso
from bot.rules.kinds import KINDS
from bot.simulator.fake_api import FakeBotApi, Sent
from bot.simulator.updates import UpdateFactory
from jobs.dispatch import dispatch_due, next_due
from jobs.plan import plan_all
from jobs.sessions import decide_overdue
from jobs.summary import alert_caregivers
from storage import patients
from storage.db import open_database
from tests.benchmarks.measure import START, close, fresh, peak_rss_mb, settings_for
from tests.benchmarks.population import populate
from tests.benchmarks.report import _late

OVERALL, WINDOW = 30, 1.02  # jobs.dispatch.PACE: 30 sends in any 1.02 s, 1.02 s per chat
DISPATCH_INTERVAL = timedelta(seconds=5)  # the Sender's bulk lane: every DISPATCH_INTERVAL_SECONDS
PLAN_EVERY = timedelta(hours=1)  # plan ticks (36 h ahead each, so hourly loses nothing here)
ANSWER_SHARE = 0.3  # of check-ins sent, answered with a tap
ALERT_SHARE = 0.05  # of answers, followed by a warning sign (caregivers who chose alerts told)
# Which lane's pass a send belongs to (asyncio tasks inherit it): only the bulk lane's sends
# wait while the world handles an answer; the fast lane's (replies, advice) are that handling.
LANE: contextvars.ContextVar[str] = contextvars.ContextVar("lane", default="fast")
HOLD_TURNS = 200  # turns of the event loop a bulk send waits for an answer being handled
GROUPS = {
    0: "replies and urgent alerts",
    1: "check-ins and activity questions",
    2: "lessons and summaries",
    3: "nudges",
}
# Targets (issue 20): p99 lateness per group, seconds; nudges: none dropped for rate.
TARGETS = {"reply": 1.0, "alert": 5.0, 1: 180.0, 2: 900.0}


class VirtualPace:
    """`jobs.dispatch.Pace` on the virtual clock: waiting moves the clock, it never sleeps."""

    def __init__(self, clock: VirtualClock, moved: asyncio.Event):
        self.clock, self.moved = clock, moved
        self.window = timedelta(seconds=WINDOW)
        self.min_gap = self.window / OVERALL / 2
        self.chat_gap = self.window
        self.recent: deque[datetime] = deque(maxlen=OVERALL)
        self.chats: dict[int, datetime] = {}
        self.urgent = 0
        self.held = 0  # the world is handling an answer: the bulk lane takes no slot meanwhile
        self.turns: dict = {}  # the runtime's chat turns (set by `simulate`)
        self.hold_gave_up = 0  # bulk sends that stopped waiting for an answer's handling
        self.longest_hold = 0  # the most turns of the loop a bulk send waited for one
        self.sends = 0
        self.chat_waits = 0  # the line waited for a chat's own gap

    def _alone(self, chat_id: int) -> bool:
        """Nobody else waits for this chat's turn (jobs.dispatch._chat_turn). When the answer
        being handled sends to this chat, the send in flight here goes first, as on the wire:
        holding it would leave the answer's reply waiting for it for ever."""
        turn = self.turns.get(chat_id)
        return turn is None or turn[1] <= 1

    async def chat_free(self, chat_id: int) -> None:
        return None  # the chat's gap is kept in `wait`, on the line's time

    async def wait(self, chat_id: int, urgent: bool = False, paid: bool = False) -> None:
        self.moved.set()  # the world (answers, the fast lane) may act before this slot
        if urgent:
            self.urgent += 1
        try:
            await asyncio.sleep(0)
            bulk = LANE.get() == "bulk"  # inherited by the tasks the bulk lane's pass starts
            spins = 0
            while (not urgent and self.urgent) or (bulk and self.held and self._alone(chat_id)):
                if not urgent and not self.urgent and spins >= HOLD_TURNS:
                    # The answer's handling waits for something this lane holds (a chat's
                    # turn, a place in flight): go, as the line would.
                    self.hold_gave_up += 1
                    break
                spins += 1 if not self.urgent else 0
                await asyncio.sleep(0)  # a reply or an alert waits or is being made: first
            self.longest_hold = max(self.longest_hold, spins)
        finally:
            if urgent:
                self.urgent -= 1
        now = self.clock.now()
        ready = now
        if self.recent:
            ready = max(ready, self.recent[-1] + self.min_gap)
        if len(self.recent) == OVERALL:
            ready = max(ready, self.recent[0] + self.window)
        last = self.chats.get(chat_id)
        if last is not None and last + self.chat_gap > ready:
            ready = last + self.chat_gap
            self.chat_waits += 1
        if ready > now:
            self.clock.set(ready)
        self.recent.append(ready)
        self.chats[chat_id] = ready
        self.sends += 1


class World:
    """The patients: taps on check-ins sent, at a later virtual time; and the sender's kick."""

    def __init__(self, app, rt, clock: VirtualClock, seed: int):
        self.app, self.rt, self.clock = app, rt, clock
        self.updates = UpdateFactory(app.bot, clock)
        self.random = random.Random(seed)
        self.answers: list[tuple[datetime, int, int, str, int]] = []  # (at, n, chat, data, msg)
        self.kicked = False
        self.busy = False
        self.moved = asyncio.Event()
        self.given: list[datetime] = []
        self.handling: list[float] = []  # seconds of CPU per answer (process_update)
        self.alerting = [
            pid
            for (pid,) in rt.db.execute(
                "SELECT DISTINCT patient_id FROM caregivers WHERE alerts = 1 ORDER BY patient_id"
            )
        ]
        self.waiting: dict[int, datetime] = {}  # chat -> when its tap came, until its reply
        self.latency: list[tuple[datetime, float]] = []  # (tap, seconds to the reply's send)
        self.alerts = 0
        self._n = 0
        self.pace: VirtualPace | None = None  # set by `simulate`

    def kick(self) -> None:  # rt.sender: what a handler's dispatch_now calls
        self.kicked = True
        self.moved.set()

    def on_send(self, sent: Sent) -> None:
        tapped = self.waiting.pop(sent.chat_id, None)
        if tapped is not None:  # the first message after a tap is its reply (priority 0)
            self.latency.append((tapped, (sent.at - tapped).total_seconds()))
        data = next((d for row in sent.buttons for _, d in row if d.startswith("c:")), None)
        if data is None or self.random.random() >= ANSWER_SHARE:
            return
        pain = self.random.randint(0, 10)
        at = sent.at + timedelta(seconds=self.random.uniform(10, 600))
        self._n += 1
        heapq.heappush(
            self.answers,
            (at, self._n, sent.chat_id, data.rsplit(":", 1)[0] + f":{pain}", sent.message_id),
        )

    def next_at(self) -> datetime | None:
        return self.answers[0][0] if self.answers else None

    async def step(self) -> None:
        """Answers whose time has come, then a fast-lane pass if a handler kicked the sender."""
        if self.busy:
            return
        self.busy = True
        held = bool(self.answers and self.answers[0][0] <= self.clock.now()) or self.kicked
        if held and self.pace is not None:
            self.pace.held += 1
        try:
            while self.answers and self.answers[0][0] <= self.clock.now():
                _, _n, chat, data, message_id = heapq.heappop(self.answers)
                self.given.append(self.clock.now())
                update = self.updates.callback(chat, data, message_id=message_id)
                self.waiting[chat] = self.clock.now()
                started = time.perf_counter()
                await self.app.process_update(update)
                self.handling.append(time.perf_counter() - started)
                if self.alerting and self.random.random() < ALERT_SHARE:
                    # Someone reports a warning sign: one of the patients whose caregivers
                    # chose alerts (the real enqueue; the handler's own path needs a dialogue).
                    pid = self.random.choice(self.alerting)
                    patient = patients.get(self.rt.db, pid)
                    if patient is not None:
                        self.alerts += alert_caregivers(self.rt.db, patient, self.clock.now())
                        self.kick()
            while self.kicked:
                self.kicked = False
                await dispatch_due(self.rt, lane="fast")
        finally:
            self.busy = False
            if held and self.pace is not None:
                self.pace.held -= 1

    async def run(self) -> None:
        while True:
            await self.moved.wait()
            self.moved.clear()
            await self.step()


def warm_up(rt, clock: VirtualClock, begin: datetime) -> None:
    """From START to `begin` as the running bot would have left it, without sending: planned at
    START, overdue sessions decided every 15 minutes (their advice would otherwise all come due
    at `begin`), and every row due before `begin` counted as sent on time."""
    plan_all(rt)
    step = timedelta(minutes=15)
    while clock.now() < begin:
        clock.set(min(begin, clock.now() + step))
        decide_overdue(rt)
        rt.db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = due_at "
            "WHERE status = 'pending' AND due_at < ?",
            [iso(clock.now())],
        )


def _grid(moment: datetime, start: datetime) -> datetime:
    """The next pass of the bulk lane at or after `moment` (every DISPATCH_INTERVAL)."""
    steps = -(-(moment - start) // DISPATCH_INTERVAL)
    return start + steps * DISPATCH_INTERVAL


async def simulate(
    path: str, n: int, hours: float, start_hour: float = 0.0, seed: int = 8, progress: bool = False
) -> dict:
    """`n` patients (populated at START) through `hours` from START + `start_hour`."""
    logging.getLogger().setLevel(logging.WARNING)
    started = time.perf_counter()
    db = open_database(fresh(Path(path)))
    active = populate(db, n, START, seed)
    begin = START + timedelta(hours=start_hour)
    clock = VirtualClock(START)
    api = FakeBotApi(clock, overall_per_second=OVERALL, per_chat_per_second=1, history=100)
    app = build_application(
        settings_for(path), clock, api, db=db, rate_limit=False, schedule_ticks=False
    )
    await app.initialize()
    rt = app.bot_data["runtime"]
    rt.bot = app.bot
    world = World(app, rt, clock, seed)
    rt.sender = world  # dispatch_now only kicks; the fast lane then runs (World.step)
    api.on_send = world.on_send
    pace = VirtualPace(clock, world.moved)
    world.pace = pace
    pace.turns = rt.chat_turns
    saved = jobs.dispatch._pace
    jobs.dispatch._pace = lambda _rt: pace  # type: ignore[assignment]
    if begin > START:
        warm_up(rt, clock, begin)
    setup = time.perf_counter() - started
    end = begin + timedelta(hours=hours)
    next_plan = begin
    plan_seconds = 0.0
    watcher = asyncio.create_task(world.run())
    loop_started = time.perf_counter()
    try:
        while clock.now() < end:
            while world.busy:  # the world's task is mid-step (an answer, a fast pass): let it
                await asyncio.sleep(0)
            if clock.now() >= next_plan:
                t = time.perf_counter()
                plan_all(rt)
                plan_seconds += time.perf_counter() - t
                next_plan += PLAN_EVERY
            await world.step()
            await dispatch_due(rt, lane="fast")
            lane = LANE.set("bulk")
            try:
                await dispatch_due(rt, lane="bulk")
            finally:
                LANE.reset(lane)
            await world.step()
            now = clock.now()
            due = next_due(rt)
            bulk = _grid(max(due, now + timedelta(microseconds=1)), begin) if due else end
            answer = world.next_at() or end
            clock.set(max(now, min(bulk, answer, next_plan, end)))
            if progress and clock.now().minute == 0 and clock.now().second < 5:
                print(
                    f"  {clock.now():%H:%M} UTC: {pace.sends} sent, "
                    f"{time.perf_counter() - loop_started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        jobs.dispatch._pace = saved  # type: ignore[assignment]
    seconds = time.perf_counter() - loop_started
    await app.shutdown()
    figures = figures_of(db, begin, end)
    # Reply latency from the tap to the reply's send, exactly (stored times are whole seconds).
    in_peak = [
        s
        for at, s in world.latency
        if (p := parse_iso(figures["peak_hour"])) <= at < p + timedelta(hours=1)
    ]
    figures["reply_latency_p99_s"] = _pct([s for _, s in world.latency], 0.99)
    figures["reply_latency_max_s"] = max((s for _, s in world.latency), default=0.0)
    figures["peak_replies"] = len(in_peak)
    figures["peak_reply_p99_s"] = _pct(in_peak, 0.99)
    figures["peak_reply_max_s"] = max(in_peak, default=0.0)
    rows = planned_rows(db, begin, end)
    # The whole day from START, for the model (tests/benchmarks/model.py `answer`): rows before
    # `begin` as planned (warm_up counted them sent on time), after `end` as still pending.
    day_rows = planned_rows(db, START, START + timedelta(hours=24))
    close(db)
    return {
        "patients": n,
        "active": active,
        "hours": hours,
        "from": begin.isoformat(),
        "from_hour": start_hour,
        "answer_share": ANSWER_SHARE,
        "answers": len(world.given),
        "alerts_queued": world.alerts,
        "sends": pace.sends,
        "chat_waits": pace.chat_waits,
        "hold_gave_up": pace.hold_gave_up,
        "longest_hold_turns": pace.longest_hold,
        "setup_s": setup,
        "plan_s": plan_seconds,
        "seconds": seconds,
        "cpu_ms_per_send": 1000 * (seconds - plan_seconds) / max(1, pace.sends),
        "answer_ms_p50": 1000 * _pct(world.handling, 0.5),
        "answer_ms_p99": 1000 * _pct(world.handling, 0.99),
        "peak_rss_mb": peak_rss_mb(),
        **figures,
        "rows": rows,
        "day_rows": day_rows,
    }


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def figures_of(db, start: datetime, end: datetime) -> dict:
    """Per kind: lateness (sent - max(due, end of quiet hours)) p50/p99/max, and outcomes; the
    busiest minute; reply latency for answers given during the busiest hour."""
    late: dict[str, list[float]] = defaultdict(list)
    outcome: dict[str, Counter] = defaultdict(Counter)
    due_minutes: Counter = Counter()
    queue: Counter = Counter()  # +1 when a row is due, -1 when it left the queue (per minute)
    retried = 0
    replies: list[tuple[datetime, float]] = []
    for kind, due_at, nxt, sent_at, status, attempts in db.execute(
        "SELECT kind, due_at, next_attempt_at, sent_at, status, attempts FROM outbox "
        "WHERE due_at >= ? AND due_at < ?",
        [start.isoformat(), end.isoformat()],
    ):
        due = parse_iso(due_at)
        release = max(due, parse_iso(nxt)) if nxt else due
        outcome[kind][status] += 1
        retried += attempts > 1
        if status == "pending" and release >= end:
            continue
        minute = int((release - start).total_seconds() // 60)
        due_minutes[minute] += 1
        if status == "sent":
            left = parse_iso(sent_at)
            late[kind].append(max(0.0, (left - release).total_seconds()))
            if kind == "reply":
                replies.append((due, (left - due).total_seconds()))
        else:
            max_late = KINDS[kind].max_late if kind in KINDS else None
            left = release + (max_late or timedelta(0))
        queue[minute] += 1
        queue[int((left - start).total_seconds() // 60)] -= 1
    busiest = max(due_minutes, key=due_minutes.__getitem__) if due_minutes else 0
    length, longest, longest_at = 0, 0, 0
    for minute in range(min(queue, default=0), max(queue, default=0) + 1):
        length += queue[minute]
        if length > longest:
            longest, longest_at = length, minute
    hours: Counter = Counter()
    for minute, count in due_minutes.items():
        hours[minute // 60] += count
    peak_hour = max(hours, key=hours.__getitem__) if hours else 0
    peak_from = start + timedelta(hours=peak_hour)
    peak_replies = [s for at, s in replies if peak_from <= at < peak_from + timedelta(hours=1)]
    kinds = {}
    for kind in sorted(outcome, key=lambda k: (KINDS[k].priority if k in KINDS else 9, k)):
        values = late.get(kind, [])
        kinds[kind] = {
            "priority": KINDS[kind].priority if kind in KINDS else None,
            "rows": sum(outcome[kind].values()),
            "sent": outcome[kind]["sent"],
            "p50_s": _pct(values, 0.5),
            "p99_s": _pct(values, 0.99),
            "max_s": max(values, default=0.0),
            "expired": outcome[kind]["expired"],
            "dropped": outcome[kind]["dropped"],
            "skipped": outcome[kind]["skipped"],
            "pending": outcome[kind]["pending"],
        }
    return {
        "kinds": kinds,
        "retried": retried,
        "busiest_minute": (start + timedelta(minutes=busiest)).isoformat(),
        "busiest_minute_due": due_minutes[busiest],
        "longest_queue": longest,
        "longest_queue_at": (start + timedelta(minutes=longest_at)).isoformat(),
        "peak_hour": peak_from.isoformat(),
        "peak_hour_due": hours[peak_hour],
        "peak_replies": len(peak_replies),
        "peak_reply_p99_s": _pct(peak_replies, 0.99),
        "peak_reply_max_s": max(peak_replies, default=0.0),
    }


def planned_rows(db, start: datetime, end: datetime) -> dict:
    """The day's rows as the model reads them: per kind, release times in seconds from `start`
    (replies and alerts: when they were queued)."""
    rows: dict[str, list[float]] = defaultdict(list)
    for kind, due_at, nxt in db.execute(
        "SELECT kind, due_at, next_attempt_at FROM outbox WHERE due_at >= ? AND due_at < ? "
        "AND status != 'skipped'",
        [start.isoformat(), end.isoformat()],
    ):
        due = parse_iso(due_at)
        release = max(due, parse_iso(nxt)) if nxt else due
        if release < end:
            rows[kind].append(round((release - start).total_seconds(), 3))
    return {kind: sorted(times) for kind, times in rows.items()}


def table(result: dict) -> str:
    """The per-kind Markdown table of one run."""
    lines = [
        "| kind | priority | rows | sent | lateness p50 | p99 | max | expired | dropped | "
        "skipped (merged) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, k in result["kinds"].items():
        lines.append(
            f"| {kind} | {k['priority']} | {k['rows']:,} | {k['sent']:,} | {_late(k['p50_s'])} | "
            f"{_late(k['p99_s'])} | {_late(k['max_s'])} | {k['expired']:,} | {k['dropped']:,} | "
            f"{k['skipped']:,} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.peak")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument(
        "--from-hour", type=float, default=0.0, help="start this many hours after 12:00 UTC"
    )
    parser.add_argument("--path", default="/dev/shm/backpain-peak.sqlite3")
    parser.add_argument("--json", type=Path, default=None, help="write the raw result here")
    parser.add_argument(
        "--from-json", type=Path, default=None, help="no run: take the result of an earlier one"
    )
    parser.add_argument(
        "--write",
        type=Path,
        nargs="?",
        const=Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md",
        default=None,
        help="replace section 7 of docs/benchmarks.md (or this file) with this run and its model",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        result = json.loads(args.from_json.read_text())
    else:
        result = asyncio.run(
            simulate(args.path, args.patients, args.hours, args.from_hour, progress=True)
        )
    if args.json:
        from tests.benchmarks.run import machine

        result["commit"] = machine()["commit"]
        result["command"] = "python -m tests.benchmarks.peak " + " ".join(argv or sys.argv[1:])
        args.json.write_text(json.dumps(result))
    if args.write:
        from tests.benchmarks import model, report

        n = result["patients"]
        answer = model.answer(result, (3 * n, 10 * n))
        section = report.peak_section({"peak": result, "peak_model": answer})
        old = args.write.read_text() if args.write.exists() else ""
        args.write.write_text(report.replace_peak_section(old, section))
    print(table(result))
    print(
        json.dumps(
            {k: v for k, v in result.items() if k not in ("kinds", "rows")}, indent=1, default=str
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


def write_rate(path: str, rows: int = 3000) -> dict:
    """SQLite's write rate as the sender uses it: one transaction per sent row (mark_sent), on a
    database opened as the bot opens it (WAL), on the disk under `path`."""
    from bot.clock import iso
    from storage import outbox

    db = open_database(fresh(Path(path)))
    db.conn.executemany(
        "INSERT INTO outbox (chat_id, kind, due_at, dedupe_key, payload, created_at) "
        "VALUES (?, 'checkin', ?, ?, '{}', ?)",
        [(n, iso(START), f"checkin:{n}", iso(START)) for n in range(rows)],
    )
    db.conn.commit()
    ids = [r for (r,) in db.execute("SELECT id FROM outbox")]
    synchronous = db.execute("PRAGMA synchronous").fetchone()[0]
    started = time.perf_counter()
    for row_id in ids:
        with db.atomic():
            outbox.mark_sent(db, row_id, START, row_id)
    seconds = time.perf_counter() - started
    close(db)
    fresh(Path(path))
    return {"rows": rows, "per_second": rows / seconds, "synchronous": synchronous}
