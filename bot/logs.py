"""Structured logs: ids and kinds only. Tokens are masked even if a library prints a URL."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from urllib.parse import quote

# A bot token looks like 123456789:AAE...; it appears inside every Bot API URL (the colon is
# sometimes percent-encoded as %3A).
TOKEN_PATTERN = re.compile(r"\d{5,}(?::|%3[Aa])[A-Za-z0-9_-]{20,}")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_MIN_SECRET = 8  # shorter "secrets" would mask ordinary words; settings ask for long ones

# Libraries whose chatty levels carry what must never be logged, and the least level they log at:
# httpx/httpcore log every request URL (with the token) at INFO/DEBUG; PTB's DEBUG lines
# ("Calling Bot API endpoint ... with parameters", "Processing update ...", "Webhook received
# data") carry whole messages and updates: names, what people typed, their ratings.
QUIET_LOGGERS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "apscheduler": logging.WARNING,
    "tornado.access": logging.WARNING,
    "telegram": logging.INFO,
}


def _secret_pattern(secrets: Iterable[str]) -> re.Pattern | None:
    """Exact secrets, their URL-encoded forms, and for a bot token its two halves."""
    words: set[str] = set()
    ids: set[str] = set()
    for secret in secrets:
        if not secret or len(secret) < _MIN_SECRET:
            continue
        words.update({secret, quote(secret, safe="")})
        head, sep, tail = secret.partition(":")
        if sep and head.isdigit():
            ids.add(head)  # the bot's id: the token's public-looking half
            if len(tail) >= _MIN_SECRET:
                words.add(tail)
    alternatives = [re.escape(w) for w in sorted(words, key=len, reverse=True)]
    alternatives += [rf"(?<!\d){re.escape(i)}(?!\d)" for i in sorted(ids, key=len, reverse=True)]
    return re.compile("|".join(alternatives)) if alternatives else None


class KeyValueFormatter(logging.Formatter):
    """`time level logger message key=value ...`, the extras being the ids passed with `extra=`.

    The whole line, traceback included, is masked: anything shaped like a bot token, and the
    exact secrets given (the configured token, its halves, the webhook secret).
    """

    def __init__(
        self, fmt: str | None = None, datefmt: str | None = None, *, secrets: Iterable[str] = ()
    ):
        super().__init__(fmt, datefmt)
        self._secrets = _secret_pattern(secrets)

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}"
            for k, v in sorted(vars(record).items())
            if k not in _STANDARD and not k.startswith("_")
        )
        line = super().format(record)
        if extras:
            line = f"{line} {extras}"
        if self._secrets is not None:
            line = self._secrets.sub("<secret>", line)
        return TOKEN_PATTERN.sub("<token>", line)


def setup_logging(level: str = "INFO", stream=None, secrets: Iterable[str] = ()) -> logging.Handler:
    """Send every log line through KeyValueFormatter; `secrets` are masked wherever they appear."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", secrets=secrets)
    )
    handler.setLevel(level)  # a library held at INFO still shows nothing below LOG_LEVEL
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, least in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(least, logging.getLevelName(level)))
    return handler
