"""Daily check-in: the 0-10 rating, by button or typed, and /checkin on demand."""

from __future__ import annotations

import json

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules.callbacks import decode, encode
from bot.rules.localtime import local_date, zone
from bot.rules.parsing import Ambiguous, Invalid, parse_rating
from handlers.common import (
    answer_callback,
    clear_buttons,
    incoming,
    patient_of,
    reply,
    reply_template,
    respond,
    runtime,
    tapped,
    update_key,
)
from jobs import clinic, flare
from jobs import sessions as flow
from jobs.compose import CHECKIN_KINDS
from jobs.dispatch import dispatch_now
from messages import Outgoing, render
from storage import checkins, events, outbox


def _today(rt, patient: dict) -> str:
    return local_date(rt.clock.now(), zone(patient["timezone"])).isoformat()


async def save_rating(rt, update: Update, patient: dict, question: dict, pain: int) -> None:
    """Store the rating and its acknowledgement together, then send the acknowledgement."""
    day = json.loads(question["payload"])["local_date"]
    now = rt.clock.now()
    existing = checkins.for_date(rt.db, patient["id"], day)
    if existing is not None and existing["status"] == "answered":
        await reply_template(rt, update, "expired", patient_id=patient["id"])
        return

    def act() -> list[Outgoing]:
        checkins.record_answer(rt.db, patient["id"], day, pain, now, question["id"])
        checkins.clear_awaiting(rt.db, patient["id"], "checkin")
        events.record(rt.db, now, "checkin_answered", patient["id"], local_date=day)
        # The same number is the next-day rating of yesterday's sessions (and decides them).
        _, advice = flow.record_pain_now(rt, patient, pain)
        thanks = render("checkin_thanks", pain=pain)
        outs = [flow.plan_message(rt, patient, intro=thanks)] + advice
        outs += flare.flare_reply(rt, patient, pain, day)  # issue 15: a flare day's offer
        rise = clinic.check_rise(rt.db, patient, now)  # told once a week; their clinic flagged
        if rise is not None:
            outs.append(Outgoing(render("rise_suggestion", clinic=rise.get("clinic_name"))))
        return outs

    await respond(rt, update, act, patient_id=patient["id"])


async def checkin_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/checkin: ask for today's rating now."""
    rt = runtime(context)
    patient = patient_of(rt, update)
    if patient is None or patient["status"] == "onboarding":
        await reply_template(rt, update, "not_registered")
        return
    if patient["status"] == "hold":
        await reply_template(rt, update, "prompts_on_hold", patient_id=patient["id"])
        return
    today = _today(rt, patient)
    done = checkins.for_date(rt.db, patient["id"], today)
    if done is not None and done["status"] == "answered":
        await reply_template(
            rt, update, "checkin_already", pain=done["pain"], patient_id=patient["id"]
        )
        return
    now = rt.clock.now()
    row_id = outbox.enqueue(
        rt.db,
        chat_id=patient["chat_id"],
        patient_id=patient["id"],
        kind="checkin_asked",
        due_at=now,
        now=now,
        dedupe_key=f"checkin_asked:{update_key(update)}",
        payload={"local_date": today},
    )
    if row_id is not None:
        await dispatch_now(rt, row_id)


async def rating_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tap on 0-10 under a check-in question (data `c:<outbox id>:<n>`)."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    question, pain = _question_from(rt, tapped(update).data, patient)
    if patient is None or question is None:
        await reply_template(rt, update, "expired")
        return
    await clear_buttons(update)
    await save_rating(rt, update, patient, question, pain)


def _question_from(rt, data: str | None, patient: dict | None) -> tuple[dict | None, int]:
    """The check-in question a button refers to, only if it is this person's and still open."""
    cb = decode(data)
    if patient is None or cb is None or cb.head != "c":
        return None, 0
    pain = cb["pain"]
    question = outbox.get(rt.db, cb["row"])
    if (
        question is None
        or question["kind"] not in CHECKIN_KINDS
        or question["patient_id"] != patient["id"]
        or not 0 <= pain <= 10
    ):
        return None, 0
    return question, pain


async def typed_rating(rt, update: Update, patient: dict, waiting: dict) -> None:
    """A typed answer while a check-in is open: understood, clarified, or kindly asked again."""
    question = outbox.get(rt.db, int(waiting["ref"]))
    if question is None:
        checkins.clear_awaiting(rt.db, patient["id"])
        await reply_template(rt, update, "not_waiting", patient_id=patient["id"])
        return
    result = parse_rating(incoming(update).text)
    if isinstance(result, Ambiguous):
        out = Outgoing(
            render("rating_ambiguous", low=result.low, high=result.high),
            [
                [
                    (str(result.low), encode("c", question["id"], result.low)),
                    (str(result.high), encode("c", question["id"], result.high)),
                ]
            ],
        )
        await reply(rt, update, out, patient_id=patient["id"])
    elif isinstance(result, Invalid):
        await reply_template(
            rt, update, "rating_reask", reason=result.reason, patient_id=patient["id"]
        )
    else:
        await save_rating(rt, update, patient, question, result.value)
