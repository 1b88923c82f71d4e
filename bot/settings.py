"""Every setting in one registry: name, default, help text. Read from the environment and `.env`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


class SettingsError(Exception):
    """A setting is missing or wrong. The message is one paragraph meant for a person."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


def _https_url(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    parsed = urlparse(text)
    if parsed.scheme != "https" or not parsed.netloc:
        raise ValueError("must be a public https:// address, e.g. https://bot.example.org/telegram")
    return text


def _url(text: str) -> str:
    parsed = urlparse(text.strip())
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ValueError("must be an http(s) address, e.g. https://api.telegram.org/bot")
    return text.strip()


def _token(text: str) -> str:
    text = text.strip()
    head, _, tail = text.partition(":")
    if text and not (head.isdigit() and len(tail) >= 20):
        raise ValueError("does not look like a bot token (it should look like 123456789:AAE...)")
    return text


def _kinds(text: str) -> tuple[str, ...]:
    from bot.rules.kinds import KINDS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(
            f"names unknown message kinds ({', '.join(unknown)}); the kinds are {', '.join(KINDS)}"
        )
    return kinds


def _username(text: str) -> str:
    text = text.strip().lstrip("@")
    if text and not (5 <= len(text) <= 32 and text.replace("_", "").isalnum()):
        raise ValueError("must be the bot's username, 5-32 letters, digits or underscores")
    return text


def _webhook_secret(text: str) -> str:
    text = text.strip()
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    if text and not (1 <= len(text) <= 256 and set(text) <= allowed):
        raise ValueError("may hold only letters, digits, _ and -, up to 256 characters")
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "TELEGRAM_BOT_TOKEN",
        "",
        "The bot's token from @BotFather. Secret: environment only.",
        _token,
        secret=True,
    ),
    Setting(
        "TELEGRAM_BOT_USERNAME",
        "",
        "The bot's @username, used to build invite and enrolment "
        "links when no token is at hand (e.g. BackPainCompanionBot).",
        _username,
    ),
    Setting(
        "TELEGRAM_API_BASE_URL",
        "https://api.telegram.org/bot",
        "Bot API base URL; point it at a self-hosted Bot API server if you run one.",
        _url,
    ),
    Setting(
        "DATABASE_PATH",
        "data/backpain.sqlite3",
        "The SQLite database file; its folder is "
        "created if needed (0700). The file and its -wal/-shm are created readable by their "
        "owner only (0600).",
        Path,
    ),
    Setting(
        "LOG_LEVEL",
        "INFO",
        "DEBUG, INFO, WARNING, ERROR or CRITICAL. Logs carry ids and "
        "kinds, never tokens or ratings.",
        _log_level,
    ),
    Setting(
        "WEBHOOK_URL",
        "",
        "Public https address Telegram should post updates to. Empty: "
        "the bot polls instead (the default, nothing to expose).",
        _https_url,
    ),
    Setting(
        "WEBHOOK_SECRET",
        "",
        "Secret token Telegram sends with every webhook request; "
        "required when WEBHOOK_URL is set. Secret: environment only.",
        _webhook_secret,
        secret=True,
    ),
    # All interfaces: inside the container; Docker publishes only the port asked for.
    Setting("WEBHOOK_LISTEN", "0.0.0.0", "Address the webhook server listens on."),  # noqa: S104
    Setting("WEBHOOK_PORT", 8443, "Port the webhook server listens on.", _positive_int),
    Setting(
        "WEBHOOK_MAX_BODY_BYTES",
        1_000_000,
        "Largest webhook request body accepted; a "
        "larger one is refused with 413 before it is read (Telegram's updates are far "
        "smaller), and a request without the right secret gets 403 before its body is read.",
        _positive_int,
    ),
    Setting(
        "INBOUND_PER_CHAT_PER_MINUTE",
        20,
        "Updates one chat may have handled per minute. "
        "Past it, its extra updates are stored but not handled (a text with a warning sign "
        'always is) and the chat gets one "give me a moment" note per burst, so a flood '
        "from one chat never delays anyone else.",
        _positive_int,
    ),
    Setting(
        "PLAN_HORIZON_HOURS", 36, "How far ahead scheduled messages are planned.", _positive_int
    ),
    Setting(
        "PLAN_INTERVAL_SECONDS", 900, "How often the planner tops up the schedule.", _positive_int
    ),
    Setting("DISPATCH_INTERVAL_SECONDS", 5, "How often due messages are sent.", _positive_int),
    Setting(
        "ALLOW_PAID_BROADCAST",
        "",
        "Message kinds, comma-separated (e.g. checkin,reply), sent with Telegram's paid "
        "broadcast: past 30 messages a second, up to 1,000, each message over the free 30 a "
        "second paid in Telegram Stars from the bot's balance. Only for a deployment past one "
        "token's ceiling (docs/scaling.md). Empty: none, nothing paid.",
        _kinds,
    ),
    Setting(
        "OUTBOX_RETENTION_DAYS",
        30,
        "After this many days the text of sent (or given-up) "
        "messages, which can hold ratings and names, is scrubbed from the database, finished "
        "messages to people who never became patients are deleted, and unused invites that "
        "expired that long ago are removed. Checked hourly (docs/PRIVACY.md, Retention).",
        _positive_int,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:  # never print secrets
        shown = {k: ("***" if _BY_NAME[k].secret and v else v) for k, v in self.values.items()}
        return f"Settings({shown})"

    def replace(self, **changes: Any) -> Settings:
        values = dict(self.values)
        values.update({k.upper(): v for k, v in changes.items()})
        return Settings(values)


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env"), **overrides: Any
) -> Settings:
    """Defaults, then `.env`, then the environment, then explicit overrides (used by the CLI)."""
    environ = os.environ if environ is None else environ
    from_file = _read_dotenv(dotenv) if dotenv else {}
    for name in from_file:
        if name in _BY_NAME and _BY_NAME[name].secret:
            raise SettingsError(
                f"{name} was found in {dotenv}, but secrets are read only from the environment, "
                f"so that they never sit in a file next to the code. Remove the line from {dotenv} "
                f"and set it in the environment instead, e.g. `export {name}=...`."
            )
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name, from_file.get(setting.name))
        if raw is None:
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            shown = "(hidden)" if setting.secret else repr(raw)
            raise SettingsError(
                f"The setting {setting.name} has the value {shown}, which {exc}. "
                f"{setting.name}: {setting.help} Fix it in the environment or in .env "
                f"(see README.md, section Settings)."
            ) from None
    values.update({k.upper(): v for k, v in overrides.items()})
    if values["WEBHOOK_URL"] and not values["WEBHOOK_SECRET"]:
        raise SettingsError(
            "WEBHOOK_URL is set but WEBHOOK_SECRET is empty. Without a secret anyone who finds "
            "the address could send the bot fake updates. Set WEBHOOK_SECRET in the environment "
            "to a long random string (letters, digits, _ and -), or unset WEBHOOK_URL to poll."
        )
    return Settings(values)
