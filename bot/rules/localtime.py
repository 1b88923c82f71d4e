"""Local wall-clock times to UTC instants, with daylight-saving changes handled once, here."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; ValueError (not a zoneinfo error) when unknown.

    Cached: ZoneInfo keeps only the last 8 zones it made, so with more zones in use (the
    planner goes through everyone's) it read the zone files from disk again and again."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def parse_hhmm(text: str) -> time:
    hours, minutes = text.strip().split(":")
    return time(int(hours), int(minutes))


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of `at` on local `day`.

    A wall time skipped by a spring-forward change moves forward to the first valid minute; a wall
    time that happens twice (autumn) is taken at its first occurrence, so it fires once.
    """
    naive = datetime.combine(day, at)
    for minutes in range(0, 24 * 60):
        candidate = naive + timedelta(minutes=minutes)
        aware = candidate.replace(tzinfo=tz, fold=0)
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == candidate:
            return aware.astimezone(UTC)
    raise ValueError(f"no valid local time near {naive} in {tz}")  # pragma: no cover


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


@dataclass(frozen=True)
class DailyWindow:
    """A span of local wall time each day, e.g. quiet hours 21:30-07:30 (may wrap midnight)."""

    start: time
    end: time

    def contains(self, moment: datetime, tz: ZoneInfo) -> bool:
        wall = moment.astimezone(tz).time().replace(second=0, microsecond=0)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def next_end(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The first UTC instant at or after `moment` when the window is over."""
        day = local_date(moment, tz)
        for offset in range(0, 3):
            end = local_to_utc(day + timedelta(days=offset), self.end, tz)
            if end > moment:
                return end
        raise ValueError("window end not found")  # pragma: no cover
