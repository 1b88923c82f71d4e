"""/urgent: the red-flag questions, escalation, and the way out of a hold.

Anyone may ask, registered or not: a stranger asking for urgent help gets the same safety answer.
An emergency sign puts a patient's prompts on hold; "I have been seen" (then "may you carry on?")
or "I answered by mistake" (the questions again) lead out of it. Typed answers to these questions
are read in handlers.safety, with the same rules as the buttons.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules.callbacks import decode
from handlers import safety as flow
from handlers.common import (
    answer_callback,
    clear_buttons,
    patient_of,
    reply,
    respond,
    runtime,
    tapped,
)
from messages import Outgoing, render

# The buttons that lead out of a hold (bot.rules.callbacks); the others answer /urgent.
_HOLD_HEADS = ("u:seen", "u:fu", "u:mistake", "u:ok")


async def urgent_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    patient = patient_of(rt, update)
    pid = patient["id"] if patient else None

    def act() -> list[Outgoing]:
        if patient is not None and patient["status"] != flow.WITHDRAWN:
            flow.ask(rt.db, patient["id"], "urgent_emergency", rt.clock.now(), recheck=False)
        return [flow.urgent_question("emergency")]

    await respond(rt, update, act, patient_id=pid)


async def urgent_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`u:emergency|soon:yes|no[:m]` (`:m`: asked again after "I answered by mistake"),
    `u:seen`, `u:mistake`, `u:fu:seen|notyet` (the follow-up), `u:ok:yes|no` (carry on?)."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    pid = patient["id"] if patient else None
    cb = decode(tapped(update).data)
    head, answer = (cb.head, cb.get("answer")) if cb is not None else ("", None)
    on_hold = patient is not None and patient["status"] == "hold"
    if head in _HOLD_HEADS:
        if not on_hold:
            await reply(rt, update, Outgoing(render("expired")), patient_id=pid)
            return
        assert patient is not None  # on hold
        await clear_buttons(update)
        if head == "u:seen" or answer == "seen":
            act = lambda: flow.seen(rt, update, patient, "button")  # noqa: E731
        elif answer == "notyet":
            act = lambda: flow.seen_answer(rt, update, patient, "no")  # noqa: E731
        elif head == "u:mistake":
            act = lambda: flow.mistake(rt, update, patient)  # noqa: E731
        else:
            act = lambda: flow.carry_on_answer(rt, update, patient, answer)  # noqa: E731
        await respond(rt, update, act, patient_id=pid)
        flow.replan_if_lifted(rt, patient)
        return
    if cb is None or head not in ("u:emergency", "u:soon"):
        await reply(rt, update, Outgoing(render("expired")), patient_id=pid)
        return
    await clear_buttons(update)
    level, again = head.split(":")[1], cb.get("again") is not None
    await respond(
        rt,
        update,
        lambda: flow.urgent_answer(rt, update, patient, level, answer, again),
        patient_id=pid,
    )
    flow.replan_if_lifted(rt, patient)
