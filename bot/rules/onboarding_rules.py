"""Pure rules for the /start conversation: its steps, presets, and reading what people type.

No telegram, no sqlite, no jinja2 here: the handler asks these functions and stores the answers.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from datetime import datetime, time
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, available_timezones

from bot.rules.parsing import parse_hhmm, parse_yes_no

if TYPE_CHECKING:
    from timezonefinder import TimezoneFinder

CONSENT_KIND = "health_data"
CONSENT_VERSION = 1

# The steps in order; "hold" sits between the two warning-sign questions when someone has one.
STEPS = (
    "intro",
    "consent",
    "rf",
    "hold",
    "soon",
    "tz",
    "ci",
    "qh",
    "sit",
    "sh",
    "se",
    "act",
    "dose",
)

TZ_PRESETS = (
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Australia/Sydney",
)
CHECKIN_PRESETS = ("07:00", "08:00", "09:00", "12:00", "18:00", "20:00")
QUIET_PRESETS = (("22:00", "07:00"), ("21:00", "08:00"), ("23:00", "06:30"))
SITTING_DAYS = {"wd": "mon,tue,wed,thu,fri", "all": "mon,tue,wed,thu,fri,sat,sun", "no": ""}
SITTING_PRESETS = (("09:00", "17:00"), ("08:00", "16:00"), ("10:00", "18:00"))
SITTING_EVERY = (30, 45, 60)
DOSE_PRESETS = (5, 10, 15, 20, 30)
# Button key -> the name stored in `activities` (and shown back to the person).
ACTIVITIES = {
    "walk": "walking",
    "stretch": "stretches",
    "yoga": "yoga",
    "pilates": "pilates",
    "gym": "gym",
    "taichi": "tai chi",
    "cycle": "cycling",
    "swim": "swimming",
    "house": "housework",
    "garden": "gardening",
}
MAX_ACTIVITIES = 12
MAX_ACTIVITY_NAME = 40

_REGIONS = frozenset(
    "Africa America Antarctica Asia Atlantic Australia Europe Indian Pacific".split()
)
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"), "-")
# Instants on which two zone names must agree to count as the same zone (links such as
# America/Buenos_Aires -> America/Argentina/Buenos_Aires); fixed, so the rule stays pure.
_SAMPLES = tuple(
    datetime(year, month, 15, hour, tzinfo=ZoneInfo("UTC"))
    for year in (2025, 2026, 2027)
    for month in range(1, 13)
    for hour in (0, 12)
)


def hhmm(t: time) -> str:
    return t.strftime("%H:%M")


def consent_hash(text: str) -> str:
    """sha256 of the exact consent text shown, so a record says which wording was agreed to."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fold(text: str) -> str:
    """Case- and accent-insensitive, spaces and hyphens as underscores: "São Paulo" -> sao_paulo."""
    s = unicodedata.normalize("NFKD", text.strip().casefold())
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return re.sub(r"[\s_\-]+", "_", s).strip("_")


@cache
def _zones_by_city() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for name in available_timezones():
        if name.split("/", 1)[0] in _REGIONS and "/" in name:
            found.setdefault(_fold(name.rsplit("/", 1)[1]), []).append(name)
    return {city: tuple(sorted(names)) for city, names in found.items()}


@cache
def _zones_by_name() -> dict[str, str]:
    return {_fold(name): name for name in available_timezones()}


def _same_zone(names: tuple[str, ...]) -> bool:
    zones = [ZoneInfo(n) for n in names]
    return all(len({moment.astimezone(z).utcoffset() for z in zones}) == 1 for moment in _SAMPLES)


@functools.cache
def _finder() -> TimezoneFinder:
    from timezonefinder import TimezoneFinder  # loads its boundary data once, on first use

    return TimezoneFinder()


def timezone_at(latitude: float, longitude: float) -> str | None:
    """The IANA time zone of a shared location, or None at sea / outside every land zone."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    name = _finder().timezone_at(lat=latitude, lng=longitude)
    return None if name is None or name.startswith("Etc/") else name


def match_timezone(text: str | None) -> str | tuple[str, ...] | None:
    """An IANA name for "Europe/Madrid", "madrid" or "são paulo"; a tuple if ambiguous, or None."""
    if not isinstance(text, str) or not text.strip() or len(text) > 64:
        return None
    typed = _fold(text.split(",", 1)[0])  # "Madrid, Spain" -> madrid
    if not typed:
        return None
    if "/" in typed or typed == "utc":  # a full IANA name; bare legacy ones like "EST" are not
        return _zones_by_name().get(typed)
    candidates = _zones_by_city().get(typed, ())
    if len(candidates) > 1 and _same_zone(candidates):
        # Old and new spellings of one zone: keep the most specific (the current canonical one).
        return max(candidates, key=lambda n: (n.count("/"), n))
    if len(candidates) == 1:
        return candidates[0]
    return candidates or None


def parse_time_range(text: str | None) -> tuple[time, time] | None:
    """Two clock times: "22:30-07:00", "9-17", "9am to 5pm"; None if unclear or both the same."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    s = unicodedata.normalize("NFKC", text).casefold().translate(_DASHES).strip()
    parts = re.split(r"\s*(?:-|\bto\b|\buntil\b|\btill\b)\s*", s)
    if len(parts) != 2:
        return None
    start, end = parse_hhmm(parts[0]), parse_hhmm(parts[1])
    if start is None or end is None or start == end:
        return None
    return start, end


def in_window(at: time, start: time, end: time) -> bool:
    """Is the wall time `at` inside [start, end), a window that may wrap past midnight?"""
    if start == end:
        return False
    if start < end:
        return start <= at < end
    return at >= start or at < end


def yes_no(text: str | None) -> bool | None:
    """Consent and warning-sign answers typed in words; None when unclear, so the bot asks again."""
    if not isinstance(text, str):
        return None
    s = " ".join(re.sub(r"[^\w\s']", " ", text.casefold()).split())
    if s in ("agree", "i agree", "i do", "continue", "go on", "next", "start"):
        return True
    if s in (
        "no thanks",
        "no thank you",
        "none",
        "none of these",
        "none of them",
        "disagree",
        "i disagree",
        "i don't agree",
        "i do not agree",
    ):
        return False
    return parse_yes_no(text)


def clean_activity(text: str | None) -> str | None:
    """Someone's own activity word, stored as given (trimmed, one line); None if unusable."""
    if not isinstance(text, str):
        return None
    name = " ".join(text.split())
    if (
        not name
        or len(name) > MAX_ACTIVITY_NAME
        or name.startswith("/")
        or not any(ch.isalpha() for ch in name)
    ):  # "10" is a dose typed early, not a name
        return None
    return name


def preset_activity(text: str) -> str | None:
    """The stored name of a listed activity typed in words ("Walk", "tai-chi"), if it is one."""
    typed = _fold(text)
    for key, name in ACTIVITIES.items():
        if typed in (_fold(key), _fold(name)):
            return name
    return None


# Typed words that mean "I answered the warning-sign question by mistake" or "I have been seen by
# a doctor" (safety flows; whole messages only, so a longer sentence never counts by accident).
_MISTAKE = frozenset(
    {
        "i answered by mistake",
        "answered by mistake",
        "by mistake",
        "mistake",
        "wrong button",
        "i pressed the wrong button",
        "i tapped the wrong button",
        "i clicked the wrong button",
        "pressed the wrong button",
        "tapped the wrong button",
        "it was a mistake",
        "that was a mistake",
        "my mistake",
        "i made a mistake",
        "i meant no",
        "sorry i meant no",
        "i pressed yes by mistake",
        "i said yes by mistake",
    }
)
_SEEN = frozenset(
    {
        "i have been seen",
        "i've been seen",
        "ive been seen",
        "been seen",
        "seen",
        "i have been seen by a doctor",
        "i've been seen by a doctor",
        "i was seen",
        "i was seen by a doctor",
        "i have seen a doctor",
        "i've seen a doctor",
        "seen a doctor",
        "i saw a doctor",
        "saw a doctor",
        "i saw the doctor",
        "i have seen the doctor",
        "i've seen the doctor",
        "yes i have been seen",
        "yes ive been seen",
        "yes i was seen",
        "i saw my gp",
        "saw my gp",
        "seen the gp",
        "seen my gp",
        "i saw the gp",
        "ive seen the gp",
        "ive seen my gp",
        "ive been checked",
        "i have been checked",
        "i got checked",
        "been checked",
        "i was checked",
        "ive been to a&e",
        "been to a&e",
        "ive been to the hospital",
        "i went to the hospital",
        "i went to a&e",
        "i went to the er",
        "the doctor saw me",
        "a doctor saw me",
        "doctor has seen me",
        "the doctor has seen me",
    }
)
_NOT_YET = frozenset(
    {
        "not yet",
        "no not yet",
        "not yet no",
        "no",
        "nope",
        "no i havent",
        "no i have not",
        "i havent",
        "i have not",
        "not seen yet",
        "no not seen",
        "havent been seen",
        "i havent been seen",
        "i have not been seen",
        "not been seen yet",
        "i havent been seen yet",
        "not yet sorry",
    }
)


def safety_words(text: str | None) -> str:
    """Lower case, apostrophes made plain, punctuation and extra spaces gone."""
    text = (text or "").casefold().replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(re.sub(r"[^\w' ]+", " ", text).split())


def _plain(text: str | None) -> str:
    """As `safety_words`, without apostrophes: "I've" and "Ive", "A&E" and "a e" compare equal."""
    return safety_words(text).replace("'", "")


_MISTAKE_PLAIN = frozenset(map(_plain, _MISTAKE))
_SEEN_PLAIN = frozenset(map(_plain, _SEEN))
_NOT_YET_PLAIN = frozenset(map(_plain, _NOT_YET))


def is_mistake(text: str | None) -> bool:
    return _plain(text) in _MISTAKE_PLAIN


def is_seen(text: str | None) -> bool:
    return _plain(text) in _SEEN_PLAIN


def is_not_yet(text: str | None) -> bool:
    """ "Not yet" to "Were you able to get checked?" (typed as the button says, or plainly)."""
    return _plain(text) in _NOT_YET_PLAIN
