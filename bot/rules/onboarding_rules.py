"""Pure rules for the /start conversation: its steps, presets, and reading what people type.

No telegram, no sqlite, no jinja2 here: the handler asks these functions and stores the answers.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, available_timezones

from bot.rules.parsing import parse_clock, parse_minutes, parse_yes_no
from bot.rules.parsing import parse_hhmm as parse_hhmm  # re-exported: tests read R.parse_hhmm

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
    "resume",  # "Shall we finish setting up?" after a setup left for more than SETUP_STALL
)
# Steps of /settings only (edit mode): an activity's dose or name, sitting or lesson days, the
# weekly summary.
EDIT_STEPS = ("adose", "aname", "sdays", "ldays", "sum")

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
# One range for a typed or tapped dose, in setup and in /settings: a starting dose, so anything
# longer than three hours is more likely a slip.
MIN_DOSE = 1
MAX_DOSE = 180
# A setup left for longer than this is not answered by the next message: "shall we finish?"
SETUP_STALL = timedelta(hours=1)

# Common places people type that are not in a zone's name (folded as `_fold` does).
_PLACES = {
    **dict.fromkeys(
        "uk united_kingdom britain great_britain gb england scotland wales northern_ireland "
        "manchester glasgow edinburgh leeds liverpool bristol cardiff "
        "sheffield nottingham leicester brighton".split(),
        "Europe/London",
    ),
    **dict.fromkeys(
        "nyc new_york_city ny washington_dc philadelphia miami atlanta boston".split(),
        "America/New_York",
    ),
    **dict.fromkeys(
        "mumbai bombay delhi new_delhi bangalore bengaluru india".split(), "Asia/Kolkata"
    ),
    **dict.fromkeys("sf san_francisco seattle".split(), "America/Los_Angeles"),
    "ireland": "Europe/Dublin",
}
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
    if typed in _PLACES:
        return _PLACES[typed]
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
    s = re.sub(r"^(?:from|between)\s+", "", s)  # "from 11 at night until 7", "between 9 and 5"
    parts = re.split(r"\s*(?:-|\bto\b|\buntil\b|\btill\b|\band\b)\s*", s)
    if len(parts) != 2:
        return None
    start, end = parse_clock(parts[0]), parse_clock(parts[1])
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


# -- typed answers at the activities step, and /settings -------------------------------------

# Whole messages that end the activity list ("no" answers "anything else?").
_LIST_DONE = frozenset(
    {
        "done",
        "im done",
        "i'm done",
        "all done",
        "finished",
        "no",
        "nope",
        "nah",
        "no thanks",
        "no thank you",
        "none",
        "nothing",
        "nothing else",
        "no more",
        "no others",
        "no other",
        "not really",
        "that's it",
        "thats it",
        "that's all",
        "thats all",
        "that is it",
        "that is all",
        "that's everything",
        "thats everything",
        "ok that's it",
        "ok thats it",
        "enough",
    }
)
_LEADING = re.compile(r"^(?:(?:(?:and|also|plus|then|oh|ok|okay|maybe|some)\b|&|\+)[\s,]*)+", re.I)


def ends_list(text: str | None) -> bool:
    """ "no", "none", "nothing else", "that's it", "done": the activity list is complete."""
    return safety_words(text) in _LIST_DONE


def activity_name(text: str | None) -> str | None:
    """Someone's own activity typed in words: a leading "and", "also" or "plus" dropped, spaces
    tidied, stored as given otherwise; None if unusable (a number, a command, too long)."""
    if not isinstance(text, str):
        return None
    name = " ".join(text.replace("\u2019", "'").split()).strip(" ,.;!")
    name = _LEADING.sub("", name).strip(" ,.;!")
    return clean_activity(name)


def activity_names(text: str | None) -> list[str] | None:
    """One or more activities typed at once: "walking, yoga and swimming", or "walking and yoga"
    when both are listed ones; "rock and roll" stays one name. None if unusable."""
    if not isinstance(text, str):
        return None
    parts = [p for p in _ITEMS.split(text.strip()) if p.strip()]
    if len(parts) > 1:  # a list: its last item may be "x and y"
        parts = parts[:-1] + re.split(r"\s+(?:and|&|\+)\s+", parts[-1])
    else:
        halves = re.split(r"\s+(?:and|&|\+)\s+", text.strip())
        if not (len(halves) > 1 and all(preset_activity(h) for h in halves)):
            halves = [text]
        parts = halves
    names = [activity_name(p) for p in parts]
    if any(n is None for n in names):
        whole = activity_name(text)
        return [whole] if whole else None
    return [preset_activity(n) or n for n in names if n]


# Words that, as the last item of a typed list, end it: "walking, swimming and that's it".
_LIST_END = frozenset(
    {
        "that's it",
        "thats it",
        "that's all",
        "thats all",
        "that is it",
        "that is all",
        "that's everything",
        "thats everything",
        "so that's it",
        "so thats it",
        "done",
        "i'm done",
        "im done",
        "all done",
        "finished",
        "nothing else",
        "no more",
        "no others",
        "none",
    }
)
# Items of a typed list: commas, semicolons and full stops (not a decimal point) between them.
_ITEMS = re.compile(r"\s*(?:[,;]|\.(?![0-9]))\s*")
_LAST_AND = re.compile(r"^(.*)\s+(?:and|&|\+)\s+(.*)$")


def _is_list_end(item: str) -> bool:
    return safety_words(_LEADING.sub("", safety_words(item))) in _LIST_END


def activity_list(text: str | None) -> tuple[list[str], bool] | None:
    """Activities typed at once and whether the list ends there: "walking, and gardening,
    that's it" -> (["walking", "gardening"], True). A last item such as "that's it", "done" or
    "none" ends the list and is never a name. None if the names are unusable."""
    if not isinstance(text, str):
        return None
    parts = [p for p in _ITEMS.split(text.replace("\u2019", "'").strip()) if p.strip()]
    ended = False
    if parts and _is_list_end(parts[-1]):
        parts, ended = parts[:-1], True
    elif parts and (m := _LAST_AND.match(parts[-1])) and _is_list_end(m.group(2)):
        parts, ended = [*parts[:-1], m.group(1)], True
    if not parts:
        return ([], True) if ended else None
    names = activity_names(", ".join(parts) if ended else text)
    return (names, ended) if names else None


def looks_like_dose(text: str | None) -> bool:
    """A duration or a bare number ("20", "20 min", "half an hour"): an answer to "how long",
    not an activity's name."""
    if not isinstance(text, str):
        return False
    tidy = text.strip(" .!")
    return parse_minutes(tidy) is not None or tidy.isdigit()


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def activity_key(name: str) -> str:
    """What two names must share to be the same activity: case, plurals, spaces, hyphens and a
    leading "and"/"also" do not count ("Gardening", "and gardening", "gardenings")."""
    tidy = activity_name(name) or name
    words = re.sub(r"[^\w]+", " ", tidy.casefold()).split()
    return " ".join(_singular(w) for w in words)


def same_activity(name: str, names: Iterable[str]) -> str | None:
    """The one of `names` that is the same activity as `name`, if any."""
    key = activity_key(name)
    return next((n for n in names if activity_key(n) == key), None)


def parse_dose(text: str | None) -> int | None:
    """A starting dose typed in numbers or words ("20", "20 min", "twenty", "half an hour"),
    whole minutes in MIN_DOSE..MAX_DOSE; None otherwise."""
    minutes = parse_minutes(text)
    return minutes if minutes is not None and MIN_DOSE <= minutes <= MAX_DOSE else None


def stalled(updated_at: datetime, now: datetime) -> bool:
    """Has a setup been left long enough that the next message may be meant for something else?"""
    return now - updated_at > SETUP_STALL


# -- days of the week ------------------------------------------------------------------------

WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_WORDS = {
    **{d: d for d in WEEK},
    "monday": "mon",
    "tuesday": "tue",
    "tues": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "thur": "thu",
    "thurs": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_DAY_GROUPS = {
    "weekdays": WEEK[:5],
    "weekday": WEEK[:5],
    "workdays": WEEK[:5],
    "work days": WEEK[:5],
    "weekends": WEEK[5:],
    "weekend": WEEK[5:],
    "every day": WEEK,
    "everyday": WEEK,
    "daily": WEEK,
    "all": WEEK,
    "all days": WEEK,
}


def day_word(word: str) -> str | None:
    """ "Thursday", "thu", "thurs" -> "thu"."""
    return _DAY_WORDS.get(word.casefold().strip(" .,"))


def parse_days(text: str | None) -> tuple[str, ...] | None:
    """A set of days typed: "weekdays", "mon wed fri", "Tuesday and Thursday"; in week order.
    None when anything in it is not a day."""
    s = safety_words(text)
    if not s:
        return None
    if s in _DAY_GROUPS:
        return _DAY_GROUPS[s]
    words = [w for w in re.split(r"[\s,/&+]+|\band\b", s) if w.strip()]
    found = [day_word(w) for w in words]
    if not found or any(d is None for d in found):
        return None
    return tuple(d for d in WEEK if d in found)


def join_days(days: Iterable[str]) -> str:
    """Stored form: "mon,wed,fri" in week order."""
    return ",".join(d for d in WEEK if d in set(days))


# -- settings that must not contradict each other --------------------------------------------


def conflicts(
    checkin: time | None,
    quiet: tuple[time, time] | None,
    summary: time | None = None,
) -> tuple[str, ...]:
    """Which scheduled messages quiet hours would silence: "checkin", "summary" (None: that
    message is off). Empty: the settings fit together and may be stored."""
    if quiet is None:
        return ()
    found = []
    if checkin is not None and in_window(checkin, *quiet):
        found.append("checkin")
    if summary is not None and in_window(summary, *quiet):
        found.append("summary")
    return tuple(found)


def parse_summary_when(text: str | None) -> tuple[str, str | None] | str | None:
    """The weekly summary typed: "off", "Saturday", "friday 19:30", "sun 6pm".

    Returns "off", (day, "HH:MM"), (day, None) for a day alone, or None if unclear."""
    s = safety_words(text)
    if s in ("off", "none", "no", "stop", "no summary", "never", "turn off", "turn it off"):
        return "off"
    words = s.replace(" at ", " ").split()
    if not words:
        return None
    day = day_word(words[0])
    if day is None:
        return None
    rest = " ".join(words[1:])
    if not rest:
        return day, None
    at = parse_clock(rest)
    return (day, hhmm(at)) if at is not None else None
