"""One wiring function: the Application with every handler and the few scheduler ticks."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from sqlite_utils import Database
from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest

import handlers
from bot.clock import Clock
from bot.runtime import Runtime
from bot.settings import Settings
from jobs.dispatch import dispatch_due
from jobs.plan import plan_tick, start_plan_pass
from jobs.retention import purge_old
from storage import outbox
from storage.db import open_database

log = logging.getLogger(__name__)


async def _plan_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    await plan_tick(context.application.bot_data["runtime"])


async def _dispatch_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    await dispatch_due(context.application.bot_data["runtime"])


async def _retention_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    purge_old(context.application.bot_data["runtime"])


RETENTION_INTERVAL = timedelta(hours=1)


async def _post_init(app: Application) -> None:
    rt: Runtime = app.bot_data["runtime"]
    rt.bot = app.bot
    recovered = outbox.recover(rt.db)
    if recovered:
        log.warning("requeued rows left mid-send by the last run", extra={"rows": recovered})
    try:
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in handlers.COMMANDS])
    except TelegramError as exc:  # the menu is a convenience; the bot works without it
        log.warning("setMyCommands failed", extra={"error": type(exc).__name__})
    # The first plan pass in the background: updates are answered while it runs (a restart at
    # 100,000 patients used to answer nobody for 6 s, a first start for 23 s). Rows planned
    # before keep going out meanwhile; the pass beats `plan` in the liveness table when done.
    start_plan_pass(rt)


def webhook_options(settings: Settings) -> dict:
    """PTB's webhook keywords (`Updater.start_webhook`), kept for tools that use PTB's server.

    `run` no longer does: bot.inbound.WebhookServer refuses a missing or wrong secret before
    reading the body, caps the body, and stores the update before answering 200.
    """
    if not settings.WEBHOOK_SECRET:
        raise ValueError("webhook mode needs WEBHOOK_SECRET")  # load_settings already refuses
    return {
        "listen": settings.WEBHOOK_LISTEN,
        "port": settings.WEBHOOK_PORT,
        "url_path": urlparse(settings.WEBHOOK_URL).path.lstrip("/"),
        "webhook_url": settings.WEBHOOK_URL,
        "secret_token": settings.WEBHOOK_SECRET,
    }


def build_application(
    settings: Settings,
    clock: Clock,
    request: BaseRequest | None = None,
    *,
    db: Database | None = None,
    rate_limit: bool = True,
    schedule_ticks: bool = True,
    updater: bool = True,
) -> Application:
    """The bot. Tests and the simulator pass a stand-in `request` and drive the jobs themselves.

    `run` builds it with `updater=False, schedule_ticks=False`: bot.inbound polls (or serves the
    webhook) into the durable inbox and runs the sender and the ticks itself.
    """
    # Its type parameters change with each option below: typed loosely so it can be reassigned.
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(settings.TELEGRAM_BOT_TOKEN)
        .base_url(settings.TELEGRAM_API_BASE_URL)
        .post_init(_post_init)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    if rate_limit:
        # 30 msg/s overall and 1 msg/s per chat; RetryAfter is retried once here, then the
        # outbox takes over with its own bounded retries.
        builder = builder.rate_limiter(AIORateLimiter(max_retries=1))
    if not schedule_ticks:
        builder = builder.job_queue(None)
    if not updater:
        builder = builder.updater(None)
    app = builder.build()
    if db is None:
        db = open_database(settings.DATABASE_PATH)
    app.bot_data["runtime"] = Runtime(db=db, clock=clock, settings=settings)
    handlers.register(app)
    if schedule_ticks:
        ticks = app.job_queue
        if ticks is None:  # PTB's job-queue extra is not installed
            raise RuntimeError("schedule_ticks needs python-telegram-bot[job-queue]")
        ticks.run_repeating(
            _dispatch_tick, interval=settings.DISPATCH_INTERVAL_SECONDS, first=1, name="dispatch"
        )
        ticks.run_repeating(
            _plan_tick,
            interval=settings.PLAN_INTERVAL_SECONDS,
            first=timedelta(seconds=settings.PLAN_INTERVAL_SECONDS),
            name="plan",
        )
        ticks.run_repeating(
            _retention_tick,
            interval=RETENTION_INTERVAL,
            first=timedelta(minutes=1),
            name="retention",
        )
    return app
