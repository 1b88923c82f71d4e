"""Settings and the command line: clear paragraphs, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SETTINGS, SettingsError, load_settings
from storage.db import AlreadyRunning, InstanceLock

ROOT = Path(__file__).resolve().parent.parent
GOOD_TOKEN = "123456789:AAEabcdefghijklmnopqrstuvwxyz012"


def test_defaults_apply_when_nothing_is_set():
    settings = load_settings(environ={}, dotenv=None)
    for setting in SETTINGS:
        assert getattr(settings, setting.name) == setting.default or setting.parse is not str


@pytest.mark.parametrize(
    "name,value,words",
    [
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("TELEGRAM_BOT_TOKEN", "not-a-token", "TELEGRAM_BOT_TOKEN"),
        ("WEBHOOK_URL", "http://insecure.example", "https"),
        ("TELEGRAM_API_BASE_URL", "ftp://x", "TELEGRAM_API_BASE_URL"),
        ("WEBHOOK_PORT", "zero", "WEBHOOK_PORT"),
    ],
)
def test_invalid_value_names_the_setting(name, value, words):
    with pytest.raises(SettingsError) as err:
        load_settings(environ={name: value}, dotenv=None)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_invalid_secret_is_not_echoed():
    with pytest.raises(SettingsError) as err:
        load_settings(environ={"TELEGRAM_BOT_TOKEN": "12:short-secret-value"}, dotenv=None)
    assert "short-secret-value" not in str(err.value)


def test_dotenv_is_read_but_secrets_must_come_from_the_environment(tmp_path):
    env = tmp_path / ".env"
    env.write_text("LOG_LEVEL=debug\n")
    assert load_settings(environ={}, dotenv=env).LOG_LEVEL == "DEBUG"
    assert load_settings(environ={"LOG_LEVEL": "ERROR"}, dotenv=env).LOG_LEVEL == "ERROR"
    env.write_text(f"TELEGRAM_BOT_TOKEN={GOOD_TOKEN}\n")
    with pytest.raises(SettingsError, match="environment"):
        load_settings(environ={}, dotenv=env)


def test_webhook_needs_a_secret():
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings(environ={"WEBHOOK_URL": "https://bot.example.org/hook"}, dotenv=None)


def test_repr_hides_secrets():
    settings = load_settings(environ={"TELEGRAM_BOT_TOKEN": GOOD_TOKEN}, dotenv=None)
    assert GOOD_TOKEN not in repr(settings)


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_run_without_token_explains_and_exits_nonzero(tmp_path):
    result = cli("run", cwd=tmp_path)
    assert result.returncode != 0
    assert "@BotFather" in result.stderr and "backpain-bot demo" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.slow
def test_run_with_a_bad_setting_explains(tmp_path):
    result = cli("run", cwd=tmp_path, env={"LOG_LEVEL": "shout"})
    assert result.returncode == 2 and "LOG_LEVEL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_second_instance_on_one_database_is_refused(tmp_path):
    with InstanceLock(tmp_path / "db.sqlite3"):
        with pytest.raises(AlreadyRunning, match="already running"):
            InstanceLock(tmp_path / "db.sqlite3").acquire()
        result = cli(
            "run",
            cwd=tmp_path,
            env={"TELEGRAM_BOT_TOKEN": GOOD_TOKEN, "DATABASE_PATH": str(tmp_path / "db.sqlite3")},
        )
        assert result.returncode == 3 and "already running" in result.stderr
        assert "Traceback" not in result.stderr
    InstanceLock(tmp_path / "db.sqlite3").acquire()  # released with its holder


@pytest.mark.slow
def test_demo_prints_checkins_at_the_personas_local_time(tmp_path):
    result = cli("demo", "--days", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    prompts = [
        line for line in lines if "How is your back right now" in line or "Good morning" in line
    ]
    assert prompts and all(" 08:00 " in line for line in prompts if "Good morning" in line)
    assert "Thanks, noted" in result.stdout
    # A full day: check-in, a walk with its before/after, and next morning's advice.
    assert "Enjoy your walk" in result.stdout and "highest pain during" in result.stdout
    assert "pacing rule v1: walk B=5 A=6 settled=yes N=4" in result.stdout
    assert "Your walk: keep going" in result.stdout
