"""The dispatcher tick: claim due outbox rows, send them, record what happened to each.

Order of writes is what makes this crash-safe: a row is marked `sending` before the Bot API call
and `sent` after it. A process that dies in between leaves `sending` rows, which `outbox.recover`
returns to the queue at the next start, so the worst case is one duplicate, never a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot import chart
from bot.clock import parse_iso
from bot.rules.localtime import DailyWindow, parse_hhmm, zone
from bot.rules.schedule import Expire, Postpone, send_decision
from bot.runtime import Runtime
from jobs import clinic
from jobs.kinds import after_sent, before_send, compose
from messages import Outgoing
from messages.split import MAX_CAPTION, MAX_TEXT, split_html
from storage import liveness, outbox, patients

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6  # for errors that are not an outage (unexpected Telegram errors)
RETRY_FOR = timedelta(hours=24)  # network trouble, timeouts and 5xx: retried this long
BACKOFF_START = timedelta(seconds=30)
# A reply or alert (the fast lane) tries again sooner: a person is waiting for it, and one
# network error in a passing storm must not hold their answer for half a minute.
BACKOFF_START_FAST = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=15)
CONCURRENCY = 32  # in flight at once; Pace and AIORateLimiter keep us inside Telegram's limits
LEASE = timedelta(seconds=60)  # a 'sending' row not in flight here this long goes back (reap)
STRANDED_RETRY = timedelta(seconds=5)  # an unexpected error in the send path: try again soon
MARK_SENT_RETRIES = (0.05, 0.25, 1.0)  # seconds between tries when the database is locked


@dataclass
class DispatchReport:
    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    postponed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


def keyboard(out: Outgoing) -> InlineKeyboardMarkup | None:
    if not out.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(text, callback_data=data) for text, data in row]
            for row in out.buttons
        ]
    )


def retry_after_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def backoff(attempts: int, fast: bool = False) -> timedelta:
    start = BACKOFF_START_FAST if fast else BACKOFF_START
    return min(start * (2 ** min(max(attempts - 1, 0), 20)), BACKOFF_CAP)


def _quiet(patient: dict | None) -> tuple[DailyWindow | None, ZoneInfo | None]:
    if patient is None:
        return None, None
    tz = zone(patient["timezone"])
    if patient["quiet_from"] and patient["quiet_to"]:
        return DailyWindow(parse_hhmm(patient["quiet_from"]), parse_hhmm(patient["quiet_to"])), tz
    return None, tz


async def dispatch_due(rt: Runtime, limit: int = 500, lane: str | None = None) -> DispatchReport:
    """Send everything that is due now, `limit` rows at a time, until nothing due is left.

    One tick drains a backlog rather than stopping after `limit` rows: the scheduler skips the
    next ticks while this one runs, so stopping early would leave the line idle for up to a tick
    interval after every batch. Every row handled leaves the due set (sent, retried later,
    postponed or given up), so the loop ends.
    """
    report = DispatchReport()
    rows: list[dict] = []
    while True:
        if rows and len(rows) < limit:
            return report  # that was the last of the backlog
        now = rt.clock.now()
        rows = outbox.due(rt.db, now, limit, lane)
        if not rows:
            return report
        people = patients.get_many(rt.db, {row["patient_id"] for row in rows if row["patient_id"]})
        claimed: list[tuple[dict, dict | None]] = []
        with rt.db.atomic():  # one commit for the batch's decisions and claims
            for row in rows:
                patient = people.get(row["patient_id"]) if row["patient_id"] else None
                try:
                    quiet, tz = _quiet(patient)
                    expires = parse_iso(row["expires_at"]) if row["expires_at"] else None
                    decision = send_decision(
                        row["kind"], parse_iso(row["due_at"]), expires, now, quiet, tz
                    )
                except Exception:  # one bad row (a poisoned date or zone) must
                    # not stop everyone else's messages: it fails alone, logged by id and kind.
                    log.exception(
                        "cannot decide on outbox row",
                        extra={"row": row["id"], "kind": row["kind"], "patient": row["patient_id"]},
                    )
                    outbox.mark_final(rt.db, row["id"], "failed", "decision_error")
                    report.failed.append(row["id"])
                    continue
                if isinstance(decision, Expire):
                    outbox.mark_final(rt.db, row["id"], decision.status)
                    report.expired.append(row["id"])
                    log.info(
                        "outbox row given up",
                        extra={"row": row["id"], "kind": row["kind"], "status": decision.status},
                    )
                elif isinstance(decision, Postpone):
                    outbox.postpone(rt.db, row["id"], decision.until)
                    report.postponed.append(row["id"])
                elif outbox.claim(rt.db, row["id"], now):
                    claimed.append((row, patient))
        await send_rows(rt, claimed, report)


async def dispatch_now(rt: Runtime, row_id: int) -> DispatchReport:
    """Send one row straight away (a reply to something the person just did).

    Under `run` (a Sender is running) this only wakes the sender and returns at once: a handler
    never waits for Telegram. Tests and the simulator (no sender) send inline, as before.
    """
    report = DispatchReport()
    if rt.sender is not None:
        rt.sender.kick()
        return report
    row = outbox.get(rt.db, row_id)
    if row is not None and outbox.claim(rt.db, row_id, rt.clock.now()):
        patient = patients.get(rt.db, row["patient_id"]) if row["patient_id"] else None
        await send_rows(rt, [(row, patient)], report)
    return report


class Pace:
    """Keeps sends just inside Telegram's limits: `overall` a second, and `per_chat` a second.

    PTB's AIORateLimiter is a leaky bucket: after a pause it lets a burst of 30 through at once,
    and Telegram answers a burst on top of a steady flow with 429, after which AIORateLimiter
    stops *every* send for retry_after + 0.1 s; the stalls cost more than the 429s themselves
    (docs/benchmarks.md). Here sends pass one at a time, and a send goes only when the one
    `overall` sends before it *actually* went a `window` ago (a sliding window, as Telegram
    counts), at least half an even spacing after the previous one (no bursts), and a per-chat gap
    after the chat's previous one. A late send (the event loop was busy) never lets the next ones
    bunch up, and the window keeps the rate at `overall / window` whatever the timer jitter.

    Times are the event loop's monotonic clock: this is about real seconds on the wire. It is
    only used when the bot talks through a rate limiter (production); tests and the simulator
    on a virtual clock send unpaced.
    """

    def __init__(self, overall: int, per_chat: int, window: float):
        self.window = window
        self.min_gap = window / overall / 2
        self.chat_gap = window / per_chat
        self._recent: deque[float] = deque(maxlen=overall)
        self._chats: dict[int, float] = {}
        # Made again for each event loop in _turnstile (a lock belongs to one loop).
        self._turn = asyncio.Lock()
        self._calm = asyncio.Event()  # set while no urgent send waits
        self._urgent = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def _turnstile(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a lock belongs to one event loop (tests run many)
            self._turn, self._calm, self._loop = asyncio.Lock(), asyncio.Event(), loop
            self._calm.set()
            self._urgent = 0
        return self._turn

    def _chat_ready(self, chat_id: int) -> float:
        return self._chats.get(chat_id, float("-inf")) + self.chat_gap

    async def chat_free(self, chat_id: int) -> None:
        """Until this chat's last message is a per-chat gap old (needs no place in flight)."""
        loop = asyncio.get_running_loop()
        while (ready := self._chat_ready(chat_id)) > loop.time():
            await asyncio.sleep(ready - loop.time())

    async def wait(self, chat_id: int, urgent: bool = False, paid: bool = False) -> None:
        """Until this message may go; then it counts as sent.

        `urgent` (a reply, an alert) goes ahead of every non-urgent send waiting for its turn:
        those step aside while an urgent one waits, so a reply waits for at most one spacing,
        not for a batch of planned prompts already queued at the turnstile. `paid` (a kind in
        ALLOW_PAID_BROADCAST) keeps only the per-chat gap: Telegram lets it past 30 a second.
        """
        if paid:
            await self.chat_free(chat_id)
            self._chats[chat_id] = asyncio.get_running_loop().time()
            return
        loop = asyncio.get_running_loop()
        self._turnstile()
        while True:
            await self.chat_free(chat_id)
            if not urgent and self._urgent:
                await self._calm.wait()
                continue
            if urgent:  # counted only once ready: a chat's own gap holds no one else up
                self._urgent += 1
                self._calm.clear()
            try:
                async with self._turnstile():
                    if self._chat_ready(chat_id) > loop.time():
                        continue  # the chat got a message meanwhile: wait outside the turnstile
                    if not urgent and self._urgent:
                        continue  # an urgent send arrived while this one queued: let it by
                    await self._go(loop, chat_id)
                    return
            finally:
                if urgent:
                    self._urgent -= 1
                    if self._urgent == 0:
                        self._calm.set()

    async def _go(self, loop: asyncio.AbstractEventLoop, chat_id: int) -> None:
        """Inside the turnstile: wait for this send's place in the window, then count it."""
        recent = self._recent
        ready = recent[-1] + self.min_gap if recent else loop.time()
        if len(recent) == recent.maxlen:
            ready = max(ready, recent[0] + self.window)
        if ready > loop.time():
            await asyncio.sleep(ready - loop.time())
        now = loop.time()
        recent.append(now)
        self._chats[chat_id] = now
        if len(self._chats) > 10_000:
            self._chats = {c: t for c, t in self._chats.items() if t + self.chat_gap > now}


# Telegram's limits for a bot: about 30 messages a second overall, one a second per chat. The
# window is 2% longer than a second, so jitter between here and the wire never crosses them.
PACE: Pace | None = Pace(overall=30, per_chat=1, window=1.02)


def _pace(rt: Runtime) -> Pace | None:
    """PACE when the bot talks through a rate limiter (production), else None."""
    return PACE if getattr(rt.bot, "rate_limiter", None) is not None else None


async def send_rows(
    rt: Runtime, claimed: list[tuple[dict, dict | None]], report: DispatchReport
) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    pace = _pace(rt)
    if pace is not None and len(claimed) > 1:
        # Everyone's first message, then everyone's second...: a person's next message then
        # comes well after the per-chat gap instead of holding a place in flight waiting for it.
        seen: Counter[int] = Counter()
        order = []
        for row, patient in claimed:
            seen[row["chat_id"]] += 1
            order.append((seen[row["chat_id"]], row, patient))
        claimed = [(row, patient) for _, row, patient in sorted(order, key=lambda o: o[0])]

    async def one(row: dict, patient: dict | None) -> None:
        try:
            # One send in flight per chat: a chat's messages arrive in order, and a kill can
            # leave at most one of them delivered but unrecorded (sent again after the restart).
            async with _chat_turn(rt, row["chat_id"]):
                if pace is not None:
                    await pace.chat_free(row["chat_id"])  # waiting holds no place in flight
                async with gate:
                    await _send_one(rt, row, patient, report)
        except BaseException as exc:  # the lease: no row stays stranded
            _unstrand(rt, row, exc)
            if not isinstance(exc, Exception):
                raise  # cancelled (shutdown): the row is back in the queue
        finally:
            rt.in_flight.discard(row["id"])

    rt.in_flight.update(row["id"] for row, _ in claimed)
    await asyncio.gather(*(one(row, patient) for row, patient in claimed))


@contextlib.asynccontextmanager
async def _chat_turn(rt: Runtime, chat_id: int):
    """Hold this chat's turn to send; the lock is dropped once nobody waits for it."""
    turn = rt.chat_turns.setdefault(chat_id, [asyncio.Lock(), 0])  # [lock, tasks using it]
    turn[1] += 1
    try:
        async with turn[0]:
            yield
    finally:
        turn[1] -= 1
        if turn[1] == 0:
            del rt.chat_turns[chat_id]


def _unstrand(rt: Runtime, row: dict, exc: BaseException) -> None:
    """An error anywhere between the claim and the recorded result (a locked or full database,
    a bug): the row goes back to the queue for another try soon. If even that write fails, the
    lease reaper (`reap`) returns it once it is no longer in flight here."""
    if isinstance(exc, asyncio.CancelledError):  # shutting down mid-send: not a fault
        log.info(
            "send interrupted; the row goes back to the queue",
            extra={"row": row["id"], "kind": row["kind"]},
        )
    else:
        log.error(
            "send path failed; the row goes back to the queue",
            extra={"row": row["id"], "kind": row["kind"], "error": type(exc).__name__},
        )
    try:
        outbox.requeue_stranded(rt.db, row["id"], rt.clock.now() + STRANDED_RETRY)
    except Exception:  # noqa: BLE001 - the reaper takes over
        log.error("could not requeue the row; the lease will", extra={"row": row["id"]})


async def _mark_sent(rt: Runtime, row: dict, sent_at: datetime, message_id: int | None) -> None:
    """Record a delivered row; a locked database is retried briefly before giving up (then the
    row is requeued or reaped, and sent again: at least once, never lost)."""
    for delay in (*MARK_SENT_RETRIES, None):
        try:
            with rt.db.atomic():
                outbox.mark_sent(rt.db, row["id"], sent_at, message_id)
                after_sent(rt.db, row, sent_at)
            return
        except sqlite3.OperationalError as exc:
            if delay is None or "locked" not in str(exc):
                raise
            await asyncio.sleep(delay)


def reap(rt: Runtime) -> int:
    """Rows stranded in 'sending' (claimed over LEASE ago, not in flight here) back to pending."""
    n = outbox.reap(rt.db, rt.clock.now() - LEASE, rt.in_flight)
    if n:
        log.warning("lease expired: rows back in the queue", extra={"rows": n})
    return n


async def _send_one(rt: Runtime, row: dict, patient: dict | None, report: DispatchReport) -> None:
    row_id, kind = row["id"], row["kind"]
    now = rt.clock.now()
    try:
        out = compose(rt.db, row, patient, now)
    except Exception:  # one bad row must not stop the others
        log.exception("cannot render outbox row", extra={"row": row_id, "kind": kind})
        outbox.mark_final(rt.db, row_id, "failed", "render_error")
        report.failed.append(row_id)
        return
    if out is None:
        outbox.mark_final(rt.db, row_id, "skipped")
        report.skipped.append(row_id)
        return
    with rt.db.atomic():
        before_send(rt.db, row, now)  # typed answers belong to this question from now on
    if rt.bot is None:
        raise RuntimeError("the runtime has no Bot to send with")
    png = None
    if out.document is None and out.chart is not None:
        # Drawing takes a fraction of a second of CPU: off the event loop, and before this
        # send's turn in Pace (a turn held while drawing would bunch the sends after it).
        png = await asyncio.to_thread(chart.render_png, out.chart)
    # ALLOW_PAID_BROADCAST: these kinds may pass Telegram's 30 a second (paid, docs/scaling.md).
    paid = True if kind in (rt.settings.ALLOW_PAID_BROADCAST or ()) else None
    pace = _pace(rt)
    if pace is not None:
        await pace.wait(row["chat_id"], urgent=row["kind"] in outbox.URGENT, paid=bool(paid))
    try:
        # Over-long texts go as several messages, in order, within this chat's one turn. A try
        # that failed after some parts went on (a 429, a network error) resumes after them.
        parts = telegram_parts(out)
        done = rt.parts_sent.get(row_id, 0) if rt.parts_sent.get(row_id, 0) < len(parts) else 0
        message_ids = []
        for n, part in enumerate(parts[done:], start=done):
            if n > done and pace is not None:
                await pace.wait(row["chat_id"], urgent=kind in outbox.URGENT, paid=bool(paid))
            drawn = png if part.chart is not None else None
            message = await _send_part(rt, row["chat_id"], part, drawn, paid)
            message_ids.append(message.message_id)
            if n + 1 < len(parts):
                rt.parts_sent[row_id] = n + 1
        rt.parts_sent.pop(row_id, None)
    except RetryAfter as exc:
        # Telegram asked us to wait: not the message's fault, so it does not use up an attempt.
        wait = timedelta(seconds=retry_after_seconds(exc))
        outbox.give_back_attempt(rt.db, row_id)
        outbox.mark_retry(rt.db, row_id, rt.clock.now() + wait, "retry_after")
        report.retried.append(row_id)
        log.warning(
            "rate limited", extra={"row": row_id, "kind": kind, "wait_s": wait.total_seconds()}
        )
    except Forbidden:
        rt.parts_sent.pop(row_id, None)
        outbox.mark_final(rt.db, row_id, "failed", "forbidden")
        pid = patients.mark_unreachable(rt.db, row["chat_id"], rt.clock.now(), "blocked")
        _alert_unreachable(rt, pid)
        report.failed.append(row_id)
        rt.notify("unreachable", patient_id=pid, chat_id=row["chat_id"])
        log.info("recipient blocked the bot", extra={"row": row_id, "patient": pid})
    except BadRequest as exc:
        rt.parts_sent.pop(row_id, None)
        if "chat not found" in exc.message.lower():
            pid = patients.mark_unreachable(rt.db, row["chat_id"], rt.clock.now(), "chat_not_found")
            _alert_unreachable(rt, pid)
            rt.notify("unreachable", patient_id=pid, chat_id=row["chat_id"])
        outbox.mark_final(rt.db, row_id, "failed", "bad_request")
        report.failed.append(row_id)
        log.error("bad request", extra={"row": row_id, "kind": kind})
    except (TimedOut, NetworkError) as exc:  # TimedOut is a NetworkError; both may be passing
        error = "timeout" if isinstance(exc, TimedOut) else "network"
        if rt.clock.now() - parse_iso(row["due_at"]) >= RETRY_FOR:
            rt.parts_sent.pop(row_id, None)
            outbox.mark_final(rt.db, row_id, "failed", error)
            report.failed.append(row_id)
            log.error("giving up after retries", extra={"row": row_id, "kind": kind})
        else:
            outbox.mark_retry(
                rt.db,
                row_id,
                rt.clock.now() + backoff(row["attempts"] + 1, fast=kind not in outbox.PLANNED),
                error,
            )
            report.retried.append(row_id)
            log.warning(
                "send failed, will retry", extra={"row": row_id, "kind": kind, "error": error}
            )
    except TelegramError as exc:  # InvalidToken, ChatMigrated, Conflict: not this message's fault
        error = type(exc).__name__
        if row["attempts"] + 1 >= MAX_ATTEMPTS:
            rt.parts_sent.pop(row_id, None)
            outbox.mark_final(rt.db, row_id, "failed", error)
            report.failed.append(row_id)
        else:
            outbox.mark_retry(
                rt.db,
                row_id,
                rt.clock.now() + backoff(row["attempts"] + 1, fast=kind not in outbox.PLANNED),
                error,
            )
            report.retried.append(row_id)
        log.error("unexpected Telegram error", extra={"row": row_id, "kind": kind, "error": error})
    else:
        sent_at = rt.clock.now()
        await _mark_sent(rt, row, sent_at, message.message_id)
        report.sent.append(row_id)
        rt.notify(
            "sent",
            row=row,
            message_id=message.message_id,
            message_ids=message_ids,
            at=sent_at,
            meta=out.meta,
        )
        log.info("sent", extra={"row": row_id, "kind": kind})


def telegram_parts(out: Outgoing) -> list[Outgoing]:
    """The messages that carry `out` within Telegram's limits: a text over 4,096 characters
    (a caption over 1,024), as Telegram counts them, split at line breaks (messages.split).
    The buttons go with the last part; a file or chart keeps the first part as its caption,
    the rest follow as texts. Every kind passes through here, so no template can be refused
    for its length, however much data it shows."""
    if out.document is None and out.chart is None:
        texts = split_html(out.text, MAX_TEXT)
        if len(texts) == 1:
            return [out]
        plain = [Outgoing(text) for text in texts[:-1]]
        return [*plain, replace(out, text=texts[-1])]
    captions = split_html(out.text, MAX_CAPTION)
    if len(captions) == 1:
        return [out]
    rest = split_html("\n".join(captions[1:]), MAX_TEXT)
    return [replace(out, text=captions[0]), *(Outgoing(text) for text in rest)]


async def _send_part(
    rt: Runtime, chat_id: int, out: Outgoing, png: bytes | None, paid: bool | None
) -> Message:
    """One message to Telegram. `png`: the part's chart, drawn before the send's turn;
    `paid`: allow_paid_broadcast for the kinds ALLOW_PAID_BROADCAST names (None otherwise)."""
    bot = rt.bot
    if bot is None:
        raise RuntimeError("the runtime has no Bot to send with")
    if out.document is not None:
        name, content = out.document
        return await bot.send_document(
            chat_id,
            content,
            filename=name,
            caption=out.text,
            parse_mode=ParseMode.HTML,
            allow_paid_broadcast=paid,
        )
    if out.chart is not None:
        if png is None:  # drawn here only if the caller did not (off the event loop either way)
            png = await asyncio.to_thread(chart.render_png, out.chart)
        return await bot.send_photo(
            chat_id, png, caption=out.text, parse_mode=ParseMode.HTML, allow_paid_broadcast=paid
        )
    return await bot.send_message(
        chat_id,
        out.text,
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard(out),
        allow_paid_broadcast=paid,
    )


def _alert_unreachable(rt: Runtime, patient_id: int | None) -> None:
    """A patient we can no longer reach: their clinic is told (once a day at most)."""
    patient = patients.get(rt.db, patient_id) if patient_id else None
    if patient is not None:
        clinic.alert(rt.db, patient, "blocked", rt.clock.now())


def next_due(rt: Runtime) -> datetime | None:
    """When the next pending row becomes due (the simulator jumps its clock there).

    The earliest of max(due_at, next_attempt_at) over pending rows (`outbox.next_due_at`).
    """
    at = outbox.next_due_at(rt.db)
    return parse_iso(at) if at else None


class Sender:
    """The one long-running sender of `run`: handlers queue rows and `kick` it, never waiting.

    Two lanes, each a loop: the fast lane (replies, alerts, anything a handler queued: every kind
    not in `outbox.PLANNED`) wakes at once when kicked; the bulk lane (planned prompts, nudges
    last) every `interval` seconds. Both also run every `interval` seconds measured on the event
    loop's monotonic clock, so a step of the wall clock never stalls them. They share `Pace`, so
    Telegram's limits hold overall; a reply waits behind at most the sends already in flight.
    Every pass first reaps rows whose lease ran out; the bulk lane's pass ends with
    `liveness.beat(db, "dispatch", now)`.
    """

    # Fast-lane passes that may run at once: a pass ends when its slowest send does (a chat's
    # second reply waits its 1 s gap), so a new reply must not wait for the last pass to end.
    FAST_PASSES = 16

    def __init__(self, rt: Runtime, interval: float):
        self.rt = rt
        self.interval = interval
        self._wake = asyncio.Event()
        self._bulk_wake = asyncio.Event()  # kick_bulk: the bulk lane's next pass now
        self._tasks: list[asyncio.Task] = []
        self._passes: set[asyncio.Task] = set()

    def kick(self) -> None:
        self._wake.set()

    def kick_bulk(self) -> None:
        """The bulk lane's next pass now (the start-up plan has just queued what is due), in
        the lane itself: never a second bulk pass beside it."""
        self._bulk_wake.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._fast(), name="sender-fast"),
            asyncio.create_task(self._bulk(), name="sender-bulk"),
        ]

    async def stop(self, grace: float = 5.0) -> None:
        """Stop both lanes; fast passes already sending get `grace` seconds to finish (a send
        cancelled mid-call may reach the person and then be sent again after the restart)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._passes:
            await asyncio.wait(self._passes, timeout=grace)
        for task in self._passes:
            task.cancel()
        await asyncio.gather(*self._passes, return_exceptions=True)
        self._tasks, self._passes = [], set()

    async def pass_once(self, lane: str | None) -> DispatchReport | None:
        try:
            reap(self.rt)
            return await dispatch_due(self.rt, lane=lane)
        except Exception:  # the loop must outlive any one pass
            log.exception("dispatch pass failed", extra={"lane": lane})
            return None

    async def _fast(self) -> None:
        while True:
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                # that races with the wake-up, and the sender would never stop.
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            while len(self._passes) >= self.FAST_PASSES:
                await asyncio.wait(self._passes, return_when=asyncio.FIRST_COMPLETED)
            # Not awaited: rows already claimed by a running pass are not claimed again, so the
            # new pass sends only what came since, whatever the earlier ones still wait for.
            task = asyncio.create_task(self.pass_once("fast"), name="sender-fast-pass")
            self._passes.add(task)
            task.add_done_callback(self._passes.discard)

    async def _bulk(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.pass_once("bulk")
            try:
                liveness.beat(self.rt.db, "dispatch", self.rt.clock.now())
            except Exception:
                log.exception("liveness beat failed")
            try:
                async with asyncio.timeout(max(0.0, started + self.interval - loop.time())):
                    await self._bulk_wake.wait()
            except TimeoutError:
                pass
            self._bulk_wake.clear()
