"""Outcome results (issue 17, task L): what a person's answers say at each timepoint, read for
the results message, /patient's Outcomes block and the cohort report (/outcomes). Read only;
the write side is storage/outcomes.py, the definitions bot/rules/outcomes.py.
"""

from __future__ import annotations

from datetime import date

from sqlite_utils import Database

from bot.rules import outcomes as rules


def sets_of(db: Database, patient_id: int) -> dict[tuple[str, str], dict]:
    """The person's sets by (instrument, timepoint), each with `answers` {item: value | None}."""
    found: dict[tuple[str, str], dict] = {}
    for s in db.query("SELECT * FROM outcome_sets WHERE patient_id = ? ORDER BY id", [patient_id]):
        found[(s["instrument"], s["timepoint"])] = {**s, "answers": {}}
    by_id = {s["id"]: s for s in found.values()}
    for a in db.query(
        "SELECT set_id, item, value FROM outcome_answers WHERE patient_id = ? ORDER BY id",
        [patient_id],
    ):
        if a["set_id"] in by_id:
            by_id[a["set_id"]]["answers"][a["item"]] = a["value"]
    return found


def peg(sets: dict[tuple[str, str], dict], timepoint: str) -> dict | None:
    """A PEG set's answers and score (None: not asked): {status, items, score, answered}."""
    s = sets.get(("peg", timepoint))
    if s is None:
        return None
    items = {item: s["answers"].get(item) for item in rules.PEG_ITEMS}
    return {
        "status": s["status"],
        "items": items,
        "score": rules.peg_score(items),
        "answered": sum(v is not None for v in items.values()),
    }


def grc(sets: dict[tuple[str, str], dict], timepoint: str) -> int | None:
    """The weekly change answered for a course week ('w06'), None if skipped or not asked."""
    s = sets.get(("grc", timepoint))
    return None if s is None else s["answers"].get(rules.GRC_ITEM)


def latest_grc(db: Database, patient_id: int) -> dict | None:
    """The newest weekly change answered: {value, timepoint, answered_at}."""
    rows = list(
        db.query(
            "SELECT a.value, s.timepoint, a.answered_at FROM outcome_answers a "
            "JOIN outcome_sets s ON s.id = a.set_id WHERE a.patient_id = ? "
            "AND s.instrument = 'grc' AND a.skipped = 0 ORDER BY a.answered_at DESC, a.id DESC "
            "LIMIT 1",
            [patient_id],
        )
    )
    return rows[0] if rows else None


def goals(db: Database, patient_id: int, sets: dict[tuple[str, str], dict]) -> list[dict]:
    """Each current goal with its rating at every timepoint: {id, name, values {tp: v|None}}."""
    out = []
    for g in db.query(
        "SELECT id, name FROM goals WHERE patient_id = ? AND removed_at IS NULL ORDER BY position",
        [patient_id],
    ):
        item = rules.goal_item(g["id"])
        values = {
            tp: s["answers"].get(item)
            for (instrument, tp), s in sets.items()
            if instrument == "goals" and item in s["answers"]
        }
        out.append({"id": g["id"], "name": g["name"], "values": values})
    return out


def daily_mean(db: Database, patient_id: int, first: date, last: date) -> tuple[float, int] | None:
    """The mean of the daily pain ratings given for local dates first..last, and how many."""
    row = db.execute(
        "SELECT avg(pain), count(pain) FROM checkins WHERE patient_id = ? AND status = 'answered' "
        "AND pain IS NOT NULL AND local_date BETWEEN ? AND ?",
        [patient_id, first.isoformat(), last.isoformat()],
    ).fetchone()
    return (float(row[0]), int(row[1])) if row and row[1] else None


def grc_answers(db: Database, patient_id: int) -> list[dict]:
    """Every weekly change answered (not skipped), oldest first: value, answered_at."""
    return list(
        db.query(
            "SELECT a.value, a.answered_at FROM outcome_answers a "
            "JOIN outcome_sets s ON s.id = a.set_id WHERE a.patient_id = ? "
            "AND s.instrument = 'grc' AND a.skipped = 0 ORDER BY a.answered_at, a.id",
            [patient_id],
        )
    )
