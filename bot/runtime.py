"""What every handler and job needs at hand: the database, the clock, the settings and the bot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the core imports no telegram; only the type checker sees these
    import asyncio

    from sqlite_utils import Database
    from telegram import Bot

    from bot.clock import Clock
    from bot.settings import Settings


@dataclass
class Runtime:
    db: Database
    clock: Clock
    settings: Settings
    bot: Bot | None = None
    # Filled by tests and the simulator to observe dispatch outcomes; empty in production.
    observers: list[Any] = field(default_factory=list)
    # Under `run`: the long-running sender (jobs.dispatch.Sender). Handlers then queue replies
    # and kick it instead of sending inline. None in tests and the simulator: inline sends.
    sender: Any = None
    # Outbox row ids being sent by this process right now (the lease reaper leaves them alone).
    in_flight: set[int] = field(default_factory=set)
    # Per chat: the lock that keeps one send in flight, and how many sends hold or wait for it.
    chat_turns: dict[int, list[Any]] = field(default_factory=dict)
    # The plan pass running in the background (bot.app.start_plan_pass), or None: start-up and
    # the plan tick never block the event loop; a tick finding one still running skips.
    planning: asyncio.Task[int | None] | None = None
    # Per outbox row sent in several parts (jobs.dispatch.telegram_parts): how many parts went
    # before a later one failed, so the retry sends only the rest (not the chart twice).
    parts_sent: dict[int, int] = field(default_factory=dict)

    def notify(self, event: str, **data: Any) -> None:
        for observer in self.observers:
            observer(event, data)
