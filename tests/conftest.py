"""Shared fixtures: a real migrated SQLite database, a virtual clock, the real Application on a
fake Bot API. No network, no sleeping."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pytest

from bot.app import build_application
from bot.clock import VirtualClock
from bot.settings import load_settings
from bot.simulator.fake_api import FakeBotApi
from bot.simulator.runner import SIM_TOKEN
from bot.simulator.updates import UpdateFactory
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all, plan_done, stop_planning
from storage import patients
from storage.db import open_database

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday

warnings.filterwarnings("ignore", message=".*Deprecated since version v22.2.*")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "bot.sqlite3"


@pytest.fixture(scope="session")
def migrated(tmp_path_factory):
    """A database migrated once per run: migrating costs ~35 ms, a copy of the file ~1 ms."""
    path = tmp_path_factory.mktemp("migrated") / "bot.sqlite3"
    db = open_database(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself, to copy
    db.close()
    return path


@pytest.fixture
def fresh_db(db_path, migrated):
    db_path.write_bytes(migrated.read_bytes())
    db_path.chmod(0o600)
    db = open_database(db_path)  # applies nothing: the copy has every migration
    yield db
    db.close()


class Harness:
    """The real Application wired to a FakeBotApi, with helpers to act as a patient."""

    def __init__(self, clock: VirtualClock, db, db_path):
        self.clock = clock
        self.db = db
        self.db_path = db_path
        self.api = FakeBotApi(clock)
        self.settings = load_settings(
            environ={}, dotenv=None, TELEGRAM_BOT_TOKEN=SIM_TOKEN, DATABASE_PATH=db_path
        )
        self.app = build_application(
            self.settings, clock, self.api, db=db, rate_limit=False, schedule_ticks=False
        )
        self.rt = self.app.bot_data["runtime"]
        self.updates: UpdateFactory | None = None

    async def start(self) -> Harness:
        await self.app.initialize()
        self.updates = UpdateFactory(self.app.bot, self.clock)
        await self.app.post_init(self.app)
        await plan_done(self.rt)  # post_init plans in the background: the tests start after it
        return self

    async def stop(self) -> None:
        await stop_planning(self.rt)
        await self.app.shutdown()

    def add_patient(self, user_id: int = 1001, **fields) -> int:
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
        return patients.create(
            self.db, user_id=user_id, chat_id=user_id, now=self.clock.now(), **defaults
        )

    async def tick(self):
        plan_all(self.rt)
        return await dispatch_due(self.rt)

    async def send_text(self, user_id: int, text: str, **kw):
        await self.app.process_update(self.updates.text(user_id, text, **kw))

    async def tap(self, user_id: int, data: str, message_id: int = 1):
        await self.app.process_update(self.updates.callback(user_id, data, message_id=message_id))

    def texts(self, chat_id: int) -> list[str]:
        return [s.text for s in self.api.sent_to(chat_id)]

    def last(self, chat_id: int):
        sent = self.api.sent_to(chat_id)
        return sent[-1] if sent else None


@pytest.fixture
async def harness(clock, fresh_db, db_path):
    h = await Harness(clock, fresh_db, db_path).start()
    yield h
    await h.stop()
