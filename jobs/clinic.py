"""What a clinic sees: rosters, CSV exports, alerts and the Monday digest.

Everything is computed from the stored answers at the moment it is shown or sent, and only for a
cohort's current members: a patient who has left, or withdrawn consent, disappears from all of it.
Alerts and digests are rendered at send time too, so a clinician removed in the meantime, or a
patient who left, gets nothing sent about them.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import segno
from markupsafe import Markup, escape
from sqlite_utils import Database

from bot import chart
from bot.chart import human_date
from bot.clock import iso, parse_iso
from bot.course import default_course
from bot.rules import roster, safety
from bot.rules.callbacks import encode
from bot.rules.localtime import local_date, local_to_utc, parse_hhmm, zone
from bot.rules.outcomes import grc_words
from bot.rules.weekly import week_figures
from jobs.summary import ratings_by_day
from messages import Outgoing, label, render
from storage import alerts, clinics, consents, events, outbox, outcome_reports, patients, sitting
from storage import checkins as checkins_store
from storage import lessons as lessons_store
from storage import sessions as sessions_store

log = logging.getLogger(__name__)

ALERT_KINDS = ("red_flag", "red_flag_soon", "red_flag_seen", "rise", "blocked", "quiet", "contact")
SOON_EPISODE = timedelta(days=14)  # a "soon" sign repeated within this is the same episode
DIGEST_DAY, DIGEST_AT = 0, time(8, 0)  # Monday 08:00 in the clinic's time zone
ROSTER_CHUNK = 15  # patients per roster message (Telegram's 4096 characters)
UNREACHABLE = ("blocked", "chat_not_found")


@dataclass(frozen=True)
class Line:
    """One roster line: the member and their figures."""

    patient: dict
    figures: roster.PatientFigures
    start: date
    today: date
    ratings: dict[date, int] = field(default_factory=dict)  # answered pain by local date
    grc: str | None = None  # the latest weekly change in words (issue 17)
    asked_from: date | None = None  # the first day a check-in was asked (see `first_asked`)


def _start(patient: dict, today: date) -> date:
    return date.fromisoformat(patient["start_date"] or patient["course_start"] or today.isoformat())


def first_asked(db: Database, patient: dict, start: date, tz) -> date:
    """The first day a check-in was asked: the start, or the day after it when set-up ended
    after that day's check-in time (no check-in went out that day, so none was missed)."""
    onboarded = events.for_patient(db, patient["id"], "onboarded")
    checkin = patient.get("checkin_time")
    if not onboarded or not checkin:
        return start
    at = parse_iso(onboarded[0]["at"]).astimezone(tz)
    if at.date() == start and at.time() >= parse_hhmm(checkin):
        return start + timedelta(days=1)
    return start


def sign_reports(db: Database, patient_id: int) -> dict[str, list[datetime]]:
    """When each level of warning sign was reported (confirmed), oldest first."""
    found: dict[str, list[datetime]] = {"emergency": [], "soon": []}
    for r in events.red_flag_reports(db, patient_id):
        if r["level"] in found:
            found[r["level"]].append(parse_iso(r["at"]))
    return found


def patient_line(db: Database, patient: dict, now: datetime) -> Line:
    """Read one member's rows and count them (bot.roster does the arithmetic)."""
    tz = zone(patient["timezone"])
    today = local_date(now, tz)
    start = _start(patient, today)
    answers = [parse_iso(t) for t in checkins_store.last_answer_times(db, patient["id"])]
    verdicts = [r["verdict"] for r in sessions_store.decided(db, patient["id"])]
    reports = sign_reports(db, patient["id"])
    seen = [parse_iso(e["at"]) for e in events.for_patient(db, patient["id"], "red_flag_seen")]
    ratings = ratings_by_day(db, patient["id"], today)
    status = patient["status"]
    if status == "paused" and not shares_detail(db, patient["id"]):
        status = "active"  # a pause shows only to a clinic the patient agreed could see it
    found = roster.figures(
        ratings=ratings,
        start=start,
        today=today,
        last_answer=local_date(max(answers), tz) if answers else None,
        verdicts=verdicts,
        red_flag=local_date(reports["emergency"][-1], tz) if reports["emergency"] else None,
        soon_sign=local_date(reports["soon"][-1], tz) if reports["soon"] else None,
        blocked=patient["status"] == "inactive" and patient["inactive_reason"] in UNREACHABLE,
        seen=local_date(seen[-1], tz) if seen else None,
        status=status,
        status_since=_status_since(patient, reports, tz),
        rise_since=_rise_since(db, patient["id"], tz),
        episode_states=episode_states(db, patient["id"]),
        asked_from=(asked := first_asked(db, patient, start, tz)),
    )
    said = outcome_reports.latest_grc(db, patient["id"])
    grc = grc_words(said["value"]) if said else None
    return Line(patient, found, start, today, ratings, grc, asked)


def _status_since(patient: dict, reports: dict[str, list[datetime]], tz) -> date | None:
    """The first day of a hold (the emergency report that began it) or of a pause."""
    if patient["status"] == "hold" and reports["emergency"]:
        return local_date(reports["emergency"][-1], tz)
    if patient["status"] == "paused" and patient.get("paused_from"):
        return local_date(parse_iso(patient["paused_from"]), tz)
    return None


def _rise_since(db: Database, patient_id: int, tz) -> date | None:
    """When the current rise was first noticed: the first of the weekly notices that follow
    each other without a week's gap, up to the latest."""
    noticed = [
        local_date(parse_iso(e["at"]), tz)
        for e in events.for_patient(db, patient_id, "rise_noticed")
    ]
    if not noticed:
        return None
    first = noticed[-1]
    for day in reversed(noticed[:-1]):
        if (first - day).days > 8:
            break
        first = day
    return first


# Alert episode kinds -> the roster's flags whose state they give ("quiet" is left to the roster's
# own "inactive" state, which says whether they paused or are on hold).
ROSTER_FLAG = {
    "red_flag": "red_flag",
    "red_flag_soon": "soon_sign",
    "blocked": "blocked",
    "rise": "rise",
}


def episode_states(db: Database, patient_id: int) -> dict[str, str]:
    """The state of this patient's newest alert episode per roster flag, in the clinic's words:
    "open", "acknowledged by Sam", "resolved by Sam" or "resolved: seen by a doctor"."""
    states: dict[str, str] = {}
    for episode in alerts.for_patient(db, patient_id):  # newest first
        flag = ROSTER_FLAG.get(episode["kind"])
        if flag is None or flag in states:
            continue
        states[flag] = _state_words(db, episode)
    return states


def _state_words(db: Database, episode: dict) -> str:
    def name(field: str) -> str | None:
        staff = clinics.clinician(db, episode[field]) if episode.get(field) else None
        return (staff or {}).get("first_name")

    if episode["state"] == "acknowledged":
        who = name("acknowledged_by")
        return f"acknowledged by {who}" if who else "acknowledged"
    if episode["state"] == "resolved":
        who = name("resolved_by")
        if who:
            return f"resolved by {who}"
        return {"seen": "resolved: seen by a doctor"}.get(
            episode.get("resolved_how") or "", "resolved"
        )
    return "open"


def cohort_lines(db: Database, cohort_id: int, now: datetime) -> list[Line]:
    return [patient_line(db, p, now) for p in clinics.members(db, cohort_id)]


def flagged_first(lines: list[Line]) -> list[Line]:
    """Flagged patients first, the most urgent flag first; then everyone else; by id within."""
    return sorted(lines, key=lambda line: (line.figures.urgency, line.patient["id"]))


def roster_messages(db: Database, cohort: dict, now: datetime) -> list[Outgoing]:
    """The roster: the cohort line, then flagged patients first with their flags' dates and
    states, ROSTER_CHUNK patients a message."""
    lines = flagged_first(cohort_lines(db, cohort["id"], now))
    summary = roster.cohort_figures([line.figures for line in lines])
    chunks = [lines[i : i + ROSTER_CHUNK] for i in range(0, len(lines), ROSTER_CHUNK)] or [[]]
    return [
        Outgoing(
            render(
                "clinic_roster",
                cohort=cohort,
                lines=chunk,
                part=n + 1,
                parts=len(chunks),
                total=len(lines),
                flagged=summary.flagged,
                summary=summary,
                first_unflagged=next((line for line in chunk if not line.figures.flags), None),
            )
        )
        for n, chunk in enumerate(chunks)
    ]


_CALL_WORDS = re.compile(
    r"^\s*(?:(?:please|call|dial|phone|ring|tel\.?|telephone)\b[\s:,.-]*)+", re.IGNORECASE
)


def clean_emergency_text(text: str | None) -> str | None:
    """A clinic's emergency text as stored and shown: without a leading "call"/"dial"/"phone"/
    "ring" (the templates say "call {{ emergency_number }}"), whitespace tidied; None if empty."""
    if text is None:
        return None
    cleaned = _CALL_WORDS.sub("", " ".join(str(text).split())).strip()
    # Templates go on after it ("call 999, or go to..."): a final full stop would end the sentence.
    cleaned = cleaned.rstrip(" .;,")
    return cleaned or None


def emergency_number(
    db: Database,
    patient_id: int | None = None,
    user_id: int | None = None,
    timezone: str | None = None,
) -> Markup:
    """The number to call, as safe HTML: the patient's cohort's own text, else the number of the
    country of the patient's time zone (bot.rules.safety), else "112 or your local emergency
    number".

    Someone still setting up after accepting a cohort's link already gets their clinic's text;
    someone without a zone yet (or a stranger) gets the default.
    """
    text = clinics.emergency_text(db, patient_id)
    if text is None and user_id is not None:
        for offer in clinics.accepted_offers_waiting(db, user_id):
            text = (clinics.cohort(db, offer["cohort_id"]) or {}).get("emergency_text") or text
    text = clean_emergency_text(text)
    if text:
        return escape(text)
    if timezone is None and patient_id is not None:
        timezone = patients.timezone_of(db, patient_id=patient_id)
    if timezone is None and patient_id is None and user_id is not None:
        timezone = patients.timezone_of(db, user_id=user_id)
    return escape(safety.emergency_number(timezone))


# --- CSV export ------------------------------------------------------------------------------

DAY_COLUMNS = [
    "cohort_id",
    "patient_id",
    "first_name",
    "reference",  # the clinic's own (issue 16)
    "study_id",  # the membership's random id, for research
    "local_date",
    "course_day",
    "checkin",
    "pain",
    "sessions_started",
    "sitting_breaks",
    "emergency_sign_reported_at",
    "soon_sign_reported_at",
    "grc_latest",  # issue 17: the latest weekly change answered by that day, -3..+3
]
SESSION_COLUMNS = [
    "cohort_id",
    "patient_id",
    "first_name",
    "reference",
    "study_id",
    "session_id",
    "activity",
    "dose_minutes",
    "logged",
    "started_at",
    "ended_at",
    "before",
    "before_source",
    "after",
    "settled",
    "next_day",
    "stage",
    "verdict",
    "findings",
    "partial",
    "next_dose",
    "pause_days",
    "thresholds",
    "rule_version",
    "decided_at",
]


def _cell(value: object) -> object:
    """Text a person typed must not run as a spreadsheet formula when the CSV is opened."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(columns: list[str], rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return buffer.getvalue().encode("utf-8")


def export_rows(db: Database, cohort_id: int, now: datetime) -> tuple[list[dict], list[dict]]:
    """(one row per member per day from their start to today, one row per session)."""
    days, sessions = [], []
    for patient in clinics.members(db, cohort_id):
        pid, tz = patient["id"], zone(patient["timezone"])
        today = local_date(now, tz)
        start = _start(patient, today)
        checkins = {r["local_date"]: r for r in checkins_store.all_of(db, pid)}
        breaks: dict[str, int] = {}
        for day in sitting.break_dates(db, pid):
            breaks[day] = breaks.get(day, 0) + 1
        rows = sessions_store.with_activity_names(db, pid)
        reported: dict[tuple[str, str], str] = {}  # (level, local date) -> the latest report
        for level, moments in sign_reports(db, pid).items():
            for moment in moments:
                reported[(level, local_date(moment, tz).isoformat())] = iso(moment)
        started: dict[str, int] = {}
        for s in rows:
            started_on = local_date(parse_iso(s["started_at"]), tz).isoformat()
            started[started_on] = started.get(started_on, 0) + 1
            sessions.append(
                {
                    **s,
                    "cohort_id": cohort_id,
                    "patient_id": pid,
                    "first_name": patient["first_name"],
                    "reference": patient.get("reference"),
                    "study_id": patient.get("study_id"),
                    "session_id": s["id"],
                }
            )
        grc_by_day: dict[str, int] = {}  # local date -> the day's last weekly change
        for a in outcome_reports.grc_answers(db, pid):
            grc_by_day[local_date(parse_iso(a["answered_at"]), tz).isoformat()] = a["value"]
        latest = None
        for key in sorted(k for k in grc_by_day if k < start.isoformat()):
            latest = grc_by_day[key]
        on = start
        while on <= today:
            key = on.isoformat()
            check = checkins.get(key)
            latest = grc_by_day.get(key, latest)
            days.append(
                {
                    "cohort_id": cohort_id,
                    "patient_id": pid,
                    "first_name": patient["first_name"],
                    "reference": patient.get("reference"),
                    "study_id": patient.get("study_id"),
                    "local_date": key,
                    "course_day": (on - start).days + 1,
                    "checkin": check["status"] if check else "none",
                    "pain": check["pain"] if check else None,
                    "sessions_started": started.get(key, 0),
                    "sitting_breaks": breaks.get(key, 0),
                    "emergency_sign_reported_at": reported.get(("emergency", key)),
                    "soon_sign_reported_at": reported.get(("soon", key)),
                    "grc_latest": latest,
                }
            )
            on += timedelta(days=1)
    return days, sessions


def export_files(db: Database, cohort: dict, now: datetime) -> list[tuple[str, bytes]]:
    days, sessions = export_rows(db, cohort["id"], now)
    stamp = now.strftime("%Y%m%d")
    return [
        (f"cohort-{cohort['id']}-days-{stamp}.csv", _csv(DAY_COLUMNS, days)),
        (f"cohort-{cohort['id']}-sessions-{stamp}.csv", _csv(SESSION_COLUMNS, sessions)),
    ]


def compose_export(db: Database, row: dict, now: datetime) -> Outgoing | None:
    """One of the two CSV files of /export, built now, if the clinician may still see the cohort."""
    payload = json.loads(row["payload"])
    allowed = _still_allowed(db, payload)
    if allowed is None:
        return None
    cohort = allowed[0]
    days, sessions = export_files(db, cohort, now)
    name, data = days if payload["part"] == "days" else sessions
    return Outgoing(
        render("clinic_export_file", cohort=cohort, part=payload["part"]), document=(name, data)
    )


def qr_png(link: str) -> bytes:
    """A QR code of the link, large enough to print on a waiting-room poster."""
    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=12, border=4)
    return buffer.getvalue()


def compose_qr(row: dict) -> Outgoing:
    """The enrolment link as a QR code image (a PNG file, sharp enough to print)."""
    payload = json.loads(row["payload"])
    return Outgoing(
        payload["caption"],
        document=(f"cohort-{payload['cohort_id']}-qr.png", qr_png(payload["link"])),
    )


# --- enrolment -------------------------------------------------------------------------------

SHARING_CONSENT = "clinic_sharing"
# 2: the offer also lists pauses and holds, and the lessons received (issue 16's /patient).
SHARING_VERSION = 2
DETAILED_SHARING = 2


def shares_detail(db: Database, patient_id: int) -> bool:
    """Did this member agree to an offer that lists pauses and lessons (version 2 on)? Members
    who joined under the first text are shown only what it listed."""
    consent = consents.current(db, patient_id, SHARING_CONSENT)
    return consent is not None and consent["version"] >= DETAILED_SHARING


def enrol(
    db: Database, patient: dict, offer: dict, now: datetime, *, new_course: bool = False
) -> int:
    """A set-up patient who accepted a cohort's offer becomes a member: the consent (the hash of
    the exact text they saw) and the membership. Someone whose course starts now (they just set
    up) follows a fixed cohort's start date; someone already on the course keeps their own."""
    cohort = clinics.cohort(db, offer["cohort_id"])
    if cohort is None:  # the offer's foreign key: cannot happen
        raise LookupError(f"cohort {offer['cohort_id']} does not exist")
    consent_id = consents.give(
        db, patient["id"], SHARING_CONSENT, SHARING_VERSION, offer["terms_hash"], now
    )
    membership_id = clinics.join(
        db,
        cohort_id=cohort["id"],
        patient_id=patient["id"],
        consent_id=consent_id,
        offer_id=offer["id"],
        now=now,
    )
    today = local_date(now, zone(patient["timezone"]))
    if clinics.course_over(cohort["start_date"], today):  # they follow their own 12 weeks
        clinics.set_own_course(db, membership_id)
    elif cohort["start_date"] and new_course:
        patients.set_course_start(db, patient["id"], cohort["start_date"])
    events.record(
        db, now, "cohort_joined", patient["id"], cohort=cohort["id"], membership=membership_id
    )
    reports = sign_reports(db, patient["id"])
    if reports["emergency"]:
        alert(db, patient, "red_flag", now)  # reported while setting up, before they joined
    if reports["soon"] and now - reports["soon"][-1] <= SOON_EPISODE:
        alert(db, patient, "red_flag_soon", now)
    return membership_id


def enrol_waiting(db: Database, patient: dict, now: datetime) -> list[dict]:
    """At the end of set-up: the cohort offers accepted before it (the latest one counts)."""
    waiting = clinics.accepted_offers_waiting(db, patient["user_id"])
    if not waiting or clinics.membership(db, patient["id"]) is not None:
        return []
    enrol(db, patient, waiting[-1], now, new_course=True)
    cohort = clinics.cohort(db, waiting[-1]["cohort_id"])
    return [cohort] if cohort is not None else []


# --- alerts ----------------------------------------------------------------------------------

URGENT = alerts.URGENT  # told at once; the others wait for the clinic's working hours
BATCH_BUTTONS = 40  # flags with their own Acknowledge / Resolve row in one batch message


def working_time(now: datetime, place: dict) -> datetime:
    """`now` if it falls in the clinic's working hours (default Mon-Fri 08:00-18:00 clinic
    time), else the start of the next working period."""
    tz = zone(place["clinic_timezone"] if "clinic_timezone" in place else place["timezone"])
    days = {int(d) for d in str(place.get("work_days") or "0,1,2,3,4").split(",") if d.strip()}
    start = time.fromisoformat(place.get("work_from") or "08:00")
    end = time.fromisoformat(place.get("work_to") or "18:00")
    day = local_date(now, tz)
    for _ in range(8):
        if day.weekday() in days:
            opens, closes = local_to_utc(day, start, tz), local_to_utc(day, end, tz)
            if opens <= now < closes:
                return now
            if now < opens:
                return opens
        day += timedelta(days=1)
    return now  # no working day at all: never hold an alert back


def alert(db: Database, patient: dict, what: str, now: datetime) -> int:
    """A flag about a clinic's patient (`ALERT_KINDS`). It opens an
    episode; the clinic is told once, when it opens, and not again until it is resolved or 14
    days pass. Urgent kinds go at once; the others wait for the clinic's working hours and go
    together. Only the cohort's responsible clinicians are told (all active ones if it named
    none). `red_flag_seen` resolves the open emergency-sign episode and tells its clinicians.

    Returns how many active clinicians a message was queued for: 0 means nobody at the clinic
    will hear of it, so the patient must not be told otherwise. The text names the flag only."""
    if what not in ALERT_KINDS:
        raise ValueError(what)
    if what == "red_flag_seen":
        return _seen(db, patient, now)
    member = clinics.membership(db, patient["id"])
    if member is None or patient.get("status") == "withdrawn":
        return 0
    staff = clinics.alert_recipients(db, patient["id"])
    place = clinics.clinic(db, member["clinic_id"]) or {}
    urgent = what in URGENT
    notify_at = now if urgent or not place else working_time(now, place)
    episode_id = alerts.open_episode(
        db,
        patient_id=patient["id"],
        cohort_id=member["cohort_id"],
        clinic_id=member["clinic_id"],
        kind=what,
        now=now,
        notify_at=notify_at,
        recipients=[s["id"] for s in staff],
    )
    if episode_id is None:
        return 0  # the episode is already open: told when it began
    events.record(db, now, "alert_episode_opened", patient["id"], episode=episode_id, flag=what)
    queued = 0
    for person in staff:
        if urgent:
            row = outbox.enqueue(
                db,
                chat_id=person["chat_id"],
                patient_id=patient["id"],
                kind="alert_clinician",
                due_at=now,
                now=now,
                dedupe_key=f"alert_clinician:{person['id']}:e{episode_id}",
                payload={
                    "clinician_id": person["id"],
                    "cohort_id": member["cohort_id"],
                    "alert": what,
                    "episode_id": episode_id,
                },
            )
        else:
            row = outbox.enqueue(
                db,
                chat_id=person["chat_id"],
                kind="alert_batch",
                due_at=notify_at,
                now=now,
                dedupe_key=f"alert_batch:{person['id']}:{iso(notify_at)}",
                payload={
                    "clinician_id": person["id"],
                    "clinic_id": member["clinic_id"],
                    "notify_at": iso(notify_at),
                },
            )
        queued += 1 if row is not None or not urgent else 0
    return queued


def _seen(db: Database, patient: dict, now: datetime) -> int:
    """ "I have been seen": the open emergency-sign episode is resolved (`seen`) and the
    clinicians told of it hear so at once (the latest episode's, if a clinician closed it)."""
    closed = alerts.resolve_open(db, patient["id"], "red_flag", now, "seen")
    episode = closed[-1] if closed else alerts.latest(db, patient["id"], "red_flag")
    member = clinics.membership(db, patient["id"])
    if episode is None or member is None:
        return 0
    if closed:
        events.record(
            db, now, "alert_episode_resolved", patient["id"], episode=episode["id"], how="seen"
        )
    active = {s["id"]: s for s in clinics.watchers(db, patient["id"])}
    queued = 0
    for staff_id in alerts.recipients(episode):
        person = active.get(staff_id)
        if person is None:
            continue
        if outbox.enqueue(
            db,
            chat_id=person["chat_id"],
            patient_id=patient["id"],
            kind="alert_clinician",
            due_at=now,
            now=now,
            dedupe_key=f"alert_clinician:{staff_id}:e{episode['id']}:seen:{iso(now)}",
            payload={
                "clinician_id": staff_id,
                "cohort_id": member["cohort_id"],
                "alert": "red_flag_seen",
                "episode_id": episode["id"],
            },
        ):
            queued += 1
    return queued


def check_rise(db: Database, patient: dict, now: datetime) -> dict | None:
    """After a rating: a sustained rise (docs/clinical-rules.md; at least 3 ratings in each
    window) is noticed once a week. Returns the membership when the clinic will be told (an
    active clinician was queued the alert), {} when the patient should be told without naming a
    clinic, or None when there is nothing to say."""
    line = patient_line(db, patient, now)
    if "rise" not in line.figures.flags:
        return None
    year, number = line.today.isocalendar()[:2]
    week = f"{year}-W{number:02d}"
    if any(
        e["data"].get("week") == week for e in events.for_patient(db, patient["id"], "rise_noticed")
    ):
        return None
    events.record(db, now, "rise_noticed", patient["id"], week=week)
    told = alert(db, patient, "rise", now)
    if told == 0:
        return {}  # nobody at the clinic gets it (or they were told already): no promise
    return clinics.membership(db, patient["id"]) or {}


def _still_allowed(db: Database, payload: dict) -> tuple[dict, dict] | None:
    """(cohort, clinician) while the clinician is active and may see the cohort, else None."""
    staff = clinics.clinician(db, payload["clinician_id"])
    if staff is None or staff["removed_at"]:
        return None
    return clinics.cohort_for(db, payload["cohort_id"], staff["user_id"])


def _episode_view(db: Database, episode: dict, patient: dict, now: datetime) -> dict:
    """What an alert shows of an episode: the member's label, the patient's local date it
    opened, its state and who acknowledged or resolved it."""
    tz = zone(patient["timezone"] or "UTC")
    member = clinics.membership(db, patient["id"]) or {}
    by = {
        f: clinics.clinician(db, episode[f]) if episode.get(f) else None
        for f in ("acknowledged_by", "resolved_by")
    }
    return {
        "id": episode["id"],
        "kind": episode["kind"],
        "kind_text": render("clinic_alert_kind", kind=episode["kind"]),
        "state": episode["state"],
        "label": clinics.member_label({**patient, "reference": member.get("reference")}),
        "patient_id": patient["id"],
        "opened": local_date(parse_iso(episode["opened_at"]), tz).isoformat(),
        "acknowledged_by": (by["acknowledged_by"] or {}).get("first_name"),
        "resolved_by": (by["resolved_by"] or {}).get("first_name"),
        "resolved_how": episode.get("resolved_how"),
    }


def patient_flags(db: Database, patient: dict, now: datetime) -> list[dict]:
    """For the roster, digest and /patient (task G): every alert episode of this member, newest
    first, as shown in alerts: `kind`, `kind_text`, `opened` (their local date), `state` (open,
    acknowledged, resolved), `acknowledged_by` / `resolved_by` (first names), `resolved_how`
    (clinician, seen, expired) and `on_hold` (their prompts are on hold after a warning sign)."""
    views = []
    for episode in alerts.for_patient(db, patient["id"]):
        view = _episode_view(db, episode, patient, now)
        view["on_hold"] = patient["status"] == "hold"
        views.append(view)
    return views


def episode_buttons(episode: dict, name: str | None = None) -> list[list[tuple[str, str]]]:
    """Acknowledge / Resolve under an alert (none once it is resolved)."""
    if episode["state"] == "resolved":
        return []
    suffix = f" {name}" if name else ""
    row = []
    if episode["state"] == "open":
        row.append((label("alert_ack") + suffix, encode("al", "a", episode["id"])))
    row.append((label("alert_resolve") + suffix, encode("al", "r", episode["id"])))
    return [row]


def compose_alert(db: Database, row: dict, patient: dict | None) -> Outgoing | None:
    payload = json.loads(row["payload"])
    allowed = _still_allowed(db, payload)
    member = clinics.membership(db, patient["id"]) if patient else None
    if (
        patient is None
        or allowed is None
        or member is None
        or member["cohort_id"] != payload["cohort_id"]
        or patient["status"] == "withdrawn"
    ):
        return None  # removed clinician, or the patient left: nothing about them goes out
    episode = alerts.get(db, payload["episode_id"]) if payload.get("episode_id") else None
    view = _episode_view(db, episode, patient, row_time(row)) if episode else None
    return Outgoing(
        render(
            "clinic_alert",
            alert=payload["alert"],
            name=clinics.member_label({**patient, "reference": member.get("reference")}),
            patient_id=patient["id"],
            cohort=allowed[0],
            episode=view,
            on_hold=patient["status"] == "hold",
        ),
        episode_buttons(episode) if episode and payload["alert"] != "red_flag_seen" else [],
    )


def row_time(row: dict) -> datetime:
    return parse_iso(row["created_at"])


def compose_alert_batch(db: Database, row: dict, now: datetime) -> Outgoing | None:
    """The non-urgent episodes of one working-hours slot for one clinician, in one message:
    only those they were told of, of patients still in a cohort they may see, not resolved."""
    payload = json.loads(row["payload"])
    staff = clinics.clinician(db, payload["clinician_id"])
    if staff is None or staff["removed_at"]:
        return None
    items, buttons = [], []
    for episode in alerts.batch(db, payload["clinic_id"], payload["notify_at"]):
        if staff["id"] not in alerts.recipients(episode) or episode["state"] == "resolved":
            continue
        if clinics.cohort_for(db, episode["cohort_id"], staff["user_id"]) is None:
            continue
        patient = patients.get(db, episode["patient_id"])
        member = clinics.membership(db, episode["patient_id"])
        if patient is None or member is None or member["cohort_id"] != episode["cohort_id"]:
            continue
        if patient["status"] == "withdrawn":
            continue
        view = _episode_view(db, episode, patient, now)
        view["cohort_name"] = member["cohort_name"]
        view["on_hold"] = patient["status"] == "hold"
        items.append(view)
        if len(items) <= BATCH_BUTTONS:  # Telegram allows 100 buttons; the rest via the roster
            buttons += episode_buttons(episode, f"#{patient['id']}")
    if not items:
        return None
    return Outgoing(render("clinic_alert_batch", items=items), buttons)


def compose_update(db: Database, row: dict) -> Outgoing | None:
    """A colleague's acknowledgement or resolution, or a patient's relayed answer: written when
    queued, sent only while the clinician may still see that cohort."""
    payload = json.loads(row["payload"])
    if _still_allowed(db, payload) is None:
        return None
    return Outgoing.from_payload(payload)


def compose_clinic_message(db: Database, row: dict, patient: dict | None) -> Outgoing | None:
    """A clinician's message, only while the patient is still in that clinic's cohort."""
    payload = json.loads(row["payload"])
    member = clinics.membership(db, patient["id"]) if patient else None
    if patient is None or member is None or member["cohort_id"] != payload["cohort_id"]:
        return None
    return Outgoing.from_payload(payload)


def check_quiet(db: Database, now: datetime) -> int:
    """The plan tick: members of cohorts with a `quiet_days` setting who have answered nothing
    for that many days (since their last answer, or their joining) open a `quiet` episode; an
    answer ends it, and a `blocked` episode ends once the patient can be reached again."""
    with db.atomic():  # a patient who blocked the bot and came back is reachable again
        for episode in alerts.unresolved(db, "blocked"):
            patient = patients.get(db, episode["patient_id"])
            if patient is not None and patient["status"] in ("active", "paused", "hold"):
                alerts.resolve(db, episode["id"], now, how="reachable")
    opened = 0
    for cohort_row in clinics.quiet_cohorts(db):
        days = int(cohort_row["quiet_days"])
        for patient in clinics.members(db, cohort_row["id"]):
            if patient["status"] != "active":
                continue  # paused or on hold: quiet on purpose (the roster shows it)
            try:
                with db.atomic():
                    answers = checkins_store.last_answer_times(db, patient["id"])
                    moments = [parse_iso(t) for t in answers] + [parse_iso(patient["joined_at"])]
                    if now - max(moments) >= timedelta(days=days):
                        opened += 1 if alert(db, patient, "quiet", now) else 0
                    else:  # answering again ends a quiet spell
                        alerts.resolve_open(db, patient["id"], "quiet", now, "answered")
            except Exception as exc:  # noqa: BLE001 - one person's bad data must not stop others
                log.error(
                    "skipped one patient's quiet check",
                    extra={"stage": "quiet", "error": type(exc).__name__, "patient": patient["id"]},
                )
    return opened


def alert_setting_change(what: str, rest: list[str]) -> tuple[dict, str | None] | None:
    """`/cohort_set ID responsible 3,4|all` (clinician numbers from `clinic list`; only they get
    this cohort's alerts, the others the digest) and `quiet N|off` (tell the clinic when a member
    has answered nothing for N days, 2-60). The column change, or a problem; None: not ours."""
    if what == "responsible" and len(rest) == 1:
        if rest[0].lower() in ("all", "default", "-"):
            return {"responsible": None}, None
        ids = [p.strip().lstrip("#") for p in rest[0].split(",")]
        if not all(p.isascii() and p.isdecimal() and len(p) < 10 for p in ids):
            return {}, "usage"
        return {"responsible": json.dumps(sorted({int(p) for p in ids}))}, None
    if what == "quiet" and len(rest) == 1:
        if rest[0].lower() in ("off", "default", "-"):
            return {"quiet_days": None}, None
        if rest[0].isascii() and rest[0].isdecimal() and 2 <= int(rest[0]) <= 60:
            return {"quiet_days": int(rest[0])}, None
        return {}, "usage"
    return None


# --- the Monday digest -----------------------------------------------------------------------


def digest_items(db: Database, now: datetime, horizon: datetime) -> list[dict]:
    """Rows to queue: each active clinician, for each cohort of their clinic, on Monday 08:00."""
    items = []
    for staff in clinics.active_clinicians(db):
        try:
            items += _digest_items_of(db, staff, now, horizon)
        except Exception as exc:  # noqa: BLE001 - one clinic's bad data must not stop the others
            log.error(
                "skipped one clinician: their clinic's stored data could not be handled",
                extra={
                    "stage": "digests",
                    "error": type(exc).__name__,
                    "clinician": staff["id"],
                    "clinic": staff["clinic_id"],
                },
            )
    return items


def _digest_items_of(db: Database, staff: dict, now: datetime, horizon: datetime) -> list[dict]:
    items = []
    tz = zone(staff["clinic_timezone"])
    day = local_date(now, tz)
    while day <= local_date(horizon, tz):
        due = local_to_utc(day, DIGEST_AT, tz)
        if day.weekday() == DIGEST_DAY and now <= due < horizon:
            for cohort_id in clinics.cohort_ids(db, staff["clinic_id"]):
                items.append(
                    {
                        "chat_id": staff["chat_id"],
                        "due_at": due,
                        "dedupe_key": f"digest:{cohort_id}:{staff['id']}:{day}",
                        "payload": {
                            "clinician_id": staff["id"],
                            "cohort_id": cohort_id,
                            "week_end": (day - timedelta(days=1)).isoformat(),
                        },
                    }
                )
        day += timedelta(days=1)
    return items


def plan_digests(db: Database, now: datetime, horizon: datetime) -> int:
    added = 0
    with db.atomic():
        for item in digest_items(db, now, horizon):
            if outbox.enqueue(
                db,
                chat_id=item["chat_id"],
                patient_id=None,
                kind="digest",
                due_at=item["due_at"],
                dedupe_key=item["dedupe_key"],
                payload=item["payload"],
                now=now,
            ):
                added += 1
    return added


@dataclass(frozen=True)
class DigestLine:
    """One member in the digest: their figures now, and the named week's."""

    line: Line
    week: roster.Adherence  # check-ins answered of the week's days on the course
    change: float | None  # the week's mean pain minus their first week's
    new: tuple[str, ...]  # flags that began during the week


def _week_window(week_end: date, tz) -> tuple[str, str]:
    """[Monday 00:00, the next Monday 00:00) of the week ending `week_end`, as stored times."""
    return (
        iso(local_to_utc(week_end - timedelta(days=6), time(0), tz)),
        iso(local_to_utc(week_end + timedelta(days=1), time(0), tz)),
    )


def new_flags(line: Line, week: tuple[date, date]) -> tuple[str, ...]:
    """The flags whose first day falls in the week: a sign reported, a rise first noticed,
    the third quiet day, the bot blocked (the day the patient row last changed)."""
    f, first, last = line.figures, week[0], week[1]
    began: dict[str, date | None] = {
        "red_flag": f.flag_dates.get("red_flag"),
        "soon_sign": f.flag_dates.get("soon_sign"),
        "rise": f.flag_dates.get("rise"),
    }
    if "inactive" in f.flags:
        quiet_from = (
            line.today - timedelta(days=f.days_since_answer)
            if f.days_since_answer is not None
            else line.start
        )
        began["inactive"] = quiet_from + timedelta(days=roster.INACTIVE_DAYS)
    if "blocked" in f.flags and line.patient.get("updated_at"):
        tz = zone(line.patient["timezone"])
        began["blocked"] = local_date(parse_iso(line.patient["updated_at"]), tz)
    return tuple(
        flag for flag in f.flags if (day := began.get(flag)) is not None and first <= day <= last
    )


def _counted_from(line: Line) -> date:
    """The first day the digest counts: the first asked, or the start if rated that day."""
    if line.asked_from is None or line.start in line.ratings:
        return line.start
    return max(line.start, line.asked_from)


def digest_lines(db: Database, cohort: dict, week_end: date, now: datetime) -> list[DigestLine]:
    """The members who had joined by the end of the week, with that week's figures."""
    _, until = _week_window(week_end, zone(cohort["clinic_timezone"]))
    week = (week_end - timedelta(days=6), week_end)
    found = []
    for line in flagged_first(cohort_lines(db, cohort["id"], now)):
        if line.patient["joined_at"] >= until:
            continue  # joined after the week: in next week's digest
        answered = {d for d in line.ratings if line.start <= d}
        figures = week_figures(line.ratings, week_end, line.start, [], 0, 0)
        found.append(
            DigestLine(
                line,
                roster.week_adherence(answered, _counted_from(line), line.today, week),
                figures.change_vs_first,
                new_flags(line, week),
            )
        )
    return found


def compose_digest(db: Database, row: dict, now: datetime) -> Outgoing | None:
    """The Monday digest of the week that ended on Sunday (`week_end`): exactly that week's
    check-ins, joins and departures; flagged patients with new flags marked. None for a cohort
    with no one in it that week."""
    payload = json.loads(row["payload"])
    allowed = _still_allowed(db, payload)
    if allowed is None:
        return None
    cohort = allowed[0]
    week_end = date.fromisoformat(payload["week_end"])
    since, until = _week_window(week_end, zone(cohort["clinic_timezone"]))
    lines = digest_lines(db, cohort, week_end, now)
    joined, left = clinics.joined_and_left_between(db, cohort["id"], since, until)
    if not lines and not left:
        return None  # an empty cohort: nothing to read
    changes = [d.change for d in lines if d.change is not None]
    summary = roster.CohortFigures(
        members=len(lines),
        flagged=sum(1 for d in lines if d.line.figures.flags),
        answered=sum(d.week.answered for d in lines),
        possible=sum(d.week.days for d in lines),
        changed=len(changes),
        mean_change=round(sum(changes) / len(changes), 1) if changes else None,
        improved=sum(1 for c in changes if c <= -roster.IMPROVED_BY),
    )
    return Outgoing(
        render(
            "clinic_digest",
            cohort=cohort,
            week_label=f"{human_date(week_end - timedelta(days=6))} to {human_date(week_end)}",
            total=len(lines),
            joined=joined,
            left=left,
            answered=summary.answered,
            possible=summary.possible,
            summary=summary,
            flagged=[d for d in lines if d.line.figures.flags],
            new=sum(1 for d in lines if d.new),
        )
    )


# --- one patient: /patient ID ----------------------------------------------------------------

TIMELINE_DAYS = 28  # the per-patient view's timeline: the last four weeks
# Events of the audit log a clinician sees in the timeline, in their words.
TIMELINE_EVENTS = {
    "red_flag_seen": "said a doctor has seen them",
    "hold_lifted": "hold lifted: a doctor said they may carry on",
    "red_flag_mistake": "hold lifted: the sign was reported by mistake",
    "hold_kept": "stays on hold (not yet cleared)",
    "prompts_paused": "paused their prompts",
    "prompts_resumed": "resumed their prompts",
    "rise_noticed": "pain rise noticed",
    "cohort_joined": "joined the cohort",
}
DETAILED_EVENTS = ("prompts_paused", "prompts_resumed")  # shown under DETAILED_SHARING only
SIGN_WORDS = {"emergency": "emergency warning sign", "soon": "see-doctor sign"}


def patient_for(db: Database, patient_id: int, user_id: int) -> tuple[dict, dict, dict] | None:
    """(patient, membership, cohort) if this user is an active clinician of the clinic whose
    cohort the patient is in now; else None: a patient of another clinic, of no clinic, one who
    left or withdrew, and one that does not exist are all the same answer."""
    patient = patients.get(db, patient_id)
    if patient is None or patient["status"] == "withdrawn":
        return None
    member = clinics.membership(db, patient_id)
    if member is None:
        return None
    found = clinics.cohort_for(db, member["cohort_id"], user_id)
    return (patient, member, found[0]) if found else None


def timeline(db: Database, patient: dict, now: datetime, detailed: bool = True) -> list[dict]:
    """The last TIMELINE_DAYS local days, oldest first: each {"day", "items"} with the check-in
    (rating, missed or none), sessions and their decisions, warning signs, holds, and, when the
    patient agreed to share them (`detailed`), pauses and lessons; in plain words (escaped by
    the template)."""
    tz = zone(patient["timezone"])
    today = local_date(now, tz)
    first = max(today - timedelta(days=TIMELINE_DAYS - 1), _start(patient, today))
    items: dict[date, list[str]] = {}

    def add(day: date, text: str) -> None:
        if first <= day <= today:
            items.setdefault(day, []).append(text)

    checks = {r["local_date"]: r for r in checkins_store.all_of(db, patient["id"])}
    for s in sessions_store.with_activity_names(db, patient["id"]):
        started = local_date(parse_iso(s["started_at"]), tz)
        minutes = f" {s['dose_minutes']} min" if s.get("dose_minutes") else ""
        outcome = s["verdict"] if s["stage"] == "decided" and s["verdict"] else s["stage"]
        add(started, f"{s['activity']}{minutes}: {outcome}")
    for level, moments in sign_reports(db, patient["id"]).items():
        for moment in moments:
            add(local_date(moment, tz), f"⚠️ {SIGN_WORDS[level]} reported")
    for e in events.for_patient(db, patient["id"]):
        if e["kind"] in TIMELINE_EVENTS and (detailed or e["kind"] not in DETAILED_EVENTS):
            add(local_date(parse_iso(e["at"]), tz), TIMELINE_EVENTS[e["kind"]])
    titles = {lesson.id: lesson.title for lesson in default_course()}
    for lesson_id, row in lessons_store.received(db, patient["id"]).items() if detailed else ():
        title = titles.get(lesson_id, lesson_id)
        add(local_date(parse_iso(row["sent_at"]), tz), f"lesson: {title}")
    days = []
    day = first
    while day <= today:
        check = checks.get(day.isoformat())
        if check and check["status"] == "answered" and check["pain"] is not None:
            rating = f"pain {check['pain']}"
        elif check and check["status"] == "missed":
            rating = "check-in missed"
        else:
            rating = "no check-in"
        days.append({"day": human_date(day), "items": [rating, *items.get(day, [])]})
        day += timedelta(days=1)
    return days


def patient_view(db: Database, patient: dict, member: dict, cohort: dict, now: datetime) -> str:
    """The text of /patient: who, where they stand, their flags, and the 4-week timeline."""
    line = patient_line(db, patient, now)
    detailed = shares_detail(db, patient["id"])
    status = patient["status"]
    return render(
        "clinic_patient",
        line=line,
        cohort=cohort,
        ref=member.get("ref"),
        started=human_date(line.start, year=True),
        status=status if detailed or status != "paused" else "active",
        states=line.figures.flag_states,
        days=timeline(db, patient, now, detailed),
    )


def patient_chart(db: Database, patient: dict, now: datetime) -> dict:
    """The clinician's chart of one patient: the whole course so far, sessions and signs."""
    tz = zone(patient["timezone"])
    today = local_date(now, tz)
    marks = [
        (local_date(parse_iso(r["started_at"]), tz), r["verdict"])
        for r in sessions_store.decided(db, patient["id"])
    ]
    signs = [
        (local_date(moment, tz), level)
        for level, moments in sign_reports(db, patient["id"]).items()
        for moment in moments
    ]
    return chart.spec(
        ratings_by_day(db, patient["id"], today),
        marks,
        f"{patient['first_name'] or 'Patient'} #{patient['id']}: daily pain",
        flags=signs,
        whose=f"{patient['first_name'] or 'the patient'}'s",
    )


def compose_patient_chart(db: Database, row: dict, now: datetime) -> Outgoing | None:
    """The chart of /patient, drawn when sent, if the clinician may still see this patient."""
    payload = json.loads(row["payload"])
    staff = clinics.clinician(db, payload["clinician_id"])
    if staff is None or staff["removed_at"]:
        return None
    found = patient_for(db, payload["patient_id"], staff["user_id"])
    if found is None:
        return None
    spec = patient_chart(db, found[0], now)
    # The caption is Telegram HTML: the name in it escaped (an apostrophe stays as typed).
    return Outgoing(html.escape(chart.alt_text(spec), quote=False), chart=spec)
