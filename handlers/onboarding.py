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
from bot.rules.schedule import CHECKIN_MODES
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
from handlers.onboarding_questions import (
    Reask,
    from_button,
    from_text,
    left_to_set_up,
    pending,
    question,
)
from handlers.resume import resume
from jobs import clinic as clinic_flow
from jobs import outcomes as outcome_flow
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
    # A clinic's offer left unanswered: shown again, unless they are part-way through set-up.
    if not in_progress(rt, update) and await clinic.reshow_offer(rt, update):
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

    def carry_on() -> list[Outgoing]:
        # Asked again now, so the next answer is not a stalled setup's; /start after "Shall we
        # finish setting up?" is a yes.
        data = dict(state["data"])
        step = data.pop("resume_step", None) or state["step"]
        consents.set_step(
            rt.db, state["user_id"], state["chat_id"], step, rt.clock.now(), data=data
        )
        fresh = consents.existing_onboarding(rt.db, state["user_id"])
        return [Outgoing(render("onboarding_resume")), question(rt.db, fresh)]

    await _send(rt, update, carry_on)


def _touch(rt, state: dict) -> None:
    consents.set_step(rt.db, state["user_id"], state["chat_id"], state["step"], rt.clock.now())


async def not_set_up(rt, update: Update) -> None:
    """A patient command (/checkin, /activity, /plan, /history, /settings, /pause) from someone
    not set up: what is left and the question again when they are part-way through (not on a
    warning-sign hold: that has its own answer), else how to begin."""
    user = update.effective_user
    state = consents.onboarding(rt.db, user.id) if user else None
    if state is None or state["data"].get("edit") or state["step"] == "hold":
        await reply_template(rt, update, "not_registered")
        return

    def left() -> list[Outgoing]:
        _touch(rt, state)
        return [
            Outgoing(render("onboarding_left", left=left_to_set_up(state))),
            question(rt.db, state),
        ]

    await _send(rt, update, left)


async def end_edit_on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any command ends a half-done /settings change (never a first-time setup), so later typed
    text is not taken as its answer. Runs after the command's own handler (group 1)."""
    user = update.effective_user
    if user is None:
        return
    rt = runtime(context)
    state = consents.onboarding(rt.db, user.id)
    if state is not None and state["data"].get("edit"):
        consents.finish(rt.db, user.id)


EDIT_TIMEOUT = timedelta(minutes=30)
_KEEP = object()  # `_clashes`: this setting as stored


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


# Steps whose typed answer a stalled setup must not take: a number the next morning is more
# likely a pain rating than a dose (the warning-sign steps take only a clear yes or no anyway).
STALL_STEPS = frozenset({"tz", "ci", "qh", "sit", "sh", "se", "act", "dose"})


async def typed_answer(rt, update: Update) -> None:
    """Typed text while onboarding: the answer to the current step, or a kind re-ask. A setup
    left for more than an hour asks "Shall we finish setting up?" first."""
    state = consents.existing_onboarding(rt.db, sender(update).id)
    if (
        not state["data"].get("edit")
        and state["step"] in STALL_STEPS
        and R.stalled(parse_iso(state["updated_at"]), rt.clock.now())
    ):

        def ask_to_resume() -> list[Outgoing]:
            data = {**state["data"], "resume_step": state["step"]}
            consents.set_step(
                rt.db, state["user_id"], state["chat_id"], "resume", rt.clock.now(), data=data
            )
            return [question(rt.db, consents.existing_onboarding(rt.db, state["user_id"]))]

        await _send(rt, update, ask_to_resume)
        return
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

        def ask_again() -> list[Outgoing]:
            _touch(rt, state)  # they are here: a slip is no stalled setup
            return [question(rt.db, state, problem, **context)]

        await _send(rt, update, ask_again)
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


# Which onboarding steps each /settings choice walks through (its first step: EDIT_BEGINS).
EDIT_FLOWS = {
    "tz": {"tz"},
    "ci": {"ci", "qh"},
    "qh": {"qh", "ci"},
    "sit": {"sdays", "sh", "se"},
    "act": {"act", "dose"},
    "ld": {"ldays"},
    "sum": {"sum"},
    "adose": {"adose"},
    "aname": {"aname"},
}
EDIT_BEGINS = {"sit": "sdays", "ld": "ldays"}


def _quiet_span(patient: dict):
    if patient["quiet_from"] and patient["quiet_to"]:
        return parse_hhmm(patient["quiet_from"]), parse_hhmm(patient["quiet_to"])
    return None


def _clashes(patient: dict, *, checkin=_KEEP, quiet=_KEEP, summary=_KEEP) -> tuple[str, ...]:
    """Which messages would fall in quiet hours with these changes (the rest as stored)."""
    if checkin is _KEEP:
        checkin = patient["checkin_time"] if patients.checkin_on(patient) else None
    if quiet is _KEEP:
        quiet = _quiet_span(patient)
    if summary is _KEEP:
        summary = patient["summary_time"] if patients.summary_on(patient) else None
    return R.conflicts(
        parse_hhmm(checkin) if checkin else None, quiet, parse_hhmm(summary) if summary else None
    )


def _when(patient: dict) -> dict:
    """The stored check-in, quiet hours and summary, for a refusal's wording."""
    return {
        "checkin": patient["checkin_time"] or "",
        "start": patient["quiet_from"] or "",
        "end": patient["quiet_to"] or "",
        "summary": f"{_DAY_NAMES[patient['summary_day']]} {patient['summary_time']}"
        if patient["summary_day"] in _DAY_NAMES
        else "",
    }


_DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


def settings_message(db, patient: dict, *, saved: bool = False) -> Outgoing:
    """Every setting with its current value, and a button to change each."""
    sitting = _days_words(patient["sitting_days"])
    text = render(
        "settings",
        saved=saved,
        timezone=patient["timezone"],
        checkin=patient["checkin_time"],
        checkin_mode=patient["checkin_mode"] or "daily",
        summary_off=bool(patient["summary_off"]),
        lesson_days=_days_words(patient["course_days"]),
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
            [
                (label("settings_summary"), encode("set", "sum")),
                (label("settings_lessons"), encode("set", "ld")),
            ],
        ],
    )


def _days_words(stored: str) -> str:
    """ "mon,tue,wed,thu,fri" -> "weekdays"; "mon,wed" -> "Mon, Wed"; "" -> ""."""
    days = tuple(d for d in (stored or "").split(",") if d)
    named = {R.WEEK[:5]: "weekdays", R.WEEK: "every day", R.WEEK[5:]: "weekends"}
    if days in named:
        return named[days]
    return ", ".join(d.capitalize() for d in days)


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
    """A check-in time (or, from /settings, daily / weekdays / off). Never stored inside quiet
    hours: from /settings such a time is kept aside and new quiet hours are asked first."""
    patient = patients.existing(t.rt.db, t.pid)
    if answer in CHECKIN_MODES:  # /settings only (from_button and from_text see to it)
        if answer != "off" and "checkin" in _clashes(patient, checkin=patient["checkin_time"]):
            data = {**t.state["data"], "mode": answer}
            return t.go("ci", data=data, problem="mode_in_quiet", **_when(patient))
        t.set(checkin_mode=answer)
        return t.end_edit()
    if not t.editing:
        t.set(checkin_time=answer)
        return t.go("qh")
    mode = t.state["data"].get("mode") or patient["checkin_mode"] or "daily"
    if "checkin" in _clashes(patient, checkin=answer):
        # Refused: nothing stored. New quiet hours are asked, the time kept aside until they fit.
        data = {**t.state["data"], "ci": answer, "mode": mode}
        return t.go("qh", data=data, problem="ci_in_quiet", **{**_when(patient), "checkin": answer})
    t.set(checkin_time=answer, checkin_mode="daily" if mode == "off" else mode)
    return t.end_edit()


def _quiet(t: _Turn, answer) -> list[Outgoing]:
    """Quiet hours (or, from /settings, none), refused while they would silence the check-in
    or the weekly summary; a check-in time kept aside by _checkin_time is stored with them."""
    if answer == "back":
        return t.go("ci")
    patient = patients.existing(t.rt.db, t.pid)
    proposed = t.state["data"].get("ci")
    span = None if answer == "none" else (parse_hhmm(answer[0]), parse_hhmm(answer[1]))
    clash = _clashes(patient, quiet=span, **({"checkin": proposed} if proposed else {}))
    if clash:
        when = {**_when(patient), "checkin": proposed or patient["checkin_time"] or ""}
        start, end = ("", "") if span is None else answer
        return t.again("conflict", clash=clash, **{**when, "start": start, "end": end})
    if proposed:
        mode = t.state["data"].get("mode") or "daily"
        t.set(checkin_time=proposed, checkin_mode="daily" if mode == "off" else mode)
    if answer == "none":
        t.set(quiet_from=None, quiet_to=None)
    else:
        t.set(quiet_from=answer[0], quiet_to=answer[1])
    return t.go("sit")


def _days(t: _Turn, answer) -> list[Outgoing]:
    """/settings: sitting or lesson days, tapped one at a time (✓) or typed all at once."""
    step, days = t.state["step"], list(t.state["data"].get("days", []))
    if answer == "off":  # sitting breaks off
        t.set(sitting_days="")
        return t.end_edit()
    if isinstance(answer, tuple):  # typed: the whole set at once
        days, answer = list(answer), "done"
    if answer != "done":
        days = [d for d in days if d != answer] if answer in days else [*days, answer]
        return t.go(step, data={**t.state["data"], "days": days})
    if not days:
        return t.again("no_days")
    if step == "ldays":
        t.set(course_days=R.join_days(days))
        return t.end_edit()
    t.set(sitting_days=R.join_days(days))
    return t.go("sh")  # then their hours and how often, as in setup


def _summary(t: _Turn, answer) -> list[Outgoing]:
    """/settings: the weekly summary typed ("off", "friday", "sat 19:30")."""
    return summary_change(t.rt.db, t.pid, answer, t.now, t.state["user_id"])


def summary_change(db, pid: int, answer, now: datetime, user_id: int) -> list[Outgoing]:
    """Store the weekly summary's day and time (or off) unless quiet hours would silence it;
    then the settings again. Shared by the typed answer and the buttons (handlers.settings)."""
    patient = patients.existing(db, pid)
    if answer == "off":
        patients.update(db, pid, now, summary_off=1)
    else:
        day, at = answer
        at = at or patient["summary_time"]
        if "summary" in _clashes(patient, summary=at):
            state = consents.onboarding(db, user_id) or {
                "step": "sum",
                "data": {"edit": "sum"},
                "patient_id": pid,
                "user_id": user_id,
            }
            when = {**_when(patient), "summary": f"{_DAY_NAMES[day]} {at}"}
            return [question(db, {**state, "step": "sum"}, "conflict", **when)]
        patients.update(db, pid, now, summary_day=day, summary_time=at, summary_off=0)
    consents.finish(db, user_id)
    events.record(db, now, "settings_changed", pid, setting="summary")
    return [settings_message(db, patients.existing(db, pid), saved=True)]


def _activity_dose(t: _Turn, minutes: int) -> list[Outgoing]:
    act = activities.owned(t.rt.db, t.state["data"]["activity"], t.pid)
    if act is None:
        return t.end_edit()
    activities.set_dose(t.rt.db, act["id"], minutes, act["paused_until"])
    events.record(t.rt.db, t.now, "dose_changed", t.pid, activity=act["id"], by="patient")
    return t.end_edit()


def _activity_name(t: _Turn, name: str) -> list[Outgoing]:
    db = t.rt.db
    act = activities.owned(db, t.state["data"]["activity"], t.pid)
    if act is None:
        return t.end_edit()
    others = [a["name"] for a in activities.for_patient(db, t.pid) if a["id"] != act["id"]]
    same = R.same_activity(name, others)
    if same is not None or activities.name_taken(db, t.pid, name, but=act["id"]):
        return t.again("duplicate", name=same or name)
    activities.rename(db, act["id"], name)
    events.record(db, t.now, "activity_renamed", t.pid, activity=act["id"])
    return t.end_edit()


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
    if isinstance(answer, tuple):  # typed: each one added unless already there in other words
        current = [a["name"] for a in activities.for_patient(t.rt.db, t.pid)]
        chosen_now, same = list(chosen), None
        for name in answer[1:]:
            known = R.same_activity(name, chosen_now + current)
            if known is None:
                chosen_now.append(name)
            else:
                same = same or known
        if answer[0] == "end" and len(chosen_now) <= R.MAX_ACTIVITIES:
            # "walking, swimming and that's it": the names kept and the list complete.
            data = {**t.state["data"], "chosen": chosen_now}
            if not chosen_now:
                return t.again("none")
            if t.editing and not pending(t.rt.db, {**t.state, "data": data}):
                return t.end_edit()
            return t.go("dose", data=data)
        if same is not None and len(chosen_now) <= R.MAX_ACTIVITIES:
            data = {**t.state["data"], "chosen": chosen_now}
            return t.go("act", data=data, problem="duplicate", name=same)
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
    outcome_flow.start_baseline(db, patient, t.now)  # issue 17: PEG and goals, queued
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
    "resume": lambda t, answer: _resume(t, answer),
    "sdays": _days,
    "ldays": _days,
    "sum": _summary,
    "adose": _activity_dose,
    "aname": _activity_name,
}


def _resume(t: _Turn, answer: str) -> list[Outgoing]:
    """ "Shall we finish setting up?": Continue (or "yes") asks the question they left; Start
    over goes back to the time zone (consent and the warning-sign answers stand); "no" leaves
    it for later."""
    data = dict(t.state["data"])
    step = data.pop("resume_step", "tz")
    if answer == "later":  # typed "no": nothing changes; /start or "yes" carries on
        return [Outgoing(render("onboarding_later"))]
    if answer == "go":
        return t.go(step, data=data)
    for act in activities.for_patient(t.rt.db, t.pid):  # added during this setup: no history
        activities.remove(t.rt.db, act["id"])
    return [Outgoing(render("onboarding_start_over"))] + t.go("tz", data={})
