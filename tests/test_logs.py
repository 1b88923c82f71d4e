"""Logs carry ids and kinds: never the token, a rating, what a patient typed, or a name.

Everything the process logs is captured the way production logs it (bot.logs.setup_logging, the
root logger at DEBUG, the project's formatter) over a simulated week: patients tapping and typing
check-in answers, sitting nudges, lessons, a stranger, chit-chat. Then again with Telegram out
of reach (connection errors whose messages carry the full request URL, token included).
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from telegram.error import NetworkError

import bot.simulator.runner as runner
from bot.logs import setup_logging
from bot.simulator.runner import Simulation
from bot.simulator.scenario import parse_scenario

TOKEN = "918273645:AAHs3cretPartOfTheTokenXYZ_abc-987"
BOT_ID, TOKEN_SECRET = TOKEN.split(":")
NAMES = ["Philippa", "Bartholomew", "Ximena"]
TYPED = [
    "Marmalade umbrella quokka",
    "my left knee hums like a fridge",
    "seven",
    "7/10",
    "lots of pain, 8 maybe 9",
    "Grüße aus Köln ☕",
]

# A rating in a rating context: "7/10", "pain=7", "rating: 7", "pain 7", JSON "pain": 7 ...
RATING_CONTEXT = re.compile(
    r"\b\d{1,2}\s*/\s*10\b"
    r"|\b(pain|rating|score|before|after|next_day|value)\b[\"']?\s*[:=]?\s*[\"']?\d",
    re.IGNORECASE,
)


@pytest.fixture
def captured(monkeypatch):
    """setup_logging("DEBUG") into a buffer; the root logger and library levels put back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    names = ["httpx", "httpcore", "apscheduler", "telegram", "telegram.ext", "hpack", "tornado"]
    saved = {n: logging.getLogger(n).level for n in names}
    monkeypatch.setattr(runner, "SIM_TOKEN", TOKEN)
    stream = io.StringIO()
    setup_logging("DEBUG", stream=stream, secrets=(TOKEN,))
    assert root.getEffectiveLevel() == logging.DEBUG
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def scenario(days: int = 7):
    sitting = {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "from": "09:00",
        "to": "12:00",
        "every_minutes": 30,
    }
    return parse_scenario(
        {
            "start": "2026-03-02T06:00:00Z",
            "days": days,
            "seed": 3,
            "patients": [
                {
                    "id": "p1",
                    "name": NAMES[0],
                    "timezone": "Europe/Berlin",
                    "checkin_time": "08:00",
                    "sitting": sitting,
                    "answers": {"checkin_pain": [7, 3, 9, 0, 10, 6, 8]},
                },
                {
                    "id": "p2",
                    "name": NAMES[1],
                    "timezone": "America/New_York",
                    "checkin_time": "07:30",
                    "quiet_hours": {"from": "22:00", "to": "07:00"},
                    "course": {"days": ["mon", "tue", "wed", "thu", "fri"], "time": "19:00"},
                    "answers": {"checkin_pain": {"min": 0, "max": 10}},
                },
                {
                    "id": "p3",
                    "name": NAMES[2],
                    "timezone": "Asia/Kolkata",
                    "checkin_time": "09:00",
                    "sitting": sitting,
                    "answers": {"checkin_pain": 5},
                },
            ],
        }
    )


class TypingSimulation(Simulation):
    """Ximena types her answers (and more) instead of tapping; the others tap."""

    def react(self, persona, row, sent) -> None:
        if persona.first_name != NAMES[2] or row["kind"] not in ("checkin", "checkin_asked"):
            return super().react(persona, row, sent)
        day = self.day_of(persona)
        at = self.clock.now() + timedelta(minutes=5)
        words = [TYPED[1], TYPED[4], TYPED[2] if day % 2 else TYPED[3]]  # unclear, unclear, valid
        for n, text in enumerate(words):
            self.later(at + timedelta(minutes=n), lambda text=text: self.say(persona, text))
        self.later(at + timedelta(hours=2), lambda: self.say(persona, TYPED[0]))
        self.later(at + timedelta(hours=3), lambda: self.say(persona, TYPED[5]))

    async def start(self) -> None:
        await super().start()
        self.later(self.clock.now() + timedelta(minutes=1), self._stranger)

    async def _stranger(self) -> None:
        await self.app.process_update(
            self.updates.text(777001, TYPED[0] + " /start now", first_name="Bartholomew")
        )
        await self.app.process_update(self.updates.text(777001, "/start", first_name="Bartholomew"))


def assert_clean(log: str, sent_texts: list[str]) -> None:
    assert TOKEN not in log
    assert TOKEN_SECRET not in log and TOKEN_SECRET[:12] not in log
    assert not re.search(rf"\b{BOT_ID}\b", log), "the bot id (the token's first half) leaked"
    assert "%3A" + TOKEN_SECRET[:8] not in log
    for name in NAMES:
        assert name.lower() not in log.lower(), f"the name {name} leaked"
    for text in TYPED:
        if len(text) > 6:
            assert text.lower() not in log.lower(), f"typed text leaked: {text!r}"
    found = RATING_CONTEXT.search(log)
    assert found is None, (
        f"a rating in context leaked: ...{log[max(0, found.start() - 80) : found.end() + 40]}..."
    )
    for text in sent_texts:
        for line in text.splitlines():
            if len(line) >= 25:
                assert line not in log, f"a message text leaked: {line!r}"


@pytest.mark.slow
async def test_a_simulated_week_at_debug_logs_no_secrets_ratings_text_or_names(captured):
    sim = TypingSimulation(scenario())
    sim.api.bot_id = int(BOT_ID)  # getMe answers with the token's own id, as Telegram does
    lines = await sim.run()
    log = captured.getvalue()
    kinds = {line["kind"] for line in lines if line["dir"] == "out"}
    assert {"checkin", "sitting", "lesson", "reply"} <= kinds  # the week really happened
    assert (
        sim.db.execute("SELECT count(*) FROM checkins WHERE status = 'answered'").fetchone()[0]
        >= 15
    )
    assert "plan tick" in log and " sent " in log and "row=" in log  # ids and kinds are logged
    assert_clean(log, [s.text for s in sim.api.sent])


@pytest.mark.slow
async def test_telegram_unreachable_logs_stay_clean(captured):
    """Telegram out of reach at start, then for a whole day mid-week, while patients write."""
    sim = TypingSimulation(scenario(days=4))
    sim.api.bot_id = int(BOT_ID)
    sim.api.set_unreachable(True)
    with pytest.raises(Exception) as failed_start:  # getMe cannot be answered
        await sim.app.initialize()
    assert TOKEN in str(failed_start.value)  # the error itself carries the URL with the token...
    sim.api.set_unreachable(False)
    await sim.start()
    sim.api.set_unreachable(True)
    with pytest.raises(NetworkError):  # PTB's own start-up path logs the failure with traceback
        await sim.app.updater.start_polling(bootstrap_retries=0)
    sim.api.set_unreachable(False)
    assert "Traceback" in captured.getvalue() and "<secret>" in captured.getvalue()
    outage = sim.clock.now() + timedelta(days=1, hours=1)

    async def down() -> None:
        sim.api.set_unreachable(True)

    async def up() -> None:
        sim.api.set_unreachable(False)

    async def patient_writes() -> None:  # a reply that cannot be sent, then retried
        await sim.say(sim.scenario.patients[0], TYPED[1])
        await sim.app.process_update(sim.updates.callback(1001, "c:1:7", message_id=1))

    sim.later(outage, down)
    sim.later(outage + timedelta(hours=1), patient_writes)
    sim.later(outage + timedelta(days=1), up)
    try:
        await sim.run_until(sim.scenario.start + timedelta(days=4))
    finally:
        await sim.app.shutdown()
    network_failures = [c for c in sim.api.calls if c.outcome == "network"]
    assert len(network_failures) > 5
    log = captured.getvalue()
    assert "send failed, will retry" in log and "error=network" in log
    assert_clean(log, [s.text for s in sim.api.sent])  # ...but the logs do not


@pytest.mark.slow
def test_run_with_telegram_unreachable_stops_cleanly_without_leaking(tmp_path):
    """The real `run` at DEBUG against a closed loopback port: real httpx connection errors."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when this block ends: nothing listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{port}/bot",
        LOG_LEVEL="DEBUG",
        DATABASE_PATH=str(tmp_path / "bot.sqlite3"),
        NO_PROXY="*",
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "The bot stopped: Telegram could not be reached" in result.stderr
    assert "error=NetworkError" in result.stderr  # logged, as a kind
    assert_clean(out, [])
