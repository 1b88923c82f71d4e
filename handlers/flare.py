"""The answer to a flare day's offer (data `fl:<local date>:use|keep`): see jobs/flare.py."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules.callbacks import decode
from handlers.common import (
    answer_callback,
    clear_buttons,
    patient_of,
    reply_template,
    respond,
    runtime,
    tapped,
)
from jobs import flare
from messages import Outgoing, render


async def flare_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    if patient is None or cb is None or cb.head != "fl" or patient["status"] != "active":
        await reply_template(rt, update, "expired")
        return
    if not flare.is_open(rt, patient, cb["day"]):
        await reply_template(rt, update, "expired", patient_id=patient["id"])
        return
    await clear_buttons(update)

    def act():
        lower = flare.choose(rt, patient, cb["day"], cb["answer"] == "use")
        return [lower if lower is not None else Outgoing(render("flare_kept"))]

    await respond(rt, update, act, patient_id=patient["id"])
