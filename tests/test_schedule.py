"""Planning in local time: one check-in per local day across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rules.localtime import DailyWindow, local_to_utc, zone
from bot.rules.schedule import (
    Expire,
    Postpone,
    Preferences,
    Send,
    Sitting,
    plan_messages,
    send_decision,
)

UTC = UTC

# (zone, a date on which its clocks change, or a plain date for zones without DST)
DST_DATES = [
    ("Europe/Berlin", date(2026, 3, 29)),
    ("Europe/Berlin", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("Asia/Kolkata", date(2026, 3, 29)),
    ("Australia/Lord_Howe", date(2026, 4, 5)),
    ("Australia/Lord_Howe", date(2026, 10, 4)),
]
TIMES = [time(8, 0), time(2, 30), time(1, 30), time(2, 15), time(0, 0), time(23, 45)]


def plan_by_ticks(prefs: Preferences, start: datetime, days: int) -> list:
    """Re-plan every 15 minutes like the planner tick, keeping the first row per dedupe key."""
    seen = {}
    moment = start
    while moment < start + timedelta(days=days):
        for item in plan_messages(prefs, moment, moment + timedelta(hours=36)):
            seen.setdefault(item.dedupe_key, item)
        moment += timedelta(minutes=15)
    return sorted(seen.values(), key=lambda p: p.due_at)


@pytest.mark.parametrize("tz_name,change_day", DST_DATES)
@pytest.mark.parametrize("at", TIMES, ids=str)
def test_one_checkin_per_local_day_at_the_chosen_time(tz_name, change_day, at):
    tz = zone(tz_name)
    prefs = Preferences(1, tz, at)
    start = local_to_utc(change_day - timedelta(days=3), time(12, 0), tz)
    planned = [p for p in plan_by_ticks(prefs, start, 6) if p.kind == "checkin"]
    local_days = [p.due_at.astimezone(tz).date() for p in planned]
    assert len(local_days) == len(set(local_days))  # never twice on one local day
    expected_days = {change_day + timedelta(days=n) for n in range(-2, 3)}
    assert expected_days <= set(local_days)  # and never skipped
    for p in planned:
        wall = p.due_at.astimezone(tz).time()
        naive = datetime.combine(p.due_at.astimezone(tz).date(), at)
        round_trip = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
        exists = round_trip.replace(tzinfo=None) == naive
        if exists:
            assert wall == at
        else:  # skipped by spring-forward: the first valid minute after the gap
            assert wall > at and (
                datetime.combine(date.today(), wall) - datetime.combine(date.today(), at)
            ) <= timedelta(hours=1)


def test_gap_time_moves_to_the_first_valid_minute():
    berlin = zone("Europe/Berlin")
    moment = local_to_utc(date(2026, 3, 29), time(2, 30), berlin)
    assert moment.astimezone(berlin).time() == time(3, 0)
    lord_howe = zone("Australia/Lord_Howe")
    moment = local_to_utc(date(2026, 10, 4), time(2, 10), lord_howe)
    assert moment.astimezone(lord_howe).time() == time(2, 30)


def test_repeated_time_fires_at_its_first_occurrence():
    ny = zone("America/New_York")
    moment = local_to_utc(date(2026, 11, 1), time(1, 30), ny)
    assert moment == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not EST


def test_sitting_nudges_inside_sitting_hours_on_sitting_days_only():
    tz = zone("Europe/Berlin")
    prefs = Preferences(1, tz, None, sitting=Sitting(frozenset({"mon"}), time(9), time(11), 45))
    start = datetime(2026, 3, 1, 23, tzinfo=UTC)  # Monday 00:00 Berlin
    planned = plan_messages(prefs, start, start + timedelta(days=2))
    walls = [p.due_at.astimezone(tz).strftime("%a %H:%M") for p in planned]
    assert walls == ["Mon 09:45", "Mon 10:30"]


hhmm = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
zones = st.sampled_from(
    [
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "UTC",
        "America/St_Johns",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    zones,
    hhmm,
    hhmm,
    hhmm,
    hhmm,
    hhmm,
    st.sampled_from([30, 45, 60]),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
)
def test_planner_invariants(tz_name, checkin, quiet_from, quiet_to, sit_from, sit_to, every, start):
    tz = zone(tz_name)
    quiet = DailyWindow(quiet_from, quiet_to)
    prefs = Preferences(
        1, tz, checkin, quiet, Sitting(frozenset({"mon", "wed", "sat"}), sit_from, sit_to, every)
    )
    start = start.replace(tzinfo=UTC)
    planned = plan_messages(prefs, start, start + timedelta(hours=36))
    keys = [p.dedupe_key for p in planned]
    assert len(keys) == len(set(keys))
    for p in planned:
        assert start <= p.due_at < start + timedelta(hours=36)
        assert not quiet.contains(p.due_at, tz)  # nothing scheduled lands in quiet hours
    checkin_days = [p.due_at.astimezone(tz).date() for p in planned if p.kind == "checkin"]
    assert len(checkin_days) == len(set(checkin_days))


def test_send_decision_per_policy():
    tz = zone("Europe/Berlin")
    quiet = DailyWindow(time(21, 30), time(7, 30))
    due = datetime(2026, 3, 2, 7, tzinfo=UTC)  # 08:00 Berlin
    assert send_decision("checkin", due, due + timedelta(hours=4), due, quiet, tz) == Send()
    assert send_decision(
        "checkin", due, due + timedelta(hours=4), due + timedelta(hours=5), quiet, tz
    ) == Expire("expired")
    assert send_decision(
        "sitting", due, due + timedelta(minutes=10), due + timedelta(hours=1), quiet, tz
    ) == Expire("dropped")
    night = datetime(2026, 3, 2, 22, tzinfo=UTC)  # 23:00 Berlin
    assert send_decision("lesson", due, None, night, quiet, tz) == Postpone(
        datetime(2026, 3, 3, 6, 30, tzinfo=UTC)
    )
    assert send_decision("reply", due, None, night, quiet, tz) == Send()
