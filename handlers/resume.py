"""Back to active after a pause or a block: shared by /resume and /start."""

from __future__ import annotations

from telegram import Update

from handlers.common import respond
from jobs.plan import replan_patient
from jobs.prompts import reactivate, welcome_back
from storage import events, patients


async def resume(rt, update: Update, patient: dict, event: str) -> None:
    """Back to active (also for someone who had blocked the bot and came back), re-planned."""

    def act():
        now = rt.clock.now()
        # Prompts cancelled by the pause (or the block) are planned afresh from now on; session
        # follow-ups held back meanwhile go out again (the dispatcher still applies their
        # lateness rules: a settle question hours late is given up, not asked).
        reactivate(rt.db, patient["id"], now)
        events.record(rt.db, now, event, patient["id"])
        # The lessons that fell due while paused are offered (the planner planned none then).
        return [welcome_back(rt.db, patient, patient.get("paused_from"), now, ended=False)]

    if await respond(rt, update, act, patient_id=patient["id"]):
        replan_patient(rt, patients.existing(rt.db, patient["id"]))
