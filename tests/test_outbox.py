"""The durable schedule: crash between claim and send, offline hours, 403, 429, retries."""

from __future__ import annotations

from datetime import timedelta

from bot.app import build_application
from bot.clock import parse_iso
from jobs.dispatch import BACKOFF_CAP, BACKOFF_START_FAST, RETRY_FOR, backoff, dispatch_due
from jobs.plan import plan_all
from storage import outbox, patients
from storage.db import open_database
from tests.conftest import Harness


def rows(db, **where):
    sql = "SELECT * FROM outbox"
    if where:
        sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
    return list(db.query(sql + " ORDER BY due_at", list(where.values())))


async def test_killed_between_claim_and_send_goes_out_once_after_restart(clock, db_path):
    first = await Harness(clock, open_database(db_path), db_path).start()
    first.add_patient()
    plan_all(first.rt)
    clock.set(clock.now().replace(day=3, hour=7, minute=0))  # Tuesday 08:00 Berlin
    [row] = outbox.due(first.db, clock.now(), 10)
    assert outbox.claim(first.db, row["id"], clock.now())
    # The process dies here: claimed, nothing sent. Nothing of the first process survives but
    # the database file.
    assert first.api.sent == []
    first.db.close()

    second = await Harness(clock, open_database(db_path), db_path).start()  # post_init recovers
    await dispatch_due(second.rt)
    await dispatch_due(second.rt)
    assert [s.chat_id for s in second.api.sent] == [1001]
    assert outbox.get(second.db, row["id"])["status"] == "sent"
    await second.stop()


async def test_redelivered_update_replies_once(harness):
    harness.add_patient()
    update = harness.updates.text(1001, "/checkin")
    await harness.app.process_update(update)
    await harness.app.process_update(update)  # Telegram redelivers after a crash
    assert len(harness.api.sent_to(1001)) == 1


async def test_offline_three_hours_each_kind_follows_its_policy(harness, clock):
    pid = harness.add_patient(
        sitting_days="mon,tue,wed,thu,fri",
        sitting_from="09:00",
        sitting_to="12:00",
        sitting_every=30,
    )
    clock.set(clock.now().replace(day=3, hour=6, minute=0))  # Tue 07:00 Berlin
    plan_all(harness.rt)
    reply = outbox.enqueue(
        harness.db,
        chat_id=1001,
        patient_id=pid,
        kind="reply",
        due_at=clock.now(),
        now=clock.now(),
        dedupe_key="reply:test",
        payload={"text": "queued before the outage"},
    )
    clock.advance(timedelta(hours=3))  # offline 07:00-10:00: nothing ran
    await dispatch_due(harness.rt)
    by_kind = {}
    for row in rows(harness.db):
        if row["due_at"] <= clock.now().isoformat():
            by_kind.setdefault(row["kind"], set()).add(row["status"])
    assert by_kind["checkin"] == {"sent"}  # 2 hours late is inside its 4-hour window
    # Stale nudges are dropped; the current one gives way to the check-in that just went out
    # (two prompts at once are one too many: see the merge rule in bot.schedule).
    assert by_kind["sitting"] == {"dropped", "skipped"}
    assert outbox.get(harness.db, reply)["status"] == "sent"  # replies always go out
    clock.advance(timedelta(minutes=30))
    await dispatch_due(harness.rt)
    sent_kinds = [r["kind"] for r in rows(harness.db, status="sent")]
    assert sent_kinds.count("sitting") == 1  # the next nudge, on time, goes out


async def test_offline_past_the_window_expires_the_checkin_and_records_a_missed_day(harness, clock):
    pid = harness.add_patient()
    clock.set(clock.now().replace(day=3, hour=6))
    plan_all(harness.rt)
    clock.advance(timedelta(hours=6))  # the 08:00 check-in is now 5 hours late
    await dispatch_due(harness.rt)
    [checkin] = [
        r for r in rows(harness.db, kind="checkin") if r["due_at"] < clock.now().isoformat()
    ]
    assert checkin["status"] == "expired"
    assert harness.api.sent == []
    clock.advance(timedelta(hours=20))
    plan_all(harness.rt)
    missed = list(harness.db.query("SELECT * FROM checkins WHERE patient_id = ?", [pid]))
    assert [(m["local_date"], m["status"], m["pain"]) for m in missed] == [
        ("2026-03-03", "missed", None)
    ]


async def test_checkin_due_in_quiet_hours_waits_or_expires(harness, clock):
    harness.add_patient(checkin_time="20:00", quiet_from="21:00", quiet_to="07:30")
    clock.set(clock.now().replace(hour=18, minute=0))  # Mon 19:00 Berlin
    plan_all(harness.rt)
    clock.advance(timedelta(hours=2, minutes=30))  # 21:30: late and inside quiet hours
    report = await dispatch_due(harness.rt)
    assert report.expired and harness.api.sent == []  # 07:30 is past its window: never at night


async def test_forbidden_stops_planning_for_that_person(harness, clock):
    pid = harness.add_patient()
    other = harness.add_patient(user_id=1002)
    plan_all(harness.rt)
    harness.api.block(1001)
    clock.set(clock.now().replace(day=3, hour=7, minute=0))
    await dispatch_due(harness.rt)
    assert patients.get(harness.db, pid)["status"] == "inactive"
    assert patients.get(harness.db, other)["status"] == "active"
    assert rows(harness.db, chat_id=1001, status="pending") == []
    clock.advance(timedelta(days=2))
    plan_all(harness.rt)
    await dispatch_due(harness.rt)
    assert rows(harness.db, chat_id=1001, status="pending") == []
    assert [s.chat_id for s in harness.api.sent] == [1002, 1002]


async def test_retry_after_is_waited_out(harness, clock):
    harness.add_patient()
    plan_all(harness.rt)
    clock.set(clock.now().replace(day=3, hour=7, minute=0))
    harness.api.fail_next("429", retry_after=30)
    report = await dispatch_due(harness.rt)
    assert report.retried and harness.api.sent == []
    clock.advance(timedelta(seconds=20))
    assert (await dispatch_due(harness.rt)).sent == []  # still inside retry_after
    clock.advance(timedelta(seconds=11))
    assert len((await dispatch_due(harness.rt)).sent) == 1
    [row] = rows(harness.db, status="sent")
    assert row["attempts"] == 1  # a 429 is not the message's fault


async def test_timeouts_and_5xx_back_off_and_give_up_after_a_day(harness, clock):
    pid = harness.add_patient()
    row_id = outbox.enqueue(
        harness.db,
        chat_id=1001,
        patient_id=pid,
        kind="reply",
        due_at=clock.now(),
        now=clock.now(),
        dedupe_key="reply:t",
        payload={"text": "an answer"},
    )
    start = clock.now()
    harness.api.fail_next("timeout", times=3)
    harness.api.fail_next("5xx", times=10**6)
    waits = []
    while outbox.get(harness.db, row_id)["status"] == "pending":
        await dispatch_due(harness.rt)
        row = outbox.get(harness.db, row_id)
        if row["status"] == "pending":
            retry_at = parse_iso(row["next_attempt_at"])
            waits.append(retry_at - clock.now())
            clock.set(retry_at)
    # growing back-off; a reply (the fast lane) starts at 2 s: a person is waiting for it
    assert waits == sorted(waits) and waits[0] == BACKOFF_START_FAST
    assert max(waits) == BACKOFF_CAP and clock.now() - start >= RETRY_FOR
    assert harness.api.sent == [] and outbox.get(harness.db, row_id)["status"] == "failed"


def test_planned_prompts_back_off_from_30_s_and_replies_from_2_s():
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (30, 60, 120)]
    assert [backoff(n, fast=True) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (2, 4, 8)]
    assert backoff(99) == backoff(99, fast=True) == BACKOFF_CAP


async def test_bad_request_chat_not_found_marks_unreachable_without_retry(harness, clock):
    pid = harness.add_patient()
    plan_all(harness.rt)
    clock.set(clock.now().replace(day=3, hour=7, minute=0))
    harness.api.fail_next("400")
    report = await dispatch_due(harness.rt)
    assert report.failed and not report.retried
    assert patients.get(harness.db, pid)["status"] == "inactive"


async def test_a_row_that_cannot_be_rendered_fails_alone(harness, clock):
    pid = harness.add_patient()
    outbox.enqueue(
        harness.db,
        chat_id=1001,
        patient_id=pid,
        kind="mystery",
        due_at=clock.now(),
        now=clock.now(),
        dedupe_key="x",
    )
    outbox.enqueue(
        harness.db,
        chat_id=1001,
        patient_id=pid,
        kind="reply",
        due_at=clock.now(),
        now=clock.now(),
        dedupe_key="y",
        payload={"text": "still sent"},
    )
    report = await dispatch_due(harness.rt)
    assert len(report.failed) == 1 and len(report.sent) == 1


def test_build_application_uses_the_configured_api_base_url(harness):
    settings = harness.settings.replace(TELEGRAM_API_BASE_URL="http://127.0.0.1:8081/bot")
    app = build_application(
        settings, harness.clock, harness.api, db=harness.db, rate_limit=False, schedule_ticks=False
    )
    assert app.bot.base_url.startswith("http://127.0.0.1:8081/bot")
