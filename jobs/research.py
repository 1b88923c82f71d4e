"""The research export (issue 17): long-format CSV files and their data dictionary.

    python -m jobs.research            write docs/data-dictionary.md from FILES
    python -m jobs.research --check    exit 1 if docs/data-dictionary.md is out of date (CI)

FILES is the one definition: which files there are, their columns in order, each column's type,
unit, allowed values and meaning. `build` fills exactly these columns and the dictionary page is
generated from it, so the two cannot drift apart.

Who is in it: the cohort's current members only (a person who left, withdrew consent or was
deleted is absent from every file), by study id; names only with `with_names`. Each person's
rows run from their course start to the last day of week 12, or to the export date if that comes
first, never past either; `since` / `until` narrow that window (local dates of the person).
Pauses and lessons are included only for members who agreed that the clinic may see them (the
sharing offer of version 2 on, as in /patient).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from bot.clock import parse_iso
from bot.course import default_course
from bot.rules.course_plan import WEEKS, course_end
from bot.rules.localtime import local_date, zone
from jobs.clinic import _still_allowed, shares_detail
from messages import Outgoing, render
from storage import clinics
from storage import research as store

ROOT = Path(__file__).resolve().parent.parent
DICTIONARY = ROOT / "docs" / "data-dictionary.md"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # text | integer | number | date | datetime | boolean
    description: str
    unit: str = ""
    allowed: str = ""
    names_only: bool = False  # present only in an export made with names


@dataclass(frozen=True)
class FileSpec:
    name: str
    row: str  # what one row is
    columns: tuple[Column, ...]


STUDY_ID = Column("study_id", "text", "The member's random study id (8 hex characters).")
LOCAL_DATE = "the person's local date (their time zone, participants.csv)"

FILES: tuple[FileSpec, ...] = (
    FileSpec(
        "participants.csv",
        "one current member of the cohort",
        (
            STUDY_ID,
            Column(
                "first_name",
                "text",
                "The first name the person gave the bot.",
                names_only=True,
            ),
            Column("cohort_id", "integer", "The cohort's number."),
            Column("timezone", "text", "The person's time zone (IANA name).", allowed="IANA"),
            Column("joined_at", "datetime", "When they joined the cohort.", unit="UTC"),
            Column("course_start", "date", "First day of course week 1.", unit="local date"),
            Column("course_end", "date", "Last day of course week 12.", unit="local date"),
            Column(
                "rows_from",
                "date",
                "First day this export covers for them (course start, or --since).",
                unit="local date",
            ),
            Column(
                "rows_to",
                "date",
                "Last day this export covers for them: the course end, the export date or "
                "--until, whichever comes first. Empty rows_from/rows_to: no day in the window.",
                unit="local date",
            ),
            Column(
                "status",
                "text",
                "Their state on the export date; 'paused' shows only if they agreed to share "
                "pauses (else 'active').",
                allowed="onboarding, active, paused, hold, inactive",
            ),
            Column(
                "course_state",
                "text",
                "The course on the export date.",
                allowed="active, maintenance, stopped",
            ),
            Column(
                "shares_detail",
                "boolean",
                "1: they agreed the clinic may see pauses and lessons (those rows are present); "
                "0: pauses and lessons are left out for them.",
                allowed="0, 1",
            ),
        ),
    ),
    FileSpec(
        "daily_pain.csv",
        "one person on one local day of their window (a day with no check-in too)",
        (
            STUDY_ID,
            Column("local_date", "date", "The day.", unit="local date"),
            Column("course_day", "integer", "Day of the course, 1 on course_start.", unit="day"),
            Column("course_week", "integer", "Week of the course, 1..12.", unit="week"),
            Column(
                "checkin",
                "text",
                "answered: a rating was given; missed: asked, not answered; none: not asked "
                "(check-in off, paused, on hold, or the day is not over).",
                allowed="answered, missed, none",
            ),
            Column(
                "pain",
                "integer",
                "Average back pain that day, 0 no pain .. 10 worst imaginable; empty unless "
                "answered.",
                unit="0-10 NRS",
                allowed="0..10",
            ),
            Column("answered_at", "datetime", "When the rating was given.", unit="UTC"),
        ),
    ),
    FileSpec(
        "sessions.csv",
        "one activity session (paced exercise), by the local day it started",
        (
            STUDY_ID,
            Column("session_id", "integer", "The session's number."),
            Column("local_date", "date", "The day it started.", unit="local date"),
            Column("activity", "text", "The activity's name as the person typed it."),
            Column("dose_minutes", "integer", "The planned dose.", unit="minutes"),
            Column(
                "logged", "boolean", "1: reported afterwards, not started live.", allowed="0, 1"
            ),
            Column("started_at", "datetime", "Start.", unit="UTC"),
            Column("ended_at", "datetime", "End (empty if never ended).", unit="UTC"),
            Column("before", "integer", "Pain before.", unit="0-10 NRS", allowed="0..10"),
            Column("after", "integer", "Pain just after.", unit="0-10 NRS", allowed="0..10"),
            Column(
                "settled",
                "boolean",
                "1: the pain had settled when asked a couple of hours after (the cohort's "
                "settle_check_hours); 0: it had not.",
                allowed="0, 1",
            ),
            Column("next_day", "integer", "Pain the next day.", unit="0-10 NRS", allowed="0..10"),
            Column(
                "stage",
                "text",
                "Where the session stands.",
                allowed="before, doing, after, waiting, decided, incomplete, cancelled",
            ),
            Column(
                "verdict",
                "text",
                "The pacing decision.",
                allowed="keep, progress, adapt, pause",
            ),
            Column("next_dose", "integer", "The next dose decided.", unit="minutes"),
            Column("pause_days", "integer", "Days of pause decided.", unit="days"),
        ),
    ),
    FileSpec(
        "events.csv",
        "one event of the person's record, by its local day",
        (
            STUDY_ID,
            Column("event_id", "integer", "The event's number (audit log)."),
            Column("at", "datetime", "When.", unit="UTC"),
            Column("local_date", "date", "The day.", unit="local date"),
            Column(
                "event",
                "text",
                "red_flag: a warning sign reported (level); an emergency sign puts prompts on "
                "hold; red_flag_seen: they said a doctor saw them; hold_lifted / "
                "red_flag_mistake: the hold ended; hold_kept: still on hold; prompts_paused / "
                "prompts_resumed / pause_ended: pauses (only when shares_detail is 1); "
                "cohort_joined / cohort_left: membership of this cohort; consent_withdrawn: "
                "withdrawal (people who withdrew are absent, so it shows only for earlier "
                "memberships).",
                allowed=", ".join(store.EVENT_KINDS),
            ),
            Column(
                "level",
                "text",
                "For red_flag: emergency (see a doctor now) or soon (see a doctor soon).",
                allowed="emergency, soon",
            ),
        ),
    ),
    FileSpec(
        "lessons.csv",
        "one lesson of the course a person received (only members with shares_detail 1)",
        (
            STUDY_ID,
            Column("lesson_id", "text", "The lesson's id (docs/course.md)."),
            Column("lesson_title", "text", "Its title."),
            Column("sent_at", "datetime", "When it was sent.", unit="UTC"),
            Column("local_date", "date", "The day it was sent.", unit="local date"),
            Column("course_week", "integer", "Course week it was sent in.", unit="week"),
            Column(
                "feedback",
                "text",
                "Their reaction (empty: none).",
                allowed="helpful, not_for_me",
            ),
            Column(
                "check_answer",
                "boolean",
                "Their answer to the lesson's true/false check (empty: not answered).",
                allowed="0, 1",
            ),
        ),
    ),
    FileSpec(
        "outcomes.csv",
        "one answer to an outcome question; a set with no answer at all has one row with an "
        "empty item. A set belongs to the day it was asked (a week-12 answer given a day later "
        "is kept; the baseline, asked at the end of set-up, is kept even before week 1)",
        (
            STUDY_ID,
            Column("set_id", "integer", "The questionnaire set's number."),
            Column(
                "instrument",
                "text",
                "peg: PEG (Krebs 2009); grc: weekly global rating of change; goals: personal "
                "goals.",
                allowed="peg, grc, goals",
            ),
            Column(
                "timepoint",
                "text",
                "baseline (end of set-up), w06, w12 for peg and goals; w01..w12 (course week "
                "of the weekly summary), m1.. after the course, for grc.",
                allowed="baseline, w06, w12, w01..w12, m<n>",
            ),
            Column(
                "set_status",
                "text",
                "The set's state on the export date.",
                allowed="open, complete, partial, skipped, expired",
            ),
            Column("asked_at", "datetime", "When the set was asked.", unit="UTC"),
            Column("asked_local_date", "date", "The day it was asked.", unit="local date"),
            Column(
                "item",
                "text",
                "The question: peg_pain, peg_enjoyment, peg_activity (0-10), grc (-3..+3), "
                "goal:<goal id> (0-10); empty for a set without answers.",
                allowed="peg_pain, peg_enjoyment, peg_activity, grc, goal:<id>",
            ),
            Column("goal_name", "text", "For a goal item: the activity as the person typed it."),
            Column(
                "value",
                "integer",
                "The answer; empty when skipped. PEG: 0 none .. 10 worst/completely; goals: 0 "
                "cannot do it .. 10 as before; grc: +3 much better, +2 better, +1 a little "
                "better, 0 about the same, -1 a little worse, -2 worse, -3 much worse (than "
                "when they started).",
                unit="points",
                allowed="0..10 (peg, goals), -3..3 (grc)",
            ),
            Column("skipped", "boolean", "1: they chose to skip the question.", allowed="0, 1"),
            Column("answered_at", "datetime", "When answered or skipped.", unit="UTC"),
        ),
    ),
)
SPECS = {spec.name: spec for spec in FILES}


def columns(file: str, with_names: bool) -> list[str]:
    return [c.name for c in SPECS[file].columns if with_names or not c.names_only]


# --- building --------------------------------------------------------------------------------


@dataclass
class Member:
    """One member's window and rows, for the CSV files and the FHIR Bundle."""

    patient_id: int
    study_id: str
    first_name: str
    timezone: str
    rows_from: date | None
    rows_to: date | None
    ratings: list[dict] = field(default_factory=list)  # daily_pain rows with a pain value
    sets: list[dict] = field(default_factory=list)  # outcome sets in the window
    answers: dict[int, list[dict]] = field(default_factory=dict)  # by set id


@dataclass
class Export:
    cohort_id: int
    with_names: bool
    made_at: datetime
    files: dict[str, list[dict]]
    members: list[Member]


def _on(moment: str | None, tz) -> date | None:
    return local_date(parse_iso(moment), tz) if moment else None


def build(
    db: Database,
    cohort: dict,
    now: datetime,
    *,
    with_names: bool = False,
    since: date | None = None,
    until: date | None = None,
) -> Export:
    """Every file's rows for the cohort's current members, computed now."""
    files: dict[str, list[dict]] = {spec.name: [] for spec in FILES}
    members: list[Member] = []
    titles = {lesson.id: lesson.title for lesson in default_course()}
    for patient in clinics.members(db, cohort["id"]):
        pid, tz = patient["id"], zone(patient["timezone"])
        today = local_date(now, tz)
        start_text = patient.get("course_start") or patient.get("start_date")
        start = date.fromisoformat(start_text) if start_text else _on(patient["joined_at"], tz)
        assert start is not None
        last = course_end(start) - timedelta(days=1)
        lo = max(start, since) if since else start
        hi = min(last, today, until) if until else min(last, today)
        empty = lo > hi
        detailed = shares_detail(db, pid)
        study = patient["study_id"] or f"M{patient['membership_id']}"
        member = Member(
            pid, study, patient["first_name"], patient["timezone"], None if empty else lo, hi
        )
        if empty:
            member.rows_to = None
        members.append(member)

        def inside(day: date | None, lo=lo, hi=hi) -> bool:
            return day is not None and lo <= day <= hi

        status = patient["status"]
        files["participants.csv"].append(
            {
                "study_id": study,
                "first_name": patient["first_name"],
                "cohort_id": cohort["id"],
                "timezone": patient["timezone"],
                "joined_at": patient["joined_at"],
                "course_start": start.isoformat(),
                "course_end": last.isoformat(),
                "rows_from": None if empty else lo.isoformat(),
                "rows_to": None if empty else hi.isoformat(),
                "status": "active" if status == "paused" and not detailed else status,
                "course_state": patient.get("course_state"),
                "shares_detail": int(detailed),
            }
        )
        checks = {r["local_date"]: r for r in store.checkins(db, pid)}
        day = lo
        while day <= hi:
            check = checks.get(day.isoformat())
            answered = check if check is not None and check["status"] == "answered" else None
            row = {
                "study_id": study,
                "local_date": day.isoformat(),
                "course_day": (day - start).days + 1,
                "course_week": (day - start).days // 7 + 1,
                "checkin": check["status"] if check else "none",
                "pain": answered["pain"] if answered else None,
                "answered_at": answered["answered_at"] if answered else None,
            }
            files["daily_pain.csv"].append(row)
            if row["pain"] is not None:
                member.ratings.append(row)
            day += timedelta(days=1)
        for s in store.sessions(db, pid):
            started = _on(s["started_at"], tz)
            if inside(started):
                files["sessions.csv"].append(
                    {**s, "study_id": study, "session_id": s["id"], "local_date": str(started)}
                )
        for e in store.events(db, pid):
            on = _on(e["at"], tz)
            if not inside(on):
                continue
            if e["kind"] in ("prompts_paused", "prompts_resumed", "pause_ended") and not detailed:
                continue
            if e["kind"].startswith("cohort_") and e["cohort"] != cohort["id"]:
                continue  # another clinic's cohort: not theirs to see
            files["events.csv"].append(
                {
                    "study_id": study,
                    "event_id": e["id"],
                    "at": e["at"],
                    "local_date": str(on),
                    "event": e["kind"],
                    "level": e["level"] if e["kind"] == "red_flag" else None,
                }
            )
        for lesson in store.lessons(db, pid) if detailed else ():
            on = _on(lesson["sent_at"], tz)
            if inside(on):
                assert on is not None
                files["lessons.csv"].append(
                    {
                        **lesson,
                        "study_id": study,
                        "lesson_title": titles.get(lesson["lesson_id"]),
                        "local_date": str(on),
                        "course_week": (on - start).days // 7 + 1,
                    }
                )
        given: dict[int, list[dict]] = {}
        for a in store.outcome_answers(db, pid):
            given.setdefault(a["set_id"], []).append(a)
        for s in store.outcome_sets(db, pid):
            on = _on(s["asked_at"], tz)
            # The baseline is asked at the end of set-up, which may come before week 1: a set
            # counts from the person's start of the bot (or --since), up to the window's end.
            if on is None or on > hi or (since is not None and on < since) or empty:
                continue
            member.sets.append(s)
            member.answers[s["id"]] = given.get(s["id"], [])
            base = {
                "study_id": study,
                "set_id": s["id"],
                "instrument": s["instrument"],
                "timepoint": s["timepoint"],
                "set_status": s["status"],
                "asked_at": s["asked_at"],
                "asked_local_date": str(on),
            }
            for a in given.get(s["id"], []) or [{}]:
                files["outcomes.csv"].append(
                    {
                        **base,
                        "item": a.get("item"),
                        "goal_name": a.get("goal_name"),
                        "value": a.get("value"),
                        "skipped": a.get("skipped"),
                        "answered_at": a.get("answered_at"),
                    }
                )
    return Export(cohort["id"], with_names, now, files, members)


def _cell(value: object) -> object:
    """Text a person typed must not run as a spreadsheet formula when the CSV is opened."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_bytes(export: Export, file: str) -> bytes:
    cols = columns(file, export.with_names)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in export.files[file]:
        writer.writerow({k: _cell(row.get(k)) for k in cols})
    return buffer.getvalue().encode("utf-8")


def export_files(export: Export) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every research CSV file, in FILES order."""
    return [(spec.name, csv_bytes(export, spec.name)) for spec in FILES]


def zip_bytes(export: Export) -> bytes:
    """The research files and the data dictionary in one zip (what /export ID research sends)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*export_files(export), ("data-dictionary.md", dictionary().encode())]:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


PARTS = ("research", "fhir")  # /export ID research|fhir (the outbox row's payload "part")


def compose_export(db: Database, row: dict, now: datetime) -> Outgoing | None:
    """/export ID research (a zip) or fhir (one JSON Bundle), built now, by study id only, if
    the clinician may still see the cohort."""
    from bot.fhir import bundle_json

    payload = json.loads(row["payload"])
    allowed = _still_allowed(db, payload)
    if allowed is None:
        return None
    cohort = allowed[0]
    made = build(db, cohort, now)
    stamp = now.strftime("%Y%m%d")
    if payload["part"] == "fhir":
        document = (f"cohort-{cohort['id']}-fhir-{stamp}.json", bundle_json(made))
    else:
        document = (f"cohort-{cohort['id']}-research-{stamp}.zip", zip_bytes(made))
    text = render("clinic_export_file", cohort=cohort, part=payload["part"])
    return Outgoing(text, document=document)


# --- the data dictionary ---------------------------------------------------------------------


def dictionary() -> str:
    """docs/data-dictionary.md, generated from FILES."""
    out = [
        "# Research export: data dictionary",
        "",
        "<!-- Generated by `python -m jobs.research` from jobs/research.py FILES; do not edit. -->",
        "",
        "`backpain-bot export --cohort ID --format research --out DIR` writes these long-format "
        "CSV files (UTF-8, comma-separated, a header row, one row per observation). Empty cells "
        "are missing values.",
        "",
        "- **Who**: the cohort's current members. People who left the cohort, withdrew consent "
        "or were deleted are absent from every file.",
        "- **Identity**: `study_id` only; `first_name` is added to participants.csv only with "
        "`--with-names`.",
        f"- **Time**: `datetime` columns are UTC (ISO 8601); `date` columns are {LOCAL_DATE}.",
        f"- **Window**: each person's rows run from their course start to the last day of week "
        f"{WEEKS}, or to the export date if that comes first, never past either; `--since` and "
        "`--until` (local dates) narrow it. Sessions, events and lessons belong to their local "
        "day; an outcome set to the day it was asked, and the baseline set, asked at the end of "
        "set-up, is kept even when that came before week 1.",
        "- **Consent**: pauses and lessons are present only for members who agreed the clinic "
        "may see them (`shares_detail` 1).",
        "- Text a person typed that begins with `=`, `+`, `-` or `@` is prefixed with `'` so "
        "that a spreadsheet does not run it.",
        "",
        "Types: text; integer; boolean (1 yes, 0 no); date (YYYY-MM-DD); datetime "
        "(YYYY-MM-DDTHH:MM:SS+00:00).",
        "",
    ]
    for spec in FILES:
        out += [f"## {spec.name}", "", f"One row: {spec.row}.", ""]
        out += ["| column | type | unit | allowed values | description |", "|---|---|---|---|---|"]
        for c in spec.columns:
            note = " Only with `--with-names`." if c.names_only else ""
            cells = [f"`{c.name}`", c.type, c.unit, c.allowed, c.description + note]
            out.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.research", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    text = dictionary()
    if args.check:
        if not DICTIONARY.exists() or DICTIONARY.read_text(encoding="utf-8") != text:
            print(f"{DICTIONARY} is out of date: run python -m jobs.research", file=sys.stderr)
            return 1
        return 0
    DICTIONARY.write_text(text, encoding="utf-8")
    print(DICTIONARY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
