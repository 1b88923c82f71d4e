"""Structured logs: ids and kinds only. Tokens are masked even if a library prints a URL."""

from __future__ import annotations

import logging
import re
import sys

# A bot token looks like 123456789:AAE...; it appears inside every Bot API URL.
TOKEN_PATTERN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """`time level logger message key=value ...`, the extras being the ids passed with `extra=`."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in sorted(vars(record).items())
                          if k not in _STANDARD and not k.startswith("_"))
        line = super().format(record)
        if extras:
            line = f"{line} {extras}"
        return TOKEN_PATTERN.sub("<token>", line)


def setup_logging(level: str = "INFO", stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO, and the URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler
