"""Issue 17, task M: the research export (long-format CSV files, data dictionary) and FHIR R4.

A cohort of members over 12+ weeks is written with the storage functions (ratings with gaps,
sessions, warning signs, pauses, lessons with reactions, PEG / goals / weekly change answered,
partly, skipped, late); then each CSV cell is recomputed here from the raw rows with SQL of its
own, and the FHIR Bundle is validated resource by resource with fhir.resources.
"""

from __future__ import annotations

import csv
import io
import json
import random
import stat
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B import get_fhir_model_class

from bot import fhir
from bot.clock import iso
from bot.course import default_course
from jobs import research
from storage import activities, clinics, consents, events, outcomes, patients, privacy, withdrawal
from storage import checkins as checkin_store
from storage import lessons as lesson_store
from storage import sessions as session_store

START = date(2026, 3, 2)  # a Monday: the cohort's week 1
T0 = datetime(2026, 2, 27, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # past the course end (2026-05-24)
ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC", "UTC"]


def _at(day: date, hh: int, tz: str) -> datetime:
    return datetime(day.year, day.month, day.day, hh, 0, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _member(db, cohort_id, n, tz, version=2, name=None):
    pid = patients.create(
        db,
        user_id=1000 + n,
        chat_id=1000 + n,
        now=T0,
        first_name=name or f"Pat{n}",
        timezone=tz,
        status="active",
        start_date=START.isoformat(),
        course_start=START.isoformat(),
    )
    offer = clinics.make_offer(db, cohort_id, 1000 + n, "hash", T0)
    consent = consents.give(db, pid, "clinic_sharing", version, "hash", T0)
    membership = clinics.join(
        db, cohort_id=cohort_id, patient_id=pid, consent_id=consent, offer_id=offer, now=T0
    )
    events.record(db, T0, "cohort_joined", pid, cohort=cohort_id, membership=membership)
    return pid, membership


def _fill(db, pid, tz, rng):
    """12 weeks and a bit of one person's life with the bot."""
    name = "=walk" if pid % 2 else "walking"
    activities.add_activity(db, pid, name, 10, T0)
    activity = next(a["id"] for a in activities.for_patient(db, pid) if a["name"] == name)
    goal = outcomes.add_goal(db, pid, "gardening", T0)
    for offset in range(90):  # past the course end: those rows must not be exported
        day = START + timedelta(days=offset)
        roll = rng.random()
        if roll < 0.75:
            checkin_store.record_answer(
                db, pid, day.isoformat(), rng.randint(0, 10), _at(day, 20, tz)
            )
        elif roll < 0.9:
            checkin_store.record_missed(db, pid, day.isoformat())
        if rng.random() < 0.3:
            sid = session_store.create(
                db,
                patient_id=pid,
                activity_id=activity,
                dose_minutes=10,
                started_at=_at(day, 23, tz) - timedelta(minutes=30),  # late: near midnight
                now=_at(day, 23, tz),
                stage="decided",
                before=rng.randint(0, 10),
            )
            session_store.update(db, sid, after=rng.randint(0, 10), verdict="keep", next_dose=10)
    events.record(db, _at(START + timedelta(days=20), 10, tz), "red_flag", pid, level="soon")
    events.record(db, _at(START + timedelta(days=40), 10, tz), "red_flag", pid, level="emergency")
    events.record(db, _at(START + timedelta(days=42), 10, tz), "red_flag_seen", pid)
    events.record(db, _at(START + timedelta(days=50), 10, tz), "prompts_paused", pid)
    events.record(db, _at(START + timedelta(days=52), 10, tz), "prompts_resumed", pid)
    events.record(db, _at(START + timedelta(days=88), 10, tz), "red_flag", pid, level="soon")
    for k, lesson in enumerate(default_course()[:20]):
        sent = _at(START + timedelta(days=2 * k), 18, tz)
        lesson_store.record_sent(db, pid, lesson.id, None, sent)
        if k % 3 == 0:
            lesson_store.set_feedback(db, pid, lesson.id, "helpful")
        if k % 4 == 1:
            lesson_store.set_check_answer(db, pid, lesson.id, k % 8 == 1)
    assert goal is not None
    for tp, offset in (("baseline", -1), ("w06", 41), ("w12", 83)):
        asked = _at(START + timedelta(days=offset), 19, tz)
        peg = outcomes.create_set(db, pid, "peg", tp, asked)
        goals = outcomes.create_set(db, pid, "goals", tp, asked)
        assert peg and goals
        late = asked + timedelta(days=1 if rng.random() < 0.3 else 0, minutes=5)
        style = rng.random()
        if style < 0.15:  # says nothing at all
            outcomes.close_set(db, peg, "expired", asked + timedelta(days=3))
            outcomes.close_set(db, goals, "expired", asked + timedelta(days=3))
            continue
        for item in ("peg_pain", "peg_enjoyment", "peg_activity"):
            skip = style < 0.35 and item == "peg_enjoyment"
            outcomes.record_answer(db, peg, pid, item, None if skip else rng.randint(0, 10), late)
        outcomes.close_set(db, peg, "partial" if style < 0.35 else "complete", late)
        outcomes.record_answer(db, goals, pid, f"goal:{goal}", rng.randint(0, 10), late)
        outcomes.close_set(db, goals, "complete", late)
    for week in range(1, 13):
        asked = _at(START + timedelta(days=7 * week - 1), 18, tz)
        grc = outcomes.create_set(db, pid, "grc", f"w{week:02d}", asked)
        assert grc
        if rng.random() < 0.8:
            value = None if rng.random() < 0.1 else rng.randint(-3, 3)
            outcomes.record_answer(db, grc, pid, "grc", value, asked + timedelta(hours=2))
            outcomes.close_set(db, grc, "skipped" if value is None else "complete", asked)


@pytest.fixture
def cohort(fresh_db):
    """A cohort of six members (one under the first sharing offer), one who left, one who
    withdrew, one deleted, and a member of another cohort."""
    db = fresh_db
    rng = random.Random(17)
    with db.atomic():
        clinic = clinics.create_clinic(db, "Clinic", "Europe/London", T0)
        cid = clinics.create_cohort(
            db, clinic_id=clinic, name="A", start_date=START.isoformat(), created_by=None, now=T0
        )
        other = clinics.create_cohort(
            db, clinic_id=clinic, name="B", start_date=START.isoformat(), created_by=None, now=T0
        )
        for n, tz in enumerate(ZONES):
            pid, _ = _member(db, cid, n, tz, version=1 if n == 5 else 2)
            _fill(db, pid, tz, rng)
        gone = {}
        for n, what in enumerate(("left", "withdrawn", "deleted", "other"), start=10):
            pid, m = _member(db, other if what == "other" else cid, n, "UTC", name="Gone")
            _fill(db, pid, "UTC", rng)
            gone[what] = pid
            if what == "left":
                clinics.leave(db, m, NOW - timedelta(days=30))
            elif what == "withdrawn":
                withdrawal.withdraw(db, patients.existing(db, pid), NOW - timedelta(days=30))
            elif what == "deleted":
                privacy.delete(db, pid, 1000 + n, 1000 + n)
    return db, clinics.cohort(db, cid), gone


def _read(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _s(value) -> str:
    """How the csv module writes a cell (None: empty), with the formula guard."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return str(value)


def _local(moment: str, tz: str) -> date:
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(tz)).date()


def _expected(
    db, cohort_id, with_names=False, since=None, until=None, now=NOW
) -> dict[str, list[dict]]:
    """Every file recomputed from the raw tables, independently of storage/research.py."""
    out: dict[str, list[dict]] = {spec.name: [] for spec in research.FILES}
    titles = {lesson.id: lesson.title for lesson in default_course()}
    rows = db.execute(
        "SELECT p.id, p.first_name, p.timezone, p.status, p.course_state, p.course_start, "
        "m.study_id, m.joined_at FROM memberships m JOIN patients p ON p.id = m.patient_id "
        "WHERE m.cohort_id = ? AND m.left_at IS NULL AND p.status != 'withdrawn' ORDER BY p.id",
        [cohort_id],
    ).fetchall()
    for pid, name, tz, status, course_state, start_text, study, joined in rows:
        start = date.fromisoformat(start_text)
        last = start + timedelta(days=83)
        today = now.astimezone(ZoneInfo(tz)).date()
        lo = max(start, since or start)
        hi = min(last, today, until or last)
        detailed = (
            db.execute(
                "SELECT max(version) FROM consents WHERE patient_id = ? AND kind = "
                "'clinic_sharing' AND withdrawn_at IS NULL",
                [pid],
            ).fetchone()[0]
            >= 2
        )
        part = {
            "study_id": study,
            "cohort_id": str(cohort_id),
            "timezone": tz,
            "joined_at": joined,
            "course_start": start.isoformat(),
            "course_end": last.isoformat(),
            "rows_from": lo.isoformat(),
            "rows_to": hi.isoformat(),
            "status": status,
            "course_state": course_state,
            "shares_detail": str(int(detailed)),
        }
        if with_names:
            part = {"study_id": study, "first_name": name, **{k: v for k, v in part.items()}}
        out["participants.csv"].append(part)
        checks = {
            r[0]: r[1:]
            for r in db.execute(
                "SELECT local_date, status, pain, answered_at FROM checkins WHERE patient_id = ?",
                [pid],
            )
        }
        day = lo
        while day <= hi:
            st, pain, at = checks.get(day.isoformat(), ("none", None, None))
            out["daily_pain.csv"].append(
                {
                    "study_id": study,
                    "local_date": day.isoformat(),
                    "course_day": str((day - start).days + 1),
                    "course_week": str((day - start).days // 7 + 1),
                    "checkin": st,
                    "pain": _s(pain),
                    "answered_at": _s(at),
                }
            )
            day += timedelta(days=1)
        for r in db.execute(
            "SELECT s.id, a.name, s.dose_minutes, s.logged, s.started_at, s.ended_at, s.before, "
            "s.after, s.settled, s.next_day, s.stage, s.verdict, s.next_dose, s.pause_days "
            "FROM sessions s JOIN activities a ON a.id = s.activity_id WHERE s.patient_id = ? "
            "ORDER BY s.started_at, s.id",
            [pid],
        ):
            on = _local(r[4], tz)
            if lo <= on <= hi:
                names = ["session_id", "activity", "dose_minutes", "logged", "started_at"]
                names += ["ended_at", "before", "after", "settled", "next_day", "stage"]
                names += ["verdict", "next_dose", "pause_days"]
                row = {"study_id": study, "local_date": on.isoformat()}
                row.update({k: _s(v) for k, v in zip(names, r, strict=True)})
                out["sessions.csv"].append(row)
        for eid, at, kind, data in db.execute(
            "SELECT id, at, kind, data FROM events WHERE patient_id = ? ORDER BY at, id", [pid]
        ):
            on = _local(at, tz)
            data = json.loads(data)
            if kind not in research.store.EVENT_KINDS or not lo <= on <= hi:
                continue
            if kind.startswith("prompts_") and not detailed:
                continue
            if kind.startswith("cohort_") and data.get("cohort") != cohort_id:
                continue
            out["events.csv"].append(
                {
                    "study_id": study,
                    "event_id": str(eid),
                    "at": at,
                    "local_date": on.isoformat(),
                    "event": kind,
                    "level": _s(data.get("level")),
                }
            )
        for lid, sent, feedback, check in db.execute(
            "SELECT lesson_id, sent_at, feedback, check_answer FROM lessons_sent "
            "WHERE patient_id = ? ORDER BY sent_at, id",
            [pid],
        ):
            on = _local(sent, tz)
            if detailed and lo <= on <= hi:
                out["lessons.csv"].append(
                    {
                        "study_id": study,
                        "lesson_id": lid,
                        "lesson_title": titles[lid],
                        "sent_at": sent,
                        "local_date": on.isoformat(),
                        "course_week": str((on - start).days // 7 + 1),
                        "feedback": _s(feedback),
                        "check_answer": _s(check),
                    }
                )
        for sid, instrument, tp, st, asked in db.execute(
            "SELECT id, instrument, timepoint, status, asked_at FROM outcome_sets "
            "WHERE patient_id = ? ORDER BY asked_at, id",
            [pid],
        ).fetchall():
            on = _local(asked, tz)
            if on > hi or (since and on < since):
                continue  # the baseline may come before week 1: kept
            base = {
                "study_id": study,
                "set_id": str(sid),
                "instrument": instrument,
                "timepoint": tp,
                "set_status": st,
                "asked_at": asked,
                "asked_local_date": on.isoformat(),
            }
            answers = db.execute(
                "SELECT item, value, skipped, answered_at FROM outcome_answers WHERE set_id = ? "
                "ORDER BY id",
                [sid],
            ).fetchall() or [(None, None, None, None)]
            for item, value, skipped, at in answers:
                goal = None
                if item and item.startswith("goal:"):
                    goal = db.execute(
                        "SELECT name FROM goals WHERE id = ?", [int(item[5:])]
                    ).fetchone()[0]
                out["outcomes.csv"].append(
                    {
                        **base,
                        "item": _s(item),
                        "goal_name": _s(goal),
                        "value": _s(value),
                        "skipped": _s(skipped),
                        "answered_at": _s(at),
                    }
                )
    return out


def test_each_csv_cell_is_recomputed_from_the_raw_rows(cohort):
    db, found, _ = cohort
    made = research.build(db, found, NOW)
    expected = _expected(db, found["id"])
    for name, data in research.export_files(made):
        got = _read(data)
        assert data.decode().splitlines()[0] == ",".join(research.columns(name, False))
        assert got == expected[name], name
    assert len(expected["participants.csv"]) == 6
    # the member under the first sharing offer: no pauses, no lessons
    first_offer = next(p for p in expected["participants.csv"] if p["shares_detail"] == "0")
    assert not [r for r in expected["lessons.csv"] if r["study_id"] == first_offer["study_id"]]
    assert not [
        r
        for r in expected["events.csv"]
        if r["study_id"] == first_offer["study_id"] and r["event"].startswith("prompts_")
    ]
    # every file has rows, and some of each kind of answer the simulation made
    assert all(expected[name] for name in expected)
    statuses = {r["set_status"] for r in expected["outcomes.csv"]}
    assert {"complete", "partial", "expired", "skipped"} <= statuses
    assert {r["level"] for r in expected["events.csv"] if r["event"] == "red_flag"} == {
        "soon",
        "emergency",
    }


def test_rows_never_run_past_the_course_end_or_the_export_date(cohort):
    db, found, _ = cohort
    made = research.build(db, found, NOW)
    for row in made.files["daily_pain.csv"]:
        assert row["course_day"] <= 84
    late = [r for r in made.files["events.csv"] if r["event"] == "red_flag" and r["level"]]
    assert all(r["local_date"] <= "2026-05-24" for r in late)  # day 89's sign is past the end
    # mid-course, each person's rows stop at their own local today
    midway = datetime(2026, 4, 1, 13, 0, tzinfo=UTC)
    made = research.build(db, found, midway)
    for part in made.files["participants.csv"]:
        today = midway.astimezone(ZoneInfo(part["timezone"])).date().isoformat()
        assert part["rows_to"] == today
    assert max(r["local_date"] for r in made.files["daily_pain.csv"]) <= "2026-04-02"
    assert all(s["asked_at"] <= iso(midway) for s in made.files["outcomes.csv"])


def test_since_and_until_narrow_every_file(cohort):
    db, found, _ = cohort
    since, until = date(2026, 4, 1), date(2026, 4, 30)
    made = research.build(db, found, NOW, since=since, until=until, with_names=True)
    expected = _expected(db, found["id"], with_names=True, since=since, until=until)
    for name, data in research.export_files(made):
        assert _read(data) == expected[name], name
    dates = [r["local_date"] for r in made.files["daily_pain.csv"]]
    assert min(dates) == "2026-04-01" and max(dates) == "2026-04-30"
    # a window after the course: the members are listed, with no day and no rows
    made = research.build(db, found, NOW, since=date(2026, 6, 1))
    assert {(p["rows_from"], p["rows_to"]) for p in made.files["participants.csv"]} == {
        (None, None)
    }
    assert not any(made.files[name] for name in made.files if name != "participants.csv")
    assert [e for e in fhir.bundle(made)["entry"] if "valueInteger" in e["resource"]] == []


def test_left_withdrawn_and_deleted_people_are_absent_from_every_export(cohort):
    db, found, _ = cohort
    made = research.build(db, found, NOW, with_names=True)
    names = {r["first_name"] for r in made.files["participants.csv"]}
    assert "Gone" not in names and len(names) == 6
    studies = {r["study_id"] for r in made.files["participants.csv"]}
    for rows in made.files.values():
        assert {r["study_id"] for r in rows} <= studies
    blob = b"".join(data for _, data in research.export_files(made))
    assert b"Gone" not in blob
    bundle = fhir.bundle(made)
    assert "Gone" not in json.dumps(bundle)
    patients_in = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients_in) == 6


def test_study_ids_by_default_names_only_when_asked(cohort):
    db, found, _ = cohort
    plain = research.build(db, found, NOW)
    blob = b"".join(data for _, data in research.export_files(plain))
    assert b"Pat1" not in blob and b"first_name" not in blob
    assert "Pat1" not in json.dumps(fhir.bundle(plain))
    named = research.build(db, found, NOW, with_names=True)
    assert b"Pat1" in research.csv_bytes(named, "participants.csv")
    assert "Pat1" in json.dumps(fhir.bundle(named))


def test_the_data_dictionary_is_generated_from_the_export_definition():
    assert research.main(["--check"]) == 0
    page = research.DICTIONARY.read_text(encoding="utf-8")
    for spec in research.FILES:
        assert f"## {spec.name}" in page
        for column in spec.columns:
            assert f"| `{column.name}` |" in page
    assert "../shared" not in page and "CLINICAL.md" not in page


def test_the_fhir_bundle_validates_resource_by_resource(cohort):
    db, found, gone = cohort
    made = research.build(db, found, NOW)
    bundle = fhir.bundle(made)
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert bundle["type"] == "collection"
    kinds: dict[str, int] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        kinds[resource["resourceType"]] = kinds.get(resource["resourceType"], 0) + 1
    assert kinds["Patient"] == 6 and kinds["Questionnaire"] == 3
    # one Observation per daily rating stored for these members within their course
    stored = db.execute(
        "SELECT count(*) FROM checkins c JOIN memberships m ON m.patient_id = c.patient_id "
        "JOIN patients p ON p.id = c.patient_id WHERE m.cohort_id = ? AND m.left_at IS NULL "
        "AND p.status != 'withdrawn' AND c.status = 'answered' AND c.pain IS NOT NULL "
        "AND c.local_date <= '2026-05-24'",
        [found["id"]],
    ).fetchone()[0]
    assert kinds["Observation"] == stored > 0
    observations = [e["resource"] for e in bundle["entry"] if "valueInteger" in e["resource"]]
    assert all(o["code"]["coding"][0]["code"] == "72514-3" for o in observations)
    assert {o["code"]["coding"][0]["display"] for o in observations} == {
        "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
    }
    # a QuestionnaireResponse per set with at least one answer
    answered = db.execute(
        "SELECT count(DISTINCT a.set_id) FROM outcome_answers a JOIN memberships m "
        "ON m.patient_id = a.patient_id WHERE m.cohort_id = ? AND m.left_at IS NULL "
        "AND a.skipped = 0",
        [found["id"]],
    ).fetchone()[0]
    # the withdrawn person's membership stays, but they are not exported
    withdrawn_sets = db.execute(
        "SELECT count(DISTINCT set_id) FROM outcome_answers WHERE patient_id = ? AND skipped = 0",
        [gone["withdrawn"]],
    ).fetchone()[0]
    assert kinds["QuestionnaireResponse"] == answered - withdrawn_sets
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(urls) == len(bundle["entry"])
    for entry in bundle["entry"]:
        subject = entry["resource"].get("subject", {}).get("reference")
        assert subject is None or subject in urls


def test_cli_writes_research_files_and_a_fhir_bundle_privately(cohort, db_path, tmp_path, capsys):
    from bot.cli import main

    db, found, _ = cohort
    db.conn.commit()
    args = ["export", "--cohort", str(found["id"]), "--db", str(db_path)]
    out = tmp_path / "research"
    assert main([*args, "--format", "research", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*(s.name for s in research.FILES), "data-dictionary.md"])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.iterdir())
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert b"Pat1" not in (out / "participants.csv").read_bytes()
    # issue 16's rules: nothing replaced without --force
    capsys.readouterr()
    assert main([*args, "--format", "research", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--format", "research", "--out", str(out), "--force", "--with-names"]) == 0
    assert b"Pat1" in (out / "participants.csv").read_bytes()
    bundle_file = tmp_path / "fhir" / "cohort.json"
    assert (
        main([*args, "--format", "fhir", "--out", str(bundle_file), "--since", "2026-04-01"]) == 0
    )
    assert stat.S_IMODE(bundle_file.stat().st_mode) == 0o600
    bundle = json.loads(bundle_file.read_text())
    get_fhir_model_class("Bundle").model_validate(bundle)
    capsys.readouterr()
    assert main([*args, "--format", "fhir", "--out", str(bundle_file)]) == 2
    assert main([*args, "--format", "fhir", "--out", str(out)]) == 2  # a folder
    assert main([*args, "--format", "research", "--out", str(bundle_file)]) == 2  # a file
    assert main([*args, "--out", str(tmp_path / "x"), "--with-names"]) == 2  # csv: no names
    assert (
        main(
            [
                *args,
                "--format",
                "fhir",
                "--out",
                str(tmp_path / "y.json"),
                "--since",
                "2026-05-01",
                "--until",
                "2026-04-01",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err
    with pytest.raises(SystemExit):
        main([*args, "--format", "fhir", "--out", str(tmp_path / "z.json"), "--since", "May"])


async def test_export_research_and_fhir_in_telegram(harness, clock):
    """/export ID research: one zip of the research files and the dictionary, by study id;
    /export ID fhir: one valid Bundle; a stray word gets the usage."""
    import zipfile

    from tests.test_clinics import PATIENT, STAFF, enrol, join_staff, make_clinic, new_cohort
    from tests.test_sessions import button, setup

    h = harness
    _, code = make_clinic(h)
    await join_staff(h, code)
    cohort_id, link_code = await new_cohort(h)
    setup(h, ("walking", 20))
    await enrol(h, link_code)
    await h.send_text(PATIENT, "/checkin")
    await h.tap(PATIENT, button(h.last(PATIENT), "c:", 4), h.last(PATIENT).message_id)
    clock.advance(timedelta(days=1))
    await h.send_text(STAFF, f"/export {cohort_id} research")
    await h.send_text(STAFF, f"/export {cohort_id} fhir")
    await h.tick()
    docs = [s for s in h.api.sent_to(STAFF) if s.method == "sendDocument"]
    research_doc = next(d for d in docs if "research files" in d.text)
    archive = zipfile.ZipFile(io.BytesIO(research_doc.params["_bytes"]))
    assert sorted(archive.namelist()) == sorted(
        [*(s.name for s in research.FILES), "data-dictionary.md"]
    )
    pain = list(csv.DictReader(io.StringIO(archive.read("daily_pain.csv").decode())))
    assert (pain[0]["local_date"], pain[0]["checkin"], pain[0]["pain"]) == (
        "2026-03-02",
        "answered",
        "4",
    )
    assert b"Ana" not in archive.read("participants.csv")  # study ids only in Telegram
    fhir_doc = next(d for d in docs if "FHIR" in d.text)
    bundle = json.loads(fhir_doc.params["_bytes"])
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert [
        e["resource"]["valueInteger"] for e in bundle["entry"] if "valueInteger" in e["resource"]
    ] == [4]
    await h.send_text(STAFF, f"/export {cohort_id} everything")
    assert "/export 3 research" in h.last(STAFF).text


# --- on the 12-week outcome simulation (tests/outcomes_fixture.py, task L) ------------------


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    from tests.outcomes_fixture import run_outcomes_simulation

    return run_outcomes_simulation(tmp_path_factory.mktemp("research") / "sim.sqlite3")


@pytest.mark.slow
def test_each_csv_cell_of_the_simulated_cohort_is_recomputed_from_the_raw_rows(played):
    db = played.sim.db
    found = clinics.cohort(db, played.cohort_id)
    for now in (played.mid_now, played.now):
        made = research.build(db, found, now)
        expected = _expected(db, played.cohort_id, now=now)
        for name, data in research.export_files(made):
            assert _read(data) == expected[name], (name, now)
    assert len(expected["participants.csv"]) == 12
    statuses = {(r["instrument"], r["set_status"]) for r in expected["outcomes.csv"]}
    assert {("peg", "complete"), ("peg", "partial"), ("peg", "expired")} <= statuses
    assert any(r["skipped"] == "1" for r in expected["outcomes.csv"])


@pytest.mark.slow
def test_the_simulated_cohorts_fhir_bundle_validates_and_counts_every_rating(played):
    db = played.sim.db
    found = clinics.cohort(db, played.cohort_id)
    made = research.build(db, found, played.now)
    bundle = json.loads(fhir.bundle_json(made))
    kinds: dict[str, int] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        kinds[resource["resourceType"]] = kinds.get(resource["resourceType"], 0) + 1
    course_end = (START + timedelta(days=83)).isoformat()
    stored = db.execute(
        "SELECT count(*) FROM checkins c JOIN memberships m ON m.patient_id = c.patient_id "
        "WHERE m.cohort_id = ? AND m.left_at IS NULL AND c.status = 'answered' "
        "AND c.pain IS NOT NULL AND c.local_date <= ?",
        [played.cohort_id, course_end],
    ).fetchone()[0]
    assert kinds["Observation"] == stored > 500
    assert kinds["Patient"] == 12 and kinds["Questionnaire"] == 3
    answered_sets = db.execute(
        "SELECT count(DISTINCT set_id) FROM outcome_answers WHERE skipped = 0"
    ).fetchone()[0]
    assert kinds["QuestionnaireResponse"] == answered_sets
