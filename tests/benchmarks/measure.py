"""The measurements. Each runs in a fresh process (tests/benchmarks/run.py starts one per figure),
so its time and peak memory are its own: peak RSS is the process's high-water mark, and "added" is
that minus the RSS just before the measured step (after imports and set-up).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import shutil
import sqlite3
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes

import handlers
import jobs.dispatch
import jobs.plan
import jobs.sessions
from bot.app import build_application
from bot.clock import SystemClock, VirtualClock, iso
from bot.course import default_course
from bot.inbound import Inbound
from bot.rules.localtime import local_date, parse_hhmm, zone
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.simulator.fake_api import FakeBotApi
from bot.simulator.runner import SIM_TOKEN, Simulation
from bot.simulator.updates import UpdateFactory
from jobs.plan import plan_all
from storage import checkins, outbox, patients
from storage.db import open_database
from tests.benchmarks import reference
from tests.benchmarks.cohort import cohort
from tests.benchmarks.population import populate

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
RESTART = START + timedelta(minutes=10)  # the restart measured: ten minutes after the last plan
TELEGRAM_OVERALL = 30.0  # messages a second, per bot
TELEGRAM_PER_CHAT = 1.0  # messages a second, per chat


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's own peak RSS. Not ru_maxrss: Linux keeps that across fork and exec, so a
    measurement started by a parent holding a large buffer would report the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # KiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def settings_for(path: Path | str | None):
    return load_settings(
        environ={}, dotenv=None, TELEGRAM_BOT_TOKEN=SIM_TOKEN, DATABASE_PATH=path or ":memory:"
    )


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def copy_db(src: Path, dst: Path) -> Path:
    fresh(dst)
    shutil.copyfile(src, dst)
    return dst


def close(db) -> None:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


# --- population -------------------------------------------------------------------------------


def make_population(path: str, n: int) -> dict:
    """A database with `n` patients (95% active) and nothing planned: the template of the rest."""
    db = open_database(fresh(Path(path)))
    started = time.perf_counter()
    active = populate(db, n, START)
    seconds = time.perf_counter() - started
    zones = db.execute("SELECT count(DISTINCT timezone) FROM patients").fetchone()[0]
    close(db)
    return {"patients": n, "active": active, "timezones": zones, "seconds": seconds}


# --- 1. fan-out at the limit ------------------------------------------------------------------


def _kinds_for(per_chat: int) -> list[str]:
    # A check-in, then lessons: a sitting nudge right after another prompt is rightly skipped
    # (jobs/compose.sitting_worth_sending), which would make it look lost here.
    return ["checkin" if m == 0 else "lesson" for m in range(per_chat)]


async def fanout(
    path: str, messages: int, chats: int, paced: bool = True, timeout: float = 900.0
) -> dict:
    """`messages` rows due now for `chats` people, sent by the real Application (AIORateLimiter,
    JobQueue dispatch ticks every 5 s) to a FakeBotApi enforcing Telegram's limits in real time."""
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: already running" x N
    if not paced:
        jobs.dispatch.PACE = None  # AIORateLimiter alone, for comparison
    clock = SystemClock()  # the fake's limiter and the dispatcher read it: real seconds
    now = clock.now()
    db = open_database(fresh(Path(path)))
    populate(db, chats, now, all_active=True, extras=False)
    # Nothing else to plan, no quiet hours in the way: only the rows below go out.
    db.execute(
        "UPDATE patients SET checkin_time = NULL, sitting_days = '', quiet_from = NULL, "
        "quiet_to = NULL, course_state = 'stopped', summary_day = ''"
    )
    lessons = [lesson.id for lesson in default_course()]
    today = now.date().isoformat()
    expected: dict[int, int] = {}
    people = db.execute("SELECT id, chat_id FROM patients ORDER BY id").fetchall()
    kinds = _kinds_for(messages // chats)
    with db.atomic():  # one person's messages one after the other: the per-chat limit bites
        for pid, chat in people:
            for m, kind in enumerate(kinds):
                payload = (
                    {"local_date": today} if kind == "checkin" else {"lesson_id": lessons[m - 1]}
                )
                row = outbox.enqueue(
                    db,
                    chat_id=chat,
                    patient_id=pid,
                    kind=kind,
                    due_at=now - timedelta(seconds=1),
                    dedupe_key=f"bench:{kind}:{pid}:{m}",
                    payload=payload,
                    now=now,
                )
                expected[row] = chat
    api = FakeBotApi(
        clock, overall_per_second=TELEGRAM_OVERALL, per_chat_per_second=TELEGRAM_PER_CHAT
    )
    app = build_application(settings_for(path), clock, api, db=db)  # as in production
    await app.initialize()
    await app.post_init(app)
    started_wall, started = clock.now(), time.perf_counter()
    await app.start()
    while time.perf_counter() - started < timeout:
        await asyncio.sleep(0.25)
        left = db.execute(
            "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending') "
            "AND dedupe_key LIKE 'bench:%'"
        ).fetchone()[0]
        if left == 0:
            break
    await app.stop()
    await app.shutdown()

    sends = [c for c in api.calls if c.method == "sendMessage"]
    ok = [c for c in sends if c.outcome == "ok"]
    # Which row each delivered message was: a check-in's buttons carry its row id, a lesson is
    # told by its text.
    delivered: Counter = Counter()
    for sent in api.sent:
        data = sent.buttons[0][0][1] if sent.buttons else ""
        delivered[(sent.chat_id, data if data.startswith("c:") else sent.text)] += 1
    # the benchmark's rows only (a check-in sent is followed by a reminder hours later)
    statuses = dict(
        db.execute(
            "SELECT status, count(*) FROM outbox WHERE dedupe_key LIKE 'bench:%' GROUP BY status"
        ).fetchall()
    )
    span = (ok[-1].at - sends[0].at).total_seconds() if len(ok) > 1 else 0.0
    rate = (len(ok) - 1) / span if span else 0.0
    times = [c.at for c in ok]
    busiest, lo = 0, 0
    for hi, moment in enumerate(times):  # most sends inside any one-second window
        while (moment - times[lo]).total_seconds() >= 1.0:
            lo += 1
        busiest = max(busiest, hi - lo + 1)
    last_by_chat: dict[int, datetime] = {}
    closest = None
    for sent in api.sent:
        if sent.chat_id in last_by_chat:
            gap = (sent.at - last_by_chat[sent.chat_id]).total_seconds()
            closest = gap if closest is None else min(closest, gap)
        last_by_chat[sent.chat_id] = sent.at
    close(db)
    return {
        "messages": messages,
        "chats": chats,
        "paced": paced,
        "delivered": len(delivered),
        "lost": len(expected) - len(delivered),
        "duplicated": sum(n - 1 for n in delivered.values()),
        "statuses": statuses,
        "http_429": sum(c.outcome == "429" for c in sends),
        "send_calls": len(sends),
        "first_to_last_s": span,
        "rate_per_s": rate,
        "fraction_of_limit": rate / TELEGRAM_OVERALL,
        "start_to_last_s": (ok[-1].at - started_wall).total_seconds() if ok else None,
        "busiest_second": busiest,
        "closest_same_chat_s": closest,
    }


# --- 2. planning and start-up -----------------------------------------------------------------


def _runtime(db, clock) -> Runtime:
    return Runtime(db=db, clock=clock, settings=settings_for(None))


def plan(template: str, path: str, implementation: str = "ours") -> dict:
    """Plan the next 36 hours for everyone on a database with nothing planned yet (cold), then
    the tick ten minutes later (warm: everything already there but the new ten minutes)."""
    copy_db(Path(template), Path(path))
    db = open_database(path)
    clock = VirtualClock(START)
    rt = _runtime(db, clock)
    plan_fn = plan_all if implementation == "ours" else reference.plan_all
    before = rss_mb()
    started = time.perf_counter()
    added = plan_fn(rt)
    cold = time.perf_counter() - started
    peak = peak_rss_mb()
    after_cold = db.execute("SELECT count(*) FROM outbox").fetchone()[0]  # + overdue advice
    clock.set(RESTART)
    started = time.perf_counter()
    topped_up = plan_fn(rt)
    warm = time.perf_counter() - started
    rows = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    kinds = dict(db.execute("SELECT kind, count(*) FROM outbox GROUP BY kind").fetchall())
    parts = {}
    if implementation == "ours":  # a third tick, five minutes on, its three parts timed apart
        clock.advance(timedelta(minutes=5))
        open_sessions = db.execute(
            "SELECT count(*) FROM sessions WHERE stage IN ('before', 'doing', 'after', 'waiting')"
        ).fetchone()[0]
        for name, step in (
            ("plan_everyone", jobs.plan.plan_everyone),
            ("record_missed_days", jobs.plan.record_missed_days),
            ("decide_overdue", jobs.sessions.decide_overdue),
        ):
            started = time.perf_counter()
            step(rt)
            parts[name] = time.perf_counter() - started
        parts["open_sessions"] = open_sessions
        parts["caregivers"] = db.execute("SELECT count(*) FROM caregivers").fetchone()[0]
    close(db)
    return {
        "implementation": implementation,
        "rows": added,
        "rows_after_cold": after_cold,
        "rows_total": rows,
        "kinds": kinds,
        "cold_s": cold,
        "warm_s": warm,
        "warm_rows": topped_up,
        "rss_before_mb": before,
        "peak_rss_mb": peak,
        "added_mb": peak - before,
        "parts": parts,
    }


PLANNED_ROWS = "SELECT count(*) FROM outbox WHERE kind != 'reply'"  # not the /help answered


async def startup(path: str, restart: bool = True) -> dict:
    """Our start-up: build_application, initialize, post_init (recover the outbox, menu, start
    the plan pass in the background) and start the JobQueue with its ticks. `restart`: the
    database was planned, last ten minutes earlier (the usual case); otherwise nothing is planned
    yet (the very first start). `seconds` (= `ready_s`): until app.start() returned, when polling
    could begin; `plan_done_s`: until the background pass finished; `longest_stall_ms`: the
    longest the event loop went without a turn meanwhile (a task taking every turn it is given;
    `longest_stall_cpu_ms` the same in this process's CPU time, which a busy machine does not
    inflate); `answer_s`: a /help sent as the pass starts, until handled (its reply queued for
    the sender, as under `run`)."""
    clock = VirtualClock(RESTART + timedelta(minutes=10) if restart else START)
    api = FakeBotApi(clock)
    with sqlite3.connect(path) as con:
        rows_before = con.execute(PLANNED_ROWS).fetchone()[0]
        chat = con.execute("SELECT chat_id FROM patients WHERE status = 'active' LIMIT 1")
        chat_id = chat.fetchone()[0]
    before = rss_mb()
    started = time.perf_counter()
    app = build_application(settings_for(path), clock, api)  # opens and migrates the database
    await app.initialize()
    post_init = time.perf_counter()
    await app.post_init(app)
    post_init = time.perf_counter() - post_init
    await app.start()
    ready = time.perf_counter() - started
    rt = app.bot_data["runtime"]
    gaps: list[float] = []
    cpu_gaps: list[float] = []  # the same in this thread's CPU time: not other processes' turns

    async def ticker() -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while True:
            await asyncio.sleep(0)
            now, cpu = time.perf_counter(), time.thread_time()
            gaps.append(now - last)
            cpu_gaps.append(cpu - last_cpu)
            last, last_cpu = now, cpu

    class QueueOnly:  # as under `run`: the reply is queued for the sender, not sent inline
        def kick(self) -> None:
            pass

    async def answer() -> float:
        asked = time.perf_counter()
        rt.sender = QueueOnly()
        await app.process_update(UpdateFactory(app.bot, clock).text(chat_id, "/help"))
        rt.sender = None
        return time.perf_counter() - asked

    stalls = asyncio.create_task(ticker())
    answered = asyncio.create_task(answer())
    await jobs.plan.plan_done(rt)
    plan_done = time.perf_counter() - started
    answer_s = await answered
    stalls.cancel()
    peak = peak_rss_mb()
    scheduler_jobs = len(app.job_queue.scheduler.get_jobs())
    # The dispatch tick sends the rows due meanwhile at Telegram's pace (a backlog here: nothing
    # of the database's was ever sent): stopped, not waited for.
    await app.job_queue.stop(wait=False)
    await app.stop()
    await jobs.plan.stop_planning(rt)
    await app.shutdown()
    db = rt.db
    rows_after = db.execute(PLANNED_ROWS).fetchone()[0]
    close(db)
    return {
        "restart": restart,
        "seconds": ready,
        "ready_s": ready,
        "plan_done_s": plan_done,
        "longest_stall_ms": max(gaps, default=0.0) * 1000,
        "longest_stall_cpu_ms": max(cpu_gaps, default=0.0) * 1000,
        "pass_batch": jobs.plan.PASS_BATCH,
        "answer_s": answer_s,
        "answered_before_plan_done": answer_s < plan_done - ready,
        "post_init_s": post_init,
        "rss_before_mb": before,
        "peak_rss_mb": peak,
        "added_mb": peak - before,
        "scheduler_jobs": scheduler_jobs,
        "rows_added": rows_after - rows_before,
    }


def add_history(path: str, days: int) -> dict:
    """`days` of past daily check-ins for every active person, sent and answered (the usual
    history: the outbox keeps every row), added to a planned database."""
    db = open_database(path)
    people = db.execute(
        "SELECT id, chat_id, timezone FROM patients WHERE status = 'active'"
    ).fetchall()
    started = time.perf_counter()
    with db.atomic():
        for back in range(1, days + 1):
            rows, answers, days_by_zone = [], [], {}
            for pid, chat, tz_name in people:
                if tz_name not in days_by_zone:
                    tz = zone(tz_name)
                    day = local_date(START, tz) - timedelta(days=back)
                    days_by_zone[tz_name] = (
                        day.isoformat(),
                        iso(datetime.combine(day, dtime(9), tzinfo=tz)),
                    )
                day, due = days_by_zone[tz_name]
                rows.append(
                    (chat, pid, due, f"checkin:{pid}:{day}", f'{{"local_date": "{day}"}}', due)
                )
                answers.append((pid, day, back % 11, due))
            db.conn.executemany(
                "INSERT INTO outbox (chat_id, patient_id, kind, due_at, dedupe_key, payload, "
                "status, attempts, sent_at, created_at) "
                "VALUES (?, ?, 'checkin', ?3, ?4, ?5, 'sent', 1, ?6, ?6)",
                rows,
            )
            db.conn.executemany(
                "INSERT INTO checkins (patient_id, local_date, pain, status, "
                "answered_at) VALUES (?, ?, ?, 'answered', ?)",
                answers,
            )
    seconds = time.perf_counter() - started
    rows = db.execute(
        "SELECT count(*) FROM outbox WHERE kind = 'checkin' AND status = 'sent'"
    ).fetchone()[0]
    # One tick's look at past check-ins on this history: ours (from the mark the planned
    # database's last tick left) and main's (every past check-in); nothing is new to record.
    rt = _runtime(db, VirtualClock(RESTART + timedelta(minutes=10)))
    timed = {}
    for name, step in (
        ("ours", jobs.plan.record_missed_days),
        ("main", reference.record_missed_days),
    ):
        started = time.perf_counter()
        step(rt)
        timed[name] = time.perf_counter() - started
    db.execute("DELETE FROM checkins WHERE status = 'missed'")  # leave the history as it was
    close(db)
    return {
        "days": days,
        "checkin_rows": rows,
        "seconds": seconds,
        "missed_days_ours_s": timed["ours"],
        "missed_days_main_s": timed["main"],
    }


# PTB's run_daily counts days from Sunday (0) to Saturday (6).
_PTB_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_WEEKDAY_TO_PTB = (1, 2, 3, 4, 5, 6, 0)  # date.weekday() (Monday 0) -> PTB


async def _naive_checkin(context: ContextTypes.DEFAULT_TYPE) -> None:  # never run here
    await context.bot.send_message(context.job.chat_id, "How is your back today?")


async def _naive_sitting(context: ContextTypes.DEFAULT_TYPE) -> None:
    await context.bot.send_message(context.job.chat_id, "Time to stand up for a minute.")


async def _naive_lesson(context: ContextTypes.DEFAULT_TYPE) -> None:
    await context.bot.send_message(context.job.chat_id, "Today's lesson ...")


async def _naive_summary(context: ContextTypes.DEFAULT_TYPE) -> None:
    await context.bot.send_message(context.job.chat_id, "Your week ...")


async def _naive_decide(context: ContextTypes.DEFAULT_TYPE) -> None:
    pass


async def startup_naive(path: str) -> dict:
    """The design a typical bot would use: at start-up, load everyone and register one PTB
    JobQueue run_daily job per person per message kind: the check-in (daily, or weekly after the
    course), sitting breaks (one job at the start of the sitting window on sitting days, which
    would then nudge through the window), lessons (lesson time on lesson days), the weekly
    summary and each caregiver's copy of it; and one run_once job per open activity session for
    its deadline decision."""
    clock = VirtualClock(START)
    api = FakeBotApi(clock)
    before = rss_mb()
    started = time.perf_counter()
    app = (
        ApplicationBuilder()
        .token(SIM_TOKEN)
        .request(api)
        .get_updates_request(api)
        .rate_limiter(AIORateLimiter(max_retries=1))
        .build()
    )
    db = open_database(path)
    app.bot_data["runtime"] = Runtime(db=db, clock=clock, settings=settings_for(path))
    handlers.register(app)
    await app.initialize()
    await app.start()
    jq = app.job_queue
    per_kind: Counter = Counter()
    carers: dict[int, list[dict]] = {}
    for carer in db.query("SELECT * FROM caregivers WHERE ended_at IS NULL"):
        carers.setdefault(carer["patient_id"], []).append(carer)
    for p in patients.plannable(db):
        tz = zone(p["timezone"])
        if p["checkin_time"]:
            days = tuple(range(7))
            if p["course_state"] == "maintenance" and p["course_start"]:
                days = (_WEEKDAY_TO_PTB[datetime.fromisoformat(p["course_start"]).weekday()],)
            jq.run_daily(
                _naive_checkin,
                parse_hhmm(p["checkin_time"]).replace(tzinfo=tz),
                days=days,
                chat_id=p["chat_id"],
                user_id=p["user_id"],
                name=f"checkin:{p['id']}",
                data=p["id"],
            )
            per_kind["checkin"] += 1
        if p["sitting_days"] and p["sitting_from"] and p["sitting_to"]:
            jq.run_daily(
                _naive_sitting,
                parse_hhmm(p["sitting_from"]).replace(tzinfo=tz),
                days=tuple(_PTB_DAYS[d] for d in p["sitting_days"].split(",")),
                chat_id=p["chat_id"],
                user_id=p["user_id"],
                name=f"sitting:{p['id']}",
                data=p["id"],
            )
            per_kind["sitting"] += 1
        if p["course_state"] == "active":
            jq.run_daily(
                _naive_lesson,
                parse_hhmm(p["course_time"]).replace(tzinfo=tz),
                days=tuple(_PTB_DAYS[d] for d in p["course_days"].split(",")),
                chat_id=p["chat_id"],
                user_id=p["user_id"],
                name=f"lesson:{p['id']}",
                data=p["id"],
            )
            per_kind["lesson"] += 1
        jq.run_daily(
            _naive_summary,
            parse_hhmm(p["summary_time"]).replace(tzinfo=tz),
            days=(_PTB_DAYS[p["summary_day"]],),
            chat_id=p["chat_id"],
            user_id=p["user_id"],
            name=f"summary:{p['id']}",
            data=p["id"],
        )
        per_kind["summary"] += 1
        for carer in carers.get(p["id"], ()):  # the copy, at that time in the caregiver's zone
            jq.run_daily(
                _naive_summary,
                parse_hhmm(p["summary_time"]).replace(tzinfo=zone(carer["timezone"])),
                days=(_PTB_DAYS[p["summary_day"]],),
                chat_id=carer["chat_id"],
                user_id=carer["user_id"],
                name=f"summary_caregiver:{carer['id']}",
                data=carer["id"],
            )
            per_kind["summary_caregiver"] += 1
    for s in db.query(
        "SELECT id, patient_id, started_at FROM sessions WHERE stage IN "
        "('before', 'doing', 'after', 'waiting')"
    ):
        # an open session's deadline decision: one run_once job each
        # (the JobQueue runs on real time: the same delay from now, at least a second)
        deadline = datetime.fromisoformat(s["started_at"]) + timedelta(hours=36)
        jq.run_once(
            _naive_decide,
            max(deadline - clock.now(), timedelta(seconds=1)),
            name=f"decide:{s['id']}",
            data=s["id"],
        )
        per_kind["session_deadline"] += 1
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    scheduler_jobs = len(jq.scheduler.get_jobs())
    await app.stop()
    await app.shutdown()
    db.close()
    return {
        "seconds": seconds,
        "rss_before_mb": before,
        "peak_rss_mb": peak,
        "added_mb": peak - before,
        "scheduler_jobs": scheduler_jobs,
        "jobs": dict(per_kind),
    }


# --- 3. handling cost -------------------------------------------------------------------------

TYPED = ("7", "7/10", "seven", "4", "3/10")


async def handling(template: str, path: str, answers: int) -> dict:
    """`answers` check-in ratings through the inbox, as `run` handles them, one process on one
    core: 90% taps on the rating buttons (c:<row>:<pain>), 10% typed while the check-in is
    awaited. Each question is a check-in the bot sent earlier (a row per person and day). Timed,
    per update: `Inbound.receive` (the raw update stored, one commit) and `Inbound.handle`
    (decoded, process_update: the handler, its database work and its reply row, then marked
    done). As under `run`, the reply is queued for the sender (sent after the timing, by the
    fast lane) and answering the callback and taking the keyboard off run in the background."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    copy_db(Path(template), Path(path))
    db = open_database(path)
    # Each check-in is answered a few minutes after it went out (below): a check-in takes its
    # answers on its own day, and an old day's rating only up to 3 days late (issue 15).
    clock = VirtualClock(START + timedelta(days=40))
    api = FakeBotApi(clock)
    # As the tests' Harness: no rate limiter (we measure our cost, not Telegram's pacing) and no
    # JobQueue ticks (they would interleave with what is measured).
    app = build_application(
        settings_for(path), clock, api, db=db, rate_limit=False, schedule_ticks=False
    )
    await app.initialize()
    rt = app.bot_data["runtime"]
    rt.bot = app.bot

    class QueueOnly:  # `run`'s sender sends the reply rows: after the timing here
        def kick(self) -> None:
            pass

    rt.sender = QueueOnly()
    inbound = Inbound(app, 10**9)  # no per-chat rate: each chat answers once or a few times
    updates = UpdateFactory(app.bot, clock)
    people = db.execute(
        "SELECT id, chat_id, timezone FROM patients WHERE status = 'active' ORDER BY id"
    ).fetchall()
    step = max(1, len(people) // answers)  # spread over the whole population
    people = people[::step]
    questions = []
    with db.atomic():
        for k in range(answers):
            pid, chat, tz_name = people[k % len(people)]
            day = local_date(clock.now(), zone(tz_name)) + timedelta(days=k // len(people))
            due = datetime.combine(day, dtime(9), tzinfo=zone(tz_name))
            row = outbox.enqueue(
                db,
                chat_id=chat,
                patient_id=pid,
                kind="checkin",
                due_at=due,
                dedupe_key=f"checkin:{pid}:{day.isoformat()}",
                payload={"local_date": day.isoformat()},
                now=START,
            )
            db.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = 1 WHERE id = ?",
                [iso(due), row],
            )
            questions.append((due, pid, chat, row))
    questions.sort()
    timings, cpu_times = [], []  # wall time; and CPU time, which a busy machine does not inflate
    typed = 0
    for k, (due, pid, chat, row) in enumerate(questions):
        clock.set(max(clock.now(), due + timedelta(minutes=5)))
        pain = k % 11
        if k % 10 == 0:  # typed: the check-in is what the bot waits for (set untimed)
            checkins.set_awaiting(db, pid, "checkin", str(row), clock.now())
            update = updates.text(chat, TYPED[k // 10 % len(TYPED)])
            typed += 1
        else:
            update = updates.callback(chat, f"c:{row}:{pain}", message_id=1)
        raw = json.dumps(update.to_dict(), separators=(",", ":"))
        started, cpu = time.perf_counter(), time.thread_time()
        *_, stored_row = inbound.receive([raw])
        # receive() handed the row to a chat's worker task; it is handled here, timed, as the
        # worker would (the worker then finds it done and skips it).
        await inbound.handle(stored_row.id)
        timings.append(time.perf_counter() - started)
        cpu_times.append(time.thread_time() - cpu)
    await inbound.drain()
    await asyncio.gather(*inbound.background)
    rt.sender = None
    await jobs.dispatch.dispatch_due(rt, lane="fast")  # the replies, as the sender would send
    await app.shutdown()
    stored = db.execute("SELECT count(*) FROM checkins WHERE status = 'answered'").fetchone()[0]
    replies = db.execute(
        "SELECT count(*) FROM outbox WHERE kind = 'reply' AND status = 'sent'"
    ).fetchone()[0]
    close(db)
    ms = sorted(t * 1000 for t in timings)
    cpu_ms = sorted(t * 1000 for t in cpu_times)
    return {
        "answers": answers,
        "typed": typed,
        "patients": len(people),
        "stored": stored,
        "replies_sent": replies,
        "api_calls": len(api.calls),
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "mean_ms": statistics.fmean(ms),
        "cpu_p50_ms": statistics.median(cpu_ms),
        "cpu_p99_ms": cpu_ms[min(len(cpu_ms) - 1, int(len(cpu_ms) * 0.99))],
        "per_second": len(ms) / (sum(ms) / 1000),
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


# --- 4. simulation speed ----------------------------------------------------------------------


async def simulation(patients_n: int, days: int) -> dict:
    """The cohort (tests/benchmarks/cohort.py) through the simulator: the real Application,
    handlers, jobs and an in-memory database on a virtual clock."""
    sim = Simulation(cohort(patients_n, days), keep_lines=False)
    calls: Counter = Counter()
    answer = sim.api.do_request

    async def counted(url: str, *args, **kwargs):
        calls[url.rsplit("/", 1)[-1]] += 1
        return await answer(url, *args, **kwargs)

    sim.api.do_request = counted
    from bot import chart  # here, not at the top: the other measurements never draw

    # Drawing the weekly charts (matplotlib, in a worker thread) timed apart: the largest part.
    # (wall, CPU of the drawing thread) per chart. The walls overlap: the dispatcher sends to
    # several chats at once, so several charts are drawn at a time; CPU is the figure to read.
    drawn: list[tuple[float, float]] = []
    draw = chart.render_png

    def timed_draw(spec: dict) -> bytes:
        begun, cpu = time.perf_counter(), time.thread_time()
        try:
            return draw(spec)
        finally:
            drawn.append((time.perf_counter() - begun, time.thread_time() - cpu))

    chart.render_png = timed_draw
    before = rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        await sim.run()
    finally:
        chart.render_png = draw
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    out = sum(n for (direction, _), n in sim.counts.items() if direction == "out")
    answered = sum(n for (direction, _), n in sim.counts.items() if direction == "in")
    by_kind = {kind: n for (direction, kind), n in sim.counts.items() if direction == "out"}
    return {
        "patients": patients_n,
        "days": days,
        "seconds": seconds,
        "messages_out": out,
        "answers_in": answered,
        "by_kind": by_kind,
        "messages_per_s": out / seconds,
        "cpu_seconds": cpu,
        "charts": len(drawn),
        "chart_seconds": sum(wall for wall, _ in drawn),
        "chart_cpu_seconds": sum(used for _, used in drawn),
        "api_calls": dict(calls),
        "rss_before_mb": before,
        "peak_rss_mb": peak_rss_mb(),
    }


def _where(filename: str, function: str) -> str:
    """Which part of the stack a profiled function belongs to."""
    if "/telegram/" in filename:
        return "python-telegram-bot"
    if "sqlite3" in function or "/sqlite_utils/" in filename:
        return "SQLite (+ sqlite-utils)"
    if "/jinja2/" in filename or "/markupsafe/" in filename:
        return "templates (jinja2)"
    if "/bot/simulator/" in filename:
        return "simulator and fake Bot API"
    if any(f"/{part}/" in filename for part in ("bot", "handlers", "jobs", "storage", "messages")):
        return "our code (handlers, jobs, storage, rules)"
    if "/json/" in filename or "json" in function:
        return "json"
    if "/asyncio/" in filename or "select" in function:
        return "asyncio"
    return "other (datetime, zoneinfo, logging...)"


async def simulation_profile(patients_n: int, days: int) -> dict:
    """Where the simulator's time goes: the same run under cProfile, own time by part of the
    stack (cProfile slows everything, so only the shares mean something)."""
    import cProfile
    import pstats

    sim = Simulation(cohort(patients_n, days), keep_lines=False)
    profile = cProfile.Profile()
    profile.enable()
    await sim.run()
    profile.disable()
    shares: Counter = Counter()
    for (filename, _, function), (_, _, own, _, callers) in pstats.Stats(profile).stats.items():
        if filename == "~" and not ("sqlite3" in function or "select" in function):
            # a builtin (isinstance, dict.get, datetime methods...): charged to its callers
            for (caller_file, _, caller_function), timing in callers.items():
                shares[_where(caller_file, caller_function)] += timing[2]
        else:
            shares[_where(filename, function)] += own
    total = sum(shares.values())
    stats = pstats.Stats(profile).stats
    top = sorted(stats.items(), key=lambda item: -item[1][2])[:15]
    return {
        "patients": patients_n,
        "days": days,
        "shares": {k: v / total for k, v in shares.most_common()},
        # The 15 functions with the most own time: (file:line function, calls, share).
        "top": [
            (f"{Path(f).name}:{line} {function}", calls, own / total)
            for (f, line, function), (_, calls, own, _, _) in top
        ],
    }


MEASURES = {
    "population": make_population,
    "history": add_history,
    "fanout": fanout,
    "plan": plan,
    "startup": startup,
    "startup_naive": startup_naive,
    "handling": handling,
    "simulation": simulation,
    "simulation_profile": simulation_profile,
}


def run_measure(name: str, kwargs: dict) -> dict:
    result = MEASURES[name](**kwargs)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return result
