"""/urgent: the red-flag questions, escalation, and the way out of a hold.

Anyone may ask, registered or not: a stranger asking for urgent help gets the same safety answer.
An emergency sign puts a patient's prompts on hold; "I have been seen" (then "may you carry on?")
or "I answered by mistake" (the questions again) lead out of it. Typed answers to these questions
are read in handlers.safety, with the same rules as the buttons.
"""

from __future__ import annotations

from functools import partial

from telegram import Update
from telegram.ext import ContextTypes

from handlers import safety as flow
from handlers.common import answer_callback, clear_buttons, patient_of, reply, respond, runtime
from messages import Outgoing, render

_ANSWERS = {"u:emergency:yes", "u:emergency:no", "u:soon:yes", "u:soon:no",
            "u:emergency:yes:m", "u:emergency:no:m", "u:soon:yes:m", "u:soon:no:m"}


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
    data = update.callback_query.data or ""
    on_hold = patient is not None and patient["status"] == "hold"
    if data in ("u:seen", "u:fu:seen", "u:fu:notyet", "u:mistake", "u:ok:yes", "u:ok:no"):
        if patient is None or not on_hold:
            await reply(rt, update, Outgoing(render("expired")), patient_id=pid)
            return
        await clear_buttons(update)
        if data in ("u:seen", "u:fu:seen"):
            act = partial(flow.seen, rt, update, patient, "button")
        elif data == "u:fu:notyet":
            act = partial(flow.seen_answer, rt, update, patient, "no")
        elif data == "u:mistake":
            act = partial(flow.mistake, rt, update, patient)
        else:
            act = partial(flow.carry_on_answer, rt, update, patient, data[-3:].strip(":"))
        await respond(rt, update, act, patient_id=pid)
        flow.replan_if_lifted(rt, patient)
        return
    if data not in _ANSWERS:
        await reply(rt, update, Outgoing(render("expired")), patient_id=pid)
        return
    await clear_buttons(update)
    parts = data.split(":")
    await respond(rt, update, lambda: flow.urgent_answer(rt, update, patient, parts[1], parts[2],
                                                         len(parts) == 4),
                  patient_id=pid)
    flow.replan_if_lifted(rt, patient)
