"""What every handler and job needs at hand: the database, the clock, the settings and the bot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the core imports no telegram; only the type checker sees these
    from sqlite_utils import Database
    from telegram import Bot

    from bot.clock import Clock
    from bot.settings import Settings


@dataclass
class Runtime:
    db: "Database"
    clock: "Clock"
    settings: "Settings"
    bot: "Bot | None" = None
    # Filled by tests and the simulator to observe dispatch outcomes; empty in production.
    observers: list[Any] = field(default_factory=list)

    def notify(self, event: str, **data: Any) -> None:
        for observer in self.observers:
            observer(event, data)
