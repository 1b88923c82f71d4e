"""Safety state kept between messages: what the bot waits for that only a clear answer settles,
the follow-up a day after an emergency sign, and "soon" signs told to the clinic once per episode.

Used by handlers.safety (the conversation) and jobs.compose (the follow-up row); no telegram.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from bot.clock import iso, parse_iso
from bot.rules.callbacks import encode
from bot.rules.kinds import questions as question_kinds
from jobs import clinic
from messages import Button, Outgoing, label, render
from storage import checkins, consents, events, outbox, questions

SAFETY_KINDS = question_kinds("safety")
FOLLOW_UP_AFTER = timedelta(hours=24)  # "Were you able to get checked?"
FULL_ADVICE_EVERY = timedelta(hours=1)  # on hold: the whole advice at most this often
SOON_EPISODE = clinic.SOON_EPISODE  # a "soon" sign repeated within this alerts no one again


def ask(db, patient_id: int, kind: str, now: datetime, **data: object) -> None:
    """Wait for a safety answer. It supersedes an open safety question; other open questions
    (a check-in, a session question) stay open beneath it and answer typed text again once this
    one is settled (storage.questions: several questions may be open, a safety one first)."""
    questions.open_question(db, patient_id, kind, json.dumps({**data, "prev": None}), now)


def displace(db, patient_id: int, kind: str, ref: str, now: datetime) -> None:
    """A question sent while a safety question is open: opened beneath it (kept for callers
    from before open questions were records; jobs.compose opens questions directly)."""
    checkins.set_awaiting(db, patient_id, kind, ref, now)


def ref_of(waiting: dict | None) -> dict:
    """What a safety question stored with itself (its `ref`, JSON)."""
    try:
        found = json.loads(waiting["ref"]) if waiting else {}
    except (TypeError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def settle(db, patient_id: int | None) -> None:
    """The safety question is answered: the questions beneath it take typed answers again."""
    if patient_id is None:
        return
    for kind in SAFETY_KINDS:
        questions.close(db, patient_id, kind)


def safety_waiting(db, patient: dict | None) -> dict | None:
    if patient is None:
        return None
    waiting = questions.current(db, patient["id"])
    return waiting if waiting is not None and waiting["kind"] in SAFETY_KINDS else None


def hold_buttons() -> list[list[Button]]:
    return [
        [(label("onboarding_seen"), encode("u:seen"))],
        [(label("safety_mistake"), encode("u:mistake"))],
    ]


def seen_question(problem: str | None = None) -> Outgoing:
    return Outgoing(
        render("safety_seen_question", problem=problem),
        [
            [(label("onboarding_seen"), encode("u:fu", "seen"))],
            [(label("safety_not_yet"), encode("u:fu", "notyet"))],
            [(label("safety_mistake"), encode("u:mistake"))],
        ],
    )


def record_soon(
    db, patient: dict, now: datetime, at: str, signs: tuple[str, ...] | list[str] = ()
) -> None:
    """A "see a doctor soon" sign: recorded, and the clinic told once per episode (14 days)."""
    pid = patient["id"]
    since = iso(now - SOON_EPISODE)
    earlier = events.soon_signs_since(db, pid, since)
    events.record(
        db, now, "red_flag", pid, level="soon", at=at, **({"signs": list(signs)} if signs else {})
    )
    if not earlier:
        clinic.alert(db, patient, "red_flag_soon", now)


def queue_follow_up(db, patient: dict, now: datetime, after: timedelta = FOLLOW_UP_AFTER) -> None:
    """Queue "Were you able to get checked?" about a day later (kind `safety_followup`)."""
    outbox.enqueue(
        db,
        chat_id=patient["chat_id"],
        patient_id=patient["id"],
        kind="safety_followup",
        due_at=now + after,
        now=now,
        dedupe_key=f"safety_followup:{patient['id']}:{iso(now)}",
        payload={"reported_at": iso(now)},
    )


def compose_follow_up(db, row: dict, patient: dict | None) -> Outgoing | None:
    """The follow-up, only while the hold lasts (lifted meanwhile: nothing to ask)."""
    if patient is None or patient["status"] != "hold":
        return None
    state = consents.onboarding(db, patient["user_id"])
    if state is not None:
        if state["step"] != "hold":
            return None
        # Still setting up: the same question, answered by the onboarding hold step's buttons.
        return Outgoing(
            render("safety_seen_question", problem=None),
            [
                [(label("onboarding_seen"), encode("o", "hold", "seen"))],
                [(label("safety_not_yet"), encode("o", "hold", "notyet"))],
                [(label("safety_mistake"), encode("o", "hold", "mistake"))],
            ],
        )
    return seen_question()


def seen_since_report(db, patient_id: int) -> bool:
    """Has the patient said they were seen since their latest emergency report?"""
    return events.seen_since_report(db, patient_id)


def _last_full_advice(db, patient_id: int) -> datetime | None:
    at = events.last_full_advice(db, patient_id)
    return parse_iso(at) if at else None


def full_advice_due(db, patient_id: int, now: datetime) -> bool:
    last = _last_full_advice(db, patient_id)
    return last is None or now - last >= FULL_ADVICE_EVERY
