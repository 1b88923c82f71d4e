"""The composers and after-send hooks of the outbox kinds (scheduled kinds render at send time);
`jobs.kinds` says which kind uses which."""

from __future__ import annotations

from datetime import datetime, timedelta

from markupsafe import escape
from sqlite_utils import Database

from bot.course import default_course
from bot.rules import course_plan
from bot.rules import questions as question_rules
from bot.rules.callbacks import encode
from bot.rules.localtime import local_date, zone
from bot.rules.schedule import DAILY_PROMPT_CAP, MERGE_GAP, SCHEDULED_KINDS
from jobs import clinic, safety, summary
from jobs import sessions as session_flow
from messages import Outgoing, label, rating_rows, render
from storage import (
    activities,
    checkins,
    lessons,
    outbox,
    patients,
    privacy,
    questions,
    sessions,
    sitting,
)

# The scheduled daily question, and the same question asked for with /checkin.
CHECKIN_KINDS = ("checkin", "checkin_asked")
REMINDER_AFTER = timedelta(hours=3)
# No sitting nudge this soon after the bot answered the person (a command, a tap, a setting).
QUIET_AFTER_REPLY = timedelta(minutes=10)
# After this many unanswered nudges in a row, the next one asks whether to stop for today.
IGNORED_NUDGES = 3


def part_of_day(moment: datetime, tz_name: str) -> str:
    hour = moment.astimezone(zone(tz_name)).hour
    return "morning" if 4 <= hour < 12 else "afternoon" if hour < 18 else "evening"


# Each composer: (db, row, payload, patient, now) -> the message, or None when it no longer makes
# sense (e.g. today is already rated). jobs.kinds maps every kind to one.


def compose_export(
    db: Database, row: dict, payload: dict, patient: dict | None, now: datetime
) -> Outgoing:
    """/mydata's file, JSON or CSV."""
    data = privacy.collect(
        db, patient["id"] if patient else None, payload["user_id"], row["chat_id"]
    )
    if payload["format"] == "json":
        return Outgoing(
            render("mydata_file", format="JSON"),
            document=("my-back-pain-data.json", privacy.as_json(data)),
        )
    return Outgoing(
        render("mydata_file", format="CSV"),
        document=("my-back-pain-data.csv", privacy.as_csv(data)),
    )


def compose_written(
    db: Database, row: dict, payload: dict, patient: dict | None, now: datetime
) -> Outgoing:
    """Replies are rendered when they are written, with the answer they follow."""
    if "text" not in payload:
        raise ValueError(f"no composer for outbox kind {row['kind']!r}")
    return Outgoing.from_payload(payload)


def compose_checkin(
    db: Database, row: dict, payload: dict, patient: dict, now: datetime
) -> Outgoing | None:
    if checkins.for_date(db, patient["id"], payload["local_date"]) is not None:
        return None
    # The same rating also answers "how is it a day later?" for yesterday's sessions.
    also = sorted({s["activity"] for s in session_flow.next_day_due(db, patient, now)})
    text = render(
        "checkin",
        name=patient["first_name"],
        reminder=row["kind"] == "checkin_reminder",
        part_of_day=part_of_day(now, patient["timezone"]),
        next_day_for=also,
    )
    return Outgoing(text, rating_rows("c", payload.get("checkin_row", row["id"])))


def compose_settle(
    db: Database, row: dict, payload: dict, patient: dict, now: datetime
) -> Outgoing | None:
    due = session_flow.settle_due(db, patient, now)
    if payload["session_id"] not in {s["id"] for s in due}:
        return None  # answered already, or asked together with another session's question
    return session_flow.settle_question(due)


def compose_next_day(
    db: Database, row: dict, payload: dict, patient: dict, now: datetime
) -> Outgoing | None:
    due = session_flow.next_day_due(db, patient, now)
    if payload["session_id"] not in {s["id"] for s in due}:
        return None  # N came with the daily check-in, or the deadline has passed
    return Outgoing(
        render(
            "next_day", activities=sorted({s["activity"] for s in due}), name=patient["first_name"]
        ),
        rating_rows("n", row["id"]),
    )


def compose_sitting(
    db: Database, row: dict, payload: dict, patient: dict | None, now: datetime
) -> Outgoing | None:
    rid = row["id"]
    if patient is not None and not sitting_worth_sending(db, patient, row, now):
        return None
    if sitting_pause_due(db, row, payload):
        # Three nudges in a row went unanswered: this one asks, once a day, whether to stop.
        return Outgoing(
            render("sitting_pause_ask", variant=rid, ignored=IGNORED_NUDGES),
            [
                [
                    (label("sitting_pause_yes"), encode("s", rid, "pause")),
                    (label("sitting_pause_no"), encode("s", rid, "keep")),
                ]
            ],
        )
    return Outgoing(
        render("sitting", variant=rid),
        [
            [
                (label("sitting_done"), encode("s", rid, "done")),
                (label("sitting_snooze"), encode("s", rid, "snooze")),
            ],
            [(label("sitting_off"), encode("s", rid, "off"))],
        ],
    )


def compose_lesson_row(
    db: Database, row: dict, payload: dict, patient: dict, now: datetime
) -> Outgoing | None:
    # "again": a lesson re-sent because its content changed (storage.migrations m011).
    return compose_lesson(
        db,
        patient,
        payload["lesson_id"],
        reread=row["kind"] == "lesson_reread" or bool(payload.get("again")),
    )


def sitting_worth_sending(db: Database, patient: dict, row: dict, now: datetime) -> bool:
    """A sitting nudge gives way: during an activity (they are not sitting; until "Finished?" is
    due, so a forgotten Done does not silence them for good), right after another prompt (one
    message is enough), within 10 minutes of the person's last command, tap or answer (any reply
    the bot sent them: they are busy with the bot, not sitting idle), and once the day's message
    cap is reached."""
    doing = sessions.in_progress(db, patient["id"])
    if doing is not None and session_flow.blocks_nudges(doing, now):
        return False
    if outbox.sent_since(db, patient["id"], now - MERGE_GAP, exclude_kinds=("reply",)) > 0:
        return False
    if outbox.sent_since(db, patient["id"], now - QUIET_AFTER_REPLY, kinds=("reply",)) > 0:
        return False
    tz = zone(patient["timezone"])
    day_start = datetime.combine(local_date(now, tz), datetime.min.time(), tz)
    return outbox.sent_since(db, patient["id"], day_start, kinds=SCHEDULED_KINDS) < DAILY_PROMPT_CAP


def compose_lesson(
    db: Database, patient: dict, lesson_id: str, *, reread: bool = False
) -> Outgoing | None:
    """A lesson with its feedback buttons; None if it already reached the person (sent once)."""
    got = lessons.received(db, patient["id"])
    if lesson_id in got and not reread:
        return None
    course = default_course()
    lesson = next(lesson for lesson in course if lesson.id == lesson_id)
    shown = lesson.render(
        name=escape(patient["first_name"]),
        emergency_number=clinic.emergency_number(db, patient["id"]),
    )
    rows = []
    if shown.check is not None and not reread:
        # A quick check: only True / False under the lesson; the answer's reply carries the
        # feedback buttons (at most three buttons at a time on a phone).
        rows.append(
            [
                (label("check_true"), encode("l:t", lesson.id, 1)),
                (label("check_false"), encode("l:t", lesson.id, 0)),
            ]
        )
    elif not reread:
        rows = lesson_feedback_rows(course, set(got), lesson.id)
    return Outgoing(render("lesson", lesson=shown, total=len(course)), rows)


def lesson_feedback_rows(course, received: set[str], lesson_id: str) -> list[list]:
    """Helpful / Not for me, and Next lesson when one is left: under a lesson, or under the
    answer to its quick check."""
    rows = [
        [
            (label("lesson_helpful"), encode("l:h", lesson_id)),
            (label("lesson_not_for_me"), encode("l:n", lesson_id)),
        ]
    ]
    if course_plan.next_unreceived(course, received | {lesson_id}) is not None:
        rows.append([(label("lesson_next"), encode("l:x", lesson_id))])
    return rows


def compose_course_end(db: Database, patient: dict) -> Outgoing:
    text = render(
        "course_end",
        name=patient["first_name"],
        activities=activities.for_patient(db, patient["id"]),
        emergency_number=clinic.emergency_number(db, patient["id"]),
    )
    return Outgoing(
        text,
        [
            [
                (label("course_keep_weekly"), encode("l:m", "keep")),
                (label("course_stop"), encode("l:m", "stop")),
            ]
        ],
    )


def sitting_pause_due(db: Database, row: dict, payload: dict) -> bool:
    """The nudges of this day went unanswered IGNORED_NUDGES times in a row and "Shall I pause
    these for today?" has not been asked yet that day."""
    pid, day = row["patient_id"], payload.get("local_date")
    if pid is None or not day:
        return False
    return sitting.ignored_in_a_row(db, pid, day) >= IGNORED_NUDGES and not sitting.pause_asked(
        db, pid, day
    )


def before_sitting(db: Database, row: dict, payload: dict, now: datetime) -> None:
    """The nudge about to go out is the "pause these for today?" question: asked once a day."""
    if sitting_pause_due(db, row, payload):
        sitting.mark_pause_asked(db, row["patient_id"], payload["local_date"], row["id"], now)


# Hooks: (db, row, payload, now) -> None, for rows that belong to a patient; jobs.kinds says
# which kind has which. "Before send" runs just before the Bot API call, "after sent" once the
# row is recorded sent.


def before_safety_followup(db: Database, row: dict, payload: dict, now: datetime) -> None:
    safety.ask(db, row["patient_id"], "hold_seen", now)


def before_question(db: Database, row: dict, payload: dict, now: datetime) -> None:
    """A question about to go out makes typed answers its own: opened before the Bot API call,
    not after it is recorded sent, because a crash in between would otherwise leave the person's
    typed answer (already in the inbox) with nothing to answer.

    Questions are records (storage.questions) and several may be open: this one opens beside any
    other, and jobs.questions sends a typed answer to the newest open question it fits. A safety
    question stays first whatever is sent meanwhile."""
    pid = row["patient_id"]
    patient = patients.get(db, pid)
    tz = zone(patient["timezone"]) if patient else zone("UTC")
    if row["kind"] in CHECKIN_KINDS + ("checkin_reminder",):
        day = payload["local_date"]
        questions.open_question(
            db,
            pid,
            "checkin",
            str(payload.get("checkin_row", row["id"])),
            now,
            subject=day,
            outbox_id=row["id"],
            expires_at=question_rules.checkin_expires(day, tz),
        )
        return
    session_id = payload.get("session_id")
    questions.open_question(
        db,
        pid,
        row["kind"],  # next_day, settle
        str(row["id"]),
        now,
        subject=str(session_id) if session_id is not None else None,
        outbox_id=row["id"],
        expires_at=now + question_rules.EXPIRES_AFTER[row["kind"]],
    )


def after_checkin(db: Database, row: dict, payload: dict, now: datetime) -> None:
    """One gentle reminder, hours later, only if still unanswered."""
    outbox.enqueue(
        db,
        chat_id=row["chat_id"],
        patient_id=row["patient_id"],
        kind="checkin_reminder",
        due_at=now + REMINDER_AFTER,
        now=now,
        dedupe_key=f"checkin_reminder:{row['patient_id']}:{payload['local_date']}",
        payload={"local_date": payload["local_date"], "checkin_row": row["id"]},
    )


def after_summary(db: Database, row: dict, payload: dict, now: datetime) -> None:
    summary.after_summary_sent(db, row, now)


def after_lesson(db: Database, row: dict, payload: dict, now: datetime) -> None:
    lessons.record_sent(db, row["patient_id"], payload["lesson_id"], row["id"], now)


def after_course_end(db: Database, row: dict, payload: dict, now: datetime) -> None:
    # The lighter rhythm starts unless the person chooses to stop.
    patients.start_maintenance(db, row["patient_id"])
    # Daily check-ins already planned give way; the next plan tick plans the weekly one.
    outbox.delete_pending(db, row["patient_id"], ("checkin",))
