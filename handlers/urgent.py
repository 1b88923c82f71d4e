"""/urgent: the red-flag questions (CLINICAL.md), escalation, and "I have been seen" after a hold.

Anyone may ask, registered or not: a stranger asking for urgent help gets the same safety answer.
An emergency sign puts a patient's prompts on hold until they confirm a doctor has seen them.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from handlers.common import answer_callback, clear_buttons, patient_of, reply, respond, runtime
from handlers.onboarding_questions import emergency_number
from handlers.settings import cancel_prompts, resume
from jobs import clinic
from jobs.summary import alert_caregivers
from messages import Outgoing, label, render
from storage import events, patients


def _question(step: str) -> Outgoing:
    return Outgoing(render(f"urgent_q_{step}"),
                    [[(label("onboarding_no_signs"), f"u:{step}:no")],
                     [(label("onboarding_has_sign"), f"u:{step}:yes")]])


async def urgent_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    patient = patient_of(rt, update)
    await reply(rt, update, _question("emergency"), patient_id=patient["id"] if patient else None)


async def urgent_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`u:emergency:yes|no`, `u:soon:yes|no`, `u:seen`."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    pid = patient["id"] if patient else None
    data = update.callback_query.data or ""
    if data == "u:seen":
        if patient is None or patient["status"] != "hold":
            await reply(rt, update, Outgoing(render("expired")), patient_id=pid)
            return
        await clear_buttons(update)
        await resume(rt, update, patient, "red_flag_seen")
        return
    if data not in ("u:emergency:yes", "u:emergency:no", "u:soon:yes", "u:soon:no"):
        await reply(rt, update, Outgoing(render("expired")), patient_id=pid)
        return
    await clear_buttons(update)
    _, step, answer = data.split(":")

    def act() -> list[Outgoing]:
        now = rt.clock.now()
        if step == "emergency" and answer == "no":
            return [_question("soon")]
        if step == "soon" and answer == "no":
            return [Outgoing(render("urgent_none", emergency_number=emergency_number(rt.db, pid, update.effective_user.id)))]
        if step == "soon":
            if pid:
                events.record(rt.db, now, "red_flag", pid, level="soon", at="urgent")
            return [Outgoing(render("urgent_soon_doctor"))]
        held = patient is not None and patient["status"] in ("active", "paused")
        if held:
            patients.update(rt.db, pid, now, status="hold")
            cancel_prompts(rt.db, pid, "red_flag")
        if pid:
            events.record(rt.db, now, "red_flag", pid, level="emergency", at="urgent")
            alert_caregivers(rt.db, patient, now)  # those who chose it; no words of theirs
            clinic.alert(rt.db, patient, "red_flag", now)  # the clinic, if they are in a cohort
        buttons = [[(label("onboarding_seen"), "u:seen")]] if held else []
        return [Outgoing(render("urgent_emergency", emergency_number=emergency_number(rt.db, pid, update.effective_user.id),
                                held=held), buttons)]

    await respond(rt, update, act, patient_id=pid)
