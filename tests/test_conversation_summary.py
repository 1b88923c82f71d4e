"""Issue 15, findings 11, 12 and 13: a fair weekly summary, flare days, and the small breaks.

Each test drives the real Application on the fake Bot API and asserts the reply the person sees
and what is stored."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.rules.localtime import zone
from jobs import summary
from jobs.plan import plan_all
from storage import checkins, events, patients
from tests.test_caregivers import CARER, accept, invite, tick

PATIENT = 1001
BERLIN = zone("Europe/Berlin")


def local(y, m, d, hh=12, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BERLIN).astimezone(UTC)


async def summary_of(h, clock, week_end: date, user: int = PATIENT) -> str:
    """Plan and send the Sunday 18:00 summary of the week ending `week_end`; its text."""
    clock.set(local(week_end.year, week_end.month, week_end.day, 17, 0))
    plan_all(h.rt)
    clock.set(local(week_end.year, week_end.month, week_end.day, 18, 0))
    await tick(h)
    heads = ("Your week", "Ana's week")
    return next(t for t in reversed(h.texts(user)) if t.startswith(tuple(f"<b>{x}" for x in heads)))


def rate(h, pid, clock, days: dict[int, int], month=3):
    for day, pain in days.items():
        checkins.record_answer(h.db, pid, f"2026-{month:02d}-{day:02d}", pain, clock.now())


# --- finding 11: the weekly summary -------------------------------------------------------------


async def test_finding_11_paused_days_are_not_counted(harness, clock):
    pid = harness.add_patient()
    # Paused from Wednesday 10:00 to Saturday 07:00: Thursday's and Friday's 08:00 check-ins
    # were never asked; Saturday's was.
    events.record(harness.db, local(2026, 3, 11, 10), "prompts_paused", pid)
    events.record(harness.db, local(2026, 3, 14, 7), "prompts_resumed", pid)
    rate(harness, pid, clock, {9: 4, 14: 5})
    text = await summary_of(harness, clock, date(2026, 3, 15))
    assert "Check-ins answered: <b>2 of 5</b>" in text
    assert "of 7" not in text


async def test_finding_11_a_pause_still_running_and_a_hold_count_too(harness, clock):
    pid = harness.add_patient()
    events.record(
        harness.db, local(2026, 3, 9, 20), "red_flag", pid, level="emergency", at="urgent"
    )
    events.record(harness.db, local(2026, 3, 11, 9), "hold_lifted", pid)  # Tue, Wed held
    events.record(harness.db, local(2026, 3, 13, 9), "prompts_paused", pid)  # Sat, Sun paused
    patients.update(harness.db, pid, clock.now(), status="paused")
    rate(harness, pid, clock, {9: 3, 12: 4})
    found = summary.figures(harness.db, patients.existing(harness.db, pid), date(2026, 3, 15))
    assert (found.answered, found.possible) == (2, 3)  # Mon, Thu, Fri


async def test_finding_11_a_first_week_that_began_on_wednesday(harness, clock):
    clock.set(local(2026, 3, 4, 7, 30))
    pid = harness.add_patient(start_date="2026-03-04", course_start="2026-03-04")
    events.record(harness.db, clock.now(), "onboarded", pid)  # before the 08:00 check-in
    rate(harness, pid, clock, {4: 5, 5: 4, 6: 5, 8: 4})
    text = await summary_of(harness, clock, date(2026, 3, 8))
    assert "Check-ins answered: <b>4 of 5</b>" in text


async def test_finding_11_set_up_after_the_check_in_time_starts_the_next_day(harness, clock):
    clock.set(local(2026, 3, 4, 8, 20))
    pid = harness.add_patient(start_date="2026-03-04", course_start="2026-03-04")
    events.record(harness.db, clock.now(), "onboarded", pid)
    rate(harness, pid, clock, {5: 4, 6: 5, 8: 4})
    text = await summary_of(harness, clock, date(2026, 3, 8))
    assert "Check-ins answered: <b>3 of 4</b>" in text


async def test_finding_11_after_the_course_one_of_one(harness, clock):
    # Course began Monday 2025-12-01: week 12 ended 2026-02-22; weekly check-ins on Mondays.
    pid = harness.add_patient(
        start_date="2025-12-01", course_start="2025-12-01", course_state="maintenance"
    )
    rate(harness, pid, clock, {9: 3})
    text = await summary_of(harness, clock, date(2026, 3, 15))
    assert "Check-ins answered: <b>1 of 1</b>" in text
    assert "every check-in" not in text


async def test_finding_11_no_sitting_line_when_sitting_is_off(harness, clock):
    pid = harness.add_patient()  # no sitting days: off
    await accept(harness, await invite(harness))
    rate(harness, pid, clock, {9: 4, 10: 4, 11: 4})
    text = await summary_of(harness, clock, date(2026, 3, 15))
    assert "Sitting breaks" not in text
    clock.set(local(2026, 3, 15, 23, 30))
    await tick(harness)
    copy = next(t for t in harness.texts(CARER) if "Ana's week" in t)
    assert "Sitting breaks" not in copy and "Check-ins answered: <b>3 of 7</b>" in copy


async def test_finding_11_sitting_on_keeps_the_line(harness, clock):
    harness.add_patient(
        sitting_days="mon,tue,wed,thu,fri", sitting_from="09:00", sitting_to="17:00"
    )
    text = await summary_of(harness, clock, date(2026, 3, 15))
    assert "Sitting breaks taken: 0" in text


async def test_finding_11_changes_in_words_never_signs(harness, clock):
    pid = harness.add_patient()
    rate(harness, pid, clock, {2: 4, 3: 4, 4: 4, 5: 4, 9: 4, 10: 5, 11: 5, 12: 4})
    text = await summary_of(harness, clock, date(2026, 3, 15))
    assert "Average pain: <b>4.5/10</b>; 0.5 higher than last week" in text
    assert "+" not in text and "−" not in text


def test_finding_11_change_words():
    from bot.rules.weekly import in_words

    assert in_words(0.5) == "0.5 higher"
    assert in_words(-1.25) == "1.2 lower" or in_words(-1.25) == "1.3 lower"
    assert in_words(0.2) == in_words(-0.4) == in_words(0.0) == "about the same"
    assert in_words(None) is None
