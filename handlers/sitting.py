"""Answers to a sitting nudge: done, snooze 15 minutes, or not sitting today; and to "Shall I
pause these for today?" (asked after three unanswered nudges in a row): pause, or keep them."""

from __future__ import annotations

import json
from datetime import timedelta

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules.callbacks import decode
from handlers.common import (
    answer_callback,
    clear_buttons,
    patient_of,
    reply_template,
    runtime,
    tapped,
)
from storage import outbox, sitting

SNOOZE = timedelta(minutes=15)
# The reply to each answer (`s:<row>:<action>`).
REPLIES = {
    "done": "sitting_done",
    "snooze": "sitting_snooze",
    "off": "sitting_off",
    "pause": "sitting_pause",
    "keep": "sitting_keep",
}


async def sitting_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tap under a sitting nudge (data `s:<outbox id>:<action>`)."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    nudge = None
    if patient and cb is not None and cb.head == "s":
        nudge = outbox.get(rt.db, cb["row"])
    if (
        patient is None
        or cb is None
        or nudge is None
        or nudge["kind"] != "sitting"
        or nudge["patient_id"] != patient["id"]
    ):
        await reply_template(rt, update, "expired")
        return
    action, now = cb["action"], rt.clock.now()
    day = json.loads(nudge["payload"])["local_date"]
    with rt.db.atomic():
        fresh = sitting.record(rt.db, patient["id"], nudge["id"], day, action, now)
        if fresh and action == "snooze":
            outbox.enqueue(
                rt.db,
                chat_id=patient["chat_id"],
                patient_id=patient["id"],
                kind="sitting",
                due_at=now + SNOOZE,
                now=now,
                dedupe_key=f"sitting-snooze:{nudge['id']}",
                payload={"local_date": day, "snoozed_from": nudge["id"]},
            )
        elif fresh and action in ("off", "pause"):
            sitting.day_off(rt.db, patient["id"], day)
    if not fresh:
        await reply_template(rt, update, "expired")
        return
    await clear_buttons(update)
    await reply_template(rt, update, REPLIES[action], patient_id=patient["id"])
