"""Turn an outbox row into the message a person sees (scheduled kinds render at send time)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from markupsafe import escape
from sqlite_utils import Database

from bot import course_plan
from bot.localtime import local_date, zone
from bot.schedule import DAILY_PROMPT_CAP, MERGE_GAP, SCHEDULED_KINDS
from jobs import clinic, safety, summary
from jobs import sessions as session_flow
from messages import Outgoing, label, rating_rows, render
from storage import activities, checkins, lessons, outbox, privacy, sessions, withdrawal

# The scheduled daily question, and the same question asked for with /checkin.
CHECKIN_KINDS = ("checkin", "checkin_asked")
REMINDER_AFTER = timedelta(hours=3)



def part_of_day(moment: datetime, tz_name: str) -> str:
    hour = moment.astimezone(zone(tz_name)).hour
    return "morning" if 4 <= hour < 12 else "afternoon" if hour < 18 else "evening"


def compose(db: Database, row: dict, patient: dict | None, now: datetime) -> Outgoing | None:
    """The message for `row`, or None once it no longer makes sense (e.g. today is rated)."""
    payload = json.loads(row["payload"])
    if row["kind"] not in ("reply", "export") and withdrawal.is_withdrawn(db, row["patient_id"]):
        return None  # consent withdrawn: nothing the bot starts goes out, even if already due
    if (patient is not None and patient["status"] != "active" and row["kind"] in SCHEDULED_KINDS
            and row["kind"] != "advice"):
        return None  # paused, on hold or gone: prompts the bot starts wait for /resume
    if row["kind"] == "export":
        data = privacy.collect(db, patient["id"] if patient else None, payload["user_id"],
                               row["chat_id"])
        if payload["format"] == "json":
            return Outgoing(render("mydata_file", format="JSON"),
                            document=("my-back-pain-data.json", privacy.as_json(data)))
        return Outgoing(render("mydata_file", format="CSV"),
                        document=("my-back-pain-data.csv", privacy.as_csv(data)))
    if row["kind"] == "safety_followup":
        return safety.compose_follow_up(db, row, patient)
    if row["kind"] == "alert_clinician":
        return clinic.compose_alert(db, row, patient)
    if row["kind"] == "digest":
        return clinic.compose_digest(db, row, now)
    if row["kind"] == "cohort_export":
        return clinic.compose_export(db, row, now)
    if row["kind"] == "cohort_qr":
        return clinic.compose_qr(row)
    if "text" in payload:  # replies are rendered when they are written, with the answer they follow
        return Outgoing.from_payload(payload)
    if row["kind"] in CHECKIN_KINDS + ("checkin_reminder",) and patient is not None:
        if checkins.for_date(db, patient["id"], payload["local_date"]) is not None:
            return None
        # The same rating also answers "how is it a day later?" for yesterday's sessions.
        also = sorted({s["activity"] for s in session_flow.next_day_due(db, patient, now)})
        text = render("checkin", name=patient["first_name"],
                      reminder=row["kind"] == "checkin_reminder",
                      part_of_day=part_of_day(now, patient["timezone"]), next_day_for=also)
        return Outgoing(text, rating_rows(f"c:{payload.get('checkin_row', row['id'])}"))
    if row["kind"] == "settle" and patient is not None:
        due = session_flow.settle_due(db, patient, now)
        if json.loads(row["payload"])["session_id"] not in {s["id"] for s in due}:
            return None  # answered already, or asked together with another session's question
        return session_flow.settle_question(due)
    if row["kind"] == "next_day" and patient is not None:
        due = session_flow.next_day_due(db, patient, now)
        if payload["session_id"] not in {s["id"] for s in due}:
            return None  # N came with the daily check-in, or the deadline has passed
        return Outgoing(render("next_day", activities=sorted({s["activity"] for s in due}),
                               name=patient["first_name"]),
                        rating_rows(f"n:{row['id']}"))
    if row["kind"] in ("summary", "summary_caregiver") and patient is not None:
        return summary.compose_summary(db, row, patient)
    if row["kind"] == "chart" and patient is not None:
        return summary.compose_chart(db, row, patient)
    if row["kind"] == "pause_over" and patient is not None:
        return session_flow.pause_offer(db, patient, payload["activity_id"], now)
    if row["kind"] == "sitting":
        rid = row["id"]
        if patient is not None and not sitting_worth_sending(db, patient, row, now):
            return None
        return Outgoing(render("sitting", variant=rid),
                        [[(label("sitting_done"), f"s:{rid}:done"),
                          (label("sitting_snooze"), f"s:{rid}:snooze")],
                         [(label("sitting_off"), f"s:{rid}:off")]])
    if row["kind"] in ("lesson", "lesson_reread") and patient is not None:
        # "again": a lesson re-sent because its content changed (storage.migrations m011).
        return compose_lesson(db, patient, payload["lesson_id"],
                              reread=row["kind"] == "lesson_reread" or bool(payload.get("again")))
    if row["kind"] == "course_end" and patient is not None:
        return compose_course_end(db, patient)
    raise ValueError(f"no composer for outbox kind {row['kind']!r}")


def sitting_worth_sending(db: Database, patient: dict, row: dict, now: datetime) -> bool:
    """A sitting nudge gives way: during an activity (they are not sitting), right after another
    prompt (one message is enough), and once the day's message cap is reached."""
    if sessions.in_progress(db, patient["id"]) is not None:
        return False
    if outbox.sent_since(db, patient["id"], now - MERGE_GAP, exclude_kinds=("reply",)) > 0:
        return False
    tz = zone(patient["timezone"])
    day_start = datetime.combine(local_date(now, tz), datetime.min.time(), tz)
    return outbox.sent_since(db, patient["id"], day_start, kinds=SCHEDULED_KINDS) < DAILY_PROMPT_CAP


def compose_lesson(db: Database, patient: dict, lesson_id: str, *, reread: bool = False
                   ) -> Outgoing | None:
    """A lesson with its feedback buttons; None if it already reached the person (sent once)."""
    got = lessons.received(db, patient["id"])
    if lesson_id in got and not reread:
        return None
    course = course_plan.default_course()
    lesson = next(lesson for lesson in course if lesson.id == lesson_id)
    shown = lesson.render(name=escape(patient["first_name"]),
                          emergency_number=clinic.emergency_number(db, patient["id"]))
    rows = []
    if shown.check is not None and not reread:
        rows.append([(label("check_true"), f"l:t:{lesson.id}:1"),
                     (label("check_false"), f"l:t:{lesson.id}:0")])
    if not reread:
        rows.append([(label("lesson_helpful"), f"l:h:{lesson.id}"),
                     (label("lesson_not_for_me"), f"l:n:{lesson.id}")])
        if course_plan.next_unreceived(course, set(got) | {lesson.id}) is not None:
            rows.append([(label("lesson_next"), f"l:x:{lesson.id}")])
    return Outgoing(render("lesson", lesson=shown, total=len(course)), rows)


def compose_course_end(db: Database, patient: dict) -> Outgoing:
    text = render("course_end", name=patient["first_name"],
                  activities=activities.for_patient(db, patient["id"]),
                  emergency_number=clinic.emergency_number(db, patient["id"]))
    return Outgoing(text, [[(label("course_keep_weekly"), "l:m:keep"),
                            (label("course_stop"), "l:m:stop")]])


def before_send(db: Database, row: dict, now: datetime) -> None:
    """A question about to go out makes typed answers its own: set before the Bot API call, not
    after it is recorded sent, because a crash in between would otherwise leave the person's
    typed answer (already in the inbox) with nothing to answer."""
    if row["patient_id"] is None:
        return
    payload = json.loads(row["payload"])
    waiting = checkins.awaiting(db, row["patient_id"])
    if row["kind"] == "safety_followup":
        safety.ask(db, row["patient_id"], "hold_seen", now)
        return
    # A safety question stays open until it has a clear answer: a prompt does not displace it
    # (its buttons still work; handlers.safety restores the displaced question afterwards).
    safety_open = waiting is not None and waiting["kind"] in safety.SAFETY_KINDS
    # A typed number answers the session question still open (B or A) before any later prompt.
    session_open = waiting is not None and waiting["kind"] in ("session_before", "session_after")
    if row["kind"] in CHECKIN_KINDS + ("checkin_reminder",):
        kind, ref = "checkin", str(payload.get("checkin_row", row["id"]))
    elif row["kind"] in ("next_day", "settle"):
        kind, ref = row["kind"], str(row["id"])
    else:
        return
    if safety_open:
        # Not even /checkin displaces a safety question (a "yes" typed next is its answer):
        # this question comes back once that one is settled.
        safety.displace(db, row["patient_id"], kind, ref, now)
    elif row["kind"] == "checkin_asked" or not session_open:
        # /checkin asked for now takes over an open session question; a scheduled prompt does not.
        checkins.set_awaiting(db, row["patient_id"], kind, ref, now)


def after_sent(db: Database, row: dict, now: datetime) -> None:
    """What a row reaching the person means: a reminder planned, a lesson counted, a state moved."""
    payload = json.loads(row["payload"])
    if row["kind"] == "checkin" and row["patient_id"] is not None:
        # One gentle reminder, hours later, only if still unanswered.
        outbox.enqueue(db, chat_id=row["chat_id"], patient_id=row["patient_id"],
                       kind="checkin_reminder", due_at=now + REMINDER_AFTER, now=now,
                       dedupe_key=f"checkin_reminder:{row['patient_id']}:{payload['local_date']}",
                       payload={"local_date": payload["local_date"], "checkin_row": row["id"]})
    elif row["kind"] == "summary" and row["patient_id"] is not None:
        summary.after_summary_sent(db, row, now)
    elif row["kind"] == "lesson" and row["patient_id"] is not None:
        lesson_id = payload["lesson_id"]
        lessons.record_sent(db, row["patient_id"], lesson_id, row["id"], now)
    elif row["kind"] == "course_end" and row["patient_id"] is not None:
        # The lighter rhythm starts unless the person chooses to stop.
        db.execute("UPDATE patients SET course_state = 'maintenance' WHERE id = ? "
                   "AND course_state = 'active'", [row["patient_id"]])
        # Daily check-ins already planned give way; the next plan tick plans the weekly one.
        db.execute("DELETE FROM outbox WHERE patient_id = ? AND kind = 'checkin' "
                   "AND status = 'pending'", [row["patient_id"]])
