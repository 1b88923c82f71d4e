"""Fifty patients in a clinic's two cohorts for four weeks, played through the real Telegram flows.

The scenario (tests/scenarios/clinic_cohort_50.yaml) creates two clinics, their clinicians join by
invite, cohorts are made with /cohort_new, and patients join through the link in its reply. After
four weeks each clinician asks for /cohort and /export. Every figure of the roster and every CSV
cell checked here is recomputed straight from the rows in the database with arithmetic written out
in this file (the definitions of bot/roster.py and bot/weekly.py's rounding), not by calling them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import chart
from bot.simulator.runner import Simulation
from bot.simulator.scenario import ScenarioError, load_scenario, parse_scenario
from jobs import clinic

SCENARIO = Path(__file__).parent / "scenarios" / "clinic_cohort_50.yaml"
VERDICTS = ("keep", "progress", "adapt", "pause")
FLAG_TEXT = {
    "red_flag": "red flag reported",
    "rise": "pain rising (2+ above week 1)",
    "inactive": "quiet 3+ days",
    "blocked": "bot blocked",
}
TINY_PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@dataclass
class Played:
    sim: Simulation
    lines: list[dict]
    now: datetime
    rosters: dict[int, str]  # cohort id -> the roster text its clinician received
    exports: dict[int, dict[str, list]]  # cohort id -> {"days": rows, "sessions": rows}
    refused: dict[int, list[str]]  # cohort id -> what another clinic's clinician got


def _staff(sim: Simulation, clinic_name: str):
    return next(c for c in sim.scenario.clinics if c.name == clinic_name).clinicians


async def _play(sim: Simulation) -> Played:
    await sim.start()
    try:
        await sim.run_until(sim.scenario.start + timedelta(days=sim.scenario.days))
        rosters, exports, refused = {}, {}, {}
        for (clinic_name, _), cohort_id in sim.cohort_ids.items():
            staff = _staff(sim, clinic_name)[-1]  # not the one who created the cohort
            replies = await sim.clinician_say(staff, f"/cohort {cohort_id}", "cohort")
            rosters[cohort_id] = "\n".join(s.text for s in replies)
            files = [
                s
                for s in await sim.clinician_say(staff, f"/export {cohort_id}", "export")
                if s.method == "sendDocument"
            ]
            exports[cohort_id] = {}
            for sent in files:
                rows = list(csv.DictReader(io.StringIO(sent.params["_bytes"].decode("utf-8"))))
                part = (
                    "days"
                    if sent.params["document"]["filename"].split("-")[2] == "days"
                    else "sessions"
                )
                exports[cohort_id][part] = rows
            other = next(c for c in sim.scenario.clinics if c.name != clinic_name).clinicians[0]
            refused[cohort_id] = [
                s.text for s in await sim.clinician_say(other, f"/cohort {cohort_id}", "cohort")
            ] + [
                f"{s.method}:{s.text}"
                for s in await sim.clinician_say(other, f"/export {cohort_id}", "export")
            ]
        return Played(sim, sim.lines, sim.clock.now(), rosters, exports, refused)
    finally:
        await sim.app.shutdown()


@pytest.fixture(scope="module")
def played(tmp_path_factory) -> Played:
    scenario = load_scenario(SCENARIO)
    # Drawing ~220 weekly charts would take most of the run and is tested elsewhere; and the
    # planner ticks hourly (the PLAN_INTERVAL_SECONDS setting) instead of every 15 minutes.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chart, "render_png", lambda data: TINY_PNG)
        sim = Simulation(
            scenario,
            db_path=tmp_path_factory.mktemp("clinic") / "sim.sqlite3",
            PLAN_INTERVAL_SECONDS=3600,
        )
        return asyncio.run(_play(sim))


# --- the expected figures, from the raw rows -------------------------------------------------


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def expected_figures(db, patient: dict, now: datetime) -> dict:
    """What the roster must show for one member, from checkins, sessions, events and patients."""
    tz = ZoneInfo(patient["timezone"])
    today = now.astimezone(tz).date()
    start = date.fromisoformat(patient["start_date"])
    ratings = {
        date.fromisoformat(r["local_date"]): r["pain"]
        for r in db.query(
            "SELECT local_date, pain FROM checkins WHERE patient_id = ? AND status = 'answered'",
            [patient["id"]],
        )
        if r["local_date"] <= today.isoformat()
    }

    def adherence(first: date) -> tuple[int, int]:
        answered = [d for d in ratings if first <= d <= today]
        # Today counts as a day only once it has been answered.
        return len(answered), (today - first).days + (1 if today in ratings else 0)

    moments = [
        r["t"]
        for r in db.query(
            "SELECT answered_at AS t FROM checkins WHERE patient_id = ? AND status = 'answered' "
            "UNION ALL SELECT created_at FROM sessions WHERE patient_id = ?",
            [patient["id"], patient["id"]],
        )
        if r["t"]
    ]
    last = (
        max(datetime.fromisoformat(t) for t in moments).astimezone(tz).date() if moments else None
    )
    since = (today - last).days if last else None

    first_week = _mean(
        [
            ratings[start + timedelta(days=n)]
            for n in range(7)
            if start + timedelta(days=n) in ratings
        ]
    )
    last_week = _mean(
        [
            ratings[today - timedelta(days=n)]
            for n in range(7)
            if today - timedelta(days=n) in ratings
        ]
    )
    overlapping = today - timedelta(days=6) <= start
    change = (
        None
        if first_week is None or last_week is None or overlapping
        else round(last_week - first_week, 1)
    )
    verdicts = Counter(
        r["verdict"]
        for r in db.query(
            "SELECT verdict FROM sessions WHERE patient_id = ? AND stage = 'decided'",
            [patient["id"]],
        )
    )
    emergencies = [
        r["at"]
        for r in db.query(
            "SELECT at, data FROM events WHERE patient_id = ? AND kind = 'red_flag' ORDER BY id",
            [patient["id"]],
        )
        if json.loads(r["data"]).get("level") == "emergency"
    ]
    # Issue 14: the flag is dated (the patient's local date of the latest report).
    red_flag_date = (
        datetime.fromisoformat(emergencies[-1]).astimezone(tz).date() if emergencies else None
    )
    # Issue 16: with its state; a red flag seen by a doctor leaves the roster 14 days later.
    seen = [
        datetime.fromisoformat(r["at"]).astimezone(tz).date()
        for r in db.query(
            "SELECT at FROM events WHERE patient_id = ? AND kind = 'red_flag_seen' ORDER BY id",
            [patient["id"]],
        )
    ]
    seen_after = seen[-1] if seen and red_flag_date and seen[-1] >= red_flag_date else None
    red_flag = bool(emergencies) and not (seen_after and (today - seen_after).days > 14)
    states = {}
    if red_flag:
        if seen_after:
            states["red_flag"] = f"seen by a doctor {seen_after}"
        elif patient["status"] == "hold":
            states["red_flag"] = f"open, on hold since {red_flag_date}"
        else:
            states["red_flag"] = "open"
    noticed = [
        datetime.fromisoformat(r["at"]).astimezone(tz).date()
        for r in db.query(
            "SELECT at FROM events WHERE patient_id = ? AND kind = 'rise_noticed' ORDER BY id",
            [patient["id"]],
        )
    ]
    rise_since = noticed[-1] if noticed else None
    for day in reversed(noticed[:-1]):
        if (rise_since - day).days > 8:
            break
        rise_since = day
    blocked = patient["status"] == "inactive" and patient["inactive_reason"] in (
        "blocked",
        "chat_not_found",
    )
    quiet = (since if since is not None else (today - start).days) >= 3
    if quiet and patient["status"] == "hold":
        states["inactive"] = f"on hold since {red_flag_date}"
    elif quiet and patient["status"] == "paused":
        paused = datetime.fromisoformat(patient["paused_from"]).astimezone(tz).date()
        states["inactive"] = f"paused since {paused}"
    # In order of urgency.
    flags = []
    if red_flag:
        flags.append("red_flag")
    if blocked:
        flags.append("blocked")
    if change is not None and change >= 2.0:
        flags.append("rise")
    if quiet:
        flags.append("inactive")
    return {
        "today": today,
        "start": start,
        "last_7": adherence(max(start, today - timedelta(days=6))),
        "overall": adherence(start),
        "since": since,
        "first_week": first_week,
        "last_week": last_week,
        "change": change,
        "verdicts": {v: verdicts.get(v, 0) for v in VERDICTS},
        "flags": tuple(flags),
        "red_flag_date": red_flag_date if red_flag else None,
        "states": states,
        "rise_since": rise_since if "rise" in flags else None,
    }


def members_in_db(db, cohort_id: int) -> list[dict]:
    return list(
        db.query(
            "SELECT p.* FROM memberships m JOIN patients p ON p.id = m.patient_id "
            "WHERE m.cohort_id = ? AND m.left_at IS NULL ORDER BY p.id",
            [cohort_id],
        )
    )


def roster_entry(patient: dict, e: dict) -> str:
    """The lines of the roster template about one patient, written out from expected figures."""
    since = (
        "no answer yet"
        if e["since"] is None
        else "answered today"
        if e["since"] == 0
        else f"{e['since']} day{'' if e['since'] == 1 else 's'} ago"
    )
    if e["first_week"] is None:
        trend = "no ratings"
    else:
        trend = f"{e['first_week']} → {e['last_week'] if e['last_week'] is not None else '–'}"
        if e["change"] is not None:
            trend += f" ({e['change']:+.1f})"
    v = e["verdicts"]
    text = (
        f"<b>{patient['first_name']}</b> #{patient['id']} "
        f"(day {(e['today'] - e['start']).days + 1})\n"
        f"{e['last_7'][0]}/{e['last_7'][1]}, {e['overall'][0]}/{e['overall'][1]} · {since} · "
        f"{trend} · {v['keep']}/{v['progress']}/{v['adapt']}/{v['pause']}"
    )
    if e["flags"]:
        shown = []
        for f in e["flags"]:
            flag = FLAG_TEXT[f]
            if f == "red_flag":
                flag += f" {e['red_flag_date']}"
            if f == "rise" and e["rise_since"]:
                flag += f" since {e['rise_since']}"
            if f in e["states"]:
                flag += f" ({e['states'][f]})"
            shown.append(flag)
        text += "\n⚠️ " + ", ".join(shown)
    return text


def shows(text: str, entry: str) -> bool:
    """The entry is in the text and nothing more follows on its last line (no further figures
    or flags)."""
    return re.search(re.escape(entry) + r"(?=$|\n(?!⚠️))", text) is not None


def _cohorts(played: Played):
    return [
        (clinic_name, cohort_name, cohort_id)
        for (clinic_name, cohort_name), cohort_id in played.sim.cohort_ids.items()
    ]


# --- the flows that built the clinics ---------------------------------------------------------


@pytest.mark.slow
def test_clinics_cohorts_and_members_were_made_through_the_telegram_flows(played):
    sim, lines = played.sim, played.lines
    created = [
        line for line in lines if line["dir"] == "event" and line["kind"] == "cohort_created"
    ]
    assert [
        (c["data"]["clinic"], c["data"]["cohort"], c["data"]["start_date"], c["data"]["qr"])
        for c in created
    ] == [
        ("Northside Physio", "Tuesday group", "2026-03-03", True),
        ("Northside Physio", "Rolling group", None, True),
        ("Riverside Clinic", "Evening group", "2026-03-02", True),
    ]
    kinds = Counter(line["kind"] for line in lines if line["dir"] == "in")
    assert kinds["clinician_invite"] == kinds["clinician_accept"] == 3
    assert kinds["cohort_link"] == kinds["cohort_join"] == 54
    staff = {r["user_id"]: r for r in sim.db.query("SELECT * FROM clinicians")}
    assert {uid: s["first_name"] for uid, s in staff.items()} == {
        9001: "Sam",
        9002: "Priya",
        9101: "Lou",
    }
    joined = {}
    for (clinic_name, cohort_name), cohort_id in sim.cohort_ids.items():
        spec = next(
            h
            for c in sim.scenario.clinics
            if c.name == clinic_name
            for h in c.cohorts
            if h.name == cohort_name
        )
        ids = {sim.patient_ids[p] for p in spec.patients}
        assert {p["id"] for p in members_in_db(sim.db, cohort_id)} == ids
        joined.update(dict.fromkeys(ids, cohort_id))
    assert (
        len(joined) == 54
        and sum(
            1
            for c in joined.values()
            if c
            in (
                sim.cohort_ids[("Northside Physio", "Tuesday group")],
                sim.cohort_ids[("Northside Physio", "Rolling group")],
            )
        )
        == 50
    )
    for solo in ("p55", "p56"):  # in no cohort: no membership, no offer
        pid = sim.patient_ids[solo]
        assert not list(sim.db.query("SELECT * FROM memberships WHERE patient_id = ?", [pid]))
    # Each join recorded the sharing consent (the hash of the offer text the patient saw).
    assert (
        sim.db.execute(
            "SELECT count(*) FROM memberships m JOIN consents c ON c.id = "
            "m.consent_id WHERE c.kind = 'clinic_sharing'"
        ).fetchone()[0]
        == 54
    )
    # A fixed start became week 1 of its members' course; rolling members start when they join.
    tuesday = sim.cohort_ids[("Northside Physio", "Tuesday group")]
    assert {p["course_start"] for p in members_in_db(sim.db, tuesday)} == {"2026-03-03"}
    rolling = sim.cohort_ids[("Northside Physio", "Rolling group")]
    assert {p["course_start"] for p in members_in_db(sim.db, rolling)} == {"2026-03-02"}


@pytest.mark.slow
def test_the_scenario_has_the_variety_the_roster_is_about(played):
    """The figures below are only worth checking if the cohort really shows all of this."""
    found = Counter()
    for _, _, cohort_id in _cohorts(played):
        for p in members_in_db(played.sim.db, cohort_id):
            e = expected_figures(played.sim.db, p, played.now)
            found.update(e["flags"])
            found["never answered"] += e["since"] is None
            found["daily"] += e["overall"][0] >= e["overall"][1] - 1
            found["patchy"] += 0 < e["overall"][0] <= e["overall"][1] * 0.7
            found["improving"] += e["change"] is not None and e["change"] <= -2
            found["sessions"] += sum(e["verdicts"].values()) > 0
            found["adapt"] += e["verdicts"]["adapt"] > 0
    # One of the two red flags was seen by a doctor over 14 days ago: off the roster (issue 16).
    assert found["red_flag"] >= 1 and found["rise"] >= 3 and found["blocked"] == 2
    assert found["inactive"] >= 5 and found["never answered"] == 1
    assert found["daily"] >= 15 and found["patchy"] >= 5 and found["improving"] >= 5
    assert found["sessions"] >= 10 and found["adapt"] >= 5


# --- (a) the roster ---------------------------------------------------------------------------


@pytest.mark.slow
def test_roster_figures_equal_the_ones_recomputed_from_the_database(played):
    db, checked = played.sim.db, 0
    for _, _, cohort_id in _cohorts(played):
        lines = clinic.cohort_lines(db, cohort_id, played.now)
        members = members_in_db(db, cohort_id)
        assert [line.patient["id"] for line in lines] == [p["id"] for p in members]
        for line, patient in zip(lines, members, strict=True):
            e, f = expected_figures(db, patient, played.now), line.figures
            got = {
                "today": line.today,
                "start": line.start,
                "last_7": (f.last_7.answered, f.last_7.days),
                "overall": (f.overall.answered, f.overall.days),
                "since": f.days_since_answer,
                "first_week": f.first_week,
                "last_week": f.last_week,
                "change": f.change,
                "verdicts": dict(f.verdicts),
                "flags": tuple(f.flags),
                "red_flag_date": f.flag_dates.get("red_flag"),
                "states": f.flag_states,
                "rise_since": f.flag_dates.get("rise"),
            }
            assert got == e, patient["first_name"]
            checked += 1
    assert checked == 54


@pytest.mark.slow
def test_the_roster_text_the_clinician_receives_shows_each_patients_figures(played):
    db = played.sim.db
    for clinic_name, cohort_name, cohort_id in _cohorts(played):
        text = played.rosters[cohort_id]
        members = members_in_db(db, cohort_id)
        figures = [expected_figures(db, p, played.now) for p in members]
        assert f"<b>{cohort_name}</b> (cohort {cohort_id}, {clinic_name})" in text
        flagged = sum(1 for e in figures if e["flags"])
        assert f"{len(members)} patients, {flagged} flagged." in text
        for patient, e in zip(members, figures, strict=True):
            assert shows(text, roster_entry(patient, e)), roster_entry(patient, e)
        # Nobody else: exactly the members, each once, flagged ones first (issue 16).
        listed = [int(n) for n in re.findall(r"#(\d+) \(day ", text)]
        assert sorted(listed) == [p["id"] for p in members]
        urgency = {"red_flag": 0, "soon_sign": 1, "blocked": 2, "rise": 3, "inactive": 4}
        rank = {
            p["id"]: (min((urgency[f] for f in e["flags"]), default=5), p["id"])
            for p, e in zip(members, figures, strict=True)
        }
        assert listed == sorted(listed, key=rank.__getitem__)
    # The roster is split into parts of 15 patients (Telegram's message length).
    tuesday = played.rosters[played.sim.cohort_ids[("Northside Physio", "Tuesday group")]]
    assert "part 1 of 2" in tuesday and "part 2 of 2" in tuesday


@pytest.mark.slow
def test_each_patient_of_the_roster_starts_on_a_line_of_their_own(played):
    for text in played.rosters.values():
        assert not re.search(r"⚠️[^\n]*<b>", text)


# --- (b) the CSV export -----------------------------------------------------------------------


@pytest.mark.slow
def test_export_has_one_row_per_member_per_day_with_the_stored_rating(played):
    db = played.sim.db
    for _, _, cohort_id in _cohorts(played):
        rows = played.exports[cohort_id]["days"]
        expected = []
        for p in members_in_db(db, cohort_id):
            tz = ZoneInfo(p["timezone"])
            start = date.fromisoformat(p["start_date"])
            today = played.now.astimezone(tz).date()
            stored = {
                r["local_date"]: r
                for r in db.query(
                    "SELECT local_date, status, pain FROM checkins WHERE patient_id = ?", [p["id"]]
                )
            }
            started = Counter(
                datetime.fromisoformat(r["started_at"]).astimezone(tz).date().isoformat()
                for r in db.query("SELECT started_at FROM sessions WHERE patient_id = ?", [p["id"]])
            )
            breaks = Counter(
                r["local_date"]
                for r in db.query(
                    "SELECT local_date FROM sitting_breaks "
                    "WHERE patient_id = ? AND action = 'done'",
                    [p["id"]],
                )
            )
            signs = {}  # (level, local date) -> the latest report's time (issue 14's columns)
            for r in db.query(
                "SELECT at, data FROM events WHERE patient_id = ? AND "
                "kind = 'red_flag' ORDER BY id",
                [p["id"]],
            ):
                local = datetime.fromisoformat(r["at"]).astimezone(tz).date().isoformat()
                signs[(json.loads(r["data"])["level"], local)] = r["at"]
            for n in range((today - start).days + 1):
                day = (start + timedelta(days=n)).isoformat()
                check = stored.get(day)
                expected.append(
                    {
                        "cohort_id": str(cohort_id),
                        "patient_id": str(p["id"]),
                        "first_name": p["first_name"],
                        "reference": "",  # the clinic's own; none set here (issue 16)
                        "study_id": db.execute(
                            "SELECT study_id FROM memberships WHERE patient_id = ? "
                            "AND cohort_id = ? AND left_at IS NULL",
                            [p["id"], cohort_id],
                        ).fetchone()[0],
                        "local_date": day,
                        "course_day": str(n + 1),
                        "checkin": check["status"] if check else "none",
                        "pain": "" if not check or check["pain"] is None else str(check["pain"]),
                        "sessions_started": str(started.get(day, 0)),
                        "sitting_breaks": str(breaks.get(day, 0)),
                        "emergency_sign_reported_at": signs.get(("emergency", day), ""),
                        "soon_sign_reported_at": signs.get(("soon", day), ""),
                        "grc_latest": "",  # issue 17: no outcome answers in this run
                    }
                )
        assert rows == expected
        answered = [r for r in rows if r["checkin"] == "answered"]
        assert answered and all(r["pain"] != "" for r in answered)
    everyone = [r for h in played.exports.values() for r in h["days"]]
    assert any(r["checkin"] == "missed" for r in everyone)
    assert any(r["sitting_breaks"] != "0" for r in everyone)


@pytest.mark.slow
def test_export_has_one_row_per_session_with_its_ratings_and_verdict(played):
    db = played.sim.db
    total = 0
    for _, _, cohort_id in _cohorts(played):
        rows = played.exports[cohort_id]["sessions"]
        members = [p["id"] for p in members_in_db(db, cohort_id)]
        stored = list(
            db.query(
                "SELECT s.*, a.name AS activity FROM sessions s JOIN activities a ON a.id = "
                f"s.activity_id WHERE s.patient_id IN ({','.join('?' * len(members))}) "
                "ORDER BY s.patient_id, s.id",
                members,
            )
        )
        assert [(int(r["patient_id"]), int(r["session_id"])) for r in rows] == [
            (s["patient_id"], s["id"]) for s in stored
        ]
        for row, s in zip(rows, stored, strict=True):
            for column in (
                "activity",
                "dose_minutes",
                "before",
                "after",
                "settled",
                "next_day",
                "stage",
                "verdict",
                "next_dose",
                "started_at",
                "decided_at",
            ):
                want = "" if s[column] is None else str(s[column])
                assert row[column] == want, (column, row, s)
            assert row["cohort_id"] == str(cohort_id)
        total += len(rows)
        verdicts = Counter(r["verdict"] for r in rows if r["stage"] == "decided")
        assert verdicts == Counter(r["verdict"] for r in stored if r["stage"] == "decided")
    assert total >= 40


# --- (c) nothing about anyone else ------------------------------------------------------------


@pytest.mark.slow
def test_patients_of_other_cohorts_and_clinics_never_appear(played):
    sim, db = played.sim, played.sim.db
    all_patients = {p["id"]: p for p in db.query("SELECT * FROM patients")}
    for _, _, cohort_id in _cohorts(played):
        members = {p["id"] for p in members_in_db(db, cohort_id)}
        outsiders = [p for pid, p in all_patients.items() if pid not in members]
        text = played.rosters[cohort_id]
        for p in outsiders:
            assert f"#{p['id']} " not in text and f"<b>{p['first_name']}</b>" not in text
        for part in ("days", "sessions"):
            assert {int(r["patient_id"]) for r in played.exports[cohort_id][part]} <= members
        assert {int(r["patient_id"]) for r in played.exports[cohort_id]["days"]} == members
        # Another clinic's clinician asking for this cohort gets a refusal and no file.
        refused = " ".join(played.refused[cohort_id])
        assert "sendDocument" not in refused
        assert all(f"<b>{all_patients[m]['first_name']}</b>" not in refused for m in members)
    # Alerts went only to the clinicians of the clinic whose cohort the patient is in.
    for row in db.query(
        "SELECT o.chat_id, o.patient_id, o.status FROM outbox o WHERE o.kind = 'alert_clinician'"
    ):
        clinic_of_patient = db.execute(
            "SELECT h.clinic_id FROM memberships m JOIN cohorts h ON h.id = m.cohort_id "
            "WHERE m.patient_id = ?",
            [row["patient_id"]],
        ).fetchone()[0]
        staff_clinics = {
            r[0]
            for r in db.execute(
                "SELECT clinic_id FROM clinicians WHERE chat_id = ?", [row["chat_id"]]
            )
        }
        assert staff_clinics == {clinic_of_patient}
    alerted = {
        (r["chat_id"], r["patient_id"])
        for r in db.query(
            "SELECT chat_id, patient_id FROM outbox "
            "WHERE kind = 'alert_clinician' AND status = 'sent'"
        )
    }
    assert (9101, sim.patient_ids["p52"]) in alerted  # Riverside's red flag
    assert (9001, sim.patient_ids["p11"]) in alerted  # Northside's red flag, both staff
    assert (9002, sim.patient_ids["p11"]) in alerted
    solo = {sim.patient_ids["p55"], sim.patient_ids["p56"]}
    assert not solo & {pid for _, pid in alerted}
    # Each patient who blocked the bot was reported once to each of their clinic's clinicians:
    # one episode (issue 16), told in the clinic's working hours in a sent `alert_batch` row.
    staff_ids = {r["chat_id"]: r["id"] for r in db.query("SELECT id, chat_id FROM clinicians")}
    episodes = list(db.query("SELECT * FROM alert_episodes WHERE kind = 'blocked'"))
    assert Counter(e["patient_id"] for e in episodes) == {
        sim.patient_ids[p]: 1 for p in ("p19", "p44")
    }
    for episode in episodes:
        assert json.loads(episode["recipients"]) == sorted(staff_ids[c] for c in (9001, 9002))
        for chat in (9001, 9002):
            [told] = list(
                db.query(
                    "SELECT status FROM outbox WHERE kind = 'alert_batch' AND chat_id = ? "
                    "AND json_extract(payload, '$.notify_at') = ?",
                    [chat, episode["notify_at"]],
                )
            )
            assert told["status"] == "sent"


# --- issue 16: the alert load (clinician pushes) in this simulation --------------------------


@pytest.mark.slow
def test_clinic_simulation_alerts_once_per_episode_and_in_working_hours(played):
    db = played.sim.db
    clinic_zone = {
        r["chat_id"]: (ZoneInfo(r["timezone"]), r["work_days"], r["work_from"], r["work_to"])
        for r in db.query(
            "SELECT k.chat_id, c.* FROM clinicians k JOIN clinics c ON c.id = k.clinic_id"
        )
    }
    sent = list(db.query("SELECT * FROM outbox WHERE status = 'sent' ORDER BY sent_at"))
    told: dict[tuple[int, int], int] = {}
    pushes: dict[tuple[str, str], int] = {}
    for row in sent:
        payload = json.loads(row["payload"])
        if row["kind"] in ("alert_clinician", "alert_batch", "digest"):
            when = datetime.fromisoformat(row["sent_at"])
            week = f"{when.isocalendar()[0]}-W{when.isocalendar()[1]:02d}"
            what = payload.get("alert", row["kind"])
            pushes[(what, week)] = pushes.get((what, week), 0) + 1
        if row["kind"] == "alert_clinician" and payload.get("alert") != "red_flag_seen":
            key = (row["chat_id"], payload["episode_id"])
            told[key] = told.get(key, 0) + 1
        if row["kind"] == "alert_batch":
            tz, days, opens, closes = clinic_zone[row["chat_id"]]
            local = datetime.fromisoformat(row["sent_at"]).astimezone(tz)
            assert str(local.weekday()) in days.split(","), row
            assert opens <= local.strftime("%H:%M") < closes, row
    assert told and set(told.values()) == {1}  # one alert per clinician per episode
    digests = [
        (r["chat_id"], json.loads(r["payload"])["cohort_id"], r["due_at"][:10])
        for r in sent
        if r["kind"] == "digest"
    ]
    assert len(digests) == len(set(digests))
    print("clinician pushes per kind and ISO week:", dict(sorted(pushes.items())))


# --- the scenario format ----------------------------------------------------------------------

BASE = {
    "start": "2026-03-02T06:00:00Z",
    "days": 7,
    "patients": [{"id": "ana"}, {"id": "ben"}, {"id": "cy", "chat_id": 4242}],
}


def _with(clinics) -> dict:
    return {**BASE, "clinics": clinics}


def _clinic(**changes) -> dict:
    found = {
        "name": "North",
        "timezone": "Europe/London",
        "clinicians": [{"id": 9001}],
        "cohorts": [{"name": "Tue", "start": "2026-03-03", "patients": ["ana"]}],
    }
    found.update(changes)
    return found


def test_the_clinics_section_is_parsed():
    scenario = parse_scenario(
        _with(
            [
                _clinic(
                    cohorts=[
                        {"name": "Tue", "start": date(2026, 3, 3), "patients": ["ana", 4242]},
                        {"name": "Rolling", "patients": []},
                    ]
                )
            ]
        )
    )
    [north] = scenario.clinics
    assert (north.name, north.timezone, north.clinicians[0].chat_id) == (
        "North",
        "Europe/London",
        9001,
    )
    assert north.clinicians[0].name == "Clinician 9001"
    assert [(h.name, h.start, h.patients) for h in north.cohorts] == [
        ("Tue", date(2026, 3, 3), ("ana", "cy")),
        ("Rolling", None, ()),
    ]
    assert parse_scenario(BASE).clinics == ()


@pytest.mark.parametrize(
    "clinics, message",
    [
        ([_clinic(cohorts=[{"name": "Tue", "patients": ["zed"]}])], "'zed' is not a patient id"),
        (
            [
                _clinic(
                    cohorts=[{"name": "A", "patients": ["ana"]}, {"name": "B", "patients": ["ana"]}]
                )
            ],
            "patient ana is already in clinic 'North' cohort 'A'",
        ),
        (
            [_clinic(), _clinic(name="South", clinicians=[{"id": 9002}])],
            "patient ana is already in clinic 'North' cohort 'Tue'",
        ),
        ([_clinic(cohorts=[{"name": "Tue", "start": "2026-02-30"}])], "expected a date like"),
        ([_clinic(timezone="Mars/Olympus")], "clinic 'North' timezone"),
        ([_clinic(clinicians=[])], "at least one clinician is needed"),
        ([_clinic(clinicians=[{"name": "Sam"}])], "each clinician needs an id"),
        ([_clinic(clinicians=[{"id": 4242}])], "already the chat of patient cy"),
        (
            [_clinic(), _clinic(name="North", clinicians=[{"id": 9002}])],
            "clinic names must be unique",
        ),
        ([_clinic(cohorts=[{"name": "Tue"}, {"name": "Tue"}])], "cohort names must be unique"),
        ([_clinic(cohorts=[{"name": "Spring 2026-03-03"}])], "does not look like a date"),
        ([{"timezone": "UTC"}], "clinics[0]: each clinic needs a name"),
        ({"name": "North"}, "clinics: a list of clinics"),
    ],
)
def test_clinics_section_problems_are_named(clinics, message):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(_with(clinics))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "answers, message",
    [
        ({"checkin_pain": {"min": 2, "max": 6, "skip": 1}}, "skip is the share of days"),
        ({"red_flag": {"day": -1}}, "red_flag.day"),
        ({"red_flag": {"day": 3, "seen_after_hours": 0}}, "seen_after_hours"),
        ({"red_flag": "yes"}, "red_flag: expected"),
    ],
)
def test_new_answer_fields_are_checked(answers, message):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario({**BASE, "patients": [{"id": "ana", "answers": answers}]})
    assert message in str(caught.value)
