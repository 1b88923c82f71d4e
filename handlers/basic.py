"""Help, the text router, and the kind answers to things the bot cannot use."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from handlers import clinic, clinic_contact, onboarding, safety
from handlers.checkin import typed_text
from handlers.commands import CLINIC_COMMANDS, commands_for
from handlers.common import patient_of, reply_template, runtime, sender
from handlers.onboarding_questions import emergency_number
from storage import caregivers, clinics


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: what the bot is, and the commands for this person's role (patient, caregiver,
    clinic staff, or not set up yet)."""
    rt = runtime(context)
    patient = patient_of(rt, update)
    user_id = sender(update).id
    staff = clinics.roles_of(rt.db, user_id)
    roles = set()
    if patient is not None and patient["status"] != "onboarding":
        roles.add("patient")
        if clinics.membership(rt.db, patient["id"]) is not None:
            roles.add("member")
    if caregivers.active_for_user(rt.db, user_id):
        roles.add("caregiver")
    if staff:
        roles.add("staff")
    await reply_template(
        rt,
        update,
        "help",
        commands=commands_for(roles or {"visitor"}),
        visitor=not roles,
        clinic_commands=CLINIC_COMMANDS if staff else [],
        emergency_number=emergency_number(rt.db, patient["id"] if patient else None, user_id),
        patient_id=patient["id"] if patient else None,
    )


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plain text in a private chat: an answer to whatever the bot is waiting for."""
    rt = runtime(context)
    onboarding.drop_stale_edit(rt, update)
    patient = patient_of(rt, update)
    # An answer to their clinic (they tapped Reply; on hold too), unless a safety question waits.
    if patient is not None and await clinic_contact.typed_reply(rt, update, patient):
        return
    # A safety question waiting for its answer (or a hold) comes before anything else.
    if await safety.typed(rt, update, patient):
        return
    if onboarding.in_progress(rt, update):
        await onboarding.typed_answer(rt, update)
        return
    # "yes" or "join" typed at a clinic's offer instead of tapping its button.
    if await clinic.typed_offer_answer(rt, update, patient):
        return
    if await clinic.typed_staff_answer(rt, update, patient):
        return
    if patient is None:
        await reply_template(rt, update, "not_registered")
        return
    # A correction, an activity ended in words, or the newest open question the text fits.
    await typed_text(rt, update, patient)


async def unsupported_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice and the like: a short pointer to what works."""
    await reply_template(runtime(context), update, "unsupported_media")


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /command the bot does not have."""
    await reply_template(runtime(context), update, "unknown_command")


async def group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Anything in a group: the bot keeps health talk to private chats."""
    await reply_template(runtime(context), update, "private_only")


async def foreign_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tap outside a private chat, or on an inline message: answered, never acted on.

    The bot only puts buttons under messages in private chats; a tap anywhere else is forged or
    stale, and replying there could show someone's health data to a group.
    """
    from handlers.common import answer_callback

    chat = update.effective_chat
    if update.callback_query is None or (chat is not None and chat.type == "private"):
        return
    await answer_callback(update)
    raise ApplicationHandlerStop


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button whose data no handler knows: old keyboards, or forged data."""
    from handlers.common import answer_callback

    await answer_callback(update)
    await reply_template(runtime(context), update, "expired")
