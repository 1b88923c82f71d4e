"""Daily check-in: the 0-10 rating, by button or typed, /checkin on demand, late answers for an
earlier day, and changing a rating (issue 15). `typed_text` routes a typed message to the open
question it answers (jobs.questions)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules import questions as rules
from bot.rules.callbacks import decode, encode
from bot.rules.localtime import local_date, zone
from bot.rules.parsing import (
    Ambiguous,
    Invalid,
    Rating,
    parse_correction,
    parse_flare_choice,
    parse_pause_length,
    parse_rating,
    parse_session_end,
    parse_yes_no,
    parse_yesterday,
)
from handlers import activity, outcomes
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
from handlers.onboarding import not_set_up
from jobs import clinic, corrections, flare, prompts
from jobs import questions as conversation
from jobs import sessions as flow
from jobs.compose import CHECKIN_KINDS
from jobs.dispatch import dispatch_now
from messages import Outgoing, label, render
from storage import checkins, events, outbox, patients, questions


def _today(rt, patient: dict) -> str:
    return local_date(rt.clock.now(), zone(patient["timezone"])).isoformat()


def _typed_message_id(update: Update) -> int | None:
    """The id of a typed answer's message (an edit of it within 10 minutes changes the answer)."""
    return update.message.message_id if update.message is not None else None


def checkin_reply(rt, patient: dict, day: str, pain: int, *, note: str = "") -> list[Outgoing]:
    """The reply to today's stored check-in (inside the transaction that stored it): thanks and
    today's plan, an "Undo / change" button, the next-day advice it decided, the rise offer.
    A flare day's offer of about half of each activity (`jobs.flare.flare_reply`) follows the
    plan."""
    now = rt.clock.now()
    # The same number is the next-day rating of yesterday's sessions (and decides them).
    _, advice = flow.record_pain_now(rt, patient, pain)
    thanks = render("checkin_thanks", pain=pain)
    plan = flow.plan_message(rt, patient, intro=(note + "\n\n" + thanks) if note else thanks)
    stored = checkins.for_date(rt.db, patient["id"], day)
    buttons = list(plan.buttons)
    if stored is not None:
        buttons.append(conversation.undo_row("c", stored["id"]))
    outs = [Outgoing(plan.text, buttons, meta=plan.meta)] + advice
    outs += flare.flare_reply(rt, patient, pain, day)  # a flare day: about half of each activity
    rise = clinic.check_rise(rt.db, patient, now)  # told once a week; their clinic flagged
    if rise is not None:
        outs.append(Outgoing(render("rise_suggestion", clinic=rise.get("clinic_name"))))
    return outs


async def save_rating(
    rt,
    update: Update,
    patient: dict,
    question: dict | None,
    pain: int,
    *,
    day: str | None = None,
    note: str = "",
) -> None:
    """Store a check-in rating and its acknowledgement together, then send it. `question` is the
    outbox row that asked (None: typed before today's check-in went out, `day` given). A tap on
    an earlier day's button is stored for that day (up to LATE_DAYS) and closes nothing else."""
    if question is not None:
        day = json.loads(question["payload"])["local_date"]
    assert day is not None
    now = rt.clock.now()
    today = _today(rt, patient)
    when = rules.late_day_status(day, today)
    if when == "too_late":
        await reply_template(
            rt,
            update,
            "checkin_too_late",
            day=conversation.nice_day(day),
            days=rules.LATE_DAYS,
            patient_id=patient["id"],
        )
        return
    existing = checkins.for_date(rt.db, patient["id"], day)
    if existing is not None and existing["status"] == "answered":
        if when == "today":
            # A second tap on an answered question: it has expired (the first answer stands
            # unless changed on purpose, with the button under this reply or /checkin).
            await _already_today(rt, update, patient, existing, template="expired")
        else:
            await reply_template(
                rt,
                update,
                "checkin_day_already",
                day=conversation.weekday(day),
                pain=existing["pain"],
                patient_id=patient["id"],
            )
        return

    def act() -> list[Outgoing]:
        checkins.record_answer(
            rt.db, patient["id"], day, pain, now, question["id"] if question else None
        )
        ref = str(question["id"]) if question else f"day:{day}"
        questions.record_answered(
            rt.db,
            patient["id"],
            "checkin",
            ref,
            now,
            subject=day,
            message_id=_typed_message_id(update),
        )
        events.record(
            rt.db,
            now,
            "checkin_answered",
            patient["id"],
            local_date=day,
            **({"late": True} if when == "late" else {}),
        )
        if when == "late":
            # Stored for its own day ("noted 4/10 for Friday"): not today's "pain now", so it
            # answers no session question and closes nothing else.
            stored = checkins.for_date(rt.db, patient["id"], day)
            return [
                Outgoing(
                    render("checkin_late", pain=pain, day=conversation.weekday(day)),
                    [conversation.undo_row("c", stored["id"])] if stored else [],
                )
            ]
        return checkin_reply(rt, patient, day, pain, note=note)

    await respond(rt, update, act, patient_id=patient["id"])


async def _already_today(
    rt, update: Update, patient: dict, existing: dict, *, template: str = "checkin_already"
) -> None:
    """Today is rated: say so, with a button to change it."""
    await reply(
        rt,
        update,
        Outgoing(
            render(template, pain=existing["pain"]),
            [[(label("checkin_change"), encode("c:fix", "c", existing["id"], "k"))]],
        ),
        patient_id=patient["id"],
    )


async def checkin_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/checkin: ask for today's rating now, or offer to change today's."""
    rt = runtime(context)
    patient = patient_of(rt, update)
    if patient is None or patient["status"] == "onboarding":
        await not_set_up(rt, update)  # mid-setup: what is left (handlers.onboarding)
        return
    if patient["status"] == "hold":
        await reply_template(rt, update, "prompts_on_hold", patient_id=patient["id"])
        return
    today = _today(rt, patient)
    done = checkins.for_date(rt.db, patient["id"], today)
    if done is not None and done["status"] == "answered":
        await _already_today(rt, update, patient, done)
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
    """A tap on 0-10 under a check-in question (`c:<outbox id>:<n>`), on "Undo / change"
    (`c:fix:<what>:<id>`) or on a new value (`c:set:<what>:<id>:<n>`)."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    if patient is not None and cb is not None and cb.head in ("c:fix", "c:set"):
        await _change_button(rt, update, patient, cb)
        return
    question, pain = _question_from(rt, tapped(update).data, patient)
    if patient is None or question is None:
        await reply_template(rt, update, "expired")
        return
    await clear_buttons(update)
    await save_rating(rt, update, patient, question, pain)


async def _change_button(rt, update: Update, patient: dict, cb) -> None:
    what, target = cb["what"], cb["target"]
    now = rt.clock.now()
    if patient["status"] == "hold":
        await reply_template(rt, update, "prompts_on_hold", patient_id=patient["id"])
        return
    if cb.head == "c:fix":
        why = conversation.may_change(rt.db, patient, what, target, now)
        if why is None and not _button_fresh(rt, cb, now):
            why = "timeout"
        if why is not None:
            await reply_template(
                rt, update, "rating_change_refused", why=why, what=what, patient_id=patient["id"]
            )
            return
        out = conversation.change_keyboard(rt.db, patient, what, target)
        if out is None:
            await reply_template(rt, update, "expired", patient_id=patient["id"])
            return
        await reply(rt, update, out, patient_id=patient["id"])
        return
    await clear_buttons(update)
    await respond(
        rt,
        update,
        lambda: corrections.change(rt, patient, what, target, cb["value"], "button"),
        patient_id=patient["id"],
    )


def _button_fresh(rt, cb, now) -> bool:
    """A check-in's "Undo / change" button works for 10 minutes after the rating (later the
    same day, /checkin offers the change); a session's until its decision (may_change)."""
    if cb["via"] != "u" or cb["what"] != "c":
        return True
    row = checkins.get(rt.db, cb["target"])
    return row is not None and rules.within_change_window(row["answered_at"], now)


def _question_from(rt, data: str | None, patient: dict | None) -> tuple[dict | None, int]:
    """The check-in question a button refers to, only if it is this person's."""
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


# -- typed text -------------------------------------------------------------------------------
async def typed_text(rt, update: Update, patient: dict) -> None:
    """Plain text from a set-up patient, after the safety screen and any safety question: a
    correction, an activity ended in words, or the answer to the newest open question it fits.
    A number with nothing open is today's check-in when one is planned for today."""
    text = incoming(update).text or ""
    correction = parse_correction(text)
    if correction is not None and conversation.correction_target(rt, patient) is None:
        text, correction = str(correction), None  # nothing to change: "no, 3" answers with 3
    if correction is not None:
        await respond(
            rt,
            update,
            lambda: corrections.typed_correction(rt, patient, correction),
            patient_id=patient["id"],
        )
        return
    ending = parse_session_end(text)
    if ending is not None and await activity.typed_end(rt, update, patient, ending):
        return
    if await outcomes.typed(rt, update, patient, text):  # issue 17: an outcome question
        return
    late = parse_yesterday(text)  # "yesterday was a 5": yesterday's check-in, as its late button
    if late is not None:
        yesterday = date.fromisoformat(_today(rt, patient)) - timedelta(days=1)
        start = patient.get("start_date")
        if start and yesterday.isoformat() < start:  # before the course: nothing to add
            await reply_template(
                rt,
                update,
                "checkin_before_start",
                start=conversation.weekday(start),
                day=conversation.weekday(yesterday.isoformat()),
                patient_id=patient["id"],
            )
            return
        await save_rating(rt, update, patient, None, late, day=yesterday.isoformat())
        return
    rating = parse_rating(text)
    yes_no = parse_yes_no(text) if isinstance(rating, Invalid) else None
    sort: rules.Answer = "yes_no" if yes_no is not None else "rating"
    fitting = conversation.fitting(rt, patient, sort)
    if not fitting and sort == "yes_no":  # "no", 👍 with only a rating question open: ask again
        fitting = conversation.fitting(rt, patient, "rating")
    if fitting:
        target, others = fitting[0], fitting[1:]
        if target["kind"] == "checkin":
            await typed_rating(rt, update, patient, target, others, text=text)
        else:
            await activity.typed_answer(rt, update, patient, target, others, text=text)
        return
    today = _today(rt, patient)
    done = checkins.for_date(rt.db, patient["id"], today)
    if isinstance(rating, Rating | Ambiguous) and done is not None and done["status"] == "answered":
        await reply_template(
            rt, update, "checkin_rated_today", pain=done["pain"], patient_id=patient["id"]
        )
        return
    if (
        not isinstance(rating, Invalid)
        and patient["status"] == "active"
        and questions.planned_checkin(rt.db, patient["id"], today)
    ):
        # Typed before today's check-in went out (07:30 for 08:00): it is today's rating, and
        # the check-in then has nothing to ask (compose_checkin skips a rated day).
        early = {"kind": "checkin", "subject": today, "ref": f"day:{today}", "id": 0}
        await typed_rating(rt, update, patient, early, [], text=text)
        return
    if isinstance(rating, Invalid) and await activity.typed_start(rt, update, patient, text):
        return
    choice = parse_flare_choice(text)
    if choice is not None and patient["status"] == "active" and flare.is_open(rt, patient, today):

        def flare_answer() -> list[Outgoing]:  # as the offer's buttons
            lower = flare.choose(rt, patient, today, choice == "use")
            return [lower if lower is not None else Outgoing(render("flare_kept"))]

        await respond(rt, update, flare_answer, patient_id=patient["id"])
        return
    if patient["status"] == "paused":
        length = parse_pause_length(text)
        if length is not None:  # "a day", "1 week", "until I resume" under /pause's question
            await respond(
                rt,
                update,
                lambda: [
                    o
                    for o in [
                        prompts.set_pause_length(
                            rt.db, patients.existing(rt.db, patient["id"]), length, rt.clock.now()
                        )
                    ]
                    if o is not None
                ],
                patient_id=patient["id"],
            )
            return
    await reply_template(
        rt, update, "not_waiting", paused=patient["status"] == "paused", patient_id=patient["id"]
    )


async def typed_rating(
    rt,
    update: Update,
    patient: dict,
    waiting: dict,
    others: list[dict] | None = None,
    *,
    text: str | None = None,
) -> None:
    """A typed answer to a check-in: understood, clarified, or kindly asked again. With other
    questions open, the reply says this one was today's check-in and what is still open."""
    ref = str(waiting["ref"])
    question = outbox.get(rt.db, int(ref)) if ref.isdigit() else None
    if ref.isdigit() and question is None:
        questions.close(rt.db, patient["id"], "checkin", ref=ref, status="expired")
        await reply_template(rt, update, "not_waiting", patient_id=patient["id"])
        return
    result = parse_rating(incoming(update).text if text is None else text)
    if isinstance(result, Ambiguous):
        buttons = (
            [
                [
                    (str(result.low), encode("c", question["id"], result.low)),
                    (str(result.high), encode("c", question["id"], result.high)),
                ]
            ]
            if question is not None
            else []
        )
        text = render("rating_ambiguous", low=result.low, high=result.high)
        await reply(rt, update, Outgoing(text, buttons), patient_id=patient["id"])
    elif isinstance(result, Invalid):
        await reply_template(
            rt, update, "rating_reask", reason=result.reason, patient_id=patient["id"]
        )
    else:
        note = conversation.which_note(rt.db, waiting, others) if others else ""
        await save_rating(
            rt, update, patient, question, result.value, day=waiting["subject"], note=note
        )
