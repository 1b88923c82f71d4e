"""The durable inbox (issue 13): every update is stored before Telegram is told it arrived, and
handled from there, once, whatever happens in between.

The real Application and `bot.inbound.Service` (what `backpain-bot run` runs) on the in-process
FakeBotApi, whose getUpdates keeps Telegram's offset semantics: an update is forgotten once a call
with a later offset confirms it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import pytest

from bot import inbound as inbound_module
from bot.app import build_application
from bot.inbound import Inbound, Service
from bot.rules.safety import Screen
from bot.settings import load_settings
from bot.simulator.fake_api import FakeBotApi
from bot.simulator.runner import SIM_TOKEN
from bot.simulator.updates import UpdateFactory
from storage import inbox, patients

USER, OTHER = 1001, 1002


async def until(condition, what: str = "condition", timeout: float = 5.0) -> None:
    """Let the event loop run until `condition()` holds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.002)


class Bot:
    """`run`'s Service on a FakeBotApi, restartable on the same database (a crash: the old
    Service's tasks are dropped without any clean-up)."""

    def __init__(self, clock, db, db_path, **settings):
        self.clock, self.db = clock, db
        self.settings = load_settings(
            environ={}, dotenv=None, TELEGRAM_BOT_TOKEN=SIM_TOKEN, DATABASE_PATH=db_path, **settings
        )
        self.api = FakeBotApi(clock)
        self.service: Service | None = None

    async def start(self, poll: bool = True) -> Bot:
        app = build_application(
            self.settings,
            self.clock,
            self.api,
            db=self.db,
            rate_limit=False,
            schedule_ticks=False,
            updater=False,
        )
        self.service = Service(app, self.settings, poll_timeout=1)
        if not poll:
            self.service.settings = self.settings  # same; polling is started below only if asked
        await self.service.start()
        self.updates = UpdateFactory(app.bot, self.clock)
        return self

    @property
    def app(self):
        return self.service.app

    @property
    def rt(self):
        return self.service.rt

    def push(self, update) -> dict:
        raw = update.to_dict()
        self.api.push_update(raw)
        return raw

    async def crash(self) -> None:
        """Drop everything mid-flight, as SIGKILL would (no drain, no final send)."""
        svc = self.service
        tasks = [
            *svc._tasks,
            *svc.inbound._workers.values(),
            *svc.inbound.background,
            *svc.sender._tasks,
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        svc.rt.sender = None
        await svc.app.shutdown()

    async def stop(self) -> None:
        await self.service.stop()

    def rows(self) -> list[dict]:
        return [dict(r) for r in self.db.query("SELECT * FROM inbox ORDER BY id")]

    def texts(self, chat_id: int) -> list[str]:
        return [s.text for s in self.api.sent_to(chat_id)]


@pytest.fixture
async def bot(clock, fresh_db, db_path):
    b = await Bot(clock, fresh_db, db_path).start()
    yield b
    if b.service is not None and b.service.rt.sender is not None:
        await b.stop()


def add_patient(b: Bot, user_id: int = USER, **fields) -> int:
    defaults = dict(
        first_name="Ana",
        timezone="Europe/Berlin",
        checkin_time="08:00",
        quiet_from="21:30",
        quiet_to="07:30",
        status="active",
        start_date="2026-03-02",
    )
    defaults.update(fields)
    return patients.create(b.db, user_id=user_id, chat_id=user_id, now=b.clock.now(), **defaults)


def get_updates_calls(b: Bot) -> list[dict]:
    return [c.params for c in b.api.calls if c.method == "getUpdates"]


async def test_an_update_is_stored_before_the_offset_that_confirms_it(bot):
    stored_when_confirmed = []
    real_get = bot.api._get_updates

    def spy(params):
        if params.get("offset") is not None:  # this call confirms what came before it
            stored_when_confirmed.append(
                (int(params["offset"]), [r["update_id"] for r in bot.rows()])
            )
        return real_get(params)

    bot.api._get_updates = spy
    raw = bot.push(bot.updates.text(USER, "/help"))
    await until(lambda: raw["update_id"] in bot.api.confirmed, "the update confirmed")
    confirming = [ids for offset, ids in stored_when_confirmed if offset > raw["update_id"]]
    assert confirming and raw["update_id"] in confirming[0]
    await until(lambda: bot.texts(USER), "the /help answer")
    [row] = bot.rows()
    assert row["status"] == "done" and row["kind"] == "message" and row["chat_id"] == USER
    params = get_updates_calls(bot)[0]
    assert set(params["allowed_updates"]) == {
        "message",
        "edited_message",
        "callback_query",
        "my_chat_member",
    }


async def test_crash_before_handling_handles_it_once_after_restart(clock, fresh_db, db_path):
    b = await Bot(clock, fresh_db, db_path).start()
    pid = add_patient(b)
    hold = asyncio.Event()
    real_handle = Inbound.handle

    async def stuck(self, row_id):
        await hold.wait()  # the worker never gets to handle it
        await real_handle(self, row_id)

    Inbound.handle = stuck
    try:
        raw = b.push(b.updates.text(USER, "/checkin"))
        await until(lambda: raw["update_id"] in b.api.confirmed, "confirmed to Telegram")
        assert [r["status"] for r in b.rows()] == ["new"]
        await b.crash()
    finally:
        Inbound.handle = real_handle
    assert b.api.updates == []  # Telegram will never deliver it again
    await b.start()
    await until(lambda: [r["status"] for r in b.rows()] == ["done"], "handled after restart")
    await until(lambda: b.texts(USER), "the answer sent")
    await b.stop()
    asked = b.db.execute(
        "SELECT count(*) FROM outbox WHERE patient_id = ? AND kind = 'checkin_asked'", [pid]
    ).fetchone()[0]
    assert asked == 1 and len(b.texts(USER)) == 1


async def test_crash_between_handling_and_done_changes_nothing_twice(
    clock, fresh_db, db_path, monkeypatch
):
    b = await Bot(clock, fresh_db, db_path).start()
    pid = add_patient(b)
    b.db.execute(
        "INSERT INTO outbox (chat_id, patient_id, kind, due_at, dedupe_key, payload, "
        "created_at, status, sent_at) VALUES (?, ?, 'checkin', ?, 'ck', ?, ?, 'sent', ?)",
        [
            USER,
            pid,
            "2026-03-02T11:00:00+00:00",
            json.dumps({"local_date": "2026-03-02"}),
            "2026-03-02T11:00:00+00:00",
            "2026-03-02T11:00:00+00:00",
        ],
    )
    row = b.db.execute("SELECT id FROM outbox WHERE dedupe_key = 'ck'").fetchone()[0]
    real_mark = inbox.mark
    monkeypatch.setattr(inbox, "mark", lambda *a, **k: False)  # dies before 'done' is written
    raw = b.push(b.updates.callback(USER, f"c:{row}:6", message_id=1))
    await until(lambda: raw["update_id"] in b.api.confirmed, "confirmed")
    await until(lambda: b.texts(USER), "the rating answered")
    await b.crash()
    monkeypatch.setattr(inbox, "mark", real_mark)
    assert [r["status"] for r in b.rows()] == ["new"]
    await b.start()
    await until(lambda: [r["status"] for r in b.rows()] == ["done"], "handled again")
    await b.stop()
    ratings = b.db.execute("SELECT count(*) FROM checkins WHERE patient_id = ?", [pid]).fetchone()
    replies = b.db.execute("SELECT count(*) FROM outbox WHERE kind = 'reply'").fetchone()[0]
    assert ratings[0] == 1 and replies == 1 and len(b.texts(USER)) == 1


async def test_a_redelivered_update_is_stored_and_handled_once(bot):
    update = bot.updates.text(USER, "/help")
    bot.push(update)
    bot.push(update)  # Telegram sends it again (it never saw the confirmation)
    await until(lambda: update.update_id in bot.api.confirmed, "confirmed")
    # And once more through the other door, as a webhook retry would.
    assert bot.service.inbound.receive([update.to_json()]) == []
    await bot.service.inbound.drain()
    await bot.stop()
    assert len(bot.rows()) == 1 and len(bot.texts(USER)) == 1


async def test_a_reused_update_id_with_new_content_is_handled(bot):
    first = bot.updates.text(USER, "/help").to_dict()
    second = bot.updates.text(USER, "/start").to_dict()
    second["update_id"] = first["update_id"]  # Telegram reuses ids after a week of silence
    bot.api.push_update(first)
    await until(lambda: len(bot.texts(USER)) == 1, "first answered")
    # A week later (a webhook here; polling after a restart starts without an offset).
    assert len(bot.service.inbound.receive([json.dumps(second)])) == 1
    await until(lambda: len(bot.texts(USER)) == 2, "second answered too")
    await bot.stop()
    assert [r["status"] for r in bot.rows()] == ["done", "done"]
    assert (
        bot.db.execute("SELECT step FROM onboarding WHERE user_id = ?", [USER]).fetchone()[0]
        == "intro"
    )


async def test_chats_are_handled_concurrently_and_each_chat_in_order(bot):
    from telegram.ext import TypeHandler

    gate, seen = asyncio.Event(), []

    async def slow_for_user(update, context):
        seen.append((update.effective_chat.id, update.message.text))
        if update.effective_chat.id == USER and update.message.text == "/help":
            await gate.wait()  # this chat's handler is slow

    bot.app.add_handler(TypeHandler(object, slow_for_user), group=-9)
    bot.push(bot.updates.text(USER, "/help"))
    bot.push(bot.updates.text(USER, "/start"))
    bot.push(bot.updates.text(OTHER, "/help"))
    await until(lambda: bot.texts(OTHER), "the other chat answered while the first is stuck")
    assert bot.texts(USER) == [] and (USER, "/start") not in seen
    gate.set()
    await until(lambda: len(bot.texts(USER)) == 2, "the first chat caught up")
    assert [t for c, t in seen if c == USER] == ["/help", "/start"]
    rows = bot.rows()
    assert all(r["status"] == "done" for r in rows)


async def test_edited_resume_while_withdrawn_does_nothing_but_the_note(bot):
    pid = add_patient(bot, status="withdrawn")
    edit = bot.updates.edited_text(USER, "/resume", message_id=5)
    bot.push(edit)
    await until(lambda: bot.texts(USER), "the note")
    await bot.stop()
    assert bot.texts(USER) == [
        "I can't use edited messages. Please send it again as a new message."
    ]
    assert patients.get(bot.db, pid)["status"] == "withdrawn"
    assert (
        bot.db.execute(
            "SELECT count(*) FROM outbox WHERE patient_id = ? AND kind != 'reply'", [pid]
        ).fetchone()[0]
        == 0
    )


async def test_edited_messages_never_answer_a_question(harness):
    """Also without the inbox (process_update directly): an edit is not an answer."""
    pid = harness.add_patient()
    await harness.app.process_update(harness.updates.edited_text(USER, "7", message_id=3))
    assert harness.texts(USER) == [
        "I can't use edited messages. Please send it again as a new message."
    ]
    assert (
        harness.db.execute("SELECT count(*) FROM checkins WHERE patient_id = ?", [pid]).fetchone()[
            0
        ]
        == 0
    )


async def test_business_and_unparseable_updates_are_kept_out_and_logged_without_content(
    bot, caplog
):
    secret = "my-private-words"
    business = {
        "update_id": 900,
        "business_message": {
            "message_id": 1,
            "date": 0,
            "text": secret,
            "chat": {"id": USER, "type": "private"},
        },
    }
    garbage = b'{"update_id": 901, "message": "' + secret.encode() + b'"'  # not even JSON
    odd = {"update_id": 902, "message": {"chat": {"id": USER}, "text": secret}}  # not a Message
    with caplog.at_level("INFO"):
        stored = bot.service.inbound.receive([json.dumps(business), garbage, json.dumps(odd)])
        await bot.service.inbound.drain()
    assert [s.status for s in stored] == ["ignored", "bad", "new"]
    assert [r["status"] for r in bot.rows()] == ["ignored", "bad", "bad"]
    assert secret not in caplog.text and bot.texts(USER) == []


async def test_a_flood_from_one_chat_is_throttled_with_one_note(
    clock, fresh_db, db_path, monkeypatch
):
    monkeypatch.setattr(
        inbound_module.safety,
        "screen",
        lambda text: Screen("emergency" if "numb" in (text or "") else None),
    )
    b = await Bot(clock, fresh_db, db_path, INBOUND_PER_CHAT_PER_MINUTE=5).start()
    flooder = 4242
    for n in range(12):
        b.push(b.updates.text(flooder, f"hello {n}"))
    b.push(b.updates.text(flooder, "my legs are numb"))
    b.push(b.updates.text(OTHER, "/help"))
    await until(lambda: b.texts(OTHER), "the other chat answered")
    await until(lambda: not b.service.inbound.busy, "all handled")
    await b.stop()
    rows = b.rows()
    by_chat = [r for r in rows if r["chat_id"] == flooder]
    assert [r["status"] for r in by_chat] == ["done"] * 5 + ["throttled"] * 7 + ["done"]
    notes = [t for t in b.texts(flooder) if "sending a lot at once" in t]
    assert len(notes) == 1
    assert [r["status"] for r in rows if r["chat_id"] == OTHER] == ["done"]


async def test_a_moving_live_location_is_dropped_without_a_note_each_time(harness):
    update = harness.updates.location(USER, 52.5, 13.4).to_dict()
    edited = {
        "update_id": update["update_id"] + 100,
        "edited_message": {**update["message"], "edit_date": update["message"]["date"] + 5},
    }
    from telegram import Update

    await harness.app.process_update(Update.de_json(edited, harness.app.bot))
    assert harness.texts(USER) == []


async def test_delete_removes_what_the_inbox_holds_of_that_chat(bot):
    add_patient(bot)
    bot.push(bot.updates.text(USER, "my back hurts a lot today"))
    bot.push(bot.updates.text(OTHER, "/help"))
    bot.push(bot.updates.text(USER, "/delete"))
    await until(lambda: len(bot.texts(USER)) == 2, "the confirmation question")
    bot.push(bot.updates.callback(USER, "del:yes", message_id=2))
    await until(lambda: any("I deleted" in t for t in bot.texts(USER)), "the receipt")
    await until(lambda: not bot.service.inbound.busy, "all handled")
    assert [r["chat_id"] for r in bot.rows()] == [OTHER]


async def test_handled_payloads_are_scrubbed_after_a_day_and_redeliveries_still_known(bot):
    from datetime import timedelta

    update = bot.updates.text(USER, "my secret words")
    bot.service.inbound.receive([update.to_json()])
    await bot.service.inbound.drain()
    bot.clock.advance(timedelta(hours=23))
    bot.service._retention()
    assert "secret" in bot.rows()[0]["payload"]
    bot.clock.advance(timedelta(hours=2))
    bot.service._retention()
    assert bot.rows()[0]["payload"] == "{}" and bot.rows()[0]["status"] == "done"
    assert bot.service.inbound.receive([update.to_json()]) == []  # still recognised
    bot.clock.advance(timedelta(days=7))
    bot.service._retention()
    assert bot.rows() == []  # a week on, Telegram cannot deliver it again: the row goes


@pytest.mark.slow
async def test_polling_backs_off_on_network_errors_and_a_revoked_token_stops_it(bot):
    from telegram.error import InvalidToken

    [poller] = [t for t in bot.service._tasks if t.get_name() == "poll"]
    poller.cancel()
    await asyncio.gather(poller, return_exceptions=True)
    waits = []

    async def no_sleep(seconds):
        waits.append(seconds)
        await asyncio.sleep(0)

    bot.api.fail_next("network", method="getUpdates", times=3)
    raw = bot.push(bot.updates.text(USER, "/help"))
    task = asyncio.create_task(
        inbound_module.poll(bot.app, bot.service.inbound, timeout=1, sleep=no_sleep)
    )
    await until(lambda: [r["update_id"] for r in bot.rows()] == [raw["update_id"]], "stored")
    assert waits == [1.0, 2.0, 4.0]
    bot.api.fail_next("401", method="getUpdates")
    with pytest.raises(InvalidToken):
        async with asyncio.timeout(5):
            await task


@pytest.mark.slow
async def test_a_thousand_messages_from_one_chat_delay_no_one_else(bot):
    from tests.test_sender import checkin_question, stored_ratings

    people = [
        (3000 + n, checkin_question(bot, add_patient(bot, 3000 + n), 3000 + n)) for n in range(20)
    ]
    for n in range(1000):
        bot.push(bot.updates.text(4242, f"spam {n}"))
    loop, waits = asyncio.get_running_loop(), []
    for n, (chat, question) in enumerate(people):
        started = loop.time()
        bot.push(bot.updates.callback(chat, f"c:{question}:5", message_id=1))
        await until(lambda n=n: stored_ratings(bot) == n + 1, f"rating {n} stored", timeout=5)
        waits.append(loop.time() - started)
    assert max(waits) < 1.0
    await until(lambda: all(bot.texts(chat) for chat, _ in people), "every rating answered")
    await until(lambda: not bot.service.inbound.busy, "the flood dealt with")
    assert inbox.counts(bot.db) == {"done": 40, "throttled": 980}
    assert len(bot.texts(4242)) == 21  # 20 answers and one note


async def test_a_batch_that_cannot_be_stored_is_not_confirmed(bot, monkeypatch):
    [poller] = [t for t in bot.service._tasks if t.get_name() == "poll"]
    poller.cancel()
    await asyncio.gather(poller, return_exceptions=True)
    real, failures = inbox.store, []

    def disk_full(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(inbox, "store", disk_full)

    async def no_sleep(seconds):
        await asyncio.sleep(0)

    raw = bot.push(bot.updates.text(USER, "/help"))
    first_call = len(bot.api.calls)
    task = asyncio.create_task(
        inbound_module.poll(bot.app, bot.service.inbound, timeout=1, sleep=no_sleep)
    )
    try:
        await until(
            lambda: [r["update_id"] for r in bot.rows()] == [raw["update_id"]],
            "stored on the second try",
        )
        offsets = [
            c.params.get("offset")
            for c in list(bot.api.calls)[first_call:]
            if c.method == "getUpdates"
        ]
        # The call after the failure asked again without confirming: no offset yet.
        assert failures and offsets[:2] == [None, None]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_row_a_worker_failed_on_is_swept_up_without_a_restart(bot, monkeypatch):
    from datetime import timedelta

    real, failures = inbox.get, []

    def locked(db, row_id):
        if not failures:
            failures.append(row_id)
            raise sqlite3.OperationalError("database is locked")
        return real(db, row_id)

    monkeypatch.setattr(inbox, "get", locked)
    bot.push(bot.updates.text(USER, "/help"))
    await until(lambda: failures and not bot.service.inbound.busy, "the worker gave up")
    assert [r["status"] for r in bot.rows()] == ["new"]
    assert bot.service.inbound.sweep() == 0  # too recent: it may still be on its way
    bot.clock.advance(timedelta(minutes=2))
    assert bot.service.inbound.sweep() == 1
    await until(lambda: bot.texts(USER), "handled after the sweep")
    assert [r["status"] for r in bot.rows()] == ["done"]


async def test_inbox_ids_are_never_reused_after_rows_are_deleted(bot):
    from datetime import timedelta

    first = bot.updates.text(USER, "/help")
    bot.service.inbound.receive([first.to_json()])
    await bot.service.inbound.drain()
    bot.clock.advance(timedelta(days=8))
    bot.service._retention()
    assert bot.rows() == []
    bot.service.inbound.receive([bot.updates.text(USER, "/help").to_json()])
    await bot.service.inbound.drain()
    await until(lambda: len(bot.texts(USER)) == 2, "the second /help answered too")
