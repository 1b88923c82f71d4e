"""Outcome results (issue 17, deliverable 4): what a person's answers say, for them and for
their clinic. No telegram here; SQL in storage.outcome_reports; definitions bot.rules.outcomes.

* **The person's results** at weeks 6 and 12: once that timepoint's PEG and goals sets have all
  closed (answered, partly answered, skipped or expired), `queue_if_closed` (called by
  jobs.outcomes.close) queues an `outcome_results` row (their change in plain words) and an
  `outcome_chart` row (daily pain and the PEG scores). Nothing is inferred: a missing side says
  so ("you skipped the questions at the start, so I can't compare").
* **/patient's Outcomes block** (`patient_block`) and the **cohort report** (`cohort_report`,
  `report_text`) for `/outcomes COHORT_ID`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from sqlite_utils import Database

from bot import chart
from bot.rules import outcomes as rules
from bot.rules.localtime import local_date, zone
from bot.rules.outcome_stats import Change, mean_change, share
from messages import Outgoing, render
from storage import checkins, clinics, outbox, patients
from storage import outcome_reports as reports

log = logging.getLogger(__name__)

FOLLOWUPS: tuple[rules.Timepoint, ...] = ("w06", "w12")
WEEK_OF = {"w06": 6, "w12": 12}


def course_start(patient: dict) -> date | None:
    start = patient.get("course_start") or patient.get("start_date")
    return date.fromisoformat(start) if start else None


def followup_day(patient: dict, timepoint: str) -> date | None:
    start = course_start(patient)
    if start is None or timepoint not in WEEK_OF:
        return None
    return rules.followup_date(start, timepoint)  # type: ignore[arg-type]


# -- the person's results ------------------------------------------------------------------
def queue_if_closed(db: Database, patient_id: int, timepoint: str, now: datetime) -> bool:
    """A week-6 or week-12 set closed: when none of that timepoint's PEG/goals sets is still
    open, queue the results and their chart (once: the dedupe keys). True when queued."""
    if timepoint not in WEEK_OF:
        return False
    sets = [
        s
        for (instrument, tp), s in reports.sets_of(db, patient_id).items()
        if tp == timepoint and instrument in ("peg", "goals")
    ]
    if not sets or any(s["status"] == "open" for s in sets):
        return False
    patient = patients.get(db, patient_id)
    if patient is None:
        return False
    first = outbox.enqueue(
        db,
        chat_id=patient["chat_id"],
        patient_id=patient_id,
        kind="outcome_results",
        due_at=now,
        now=now,
        dedupe_key=f"outcome_results:{patient_id}:{timepoint}",
        payload={"timepoint": timepoint},
    )
    outbox.enqueue(
        db,
        chat_id=patient["chat_id"],
        patient_id=patient_id,
        kind="outcome_chart",
        due_at=now + timedelta(seconds=1),
        now=now,
        dedupe_key=f"outcome_chart:{patient_id}:{timepoint}",
        payload={"timepoint": timepoint},
    )
    if first is not None:
        log.info("outcome results queued", extra={"patient": patient_id, "timepoint": timepoint})
    return first is not None


def person_results(db: Database, patient: dict, timepoint: str) -> dict:
    """What changed for one person between the start and `timepoint` (w06, w12), as figures."""
    pid = patient["id"]
    sets = reports.sets_of(db, pid)
    start, day = course_start(patient), followup_day(patient, timepoint)
    first_week = last_week = None
    if start is not None and day is not None:
        first_week = reports.daily_mean(db, pid, start, start + timedelta(days=6))
        last_week = reports.daily_mean(db, pid, day - timedelta(days=6), day)
    before, now = reports.peg(sets, "baseline"), reports.peg(sets, timepoint)
    said = reports.latest_grc(db, pid)
    return {
        "timepoint": timepoint,
        "week": WEEK_OF.get(timepoint),
        "pain_first": round(first_week[0], 1) if first_week else None,
        "pain_last": round(last_week[0], 1) if last_week else None,
        "peg_before": before["score"] if before else None,
        "peg_now": now["score"] if now else None,
        "peg_asked_before": before is not None,
        "goals": [
            {
                "name": g["name"],
                "before": g["values"].get("baseline"),
                "now": g["values"].get(timepoint),
                "change": rules.goals_change(
                    g["values"].get("baseline"), g["values"].get(timepoint)
                ),
            }
            for g in reports.goals(db, pid, sets)
            if "baseline" in g["values"] or timepoint in g["values"]
        ],
        "grc": rules.grc_words(said["value"]) if said else None,
    }


def compose_results(db: Database, row: dict, patient: dict) -> Outgoing | None:
    timepoint = json.loads(row["payload"])["timepoint"]
    found = person_results(db, patient, timepoint)
    return Outgoing(render("outcome_results", r=found), meta={"outcome_results": found})


def results_chart(db: Database, patient: dict, timepoint: str) -> dict:
    """Daily pain from the start to the follow-up day, with the PEG scores at both ends."""
    pid = patient["id"]
    start, day = course_start(patient), followup_day(patient, timepoint)
    ratings = {
        date.fromisoformat(r["local_date"]): r["pain"]
        for r in checkins.ratings_until(db, pid, (day or date.max).isoformat())
    }
    sets = reports.sets_of(db, pid)
    peg = []
    for tp, when in (("baseline", start), (timepoint, day)):
        found = reports.peg(sets, tp)
        if found and found["score"] is not None and when is not None:
            peg.append([when.isoformat(), found["score"]])
    spec = chart.spec(ratings, [], f"Your pain: weeks 1 to {WEEK_OF.get(timepoint, '?')}")
    spec["peg"] = peg
    return spec


def compose_chart(db: Database, row: dict, patient: dict) -> Outgoing | None:
    timepoint = json.loads(row["payload"])["timepoint"]
    spec = results_chart(db, patient, timepoint)
    caption = chart.alt_text(spec)
    if spec["peg"]:
        caption += " PEG score: " + ", then ".join(f"{v:g}" for _, v in spec["peg"]) + "."
    return Outgoing(caption, chart=spec)


# -- the clinician's views -----------------------------------------------------------------
def patient_block(db: Database, patient: dict) -> dict:
    """/patient's Outcomes block: PEG and pain at each timepoint, goals, the latest weekly
    change."""
    pid = patient["id"]
    sets = reports.sets_of(db, pid)
    peg_rows = []
    for tp in rules.TIMEPOINTS:
        found = reports.peg(sets, tp)
        if found is not None:
            peg_rows.append(
                {
                    "timepoint": tp,
                    "score": None if found["score"] is None else f"{found['score']:g}",
                    "pain": found["items"]["peg_pain"],
                    "status": found["status"],
                }
            )
    said = reports.latest_grc(db, pid)
    return {
        "peg": peg_rows,
        "goals": [
            {
                "name": g["name"],
                "line": " → ".join(
                    "?" if g["values"].get(tp) is None else str(g["values"][tp])
                    for tp in rules.TIMEPOINTS
                    if tp in g["values"] or tp == "baseline"
                ),
            }
            for g in reports.goals(db, pid, sets)
        ],
        "grc": rules.grc_words(said["value"]) if said else None,
        "grc_when": _week_words(said["timepoint"]) if said else None,
    }


def _week_words(timepoint: str) -> str:
    """'w06' -> "week 6", 'm2' -> "month 2 after the course"."""
    if timepoint.startswith("w") and timepoint[1:].isdigit():
        return f"week {int(timepoint[1:])}"
    if timepoint.startswith("m") and timepoint[1:].isdigit():
        return f"month {int(timepoint[1:])} after the course"
    return timepoint


def latest_grc_words(db: Database, patient_id: int) -> str | None:
    """The roster's GRC column: the latest weekly change in words."""
    said = reports.latest_grc(db, patient_id)
    return rules.grc_words(said["value"]) if said else None


@dataclass
class TimepointReport:
    timepoint: str
    reached: int = 0  # enrolled members whose follow-up day has come
    answered: int = 0  # answered at least one PEG item at this timepoint
    still_open: int = 0  # asked, not answered yet, set still open
    lost: int = 0  # reached, no answer, nothing open: lost to follow-up
    peg: Change = field(default_factory=lambda: mean_change([]))
    peg_improved: tuple[int, int] = (0, 0)
    pain: Change = field(default_factory=lambda: mean_change([]))
    pain_improved: tuple[int, int] = (0, 0)
    goals: Change = field(default_factory=lambda: mean_change([]))
    grc_improved: tuple[int, int] = (0, 0)


def cohort_report(db: Database, cohort: dict, now: datetime) -> dict:
    """The cohort's outcome figures over its current members (withdrawn people excluded):
    baseline n, and per follow-up the counts, paired mean changes (follow-up minus baseline)
    with 95% t-intervals and the shares improving by the thresholds of bot.rules.outcomes."""
    members = clinics.members(db, cohort["id"])
    baseline = 0
    timepoints = {tp: TimepointReport(tp) for tp in FOLLOWUPS}
    changes: dict[str, dict[str, list]] = {
        tp: {"peg": [], "pain": [], "goals": [], "peg_i": [], "pain_i": [], "grc_i": []}
        for tp in FOLLOWUPS
    }
    for m in members:
        sets = reports.sets_of(db, m["id"])
        base = reports.peg(sets, "baseline")
        if base is not None and base["answered"]:
            baseline += 1
        goal_rows = reports.goals(db, m["id"], sets)
        for tp in FOLLOWUPS:
            t, c = timepoints[tp], changes[tp]
            day = followup_day(m, tp)
            found = reports.peg(sets, tp)
            # Reached: asked, or the follow-up day is over in their zone.
            if found is not None or (
                day is not None and local_date(now, zone(m["timezone"])) > day
            ):
                t.reached += 1
                if found is not None and found["answered"]:
                    t.answered += 1
                elif found is not None and found["status"] == "open":
                    t.still_open += 1
                else:
                    t.lost += 1
            if found is not None and base is not None:
                if base["score"] is not None and found["score"] is not None:
                    c["peg"].append(found["score"] - base["score"])
                    c["peg_i"].append(rules.peg_improved(base["score"], found["score"]))
                b_pain, f_pain = base["items"]["peg_pain"], found["items"]["peg_pain"]
                if b_pain is not None and f_pain is not None:
                    c["pain"].append(f_pain - b_pain)
                    c["pain_i"].append(rules.pain_improved(b_pain, f_pain))
            diffs = [
                g["values"][tp] - g["values"]["baseline"]
                for g in goal_rows
                if g["values"].get(tp) is not None and g["values"].get("baseline") is not None
            ]
            if diffs:
                c["goals"].append(sum(diffs) / len(diffs))
            said = reports.grc(sets, tp)
            if said is not None:
                c["grc_i"].append(rules.grc_improved(said))
    for tp, t in timepoints.items():
        c = changes[tp]
        t.peg, t.pain, t.goals = (
            mean_change(c["peg"]),
            mean_change(c["pain"]),
            mean_change(c["goals"]),
        )
        t.peg_improved, t.pain_improved = share(c["peg_i"]), share(c["pain_i"])
        t.grc_improved = share(c["grc_i"])
    return {
        "cohort_id": cohort["id"],
        "members": len(members),
        "baseline": baseline,
        "timepoints": [asdict(t) for t in timepoints.values()],
    }


def _signed(x: float | None) -> str:
    """+1.2, \u22121.2 (a true minus sign), an en dash for none."""
    return "\u2013" if x is None else f"{x:+.1f}".replace("-", "\u2212")


def report_text(cohort: dict, report: dict) -> str:
    return render("outcome_report", cohort=cohort, r=report, signed=_signed)


def cohort_report_messages(db: Database, cohort: dict, now: datetime) -> list[Outgoing]:
    report = cohort_report(db, cohort, now)
    return [Outgoing(report_text(cohort, report), meta={"outcome_report": report})]
