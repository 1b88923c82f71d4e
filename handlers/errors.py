"""The last line of defence: log the failure with ids only, tell the person kindly, keep running."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from messages import render

log = logging.getLogger(__name__)


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log with exc_info; the chat gets a fixed apology, never internal details."""
    ids = {}
    if isinstance(update, Update):
        ids = {
            "update_id": update.update_id,
            "chat": update.effective_chat.id if update.effective_chat else None,
        }
    log.error("handler failed", exc_info=context.error, extra=ids)
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is not None and chat.type == "private":
        try:
            await context.bot.send_message(chat.id, render("error"), parse_mode=ParseMode.HTML)
        except Exception:  # noqa: BLE001 - nothing more to do; it is already logged
            log.warning("could not send the apology", extra=ids)
