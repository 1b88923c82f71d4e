"""/withdraw: consent withdrawn without deleting. Everything stops at once, nothing is erased;
/start asks for consent again (a new consent row), /mydata and /delete keep working.

`gate` runs before every other handler: while someone is withdrawn, nothing they type or tap is
stored; they get a kind answer saying how to come back instead.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.rules import onboarding_rules as R
from bot.rules.callbacks import decode, encode
from handlers.common import (
    answer_callback,
    button_message_key,
    clear_buttons,
    current_chat,
    patient_of,
    reply,
    reply_template,
    respond,
    runtime,
    sender,
    tapped,
)
from jobs import clinic
from messages import Outgoing, label, render
from storage import consents, events, withdrawal
from storage.withdrawal import WITHDRAWN

# What still works while withdrawn: coming back, the data rights, help, and joining someone else
# as their caregiver (that is the other person's data, under the caregiver's own agreement).
# Still open: data rights, coming back, leaving a clinic's group, and clinic staff work (a
# clinician may also have been a patient).
OPEN_COMMANDS = frozenset(
    {
        "start",
        "mydata",
        "delete",
        "help",
        "withdraw",
        "leave",
        "cohort_new",
        "cohorts",
        "cohort",
        "export",
        "cohort_set",
        "cohort_link",
    }
)
OPEN_BUTTONS = ("del:", "o:", "w:", "cgj:", "cgz:", "lv:", "clj:")


def _command(text: str) -> str | None:
    if not text.startswith("/"):
        return None
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Someone who withdrew consent: answer kindly, store nothing, let only the open doors by."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type != "private" or user is None:
        return
    rt = runtime(context)
    patient = patient_of(rt, update)
    if patient is None or patient["status"] != WITHDRAWN:
        return
    query = update.callback_query
    if query is not None:
        if (query.data or "").startswith(OPEN_BUTTONS):
            return
        await answer_callback(update)
    else:
        message = update.message  # edits and media go on to handlers that store nothing
        if message is None or message.text is None:
            return
        command = _command(message.text)
        if command in OPEN_COMMANDS:
            return
        if command is None and consents.onboarding(rt.db, user.id) is not None:
            return  # answering the consent question again
    await reply_template(
        rt,
        update,
        "withdrawn_answer",
        patient_id=patient["id"],
        emergency_number=clinic.emergency_number(rt.db, patient["id"]),
    )
    raise ApplicationHandlerStop


async def withdraw_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/withdraw: what it means, and a confirm button."""
    rt = runtime(context)
    patient = patient_of(rt, update)
    if patient is None or patient["status"] == "onboarding":
        await reply_template(rt, update, "not_registered")
        return
    if patient["status"] == WITHDRAWN:
        await reply_template(rt, update, "withdraw_already", patient_id=patient["id"])
        return
    await reply(
        rt,
        update,
        Outgoing(
            render("withdraw_confirm"),
            [
                [(label("withdraw_yes"), encode("w", "yes"))],
                [(label("withdraw_no"), encode("w", "no"))],
            ],
        ),
        patient_id=patient["id"],
    )


async def withdraw_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`w:yes` withdraws consent (once per keyboard), `w:no` keeps everything as it is."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    if patient is None or patient["status"] == "onboarding" or cb is None or cb.head != "w":
        await reply_template(rt, update, "expired", patient_id=patient["id"] if patient else None)
        return
    await clear_buttons(update)
    if cb["answer"] == "no":
        await reply_template(rt, update, "withdraw_kept", patient_id=patient["id"])
        return
    if patient["status"] == WITHDRAWN:
        await reply_template(rt, update, "withdraw_already", patient_id=patient["id"])
        return

    def act():
        stopped = withdrawal.withdraw(rt.db, patient, rt.clock.now())
        return [Outgoing(render("withdraw_done", sessions=stopped["sessions"]))]

    await respond(
        rt, update, act, patient_id=patient["id"], once=button_message_key(update, "withdraw")
    )


async def offer_consent_again(rt, update: Update, patient: dict) -> None:
    """/start from someone who withdrew: the consent question again, exactly as first asked."""
    from handlers.onboarding_questions import question

    user, chat = sender(update), current_chat(update)

    def act():
        consents.set_step(
            rt.db,
            user.id,
            chat.id,
            "consent",
            rt.clock.now(),
            patient_id=patient["id"],
            data={"again": True},
        )
        return [
            Outgoing(render("withdraw_come_back", name=patient["first_name"])),
            question(rt.db, consents.onboarding(rt.db, user.id)),
        ]

    await respond(rt, update, act, patient_id=patient["id"])


def consent_again(db, state: dict, answer: str, text: str, now) -> list[Outgoing]:
    """The answer to the consent question asked again: a new consent row, or nothing changes.

    `text` is the consent text as shown (its hash is stored). The caller re-plans afterwards.
    """
    pid = state["patient_id"]
    consents.finish(db, state["user_id"])
    if answer != "yes":
        return [Outgoing(render("withdraw_still"))]
    consents.give(db, pid, R.CONSENT_KIND, R.CONSENT_VERSION, R.consent_hash(text), now)
    status = withdrawal.restore(db, pid, now)
    events.record(
        db, now, "consent_given", pid, consent=R.CONSENT_KIND, version=R.CONSENT_VERSION, again=True
    )
    return [Outgoing(render("withdraw_welcome_back", hold=status == "hold"))]
