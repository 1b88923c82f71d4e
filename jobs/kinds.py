"""What each outbox kind looks like and what sending it means: a composer for every kind declared
in `bot.rules.kinds` (tests/test_kinds.py checks both ways), and hooks before and after sending
where it changes the conversation. `compose`, `before_send` and `after_sent` are what the sender
calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from bot.rules.kinds import kind
from jobs import clinic, outcome_results, outcomes, prompts, research, safety, summary
from jobs import compose as c
from jobs import sessions as session_flow
from messages import Outgoing
from storage import withdrawal


@dataclass(frozen=True)
class Composer:
    compose: Callable[..., Outgoing | None]  # (db, row, payload, patient, now)
    needs_patient: bool = True  # rows of a person gone have no composer (a bug: ValueError)
    # Rows written with their text (replies) go out as written; these kinds always compose.
    ignores_written_text: bool = False


def _follow_up(db, row, payload, patient, now):
    return safety.compose_follow_up(db, row, patient)


def _alert(db, row, payload, patient, now):
    return clinic.compose_alert(db, row, patient)


def _alert_batch(db, row, payload, patient, now):
    return clinic.compose_alert_batch(db, row, now)


def _clinic_update(db, row, payload, patient, now):
    return clinic.compose_update(db, row)


def _clinic_message(db, row, payload, patient, now):
    return clinic.compose_clinic_message(db, row, patient)


def _digest(db, row, payload, patient, now):
    return clinic.compose_digest(db, row, now)


def _cohort_export(db, row, payload, patient, now):
    if payload.get("part") in research.PARTS:  # issue 17: the research files, FHIR
        return research.compose_export(db, row, now)
    return clinic.compose_export(db, row, now)


def _cohort_qr(db, row, payload, patient, now):
    return clinic.compose_qr(row)


def _patient_chart(db, row, payload, patient, now):
    return clinic.compose_patient_chart(db, row, now)


def _summary(db, row, payload, patient, now):
    return summary.compose_summary(db, row, patient)


def _chart(db, row, payload, patient, now):
    return summary.compose_chart(db, row, patient)


def _pause_over(db, row, payload, patient, now):
    return session_flow.pause_offer(db, patient, payload["activity_id"], now)


def _course_end(db, row, payload, patient, now):
    return c.compose_course_end(db, patient)


def _finish_check(db, row, payload, patient, now):
    return session_flow.finish_question(db, patient, payload["session_id"])


def _pause_end(db, row, payload, patient, now):
    return prompts.compose_pause_end(db, row, payload, patient, now)


def _pause_reminder(db, row, payload, patient, now):
    return prompts.compose_pause_reminder(db, row, payload, patient, now)


def _outcomes(db, row, payload, patient, now):
    return outcomes.compose_outcomes(db, row, patient)


def _outcome_results(db, row, payload, patient, now):
    return outcome_results.compose_results(db, row, patient)


def _outcome_chart(db, row, payload, patient, now):
    return outcome_results.compose_chart(db, row, patient)


def _summary_with_change(db, row, payload, patient, now):
    """The patient's summary ends with the weekly change question (issue 17)."""
    return outcomes.with_weekly_change(db, row, patient, summary.compose_summary(db, row, patient))


def _after_summary(db, row, payload, now):
    c.after_summary(db, row, payload, now)  # the chart
    outcomes.after_summary(db, row, now)  # the baseline of someone set up before issue 17


_ALWAYS = {"needs_patient": False, "ignores_written_text": True}
_WRITTEN = Composer(c.compose_written, needs_patient=False)

COMPOSERS: dict[str, Composer] = {
    "export": Composer(c.compose_export, **_ALWAYS),
    "safety_followup": Composer(_follow_up, **_ALWAYS),
    "alert_clinician": Composer(_alert, **_ALWAYS),
    "alert_batch": Composer(_alert_batch, **_ALWAYS),
    "alert_update": Composer(_clinic_update, **_ALWAYS),
    "clinic_relay": Composer(_clinic_update, **_ALWAYS),
    "clinic_message": Composer(_clinic_message, **_ALWAYS),
    "digest": Composer(_digest, **_ALWAYS),
    "cohort_export": Composer(_cohort_export, **_ALWAYS),
    "cohort_qr": Composer(_cohort_qr, **_ALWAYS),
    "patient_chart": Composer(_patient_chart, **_ALWAYS),
    "reply": _WRITTEN,
    "advice": _WRITTEN,
    "alert_caregiver": _WRITTEN,
    "caregiver_notice": _WRITTEN,
    "checkin": Composer(c.compose_checkin),
    "checkin_asked": Composer(c.compose_checkin),
    "checkin_reminder": Composer(c.compose_checkin),
    "settle": Composer(c.compose_settle),
    "next_day": Composer(c.compose_next_day),
    "summary": Composer(_summary_with_change),
    "summary_caregiver": Composer(_summary),
    "chart": Composer(_chart),
    "pause_over": Composer(_pause_over),
    "sitting": Composer(c.compose_sitting, needs_patient=False),
    "lesson": Composer(c.compose_lesson_row),
    "lesson_reread": Composer(c.compose_lesson_row),
    "course_end": Composer(_course_end),
    "finish_check": Composer(_finish_check),
    "pause_end": Composer(_pause_end),
    "pause_reminder": Composer(_pause_reminder),
    "outcomes": Composer(_outcomes),
    "outcome_reminder": Composer(_outcomes),
    "outcome_results": Composer(_outcome_results),
    "outcome_chart": Composer(_outcome_chart),
}

# (db, row, payload, now) -> None, for rows that belong to a patient: run just before the Bot API
# call (a question takes typed answers as its own), and once the row is recorded sent.
Hook = Callable[[Database, dict, dict, datetime], None]
BEFORE_SEND: dict[str, Hook] = {
    "safety_followup": c.before_safety_followup,
    "checkin": c.before_question,
    "checkin_asked": c.before_question,
    "checkin_reminder": c.before_question,
    "next_day": c.before_question,
    "settle": c.before_question,
    "sitting": c.before_sitting,
    "outcomes": outcomes.before_outcomes,
    "outcome_reminder": outcomes.before_outcomes,
    "summary": outcomes.before_summary,
}
AFTER_SENT: dict[str, Hook] = {
    "checkin": c.after_checkin,
    "summary": _after_summary,
    "lesson": c.after_lesson,
    "course_end": c.after_course_end,
}


def compose(db: Database, row: dict, patient: dict | None, now: datetime) -> Outgoing | None:
    """The message for `row`, or None when it no longer makes sense (e.g. today is rated)."""
    payload = json.loads(row["payload"])
    composer = COMPOSERS.get(row["kind"])
    if composer is None:
        raise ValueError(f"no composer for outbox kind {row['kind']!r}")
    facts = kind(row["kind"])
    if not facts.sent_when_withdrawn and withdrawal.is_withdrawn(db, row["patient_id"]):
        return None  # consent withdrawn: nothing the bot starts goes out, even if already due
    if patient is not None and patient["status"] != "active" and facts.waits_while_inactive:
        return None  # paused, on hold or gone: prompts the bot starts wait for /resume
    if "text" in payload and not composer.ignores_written_text:
        return Outgoing.from_payload(payload)
    if composer.needs_patient and patient is None:
        raise ValueError(f"no composer for outbox kind {row['kind']!r}")
    return composer.compose(db, row, payload, patient, now)


def before_send(db: Database, row: dict, now: datetime) -> None:
    """A question about to go out makes typed answers its own (see `compose.before_question`)."""
    hook = BEFORE_SEND.get(row["kind"])
    if hook is not None and row["patient_id"] is not None:
        hook(db, row, json.loads(row["payload"]), now)


def after_sent(db: Database, row: dict, now: datetime) -> None:
    """What a row reaching the person means: a reminder planned, a lesson counted, a state moved."""
    hook = AFTER_SENT.get(row["kind"])
    if hook is not None and row["patient_id"] is not None:
        hook(db, row, json.loads(row["payload"]), now)
