"""The webhook server, for real: our tornado server (bot.inbound) on loopback, real HTTP requests.

The Bot API side is the in-process FakeBotApi, so setWebhook never leaves the machine. A request
without the secret token header, or with a wrong one, must get 403 and change nothing; the right
one is processed like any update.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3

import httpx
import pytest

from bot.app import build_application, webhook_options
from bot.inbound import Inbound, Service
from bot.settings import load_settings
from bot.simulator.fake_api import FakeBotApi
from bot.simulator.runner import SIM_TOKEN
from bot.simulator.updates import UpdateFactory
from storage.db import open_database

SECRET = "Xk2_webhook-secret-for-tests-only_93f1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_until_listening(client: httpx.AsyncClient, url: str) -> None:
    """Poll (no fixed sleep) until the server accepts connections; PTB already waits for it."""
    for _ in range(500):
        try:
            await client.get(url)
            return
        except httpx.TransportError:
            await asyncio.sleep(0.01)
    raise AssertionError("the webhook server never started listening")


@pytest.fixture
async def served(tmp_path, clock):
    port = free_port()
    settings = load_settings(
        environ={},
        dotenv=None,
        TELEGRAM_BOT_TOKEN=SIM_TOKEN,
        DATABASE_PATH=tmp_path / "bot.sqlite3",
        WEBHOOK_URL="https://bot.example.org/telegram/hook",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=port,
    )
    api = FakeBotApi(clock)
    db = open_database(settings.DATABASE_PATH)
    app = build_application(
        settings, clock, api, db=db, rate_limit=False, schedule_ticks=False, updater=False
    )
    service = Service(app, settings)
    await service.start()  # what `run` does, in our loop: our tornado server and the inbox
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        await wait_until_listening(client, url)
        stopped = False

        async def stop() -> None:
            nonlocal stopped
            if not stopped:
                stopped = True
                await service.stop()  # returns once every stored update has been handled

        try:
            yield app, api, db, client, url, UpdateFactory(app.bot, clock), stop
        finally:
            await stop()
            db.close()


def post(client: httpx.AsyncClient, url: str, update, secret: str | None):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return client.post(url, content=update.to_json(), headers=headers)


async def test_set_webhook_carries_the_secret(served):
    _app, api, *_ = served
    [call] = [c for c in api.calls if c.method == "setWebhook"]
    assert call.params["url"] == "https://bot.example.org/telegram/hook"
    assert call.params["secret_token"] == SECRET


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1], SECRET + "x", SECRET.upper()])
async def test_missing_or_wrong_secret_is_403_and_nothing_is_processed(served, secret):
    _app, api, db, client, url, updates, stop = served
    forged = updates.text(4242, "/checkin", first_name="Mallory")
    response = await post(client, url, forged, secret)
    assert response.status_code == 403
    good = updates.text(1001, "/help")
    assert (await post(client, url, good, SECRET)).status_code == 200
    await stop()
    # The genuine update went through, so the forged one would have too had it been accepted.
    assert [s.chat_id for s in api.sent] == [1001]
    assert [r["chat_id"] for r in db.query("SELECT chat_id FROM outbox")] == [1001]
    assert db.execute("SELECT count(*) FROM onboarding").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM patients").fetchone()[0] == 0


async def test_right_secret_is_200_and_the_update_is_processed(served):
    _app, api, db, client, url, updates, stop = served
    response = await post(client, url, updates.text(1001, "/start"), SECRET)
    assert response.status_code == 200
    await stop()
    assert [s.chat_id for s in api.sent] == [1001]
    assert db.execute("SELECT step FROM onboarding WHERE user_id = 1001").fetchone()[0] == "intro"


async def test_other_paths_and_non_json_are_refused(served):
    _app, api, db, client, url, updates, stop = served
    update = updates.text(1001, "/start")
    wrong_path = await client.post(
        url.replace("/hook", "/other"),
        content=update.to_json(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    not_json = await client.post(
        url,
        content=update.to_json(),
        headers={"Content-Type": "text/plain", "X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert wrong_path.status_code == 404 and not_json.status_code == 403
    await stop()
    assert api.sent == [] and db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_webhook_options_refuse_to_serve_without_a_secret(tmp_path):
    settings = load_settings(
        environ={}, dotenv=None, WEBHOOK_URL="https://bot.example.org/hook", WEBHOOK_SECRET="s"
    )
    assert webhook_options(settings)["secret_token"] == "s"
    assert webhook_options(settings)["url_path"] == "hook"
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        webhook_options(settings.replace(WEBHOOK_SECRET=""))


# --- issue 13: the secret before the body, a body cap, stored before the 200 -------------------


async def raw_request(port: int, head: str, body: bytes = b"") -> bytes:
    """Send `head` (and `body`) on a plain socket; the response's first line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


def head(port: int, length: int, secret: str | None, extra: str = "") -> str:
    lines = [
        "POST /telegram/hook HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
    ]
    if secret is not None:
        lines.append(f"X-Telegram-Bot-Api-Secret-Token: {secret}")
    return "\r\n".join(lines) + "\r\n" + extra + "\r\n"


async def test_a_wrong_secret_is_refused_before_the_body_is_read(served):
    _app, _api, db, _client, url, _updates, stop = served
    port = int(url.split(":")[2].split("/")[0])
    # Headers promising 95 MB, and not one byte of body sent: the answer still comes.
    for secret in (None, "wrong"):
        assert b" 403 " in await raw_request(port, head(port, 95_000_000, secret))
    await stop()
    assert db.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0


async def test_a_body_over_the_cap_is_413_and_not_stored(served):
    _app, api, db, client, url, _updates, stop = served
    port = int(url.split(":")[2].split("/")[0])
    # Declared too long: refused on the headers alone.
    assert b" 413 " in await raw_request(port, head(port, 1_000_001, SECRET))
    # Sent in chunks with no length: counted as it streams, nothing kept, 413.
    big = json.dumps({"update_id": 1, "message": {"text": "x" * 1_100_000}}).encode()

    async def chunks():
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    response = await client.post(
        url,
        content=chunks(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert response.status_code == 413
    await stop()
    assert db.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0 and api.sent == []


async def test_the_update_is_stored_before_the_200(served, tmp_path, monkeypatch):
    _app, _api, db, client, url, updates, _stop = served
    hold = asyncio.Event()

    async def never(self, row_id):  # handling never happens in this test
        await hold.wait()

    monkeypatch.setattr(Inbound, "handle", never)
    update = updates.text(1001, "/help")
    assert (await post(client, url, update, SECRET)).status_code == 200
    # Read through another connection: committed, not just written.
    with sqlite3.connect(tmp_path / "bot.sqlite3") as other:
        rows = other.execute("SELECT update_id, status FROM inbox").fetchall()
    assert rows == [(update.update_id, "new")]
    # Telegram retries a webhook it thinks failed: the same update is recognised, not stored again.
    assert (await post(client, url, update, SECRET)).status_code == 200
    assert db.execute("SELECT count(*) FROM inbox").fetchone()[0] == 1
    hold.set()
