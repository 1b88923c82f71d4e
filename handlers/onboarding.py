"""/start: the onboarding conversation, one step at a time, the step stored in SQLite.

Buttons and typed text both become one canonical answer (handlers.onboarding_questions), checked
against the person's current step; `apply_answer` stores it and asks the next question in one
transaction. Nothing about a person's health is stored before they agree to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.clock import parse_iso
from bot.rules import onboarding_rules as R
from bot.rules.callbacks import decode, encode
from bot.rules.localtime import local_date, parse_hhmm, zone
from bot.runtime import Runtime
from handlers import caregiver, clinic, withdraw
from handlers.common import (
    answer_callback,
    clear_buttons,
    current_chat,
    incoming,
    patient_of,
    reply_template,
    respond,
    runtime,
    sender,
    tapped,
)
from handlers.onboarding_questions import Reask, from_button, from_text, pending, question
from handlers.resume import resume
from jobs import clinic as clinic_flow
from jobs import safety
from jobs.plan import replan_patient
from messages import Outgoing, label, render
from storage import activities, checkins, consents, events, patients


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: begin onboarding, resume it where it stopped, or welcome back a set-up patient.

    With a deep-link code: a caregiver's invite (cg_), a clinician's invite (cl_) or a cohort's
    enrolment link (co_).
    """
    rt = runtime(context)
    code = context.args[0] if context.args else ""
    for prefix, opener in (
        (caregiver.START_PREFIX, caregiver.open_invite),
        (clinic.CLINICIAN_PREFIX, clinic.open_clinician_invite),
        (clinic.COHORT_PREFIX, clinic.open_cohort_link),
    ):
        if code.startswith(prefix):
            await opener(rt, update, code[len(prefix) :])
            return
    await begin_or_resume(rt, update)


async def begin_or_resume(rt, update: Update) -> None:
    user, chat = sender(update), current_chat(update)
    state = consents.onboarding(rt.db, user.id)
    patient = patient_of(rt, update)
    if state is None and patient is not None and patient["status"] == withdraw.WITHDRAWN:
        await withdraw.offer_consent_again(rt, update, patient)
        return
    if state is None and patient is not None and patient["status"] == "inactive":
        await resume(rt, update, patient, "reactivated")  # they had blocked the bot, came back
        return
    if state is None and patient is not None:
        await reply_template(
            rt,
            update,
            "onboarding_welcome_back",
            name=patient["first_name"],
            patient_id=patient["id"],
        )
        return
    if state is None:

        def begin() -> list[Outgoing]:
            consents.set_step(rt.db, user.id, chat.id, "intro", rt.clock.now())
            return [
                question(rt.db, consents.existing_onboarding(rt.db, user.id), name=user.first_name)
            ]

        await _send(rt, update, begin)
        return
    await _send(rt, update, lambda: [Outgoing(render("onboarding_resume")), question(rt.db, state)])


EDIT_TIMEOUT = timedelta(minutes=30)


def drop_stale_edit(rt, update: Update) -> None:
    """A /settings change left half-done must not swallow later answers: it lapses after 30
    minutes, or as soon as the bot has asked something newer (a check-in, a session question)."""
    user = update.effective_user
    state = consents.onboarding(rt.db, user.id) if user else None
    if user is None or state is None or not state["data"].get("edit"):
        return
    waiting = checkins.awaiting(rt.db, state["patient_id"])
    if parse_iso(state["updated_at"]) < rt.clock.now() - EDIT_TIMEOUT or (
        waiting is not None and waiting["asked_at"] > state["updated_at"]
    ):
        consents.finish(rt.db, user.id)


def in_progress(rt, update: Update) -> bool:
    """Is the sender part-way through onboarding, so that typed text answers its question?"""
    user = update.effective_user
    return user is not None and consents.onboarding(rt.db, user.id) is not None


async def onboarding_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tap on an onboarding button (`o:<step>:<value>`), honoured only at that current step."""
    rt = runtime(context)
    await answer_callback(update)
    state = consents.onboarding(rt.db, sender(update).id)
    cb = decode(tapped(update).data)
    answer = None
    if (
        state is not None
        and cb is not None
        and cb.head == "o"
        and cb["step"] == state["step"]
        and state["chat_id"] == current_chat(update).id
    ):
        answer = from_button(rt.db, state, cb["value"])
    if answer is None:
        await reply_template(rt, update, "expired")
        return
    assert state is not None  # an answer needs the step it answers
    await clear_buttons(update)
    await apply_answer(rt, update, state, answer)


async def typed_answer(rt, update: Update) -> None:
    """Typed text while onboarding: the answer to the current step, or a kind re-ask."""
    state = consents.existing_onboarding(rt.db, sender(update).id)
    try:
        answer = from_text(state, incoming(update).text or "")
    except Reask as reask:
        problem: str | None = reask.problem
        # On hold: a short reminder, the whole advice at most once an hour.
        if (
            state["step"] == "hold"
            and problem == "short"
            and safety.full_advice_due(rt.db, state["patient_id"], rt.clock.now())
        ):
            events.record(rt.db, rt.clock.now(), "hold_advice", state["patient_id"])
            problem = None
        context = reask.context
        await _send(rt, update, lambda: [question(rt.db, state, problem, **context)])
        return
    await apply_answer(rt, update, state, answer)


async def location_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A shared location answers the time-zone question; the coordinates are never stored."""
    rt = runtime(context)
    state = consents.onboarding(rt.db, sender(update).id) if update.effective_user else None
    where = incoming(update).location
    if where is None or state is None or state["step"] != "tz":
        await reply_template(rt, update, "location_unused", setting_up=state is not None)
        return
    name = R.timezone_at(where.latitude, where.longitude)
    if name is None:
        await _send(rt, update, lambda: [question(rt.db, state, "at_sea")])
        return
    await apply_answer(rt, update, state, name)


async def _send(rt, update: Update, act) -> bool:
    """Run `act` (writes, returning the replies) and queue its replies in one transaction; send.

    False, with nothing changed, when this update was handled before: a redelivered "no" must not
    answer the next question too.
    """
    return await respond(rt, update, act)


async def apply_answer(rt, update: Update, state: dict, answer: object) -> None:
    """Store one accepted answer and ask the next question; then the few follow-ups outside it."""
    turn = _Turn(rt, update, state, rt.clock.now())
    if not await _send(rt, update, lambda: _STEPS[state["step"]](turn, answer)):
        return
    if state["step"] == "consent" and answer == "no":
        consents.forget_visitor(rt.db, state["user_id"], state["chat_id"])
    patient = patient_of(rt, update)
    if patient is not None and consents.onboarding(rt.db, state["user_id"]) is None:
        replan_patient(rt, patient)  # just finished: the schedule starts now


@dataclass
class _Turn:
    rt: Runtime
    update: Update
    state: dict
    now: datetime

    @property
    def pid(self) -> int:
        return self.state["patient_id"]

    def set(self, **fields: object) -> None:
        patients.update(self.rt.db, self.pid, self.now, **fields)

    @property
    def editing(self) -> str | None:
        """The setting being changed from /settings, or None during first-time onboarding."""
        return self.state["data"].get("edit")

    def go(
        self, step: str, *, data: dict | None = None, patient_id: int | None = None, **extra: Any
    ) -> list[Outgoing]:
        """Move to `step` and ask its question (when editing, past the setting's steps: done)."""
        if self.editing and step not in EDIT_FLOWS[self.editing]:
            return self.end_edit()
        consents.set_step(
            self.rt.db,
            self.state["user_id"],
            self.state["chat_id"],
            step,
            self.now,
            data=data,
            patient_id=patient_id,
        )
        state = consents.existing_onboarding(self.rt.db, self.state["user_id"])
        return [question(self.rt.db, state, **extra)]

    def again(self, problem: str, **extra: object) -> list[Outgoing]:
        return [question(self.rt.db, self.state, problem, **extra)]

    def end_edit(self) -> list[Outgoing]:
        """A setting changed from /settings is stored: show them all again (re-planned after)."""
        consents.finish(self.rt.db, self.state["user_id"])
        events.record(self.rt.db, self.now, "settings_changed", self.pid, setting=self.editing)
        return [settings_message(self.rt.db, patients.existing(self.rt.db, self.pid), saved=True)]


# Which onboarding steps each /settings choice walks through.
EDIT_FLOWS = {
    "tz": {"tz"},
    "ci": {"ci", "qh"},
    "qh": {"qh", "ci"},
    "sit": {"sit", "sh", "se"},
    "act": {"act", "dose"},
}


def settings_message(db, patient: dict, *, saved: bool = False) -> Outgoing:
    """Every setting with its current value, and a button to change each."""
    days = {v: k for k, v in R.SITTING_DAYS.items()}.get(patient["sitting_days"], "no")
    sitting = label(f"onboarding_sit_{days}").lower() if days != "no" else ""
    text = render(
        "settings",
        saved=saved,
        timezone=patient["timezone"],
        checkin=patient["checkin_time"],
        quiet_from=patient["quiet_from"],
        quiet_to=patient["quiet_to"],
        sitting_days=sitting,
        sitting_from=patient["sitting_from"],
        sitting_to=patient["sitting_to"],
        sitting_every=patient["sitting_every"],
        summary=f"{patient['summary_day'].capitalize()} {patient['summary_time']}",
        activities=activities.for_patient(db, patient["id"]),
    )
    return Outgoing(
        text,
        [
            [
                (label("settings_tz"), encode("set", "tz")),
                (label("settings_ci"), encode("set", "ci")),
            ],
            [
                (label("settings_qh"), encode("set", "qh")),
                (label("settings_sit"), encode("set", "sit")),
            ],
            [
                (label("settings_act"), encode("set", "act")),
                (label("settings_dose"), encode("set", "dose")),
            ],
            [(label("settings_summary"), encode("set", "sum"))],
        ],
    )


def _consent(t: _Turn, answer: str) -> list[Outgoing]:
    db, user = t.rt.db, sender(t.update)
    if t.state["data"].get("again"):  # agreeing again after /withdraw
        return withdraw.consent_again(db, t.state, answer, question(db, t.state).text, t.now)
    if answer == "no":
        consents.finish(db, user.id)
        return [Outgoing(render("onboarding_declined"))]
    pid = patients.create(
        db, user_id=user.id, chat_id=t.state["chat_id"], now=t.now, first_name=user.first_name or ""
    )
    text = question(db, t.state).text  # exactly the words they agreed to
    consents.give(db, pid, R.CONSENT_KIND, R.CONSENT_VERSION, R.consent_hash(text), t.now)
    events.record(
        db, t.now, "consent_given", pid, consent=R.CONSENT_KIND, version=R.CONSENT_VERSION
    )
    return t.go("rf", patient_id=pid)


def _red_flags(t: _Turn, answer: str) -> list[Outgoing]:
    if answer == "no":
        return t.go("soon")
    t.set(status="hold")  # no course prompts until a doctor has seen them
    events.record(t.rt.db, t.now, "red_flag", t.pid, level="emergency", at="onboarding")
    safety.queue_follow_up(t.rt.db, patients.existing(t.rt.db, t.pid), t.now)
    return t.go("hold")


def _seen(t: _Turn, answer: str) -> list[Outgoing]:
    if answer == "notyet":  # the follow-up's "Not yet": the advice again, asked again tomorrow
        safety.queue_follow_up(t.rt.db, patients.existing(t.rt.db, t.pid), t.now)
        return t.again("not_yet")
    t.set(status="onboarding")
    if answer == "mistake":  # the warning-sign question again; no false declaration needed
        events.record(t.rt.db, t.now, "red_flag_mistake", t.pid, at="onboarding")
        return t.go("rf", recheck=True)
    events.record(t.rt.db, t.now, "red_flag_seen", t.pid, at="onboarding")
    return t.go("soon", after_hold=True)


def _soon_signs(t: _Turn, answer: str) -> list[Outgoing]:
    if answer == "no":
        return t.go("tz")
    events.record(t.rt.db, t.now, "red_flag", t.pid, level="soon", at="onboarding")
    return [Outgoing(render("onboarding_see_doctor"))] + t.go("tz")


def _timezone(t: _Turn, answer: str) -> list[Outgoing]:
    if answer == "other":
        return t.again("other")
    t.set(timezone=answer)
    return t.go("ci")


def _checkin_time(t: _Turn, answer: str) -> list[Outgoing]:
    t.set(checkin_time=answer)
    patient = patients.existing(t.rt.db, t.pid)
    if t.editing and not (
        patient["quiet_from"]
        and R.in_window(
            parse_hhmm(answer), parse_hhmm(patient["quiet_from"]), parse_hhmm(patient["quiet_to"])
        )
    ):
        return t.end_edit()  # quiet hours still fit: nothing more to ask
    return t.go("qh")


def _quiet(t: _Turn, answer) -> list[Outgoing]:
    if answer == "back":
        return t.go("ci")
    checkin = patients.existing(t.rt.db, t.pid)["checkin_time"]
    start, end = answer
    if R.in_window(parse_hhmm(checkin), parse_hhmm(start), parse_hhmm(end)):
        return t.again("conflict", checkin=checkin, start=start, end=end)
    t.set(quiet_from=start, quiet_to=end)
    return t.go("sit")


def _sitting(t: _Turn, answer: str) -> list[Outgoing]:
    if answer == "no":
        t.set(sitting_days="", sitting_from=None, sitting_to=None)
        return t.go("act")
    t.set(sitting_days=R.SITTING_DAYS[answer])
    return t.go("sh")


def _sitting_hours(t: _Turn, answer: tuple[str, str]) -> list[Outgoing]:
    t.set(sitting_from=answer[0], sitting_to=answer[1])
    return t.go("se")


def _sitting_every(t: _Turn, answer: int) -> list[Outgoing]:
    t.set(sitting_every=answer)
    return t.go("act")


def _activities(t: _Turn, answer) -> list[Outgoing]:
    chosen = list(t.state["data"].get("chosen", []))
    if answer == "done":
        if t.editing and not pending(t.rt.db, t.state):
            return t.end_edit()
        return t.go("dose") if chosen else t.again("none")
    if isinstance(answer, tuple):  # typed: add it, unless it is already there in any case
        name = answer[1]
        if any(c.casefold() == name.casefold() for c in chosen):
            return t.go("act")
        chosen_now = chosen + [name]
    else:  # a button toggles
        name = R.ACTIVITIES[answer]
        chosen_now = [c for c in chosen if c != name] if name in chosen else chosen + [name]
    if len(chosen_now) > R.MAX_ACTIVITIES:
        return t.again("too_many")
    return t.go("act", data={**t.state["data"], "chosen": chosen_now})


def _dose(t: _Turn, minutes: int) -> list[Outgoing]:
    db = t.rt.db
    activities.add_activity(db, t.pid, pending(db, t.state)[0][1], minutes, t.now)
    if pending(db, t.state):
        return t.go("dose")
    return t.end_edit() if t.editing else _finish(t)


def _finish(t: _Turn) -> list[Outgoing]:
    """All answered: an active patient, their course starting today, and the summary."""
    db = t.rt.db
    patient = patients.existing(db, t.pid)
    today = local_date(t.now, zone(patient["timezone"])).isoformat()
    t.set(status="active", start_date=today, course_start=today)
    joined = clinic_flow.enrol_waiting(db, patients.existing(db, t.pid), t.now)  # a cohort's link
    patient = patients.existing(db, t.pid)
    consents.finish(db, t.state["user_id"])
    events.record(db, t.now, "onboarded", t.pid)
    days = {v: k for k, v in R.SITTING_DAYS.items()}.get(patient["sitting_days"], "no")
    sitting = label(f"onboarding_sit_{days}").lower() if days != "no" else ""
    return [
        Outgoing(
            render(
                "onboarding_summary",
                name=patient["first_name"],
                timezone=patient["timezone"],
                checkin=patient["checkin_time"],
                first_today=f"{t.now.astimezone(zone(patient['timezone'])):%H:%M}"
                < (patient["checkin_time"] or ""),
                quiet_from=patient["quiet_from"],
                quiet_to=patient["quiet_to"],
                sitting_days=sitting,
                sitting_from=patient["sitting_from"],
                sitting_to=patient["sitting_to"],
                sitting_every=patient["sitting_every"],
                activities=activities.for_patient(db, t.pid),
                cohort=joined[0] if joined else None,
            )
        )
    ]


_STEPS: dict[str, Callable[[_Turn, Any], list[Outgoing]]] = {
    "intro": lambda t, _: t.go("consent"),
    "consent": _consent,
    "rf": _red_flags,
    "hold": _seen,
    "soon": _soon_signs,
    "tz": _timezone,
    "ci": _checkin_time,
    "qh": _quiet,
    "sit": _sitting,
    "sh": _sitting_hours,
    "se": _sitting_every,
    "act": _activities,
    "dose": _dose,
}
