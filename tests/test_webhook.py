"""The webhook server, for real: PTB's tornado server on loopback, real HTTP requests.

The Bot API side is the in-process FakeBotApi, so setWebhook never leaves the machine. A request
without the secret token header, or with a wrong one, must get 403 and change nothing; the right
one is processed like any update.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from bot.app import build_application, webhook_options
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
    settings = load_settings(environ={}, dotenv=None, TELEGRAM_BOT_TOKEN=SIM_TOKEN,
                             DATABASE_PATH=tmp_path / "bot.sqlite3",
                             WEBHOOK_URL="https://bot.example.org/telegram/hook",
                             WEBHOOK_SECRET=SECRET, WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=port)
    api = FakeBotApi(clock)
    db = open_database(settings.DATABASE_PATH)
    app = build_application(settings, clock, api, db=db, rate_limit=False, schedule_ticks=False)
    await app.initialize()
    await app.post_init(app)
    await app.updater.start_webhook(**webhook_options(settings))  # what `run` does, in our loop
    await app.start()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        await wait_until_listening(client, url)
        stopped = False

        async def stop() -> None:
            nonlocal stopped
            if not stopped:
                stopped = True
                await app.updater.stop()
                await app.stop()  # returns once every queued update has been processed
                await app.shutdown()

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
    app, api, *_ = served
    [call] = [c for c in api.calls if c.method == "setWebhook"]
    assert call.params["url"] == "https://bot.example.org/telegram/hook"
    assert call.params["secret_token"] == SECRET


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1], SECRET + "x", SECRET.upper()])
async def test_missing_or_wrong_secret_is_403_and_nothing_is_processed(served, secret):
    app, api, db, client, url, updates, stop = served
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
    app, api, db, client, url, updates, stop = served
    response = await post(client, url, updates.text(1001, "/start"), SECRET)
    assert response.status_code == 200
    await stop()
    assert [s.chat_id for s in api.sent] == [1001]
    assert db.execute("SELECT step FROM onboarding WHERE user_id = 1001").fetchone()[0] == "intro"


async def test_other_paths_and_non_json_are_refused(served):
    app, api, db, client, url, updates, stop = served
    update = updates.text(1001, "/start")
    wrong_path = await client.post(url.replace("/hook", "/other"), content=update.to_json(),
                                   headers={"Content-Type": "application/json",
                                            "X-Telegram-Bot-Api-Secret-Token": SECRET})
    not_json = await client.post(url, content=update.to_json(),
                                 headers={"Content-Type": "text/plain",
                                          "X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert wrong_path.status_code == 404 and not_json.status_code == 403
    await stop()
    assert api.sent == [] and db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_webhook_options_refuse_to_serve_without_a_secret(tmp_path):
    settings = load_settings(environ={}, dotenv=None, WEBHOOK_URL="https://bot.example.org/hook",
                             WEBHOOK_SECRET="s")
    assert webhook_options(settings)["secret_token"] == "s"
    assert webhook_options(settings)["url_path"] == "hook"
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        webhook_options(settings.replace(WEBHOOK_SECRET=""))
