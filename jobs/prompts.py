"""Prompts off and on again: /pause and a red-flag hold cancel them, /resume and a lifted hold
bring them back. What each outbox kind does then is declared in bot.rules.kinds; no telegram."""

from __future__ import annotations

from bot.rules.kinds import names
from messages import Outgoing, render
from storage import events, outbox, patients

# Everything the bot would send on its own; /pause cancels these (replies still go out).
PROMPT_KINDS = names(paused=True)


def cancel_prompts(db, patient_id: int, reason: str) -> None:
    outbox.cancel_for(db, patient_id, PROMPT_KINDS, reason)


def reactivate(db, patient_id: int, now) -> None:
    """Back to active (after a pause, a block or a hold): prompts cancelled meanwhile are planned
    afresh from now on, session follow-ups held back go out again, a hold's follow-up is dropped.
    The caller re-plans (after its transaction)."""
    patients.update(
        db, patient_id, now, status=patients.PLANNABLE, paused_from=None, inactive_reason=None
    )
    outbox.resume_rows(db, patient_id, now)


def lift_hold(rt, patient: dict, event: str) -> Outgoing:
    """Inside a handler's transaction: the hold ends (cleared by a doctor, or reported by
    mistake) and prompts start again; the plan tick (or `replan_after`) plans them."""
    now = rt.clock.now()
    paused = bool(patient.get("paused_from"))  # on hold from a /pause: the pause stays theirs
    if paused:
        patients.update(rt.db, patient["id"], now, status="paused")
        outbox.cancel_for(rt.db, patient["id"], names(on_resume="cancel"), "hold_lifted")
    else:
        reactivate(rt.db, patient["id"], now)
    events.record(rt.db, now, event, patient["id"])
    return Outgoing(
        render("safety_hold_lifted", mistake=event == "red_flag_mistake", paused=paused)
    )
