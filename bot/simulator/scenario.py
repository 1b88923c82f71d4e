"""Scenario files (YAML or JSON): who the simulated patients are and how they answer.

The format is documented in docs/simulation.md; every problem is reported as a ScenarioError that
names the patient and the field.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import yaml

from bot.rules.localtime import zone
from bot.rules.parsing import parse_hhmm
from bot.rules.schedule import WEEKDAYS


class ScenarioError(ValueError):
    """The scenario file is not usable; the message says where and why."""


@dataclass(frozen=True)
class PainSpec:
    """A number, a list (one per day, the last repeating; null: that day goes unanswered) or a
    {min, max} range (with `skip`, the share of days left unanswered)."""

    fixed: tuple[int | None, ...] = ()
    low: int = 0
    high: int = 0
    skip: float = 0.0

    def for_day(self, day: int, rng: random.Random) -> int | None:
        """The rating to give on this day, or None: she lets this check-in go unanswered."""
        if self.fixed:
            return self.fixed[min(day, len(self.fixed) - 1)]
        if self.skip and rng.random() < self.skip:  # no draw without skip: old runs repeat
            return None
        return rng.randint(self.low, self.high)


@dataclass(frozen=True)
class SessionPlan:
    day: int
    at: time
    activity: str
    before: int | None
    after: int | None
    settled: bool | None
    next_day: int | None
    minutes: int | None = None


@dataclass(frozen=True)
class Persona:
    id: str
    chat_id: int
    first_name: str
    timezone: str
    checkin_time: str
    quiet_hours: tuple[str, str] | None
    sitting: dict | None
    activities: tuple[dict, ...]
    checkin_pain: PainSpec
    sessions: tuple[SessionPlan, ...]
    ignore: frozenset[str]
    blocks_bot_on_day: int | None
    course: dict | None = None  # {days, time, start}: lesson days, local time, week-1 date
    caregivers: tuple[dict, ...] = ()  # {id, chat_id, name, timezone, alerts}
    reply_after_minutes: tuple[int, int] = (2, 30)
    red_flag: dict | None = None  # {day, at, seen_after_hours}: /urgent, an emergency sign
    # Free text typed at a local day and time, whatever is open: (day, time, text).
    says: tuple[tuple[int, time, str], ...] = ()
    # "tap" (buttons, as the scenario's answers say) or "typed" (reads the screen, types words).
    style: str = "tap"
    # A typing persona's habits: reply_minutes, late, next_morning, wrong, edit, emoji, voice,
    # sticker (shares from 0 to 1) and menus ("tap" or "type"); see docs/simulation.md.
    typed: dict = field(default_factory=dict)
    # /settings changes: (day, time, {choose, answers, expect}).
    settings: tuple[tuple[int, time, dict], ...] = ()
    # Locations sent out of the blue: (day, time, latitude, longitude).
    locations: tuple[tuple[int, time, float, float], ...] = ()
    # Answers to the outcome questions (issue 17), `answers.outcomes`: {peg: {timepoint: [3
    # values]}, goals: [{name, baseline, w06, w12}], grc: [one a week], late: [timepoints]};
    # None: set up before outcomes existed (no baseline asked at enrolment).
    outcomes: dict | None = None


@dataclass(frozen=True)
class Clinician:
    chat_id: int  # the clinician's Telegram user id, which is also their private chat's id
    name: str


@dataclass(frozen=True)
class CohortSpec:
    name: str
    start: date | None  # fixed start date; None: rolling
    patients: tuple[str, ...]  # persona ids, in the order they join


@dataclass(frozen=True)
class ClinicSpec:
    name: str
    timezone: str
    clinicians: tuple[Clinician, ...]
    cohorts: tuple[CohortSpec, ...]


@dataclass(frozen=True)
class Scenario:
    start: datetime
    days: int
    patients: tuple[Persona, ...]
    seed: int = 0
    extra: dict = field(default_factory=dict)
    clinics: tuple[ClinicSpec, ...] = ()


def _fail(where: str, problem: str) -> ScenarioError:
    return ScenarioError(f"{where}: {problem}")


def _rating(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise _fail(where, f"a rating must be a whole number from 0 to 10, not {value!r}")
    return value


def _hhmm(value: Any, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 reads 10:00 as 600
        value = f"{value // 60:02d}:{value % 60:02d}"
    parsed = parse_hhmm(str(value)) if value is not None else None
    if parsed is None:
        raise _fail(where, f'expected a local time like "08:00", not {value!r}')
    return parsed.strftime("%H:%M")


def _time(value: Any, where: str) -> time:
    """`_hhmm`, as a time."""
    return time.fromisoformat(_hhmm(value, where))


def _yes_no(value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if str(value).lower() in {"yes", "y", "true"}:
        return True
    if str(value).lower() in {"no", "n", "false"}:
        return False
    raise _fail(where, f"settled must be yes or no, not {value!r}")


def _pain(value: Any, where: str) -> PainSpec:
    if isinstance(value, int) and not isinstance(value, bool):
        return PainSpec(fixed=(_rating(value, where),))
    if isinstance(value, list) and value:
        return PainSpec(fixed=tuple(_rating(v, where) for v in value))  # null: not answered
    if isinstance(value, dict) and {"min", "max"} <= set(value):
        low, high = _rating(value["min"], where), _rating(value["max"], where)
        if low is None or high is None:
            raise _fail(where, "min and max must be numbers from 0 to 10")
        if low > high:
            raise _fail(where, "min is above max")
        skip = value.get("skip", 0)
        if isinstance(skip, bool) or not isinstance(skip, (int, float)) or not 0 <= skip < 1:
            raise _fail(
                where, f"skip is the share of days left unanswered, from 0 to below 1, not {skip!r}"
            )
        return PainSpec(low=low, high=high, skip=float(skip))
    raise _fail(where, "checkin_pain must be a number, a list of numbers or {min: .., max: ..}")


def _red_flag(value: Any, where: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(where, 'expected {day: 9, at: "10:00", seen_after_hours: 24}')
    day = value.get("day")
    if isinstance(day, bool) or not isinstance(day, int) or day < 0:
        raise _fail(f"{where}.day", "a day number (0 = the first day)")
    seen = value.get("seen_after_hours")
    if seen is not None and (isinstance(seen, bool) or not isinstance(seen, int) or seen < 1):
        raise _fail(f"{where}.seen_after_hours", "whole hours, at least 1 (or leave it out)")
    return {
        "day": day,
        "at": parse_hhmm(_hhmm(value.get("at", "10:00"), f"{where}.at")),
        "seen_after_hours": seen,
    }


MAX_SAYS_TEXT = 4096  # Telegram's longest text message


def _says(value: Any, where: str) -> tuple[tuple[int, time, str], ...]:
    """`says: [{day: N, at: "HH:MM", text: "..."}]`, a day may be a list of days."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(where, 'expected a list of {day: 2, at: "09:05", text: "..."}')
    found: list[tuple[int, time, str]] = []
    for n, item in enumerate(value):
        iw = f"{where}[{n}]"
        if not isinstance(item, dict):
            raise _fail(iw, 'expected {day: 2, at: "09:05", text: "..."}')
        days = item.get("day", 0)
        days = days if isinstance(days, list) else [days]
        if not days or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in days
        ):
            raise _fail(f"{iw}.day", "a day number (0 = the first day) or a list of them")
        text = item.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_SAYS_TEXT:
            raise _fail(f"{iw}.text", f"the text she types: 1 to {MAX_SAYS_TEXT} characters")
        at = _time(item.get("at"), f"{iw}.at")
        found.extend((day, at, text) for day in days)
    return tuple(found)


TYPED_SHARES = ("late", "next_morning", "wrong", "edit", "emoji", "voice", "sticker")


def _typed(value: Any, where: str) -> dict:
    """A typing persona's habits: `{late: 0.2, wrong: 0.1, menus: tap, reply_minutes: [1, 9]}`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, "expected a mapping such as {late: 0.2, wrong: 0.1, emoji: 0.3}")
    unknown = set(value) - {*TYPED_SHARES, "menus", "reply_minutes"}
    if unknown:
        raise _fail(where, f"unknown habits {sorted(unknown)}")
    found: dict = {}
    for key in TYPED_SHARES:
        share = value.get(key, 0.5 if key == "edit" else 0.0)
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise _fail(f"{where}.{key}", f"a share from 0 to 1, not {share!r}")
        found[key] = float(share)
    if found["late"] + found["next_morning"] > 1:
        raise _fail(where, "late and next_morning together are at most 1")
    menus = value.get("menus", "tap")
    if menus not in ("tap", "type"):
        raise _fail(f"{where}.menus", f"tap or type, not {menus!r}")
    found["menus"] = menus
    minutes = value.get("reply_minutes", [1, 20])
    if (
        not isinstance(minutes, list)
        or len(minutes) != 2
        or not all(isinstance(m, int) and not isinstance(m, bool) for m in minutes)
        or not 0 <= minutes[0] <= minutes[1]
    ):
        raise _fail(f"{where}.reply_minutes", "[low, high] in whole minutes, low <= high")
    found["reply_minutes"] = (minutes[0], minutes[1])
    return found


def _days(item: dict, where: str) -> list[int]:
    days = item.get("day", 0)
    days = days if isinstance(days, list) else [days]
    if not days or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in days):
        raise _fail(f"{where}.day", "a day number (0 = the first day) or a list of them")
    return days


def _settings_changes(value: Any, where: str) -> tuple[tuple[int, time, dict], ...]:
    """`settings: [{day, at, choose: "Check-in time", answers: ["7:30"], expect: {...}}]`"""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(where, 'expected a list of {day, at, choose: "Time zone", answers: [...]}')
    found: list[tuple[int, time, dict]] = []
    for n, item in enumerate(value):
        iw = f"{where}[{n}]"
        choose = item.get("choose") if isinstance(item, dict) else None
        choose = [choose] if isinstance(choose, str) else choose
        if (
            not isinstance(item, dict)
            or not isinstance(choose, list)
            or not choose
            or not all(isinstance(c, str) and c.strip() for c in choose)
        ):
            raise _fail(
                iw, "each change names the /settings button(s) to choose (choose: a text or a list)"
            )
        answers = item.get("answers", [])
        if not isinstance(answers, list):
            raise _fail(f"{iw}.answers", "a list of what she types (or {location: [lat, lon]})")
        for a in answers:
            if isinstance(a, dict):
                loc = a.get("location")
                if not (isinstance(loc, list) and len(loc) == 2):
                    raise _fail(f"{iw}.answers", "a location is {location: [latitude, longitude]}")
        expect = item.get("expect") or {}
        if not isinstance(expect, dict):
            raise _fail(f"{iw}.expect", "a mapping of patient fields to their values")
        change = {"choose": [str(c) for c in choose], "answers": answers, "expect": expect}
        at = _time(item.get("at"), f"{iw}.at")
        found.extend((day, at, change) for day in _days(item, iw))
    return tuple(found)


def _locations(value: Any, where: str) -> tuple[tuple[int, time, float, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(where, "expected a list of {day, at, latitude, longitude}")
    found: list[tuple[int, time, float, float]] = []
    for n, item in enumerate(value):
        iw = f"{where}[{n}]"
        if not isinstance(item, dict):
            raise _fail(iw, "expected {day, at, latitude, longitude}")
        try:
            lat, lon = float(item["latitude"]), float(item["longitude"])
        except (KeyError, TypeError, ValueError):
            raise _fail(iw, "latitude and longitude are numbers") from None
        at = _time(item.get("at"), f"{iw}.at")
        found.extend((day, at, lat, lon) for day in _days(item, iw))
    return tuple(found)


def _persona(raw: dict, index: int) -> Persona:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise _fail(f"patients[{index}]", "each patient needs an id")
    pid = str(raw["id"])
    where = f"patient {pid}"
    try:
        zone(str(raw.get("timezone", "UTC")))
    except ValueError as exc:
        raise _fail(where, str(exc)) from None
    quiet = raw.get("quiet_hours")
    quiet_pair = None
    if quiet:
        quiet_pair = (
            _hhmm(quiet.get("from"), f"{where} quiet_hours.from"),
            _hhmm(quiet.get("to"), f"{where} quiet_hours.to"),
        )
    sitting = raw.get("sitting")
    if sitting:
        weekdays = [str(d).lower()[:3] for d in sitting.get("days", WEEKDAYS[:5])]
        if not set(weekdays) <= set(WEEKDAYS):
            raise _fail(f"{where} sitting.days", f"days are mon..sun, not {weekdays}")
        every = int(sitting.get("every_minutes", 30))
        if every not in (30, 45, 60):
            raise _fail(f"{where} sitting.every_minutes", "choose 30, 45 or 60")
        sitting = {
            "days": weekdays,
            "from": _hhmm(sitting.get("from", "09:00"), where),
            "to": _hhmm(sitting.get("to", "17:00"), where),
            "every_minutes": every,
        }
    activities = tuple(
        {"name": str(a["name"]), "minutes": int(a.get("minutes", 10))}
        for a in raw.get("activities", [])
    )
    answers = raw.get("answers", {}) or {}
    sessions = []
    for n, s in enumerate(answers.get("sessions", []) or []):
        sw = f"{where} sessions[{n}]"
        if not isinstance(s, dict):
            raise _fail(sw, "each session is a mapping {day, at, activity, before, after, ...}")
        if s.get("activity") not in {a["name"] for a in activities}:
            raise _fail(sw, f"activity {s.get('activity')!r} is not in this patient's activities")
        days = s.get("day", 0)
        days = days if isinstance(days, list) else [days]
        if not all(isinstance(d, int) and d >= 0 for d in days):
            raise _fail(f"{sw} day", "a day number (0 = the first day) or a list of them")
        minutes = s.get("minutes")
        if minutes is not None and not (isinstance(minutes, int) and 1 <= minutes <= 240):
            raise _fail(f"{sw} minutes", "whole minutes from 1 to 240")
        for day in days:
            sessions.append(
                SessionPlan(
                    day,
                    _time(s.get("at"), sw),
                    str(s["activity"]),
                    _rating(s.get("before"), sw),
                    _rating(s.get("after"), sw),
                    _yes_no(s.get("settled"), sw),
                    _rating(s.get("next_day"), sw),
                    minutes,
                )
            )
    course = raw.get("course")
    if course is not None:
        if not isinstance(course, dict):
            raise _fail(f"{where} course", 'expected {days: [...], time: "18:00", start: DATE}')
        cdays = [str(d).lower()[:3] for d in course.get("days", ["mon", "wed", "fri"])]
        if not set(cdays) <= set(WEEKDAYS):
            raise _fail(f"{where} course.days", f"days are mon..sun, not {cdays}")
        start = course.get("start")
        try:
            start = date.fromisoformat(str(start)) if start is not None else None
        except ValueError:
            raise _fail(f"{where} course.start", "expected a date like 2026-03-02") from None
        course = {
            "days": cdays,
            "time": _hhmm(course.get("time", "18:00"), f"{where} course.time"),
            "start": start,
        }
    carers = []
    for n, c in enumerate(raw.get("caregivers", []) or []):
        cw = f"{where} caregivers[{n}]"
        if not isinstance(c, dict) or not c.get("id"):
            raise _fail(cw, "each caregiver needs an id")
        try:
            zone(str(c.get("timezone", raw.get("timezone", "UTC"))))
        except ValueError as exc:
            raise _fail(cw, str(exc)) from None
        carers.append(
            {
                "id": str(c["id"]),
                "chat_id": int(c.get("chat_id", 5001 + 100 * index + n)),
                "name": str(c.get("name", str(c["id"]).capitalize())),
                "timezone": str(c.get("timezone", raw.get("timezone", "UTC"))),
                "alerts": bool(c.get("alerts", False)),
            }
        )
    ignore = frozenset(str(k) for k in answers.get("ignore", []) or [])
    blocks = answers.get("blocks_bot_on_day")
    return Persona(
        id=pid,
        chat_id=int(raw.get("chat_id", 1001 + index)),
        first_name=str(raw.get("name", pid.capitalize())),
        timezone=str(raw.get("timezone", "UTC")),
        checkin_time=_hhmm(raw.get("checkin_time", "09:00"), f"{where} checkin_time"),
        quiet_hours=quiet_pair,
        sitting=sitting,
        activities=activities,
        checkin_pain=_pain(answers.get("checkin_pain", 4), f"{where} checkin_pain"),
        sessions=tuple(sessions),
        ignore=ignore,
        course=course,
        caregivers=tuple(carers),
        blocks_bot_on_day=int(blocks) if blocks is not None else None,
        red_flag=_red_flag(answers.get("red_flag"), f"{where} red_flag"),
        says=_says(raw.get("says", answers.get("says")), f"{where} says"),
        style=_style(raw.get("style", "tap"), f"{where} style"),
        typed=_typed(raw.get("typed"), f"{where} typed"),
        settings=_settings_changes(raw.get("settings"), f"{where} settings"),
        locations=_locations(raw.get("locations"), f"{where} locations"),
        outcomes=_outcomes(answers.get("outcomes"), f"{where} outcomes"),
    )


_OUTCOME_TIMEPOINTS = ("baseline", "w06", "w12")


def _outcomes(value: Any, where: str) -> dict | None:
    """`answers.outcomes`: how she answers the outcome questions. A timepoint left out of `peg`
    is not answered at all; null for an item (or a goal's timepoint left out) is Skip."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(where, "expected {peg: {baseline: [6, 5, 6]}, goals: [...], grc: [...]}")
    peg = {}
    for tp, items in (value.get("peg") or {}).items():
        if tp not in _OUTCOME_TIMEPOINTS or not isinstance(items, list) or len(items) != 3:
            raise _fail(f"{where}.peg", f"{tp}: three values (or null) at baseline, w06, w12")
        peg[tp] = [_rating(v, f"{where}.peg.{tp}") for v in items]
    goals = []
    for n, g in enumerate(value.get("goals") or []):
        if not isinstance(g, dict) or not g.get("name"):
            raise _fail(f"{where}.goals[{n}]", "each goal needs a name")
        goals.append(
            {
                "name": str(g["name"]),
                **{tp: _rating(g.get(tp), f"{where}.goals[{n}]") for tp in _OUTCOME_TIMEPOINTS},
            }
        )
    grc = value.get("grc")
    if grc is not None:
        if not isinstance(grc, list) or not grc:
            raise _fail(f"{where}.grc", "one answer a week, -3..3 or null (skip)")
        for v in grc:
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int) or not -3 <= v <= 3
            ):
                raise _fail(f"{where}.grc", f"-3..3 or null, not {v!r}")
    late = [str(t) for t in value.get("late") or []]
    if not set(late) <= set(_OUTCOME_TIMEPOINTS):
        raise _fail(f"{where}.late", f"timepoints are {', '.join(_OUTCOME_TIMEPOINTS)}")
    return {"peg": peg, "goals": goals, "grc": grc, "late": late}


def _style(value: Any, where: str) -> str:
    if value not in ("tap", "typed"):
        raise _fail(where, f"tap or typed, not {value!r}")
    return str(value)


def _clinics(raw: Any, personas: tuple[Persona, ...]) -> tuple[ClinicSpec, ...]:
    """`clinics:`: each with its clinicians and cohorts, and which personas join which cohort."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ScenarioError(
            "clinics: a list of clinics, each {name, timezone, clinicians, cohorts}"
        )
    by_id = {p.id: p for p in personas}
    by_chat = {p.chat_id: p for p in personas}
    taken = {p.chat_id: f"patient {p.id}" for p in personas}
    taken.update(
        {
            c["chat_id"]: f"caregiver {c['id']} of patient {p.id}"
            for p in personas
            for c in p.caregivers
        }
    )
    joined: dict[str, str] = {}
    clinic_names, found = set(), []
    for n, c in enumerate(raw):
        if not isinstance(c, dict) or not str(c.get("name") or "").strip():
            raise ScenarioError(f"clinics[{n}]: each clinic needs a name")
        name = str(c["name"]).strip()
        where = f"clinic {name!r}"
        if name in clinic_names:
            raise _fail(where, "clinic names must be unique")
        clinic_names.add(name)
        tz = str(c.get("timezone", "UTC"))
        try:
            zone(tz)
        except ValueError as exc:
            raise _fail(f"{where} timezone", str(exc)) from None
        staff = []
        for k, person in enumerate(c.get("clinicians") or []):
            kw = f"{where} clinicians[{k}]"
            uid = person.get("id") if isinstance(person, dict) else None
            if isinstance(uid, bool) or not isinstance(uid, int) or uid <= 0:
                raise _fail(
                    kw,
                    "each clinician needs an id: their Telegram user id, a positive whole number",
                )
            if uid in taken:
                raise _fail(kw, f"id {uid} is already the chat of {taken[uid]}")
            taken[uid] = f"clinician {uid} of {where}"
            staff.append(Clinician(uid, str(person.get("name") or f"Clinician {uid}")))
        if not staff:
            raise _fail(
                f"{where} clinicians",
                "at least one clinician is needed: the cohorts are "
                "created by a clinician in Telegram",
            )
        cohorts, cohort_names = [], set()
        for k, h in enumerate(c.get("cohorts") or []):
            if not isinstance(h, dict) or not str(h.get("name") or "").strip():
                raise _fail(f"{where} cohorts[{k}]", "each cohort needs a name")
            hname = " ".join(str(h["name"]).split())
            hw = f"{where} cohort {hname!r}"
            if hname in cohort_names:
                raise _fail(hw, "cohort names must be unique within a clinic")
            last = hname.split()[-1]  # /cohort_new would read a trailing date as the start
            if len(hname) > 60 or (len(last) == 10 and last[4] == "-" and last[7] == "-"):
                raise _fail(hw, "a name up to 60 characters that does not look like a date")
            cohort_names.add(hname)
            start = h.get("start")
            if start is not None:
                try:
                    start = start if isinstance(start, date) else date.fromisoformat(str(start))
                except ValueError:
                    raise _fail(
                        f"{hw} start", f"expected a date like 2026-03-02, not {start!r}"
                    ) from None
            members = []
            for ref in h.get("patients") or []:
                persona = by_id.get(str(ref))
                if persona is None and isinstance(ref, int) and not isinstance(ref, bool):
                    persona = by_chat.get(ref)
                if persona is None:
                    raise _fail(
                        f"{hw} patients",
                        f"{ref!r} is not a patient id (nor a patient's chat_id) in this scenario",
                    )
                if persona.id in joined:
                    raise _fail(
                        f"{hw} patients",
                        f"patient {persona.id} is already in {joined[persona.id]}; "
                        "a patient joins one cohort",
                    )
                joined[persona.id] = hw
                members.append(persona.id)
            cohorts.append(CohortSpec(hname, start, tuple(members)))
        found.append(ClinicSpec(name, tz, tuple(staff), tuple(cohorts)))
    return tuple(found)


def parse_scenario(raw: Any) -> Scenario:
    if not isinstance(raw, dict):
        raise ScenarioError("a scenario is a mapping with start, days and patients")
    try:
        start = datetime.fromisoformat(str(raw["start"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        raise ScenarioError(
            'start must be an ISO-8601 time such as "2026-03-02T12:00:00Z"'
        ) from None
    if start.tzinfo is None:
        raise ScenarioError("start needs a time zone, e.g. a trailing Z for UTC")
    days = raw.get("days", 7)
    if not isinstance(days, int) or not 1 <= days <= 400:
        raise ScenarioError("days must be a whole number from 1 to 400")
    people = raw.get("patients") or []
    if not people:
        raise ScenarioError("patients: at least one patient is needed")
    personas = tuple(_persona(p, i) for i, p in enumerate(people))
    ids = [p.id for p in personas]
    if len(set(ids)) != len(ids):
        raise ScenarioError("patient ids must be unique")
    known = {"start", "days", "patients", "seed", "clinics"}
    return Scenario(
        start,
        days,
        personas,
        int(raw.get("seed", 0)),
        {k: v for k, v in raw.items() if k not in known},
        _clinics(raw.get("clinics"), personas),
    )


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is valid YAML too
    except OSError as exc:
        raise ScenarioError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path} is not valid YAML or JSON: {exc}") from None
    return parse_scenario(raw)
