"""What every handler shares: the runtime, the person behind an update, and durable replies."""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar

from telegram import CallbackQuery, Chat, Message, Update, User
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.runtime import Runtime
from jobs.corrections import apply_edit
from jobs.dispatch import dispatch_now
from messages import Outgoing, render
from storage import inbox, outbox, patients

log = logging.getLogger(__name__)

# Under `run` the inbox worker sets this to a set that keeps background tasks alive: cosmetic
# Bot API calls (a button's spinner, taking a keyboard off) then run beside the handler with a
# short timeout instead of holding it. None (tests, the simulator): they are awaited inline.
BACKGROUND: ContextVar[set | None] = ContextVar("background_calls", default=None)
COSMETIC_TIMEOUT = 10.0  # seconds


def update_key(update: Update) -> str:
    """What replies to this update are keyed by: its inbox row under `run` (`i<id>`; Telegram
    may reuse an update id after a week), else the update id (tests, the simulator)."""
    row = inbox.CURRENT.get()
    return f"i{row}" if row is not None else str(update.update_id)


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    return context.application.bot_data["runtime"]


def sender(update: Update) -> User:
    """Who sent the update. Every update the handlers take has one; PTB types it optional."""
    if update.effective_user is None:
        raise ValueError(f"update {update.update_id} has no sender")
    return update.effective_user


def current_chat(update: Update) -> Chat:
    """The chat of the update (see `sender`)."""
    if update.effective_chat is None:
        raise ValueError(f"update {update.update_id} has no chat")
    return update.effective_chat


def tapped(update: Update) -> CallbackQuery:
    """The button tap of a callback update (see `sender`)."""
    if update.callback_query is None:
        raise ValueError(f"update {update.update_id} is not a button tap")
    return update.callback_query


def incoming(update: Update) -> Message:
    """The message of a message update (see `sender`)."""
    if update.effective_message is None:
        raise ValueError(f"update {update.update_id} has no message")
    return update.effective_message


def patient_of(rt: Runtime, update: Update) -> dict | None:
    """The patient row of whoever sent the update; identity is never taken from button data."""
    user = update.effective_user
    return patients.by_user(rt.db, user.id) if user else None


def queue_reply(
    rt: Runtime,
    update: Update,
    out: Outgoing,
    *,
    patient_id: int | None = None,
    kind: str = "reply",
    part: str = "0",
) -> int | None:
    """Write a reply to the outbox, keyed by the update, so a redelivered update replies once.

    Call inside the same transaction as the change the reply reports.
    """
    return outbox.enqueue(
        rt.db,
        chat_id=current_chat(update).id,
        patient_id=patient_id,
        kind=kind,
        due_at=rt.clock.now(),
        now=rt.clock.now(),
        dedupe_key=f"{kind}:{update_key(update)}:{part}",
        payload=out.as_payload(),
    )


async def reply(
    rt: Runtime,
    update: Update,
    out: Outgoing | str,
    *,
    patient_id: int | None = None,
    kind: str = "reply",
    part: str = "0",
) -> None:
    """Queue a reply durably and send it now; if sending fails, the dispatcher retries it."""
    if isinstance(out, str):
        out = Outgoing(out)
    row_id = queue_reply(rt, update, out, patient_id=patient_id, kind=kind, part=part)
    if row_id is not None:
        await dispatch_now(rt, row_id)


async def reply_template(
    rt: Runtime, update: Update, template: str, *, patient_id: int | None = None, **context: object
) -> None:
    await reply(rt, update, Outgoing(render(template, **context)), patient_id=patient_id)


async def _cosmetic(call) -> None:
    """A Bot API call whose failure is harmless; in the background under `run`."""

    async def guarded() -> None:
        try:
            async with asyncio.timeout(COSMETIC_TIMEOUT):
                await call()
        except Exception:  # noqa: BLE001, S110 - cosmetic; the real work is already stored
            pass

    tasks = BACKGROUND.get()
    if tasks is None:
        await guarded()
        return
    task = asyncio.create_task(guarded())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def answer_callback(update: Update, text: str | None = None) -> None:
    """Stop the button's spinner; a failure here is cosmetic, so it must not stop the handler."""
    await _cosmetic(lambda: tapped(update).answer(text))


async def clear_buttons(update: Update) -> None:
    """Take the keyboard off an answered question so it cannot be pressed twice."""
    await _cosmetic(lambda: tapped(update).edit_message_reply_markup(None))


async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message (group -1, before the withdrawal gate): never a command nor a new
    answer. An edit of a typed rating within 10 minutes of it changes that rating, with a short
    confirmation (jobs.questions.apply_edit; the safety screen, group -3, runs first and wins).
    Any other edited text or caption gets a short note to send it again as a new message; other
    edits (a live location moving: one every few seconds) are dropped quietly."""
    message = update.edited_message
    if message is not None and (message.text or message.caption):
        rt = runtime(context)
        sender = patient_of(rt, update)
        if sender is not None and sender["status"] == "active" and message.text:
            patient, text, message_id = sender, message.text, message.message_id
            changed: list = []

            def act() -> list:
                changed.extend(apply_edit(rt, patient, message_id, text) or [])
                return changed

            await respond(rt, update, act, patient_id=patient["id"])
            if changed:
                log.info("edited rating applied", extra={"update": update.update_id})
                raise ApplicationHandlerStop
        await reply_template(
            rt, update, "edited_message", patient_id=sender["id"] if sender else None
        )
        log.info("edited message refused", extra={"update": update.update_id})
    raise ApplicationHandlerStop


class AlreadyHandled(Exception):
    """Telegram delivered this update again: its change and replies are already stored."""


async def respond(
    rt: Runtime, update: Update, act, *, patient_id: int | None = None, once: str | None = None
) -> bool:
    """Run `act()` (writes; returns the replies) and queue the replies in one transaction; send.

    The replies are keyed by the update (or by `once`, e.g. the message a button sits on), so a
    redelivered update, or a second tap on the same keyboard, changes nothing and returns False.
    Without `patient_id` the replies belong to the sender's patient row as it is after the writes
    (agreeing to the consent creates it; /delete removes it).
    """
    try:
        with rt.db.atomic():
            outs = [o for o in act() if o is not None]
            if patient_id is None:
                sender = patient_of(rt, update)
                patient_id = sender["id"] if sender else None
            ids = []
            for n, out in enumerate(outs):
                key = f"reply:{once}:{n}" if once else f"reply:{update_key(update)}:{n}"
                ids.append(
                    outbox.enqueue(
                        rt.db,
                        chat_id=current_chat(update).id,
                        patient_id=patient_id,
                        kind="reply",
                        due_at=rt.clock.now(),
                        now=rt.clock.now(),
                        dedupe_key=key,
                        payload=out.as_payload(),
                    )
                )
            if ids and ids[0] is None:
                raise AlreadyHandled
    except AlreadyHandled:
        return False
    for row_id in ids:
        if row_id is not None:
            await dispatch_now(rt, row_id)
    return True


def button_message_key(update: Update, what: str) -> str:
    """A key for "this keyboard was used": the chat and message the tapped button sits on."""
    message = tapped(update).message
    return f"{what}:{current_chat(update).id}:{message.message_id if message else 0}"
