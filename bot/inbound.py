"""Inbound for `backpain-bot run`: updates into the durable inbox, handled from there.

* `Inbound` takes stored inbox rows to per-chat workers: one asyncio task per chat with work
  (it ends when the chat's queue is empty), so chats are handled concurrently and one chat's
  updates in order. A worker loads the row, decodes it (`Update.de_json`), sets
  `storage.inbox.CURRENT` (replies are keyed by the row), runs `Application.process_update`
  and marks the row done. Rows still 'new' at start-up are handled first (crash recovery).
  It also applies the per-chat inbound rate (INBOUND_PER_CHAT_PER_MINUTE).
* `poll` is our long-polling loop (PTB's Updater confirms a batch before it is handled): raw
  getUpdates, the batch stored in one transaction, and only then the offset moved past it, so the
  next getUpdates call, which is what confirms them to Telegram, comes after the commit.
* `WebhookServer` is a small tornado server: a wrong or missing secret is refused with 403 before
  the body is read, a body over WEBHOOK_MAX_BODY_BYTES gets 413, and the update is stored before
  the 200.
* `Service` starts and stops all of it, with the sender (jobs.dispatch.Sender) and the plan and
  retention loops (monotonic: a wall-clock step never stalls them).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import json
import logging
import signal
from collections import deque
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from telegram import Update
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError

from bot.rules import safety
from bot.runtime import Runtime
from handlers.common import BACKGROUND
from jobs.dispatch import Sender, dispatch_now, retry_after_seconds
from jobs.plan import plan_done, plan_tick
from jobs.retention import purge_old
from messages import render
from storage import inbox, outbox, patients

if TYPE_CHECKING:
    import tornado.httpserver

log = logging.getLogger(__name__)

POLL_TIMEOUT = 30  # seconds Telegram holds a getUpdates call open
POLL_BACKOFF_CAP = 30.0  # seconds between getUpdates tries while Telegram cannot be reached
BURST_WINDOW = 60.0  # seconds: the per-chat rate's window; a burst ends after this long quiet
RETENTION_INTERVAL = 3600.0
SWEEP_INTERVAL = 60.0  # seconds between sweeps for 'new' rows no worker holds
SWEEP_AGE = 60.0  # seconds a row must have waited before the sweep takes it


class Inbound:
    """Stored inbox rows to per-chat workers; the per-chat rate; crash recovery."""

    def __init__(self, app: Any, per_minute: int, *, monotonic: Callable[[], float] | None = None):
        self.app = app
        self.rt: Runtime = app.bot_data["runtime"]
        self.per_minute = per_minute
        self._monotonic = monotonic
        self._queues: dict[int, deque[int]] = {}
        self._queued: set[int] = set()  # row ids queued or being handled
        self._workers: dict[int, asyncio.Task] = {}
        self._arrivals: dict[int, deque[float]] = {}
        self._burst: dict[int, float] = {}  # chat -> when its last update was throttled
        self.background: set[asyncio.Task] = set()

    def _now(self) -> float:
        return self._monotonic() if self._monotonic else asyncio.get_running_loop().time()

    # --- intake ------------------------------------------------------------------------------

    def receive(self, raws: Sequence[bytes | str]) -> list[inbox.Stored]:
        """Store a batch and the per-chat rate's verdicts in one transaction, then hand the rows
        to handle on. Returns the new rows (redeliveries left out); the caller confirms the batch
        to Telegram only after this returned."""
        db, now = self.rt.db, self.rt.clock.now()
        with db.atomic():
            stored = [s for s in (inbox.store(db, raw, now) for raw in raws) if s is not None]
            accepted = [
                s
                for s in stored
                if s.status == inbox.NEW and (s.chat_id is None or self._within_rate(s, s.chat_id))
            ]
        for row in stored:
            if row.status != inbox.NEW:
                log.warning(
                    "update not handled",
                    extra={"inbox": row.id, "kind": row.kind, "status": row.status},
                )
        for row in accepted:
            self._enqueue(row.id, row.chat_id)
        return stored

    def recover(self) -> int:
        """Rows stored but never marked handled (the last run stopped first): handled now."""
        rows = inbox.open_rows(self.rt.db)
        for row_id, chat_id in rows:
            self._enqueue(row_id, chat_id)
        if rows:
            log.warning("handling updates left by the last run", extra={"rows": len(rows)})
        return len(rows)

    def _within_rate(self, row: inbox.Stored, chat: int) -> bool:
        """False (and the row marked 'throttled') past the chat's rate, unless the update is a
        text with a warning sign: those are always handled."""
        now = self._now()
        recent = self._arrivals.setdefault(chat, deque())
        while recent and recent[0] <= now - BURST_WINDOW:
            recent.popleft()
        if len(self._arrivals) > 10_000:  # forget chats quiet for a window
            self._arrivals = {
                c: d for c, d in self._arrivals.items() if d and d[-1] > now - BURST_WINDOW
            }
            self._arrivals[chat] = recent
            self._burst = {c: t for c, t in self._burst.items() if t > now - BURST_WINDOW}
        if len(recent) < self.per_minute or self._warning_sign(row.id):
            recent.append(now)
            return True
        db, at = self.rt.db, self.rt.clock.now()
        new_burst = self._burst.get(chat, float("-inf")) <= now - BURST_WINDOW
        self._burst[chat] = now
        note = None
        inbox.mark(db, row.id, inbox.THROTTLED, at)  # in `receive`'s transaction
        if new_burst:
            person = patients.by_chat(db, chat)
            note = outbox.enqueue(
                db,
                chat_id=chat,
                patient_id=person["id"] if person else None,
                kind="reply",
                due_at=at,
                now=at,
                dedupe_key=f"throttled:{row.id}",
                payload={"text": render("inbound_throttled"), "buttons": []},
            )
        # Once per burst at WARNING: a flood must not become a flood of log lines too.
        log.log(
            logging.WARNING if new_burst else logging.DEBUG,
            "chat over its inbound rate",
            extra={"inbox": row.id, "chat": chat, "note": bool(note)},
        )
        if note is not None:
            self._spawn(dispatch_now(self.rt, note))  # runs after the commit (no await here)
        return False

    def _warning_sign(self, row_id: int) -> bool:
        row = inbox.get(self.rt.db, row_id)
        try:
            body = json.loads(row["payload"]) if row else {}
            message = body.get("message") or body.get("edited_message") or {}
            text = message.get("text") if isinstance(message, dict) else None
            return isinstance(text, str) and safety.screen(text).level is not None
        except Exception:  # when in doubt, handle it
            log.exception("screening a throttled update failed", extra={"inbox": row_id})
            return True

    # --- workers -----------------------------------------------------------------------------

    def sweep(self, older_than: float = SWEEP_AGE) -> int:
        """Rows still 'new' a while after they arrived that no worker holds (a worker failed on
        something other than the update, e.g. a locked database): queued again."""
        before = self.rt.clock.now() - timedelta(seconds=older_than)
        lost = [(i, c) for i, c in inbox.open_rows(self.rt.db, before) if i not in self._queued]
        for row_id, chat_id in lost:
            self._enqueue(row_id, chat_id)
        if lost:
            log.warning("requeued updates no worker held", extra={"rows": len(lost)})
        return len(lost)

    def _enqueue(self, row_id: int, chat_id: int | None) -> None:
        self._queued.add(row_id)
        key = chat_id if chat_id is not None else 0
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(row_id)
            return
        self._queues[key] = deque([row_id])
        self._workers[key] = asyncio.create_task(self._work(key), name=f"chat-{key}")

    async def _work(self, key: int) -> None:
        queue = self._queues[key]
        try:
            while queue:
                row_id = queue.popleft()
                try:
                    await self.handle(row_id)
                except Exception:  # the row stays 'new'; `sweep` retries it
                    log.exception("worker failed on an update", extra={"inbox": row_id})
                finally:
                    self._queued.discard(row_id)
        finally:
            # No await between the empty queue and this: nothing can be added to a dead worker.
            if self._queues.get(key) is queue:
                del self._queues[key]
                del self._workers[key]

    async def handle(self, row_id: int) -> None:
        """Handle one inbox row, once: decode, process_update with the row as context, mark done.

        Idempotent: a row handled but not marked (a crash in between) is handled again at the
        next start, and its replies (keyed by the row) and guarded writes change nothing twice.
        """
        db = self.rt.db
        row = inbox.get(db, row_id)
        if row is None or row["status"] != inbox.NEW:
            return
        try:
            update = Update.de_json(json.loads(row["payload"]), self.app.bot)
        except Exception as exc:  # noqa: BLE001 - never its content in the log
            inbox.mark(db, row_id, inbox.BAD, self.rt.clock.now(), type(exc).__name__)
            log.error(
                "update cannot be parsed", extra={"inbox": row_id, "error": type(exc).__name__}
            )
            return
        row_token = inbox.CURRENT.set(row_id)
        background_token = BACKGROUND.set(self.background)
        error = None
        try:
            await self.app.process_update(update)
        except asyncio.CancelledError:
            raise  # shutting down: the row stays 'new' and is handled at the next start
        except Exception as exc:  # noqa: BLE001 - PTB's error handler has had its say
            error = type(exc).__name__
            log.error("handling failed", extra={"inbox": row_id, "error": error})
        finally:
            inbox.CURRENT.reset(row_token)
            BACKGROUND.reset(background_token)
        try:
            inbox.mark(db, row_id, inbox.DONE, self.rt.clock.now(), error)
        except Exception:  # handled again at the next start (idempotent)
            log.exception("could not mark an update handled", extra={"inbox": row_id})

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    @property
    def busy(self) -> bool:
        return bool(self._workers)

    async def drain(self) -> None:
        """Until every queued row has been handled (tests; a clean stop)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def stop(self) -> None:
        tasks = [*self._workers.values(), *self.background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._queues.clear()
        self._workers.clear()
        self._queued.clear()


# --- polling -----------------------------------------------------------------------------------


async def poll(
    app: Any,
    inbound: Inbound,
    *,
    timeout: int = POLL_TIMEOUT,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> None:
    """Long polling until cancelled. Each batch is stored (one transaction) before the offset
    moves past it; the next call, with that offset, is what confirms the batch to Telegram.
    Network trouble backs off and retries; InvalidToken ends `run` (raised)."""
    bot = app.bot
    offset: int | None = None
    failures = 0
    while True:
        data = {"timeout": timeout, "allowed_updates": list(inbox.KINDS)}
        if offset is not None:
            data["offset"] = offset
        try:
            result = await bot._post("getUpdates", data, read_timeout=timeout + 10)
        except InvalidToken:
            raise
        except RetryAfter as exc:
            await sleep(retry_after_seconds(exc))
            continue
        except (NetworkError, TelegramError) as exc:  # Conflict, 5xx, timeouts, connection
            failures += 1
            wait = min(POLL_BACKOFF_CAP, 0.5 * 2 ** min(failures, 8))
            log.warning(
                "getUpdates failed, will retry", extra={"error": type(exc).__name__, "wait_s": wait}
            )
            await sleep(wait)
            continue
        failures = 0
        if not result:
            continue
        raws = [json.dumps(u, ensure_ascii=False, separators=(",", ":")) for u in result]
        try:
            inbound.receive(raws)  # committed before the offset below confirms the batch
        except Exception as exc:  # noqa: BLE001 - e.g. database locked or disk full
            # Not stored, so not confirmed: the offset stays, Telegram delivers it again.
            log.error(
                "could not store updates; asking again",
                extra={"error": type(exc).__name__, "updates": len(raws)},
            )
            await sleep(1.0)
            continue
        given = [u.get("update_id") for u in result if isinstance(u, dict)]
        ids = [i for i in given if isinstance(i, int) and not isinstance(i, bool)]
        if ids:
            offset = max(ids) + 1
        else:  # nothing to move the offset past (never from Telegram): do not spin
            await sleep(1.0)


# --- webhook -----------------------------------------------------------------------------------


def webhook_handler(inbound: Inbound, secret: str, cap: int):
    """The tornado handler class for the webhook path (built here so tornado is imported only in
    webhook mode)."""
    import tornado.web

    @tornado.web.stream_request_body
    class Hook(tornado.web.RequestHandler):
        def check_xsrf_cookie(self) -> None:  # a bot API callback, not a browser form
            pass

        def prepare(self) -> None:
            # Everything here runs on the headers alone, before any body is read.
            self._chunks: list[bytes] = []
            self._size = 0
            if self.request.method != "POST":
                self._refuse(405)
                return
            token = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(token.encode("utf-8", "replace"), secret.encode()):
                self._refuse(403)
                return
            kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                self._refuse(403)
                return
            length = self.request.headers.get("Content-Length")
            if length is not None and (not length.isdigit() or int(length) > cap):
                self._refuse(413)

        def _refuse(self, status: int) -> None:
            self.set_status(status)
            self.finish()  # tornado closes the connection rather than read the body

        def data_received(self, chunk: bytes) -> None:
            self._size += len(chunk)
            if self._size <= cap:
                self._chunks.append(chunk)
            else:
                self._chunks = []  # chunked and too long: keep nothing

        def post(self) -> None:
            if self._size > cap:
                self.set_status(413)
                return
            try:
                inbound.receive([b"".join(self._chunks)])  # stored (committed) before the 200
            except Exception as exc:  # noqa: BLE001 - not stored: Telegram must send it again
                log.error("webhook update not stored", extra={"error": type(exc).__name__})
                self.set_status(500)
                return
            self.set_status(200)

    return Hook


class WebhookServer:
    def __init__(self, inbound: Inbound, settings: Any):
        self.inbound, self.settings = inbound, settings
        self._server: tornado.httpserver.HTTPServer | None = None

    async def start(self) -> None:
        import tornado.httpserver
        import tornado.web

        s = self.settings
        path = "/" + urlparse(s.WEBHOOK_URL).path.lstrip("/")
        app = tornado.web.Application(
            [(path, webhook_handler(self.inbound, s.WEBHOOK_SECRET, s.WEBHOOK_MAX_BODY_BYTES))]
        )
        # No body is buffered whole (the handler streams); this only bounds what tornado will
        # accept on a connection at all.
        self._server = tornado.httpserver.HTTPServer(
            app, max_body_size=max(s.WEBHOOK_MAX_BODY_BYTES * 4, 4 << 20)
        )
        self._server.listen(s.WEBHOOK_PORT, address=s.WEBHOOK_LISTEN)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None


# --- the whole service -------------------------------------------------------------------------


class Service:
    """What `run` runs: start-up, inbound (polling or webhook), sender, plan and retention loops."""

    def __init__(self, app: Any, settings: Any, *, poll_timeout: int = POLL_TIMEOUT):
        self.app, self.settings = app, settings
        self.rt: Runtime = app.bot_data["runtime"]
        self.inbound = Inbound(app, settings.INBOUND_PER_CHAT_PER_MINUTE)
        self.sender = Sender(self.rt, settings.DISPATCH_INTERVAL_SECONDS)
        self.webhook: WebhookServer | None = None
        self.poll_timeout = poll_timeout
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        await self.app.initialize()  # getMe: InvalidToken surfaces here
        self.rt.sender = self.sender
        await self.app.post_init(self.app)  # outbox recovery, command menu, first plan started
        if self.rt.planning is not None:  # the first plan pass runs in the background
            self._tasks.append(self.rt.planning)
            self._tasks.append(asyncio.create_task(self._send_first_plan(), name="first-plan"))
        self.sender.start()
        self.inbound.recover()
        if self.settings.WEBHOOK_URL:
            self.webhook = WebhookServer(self.inbound, self.settings)
            await self.webhook.start()  # listening before Telegram is told where to post
            await self.app.bot.set_webhook(
                self.settings.WEBHOOK_URL,
                secret_token=self.settings.WEBHOOK_SECRET,
                allowed_updates=list(inbox.KINDS),
            )
        else:
            await self.app.bot.delete_webhook(drop_pending_updates=False)
            self._tasks.append(
                asyncio.create_task(
                    poll(self.app, self.inbound, timeout=self.poll_timeout), name="poll"
                )
            )
        self._tasks.append(
            asyncio.create_task(
                self._every(self.settings.PLAN_INTERVAL_SECONDS, self._plan), name="plan"
            )
        )
        self._tasks.append(
            asyncio.create_task(
                self._every(RETENTION_INTERVAL, self._retention, first=60.0), name="retention"
            )
        )
        self._tasks.append(
            asyncio.create_task(self._every(SWEEP_INTERVAL, self.inbound.sweep), name="sweep")
        )

    async def _every(
        self, interval: float, tick: Callable[[], Any], first: float | None = None
    ) -> None:
        """Run `tick` every `interval` seconds of the monotonic clock, from `first` (default: one
        interval) on; a slow tick delays the next, never doubles it."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(interval if first is None else first)
        while True:
            started = loop.time()
            try:
                if inspect.isawaitable(result := tick()):
                    await result
            except Exception:  # the loop outlives any one tick
                log.exception("tick failed", extra={"tick": getattr(tick, "__name__", "?")})
            await asyncio.sleep(max(0.0, started + interval - loop.time()))

    async def _send_first_plan(self) -> None:
        """What the start-up pass planned as due now goes out as soon as it is planned, not at
        the bulk lane's next turn (an interval later): the pass used to run before the sender."""
        await plan_done(self.rt)
        self.sender.kick_bulk()

    async def _plan(self) -> None:
        await plan_tick(self.rt)  # skipped if the last pass still runs; it beats when done

    def _retention(self) -> None:
        purge_old(self.rt)
        inbox.scrub(self.rt.db, self.rt.clock.now())

    async def wait(self) -> None:
        """Until the poll loop ends (it only does by raising, e.g. InvalidToken) or forever."""
        poller = next((t for t in self._tasks if t.get_name() == "poll"), None)
        if poller is None:
            await asyncio.Event().wait()
        else:
            await poller

    async def stop(self, flush: float = 5.0) -> None:
        """Stop taking updates, finish the ones under way, send what is queued (up to `flush`
        seconds), then stop everything. Anything left is in the database for the next start."""
        if self.webhook is not None:
            await self.webhook.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:
            async with asyncio.timeout(flush):
                await self.inbound.drain()
        except TimeoutError:
            pass
        await self.inbound.stop()
        await self.sender.stop()
        try:
            async with asyncio.timeout(flush):
                await self.sender.pass_once("fast")
        except TimeoutError:
            pass
        self.rt.sender = None
        await self.app.shutdown()


async def serve(app: Any, settings: Any) -> None:
    """`backpain-bot run`: until SIGINT/SIGTERM, or a fatal error (raised, e.g. InvalidToken)."""
    service = Service(app, settings)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    try:
        await service.start()
        waiter = asyncio.create_task(service.wait())
        stop = asyncio.create_task(stopping.wait())
        done, _ = await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, stop):
            task.cancel()
        if waiter in done and not waiter.cancelled() and (failed := waiter.exception()):
            raise failed
    finally:
        try:
            await service.stop()
        except Exception:  # stopping must not hide why we stopped
            log.exception("error while stopping")
