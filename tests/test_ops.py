"""Operations: one person's bad data never stops anyone else, dates checked where people type
them, one bot per database file whatever the path, an honest health check, private files."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from bot.clock import iso
from jobs import sessions as sessions_flow
from jobs.clinic import plan_digests
from jobs.plan import plan_all, record_missed_days
from messages import render
from storage import clinics, outbox
from tests.conftest import Harness
from tests.test_clinics import STAFF, join_staff, make_clinic, new_cohort
from tests.test_sessions import button

OTHERS = range(2001, 2021)  # 20 people with nothing wrong
POISONED = 1001


def skips(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("skipped one")]


def queued(db, patient_id: int) -> int:
    return db.execute("SELECT count(*) FROM outbox WHERE patient_id = ?", [patient_id]).fetchone()[0]


def crowd(h) -> tuple[int, list[int]]:
    """The measured case: one person whose course starts 9999-12-31 (stored before dates were
    checked: a cohort's start they followed), and 20 others."""
    bad = h.add_patient(user_id=POISONED)
    h.db.execute("UPDATE patients SET course_start = '9999-12-31', course_state = 'active' "
                 "WHERE id = ?", [bad])
    others = [h.add_patient(user_id=u, course_start="2026-03-02", course_state="active")
              for u in OTHERS]
    return bad, others


# --- one bad row never stops the bot ---------------------------------------------------------

async def test_a_date_that_overflows_skips_that_person_and_plans_everyone_else(harness, caplog):
    h = harness
    bad, others = crowd(h)
    caplog.set_level(logging.INFO)
    for _ in range(2):  # every tick, not just the first
        plan_all(h.rt)
    assert queued(h.db, bad) == 0
    for pid in others:  # check-in tomorrow 08:00 Berlin and Wednesday's lesson... within 36 h
        kinds = {r[0] for r in h.db.execute("SELECT kind FROM outbox WHERE patient_id = ?", [pid])}
        assert "checkin" in kinds
    [first, *_] = skips(caplog)
    assert (first.patient, first.error, first.stage) == (bad, "OverflowError", "plan")
    assert all("9999" not in r.getMessage() and "9999" not in str(vars(r)) for r in caplog.records)


async def test_start_up_keeps_going_with_the_poisoned_person(clock, fresh_db, db_path, caplog):
    """`_post_init` runs plan_all: with the bad person stored, start-up neither raises nor leaves
    the others without their schedule (before: OverflowError, `run` exited 1)."""
    first = await Harness(clock, fresh_db, db_path).start()
    bad, others = crowd(first)
    await first.stop()
    again = Harness(clock, fresh_db, db_path)
    await again.start()  # post_init: recover, plan_all
    try:
        assert queued(fresh_db, bad) == 0
        assert all(queued(fresh_db, pid) > 0 for pid in others)
        assert [r.patient for r in skips(caplog)] == [bad]
    finally:
        await again.stop()


@pytest.mark.parametrize("column, value", [
    ("timezone", "Mars/Olympus"), ("checkin_time", "25:99"), ("course_start", "someday"),
    ("course_days", "mon,,xyz"), ("summary_day", "caturday")])
async def test_any_unusable_stored_setting_skips_only_its_owner(harness, caplog, column, value):
    h = harness
    bad = h.add_patient(user_id=POISONED, course_start="2026-03-02", course_state="active")
    h.db.execute(f"UPDATE patients SET {column} = ? WHERE id = ?", [value, bad])
    others = [h.add_patient(user_id=u) for u in OTHERS]
    plan_all(h.rt)
    assert all(queued(h.db, pid) > 0 for pid in others)
    if skips(caplog):  # some values are merely ignored (an unknown lesson day)
        assert {r.patient for r in skips(caplog)} == {bad}


def _checkin_row(h, pid: int, payload: str, hours_ago: int) -> None:
    due = h.clock.now() - timedelta(hours=hours_ago)
    h.db.execute("INSERT INTO outbox (chat_id, patient_id, kind, due_at, dedupe_key, payload, "
                 "created_at, status) VALUES (?, ?, 'checkin', ?, ?, ?, ?, 'sent')",
                 [pid, pid, iso(due), f"checkin:{pid}:{hours_ago}", payload, iso(due)])


async def test_a_damaged_row_skips_only_its_owners_missed_days(harness, caplog):
    h = harness
    bad, good = h.add_patient(user_id=POISONED), h.add_patient(user_id=2001)
    _checkin_row(h, bad, "{not json", 19)  # after the mark start-up left (now - 20 h)
    _checkin_row(h, good, json.dumps({"local_date": "2026-03-01"}), 19)
    h.clock.advance(timedelta(hours=2))  # both now unanswered for 21 hours
    assert record_missed_days(h.rt) == 1
    assert [r["local_date"] for r in h.db.query(
        "SELECT local_date FROM checkins WHERE patient_id = ? AND status = 'missed'",
        [good])] == ["2026-03-01"]
    assert [(r.patient, r.stage) for r in skips(caplog)] == [(bad, "missed_days")]


async def _session(h, user: int, activity_id: int) -> int:
    """/activity, before 3, Done, after 5: then nothing (the next-day answer never comes)."""
    async def press(message, prefix, value=None):
        await h.tap(user, button(message, prefix, value), message.message_id)
        return h.last(user)

    await h.send_text(user, "/activity")
    msg = await press(h.last(user), f"a:s:{activity_id}")
    sid = max(s["id"] for s in h.db.query("SELECT id FROM sessions"))
    msg = await press(msg, f"r:{sid}:b:", 3)
    h.clock.advance(timedelta(minutes=20))
    msg = await press(msg, f"a:e:{sid}")
    await press(msg, f"r:{sid}:a:", 5)
    return sid


async def test_an_overdue_decision_that_fails_skips_only_that_person(harness, caplog):
    from storage import activities

    h = harness
    bad, good = h.add_patient(user_id=POISONED), h.add_patient(user_id=2001)
    for pid in (bad, good):
        activities.add_activity(h.db, pid, "walk", 20, h.clock.now())
    act = {a["patient_id"]: a["id"] for a in h.db.query("SELECT id, patient_id FROM activities")}
    bad_session = await _session(h, POISONED, act[bad])  # the lower id: looked at first
    good_session = await _session(h, 2001, act[good])
    h.db.execute("UPDATE patients SET timezone = 'Mars/Olympus' WHERE id = ?", [bad])
    h.clock.advance(timedelta(hours=37))
    assert sessions_flow.decide_overdue(h.rt) == 1
    stages = dict(h.db.execute("SELECT id, stage FROM sessions").fetchall())
    assert (stages[bad_session], stages[good_session]) == ("waiting", "decided")
    assert [(r.patient, r.stage) for r in skips(caplog)] == [(bad, "decide_overdue")]


async def test_a_clinic_with_unusable_data_does_not_stop_other_clinics_digests(harness, caplog):
    h = harness
    for name in ("Broken", "Fine"):
        clinic_id, code = make_clinic(h, name)
        await join_staff(h, code, user=STAFF if name == "Fine" else STAFF + 5)
        h.db.execute("INSERT INTO cohorts (clinic_id, name, created_at) VALUES (?, 'g', ?)",
                     [clinic_id, iso(h.clock.now())])
    h.db.execute("UPDATE clinics SET timezone = 'Mars/Olympus' WHERE name = 'Broken'")
    sunday = h.clock.now() + timedelta(days=6)
    assert plan_digests(h.db, sunday, sunday + timedelta(hours=36)) == 1
    assert [r["chat_id"] for r in h.db.query("SELECT chat_id FROM outbox WHERE kind = 'digest'")
            ] == [STAFF]
    assert [r.stage for r in skips(caplog)] == ["digests"]


# --- checked at the edge ---------------------------------------------------------------------

RANGE = "from <code>2026-02-02</code> to <code>2027-03-02</code>"  # London, Monday 2026-03-02


@pytest.fixture
async def staff(harness):
    _, code = make_clinic(harness)
    await join_staff(harness, code)
    return harness


@pytest.mark.parametrize("day", ["9999-12-31", "2025-01-06", "2026-02-01", "2027-03-03"])
async def test_cohort_new_refuses_a_start_date_out_of_range_and_says_the_range(staff, day):
    h = staff
    await h.send_text(STAFF, f"/cohort_new Spring group {day}")
    answer = h.last(STAFF).text
    assert RANGE in answer and "4 weeks ago" in answer and "a year ahead" in answer
    assert clinics.cohorts_for_user(h.db, STAFF) == []


@pytest.mark.parametrize("day", ["2026-02-02", "2026-03-02", "2027-03-02"])
async def test_cohort_new_accepts_the_range_inclusive(staff, day):
    cohort_id, _ = await new_cohort(staff, f"Spring group {day}")
    assert clinics.cohort(staff.db, cohort_id)["start_date"] == day


async def test_the_range_follows_the_clinics_own_date(harness):
    """12:00 UTC on Monday is already Tuesday at Kiritimati (UTC+14): a year from its today."""
    h = harness
    _, code = make_clinic(h, "Line Islands", timezone="Pacific/Kiritimati")
    await join_staff(h, code)
    cohort_id, _ = await new_cohort(h, "Group 2027-03-03")
    assert clinics.cohort(h.db, cohort_id)["start_date"] == "2027-03-03"


@pytest.mark.parametrize("day", ["9999-12-31", "2025-01-06"])
async def test_cohort_set_start_refuses_a_date_out_of_range(staff, day):
    h = staff
    cohort_id, _ = await new_cohort(h, "Group 2026-03-09")
    await h.send_text(STAFF, f"/cohort_set {cohort_id} start {day}")
    answer = h.last(STAFF).text
    assert RANGE in answer and "start rolling" in answer
    assert clinics.cohort(h.db, cohort_id)["start_date"] == "2026-03-09"
    await h.send_text(STAFF, f"/cohort_set {cohort_id} start 2026-04-01")  # in range: saved
    assert clinics.cohort(h.db, cohort_id)["start_date"] == "2026-04-01"


def test_the_range_answer_reads_plainly():
    text = render("clinic_bad_date", earliest="2026-02-02", latest="2027-03-02")
    assert text.startswith("That start date is outside the range")
    assert "leave the date out" in text
    assert render("clinic_bad_date").startswith("I couldn't read")
