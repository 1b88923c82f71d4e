"""Activities and their sessions: /activity, /plan, start/done buttons, the B/A/S/N answers, and
logging a session afterwards. Every button is checked against the person who pressed it."""

from __future__ import annotations

import re
from datetime import timedelta

from telegram import Update
from telegram.ext import ContextTypes

from bot.clock import parse_iso
from bot.rules.callbacks import decode, encode
from bot.rules.kinds import questions as question_kinds
from bot.rules.localtime import local_date, zone
from bot.rules.onboarding_rules import same_activity
from bot.rules.parsing import Ambiguous, Invalid, parse_rating, parse_yes_no
from handlers.common import (
    answer_callback,
    button_message_key,
    clear_buttons,
    incoming,
    patient_of,
    reply,
    reply_template,
    respond,
    runtime,
    tapped,
)
from handlers.onboarding import not_set_up
from jobs import questions as conversation
from jobs import sessions as flow
from messages import Outgoing, label, render
from storage import activities, checkins, events, outbox, questions, sessions

MAX_LOG_MINUTES = 240
LOG_MINUTE_CHOICES = (10, 15, 20, 30, 45, 60)
_FIELDS = {"b": "before", "a": "after", "s": "settled"}
HISTORY_DAYS = 14
VERDICT_WORDS = {"keep": "keep", "progress": "step up", "adapt": "adjusted", "pause": "break"}
# What a typed answer can answer here (the `awaiting` kinds this module sets or reads).
TYPED_KINDS = question_kinds("session") + question_kinds("follow_up")


async def usable_patient(rt, update: Update) -> dict | None:
    """The sender as a set-up patient who may use activities now; else says why and gives None."""
    patient = patient_of(rt, update)
    if patient is None or patient["status"] == "onboarding":
        await not_set_up(rt, update)  # mid-setup: what is left (handlers.onboarding)
        return None
    if patient["status"] == "hold":
        await reply_template(rt, update, "prompts_on_hold", patient_id=patient["id"])
        return None
    return patient


# -- commands ---------------------------------------------------------------------------------
async def activity_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/activity: start one now (or finish the one under way), or log one done earlier."""
    rt = runtime(context)
    patient = await usable_patient(rt, update)
    if patient is None:
        return
    doing = sessions.in_progress(rt.db, patient["id"])
    if doing is not None:
        await reply(rt, update, flow._doing_message(doing, already=True), patient_id=patient["id"])
        return
    out = flow.plan_message(rt, patient)
    await reply(
        rt,
        update,
        Outgoing(render("activity_choose", has_any=len(out.buttons) > 1), out.buttons),
        patient_id=patient["id"],
    )


async def plan_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/plan: today's activities at their current doses."""
    rt = runtime(context)
    patient = await usable_patient(rt, update)
    if patient is not None:
        await reply(rt, update, flow.plan_message(rt, patient), patient_id=patient["id"])


async def history_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/history: the last 14 days, pain ratings and session verdicts, newest first."""
    rt = runtime(context)
    patient = await usable_patient(rt, update)
    if patient is None:
        return
    now = rt.clock.now()
    tz = zone(patient["timezone"])
    today = local_date(now, tz)
    first = today - timedelta(days=HISTORY_DAYS - 1)
    by_day = {r["local_date"]: r for r in checkins.recent(rt.db, patient["id"], first.isoformat())}
    done: dict[str, list] = {}
    for s in sessions.since(rt.db, patient["id"], now - timedelta(days=HISTORY_DAYS + 1)):
        day = local_date(parse_iso(s["started_at"]), tz).isoformat()
        done.setdefault(day, []).append(
            {"activity": s["activity"], "minutes": s["dose_minutes"], "verdict": s["verdict"]}
        )
    days = []
    for n in range(HISTORY_DAYS):
        d = today - timedelta(days=n)
        row = by_day.get(d.isoformat())
        days.append(
            {
                "label": f"{d.strftime('%a')} {d.day} {d.strftime('%b')}",
                "pain": row["pain"] if row else None,
                "missed": row is not None and row["status"] == "missed",
                "sessions": done.get(d.isoformat(), []),
            }
        )
    text = render(
        "history",
        days=days,
        verdicts=VERDICT_WORDS,
        any_data=any(d["pain"] is not None or d["sessions"] for d in days),
    )
    await reply(rt, update, Outgoing(text), patient_id=patient["id"])


# -- buttons ----------------------------------------------------------------------------------
async def activity_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`a:` buttons: s start, e done, x didn't do it, l/la/lm/lw log afterwards, p not today."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    head = cb.head if cb is not None and cb.head.startswith("a:") else ""
    if patient is None or patient["status"] in ("onboarding", "hold"):
        await _refuse(rt, update, patient)
        return
    pid = patient["id"]
    if head == "a:l":
        await _log_choose(rt, update, patient)
        return
    if head == "a:p":
        await clear_buttons(update)
        await reply_template(rt, update, "pause_over_later", patient_id=pid)
        return
    if head in ("a:s", "a:la", "a:lm", "a:lw") and cb is not None:
        act = activities.owned(rt.db, cb["activity"], pid)
        if act is None:
            await reply_template(rt, update, "expired", patient_id=pid)
        elif head == "a:s":
            await clear_buttons(update)
            await respond(rt, update, lambda: [flow.start(rt, patient, act)[1]], patient_id=pid)
        elif head == "a:la":
            await _log_minutes(rt, update, patient, act)
        elif head == "a:lm":
            await _log_when(rt, update, patient, act, cb["minutes"])
        else:
            await _log_save(rt, update, patient, act, cb["minutes"], cb["ago"])
        return
    session = (
        sessions.owned(rt.db, cb["session"], pid)
        if head in ("a:e", "a:x") and cb is not None
        else None
    )
    result = None
    if session is not None and head == "a:e":
        result = lambda: [flow.end(rt, patient, session)]  # noqa: E731
    elif session is not None and head == "a:x":
        result = lambda: [flow.cancel(rt, patient, session)]  # noqa: E731
    if result is None or not await _apply(rt, update, patient, result):
        await reply_template(rt, update, "expired", patient_id=pid)


async def _apply(rt, update: Update, patient: dict, act) -> bool:
    """Run a session step; False when it no longer applies (already answered, stale, foreign)."""
    outs: list = []

    def run():
        outs.extend(o for o in act() if o is not None)
        return outs

    await respond(rt, update, run, patient_id=patient["id"])
    if outs and update.callback_query is not None:
        await clear_buttons(update)
    return bool(outs)


async def _refuse(rt, update: Update, patient: dict | None) -> None:
    if patient is not None and patient["status"] == "hold":
        await reply_template(rt, update, "prompts_on_hold", patient_id=patient["id"])
    else:
        await reply_template(rt, update, "expired")


async def _log_choose(rt, update: Update, patient: dict) -> None:
    acts = activities.for_patient(rt.db, patient["id"])
    rows = [[(a["name"], encode("a:la", a["id"]))] for a in acts]
    await reply(
        rt,
        update,
        Outgoing(render("log_choose", has_any=bool(acts)), rows),
        patient_id=patient["id"],
    )


async def _log_minutes(rt, update: Update, patient: dict, act: dict) -> None:
    choices = sorted({act["dose_minutes"], *LOG_MINUTE_CHOICES})
    rows = [
        [
            (label("onboarding_minutes", n=n), encode("a:lm", act["id"], n))
            for n in choices[i : i + 4]
        ]
        for i in range(0, len(choices), 4)
    ]
    await reply(
        rt,
        update,
        Outgoing(render("log_minutes", activity=act["name"]), rows),
        patient_id=patient["id"],
    )


async def _log_when(rt, update: Update, patient: dict, act: dict, minutes: int | None) -> None:
    if minutes is None or not 1 <= minutes <= MAX_LOG_MINUTES:
        await reply_template(rt, update, "expired", patient_id=patient["id"])
        return
    rows = [
        [
            (
                label("activity_just_now") if h == 0 else label("activity_hours_ago", n=h),
                encode("a:lw", act["id"], minutes, h),
            )
            for h in flow.LOG_WHEN_HOURS
        ]
    ]
    await reply(
        rt,
        update,
        Outgoing(render("log_when", activity=act["name"], minutes=minutes), rows),
        patient_id=patient["id"],
    )


async def _log_save(
    rt, update: Update, patient: dict, act: dict, minutes: int | None, hours: int | None
) -> None:
    if minutes is None or not 1 <= minutes <= MAX_LOG_MINUTES or hours not in flow.LOG_WHEN_HOURS:
        await reply_template(rt, update, "expired", patient_id=patient["id"])
        return
    # Keyed by the keyboard's message: a second tap on it must not log the session twice.
    done = await respond(
        rt,
        update,
        lambda: [flow.log_past(rt, patient, act, minutes, hours)[1]],
        patient_id=patient["id"],
        once=button_message_key(update, "log"),
    )
    if done:
        await clear_buttons(update)
    else:
        await reply_template(rt, update, "expired", patient_id=patient["id"])


async def session_answer_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`r:<session>:<b|a|s>:<value>`: B or A (0-10) or settled (1/0) for one of their sessions."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    cb = cb if cb is not None and cb.head == "r" else None
    session, value = None, None
    if patient is not None and cb is not None:
        value = cb["value"]
        session = sessions.owned(rt.db, cb["session"], patient["id"])
    limit = 1 if cb is not None and cb["field"] == "s" else 10
    if patient is not None and patient["status"] == "hold":
        await reply_template(rt, update, "prompts_on_hold", patient_id=patient["id"])
        return
    if patient is None or session is None or value is None or value > limit:
        await reply_template(rt, update, "expired")
        return
    field = _FIELDS[cb["field"]] if cb is not None else None
    if field is None or not await _apply(
        rt, update, patient, lambda: _answer(rt, patient, session, field, value)
    ):
        await reply_template(rt, update, "expired", patient_id=patient["id"])


def _answer(rt, patient: dict, session: dict, field: str, value: int) -> list:
    if field == "before":
        return [flow.record_before(rt, patient, session, value)]
    if field == "after":
        return flow.record_after(rt, patient, session, value) or []
    return [flow.record_settled(rt, patient, session, bool(value))]


async def next_day_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`n:<outbox id>:<pain>`: pain a day after one or more sessions."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    row = None
    if patient is not None and patient["status"] == "hold":
        await reply_template(rt, update, "prompts_on_hold", patient_id=patient["id"])
        return
    pain = cb["pain"] if cb is not None and cb.head == "n" else None
    if patient is not None and pain is not None and cb is not None:
        row = outbox.get(rt.db, cb["row"])
        if row is not None and (
            row["kind"] != "next_day" or row["patient_id"] != patient["id"] or pain > 10
        ):
            row = None
    if (
        patient is None
        or pain is None
        or row is None
        or not await save_next_day(rt, update, patient, pain)
    ):
        await reply_template(rt, update, "expired", patient_id=patient["id"] if patient else None)


async def save_next_day(rt, update: Update, patient: dict, pain: int, *, note: str = "") -> bool:
    typed = update.message.message_id if update.message and update.message.text else None

    def act():
        applied, advice = flow.record_pain_now(rt, patient, pain, message_id=typed)
        if not applied:
            return []
        checkin_too = _also_todays_checkin(rt, patient, pain, typed)
        thanks = render("next_day_thanks", pain=pain, checkin_too=checkin_too)
        return [conversation.with_note(note, Outgoing(thanks))] + advice

    return await _apply(rt, update, patient, act)


def _also_todays_checkin(rt, patient: dict, pain: int, message_id: int | None) -> bool:
    """The next-day question and today's check-in ask the same thing ("how is your back right
    now?"): while today's check-in is open too, one answer fills both."""
    now = rt.clock.now()
    day = conversation.today(patient, now)
    open_checkin = [
        r
        for r in questions.open_rows(rt.db, patient["id"], now)
        if r["kind"] == "checkin" and r["subject"] == day
    ]
    if not open_checkin or not checkins.record_answer(
        rt.db, patient["id"], day, pain, now, open_checkin[0]["outbox_id"]
    ):
        return False
    questions.record_answered(
        rt.db,
        patient["id"],
        "checkin",
        open_checkin[0]["ref"],
        now,
        subject=day,
        message_id=message_id,
    )
    events.record(rt.db, now, "checkin_answered", patient["id"], local_date=day)
    return True


# -- typed answers ----------------------------------------------------------------------------
_STARTING = re.compile(
    r"^(?:i'?m |i am )?(?:start(?:ing)?|doing|going|off|going for|do) (?:a |my |some )?"
)


async def typed_start(rt, update: Update, patient: dict, text: str) -> bool:
    """One of their activities named with nothing open ("walking", "starting gardening": after
    /activity's list, say): started as its ▶ button would. False when the text names none."""
    if patient["status"] != "active":
        return False
    acts = activities.for_patient(rt.db, patient["id"])
    typed = _STARTING.sub("", text.strip().casefold())
    name = same_activity(typed, [a["name"] for a in acts]) if typed else None
    if name is None:
        return False
    act = next(a for a in acts if a["name"] == name)
    await respond(rt, update, lambda: [flow.start(rt, patient, act)[1]], patient_id=patient["id"])
    return True


async def typed_end(rt, update: Update, patient: dict, ending: str) -> bool:
    """ "done", "finished", "I didn't go in the end" while an activity is under way (stage
    `doing`): as the Done / I didn't do it buttons. "I didn't go" also answers the question of
    pain before it (stage `before`): nothing was done, so nothing is asked. False otherwise."""
    doing = sessions.in_progress(rt.db, patient["id"])
    if doing is None or patient["status"] == "hold":
        return False
    if doing["stage"] != "doing" and not (doing["stage"] == "before" and ending != "done"):
        return False
    if ending == "done":
        act = lambda: [flow.end(rt, patient, doing)]  # noqa: E731
    else:
        act = lambda: [flow.cancel(rt, patient, doing)]  # noqa: E731
    if not await _apply(rt, update, patient, act):
        await reply_template(rt, update, "expired", patient_id=patient["id"])
    return True


def _typed_message_id(update: Update) -> int | None:
    return update.message.message_id if update.message is not None else None


async def typed_answer(
    rt,
    update: Update,
    patient: dict,
    waiting: dict,
    others: list[dict] | None = None,
    *,
    text: str | None = None,
) -> None:
    """Typed text for an open session question (B, A, N as numbers; S as yes/no). With other
    questions open, the reply says which one this answered and what is still open."""
    text = (incoming(update).text or "") if text is None else text
    kind = waiting["kind"]
    note = conversation.which_note(rt.db, waiting, others) if others else ""
    if kind == "settle":
        await _typed_settle(rt, update, patient, text, note)
        return
    result = parse_rating(text)
    if isinstance(result, Invalid):
        await reply_template(
            rt, update, "rating_reask", reason=result.reason, patient_id=patient["id"]
        )
        return
    fields: tuple[int | str, ...]
    if kind == "next_day":
        head, fields = "n", (int(waiting["ref"]),)
    else:
        head, fields = "r", (int(waiting["ref"]), "b" if kind == "session_before" else "a")
    if isinstance(result, Ambiguous):
        out = Outgoing(
            render("rating_ambiguous", low=result.low, high=result.high),
            [
                [
                    (str(result.low), encode(head, *fields, result.low)),
                    (str(result.high), encode(head, *fields, result.high)),
                ]
            ],
        )
        await reply(rt, update, out, patient_id=patient["id"])
        return
    done = False
    message_id = _typed_message_id(update)
    if kind == "next_day":
        done = await save_next_day(rt, update, patient, result.value, note=note)
    else:
        session = sessions.owned(rt.db, int(waiting["ref"]), patient["id"])
        field = "before" if kind == "session_before" else "after"
        if session is not None:

            def act():
                outs = [o for o in _answer(rt, patient, session, field, result.value) if o]
                if outs and message_id is not None:
                    questions.note_message(
                        rt.db, patient["id"], kind, str(session["id"]), message_id
                    )
                return [conversation.with_note(note, outs[0]), *outs[1:]] if outs else []

            done = await _apply(rt, update, patient, act)
    if not done:
        questions.close(rt.db, patient["id"], kind, ref=str(waiting["ref"]), status="expired")
        await reply_template(rt, update, "not_waiting", patient_id=patient["id"])


async def _typed_settle(rt, update: Update, patient: dict, text: str, note: str = "") -> None:
    answer = parse_yes_no(text)
    due = flow.settle_due(rt.db, patient, rt.clock.now())
    if answer is None or len(due) != 1:
        await reply(
            rt,
            update,
            Outgoing(render("settle_use_buttons", count=len(due))),
            patient_id=patient["id"],
        )
        if not due:
            questions.close(rt.db, patient["id"], "settle", status="expired")
        return

    def act():
        out = flow.record_settled(rt, patient, due[0], answer)
        questions.close(rt.db, patient["id"], "settle", now=rt.clock.now())
        return [conversation.with_note(note, out)]

    await _apply(rt, update, patient, act)
