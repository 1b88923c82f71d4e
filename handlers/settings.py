"""/settings (change any onboarding answer later), /pause and /resume (all prompts)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules.callbacks import decode, encode
from handlers import safety
from handlers.activity import usable_patient
from handlers.common import (
    answer_callback,
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
from handlers.onboarding import EDIT_BEGINS, EDIT_FLOWS, settings_message, summary_change
from handlers.onboarding_questions import SETTINGS_DOSES, SUMMARY_CHOICES, question
from handlers.resume import resume
from jobs.plan import replan_patient
from jobs.prompts import PROMPT_KINDS as PROMPT_KINDS  # what /pause cancels (re-exported)
from jobs.prompts import pause, pause_length_buttons, set_pause_length
from messages import Outgoing, label, render
from storage import activities, consents, events, patients

DOSE_CHOICES = SETTINGS_DOSES  # the dose buttons; a typed dose may be any in setup's range


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    patient = await usable_patient(rt, update)
    if patient is None:
        return
    consents.finish(rt.db, sender(update).id)  # a half-done change is dropped
    await reply(rt, update, settings_message(rt.db, patient), patient_id=patient["id"])


async def settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`set:<setting>`, `set:sum:<when>`, `set:d:<activity>`, `set:dm:<activity>:<minutes>`,
    `set:a:<activity>:<rename|pause|unpause|remove>`."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    if (
        patient is None
        or patient["status"] in ("onboarding", "hold")
        or cb is None
        or not cb.head.startswith("set")
    ):
        await reply_template(rt, update, "expired")
        return
    step = _SETTING_STEPS.get(cb.head)
    if step is None or not await step(rt, update, patient, cb):
        await reply_template(rt, update, "expired", patient_id=patient["id"])


async def _edit(rt, update: Update, patient: dict, step: str, data: dict) -> None:
    """Begin a /settings change at an onboarding-style step, so typed answers reach it too."""
    user, chat, pid = sender(update).id, current_chat(update).id, patient["id"]

    def begin():
        consents.set_step(rt.db, user, chat, step, rt.clock.now(), patient_id=pid, data=data)
        return [question(rt.db, consents.existing_onboarding(rt.db, user))]

    await clear_buttons(update)
    await respond(rt, update, begin, patient_id=pid)


async def _begin_edit(rt, update: Update, patient: dict, cb) -> bool:
    """`set:<setting>`: a menu (which activity) or the question to change it."""
    what, pid = cb["what"], patient["id"]
    if what == "dose":
        rows = [
            [
                (
                    label(
                        "settings_activity_paused" if a["stopped"] else "settings_activity",
                        name=a["name"],
                        n=a["dose_minutes"],
                    ),
                    encode("set:d", a["id"]),
                )
            ]
            for a in activities.for_patient(rt.db, pid)
        ]
        text = render("settings_dose_which", has_any=bool(rows))
        await reply(rt, update, Outgoing(text, rows), patient_id=pid)
        return True
    if what not in EDIT_FLOWS or what in ("adose", "aname"):
        return False
    data: dict = {"edit": what, "chosen": []}
    if what == "sit":
        data["days"] = [d for d in patient["sitting_days"].split(",") if d]
    if what == "ld":
        data["days"] = [d for d in patient["course_days"].split(",") if d]
    await _edit(rt, update, patient, EDIT_BEGINS.get(what, what), data)
    return True


async def _summary_chosen(rt, update: Update, patient: dict, cb) -> bool:
    """`set:sum:<day><hhmm>` or `set:sum:off`: stored unless quiet hours would silence it."""
    pid = patient["id"]
    chosen = (
        "off"
        if cb["when"] == "off"
        else next(
            ((d, t) for d, t in SUMMARY_CHOICES if cb["when"] == f"{d}{t.replace(':', '')}"),
            None,
        )
    )
    if chosen is None:
        return False
    user = sender(update).id
    await clear_buttons(update)
    if (
        await respond(
            rt,
            update,
            lambda: summary_change(rt.db, pid, chosen, rt.clock.now(), user),
            patient_id=pid,
        )
        and consents.onboarding(rt.db, user) is None
    ):
        replan_patient(rt, patients.existing(rt.db, pid))
    return True


async def _dose_activity(rt, update: Update, patient: dict, cb) -> bool:
    """`set:d:<activity>`: its dose (tap or type), and rename, pause or remove it."""
    act = activities.owned(rt.db, cb["activity"], patient["id"])
    if act is None or act["removed_at"]:
        return False
    await _edit(rt, update, patient, "adose", {"edit": "adose", "activity": act["id"]})
    return True


async def _dose_minutes(rt, update: Update, patient: dict, cb) -> bool:
    pid, minutes = patient["id"], cb["minutes"]
    act = activities.owned(rt.db, cb["activity"], pid)
    if act is None or act["removed_at"] or minutes not in DOSE_CHOICES:
        return False

    def change():
        activities.set_dose(rt.db, act["id"], minutes, act["paused_until"])
        events.record(rt.db, rt.clock.now(), "dose_changed", pid, activity=act["id"], by="patient")
        consents.finish(rt.db, sender(update).id)  # the typed-dose question is answered
        return [settings_message(rt.db, patients.existing(rt.db, pid), saved=True)]

    await clear_buttons(update)
    await respond(rt, update, change, patient_id=pid)
    return True


async def _activity_action(rt, update: Update, patient: dict, cb) -> bool:
    """`set:a:<activity>:<action>`: rename (asks the new name), pause, unpause or remove it.
    A paused or removed activity gets no prompts; its sessions and history are kept."""
    pid, action = patient["id"], cb["action"]
    act = activities.owned(rt.db, cb["activity"], pid)
    if act is None or act["removed_at"]:
        return False
    if action == "rename":
        await _edit(rt, update, patient, "aname", {"edit": "aname", "activity": act["id"]})
        return True

    def change():
        now = rt.clock.now()
        if action == "remove":
            activities.mark_removed(rt.db, act["id"], now)
        else:
            activities.set_stopped(rt.db, act["id"], action == "pause")
        events.record(rt.db, now, f"activity_{action}d", pid, activity=act["id"])
        consents.finish(rt.db, sender(update).id)
        return [
            Outgoing(render("settings_activity_done", action=action, activity=act["name"])),
            settings_message(rt.db, patients.existing(rt.db, pid), saved=True),
        ]

    await clear_buttons(update)
    if await respond(rt, update, change, patient_id=pid):
        replan_patient(rt, patients.existing(rt.db, pid))
    return True


_SETTING_STEPS = {
    "set": _begin_edit,
    "set:sum": _summary_chosen,
    "set:d": _dose_activity,
    "set:dm": _dose_minutes,
    "set:a": _activity_action,
}


async def pause_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/pause: stop every prompt until /resume; nothing already stored is touched."""
    rt = runtime(context)
    patient = await usable_patient(rt, update)
    if patient is None:
        return
    if patient["status"] == "paused":  # already: the end can still be changed
        out = Outgoing(render("paused", already=True), pause_length_buttons())
        await reply(rt, update, out, patient_id=patient["id"])
        return

    await respond(
        rt, update, lambda: [pause(rt.db, patient, rt.clock.now())], patient_id=patient["id"]
    )


async def pause_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`pause:<day|week|open>` under /pause's reply: how long; `pause:later`: missed lessons
    another time."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    if patient is None or cb is None or not cb.head.startswith("pause"):
        await reply_template(rt, update, "expired")
        return
    if cb.head == "pause:later":
        await clear_buttons(update)
        await reply_template(rt, update, "pause_lessons_later", patient_id=patient["id"])
        return
    outs: list[Outgoing] = []

    def choose():
        fresh = patients.existing(rt.db, patient["id"])
        out = set_pause_length(rt.db, fresh, cb["length"], rt.clock.now())
        outs.extend([out] if out is not None else [])
        return outs

    await respond(rt, update, choose, patient_id=patient["id"])
    if outs:
        await clear_buttons(update)
    else:
        await reply_template(rt, update, "expired", patient_id=patient["id"])


async def resume_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/resume: prompts start again (after a red flag, only once a doctor has seen them)."""
    rt = runtime(context)
    patient = patient_of(rt, update)
    if patient is None or patient["status"] == "onboarding":
        await reply_template(rt, update, "not_registered")
        return
    if patient["status"] == "hold" and consents.onboarding(rt.db, sender(update).id):
        await reply_template(rt, update, "prompts_on_hold", patient_id=patient["id"])
        return
    if patient["status"] == "hold":

        def ask_seen():
            if safety.seen_since_report(rt.db, patient["id"]):  # seen, not yet cleared
                safety.ask(rt.db, patient["id"], "hold_carry_on", rt.clock.now())
                return [safety.carry_on_question()]
            safety.ask(rt.db, patient["id"], "hold_seen", rt.clock.now())
            return [Outgoing(render("resume_hold"), safety.hold_buttons())]

        await respond(rt, update, ask_seen, patient_id=patient["id"])
        return
    if patient["status"] == "active":
        await reply_template(rt, update, "resumed", already=True, patient_id=patient["id"])
        return
    await resume(rt, update, patient, "prompts_resumed")
