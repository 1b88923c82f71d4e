"""The planner tick: top up every active person's schedule for the next hours, idempotently.

The tick runs every 15 minutes and at start-up, so it must stay cheap at 100,000 people
(docs/benchmarks.md). `plan_all` reads people in batches of `BATCH`; per batch one query reads their
sitting days off, one their caregivers and one the keys already planned in the window, and one
`executemany` inserts what is missing (still `ON CONFLICT (dedupe_key) DO NOTHING`, so planning
stays idempotent whatever else wrote meanwhile). The pure plans (check-ins, sitting nudges,
lessons, a weekly summary) are made once for every set of inputs people share, over a stretch a day
longer than the window, and every tick whose window lies inside that stretch takes its slice
(`_Span`): a message's time depends neither on who it is for nor on the window it is planned in.
Caregivers' copies are planned per person. A person's rows are those plan_patient wrote before,
check-ins first, then sitting nudges, lessons and summaries.

One person's bad data never stops anyone else (`skipped`): planning a person, recording their
missed days, deciding an overdue session and planning a clinician's digest each fail alone, logged
with the id and the kind of failure (never the data), and everyone else is planned. A stored date
that overflows (a cohort starting 9999-12-31) is such a failure: that person is skipped each tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import sqlite3
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlite_utils import Database

from bot.clock import iso, parse_iso
from bot.course import default_course
from bot.rules import course_plan
from bot.rules.kinds import names
from bot.rules.localtime import local_date, parse_hhmm, zone
from bot.rules.schedule import Planned, lesson_time, plan_messages
from bot.runtime import Runtime
from jobs import clinic, prompts, skipped
from jobs import outcomes as outcome_flow
from jobs import sessions as sessions_flow
from jobs.summary import summary_items
from storage import caregivers, checkins, liveness, outbox, patients, questions, sitting

log = logging.getLogger(__name__)

BATCH = 1000  # people per query and per insert: memory stays flat whatever the population
# People per step of the pass in the background: at 100,000 patients a batch of 1000 held the
# event loop 200-600 ms, one of 50 ~10-30 ms (more while the shared plans are first made), for
# the same total time within the noise.
PASS_BATCH = 50
FULL_COLLECTION_EVERY = 10.0  # seconds: during a pass, the one full garbage collection

# A stage of the pass as steps: it yields between batches of people (where the event loop may
# take a turn) and returns its count. Never inside a batch: each batch reads and writes in one go,
# so a handler's replan runs before or after a batch, never between its reads and its writes.
Steps = Generator[None, None, int]


def _drain(steps: Steps) -> int:
    """Run every step at once (the synchronous tick, the tests and the simulator)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def _counted(steps: Iterable[int]) -> Steps:
    """A stage that yields its counts step by step (sessions_flow.decide_overdue_steps)."""
    total = 0
    for count in steps:
        total += count
        yield
    return total


def _whole(run: Callable[[], int]) -> Steps:
    """A stage that runs in one go: it looks at a few people (or none) per tick."""
    return run()
    yield  # pragma: no cover - unreachable: it makes this function a generator


@functools.lru_cache(maxsize=4096)
def _calendar(start: date, days: tuple[str, ...]) -> tuple[list[date], list]:
    """The shipped course's calendar (pure; many people share a start date and lesson days), and
    its dates apart: they never decrease, so a window's lessons are found by bisection."""
    entries = course_plan.calendar(default_course(), start, days)
    return [day for day, _ in entries], entries


def _row(item: Planned, chat_id: int, patient_id: int, now_iso: str) -> tuple:
    """An outbox row as outbox.enqueue_many takes it (what outbox.enqueue would insert)."""
    expires = item.expires_at
    return (
        item.payload.get("chat_id", chat_id),  # a caregiver's copy goes to the caregiver
        patient_id,
        item.kind,
        iso(item.due_at),
        iso(expires) if expires else None,
        item.dedupe_key,
        json.dumps(item.payload, ensure_ascii=False),
        now_iso,
    )


def _templates(items: list[Planned]) -> list[tuple]:
    """Row templates of messages planned for patient id 0: (kind, due, expires, key head, key
    tail, payload); the dedupe key of patient N is f"{head}:{N}{tail}"."""
    out = []
    for item in items:
        _, _, kind, due, expires, key, payload, _ = _row(item, 0, 0, "")
        head, sep, tail = key.partition(":0")
        if not sep or (tail and not tail.startswith(":")):  # pragma: no cover - key changed
            raise ValueError(f"unexpected dedupe key {key!r}")
        out.append((kind, due, expires, head, tail, payload))
    return out


def _quiet(p: dict) -> tuple:
    return p["timezone"], p["quiet_from"], p["quiet_to"]


class _Span:
    """Pure plans over [start, end), a stretch from midnight UTC a day longer than the window,
    shared by every person with the same inputs and by every tick whose window lies inside it
    (the bot and the simulator tick every 15 minutes). A message's time does not depend on the
    window it is planned in, so a tick takes the slice of the span's plan due in its window."""

    def __init__(self, now: datetime, length: timedelta):
        self.start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.end = self.start + length + timedelta(days=1)
        self.schedules: dict[tuple, tuple] = {}  # -> (Preferences, due times, templates)
        self.summaries: dict[tuple, tuple] = {}  # -> (due times, templates)
        self.course_days: dict[tuple, list[tuple]] = {}
        self.lesson_due: dict[tuple, datetime] = {}
        self.lessons: dict[tuple, list[tuple]] = {}

    def covers(self, now: datetime, horizon: datetime) -> bool:
        return self.start <= now and horizon <= self.end

    def schedule(
        self, p: dict, signature: tuple, *, checkin: bool, days_off: frozenset[date] = frozenset()
    ) -> tuple:
        """The check-in or the sitting half of plan_messages (sorted by time), and the
        Preferences it was made from (its time zone and quiet hours serve the lessons)."""
        signature = (checkin, *signature)
        shared = self.schedules.get(signature)
        if shared is None:
            prefs = replace(patients.preferences(p), patient_id=0, sitting_off_dates=days_off)
            half = replace(prefs, sitting=None) if checkin else replace(prefs, checkin_time=None)
            templates = _templates(plan_messages(half, self.start, self.end))
            shared = self.schedules[signature] = (prefs, [t[1] for t in templates], templates)
        return shared

    def summary(self, db: Database, p: dict) -> tuple:
        signature = (p["timezone"], p["summary_day"], p["summary_time"])
        shared = self.summaries.get(signature)
        if shared is None:
            templates = _templates(summary_items(db, {**p, "id": 0}, self.start, self.end, []))
            shared = self.summaries[signature] = ([t[1] for t in templates], templates)
        return shared

    def course(self, p: dict, prefs) -> list[tuple]:
        """(local date, lesson id or None for the course end) on the span's local dates."""
        signature = (p["course_start"], p["course_days"], p["timezone"])
        found = self.course_days.get(signature)
        if found is None:
            first, last = (
                local_date(self.start, prefs.timezone),
                local_date(self.end, prefs.timezone),
            )
            start = date.fromisoformat(p["course_start"])
            days, calendar = _calendar(start, tuple(d for d in p["course_days"].split(",") if d))
            end_day = course_plan.course_end(start)  # may overflow: before anything is cached
            found = [
                (day, lesson.id)
                for day, lesson in calendar[bisect_left(days, first) : bisect_right(days, last)]
            ]
            if first <= end_day <= last:
                found.append((end_day, None))
            self.course_days[signature] = found
        return found

    def lesson(self, p: dict, prefs, day: date, lesson_id: str | None) -> tuple:
        """The lesson's (or closing message's) time for this person, and its template."""
        # the same day, lesson time, summary time, zone and quiet hours give the same time
        signature = (day, p["course_time"], p["summary_day"], p["summary_time"], *_quiet(p))
        due = self.lesson_due.get(signature)
        if due is None:
            due = self.lesson_due[signature] = course_plan.lesson_due_at(
                day, lesson_clock(p, day), prefs.timezone, prefs.quiet
            )
        shared = self.lessons.get((lesson_id, due))
        if shared is None:
            item = (
                Planned("lesson", due, f"lesson:0:{lesson_id}", {"lesson_id": lesson_id})
                if lesson_id
                else Planned("course_end", due, "course_end:0", {})
            )
            shared = self.lessons[(lesson_id, due)] = _templates([item])
        return due, shared


def lesson_clock(p: dict, day: date):
    """The local time of this person's lesson on `day`: an hour before their weekly summary
    when the two would land together (bot.rules.schedule.lesson_time)."""
    summary_at = parse_hhmm(p["summary_time"]) if p.get("summary_time") else None
    return lesson_time(day, parse_hhmm(p["course_time"]), p.get("summary_day"), summary_at)


_span: _Span | None = None  # pure data, so one per process serves every database


class _Tick:
    """One tick's window [now, horizon): slices of the shared span's plans."""

    def __init__(self, rt: Runtime, now: datetime):
        global _span
        self.rt, self.now = rt, now
        self.horizon = now + timedelta(hours=rt.settings.PLAN_HORIZON_HOURS)
        self.now_iso, self.horizon_iso = iso(now), iso(self.horizon)
        if _span is None or not _span.covers(now, self.horizon):
            _span = _Span(now, self.horizon - now)
        self.span = _span
        self._dates: dict[str, tuple[date, date]] = {}

    def _slice(self, dues: list[str], templates: list[tuple]) -> list[tuple]:
        return templates[bisect_left(dues, self.now_iso) : bisect_left(dues, self.horizon_iso)]

    def _course(self, p: dict, prefs) -> list[tuple]:
        """Lessons due in the window, and the closing message once week 12 is over: those of
        the window's local dates (as course_plan.due_between) due inside the window."""
        if p["course_state"] != "active" or not p["course_start"]:
            return []
        dates = self._dates.get(p["timezone"])
        if dates is None:
            dates = self._dates[p["timezone"]] = (
                local_date(self.now, prefs.timezone),
                local_date(self.horizon, prefs.timezone),
            )
        first, last = dates
        templates = []
        for day, lesson_id in self.span.course(p, prefs):
            if first <= day <= last:
                due, shared = self.span.lesson(p, prefs, day, lesson_id)
                if self.now <= due < self.horizon:
                    templates += shared
        return templates

    def plan(
        self, patient: dict, days_off: frozenset[date], carers: list[dict]
    ) -> tuple[list[tuple], list[tuple]]:
        """This person's messages for the window: row templates (see _templates) and, for a
        caregiver's copy of the summary, whole rows."""
        p, span = patient, self.span
        quiet = _quiet(p)
        weekly = None  # patients.preferences: after the course, weekly on its start's weekday
        if p["course_state"] == "maintenance" and p["course_start"]:
            weekly = date.fromisoformat(p["course_start"]).weekday()
        mode = p.get("checkin_mode") or "daily"  # /settings: daily, weekdays or off
        prefs, dues, checkins = span.schedule(
            p, quiet + (p["checkin_time"], weekly, mode), checkin=True
        )
        templates = self._slice(dues, checkins)
        _, dues, nudges = span.schedule(
            p,
            quiet
            + (p["sitting_days"], p["sitting_from"], p["sitting_to"], p["sitting_every"], days_off)
            + (patients.sitting_offset(p["id"], p["sitting_every"]),),
            checkin=False,
            days_off=days_off,
        )
        templates += self._slice(dues, nudges)
        templates += self._course(p, prefs)
        if p.get("summary_off"):  # switched off in /settings: caregivers' copies too
            return templates, []
        if carers:  # the patient's own summary and each caregiver's copy: not shared
            return templates, [
                _row(item, p["chat_id"], p["id"], self.now_iso)
                for item in summary_items(self.rt.db, p, self.now, self.horizon, carers)
                if _carer_week(item, p, carers)
            ]
        return templates + self._slice(*span.summary(self.rt.db, p)), []


def _carer_week(item: Planned, patient: dict, carers: list[dict]) -> bool:
    """A caregiver's copy only about a week that ends on or after the patient's start and the day
    the caregiver joined (the patient's local dates): never a week from before either."""
    if item.kind != "summary_caregiver":
        return True
    week_end = date.fromisoformat(item.payload["week_end"])
    start = patient["start_date"] or patient["course_start"]
    if start and week_end < date.fromisoformat(start):
        return False
    carer = next((c for c in carers if c["id"] == item.payload["caregiver_id"]), None)
    joined = local_date(parse_iso(carer["linked_at"]), zone(patient["timezone"])) if carer else None
    return joined is None or week_end >= joined


def _by_patient(rows: list[dict]) -> dict[int, list]:
    """Rows of a per-patient table for a batch of people, by patient id."""
    found: dict[int, list] = {}
    for row in rows:
        found.setdefault(row["patient_id"], []).append(row)
    return found


def _plan_batch(tick: _Tick, batch: list[dict]) -> int:
    """Insert a batch of people's messages for the window; returns how many rows were new."""
    db, ids = tick.rt.db, [p["id"] for p in batch]
    # Days off from the earliest local "today" anywhere (UTC-12) on: earlier ones change nothing.
    since = (tick.now.date() - timedelta(days=1)).isoformat()
    off = _by_patient(sitting.days_off_since(db, ids, since))
    carers = _by_patient(caregivers.active_for_patients(db, ids))
    planned = outbox.keys_due_between(db, ids, tick.now, tick.horizon)
    rows, now_iso = [], tick.now_iso
    for p in batch:
        pid, chat = p["id"], p["chat_id"]
        try:
            days_off = frozenset(date.fromisoformat(r["local_date"]) for r in off.get(pid, ()))
            templates, whole = tick.plan(p, days_off, carers.get(pid, []))
        except Exception as exc:  # noqa: BLE001 - one person's bad data must not stop the others
            skipped("plan", exc, patient=pid)
            continue
        for kind, due, expires, head, tail, payload in templates:
            key = f"{head}:{pid}{tail}"
            if key not in planned:
                rows.append((chat, pid, kind, due, expires, key, payload, now_iso))
        rows += [row for row in whole if row[5] not in planned]
    if not rows:
        return 0
    try:
        with db.atomic():
            return outbox.enqueue_many(db, rows)
    except sqlite3.IntegrityError:
        pass  # a row the database refuses: insert person by person, so only its owner is skipped
    added = 0
    for pid in dict.fromkeys(row[1] for row in rows):
        try:
            with db.atomic():
                added += outbox.enqueue_many(db, [row for row in rows if row[1] == pid])
        except sqlite3.IntegrityError as exc:
            skipped("plan_insert", exc, patient=pid)
    return added


def plan_patient(rt: Runtime, patient: dict) -> int:
    """Insert this person's messages for the horizon; returns how many rows were new."""
    return _plan_batch(_Tick(rt, rt.clock.now()), [patient])


def plan_everyone(rt: Runtime) -> int:
    """plan_patient for every plannable person, a batch at a time; returns how many were new."""
    return _drain(_everyone_steps(rt, BATCH))


def _everyone_steps(rt: Runtime, size: int) -> Steps:
    tick, added = _Tick(rt, rt.clock.now()), 0
    for batch in patients.plannable_batches(rt.db, size):
        added += _plan_batch(tick, batch)
        yield
    return added


# What the planner makes again after a change of settings (bot.rules.kinds `on_resume`).
REPLANNED = names(on_resume="replan")


def replan_patient(rt: Runtime, patient: dict) -> int:
    """After a change of settings: forget what was queued for the old settings, plan anew."""
    with rt.db.atomic():
        outbox.delete_pending(rt.db, patient["id"], REPLANNED)
        if patient["status"] != patients.PLANNABLE:
            return 0
        outcome_flow.plan_for(rt.db, patient, rt.clock.now())  # back from a pause: weeks 6, 12
        return plan_patient(rt, patient)


def record_missed_days(rt: Runtime) -> int:
    """A check-in left unanswered for 20 hours is recorded as a missed day (and never nagged).

    Only check-ins due since the mark the last tick left are looked at: every check-in due before
    it was then past the cutoff and no longer waiting to be sent, so it was recorded then if it
    was sent or expired (and a check-in never goes back to waiting). Each tick thus stays small
    however long the history grows, and a restart does not look at the whole history again.
    """
    cutoff = (rt.clock.now() - timedelta(hours=20)).isoformat(timespec="seconds")
    db = rt.db
    with db.atomic():
        since = liveness.mark(db, "missed_days") or ""
        try:
            with db.atomic():
                added = checkins.record_missed_since(db, cutoff, since)
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                raise  # the database, not a row: the tick fails and the next one tries again
            # A row that cannot be read (its payload damaged): person by person, so only its
            # owner's missed days are skipped.
            added = 0
            for pid in checkins.missed_candidates(db, cutoff, since):
                try:
                    with db.atomic():
                        added += checkins.record_missed_since(db, cutoff, since, pid)
                except sqlite3.Error as exc:
                    skipped("missed_days", exc, patient=pid)
        waiting = [
            at
            for status in ("pending", "sending")
            if (at := outbox.first_checkin_due(db, status)) is not None
        ]
        liveness.set_mark(db, "missed_days", min([cutoff, *waiting]))
    return added


def end_due_pauses(rt: Runtime) -> int:
    """A /pause for a day or a week whose end has come: back to active, a welcome back queued,
    prompts planned again. Person by person: one failing does not stop the others."""
    ended = 0
    for patient in patients.pauses_over(rt.db, rt.clock.now()):
        try:
            with rt.db.atomic():
                prompts.end_pause(rt.db, patient, rt.clock.now())
            replan_patient(rt, patients.existing(rt.db, patient["id"]))
            ended += 1
        except Exception as exc:  # noqa: BLE001 - one person's bad data must not stop the others
            skipped("pauses", exc, patient=patient["id"])
    return ended


def plan_outcomes(rt: Runtime) -> int:
    """Outcome questions (issue 17): sets due opened, the one reminder, sets past 3 days closed.
    Person by person: one failing does not stop the others."""
    return _drain(_outcomes_steps(rt, BATCH))


def _outcomes_steps(rt: Runtime, size: int) -> Steps:
    now, started = rt.clock.now(), 0
    for batch in patients.plannable_batches(rt.db, size):
        for patient in batch:
            try:
                if not outcome_flow.followup_now(patient, now):  # most people, most ticks
                    continue
                with rt.db.atomic():
                    started += outcome_flow.plan_for(rt.db, patient, now)
            except Exception as exc:  # noqa: BLE001 - one person's bad data must not stop the others
                skipped("outcomes", exc, patient=patient["id"])
        yield
    with rt.db.atomic():
        outcome_flow.tick(rt.db, now)
    return started


def plan_all(rt: Runtime) -> int:
    """The plan tick in one go (the simulator and the tests; the bot runs `plan_all_async`).

    Each stage handles people one by one, so one person's bad data is logged and skipped inside
    it. A stage failing as a whole (the database itself unusable) does not stop the next stages
    either; its error is raised once all have run, and the tick is not counted as alive (no
    `plan` beat in the liveness table)."""
    return _drain(_pass(rt, BATCH))


async def turn() -> None:
    """What the pass awaits between two steps: one turn of the event loop (tests replace it to
    hold the pass between two batches)."""
    await asyncio.sleep(0)


async def plan_all_async(
    rt: Runtime, *, pause: Callable[[], Awaitable[None]] | None = None, size: int | None = None
) -> int:
    """The same pass as `plan_all`, awaiting `pause` (default `turn`) after every batch of `size`
    people (default PASS_BATCH) and every stage, so handlers answer while it runs (start-up, the
    15-minute tick). Cancelled, it stops between two batches: what it wrote is whole, the rest is
    planned by the next pass (every insert is idempotent)."""
    steps = _pass(rt, size or PASS_BATCH)
    pause = pause or turn
    # Python's full collections walk the whole heap: at 100,000 patients each held the loop
    # 100-300 ms, several times a pass. Meanwhile the young generations are collected between
    # steps (well under a ms each) and the whole heap every FULL_COLLECTION_EVERY seconds, so
    # what handlers and the sender leave in cycles meanwhile is still freed.
    collecting = gc.isenabled()
    gc.disable()
    clock = asyncio.get_running_loop().time
    full = clock()
    try:
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value
            if collecting:
                if clock() - full >= FULL_COLLECTION_EVERY:
                    gc.collect()
                    full = clock()
                else:
                    gc.collect(1)
            await pause()
    finally:
        steps.close()
        if collecting:
            gc.enable()


def _window(rt: Runtime) -> tuple[datetime, datetime]:
    """Now and the planning horizon, read when a stage starts."""
    now = rt.clock.now()
    return now, now + timedelta(hours=rt.settings.PLAN_HORIZON_HOURS)


def _pass(rt: Runtime, size: int) -> Steps:
    """Every stage of the plan tick, whatever another one did (see `plan_all`), as steps."""
    stages: tuple[tuple[str, Callable[[], Steps]], ...] = (
        ("pauses", lambda: _whole(lambda: end_due_pauses(rt))),
        ("plan", lambda: _everyone_steps(rt, size)),
        ("finish_checks", lambda: _whole(lambda: sessions_flow.plan_finish_checks(rt))),
        ("missed_days", lambda: _whole(lambda: record_missed_days(rt))),
        ("decide_overdue", lambda: _counted(sessions_flow.decide_overdue_steps(rt, size))),
        # The stages after the long ones read the clock again: a pass can take minutes.
        ("digests", lambda: _whole(lambda: clinic.plan_digests(rt.db, *_window(rt)))),
        ("outcomes", lambda: _outcomes_steps(rt, size)),
        # none left open past expiry
        ("questions", lambda: _whole(lambda: questions.expire_due(rt.db, rt.clock.now()))),
        ("quiet", lambda: _whole(lambda: clinic.check_quiet(rt.db, rt.clock.now()))),
    )
    counts, failure = {}, None
    for stage, steps in stages:
        try:
            counts[stage] = yield from steps()
        except Exception as exc:  # noqa: BLE001 - the other stages still run
            log.error("plan stage failed", extra={"stage": stage, "error": type(exc).__name__})
            counts[stage], failure = 0, failure or exc
        yield
    added = counts["plan"] + counts["digests"]
    log.info(
        "plan tick",
        extra={
            "added": added,
            "missed_days": counts["missed_days"],
            "decided": counts["decide_overdue"],
        },
    )
    if failure is not None:
        raise failure
    # Alive: `backpain-bot health` reads this, written when a whole pass has run (the start-up
    # pass too: the first scheduled tick comes an interval later).
    liveness.beat(rt.db, "plan", rt.clock.now())
    return added


# --- the pass in the background (start-up and the tick under `run`) ---


async def _plan_pass(rt: Runtime) -> int | None:
    """One whole plan pass, turning the event loop between batches; a failure is logged here (by
    kind: the pass has run every stage it could, and the next tick tries again)."""
    try:
        return await plan_all_async(rt)
    except Exception as exc:  # noqa: BLE001 - a background task: nobody else would see it
        log.error("plan pass failed", extra={"error": type(exc).__name__})
        return None


def start_plan_pass(rt: Runtime) -> asyncio.Task[int | None] | None:
    """Start a plan pass in the background (kept as `rt.planning`), or None, logged, when one is
    still running: two passes at once would only do the same work twice."""
    if rt.planning is not None and not rt.planning.done():
        log.info("plan tick skipped: the last pass is still running")
        return None
    rt.planning = asyncio.create_task(_plan_pass(rt), name="plan-pass")
    return rt.planning


async def plan_tick(rt: Runtime) -> int | None:
    """The 15-minute tick: a pass (awaited, never blocking the loop), or nothing if one runs.

    A pass cancelled by someone else (`stop_planning`) ends this tick quietly: only the tick's
    own cancellation (shut-down) goes on up, so the loop that ticks never dies of another's."""
    task = start_plan_pass(rt)
    if task is None:
        return None
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        log.warning("plan pass cancelled; the next tick plans again")
        return None


async def plan_done(rt: Runtime) -> None:
    """Until the pass under way (the start-up pass, say) has finished: tests and the simulator
    wait here for what post_init used to leave planned."""
    if rt.planning is not None:
        await asyncio.shield(rt.planning)


async def stop_planning(rt: Runtime) -> None:
    """Shut-down: cancel the pass under way. It stops between two batches, so what it wrote is
    whole; the next start plans the rest."""
    task, rt.planning = rt.planning, None
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
