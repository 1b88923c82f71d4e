"""Faults from Telegram, through the stand-in: what docs/design.md promises, no loss, no storms.

test_outbox.py already covers the scheduled path (429 waited out, timeouts and 5xx backing off
and giving up, 403 and "chat not found" marking the person unreachable). Here: the reply path
(a rating and its acknowledgement), outages that hit many rows at once (counting every call),
the small calls around a tap, other 400s, and errors PTB raises that dispatch does not expect.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections import defaultdict
from datetime import timedelta

import pytest

from bot.clock import parse_iso
from jobs.dispatch import BACKOFF_CAP, BACKOFF_START, dispatch_due, next_due
from jobs.plan import plan_all
from storage import outbox, patients

TUESDAY_0755_BERLIN = dict(day=3, hour=6, minute=55)
PLAN_EVERY = timedelta(minutes=15)


async def open_checkin(h, user_id=1001):
    """Plan, move to Tuesday 08:00 Berlin, send the check-in; returns the question's message."""
    plan_all(h.rt)
    h.clock.set(h.clock.now().replace(day=3, hour=7, minute=0))
    await dispatch_due(h.rt)
    return h.last(user_id)


def pain(h, pid):
    return [r["pain"] for r in h.db.query("SELECT pain FROM checkins WHERE patient_id = ?", [pid])]


def sends(h, chat_id=None):
    return [
        c
        for c in h.api.calls
        if c.method == "sendMessage" and (chat_id is None or int(c.params["chat_id"]) == chat_id)
    ]


def row_of(call) -> int | None:
    """The outbox row a check-in or sitting prompt belongs to, read from its buttons' data."""
    markup = call.params.get("reply_markup") or {}
    for row in markup.get("inline_keyboard", []):
        for button in row:
            parts = (button.get("callback_data") or "").split(":")
            if len(parts) == 3 and parts[0] in ("c", "s"):
                return int(parts[1])
    return None


async def run_until(h, end):
    """The production loop on the virtual clock: dispatch every tick, plan every 15 minutes."""
    next_plan = h.clock.now()
    while h.clock.now() < end:
        if h.clock.now() >= next_plan:
            plan_all(h.rt)
            next_plan = h.clock.now() + PLAN_EVERY
        await dispatch_due(h.rt)
        due = next_due(h.rt)
        upcoming = min(t for t in (due, next_plan, end) if t is not None)
        h.clock.set(max(upcoming, h.clock.now() + timedelta(seconds=5)))


@pytest.mark.parametrize(
    "kind,delivered,status",
    [
        ("429", True, "active"),
        ("timeout", True, "active"),
        ("5xx", True, "active"),
        ("502", True, "active"),
        ("network", True, "active"),
        ("403", False, "inactive"),
        ("400", False, "inactive"),
    ],
)
async def test_a_rating_is_kept_whatever_telegram_answers_to_its_acknowledgement(
    harness, clock, kind, delivered, status
):
    pid = harness.add_patient()
    question = await open_checkin(harness)
    harness.api.fail_next(kind, method="sendMessage", retry_after=30)
    await harness.tap(1001, question.buttons[1][1][1], question.message_id)  # "7"
    assert pain(harness, pid) == [7]  # stored before Telegram was asked anything
    await run_until(harness, clock.now() + timedelta(minutes=10))
    acks = [s for s in harness.api.sent_to(1001) if "7/10" in s.text]
    assert len(acks) == (1 if delivered else 0)
    assert patients.get(harness.db, pid)["status"] == status
    after_question = [c for c in sends(harness, 1001) if c.at >= question.at and row_of(c) is None]
    assert len(after_question) == (2 if delivered else 1)  # one failure, at most one retry
    assert pain(harness, pid) == [7]


@pytest.mark.parametrize("method", ["answerCallbackQuery", "editMessageReplyMarkup"])
@pytest.mark.parametrize("kind", ["timeout", "5xx", "network", "429", "400"])
async def test_failing_small_calls_around_a_tap_lose_nothing(harness, method, kind):
    pid = harness.add_patient()
    question = await open_checkin(harness)
    harness.api.fail_next(kind, method=method)
    await harness.tap(1001, question.buttons[0][4][1], question.message_id)  # "4"
    assert pain(harness, pid) == [4]
    assert "4/10" in harness.last(1001).text
    assert patients.get(harness.db, pid)["status"] == "active"


async def test_a_long_outage_costs_a_bounded_number_of_calls_with_growing_waits(harness, clock):
    """Twenty people's 08:00 check-ins meet two hours of 5xx: a few calls each, ever sparser."""
    users = list(range(3001, 3021))
    for uid in users:
        harness.add_patient(user_id=uid)
    plan_all(harness.rt)
    clock.set(clock.now().replace(**TUESDAY_0755_BERLIN))
    window = timedelta(hours=2)
    harness.api.fail_next("5xx", times=10**6)
    await run_until(harness, clock.now() + window)
    calls = sends(harness)
    assert harness.api.sent == []
    # Waits start at BACKOFF_START and double up to BACKOFF_CAP: that bounds the calls per row.
    per_row = (
        1 + math.ceil(math.log2(BACKOFF_CAP / BACKOFF_START)) + math.ceil(window / BACKOFF_CAP)
    )
    assert len(calls) <= len(users) * per_row
    by_row = defaultdict(list)
    for call in calls:
        by_row[row_of(call)].append(call.at)
    assert len(by_row) == len(users) and None not in by_row
    for times in by_row.values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(times) >= 3 and gaps[0] == BACKOFF_START  # backing off, never a storm
        assert all(
            later == min(2 * earlier, BACKOFF_CAP) for earlier, later in itertools.pairwise(gaps)
        )


async def test_a_429_flood_is_waited_out_row_by_row_and_costs_no_attempts(harness, clock):
    users = list(range(3101, 3111))
    for uid in users:
        harness.add_patient(user_id=uid)
    plan_all(harness.rt)
    clock.set(clock.now().replace(**TUESDAY_0755_BERLIN))
    harness.api.fail_next("429", retry_after=30, times=10**6)
    await run_until(harness, clock.now() + timedelta(minutes=15))  # 07:55-08:10: all 429
    flood = sends(harness)
    by_row = defaultdict(list)
    for call in flood:
        by_row[row_of(call)].append(call.at)
    for times in by_row.values():
        assert all(b - a >= timedelta(seconds=30) for a, b in itertools.pairwise(times))
    assert len(flood) <= len(users) * (10 * 60 // 30 + 1)
    harness.api.clear_faults()
    await run_until(harness, clock.now() + timedelta(minutes=2))
    assert sorted(s.chat_id for s in harness.api.sent) == users  # nothing lost, nothing twice
    attempts = [
        r["attempts"]
        for r in harness.db.query(
            "SELECT attempts FROM outbox WHERE kind = 'checkin' AND status = 'sent'"
        )
    ]
    assert attempts == [1] * len(users)  # Telegram's waits were not the messages' fault


async def test_other_bad_requests_fail_once_and_the_person_stays_active(harness, clock):
    pid = harness.add_patient()
    plan_all(harness.rt)
    clock.set(clock.now().replace(day=3, hour=7, minute=0))
    harness.api.fail_next("400", description="Bad Request: message is too long")
    report = await dispatch_due(harness.rt)
    assert report.failed and not report.retried
    await run_until(harness, clock.now() + timedelta(hours=1))
    assert len(sends(harness)) == 1
    assert patients.get(harness.db, pid)["status"] == "active"


async def test_an_hour_without_telegram_loses_nothing(harness, clock):
    pid = harness.add_patient()
    plan_all(harness.rt)
    clock.set(clock.now().replace(**TUESDAY_0755_BERLIN))
    harness.api.set_unreachable(True)
    await run_until(harness, clock.now() + timedelta(hours=1))
    harness.api.set_unreachable(False)
    await run_until(harness, clock.now() + timedelta(minutes=30))
    # 08:00's check-in is still inside its 4-hour window at 08:55: it must arrive.
    assert [s.chat_id for s in harness.api.sent] == [1001]
    assert patients.get(harness.db, pid)["status"] == "active"


@pytest.mark.parametrize("kind", ["401", "migrated"])
async def test_an_unexpected_telegram_error_leaves_the_row_retryable(harness, clock, kind):
    harness.add_patient()
    plan_all(harness.rt)
    clock.set(clock.now().replace(day=3, hour=7, minute=0))
    harness.api.fail_next(kind)
    with contextlib.suppress(Exception):  # the assertion below is the point
        await dispatch_due(harness.rt)
    [row] = [
        r
        for r in harness.db.query("SELECT * FROM outbox WHERE kind = 'checkin'")
        if parse_iso(r["due_at"]) <= clock.now()
    ]
    assert row["status"] == "pending" and row["next_attempt_at"] is not None
    await run_until(harness, clock.now() + timedelta(hours=1))
    assert outbox.get(harness.db, row["id"])["status"] == "sent"
