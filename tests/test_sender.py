"""The sender of `run` (issue 13): handlers never wait for Telegram; replies go first; faults
delay sends, never the storing of answers; no row is stranded in 'sending' (the lease)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta

import pytest

from jobs import dispatch
from storage import outbox
from tests.test_inbox import USER, Bot, add_patient, until


@pytest.fixture
async def bot(clock, fresh_db, db_path):
    b = await Bot(clock, fresh_db, db_path).start()
    yield b
    if b.api.hang is not None:
        b.api.hang.set()
    if b.service.rt.sender is not None:
        await b.stop()


def checkin_question(b: Bot, pid: int, chat: int) -> int:
    """A check-in that went out an hour ago, ready for a rating tap."""
    at = (b.clock.now() - timedelta(hours=1)).isoformat()
    b.db.execute(
        "INSERT INTO outbox (chat_id, patient_id, kind, due_at, dedupe_key, payload, "
        "created_at, status, sent_at) VALUES (?, ?, 'checkin', ?, ?, ?, ?, 'sent', ?)",
        [chat, pid, at, f"ck:{pid}", json.dumps({"local_date": "2026-03-02"}), at, at],
    )
    return b.db.execute("SELECT id FROM outbox WHERE dedupe_key = ?", [f"ck:{pid}"]).fetchone()[0]


def status(b: Bot) -> str | None:
    """The status of the one outbox row of the test (None before it exists)."""
    row = b.db.execute("SELECT status FROM outbox").fetchone()
    return row[0] if row else None


def stored_ratings(b: Bot) -> int:
    return b.db.execute("SELECT count(*) FROM checkins WHERE pain IS NOT NULL").fetchone()[0]


async def test_a_reply_is_queued_and_the_handler_returns_while_telegram_hangs(bot):
    bot.api.hang = asyncio.Event()
    bot.push(bot.updates.text(USER, "/help"))
    await until(lambda: [r["status"] for r in bot.rows()] == ["done"], "handled")
    [reply] = list(bot.db.query("SELECT status FROM outbox WHERE kind = 'reply'"))
    assert reply["status"] in ("pending", "sending") and bot.api.sent == []
    bot.api.hang.set()
    await until(lambda: bot.texts(USER), "sent once Telegram answers")


@pytest.mark.parametrize("fault", ["429", "hang"])
async def test_taps_are_stored_at_once_during_a_429_storm_or_a_hang(bot, fault):
    people = [(2000 + n, None) for n in range(10)]
    people = [(chat, checkin_question(bot, add_patient(bot, chat), chat)) for chat, _ in people]
    if fault == "429":
        bot.api.fail_next("429", method="sendMessage", retry_after=20, times=10_000)
    else:
        bot.api.hang = asyncio.Event()
    loop = asyncio.get_running_loop()
    waits = []
    for n, (chat, question) in enumerate(people):
        started = loop.time()
        bot.push(bot.updates.callback(chat, f"c:{question}:{n % 11}", message_id=1))
        await until(lambda n=n: stored_ratings(bot) == n + 1, f"tap {n} stored", timeout=2)
        waits.append(loop.time() - started)
    assert max(waits) < 1.0
    assert bot.api.sent == []
    # The line clears: every answer goes out once (after Telegram's retry_after on a 429).
    bot.api.clear_faults()
    if fault == "429":
        bot.clock.advance(timedelta(seconds=21))
        bot.rt.sender.kick()
    else:
        bot.api.hang.set()
    await until(lambda: all(bot.texts(chat) for chat, _ in people), "all answered")
    assert all(len(bot.texts(chat)) == 1 for chat, _ in people)


async def test_replies_go_ahead_of_planned_prompts_and_nudges_last(bot):
    now = bot.clock.now()
    for n, kind in enumerate(["sitting", "checkin", "reply", "lesson", "alert_clinician"]):
        outbox.enqueue(
            bot.db,
            chat_id=3000 + n,
            kind=kind,
            due_at=now - timedelta(minutes=5 - n),
            dedupe_key=f"k{n}",
            now=now,
            payload={"text": kind},
        )
    fast = [r["kind"] for r in outbox.due(bot.db, now, 10, "fast")]
    bulk = [r["kind"] for r in outbox.due(bot.db, now, 10, "bulk")]
    assert fast == ["reply", "alert_clinician"]
    assert bulk == ["checkin", "lesson", "sitting"]


async def test_a_briefly_locked_database_is_retried_when_marking_sent(bot, monkeypatch):
    monkeypatch.setattr(dispatch, "MARK_SENT_RETRIES", (0, 0))
    real, failures = outbox.mark_sent, []

    def locked_once(db, row_id, now, message_id):
        if not failures:
            failures.append(row_id)
            raise sqlite3.OperationalError("database is locked")
        real(db, row_id, now, message_id)

    monkeypatch.setattr(outbox, "mark_sent", locked_once)
    bot.push(bot.updates.text(USER, "/help"))
    await until(lambda: status(bot) == "sent", "recorded on the second try")
    assert failures and len(bot.texts(USER)) == 1


async def test_a_failed_mark_sent_puts_the_row_back_in_the_queue(bot, monkeypatch):
    monkeypatch.setattr(dispatch, "MARK_SENT_RETRIES", (0, 0))
    real = outbox.mark_sent
    failures = []

    def locked(db, row_id, now, message_id):
        if len(failures) < 3:  # locked through every retry of the first send
            failures.append(row_id)
            raise sqlite3.OperationalError("database is locked")
        real(db, row_id, now, message_id)

    monkeypatch.setattr(outbox, "mark_sent", locked)
    bot.push(bot.updates.text(USER, "/help"))
    await until(lambda: failures, "the send whose result could not be written")
    await until(lambda: status(bot) == "pending", "back in the queue at once")
    bot.clock.advance(dispatch.STRANDED_RETRY)
    bot.rt.sender.kick()
    await until(lambda: status(bot) == "sent", "sent on the retry")
    # Delivered twice: at least once, never lost (the result could not be recorded).
    assert len(bot.texts(USER)) == 2


async def test_a_row_stranded_in_sending_is_back_within_a_minute(bot, monkeypatch):
    monkeypatch.setattr(dispatch, "MARK_SENT_RETRIES", ())
    monkeypatch.setattr(dispatch, "_unstrand", lambda rt, row, exc: None)  # even that failed

    def full(db, row_id, now, message_id):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(outbox, "mark_sent", full)
    bot.push(bot.updates.text(USER, "/help"))
    await until(lambda: bot.texts(USER), "delivered, the result not recorded")
    await until(lambda: not bot.rt.in_flight, "nothing in flight")
    assert status(bot) == "sending"
    monkeypatch.undo()
    await bot.rt.sender.pass_once("fast")
    assert status(bot) == "sending"  # not yet: the lease has not run out
    bot.clock.advance(dispatch.LEASE + timedelta(seconds=1))
    bot.rt.sender.kick()
    await until(lambda: status(bot) == "sent", "reaped and sent again, without a restart")
    row = next(bot.db.query("SELECT last_error FROM outbox"))
    assert row["last_error"] is None


async def test_one_poisoned_row_does_not_stop_the_others(bot):
    now = bot.clock.now()
    pid = add_patient(bot, 2100)
    bot.db.execute("UPDATE patients SET timezone = 'Not/AZone' WHERE id = ?", [pid])
    outbox.enqueue(
        bot.db,
        chat_id=2100,
        patient_id=pid,
        kind="reply",
        due_at=now,
        dedupe_key="poisoned",
        now=now,
        payload={"text": "never"},
    )
    outbox.enqueue(
        bot.db,
        chat_id=2101,
        kind="reply",
        due_at=now,
        dedupe_key="fine",
        now=now,
        payload={"text": "hello"},
    )
    bot.rt.sender.kick()
    await until(lambda: bot.texts(2101) == ["hello"], "the healthy row sent")
    assert next(
        bot.db.query("SELECT status, last_error FROM outbox WHERE dedupe_key = 'poisoned'")
    ) == {"status": "failed", "last_error": "decision_error"}


async def test_the_ticks_report_that_they_are_alive(bot):
    from storage import liveness

    await until(lambda: liveness.last(bot.db, "dispatch") is not None, "a dispatch beat")
    # the start-up plan: a background pass, which beats when it has finished
    await until(lambda: liveness.last(bot.db, "plan") is not None, "the start-up plan's beat")


async def test_pace_lets_an_urgent_send_ahead_of_queued_planned_ones():
    """Real (short) seconds: 40 planned sends queue at a 20-per-0.2 s pace, then a reply."""
    pace, order = dispatch.Pace(overall=20, per_chat=1, window=0.2), []

    async def send(chat: int, urgent: bool) -> None:
        await pace.wait(chat, urgent=urgent)
        order.append(chat)

    bulk = [asyncio.create_task(send(4000 + n, False)) for n in range(40)]
    await asyncio.sleep(0)  # they are all queued at the turnstile now
    reply = asyncio.create_task(send(1, True))
    await asyncio.gather(*bulk, reply)
    assert order.index(1) <= 2, order
    assert sorted(order) == sorted([1] + [4000 + n for n in range(40)])


async def test_a_wall_clock_stepped_back_holds_no_reply(bot):
    """A reply queued "now" just before the clock stepped back an hour (so due an hour ahead of
    the clock) is still sent at once (alerts too: `outbox.IMMEDIATE`); a planned prompt waits
    for its time as before."""
    ahead = bot.clock.now() + timedelta(hours=1)
    for chat, kind in ((2200, "reply"), (2202, "checkin")):
        outbox.enqueue(
            bot.db,
            chat_id=chat,
            kind=kind,
            dedupe_key=kind,
            due_at=ahead,
            now=bot.clock.now(),
            payload={"text": kind, "local_date": "2026-03-02"},
        )
    bot.rt.sender.kick()
    await until(lambda: bot.texts(2200), "the reply sent")
    await bot.rt.sender.pass_once("bulk")
    assert bot.texts(2202) == []
