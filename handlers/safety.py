"""Warning signs heard in any message, and the safety questions that take only a clear answer.

* `screen_message` runs before every other handler (group -3) for every private text, edited ones
  too, in every state. When `bot.rules.safety.screen` hears a warning sign it answers at once with
  that level's advice and its confirming question, and stops the message there (it is never also
  taken as a rating). The text itself is never stored or logged: events say the level and sign ids.
* Safety questions (/urgent's two, the confirming question, "Were you able to get checked?", "Did
  they say it's fine to carry on?") wait in the `awaiting` table (kinds in SAFETY_KINDS); a typed
  answer counts only through `bot.rules.safety.safety_answer`: anything unclear asks again, saying
  why.
* A hold has a way back ("I answered by mistake": the questions again, "None of these" lifts it), a
  short reminder for anything sent while on hold (the full advice at most once an hour), and a
  follow-up row about 24 hours after the report.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta
from functools import partial

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.clock import parse_iso
from bot.rules import safety
from bot.rules.callbacks import decode, encode
from bot.rules.onboarding_rules import is_mistake, is_not_yet, is_seen
from handlers.common import current_chat, incoming, patient_of, reply, respond, runtime, tapped
from jobs import clinic
from jobs.prompts import cancel_prompts, lift_hold
from jobs.safety import (
    ask,
    full_advice_due,
    hold_buttons,
    queue_follow_up,
    record_soon,
    ref_of,
    safety_waiting,
    seen_question,
    seen_since_report,
    settle,
)
from jobs.summary import alert_caregivers, alert_caregivers_seen
from messages import Outgoing, label, render
from storage import checkins, consents, events, outbox, patients

log = logging.getLogger(__name__)

WITHDRAWN = "withdrawn"
# Questions a typed number answers; a number beside a warning sign is asked for again.
RATING_KINDS = ("checkin", "session_before", "session_after", "next_day")
_RATING = re.compile(r"(?<![\w.])(?:10|[0-9])(?:\s*/\s*10)?(?![\w.])")
# An unanswered "Is this happening now?" stops taking typed answers after this long.
CONFIRM_LAPSES = timedelta(hours=12)

# --- what the bot waits for ------------------------------------------------------------------


def last_question(db, chat_id: int) -> tuple[str, dict] | None:
    """For someone with no patient row (nowhere to keep `awaiting`): the safety question the last
    message to their chat asked, read from its buttons."""
    payload = outbox.last_reply_payload(db, chat_id)
    if payload is None:
        return None
    try:
        buttons = json.loads(payload).get("buttons") or []
    except (TypeError, ValueError):
        return None
    for row in buttons:
        for _, data in row:
            cb = decode(str(data))
            head = cb.head if cb is not None else ""
            if head == "u:emergency":
                return "urgent_emergency", {}
            if head == "u:soon":
                return "urgent_soon", {}
            if head == "sf" and cb is not None:
                return "safety_confirm", {"level": cb["level"], "signs": [], "doubtful": False}
    return None


# --- the number and the messages -------------------------------------------------------------


def number(rt, patient: dict | None, update: Update):
    user = update.effective_user
    return clinic.emergency_number(
        rt.db, patient["id"] if patient else None, user.id if user else None
    )


def urgent_question(step: str, *, recheck: bool = False, problem: str | None = None) -> Outgoing:
    again = ("m",) if recheck else ()
    return Outgoing(
        render(f"urgent_q_{step}", problem=problem, recheck=recheck),
        [
            [(label("onboarding_no_signs"), encode(f"u:{step}", "no", *again))],
            [(label("onboarding_has_sign"), encode(f"u:{step}", "yes", *again))],
        ],
    )


def confirm_question(
    level: str, doubtful: bool, emergency_number, *, problem: str | None = None
) -> Outgoing:
    return Outgoing(
        render(
            "safety_heard",
            level=level,
            doubtful=doubtful,
            problem=problem,
            emergency_number=emergency_number,
        ),
        [
            [(label("safety_yes_now"), encode("sf", level, "yes"))],
            [(label("safety_no_not_now"), encode("sf", level, "no"))],
        ],
    )


def carry_on_question(problem: str | None = None) -> Outgoing:
    return Outgoing(
        render("safety_carry_on", problem=problem),
        [
            [(label("safety_carry_on_yes"), encode("u:ok", "yes"))],
            [(label("safety_carry_on_no"), encode("u:ok", "no"))],
        ],
    )


def emergency_advice(rt, patient: dict | None, update: Update, held: bool) -> Outgoing:
    return Outgoing(
        render("urgent_emergency", emergency_number=number(rt, patient, update), held=held),
        hold_buttons() if held else [],
    )


# --- what a confirmed sign does --------------------------------------------------------------


def record_emergency(
    rt, patient: dict, now: datetime, at: str, signs: tuple[str, ...] | list[str] = ()
) -> bool:
    """An emergency sign confirmed by a set-up patient: prompts on hold (from active or paused),
    the follow-up queued, the caregivers who chose alerts and the clinic told. True if on hold."""
    db, pid = rt.db, patient["id"]
    state = consents.onboarding(db, patient["user_id"])
    if state is not None and state["data"].get("edit"):
        consents.finish(db, patient["user_id"])  # a half-done /settings change is dropped
    held = patient["status"] in ("active", "paused", "hold")
    if patient["status"] in ("active", "paused"):
        patients.update(db, pid, now, status="hold")
        cancel_prompts(db, pid, "red_flag")
        queue_follow_up(db, patient, now)
    events.record(
        db,
        now,
        "red_flag",
        pid,
        level="emergency",
        at=at,
        **({"signs": list(signs)} if signs else {}),
    )
    alert_caregivers(db, patient, now)  # those who chose it; no words of theirs
    clinic.alert(db, patient, "red_flag", now)  # the clinic, if they are in a cohort
    return held


# --- the screen ------------------------------------------------------------------------------


async def screen_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every private text (edited too), before anything else: a warning sign is answered now."""
    message = update.message or update.edited_message
    chat, user = update.effective_chat, update.effective_user
    if message is None or chat is None or chat.type != "private" or user is None:
        return
    text = _typed_words(message)
    if not text:
        return
    found = safety.screen(text)
    level = found.level
    if level is None:
        return
    rt = runtime(context)
    patient = patient_of(rt, update)
    pid = patient["id"] if patient else None
    log.info(
        "warning sign heard",
        extra={
            "patient_id": pid,
            "level": found.level,
            "signs": ",".join(found.signs),
            "doubtful": found.doubtful,
        },
    )
    emergency_number = number(rt, patient, update)
    if patient is not None and patient["status"] == WITHDRAWN:
        # Consent withdrawn: nothing is stored, but the advice is never held back.
        await reply(
            rt,
            update,
            Outgoing(
                render("safety_withdrawn", level=found.level, emergency_number=emergency_number)
            ),
            patient_id=pid,
        )
        raise ApplicationHandlerStop

    open_question = safety_waiting(rt.db, patient)
    if open_question is not None and open_question["kind"] == "safety_confirm":
        info = ref_of(open_question)
        open_level = str(info.get("level", "emergency"))
        if _rank(open_level, bool(info.get("doubtful"))) >= _rank(level, found.doubtful):
            # A question as serious or more is already open: it is never swapped for a lesser
            # one, and "yes, and my legs are weak" answers it with its first word.
            answer = safety.safety_answer(_first_word(text))
            await respond(
                rt,
                update,
                partial(
                    confirm_answer,
                    rt,
                    update,
                    patient,
                    open_level,
                    answer if answer in ("yes", "no") else None,
                    info,
                ),
                patient_id=pid,
            )
            replan_if_lifted(rt, patient)
            raise ApplicationHandlerStop

    def act() -> list[Outgoing]:
        if patient is not None:
            now, pid = rt.clock.now(), patient["id"]
            before = checkins.awaiting(rt.db, pid)
            # "7, and I wet myself": the 7 is not guessed at while safety comes first; once the
            # safety question is settled the person is asked to send it again.
            rating_held = (
                before is not None
                and before["kind"] in RATING_KINDS
                and _RATING.search(text) is not None
            )
            ask(
                rt.db,
                pid,
                "safety_confirm",
                now,
                level=found.level,
                signs=list(found.signs),
                doubtful=found.doubtful,
                **({"rating_held": True} if rating_held else {}),
            )
            events.record(
                rt.db,
                now,
                "warning_sign_heard",
                pid,
                level=found.level,
                signs=list(found.signs),
                doubtful=found.doubtful,
            )
        return [confirm_question(level, found.doubtful, emergency_number)]

    await respond(rt, update, act, patient_id=pid)
    raise ApplicationHandlerStop


def _typed_words(message) -> str:
    """What the person typed: the text or a photo's caption; after a /command, its arguments
    ("/checkin 7 and I wet myself"); a slash that starts no command is just text."""
    text = message.text or message.caption or ""
    entities = message.entities or message.caption_entities or ()
    if any(e.type == "bot_command" and e.offset == 0 for e in entities):
        return text.partition(" ")[2]
    return text


def _rank(level: str, doubtful: bool) -> int:
    """How serious an open question is: an emergency over a soon sign, a clear one over doubt."""
    return {"soon": 0, "emergency": 2}.get(level, 2) + (0 if doubtful else 1)


def _first_word(text: str) -> str:
    words = safety.normalise(text).split()
    return words[0] if words else ""


# --- answers: buttons and typed --------------------------------------------------------------


def confirm_answer(
    rt, update: Update, patient: dict | None, level: str, answer: str | None, info: dict
) -> list[Outgoing]:
    """The answer to "Is this happening now?" (inside respond's transaction)."""
    now, pid = rt.clock.now(), patient["id"] if patient else None
    emergency_number = number(rt, patient, update)
    if answer is None or answer == "unsure":
        return [
            confirm_question(
                level,
                bool(info.get("doubtful")),
                emergency_number,
                problem="unsure" if answer == "unsure" else "unclear",
            )
        ]
    settle(rt.db, pid)
    signs = info.get("signs") or []
    again = [Outgoing(render("safety_rating_again"))] if info.get("rating_held") else []
    if answer == "no":
        return [
            Outgoing(render("safety_not_now", level=level, emergency_number=emergency_number)),
            *again,
            *_setup_question_again(rt, update),
        ]
    if level == "soon":
        if patient is not None and patient["status"] != WITHDRAWN:
            record_soon(rt.db, patient, now, "message", signs)
        return [Outgoing(render("urgent_soon_doctor")), *again, *_setup_question_again(rt, update)]
    return emergency_confirmed(rt, update, patient, "message", signs)


def _setup_question_again(rt, update: Update) -> list[Outgoing]:
    """Mid-set-up, the step the person was on, asked again below the safety answer (its
    keyboard is far above by now)."""
    from handlers.onboarding_questions import question

    user = update.effective_user
    state = consents.onboarding(rt.db, user.id) if user else None
    if state is None or state["step"] == "hold" or state["data"].get("edit"):
        return []
    return [question(rt.db, state)]


def emergency_confirmed(
    rt, update: Update, patient: dict | None, at: str, signs: list[str] | tuple[str, ...] = ()
) -> list[Outgoing]:
    """An emergency sign confirmed (/urgent's "yes", or "yes" to "Is this happening now?")."""
    if patient is None or patient["status"] == WITHDRAWN:
        return [emergency_advice(rt, None, update, held=False)]  # nothing stored
    now, pid = rt.clock.now(), patient["id"]
    state = consents.onboarding(rt.db, patient["user_id"])
    if patient["status"] == "onboarding" and state is not None:
        # Still setting up: the same hold as the set-up question's "yes".
        from handlers.onboarding_questions import question

        patients.update(rt.db, pid, now, status="hold")
        events.record(
            rt.db,
            now,
            "red_flag",
            pid,
            level="emergency",
            at=at,
            **({"signs": list(signs)} if signs else {}),
        )
        consents.set_step(rt.db, state["user_id"], state["chat_id"], "hold", now)
        queue_follow_up(rt.db, patient, now)
        return [question(rt.db, consents.existing_onboarding(rt.db, state["user_id"]))]
    held = record_emergency(rt, patient, now, at, signs)
    return [emergency_advice(rt, patient, update, held)]


def urgent_answer(
    rt, update: Update, patient: dict | None, step: str, answer: str | None, recheck: bool
) -> list[Outgoing]:
    """An answer to one of /urgent's questions (inside respond's transaction)."""
    now, pid = rt.clock.now(), patient["id"] if patient else None
    if answer is None or answer == "unsure":
        return [
            urgent_question(
                step, recheck=recheck, problem="unsure" if answer == "unsure" else "unclear"
            )
        ]
    on_hold = patient is not None and patient["status"] == "hold"
    recheck = recheck and on_hold
    if step == "emergency" and answer == "no":
        if pid is not None:
            ask(rt.db, pid, "urgent_soon", now, recheck=recheck)
        return [urgent_question("soon", recheck=recheck)]
    settle(rt.db, pid)
    emergency_number = number(rt, patient, update)
    if step == "soon":
        out = []
        if answer == "yes":
            if patient is not None and patient["status"] != WITHDRAWN:
                record_soon(rt.db, patient, now, "urgent")
            out.append(Outgoing(render("urgent_soon_doctor")))
        else:
            out.append(
                Outgoing(
                    render(
                        "urgent_none",
                        emergency_number=emergency_number,
                        on_hold=on_hold and not recheck,
                    ),
                    [[(label("safety_mistake"), encode("u:mistake"))]]
                    if on_hold and not recheck
                    else [],
                )
            )
        if recheck and patient is not None:
            # "I answered by mistake", and no emergency sign now: the hold is lifted
            out.append(lift_hold(rt, patient, "red_flag_mistake"))
        return out
    return emergency_confirmed(rt, update, patient, "urgent")


def seen(rt, update: Update, patient: dict, at: str) -> list[Outgoing]:
    """ "I have been seen": the clinic and caregivers who chose alerts are told (once per report),
    then one question: may they carry on with their activities?"""
    now = rt.clock.now()
    if not seen_since_report(rt.db, patient["id"]):
        events.record(rt.db, now, "red_flag_seen", patient["id"], at=at)
        clinic.alert(rt.db, patient, "red_flag_seen", now)
        alert_caregivers_seen(rt.db, patient, now)
    ask(rt.db, patient["id"], "hold_carry_on", now)
    return [carry_on_question()]


def carry_on_answer(rt, update: Update, patient: dict, answer: str | None) -> list[Outgoing]:
    if answer is None or answer == "unsure":
        return [carry_on_question("unsure" if answer == "unsure" else "unclear")]
    settle(rt.db, patient["id"])
    if answer == "yes":
        return [lift_hold(rt, patient, "hold_lifted")]
    events.record(rt.db, rt.clock.now(), "hold_kept", patient["id"])
    return [Outgoing(render("safety_stay_on_hold"))]


def seen_answer(rt, update: Update, patient: dict, answer: str | None) -> list[Outgoing]:
    """ "Were you able to get checked?" / "Have you been seen by a doctor?" """
    now = rt.clock.now()
    if answer == "yes":
        return seen(rt, update, patient, "follow_up")
    if answer == "no":
        settle(rt.db, patient["id"])
        queue_follow_up(rt.db, patient, now)
        return [
            Outgoing(
                render("safety_not_yet", emergency_number=number(rt, patient, update)),
                hold_buttons(),
            )
        ]
    return [seen_question("unsure" if answer == "unsure" else "unclear")]


def mistake(rt, update: Update, patient: dict) -> list[Outgoing]:
    """ "I answered by mistake": the warning-sign questions again; no declaration needed."""
    ask(rt.db, patient["id"], "urgent_emergency", rt.clock.now(), recheck=True)
    return [urgent_question("emergency", recheck=True)]


def hold_reminder(rt, update: Update, patient: dict) -> list[Outgoing]:
    """Anything sent while on hold: a short reminder; the whole advice at most once an hour."""
    now = rt.clock.now()
    if full_advice_due(rt.db, patient["id"], now):
        events.record(rt.db, now, "hold_advice", patient["id"])
        return [emergency_advice(rt, patient, update, held=True)]
    return [
        Outgoing(
            render("hold_reminder", emergency_number=number(rt, patient, update)), hold_buttons()
        )
    ]


async def typed(rt, update: Update, patient: dict | None) -> bool:
    """Typed text that answers a safety question, or comes while on hold. False: not ours."""
    text = incoming(update).text or ""
    waiting = safety_waiting(rt.db, patient)
    if (
        patient is not None
        and waiting is not None
        and waiting["kind"] == "safety_confirm"
        and rt.clock.now() - parse_iso(waiting["asked_at"]) > CONFIRM_LAPSES
    ):
        # Its advice was given at the time; days later a typed "4" is today's rating, not an
        # unclear answer to a question the person no longer sees.
        settle(rt.db, patient["id"])
        waiting = None
    kind, info = (waiting["kind"], ref_of(waiting)) if waiting else (None, {})
    if patient is None and update.effective_chat is not None:
        found = last_question(rt.db, current_chat(update).id)
        if found is not None:
            kind, info = found
    on_hold = (
        patient is not None
        and patient["status"] == "hold"
        and consents.onboarding(rt.db, patient["user_id"]) is None
    )
    if kind is None and not on_hold:
        return False
    answer = safety.safety_answer(text)
    if kind == "hold_seen" and is_not_yet(text):
        answer = "no"  # "not yet" to "Were you able to get checked?", as its button says
    pid = patient["id"] if patient else None
    held = patient if on_hold else None  # the same test, in a form the type checker follows
    if held is not None and is_mistake(text):
        act = partial(mistake, rt, update, held)
    elif held is not None and is_seen(text) and kind != "hold_carry_on":
        act = partial(seen, rt, update, held, "typed")
    elif kind == "safety_confirm":
        act = partial(
            confirm_answer, rt, update, patient, info.get("level", "emergency"), answer, info
        )
    elif kind in ("urgent_emergency", "urgent_soon"):
        act = partial(
            urgent_answer,
            rt,
            update,
            patient,
            kind.split("_")[1],
            answer,
            bool(info.get("recheck")),
        )
    elif kind == "hold_seen" and held is not None:
        act = partial(seen_answer, rt, update, held, answer)
    elif kind == "hold_carry_on" and held is not None:
        act = partial(carry_on_answer, rt, update, held, answer)
    elif held is not None:
        act = partial(hold_reminder, rt, update, held)
    else:
        settle(rt.db, pid)  # a question about a hold that has been lifted meanwhile
        return False
    await respond(rt, update, act, patient_id=pid)
    replan_if_lifted(rt, patient)
    return True


def replan_if_lifted(rt, before: dict | None) -> None:
    """A hold lifted inside a handler's transaction: plan the prompts now, not at the next tick."""
    if before is None or before["status"] != "hold":
        return
    from jobs.plan import replan_patient

    fresh = patients.get(rt.db, before["id"])
    if fresh is not None and fresh["status"] == patients.PLANNABLE:
        replan_patient(rt, fresh)


async def confirm_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`sf:<level>:yes|no`: the confirming question's buttons."""
    from handlers.common import answer_callback, clear_buttons

    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    if cb is None or cb.head != "sf":
        await reply(
            rt, update, Outgoing(render("expired")), patient_id=patient["id"] if patient else None
        )
        return
    await clear_buttons(update)
    waiting = safety_waiting(rt.db, patient)
    info = ref_of(waiting) if waiting is not None and waiting["kind"] == "safety_confirm" else {}
    await respond(
        rt,
        update,
        lambda: confirm_answer(rt, update, patient, cb["level"], cb["answer"], info),
        patient_id=patient["id"] if patient else None,
    )
