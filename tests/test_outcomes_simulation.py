"""Issue 17, "Must show" 1: a 12-week cohort simulation in which most personas answer the outcome
questions (some skip, some answer late); the cohort report's every figure is recomputed here from
the raw rows (tests/outcomes_fixture.py plays it)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.rules.outcomes import GRC_WORDS
from jobs import clinic
from tests.outcomes_fixture import PERSONAS, OutcomesRun, run_outcomes_simulation

pytestmark = pytest.mark.slow

# t(0.975, df), from a printed table (not the code under test).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 11: 2.201}  # fmt: skip
PEG = ("peg_pain", "peg_enjoyment", "peg_activity")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> OutcomesRun:
    return run_outcomes_simulation(tmp_path_factory.mktemp("outcomes") / "sim.sqlite3")


def raw(run: OutcomesRun) -> dict:
    """Every answer by patient, instrument, timepoint and item, straight from the tables."""
    db = run.sim.db
    out: dict = defaultdict(lambda: defaultdict(dict))
    for r in db.query(
        "SELECT s.patient_id, s.instrument, s.timepoint, s.status, a.item, a.value "
        "FROM outcome_sets s LEFT JOIN outcome_answers a ON a.set_id = s.id"
    ):
        key = (r["instrument"], r["timepoint"])
        out[r["patient_id"]].setdefault(key, {"status": r["status"], "items": {}})
        if r["item"] is not None:
            out[r["patient_id"]][key]["items"][r["item"]] = r["value"]
    return out


def members(run: OutcomesRun) -> list[dict]:
    return list(
        run.sim.db.query(
            "SELECT p.* FROM memberships m JOIN patients p ON p.id = m.patient_id "
            "WHERE m.cohort_id = ? AND m.left_at IS NULL AND p.status != 'withdrawn'",
            [run.cohort_id],
        )
    )


def fmt(x: float) -> str:
    return f"{x:+.1f}".replace("-", "\u2212")


def change_text(values: list[float]) -> str:
    n, m = len(values), sum(values) / len(values)
    if n < 2:
        return f"change {fmt(m)}, n={n}"
    half = T975[n - 1] * statistics.stdev(values) / math.sqrt(n)
    return f"change {fmt(m)} (95% CI {fmt(m - half)} to {fmt(m + half)}), n={n}"


def expected_lines(run: OutcomesRun, tp: str, now_day: date) -> list[str]:
    answers = raw(run)
    people = members(run)
    reached = answered = still_open = lost = 0
    peg, peg_i, pain, pain_i, goals, grc = [], [], [], [], [], []
    for p in people:
        mine = answers.get(p["id"], {})
        base, follow = mine.get(("peg", "baseline")), mine.get(("peg", tp))
        start = date.fromisoformat(p["course_start"])
        day = start + timedelta(days=41 if tp == "w06" else 83)
        if follow is not None or now_day > day:
            reached += 1
            if follow and any(v is not None for v in follow["items"].values()):
                answered += 1
            elif follow and follow["status"] == "open":
                still_open += 1
            else:
                lost += 1
        if base and follow:
            b = [base["items"].get(i) for i in PEG]
            f = [follow["items"].get(i) for i in PEG]
            if None not in b and None not in f:
                bs, fs = round(sum(b) / 3, 2), round(sum(f) / 3, 2)
                peg.append(fs - bs)
                peg_i.append(bs - fs >= 1 or (bs > 0 and (bs - fs) / bs >= 0.3))
            if b[0] is not None and f[0] is not None:
                pain.append(f[0] - b[0])
                pain_i.append(b[0] - f[0] >= 2)
        g0 = mine.get(("goals", "baseline"), {"items": {}})["items"]
        g1 = mine.get(("goals", tp), {"items": {}})["items"]
        diffs = [g1[k] - g0[k] for k in g1 if g1[k] is not None and g0.get(k) is not None]
        if diffs:
            goals.append(sum(diffs) / len(diffs))
        said = mine.get(("grc", tp), {"items": {}})["items"].get("grc")
        if said is not None:
            grc.append(said >= 2)
    week = int(tp[1:])
    lines = [
        f"<b>Week {week}</b>: {reached} reached it, {answered} answered, {still_open} still "
        f"open, {lost} lost to follow-up."
    ]
    if peg:
        lines.append(
            f"• PEG score: {change_text(peg)}; improved 1+ point or 30%: {sum(peg_i)} of {len(peg)}"
        )
    if pain:
        lines.append(
            f"• Average pain: {change_text(pain)}; improved 2+ points: {sum(pain_i)} of {len(pain)}"
        )
    if goals:
        lines.append(f"• Personal goals: {change_text(goals)} (higher is better)")
    if grc:
        lines.append(f'• Weekly change "better" or "much better": {sum(grc)} of {len(grc)}')
    return lines


def test_most_answer_some_skip_some_answer_late(run):
    db, ids = run.sim.db, run.sim.patient_ids
    answers = raw(run)
    complete = [
        pid
        for pid in PERSONAS
        if all(
            answers[ids[pid]].get(("peg", tp), {}).get("status") == "complete"
            for tp in ("baseline", "w06", "w12")
        )
    ]
    assert len(complete) == 9  # o01-o09
    # o09 answered week 6 only after the reminder.
    s = next(
        db.query(
            "SELECT * FROM outcome_sets WHERE patient_id = ? AND instrument = 'peg' "
            "AND timepoint = 'w06'",
            [ids["o09"]],
        )
    )
    first = db.execute(
        "SELECT min(answered_at) FROM outcome_answers WHERE set_id = ?", [s["id"]]
    ).fetchone()[0]
    assert s["reminded_at"] is not None and first > s["reminded_at"]
    # o10 skipped the start: stored as skipped, no score.
    base = answers[ids["o10"]][("peg", "baseline")]
    assert base["status"] == "skipped" and base["items"] == dict.fromkeys(PEG)
    # o11: partial at week 6, nothing at week 12; o12: nothing ever.
    assert answers[ids["o11"]][("peg", "w06")]["status"] == "partial"
    assert answers[ids["o11"]][("peg", "w12")]["status"] == "expired"
    assert {v["status"] for k, v in answers[ids["o12"]].items() if k[0] == "peg"} == {"expired"}
    # Every outcome row reached its person: none failed or left pending.
    stuck = db.execute(
        "SELECT count(*) FROM outbox WHERE kind LIKE 'outcome%' AND status NOT IN ('sent', "
        "'skipped')"
    ).fetchone()[0]
    assert stuck == 0


def test_the_cohort_report_recomputed_from_the_raw_rows(run):
    end_day = run.now.date()
    people = members(run)
    base_n = sum(
        1
        for p in people
        if any(v is not None for v in raw(run)[p["id"]][("peg", "baseline")]["items"].values())
    )
    assert f"{len(people)} members now; {base_n} answered the questions at the start." in (
        run.report_text
    )
    for tp in ("w06", "w12"):
        for line in expected_lines(run, tp, end_day):
            assert line in run.report_text, line
    assert "t-interval" in run.report_text
    # Mid-course (day 44): week 6 has been asked, week 12 not reached by anyone.
    for line in expected_lines(run, "w06", run.mid_now.date()):
        assert line in run.mid_report_text, line
    assert "<b>Week 12</b>: 0 reached it, 0 answered" in run.mid_report_text


def test_people_see_their_results_at_weeks_6_and_12(run):
    sim, ids = run.sim, run.sim.patient_ids
    answers = raw(run)
    for pid in PERSONAS:
        persona = next(p for p in sim.scenario.patients if p.id == pid)
        texts = [s.text for s in sim.api.sent if s.chat_id == persona.chat_id]
        photos = [
            s for s in sim.api.sent if s.chat_id == persona.chat_id and s.method == "sendPhoto"
        ]
        for tp, week in (("w06", 6), ("w12", 12)):
            got = [t for t in texts if f"Your results after {week} weeks" in t]
            assert len(got) == 1, (pid, tp)  # every set closes, answered or not: results once
            base = answers[ids[pid]].get(("peg", "baseline"))
            follow = answers[ids[pid]].get(("peg", tp))
            if base is None or None in base["items"].values() or len(base["items"]) < 3:
                assert "so I can't compare" in got[0], pid
            elif follow and len(follow["items"]) == 3 and None not in follow["items"].values():
                b = round(sum(base["items"][i] for i in PEG) / 3, 2)
                f = round(sum(follow["items"][i] for i in PEG) / 3, 2)
                assert f"{b:g} at the start, {f:g} now." in got[0], pid
        assert sum("PEG score" in (p.text or "") for p in photos) >= 1 or pid == "o12"


def test_roster_and_csv_show_the_latest_weekly_change(run):
    db = run.sim.db
    days, _ = clinic.export_rows(db, run.cohort_id, run.now)
    for p in members(run):
        tz = ZoneInfo(p["timezone"])
        said = [
            (datetime.fromisoformat(r["answered_at"]).astimezone(tz).date().isoformat(), r["value"])
            for r in db.query(
                "SELECT a.answered_at, a.value FROM outcome_answers a JOIN outcome_sets s "
                "ON s.id = a.set_id WHERE a.patient_id = ? AND s.instrument = 'grc' "
                "AND a.value IS NOT NULL ORDER BY a.answered_at, a.id",
                [p["id"]],
            )
        ]
        for row in (r for r in days if r["patient_id"] == p["id"]):
            before = [v for d, v in said if d <= row["local_date"]]
            assert row["grc_latest"] == (before[-1] if before else None), row
        line = clinic.patient_line(db, p, run.now)
        assert line.grc == (GRC_WORDS[said[-1][1]] if said else None)
    lines = clinic.roster_messages(db, clinic.clinics.cohort(db, run.cohort_id), run.now)
    text = "\n".join(m.text for m in lines)
    assert "weekly change (latest)" in text and " · much better" in text
