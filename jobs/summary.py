"""Weekly summaries: planned per person (their local summary day and time) and per consenting
caregiver (the first such local time in the caregiver's own zone at or after the patient's), the
figures computed from the stored answers when the message is sent, and the chart for the patient.

A caregiver's copy has no day-by-day ratings and nothing the patient typed; the chart, which plots
each day's rating, goes to the patient only.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from sqlite_utils import Database

from bot import chart
from bot.clock import iso, parse_iso
from bot.rules import weekly
from bot.rules.localtime import local_date, local_to_utc, parse_hhmm, zone
from bot.rules.outcomes import grc_words
from bot.rules.schedule import WEEKDAYS, Planned
from messages import Outgoing, render
from storage import caregivers, checkins, events, outbox, sessions, sitting
from storage import lessons as lesson_store
from storage import outcomes as outcome_store

CHART_TITLE = "Your pain so far"


def summary_items(
    db: Database, patient: dict, now: datetime, horizon: datetime, carers: list[dict] | None = None
) -> list[Planned]:
    """The patient's weekly summary due in [now, horizon), and each caregiver's copy of it.

    `carers`: the patient's active caregivers, if the caller has read them already (the planner
    reads a batch's at once)."""
    if carers is None:
        carers = caregivers.active_for_patient(db, patient["id"])
    tz = zone(patient["timezone"])
    at = parse_hhmm(patient["summary_time"])
    items = []
    day = local_date(now - timedelta(days=2), tz)  # caregivers' copies may trail by up to a day
    while day <= local_date(horizon, tz):
        if WEEKDAYS[day.weekday()] == patient["summary_day"]:
            due = local_to_utc(day, at, tz)
            if now <= due < horizon:
                items.append(
                    Planned(
                        "summary",
                        due,
                        f"summary:{patient['id']}:{day}",
                        {"week_end": day.isoformat()},
                    )
                )
            for carer in carers:
                carer_due = caregiver_due(due, at, carer["timezone"])
                if now <= carer_due < horizon:
                    items.append(
                        Planned(
                            "summary_caregiver",
                            carer_due,
                            f"summary_caregiver:{carer['id']}:{day}",
                            {
                                "week_end": day.isoformat(),
                                "caregiver_id": carer["id"],
                                "chat_id": carer["chat_id"],
                            },
                        )
                    )
        day += timedelta(days=1)
    return items


def caregiver_due(patient_due: datetime, at, tz_name: str) -> datetime:
    """The first time it is `at` in the caregiver's zone at or after the patient's summary."""
    tz = zone(tz_name)
    day = local_date(patient_due, tz)
    due = local_to_utc(day, at, tz)
    return due if due >= patient_due else local_to_utc(day + timedelta(days=1), at, tz)


def ratings_by_day(db: Database, patient_id: int, until: date) -> dict[date, int]:
    return {
        date.fromisoformat(r["local_date"]): r["pain"]
        for r in checkins.ratings_until(db, patient_id, until.isoformat())
    }


def _in_week(moment: str | None, tz, week: list[date]) -> bool:
    return moment is not None and local_date(parse_iso(moment), tz) in week


# The events that turn prompts off and on (jobs.prompts, /pause, /resume, a hold and its end).
PAUSE_STARTS = ("prompts_paused", "paused")
PAUSE_ENDS = ("prompts_resumed", "resumed", "reactivated", "pause_ended")
HOLD_ENDS = ("hold_lifted", "red_flag_mistake")


def unavailable_spans(db: Database, patient: dict) -> list[weekly.Span]:
    """When the person could not be asked a check-in: before set-up ended, while paused, while on
    hold after an emergency sign. Read from the events log (dated), oldest first."""
    pid = patient["id"]
    rows = sorted(
        (
            row
            for kind in (*PAUSE_STARTS, *PAUSE_ENDS, *HOLD_ENDS, "red_flag", "onboarded")
            for row in events.for_patient(db, pid, kind)
        ),
        key=lambda r: r["id"],
    )
    spans: list[weekly.Span] = []
    paused_at: datetime | None = None
    held_at: datetime | None = None

    def close(since: datetime | None, until: datetime) -> None:
        if since is not None:
            spans.append((since, until))

    tz = zone(patient["timezone"])
    pause_until: datetime | None = None  # a pause chosen for a while ends by itself
    for row in rows:
        at, kind = parse_iso(row["at"]), row["kind"]
        if paused_at is not None and pause_until is not None and pause_until <= at:
            close(paused_at, pause_until)
            paused_at = pause_until = None
        if kind == "onboarded":
            spans.append((None, at))
        elif kind in PAUSE_STARTS:
            paused_at = paused_at or at
            pause_until = _until(row["data"].get("until"), tz)
        elif kind == "red_flag" and row["data"].get("level") == "emergency":
            if row["data"].get("at") != "onboarding":
                held_at = held_at or at
        elif kind in HOLD_ENDS:
            close(held_at, at)
            held_at = None
        elif kind in PAUSE_ENDS:  # back to active: a pause and a hold both end
            close(paused_at, at)
            close(held_at, at)
            paused_at = held_at = pause_until = None
    status = patient.get("status")
    if paused_at is None and status == "paused" and patient.get("paused_from"):
        paused_at = parse_iso(patient["paused_from"])  # paused without an event (older rows)
    if paused_at is not None:
        spans.append((paused_at, pause_until))
    if held_at is not None:
        spans.append((held_at, None))
    return spans


def _until(value: object, tz) -> datetime | None:
    """A pause's end as an event may carry it: a stored UTC time, or a local date (its start)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        if "T" in value:
            return parse_iso(value)
        return local_to_utc(date.fromisoformat(value), time(0, 0), tz)
    except ValueError:
        return None


def possible_days(db: Database, patient: dict, week_end: date, start: date) -> list[date]:
    """The days of the week a check-in was asked of the person (see weekly.possible_days)."""
    tz = zone(patient["timezone"])
    week = weekly.week_days(week_end)
    at = parse_hhmm(patient.get("checkin_time") or "08:00")
    mode = patient.get("checkin_mode") or "daily"  # absent (or unknown): every day
    weekly_from = weekly_day = None
    if patient.get("course_state") == "maintenance" and patient.get("course_start"):
        course_start = date.fromisoformat(patient["course_start"])
        weekly_from, weekly_day = course_start + timedelta(weeks=12), course_start.weekday()
    return weekly.possible_days(
        week_end,
        start,
        off=weekly.days_off(unavailable_spans(db, patient), week, at, tz),
        weekdays=range(5) if mode == "weekdays" else None,
        weekly_from=weekly_from,
        weekly_day=weekly_day,
        checkins_off=mode == "off" or not patient.get("checkin_time"),
    )


def figures(db: Database, patient: dict, week_end: date) -> weekly.WeekFigures:
    tz = zone(patient["timezone"])
    week = weekly.week_days(week_end)
    verdicts = [
        r["verdict"]
        for r in sessions.decided(db, patient["id"])
        if _in_week(r["decided_at"], tz, week)
    ]
    breaks = sum(
        1 for day in sitting.break_dates(db, patient["id"]) if date.fromisoformat(day) in week
    )
    lessons = sum(1 for at in lesson_store.sent_times(db, patient["id"]) if _in_week(at, tz, week))
    start = date.fromisoformat(
        patient["start_date"] or patient["course_start"] or week[0].isoformat()
    )
    maintenance = patient.get("course_state") == "maintenance"
    return weekly.week_figures(
        ratings_by_day(db, patient["id"], week_end),
        week_end,
        start,
        verdicts,
        breaks,
        lessons,
        possible=possible_days(db, patient, week_end, start),
        weekly_checkin=maintenance and bool(patient.get("course_start")),
    )


def sitting_on(patient: dict) -> bool:
    """Sitting breaks are set up (days and hours chosen); off, the summary leaves them out."""
    return bool(patient["sitting_days"] and patient["sitting_from"] and patient["sitting_to"])


def compose_summary(db: Database, row: dict, patient: dict) -> Outgoing | None:
    payload = json.loads(row["payload"])
    week_end = date.fromisoformat(payload["week_end"])
    found = figures(db, patient, week_end)
    meta = {"recipient": "patient", "figures": found.as_dict()}
    if row["kind"] == "summary":
        said = outcome_store.latest_grc(db, patient["id"])  # issue 17: the weekly change
        text = render(
            "summary",
            f=found,
            name=patient["first_name"],
            caregiver=False,
            sitting=sitting_on(patient),
            last_said=grc_words(said["value"]) if said else None,
        )
        return Outgoing(text, meta=meta)
    if patient["status"] == "withdrawn":
        return None  # the patient withdrew consent: no copy goes out, even if already planned
    carer = caregivers.get(db, payload["caregiver_id"])
    if carer is None or carer["ended_at"] is not None or carer["patient_id"] != patient["id"]:
        return None  # consent withdrawn or revoked: nothing goes out, even if already planned
    text = render(
        "summary",
        f=found,
        name=patient["first_name"],
        caregiver=True,
        carer_name=carer["first_name"],
        sitting=sitting_on(patient),
    )
    return Outgoing(text, meta={**meta, "recipient": f"caregiver:{carer['id']}"})


def compose_chart(db: Database, row: dict, patient: dict) -> Outgoing:
    """The chart of daily pain since the start, sessions marked; its alt text is the caption."""
    week_end = date.fromisoformat(json.loads(row["payload"])["week_end"])
    tz = zone(patient["timezone"])
    marks = [
        (local_date(parse_iso(r["started_at"]), tz), r["verdict"])
        for r in sessions.decided(db, patient["id"])
    ]
    signs = [
        (local_date(parse_iso(r["at"]), tz), r["level"])
        for r in events.red_flag_reports(db, patient["id"])
    ]
    spec = chart.spec(
        ratings_by_day(db, patient["id"], week_end),
        [m for m in marks if m[0] <= week_end],
        CHART_TITLE,
        flags=[s for s in signs if s[0] <= week_end],
    )
    return Outgoing(chart.alt_text(spec), chart=spec)


def after_summary_sent(db: Database, row: dict, now: datetime) -> None:
    """The patient's summary is followed at once by its chart (a photo of its own)."""
    payload = json.loads(row["payload"])
    outbox.enqueue(
        db,
        chat_id=row["chat_id"],
        patient_id=row["patient_id"],
        kind="chart",
        due_at=now,
        now=now,
        dedupe_key=f"chart:{row['patient_id']}:{payload['week_end']}",
        payload={"week_end": payload["week_end"]},
    )


def alert_caregivers(
    db: Database,
    patient: dict,
    now: datetime,
    *,
    template: str = "caregiver_alert",
    key: str = "alert_caregiver",
) -> int:
    """A red flag reported (or, with `template`, the patient seen by a doctor): caregivers who
    chose alerts are told, with no words of the patient's, once per report."""
    sent = 0
    for carer in caregivers.active_for_patient(db, patient["id"]):
        if carer["alerts"] and outbox.enqueue(
            db,
            chat_id=carer["chat_id"],
            patient_id=patient["id"],
            kind="alert_caregiver",
            due_at=now,
            now=now,
            dedupe_key=f"{key}:{carer['id']}:{iso(now)}",
            payload={
                "caregiver_id": carer["id"],
                "text": render(template, name=patient["first_name"]),
            },
        ):
            sent += 1
    return sent


def alert_caregivers_seen(db: Database, patient: dict, now: datetime) -> int:
    """The patient says a doctor has seen them: caregivers who chose alerts are told."""
    return alert_caregivers(
        db, patient, now, template="caregiver_seen_alert", key="alert_caregiver_seen"
    )
