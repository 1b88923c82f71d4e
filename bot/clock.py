"""The one source of "now". Nothing else in the project reads the system time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware UTC datetime."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to: tests, the simulator and the demo use it."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("time does not run backwards")
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> datetime:
        moment = moment.astimezone(UTC)
        if moment < self._now:
            raise ValueError("time does not run backwards")
        self._now = moment
        return self._now


def iso(moment: datetime) -> str:
    """The stored form of a time: UTC ISO-8601 with seconds, e.g. 2026-03-02T12:00:00+00:00."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
