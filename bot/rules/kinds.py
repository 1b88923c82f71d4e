"""Every outbox kind, declared once: how late it may go out, whether it waits out quiet hours,
which lane of the sender carries it, and what /pause (and a red-flag hold), /resume, /withdraw,
agreeing again and /delete do with its queued rows.

Pure facts only. What a kind *looks like* (its composer) and what sending it *means* (its
after-send hook) live beside the code they need, in `jobs.kinds`; a test checks the two agree.
To add a kind: one `Kind(...)` entry here, one composer in `jobs.kinds.COMPOSERS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal

Lane = Literal["fast", "bulk", "nudge"]
Priority = Literal[0, 1, 2, 3]
# The priorities, first to last.
REPLY: Final = 0
QUESTION: Final = 1
CONTENT: Final = 2
NUDGE: Final = 3
# What /resume (the end of a pause, a block or a hold) does with a row left cancelled or pending:
# "replan": cancelled rows from now on are deleted, the planner makes them again;
# "restore": cancelled rows go back to pending (their lateness rules still apply);
# "cancel": pending rows are cancelled (the hold's own follow-up);
# None: nothing.
Resume = Literal["replan", "restore", "cancel", None]


@dataclass(frozen=True)
class Kind:
    name: str
    max_late: timedelta | None = None  # None: still worth sending however late
    quiet_hours: bool = False  # True: never sent in quiet hours, waits for their end
    late_action: Literal["expire", "drop"] = "expire"  # past max_late: recorded, or dropped
    # A prompt the bot starts on its own: counted in the daily cap (DAILY_PROMPT_CAP).
    prompt: bool = False
    # While the person is not active (paused, on hold, gone) a prompt waits for /resume...
    waits_while_inactive: bool = False
    # The sender's lane: "fast" (woken at once), "bulk" (planned), "nudge" (bulk, last).
    lane: Lane = "fast"
    # Queued "now", never scheduled: sent even when its due time is ahead of the clock.
    immediate: bool = False
    # Who goes first when more is due than the line can carry (storage.outbox.due, the
    # sender's Pace): 0 replies to a person's own action and urgent alerts, 1 check-ins and
    # activity questions, 2 lessons and summaries, 3 nudges. Within a priority, due order.
    priority: Priority = 0
    # /pause and a red-flag hold cancel queued rows of this kind.
    paused: bool = False
    on_resume: Resume = None
    # /withdraw cancels every queued row except these; consent withdrawn stops the others even
    # when already due.
    kept_on_withdraw: bool = False
    sent_when_withdrawn: bool = False
    # Agreeing again after /withdraw: "replan" or "restore" (as on_resume), or None.
    on_consent_again: Resume = None
    # /delete removes every row about the person, whatever its kind (storage.privacy).
    on_delete: Literal["delete"] = "delete"
    doc: str = ""


def _kinds(*kinds: Kind) -> dict[str, Kind]:
    return {k.name: k for k in kinds}


H, D, M = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)

KINDS: dict[str, Kind] = _kinds(
    # A check-in asked hours late is a different question; the day is recorded as missed instead.
    Kind(
        "checkin",
        4 * H,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="replan",
        on_consent_again="replan",
        priority=QUESTION,
        doc="the daily 0-10 rating",
    ),
    Kind(
        "checkin_reminder",
        1 * H,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="nudge",
        paused=True,
        priority=NUDGE,
        doc="one gentle reminder hours after an unanswered check-in",
    ),
    Kind("checkin_asked", 1 * H, False, doc="/checkin: the person just asked for it"),
    # A nudge to stand up is only useful while the person is sitting.
    Kind(
        "sitting",
        10 * M,
        True,
        "drop",
        prompt=True,
        waits_while_inactive=True,
        lane="nudge",
        paused=True,
        on_resume="replan",
        on_consent_again="replan",
        priority=NUDGE,
        doc="a sitting-break nudge",
    ),
    # Teaching content keeps its value; it waits for the end of quiet hours instead.
    Kind(
        "lesson",
        None,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="replan",
        on_consent_again="replan",
        priority=CONTENT,
        doc="a course lesson",
    ),
    Kind("lesson_reread", doc="a lesson the person asked to read again"),
    Kind(
        "course_end",
        None,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="replan",
        on_consent_again="replan",
        priority=CONTENT,
        doc="the end of the 12-week course",
    ),
    Kind(
        "summary",
        2 * D,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="replan",
        on_consent_again="replan",
        priority=CONTENT,
        doc="the weekly summary",
    ),
    # A caregiver's copy is timed for their own zone already; the chart follows its summary.
    Kind(
        "summary_caregiver",
        2 * D,
        False,
        lane="bulk",
        on_resume="replan",
        on_consent_again="replan",
        priority=CONTENT,
        doc="a caregiver's copy of the weekly summary",
    ),
    Kind(
        "chart",
        2 * D,
        False,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        priority=CONTENT,
        doc="the weekly chart, after its summary",
    ),
    Kind("alert_caregiver", immediate=True, doc="a caregiver told of a warning sign"),
    Kind(
        "caregiver_notice",
        immediate=True,
        doc="a caregiver link started or ended: the other side is told",
    ),
    # Clinic staff: alerts go at once, day or night; the digest is timed in the clinic's zone.
    Kind("alert_clinician", immediate=True, doc="clinic staff told of a warning sign"),
    # Non-urgent alerts (a rise, a blocked bot, a quiet spell, a request to be contacted) wait
    # for the clinic's working hours and go together, one message per clinician and time.
    Kind("alert_batch", doc="clinic staff told of non-urgent flags, in working hours"),
    Kind("alert_update", immediate=True, doc="colleagues told who acknowledged or resolved"),
    # A clinician's /message waits out the patient's quiet hours; their one answer goes at once.
    Kind("clinic_message", None, True, doc="a clinician's message to a patient"),
    Kind("clinic_relay", immediate=True, doc="a patient's answer relayed to the clinician"),
    Kind("digest", 1 * D, False, lane="bulk", priority=CONTENT, doc="the clinic's daily digest"),
    # Session follow-ups: "has it settled?" hours late is a different question (S stays
    # unknown); N is worth asking until the decision deadline (36 h after the start).
    Kind(
        "settle",
        4 * H,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="restore",
        priority=QUESTION,
        doc="has the pain settled after an activity?",
    ),
    Kind(
        "next_day",
        12 * H,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="restore",
        priority=QUESTION,
        doc="how is it a day after an activity?",
    ),
    # "Finished your walk?" once, about 30 minutes after the dose should have ended, while the
    # session is still under way: worth asking the next morning too, not days later.
    Kind(
        "finish_check",
        12 * H,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="restore",
        priority=QUESTION,
        doc="finished your activity? (Done / I didn't do it)",
    ),
    # Advice follows the person's own answer: it goes out even while paused.
    Kind(
        "advice",
        None,
        True,
        prompt=True,
        paused=True,
        on_resume="restore",
        # After the person's answers, or decided by the plan tick at a session's deadline:
        # beside the activity questions, after the reply that acknowledged the answer.
        priority=QUESTION,
        doc="pacing advice after a session's answers",
    ),
    Kind(
        "pause_over",
        2 * D,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="restore",
        on_consent_again="restore",
        priority=CONTENT,
        doc="an activity's break is over",
    ),
    # A /pause for a day or a week ends by itself ("welcome back", and the lessons missed);
    # an open-ended one is reminded of once after 7 days. Both go out while paused (that is
    # their point), never in quiet hours, and /pause does not cancel them.
    Kind(
        "pause_end",
        None,
        True,
        lane="bulk",
        priority=CONTENT,
        doc="a dated /pause is over: welcome back",
    ),
    Kind(
        "pause_reminder",
        2 * D,
        True,
        lane="bulk",
        on_resume="cancel",
        priority=CONTENT,
        doc="a week into an open-ended /pause: a reminder of /resume",
    ),
    # "Were you able to get checked?" a day after an emergency sign: not in the night (it waits
    # for the end of quiet hours), still worth asking days late while the hold lasts. Not a
    # prompt the hold cancels: it is how the hold ends.
    Kind(
        "safety_followup",
        3 * D,
        True,
        on_resume="cancel",
        priority=QUESTION,
        doc="were you able to get checked? (during a hold)",
    ),
    # Answers to something the person just did always go out, whenever we can.
    Kind("reply", immediate=True, sent_when_withdrawn=True, doc="an answer to the person"),
    Kind("export", kept_on_withdraw=True, sent_when_withdrawn=True, doc="/mydata's file"),
    Kind("cohort_export", doc="a clinician's cohort CSV files"),
    Kind("cohort_qr", doc="a cohort's enrolment link as a QR code"),
    # /patient's chart for a clinician: about the patient (patient_id), sent to the clinician;
    # a patient who withdraws or is deleted takes it with them.
    Kind("patient_chart", doc="a clinician's chart of one patient (/patient)"),
    # Outcome questions (issue 17): worth asking while their set is open (3 days; the composer
    # sends nothing once it closed), never in quiet hours; paused people are asked on /resume.
    Kind(
        "outcomes",
        3 * D,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="restore",
        priority=QUESTION,
        doc="PEG and personal goals at baseline, week 6 and week 12",
    ),
    Kind(
        "outcome_reminder",
        2 * D,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="restore",
        priority=QUESTION,
        doc="the one reminder of unanswered outcome questions, a day later",
    ),
    # Outcome results (issue 17): at weeks 6 and 12, once that timepoint's sets closed; worth
    # sending for a week, never in quiet hours, kept through a pause.
    Kind(
        "outcome_results",
        7 * D,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="restore",
        priority=CONTENT,
        doc="a person's change at week 6 and week 12 in plain words",
    ),
    Kind(
        "outcome_chart",
        7 * D,
        True,
        prompt=True,
        waits_while_inactive=True,
        lane="bulk",
        paused=True,
        on_resume="restore",
        priority=CONTENT,
        doc="the chart after the week 6 and week 12 results",
    ),
)


def kind(name: str) -> Kind:
    """The declared kind; an undeclared one is a bug (KeyError)."""
    return KINDS[name]


def names(**facts: object) -> tuple[str, ...]:
    """Kinds whose facts match, in declaration order: `names(paused=True)`."""
    return tuple(
        k.name for k in KINDS.values() if all(getattr(k, f) == v for f, v in facts.items())
    )


# --- what the bot waits for (the `awaiting` table's kinds) --------------------------------------
# Each question asked is a row (storage.questions); several may be open, and a typed answer goes
# to the one it fits (bot.rules.questions). "safety": only a clear answer settles it, at most one
# is open and it comes first (jobs.safety); "session": the before/after rating of an activity,
# answered before a prompt sent meanwhile; "checkin": only today's takes a typed answer.
Question = Literal["checkin", "session", "follow_up", "safety", "outcome"]

QUESTIONS: dict[str, Question] = {
    "checkin": "checkin",
    "session_before": "session",
    "session_after": "session",
    "next_day": "follow_up",
    "settle": "follow_up",
    "urgent_emergency": "safety",
    "urgent_soon": "safety",
    "safety_confirm": "safety",
    "hold_seen": "safety",
    "hold_carry_on": "safety",
    # Outcome questions (handlers.outcomes routes typed answers to them; a number never goes to
    # the weekly change question): the weekly change, a PEG or goal 0-10 item, a goal's name.
    "outcome_grc": "outcome",
    "outcome_item": "outcome",
    "outcome_goal_name": "outcome",
}


def questions(group: Question) -> tuple[str, ...]:
    return tuple(name for name, g in QUESTIONS.items() if g == group)
