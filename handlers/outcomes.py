"""Outcome answers (issue 17): the weekly change, PEG and personal goals, tapped (`oc:` buttons)
or typed. Thin: decode, check the set is this person's and open, write through jobs.outcomes in
one transaction with the reply.

Typed answers (`typed`, called by handlers.checkin.typed_text before the other open questions):
the newest open outcome question the text fits takes it, unless a question of the check-in or an
activity fits and is newer (or is the activity in progress). A number never answers the weekly
change question: with today's check-in open it is the check-in's; otherwise the person is asked
which words they mean. Out-of-scale answers are asked again kindly; "skip" is recorded as
skipped; nothing is inferred.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules import outcomes as rules
from bot.rules.callbacks import decode
from bot.rules.parsing import Ambiguous, Invalid, Rating, parse_yes_no
from handlers.common import (
    answer_callback,
    patient_of,
    reply,
    reply_template,
    respond,
    runtime,
    tapped,
)
from jobs import outcomes as flow
from jobs import questions as conversation
from messages import Outgoing, render
from storage import checkins, questions
from storage import outcomes as store


async def outcome_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`oc:<set>:<item>:<value|s>` an answer or a skip; `oc:n:<set>` no (more) goals;
    `oc:w:<summary row>:<value|s>` the weekly change under a summary."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    if patient is None or cb is None:
        await reply_template(rt, update, "expired", patient_id=patient["id"] if patient else None)
        return
    if patient["status"] == "hold":
        await reply_template(rt, update, "prompts_on_hold", patient_id=patient["id"])
        return
    now = rt.clock.now()
    if cb.head == "oc:n":

        def act():
            return flow.goals_done(rt.db, patient, cb["set"], now)

    elif cb.head == "oc:w":
        change = None if cb["value"] == "s" else int(cb["value"])

        def act():
            return flow.answer_from_summary(rt.db, patient, cb["row"], change, now)

    else:
        item = flow.item_of(cb["item"])
        value = None if cb["value"] == "s" else int(cb["value"])

        def act():
            if item is None:
                raise flow.NotOpen
            return flow.answer(rt.db, patient, cb["set"], item, value, now)

    await _run(rt, update, patient, act)


async def _run(rt, update: Update, patient: dict, act) -> None:
    try:
        await respond(rt, update, act, patient_id=patient["id"])
    except flow.NotOpen:
        await reply_template(rt, update, "outcome_closed", patient_id=patient["id"])


def _open_outcome_rows(rt, patient: dict) -> list[dict]:
    now = rt.clock.now()
    return [
        r
        for r in questions.open_rows(rt.db, patient["id"], now)
        if r["kind"] in flow.QUESTION_KINDS
    ]


def _fits(row: dict, text: str, scale, grc, others: bool) -> bool:
    if rules.is_skip(text):
        return True
    if row["kind"] == flow.Q_GRC:
        return isinstance(grc, rules.GrcAnswer) or (isinstance(grc, rules.GrcNumber) and not others)
    if row["kind"] == flow.Q_ITEM:
        return isinstance(scale, Rating | Ambiguous) or (
            isinstance(scale, Invalid) and scale.reason == "out_of_range"
        )
    if row["kind"] == flow.Q_NAME:
        numeric = not (isinstance(scale, Invalid) and scale.reason == "not_a_number")
        return rules.is_none(text) or (not numeric and rules.clean_goal(text) is not None)
    return False


def _checkin_to_come(rt, patient: dict) -> bool:
    """Today's check-in is planned and not answered yet: a number typed now is its rating."""
    day = conversation.today(patient, rt.clock.now())
    stored = checkins.for_date(rt.db, patient["id"], day)
    answered = stored is not None and stored["status"] == "answered"
    return not answered and questions.planned_checkin(rt.db, patient["id"], day)


async def typed(rt, update: Update, patient: dict, text: str) -> bool:
    """A typed text answering an open outcome question; False when it is not one (the caller
    then routes it as before)."""
    rows = _open_outcome_rows(rt, patient)
    if not rows:
        return False
    scale = rules.parse_scale(text)
    grc = rules.parse_grc(text)
    sort = "yes_no" if isinstance(scale, Invalid) and parse_yes_no(text) is not None else "rating"
    others = conversation.fitting(rt, patient, sort)  # type: ignore[arg-type]
    if not others and isinstance(scale, Rating) and _checkin_to_come(rt, patient):
        return False  # today's rating typed before its check-in went out (jobs.questions)
    numeric_item = any(_fits(r, text, scale, grc, True) for r in rows if r["kind"] == flow.Q_ITEM)
    fitting = [r for r in rows if _fits(r, text, scale, grc, bool(others) or numeric_item)]
    if others and (not fitting or others[0]["asked_at"] >= fitting[0]["asked_at"]):
        return False  # a check-in or activity question as new or newer takes it
    if not fitting:
        if others or isinstance(scale, Rating | Ambiguous):
            return False
        await _reask(rt, update, patient, rows[0], "words")
        return True
    row = fitting[0]
    s = store.get_set(rt.db, int(str(row["ref"]).split(":")[0]))
    if s is None:
        return False
    now = rt.clock.now()
    if rules.is_skip(text):
        if row["kind"] == flow.Q_NAME:
            await _run(rt, update, patient, lambda: flow.goals_done(rt.db, patient, s["id"], now))
        else:
            item = rules.GRC_ITEM if row["kind"] == flow.Q_GRC else str(row["ref"]).split(":", 1)[1]
            await _run(
                rt, update, patient, lambda: flow.answer(rt.db, patient, s["id"], item, None, now)
            )
        return True
    if row["kind"] == flow.Q_GRC:
        if isinstance(grc, rules.GrcNumber):
            await _reask(rt, update, patient, row, "grc_number")
            return True
        assert isinstance(grc, rules.GrcAnswer)
        value = grc.value
        await _run(
            rt,
            update,
            patient,
            lambda: flow.answer(rt.db, patient, s["id"], rules.GRC_ITEM, value, now),
        )
        return True
    if row["kind"] == flow.Q_ITEM:
        item = str(row["ref"]).split(":", 1)[1]
        if not isinstance(scale, Rating):
            await _reask(rt, update, patient, row, "scale")
            return True
        rating = scale.value
        await _run(
            rt, update, patient, lambda: flow.answer(rt.db, patient, s["id"], item, rating, now)
        )
        return True
    # a goal's name, or "none"
    if rules.is_none(text):
        await _run(rt, update, patient, lambda: flow.goals_done(rt.db, patient, s["id"], now))
        return True
    name = rules.clean_goal(text)
    assert name is not None
    await _run(rt, update, patient, lambda: flow.goal_named(rt.db, patient, s["id"], name, now))
    return True


async def _reask(rt, update: Update, patient: dict, row: dict, reason: str) -> None:
    """Asked again kindly, with the same buttons."""
    s = store.get_set(rt.db, int(str(row["ref"]).split(":")[0]))
    if s is None or s["status"] != "open":
        await reply_template(rt, update, "outcome_closed", patient_id=patient["id"])
        return
    if row["kind"] == flow.Q_GRC:
        out = flow.grc_message(s, again=True)
        reason = "grc_number" if reason == "grc_number" else "grc_words"
    elif row["kind"] == flow.Q_NAME:
        out = flow.question_message(rt.db, s, flow.GOAL_NAME)
        reason = "goal_name"
    else:
        out = flow.question_message(rt.db, s, str(row["ref"]).split(":", 1)[1])
        reason = "scale"
    note = render("outcome_reask", reason=reason)
    out = Outgoing(f"{note}\n\n{out.text}", out.buttons)
    await reply(rt, update, out, patient_id=patient["id"])
