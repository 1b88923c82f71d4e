"""Outcome questions (issue 17): when they are asked, what each message looks like, and what an
answer does. Handlers call `answer`, `goal_named`, `goals_done` inside one transaction with the
reply (handlers.common.respond); no telegram here. Definitions: bot.rules.outcomes; SQL:
storage.outcomes.

* **Weekly change (GRC)**: asked at the end of the patient's weekly summary, with its buttons
  (`with_weekly_change`; the set is opened just before it is sent, `before_summary`); the next
  summary shows the answer.
* **PEG and goals** at a timepoint: the sets are opened and one `outcomes` row queued; it asks the
  first unanswered question (PEG's three items, then the goals), each answer asks the next.
  Baseline: at the end of set-up (`start_baseline`, from handlers.onboarding), or, for people set
  up before this landed (flagged by migration m020), with their next summary. Weeks 6 and 12 (for
  people with a baseline): on the last day of the week, half an hour after the check-in time.
  One reminder a day later (`outcome_reminder`), the sets close after 3 days (`tick`), partial
  answers kept.
* Each question is an open record (`awaiting`, kinds `outcome_*`): handlers.outcomes sends typed
  answers to the newest one they fit; a number never goes to the weekly-change question.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import date, datetime, time, timedelta

from sqlite_utils import Database

from bot.clock import parse_iso
from bot.rules import outcomes as rules
from bot.rules.callbacks import encode
from bot.rules.localtime import local_to_utc, parse_hhmm, zone
from messages import Button, Outgoing, label, render
from storage import outbox, patients, questions
from storage import outcomes as store

log = logging.getLogger(__name__)

# Button codes of the items ("oc:<set>:<code>:<value>"): short, and no ':' inside.
PEG_CODES = {"peg_pain": "pain", "peg_enjoyment": "enj", "peg_activity": "act"}
GOAL_NAME = "goal_name"  # the "which activity?" step of the baseline goals (not an item)
Q_GRC, Q_ITEM, Q_NAME = "outcome_grc", "outcome_item", "outcome_goal_name"
QUESTION_KINDS = (Q_GRC, Q_ITEM, Q_NAME)
ASK_AFTER_CHECKIN = timedelta(minutes=30)
DEFAULT_ASK_TIME = time(10, 0)


def item_code(item: str) -> str:
    if item in PEG_CODES:
        return PEG_CODES[item]
    gid = rules.goal_id_of(item)
    return f"g{gid}" if gid is not None else item


def item_of(code: str) -> str | None:
    for item, c in PEG_CODES.items():
        if c == code:
            return item
    if code == "grc":
        return rules.GRC_ITEM
    if code.startswith("g") and code[1:].isdigit():
        return rules.goal_item(int(code[1:]))
    return None


def _start(patient: dict) -> date | None:
    start = patient.get("course_start") or patient.get("start_date")
    return date.fromisoformat(start) if start else None


# -- what is asked next ------------------------------------------------------------------------
def next_item(db: Database, s: dict) -> str | None:
    """The next question of an open PEG or goals set: an item, GOAL_NAME, or None (all done)."""
    if s["status"] != "open":
        return None
    done = store.answers(db, s["id"])
    if s["instrument"] == "peg":
        return next((i for i in rules.PEG_ITEMS if i not in done), None)
    if s["instrument"] == "goals":
        goals = store.current_goals(db, s["patient_id"])
        for g in goals:
            if rules.goal_item(g["id"]) not in done:
                return rules.goal_item(g["id"])
        if s["timepoint"] == "baseline" and len(goals) < rules.MAX_GOALS:
            return GOAL_NAME
    return None


def next_question(db: Database, patient_id: int, timepoint: str) -> tuple[dict, str] | None:
    """The open set of this timepoint with something left to ask (PEG first), and what."""
    sets = [s for s in store.open_sets(db, patient_id) if s["timepoint"] == timepoint]
    for instrument in ("peg", "goals"):
        for s in sets:
            if s["instrument"] == instrument and (item := next_item(db, s)) is not None:
                return s, item
    return None


def _skip_row(s: dict, item: str) -> list[Button]:
    return [(label("outcome_skip"), encode("oc", s["id"], item_code(item), "s"))]


def question_message(
    db: Database, s: dict, item: str, *, reminder: bool = False, first: bool = False
) -> Outgoing:
    """The message asking `item` of set `s`, with its buttons."""
    code = item_code(item)
    if item == GOAL_NAME:
        count = len(store.current_goals(db, s["patient_id"]))
        text = render("outcome_goal_name", count=count, reminder=reminder, first=first)
        none_label = label("outcome_no_goals" if count == 0 else "outcome_no_more_goals")
        return Outgoing(text, [[(none_label, encode("oc:n", s["id"]))]])
    rows = [
        [(str(n), encode("oc", s["id"], code, str(n))) for n in range(0, 6)],
        [(str(n), encode("oc", s["id"], code, str(n))) for n in range(6, 11)],
        _skip_row(s, item),
    ]
    if item in rules.PEG_ITEMS:
        text = render(
            "outcome_peg",
            number=rules.PEG_ITEMS.index(item) + 1,
            item=item,
            reminder=reminder,
            timepoint=s["timepoint"],
        )
        return Outgoing(text, rows)
    gid = rules.goal_id_of(item)
    goal = store.get_goal(db, gid) if gid is not None else None
    text = render(
        "outcome_goal_rate",
        name=goal["name"] if goal else "",
        reminder=reminder,
        timepoint=s["timepoint"],
        first=first,
    )
    return Outgoing(text, rows)


def grc_message(s: dict, *, again: bool = False) -> Outgoing:
    rows = [
        [(label(f"grc_{rules.GRC_KEYS[v]}"), encode("oc", s["id"], "grc", str(v))) for v in row]
        for row in rules.GRC_ROWS
    ]
    rows.append(_skip_row(s, rules.GRC_ITEM))
    return Outgoing(render("outcome_grc", again=again), rows)


def open_record(db: Database, s: dict, item: str, now: datetime, outbox_id: int | None = None):
    """The question's record, so typed answers find it (open until the set closes)."""
    expires = parse_iso(s["asked_at"]) + (
        rules.GRC_OPEN_FOR if s["instrument"] == "grc" else rules.OPEN_FOR
    )
    if s["instrument"] == "grc":
        kind, ref = Q_GRC, str(s["id"])
    elif item == GOAL_NAME:
        kind, ref = Q_NAME, str(s["id"])
    else:
        kind, ref = Q_ITEM, f"{s['id']}:{item}"
    questions.open_question(
        db,
        s["patient_id"],
        kind,
        ref,
        now,
        subject=s["timepoint"],
        outbox_id=outbox_id,
        expires_at=max(expires, now + timedelta(minutes=1)),
    )


def ask_next(db: Database, patient_id: int, timepoint: str, now: datetime) -> Outgoing | None:
    """Open the next question of this timepoint and return it (None: nothing left)."""
    found = next_question(db, patient_id, timepoint)
    if found is None:
        return None
    s, item = found
    open_record(db, s, item, now)
    return question_message(db, s, item)


# -- the outbox kinds --------------------------------------------------------------------------
def compose_outcomes(db: Database, row: dict, patient: dict) -> Outgoing | None:
    """`outcomes` and `outcome_reminder`: the next question of the timepoint, if any is left."""
    payload = json.loads(row["payload"])
    found = next_question(db, patient["id"], payload["timepoint"])
    if found is None:
        return None
    s, item = found
    reminder = row["kind"] == "outcome_reminder"
    out = question_message(db, s, item, reminder=reminder, first=not reminder)
    intro = render("outcome_intro", timepoint=payload["timepoint"], reminder=reminder)
    return Outgoing(f"{intro}\n\n{out.text}", out.buttons)


def before_outcomes(db: Database, row: dict, payload: dict, now: datetime) -> None:
    found = next_question(db, row["patient_id"], payload["timepoint"])
    if found is not None:
        open_record(db, found[0], found[1], now, outbox_id=row["id"])


def summary_timepoint(patient: dict, payload: dict) -> str | None:
    """The weekly change's timepoint for a summary row: the course week it closes."""
    start = _start(patient)
    week_end = date.fromisoformat(payload["week_end"])
    if start is None or week_end < start:
        return None
    return rules.grc_timepoint((week_end - start).days // 7 + 1)


def with_weekly_change(
    db: Database, row: dict, patient: dict, out: Outgoing | None
) -> Outgoing | None:
    """The patient's summary with the weekly change question and its buttons at the end."""
    if out is None or row["kind"] != "summary":
        return out
    if summary_timepoint(patient, json.loads(row["payload"])) is None:
        return out
    rows = [
        [(label(f"grc_{rules.GRC_KEYS[v]}"), encode("oc:w", row["id"], str(v))) for v in line]
        for line in rules.GRC_ROWS
    ]
    rows.append([(label("outcome_skip"), encode("oc:w", row["id"], "s"))])
    question = render("outcome_grc", again=False)
    return Outgoing(f"{out.text}\n\n{question}", out.buttons + rows, meta=out.meta)


def grc_set_for_summary(db: Database, row: dict, now: datetime) -> dict | None:
    """The weekly change set a summary row asks (opened if new)."""
    patient = patients.get(db, row["patient_id"])
    tp = summary_timepoint(patient, json.loads(row["payload"])) if patient else None
    if patient is None or tp is None:
        return None
    store.create_set(db, patient["id"], "grc", tp, now)
    return store.find_set(db, patient["id"], "grc", tp)


def before_summary(db: Database, row: dict, payload: dict, now: datetime) -> None:
    """The summary asks the weekly change: typed words answer it from now on."""
    s = grc_set_for_summary(db, row, now)
    if s is not None and s["status"] == "open":
        open_record(db, s, rules.GRC_ITEM, now, outbox_id=row["id"])


# -- planning ----------------------------------------------------------------------------------
def _queue(db: Database, patient: dict, kind: str, timepoint: str, due: datetime, now: datetime):
    outbox.enqueue(
        db,
        chat_id=patient["chat_id"],
        patient_id=patient["id"],
        kind=kind,
        due_at=due,
        now=now,
        dedupe_key=f"{kind}:{patient['id']}:{timepoint}",
        payload={"timepoint": timepoint},
    )


def start_timepoint(db: Database, patient: dict, timepoint: str, now: datetime) -> bool:
    """Open the PEG and goals sets of a timepoint and queue their first question. Goals at weeks
    6 and 12 only for someone who named some. False when already asked."""
    pid = patient["id"]
    if store.find_set(db, pid, "peg", timepoint) is not None:
        return False
    store.create_set(db, pid, "peg", timepoint, now)
    if timepoint == "baseline" or store.current_goals(db, pid):
        store.create_set(db, pid, "goals", timepoint, now)
    _queue(db, patient, "outcomes", timepoint, now, now)
    log.info("outcomes asked", extra={"patient": pid, "timepoint": timepoint})
    return True


def followup_due(patient: dict, timepoint: rules.Timepoint) -> datetime | None:
    """When the week-6 or week-12 questions are asked: their day, after the check-in time."""
    start = _start(patient)
    if start is None:
        return None
    return _followup_at(start, patient["timezone"], patient.get("checkin_time"), timepoint)


@functools.lru_cache(maxsize=65536)
def _followup_at(
    start: date, timezone: str, checkin_time: str | None, timepoint: rules.Timepoint
) -> datetime | None:
    """followup_due's arithmetic (pure: many people share a start date, a zone and a time)."""
    day = rules.followup_date(start, timepoint)
    if day is None:
        return None
    tz = zone(timezone)
    if checkin_time:
        return local_to_utc(day, parse_hhmm(checkin_time), tz) + ASK_AFTER_CHECKIN
    return local_to_utc(day, DEFAULT_ASK_TIME, tz)


def followup_now(patient: dict, now: datetime) -> bool:
    """Is a week-6 or week-12 window open now? Pure (no database): the plan tick asks this of
    everyone every 15 minutes, and opens a transaction only for the few it is true of."""
    if patient["status"] != patients.PLANNABLE:
        return False
    for tp in ("w06", "w12"):
        due = followup_due(patient, tp)
        if due is not None and due <= now < due + rules.OPEN_FOR:
            return True
    return False


def start_baseline(db: Database, patient: dict, now: datetime) -> bool:
    """The end of set-up: the baseline PEG and goals are asked (once)."""
    if store.has_any(db, patient["id"], "peg"):
        return False
    return start_timepoint(db, patient, "baseline", now)


def plan_for(db: Database, patient: dict, now: datetime) -> int:
    """Open what is due for an active person with a baseline: weeks 6 and 12 (while their window
    of 3 days lasts). Returns how many timepoints were started. Reads nothing unless one is due."""
    if patient["status"] != patients.PLANNABLE or _start(patient) is None:
        return 0
    started = 0
    for tp in ("w06", "w12"):
        due = followup_due(patient, tp)
        if (
            due is not None
            and due <= now < due + rules.OPEN_FOR
            and store.has_any(db, patient["id"], "peg")
        ):
            started += start_timepoint(db, patient, tp, now)
    return started


def after_summary(db: Database, row: dict, now: datetime) -> None:
    """The patient's weekly summary went out: someone set up before this landed (flagged by
    migration m020) is asked the baseline now, after the chart."""
    patient = patients.get(db, row["patient_id"])
    if (
        patient is None
        or patient["status"] != patients.PLANNABLE
        or not patient.get("outcomes_baseline_at_summary")
    ):
        return
    start_baseline(db, patient, now)


def _final_status(db: Database, s: dict) -> str:
    done = store.answers(db, s["id"])
    values = [a for a in done.values() if not a["skipped"]]
    if s["instrument"] == "peg":
        if len(values) == len(rules.PEG_ITEMS):
            return "complete"
    elif s["instrument"] == "goals":
        goals = store.current_goals(db, s["patient_id"])
        if goals and len(values) == len(goals):
            return "complete"
    elif values:
        return "complete"
    if values:
        return "partial"
    return "skipped" if done else "expired"


def tick(db: Database, now: datetime) -> int:
    """The plan tick: close sets past their time (partial answers kept), queue the one reminder
    a day after a PEG/goals timepoint was asked. Returns how many sets closed."""
    closed = 0
    for s in store.open_asked_before(db, now - rules.REMIND_AFTER):
        try:
            open_for = rules.GRC_OPEN_FOR if s["instrument"] == "grc" else rules.OPEN_FOR
            if parse_iso(s["asked_at"]) + open_for <= now:
                closed += close(db, s, now)
                continue
            if s["instrument"] == "grc" or s["reminded_at"] is not None:
                continue
            patient = patients.get(db, s["patient_id"])
            if patient is None or patient["status"] != patients.PLANNABLE:
                continue  # paused: asked again when they resume, while the set is open
            for other in store.open_sets(db, s["patient_id"]):
                if other["timepoint"] == s["timepoint"] and other["instrument"] != "grc":
                    store.mark_reminded(db, other["id"], now)
            if next_question(db, s["patient_id"], s["timepoint"]) is not None:
                _queue(db, patient, "outcome_reminder", s["timepoint"], now, now)
        except Exception as exc:  # noqa: BLE001 - one person's bad data must not stop the others
            log.error(
                "outcomes tick skipped",
                extra={"patient": s["patient_id"], "error": type(exc).__name__},
            )
    return closed


def close(db: Database, s: dict, now: datetime) -> int:
    """Close a set with what it has; its open questions are no longer waited for."""
    status = _final_status(db, s)
    if not store.close_set(db, s["id"], status, now):
        return 0
    if s["instrument"] != "grc":
        from jobs.outcome_results import queue_if_closed  # the results at weeks 6 and 12

        queue_if_closed(db, s["patient_id"], s["timepoint"], now)
    for r in questions.open_rows(db, s["patient_id"]):
        ref = str(r["ref"])
        if r["kind"] in QUESTION_KINDS and ref.split(":")[0] == str(s["id"]):
            questions.close(db, s["patient_id"], r["kind"], ref=ref, status="expired", now=now)
    return 1


# -- answers -----------------------------------------------------------------------------------
class NotOpen(Exception):
    """The set is closed, not this person's, or the item is not one of its questions."""


def owned_open(db: Database, patient: dict, set_id: int) -> dict:
    s = store.get_set(db, set_id)
    if s is None or s["patient_id"] != patient["id"] or s["status"] != "open":
        raise NotOpen
    return s


def _valid_item(db: Database, s: dict, item: str) -> bool:
    if s["instrument"] == "grc":
        return item == rules.GRC_ITEM
    if s["instrument"] == "peg":
        return item in rules.PEG_ITEMS
    gid = rules.goal_id_of(item)
    goal = store.get_goal(db, gid) if gid is not None else None
    return goal is not None and goal["patient_id"] == s["patient_id"]


def answer(
    db: Database, patient: dict, set_id: int, item: str, value: int | None, now: datetime
) -> list[Outgoing]:
    """Store one answer (None: skipped) and return the acknowledgement and the next question."""
    found = store.get_set(db, set_id)
    if (
        found is not None
        and found["patient_id"] == patient["id"]
        and item in store.answers(db, set_id)
    ):
        return [Outgoing(render("outcome_noted_already"))]  # a second tap, open or closed since
    s = owned_open(db, patient, set_id)
    if not _valid_item(db, s, item):
        raise NotOpen
    if s["instrument"] == "grc":
        if value is not None and not rules.GRC_MIN <= value <= rules.GRC_MAX:
            raise NotOpen
    elif value is not None and not rules.SCALE_MIN <= value <= rules.SCALE_MAX:
        raise NotOpen
    pid = patient["id"]
    if not store.record_answer(db, s["id"], pid, item, value, now):
        return [Outgoing(render("outcome_noted_already"))]
    kind, ref = (Q_GRC, str(s["id"])) if s["instrument"] == "grc" else (Q_ITEM, f"{s['id']}:{item}")
    questions.record_answered(db, pid, kind, ref, now, subject=s["timepoint"])
    log.info(
        "outcome answered",
        extra={"patient": pid, "set": s["id"], "item": item, "skipped": value is None},
    )
    if s["instrument"] == "grc":
        close(db, s, now)
        return [Outgoing(render("outcome_grc_thanks", words=rules.grc_words(value)))]
    return _continue(db, patient, s, now)


def answer_from_summary(
    db: Database, patient: dict, row_id: int, value: int | None, now: datetime
) -> list[Outgoing]:
    """A tap under a summary (`oc:w:<row>:<value>`): the weekly change of that summary's week."""
    row = outbox.get(db, row_id)
    if row is None or row["kind"] != "summary" or row["patient_id"] != patient["id"]:
        raise NotOpen
    s = grc_set_for_summary(db, row, now)
    if s is None:
        raise NotOpen
    return answer(db, patient, s["id"], rules.GRC_ITEM, value, now)


def _continue(db: Database, patient: dict, s: dict, now: datetime) -> list[Outgoing]:
    """After an answer: close what is finished, then ask the next question or say thanks."""
    pid, tp = patient["id"], s["timepoint"]
    for other in store.open_sets(db, pid):
        if (
            other["timepoint"] == tp
            and other["instrument"] != "grc"
            and next_item(db, other) is None
        ):
            close(db, other, now)
    nxt = ask_next(db, pid, tp, now)
    if nxt is not None:
        return [nxt]
    return [Outgoing(render("outcome_done", timepoint=tp, goals=goals_shown(db, pid, tp)))]


def goals_shown(db: Database, patient_id: int, timepoint: str) -> list[dict]:
    """Each current goal's rating at baseline and at `timepoint` ("gardening: 3 → 6")."""
    values: dict[str, dict[str, int | None]] = {}
    for r in store.goal_values(db, patient_id):
        values.setdefault(r["item"], {})[r["timepoint"]] = r["value"]
    shown = []
    for g in store.current_goals(db, patient_id):
        v = values.get(rules.goal_item(g["id"]), {})
        if timepoint not in v and "baseline" not in v:
            continue
        shown.append(
            {
                "name": g["name"],
                "before": v.get("baseline"),
                "now": v.get(timepoint),
                "change": rules.goals_change(v.get("baseline"), v.get(timepoint)),
            }
        )
    return shown


def goal_named(
    db: Database, patient: dict, set_id: int, name: str, now: datetime
) -> list[Outgoing]:
    """A baseline goal typed: stored, then rated."""
    s = owned_open(db, patient, set_id)
    if s["instrument"] != "goals" or next_item(db, s) != GOAL_NAME:
        raise NotOpen
    goal_id = store.add_goal(db, patient["id"], name, now)
    questions.record_answered(db, patient["id"], Q_NAME, str(s["id"]), now, subject=s["timepoint"])
    if goal_id is None:
        raise NotOpen
    log.info("goal added", extra={"patient": patient["id"], "goal": goal_id})
    item = rules.goal_item(goal_id)
    open_record(db, s, item, now)
    return [question_message(db, s, item, first=True)]


def goals_done(db: Database, patient: dict, set_id: int, now: datetime) -> list[Outgoing]:
    """ "none" / "No more": the baseline goals list ends (with none: the set is skipped)."""
    s = owned_open(db, patient, set_id)
    if s["instrument"] != "goals" or s["timepoint"] != "baseline":
        raise NotOpen
    questions.record_answered(db, patient["id"], Q_NAME, str(s["id"]), now, subject=s["timepoint"])
    if not store.current_goals(db, patient["id"]):
        store.close_set(db, s["id"], "skipped", now)
    else:
        close(db, s, now)
    return _continue(db, patient, s, now)


def grc_line(db: Database, patient_id: int) -> str | None:
    """ "a little better": the person's latest weekly-change answer, for the next summary."""
    found = store.latest_grc(db, patient_id)
    return rules.grc_words(found["value"]) if found else None
