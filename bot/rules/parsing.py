"""Understanding what people type: ratings, yes/no, durations and clock times.

Pure and forgiving, but never guessing: anything unclear comes back as "unclear" so the bot can
ask again, because a wrong pain rating would silently change the advice. Never raises on a str.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import time
from fractions import Fraction
from typing import Literal

_MAX_LEN = 64  # nobody types a rating or a time in more than this; long text is not an answer

_WORDS = {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten".split())
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b")
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"), "-")
_QUOTES = dict.fromkeys(map(ord, "\u2018\u2019\u02bc"), "'")
_KEYCAP = dict.fromkeys(map(ord, "\ufe0f\u20e3"), None)  # "7️⃣" is 7 + selector + keycap


@dataclass(frozen=True)
class Rating:
    value: int


@dataclass(frozen=True)
class Ambiguous:
    """Between two whole ratings ("7.5", "6-7"): ask which one; high - low may exceed 1."""

    low: int
    high: int


@dataclass(frozen=True)
class Invalid:
    reason: str  # "empty" | "out_of_range" | "not_a_number"


def _normalise(text: str) -> str:
    """NFKC, lower case, ASCII digits, dashes and apostrophes; single spaces."""
    s = unicodedata.normalize("NFKC", text).translate(_KEYCAP).replace("\U0001f51f", "10")
    s = s.casefold().translate(_DASHES).translate(_QUOTES)
    # Any script's decimal digits (Arabic-Indic, Devanagari, ...) count as digits.
    s = "".join(str(d) if (d := unicodedata.decimal(ch, None)) is not None else ch for ch in s)
    s = re.sub(r"(?<=[0-9]),(?=[0-9])", ".", s)  # decimal comma: "7,5"
    return " ".join(s.split())


# Words people wrap around a rating that do not change it. Negations are deliberately absent:
# "not 7" must not be read as 7.
_FILLER = frozenset(
    """
    pain my the a an is was it it's its i i'd id i'm im would say about around roughly approx
    approximately maybe probably like level score rating at now right currently today feels feel
    think guess um umm hmm well so nrs between
""".split()
)
_NUM = r"[0-9]+(?:\.[0-9]+)?"
_SINGLE = re.compile(rf"(-?)({_NUM})")
_FRACTION = re.compile(rf"(-?)({_NUM})/({_NUM})")
_RANGE = re.compile(rf"({_NUM})(?:-| or | to | and )({_NUM})(?:/10)?")


# "0 (no pain)" is how every rating question names the bottom of the scale.
_NO_PAIN = re.compile(r"(?:no pain(?: at all)?|pain[ -]?free|zero pain|not sore at all)")


def parse_rating(text: str | None) -> Rating | Ambiguous | Invalid:
    """A 0-10 pain rating typed as a digit, a word, "7/10", "7 out of 10", "about 6"..."""
    if not isinstance(text, str) or not text.strip():
        return Invalid("empty")
    if len(text.strip()) > _MAX_LEN:
        return Invalid("not_a_number")
    if _NO_PAIN.fullmatch(_normalise(text).strip(" .!")):
        return Rating(0)  # the scale's own words for 0
    s = _NUMBER_WORD.sub(lambda m: _WORDS[m.group(1)], _normalise(text))
    s = re.sub(r"\bout of\b", "/", s)
    # Most punctuation and emoji are noise; "<" and ">" are not ("<7" is not 7), and a point
    # is kept unless it ends a sentence, so ".5" stays unreadable rather than becoming 5.
    s = re.sub(r"[^0-9a-z'/<>\-.\s]|\.(?![0-9])", " ", s)
    s = " ".join(w for w in s.split() if w not in _FILLER)
    s = re.sub(r" ?([/-]) ?", r"\1", s)
    if not s:
        return Invalid("not_a_number")
    if m := _FRACTION.fullmatch(s):
        if m.group(3) != "10":
            return Invalid("not_a_number")  # "7/5" is not a pain rating
        return _from_value(m.group(1), m.group(2))
    if m := _SINGLE.fullmatch(s):
        return _from_value(m.group(1), m.group(2))
    if m := _RANGE.fullmatch(s):
        a, b = Fraction(m.group(1)), Fraction(m.group(2))
        if a.denominator != 1 or b.denominator != 1:
            return Invalid("not_a_number")
        low, high = sorted((int(a), int(b)))
        if high > 10:
            return Invalid("out_of_range")
        return Rating(low) if low == high else Ambiguous(low, high)
    return Invalid("not_a_number")


def _from_value(sign: str, number: str) -> Rating | Ambiguous | Invalid:
    value = Fraction(number) * (-1 if sign else 1)
    if not 0 <= value <= 10:
        return Invalid("out_of_range")
    if value.denominator == 1:
        return Rating(int(value))
    low = int(value)  # floor, since value >= 0
    return Ambiguous(low, low + 1)


_YES_WORDS = frozenset("yes y yeah yep yup yea ya ok okay k sure settled fine".split())
_NO_WORDS = frozenset("no n nope nah not hasn't hasnt isn't isnt never".split())
_YES_PHRASES = frozenset(
    {
        "i think so",
        "it has",
        "it did",
        "back to normal",
        "more or less",
        "pretty much",
        "👍",
        "✅",
        "✔",
    }
)
_NO_PHRASES = frozenset(
    {
        "i don't think so",
        "i dont think so",
        "still sore",
        "still hurts",
        "still painful",
        "worse",
        "👎",
        "❌",
        "✖",
    }
)


_YESTERDAY = re.compile(r"\b(?:yesterday|yday|last night)(?:'s)?\b", re.IGNORECASE)


def parse_yesterday(text: str | None) -> int | None:
    """A rating typed for yesterday ("yesterday was a 5", "5 yesterday", "last night 7/10"):
    the number, or None when the text does not name yesterday or holds no one clear rating."""
    if not isinstance(text, str) or not _YESTERDAY.search(text):
        return None
    rest = _YESTERDAY.sub(" ", text)
    rating = parse_rating(rest)
    if isinstance(rating, Rating):
        return rating.value
    # One clear number among other words ("last night was awful, 8", "yesterday was 7 tbh"):
    # never a range, a time, a duration or a second number.
    s = _NUMBER_WORD.sub(lambda m: _WORDS[m.group(1)], _normalise(rest))
    if re.search(r"\d\s*(?:-|to)\s*\d", s):
        return None
    found = _LONE_NUMBER.findall(s)
    if len(found) == 1 and 0 <= int(found[0]) <= 10:
        return int(found[0])
    return None


_LONE_NUMBER = re.compile(
    r"(?<!\d)(?<!\d[.,:])(\d{1,2})(?:\s*/\s*10)?(?!\d|[.,:]\d)"
    r"(?!\s*(?:min|mins|minute|minutes|h|hr|hrs|hour|hours|km|k|mile|miles|steps|am|pm)\b)"
)


def parse_yes_no(text: str | None) -> bool | None:
    """Has it settled? True, False, or None when unclear (mixed or unknown answers)."""
    if not isinstance(text, str) or len(text) > _MAX_LEN:
        return None
    s = _normalise(text)
    if s in _YES_PHRASES or s in _NO_PHRASES:
        return s in _YES_PHRASES
    words = re.sub(r"[^a-z' ]", " ", s).split()
    if not words:
        return None
    negative = [w in _NO_WORDS or w.endswith("n't") for w in words]
    # "settled" after "not" is part of the no; "no, it's fine now" mixes both: ask again.
    positive = [w in _YES_WORDS and not (i and negative[i - 1]) for i, w in enumerate(words)]
    if positive[0] and not any(negative):
        return True
    if negative[0] and not any(positive):
        return False
    return None


_MIN_UNITS = r"(?:m|min|mins|minute|minutes)"
_HOUR_UNITS = r"(?:h|hr|hrs|hour|hours)"
_MINUTE_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "ten": 10,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
}
_MINUTE_PHRASES = {
    "half an hour": 30,
    "half hour": 30,
    "a quarter of an hour": 15,
    "quarter of an hour": 15,
    "quarter hour": 15,
    "an hour and a half": 90,
    "one and a half hours": 90,
    "an hour and a quarter": 75,
}


def parse_minutes(text: str | None) -> int | None:
    """Whole minutes from "30", "30 min", "1.5 h", "1h 15m"...; None if unclear or not 1-600."""
    if not isinstance(text, str) or len(text) > _MAX_LEN:
        return None
    s = re.sub(
        r"^(?:about|around|roughly|approx|approximately|maybe|for|~) ?", "", _normalise(text)
    )
    s = s.rstrip(".!")
    minutes = _MINUTE_PHRASES.get(s)
    if minutes is None:
        s = re.sub(
            r"\b(" + "|".join(_MINUTE_WORDS) + r")\b", lambda m: str(_MINUTE_WORDS[m.group(1)]), s
        )
        minutes = _duration(s)
    return minutes if minutes is not None and 1 <= minutes <= 600 else None


def _duration(s: str) -> int | None:
    if m := re.fullmatch(rf"([0-9]+) ?(?:{_MIN_UNITS})?", s):
        return int(m.group(1))  # a bare number is minutes: that is what the question asks for
    if m := re.fullmatch(rf"({_NUM}) ?{_HOUR_UNITS}", s):
        minutes = Fraction(m.group(1)) * 60
        # 1.5 h is 90 min; 1.33 h is not a duration anyone means exactly, so it is unclear.
        return int(minutes) if minutes.denominator == 1 else None
    if m := re.fullmatch(
        rf"([0-9]+) ?{_HOUR_UNITS},? ?(?:and )?([0-9]+) ?(?:{_MIN_UNITS})?", s
    ) or re.fullmatch(r"([0-9]+):([0-9]{2})", s):
        hours, mins = int(m.group(1)), int(m.group(2))
        return hours * 60 + mins if mins < 60 else None
    return None


def parse_hhmm(text: str | None) -> time | None:
    """A clock time ("8", "08:30", "8.30", "8:30am", "8pm", "20h", "20h30"); None if unclear."""
    if not isinstance(text, str) or len(text) > _MAX_LEN:
        return None
    s = _normalise(text).replace("a.m.", "am").replace("p.m.", "pm").rstrip(".!")
    s = re.sub(r" ?o'?clock$", "", s)
    if s in ("noon", "midday"):
        return time(12, 0)
    if s == "midnight":
        return time(0, 0)
    m = re.fullmatch(r"([0-9]{1,2})(?:[:.h ]?([0-9]{2}))? ?(am|pm|h)?", s)
    if not m:
        return None
    hour, minute, suffix = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if len(m.group(1)) == 1 and m.group(2) and not re.search(r"[:.h ]", s):
        return None  # "830" could be 8:30 or a typo; ask rather than guess
    if minute > 59:
        return None
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        # A bare hour is read on the 24-hour clock ("8" is 08:00); am/pm moves it.
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    elif hour > 23:
        return None
    return time(hour, minute)


# -- corrections: "sorry I meant 3", "no, 3", "change to 3" ----------------------------------
# A cue that the number replaces the rating just given; the rest must be a plain rating. A bare
# "not 3" is not a correction (and not a rating): the bot asks rather than guesses.
_CORRECTION = re.compile(
    r"^(?:(?:sorry|soz|sry|oops|whoops|oh|ah|my bad|actually|wait)[ ,.!]*)*"
    r"(?:"
    r"(?:i )?meant(?: to (?:say|type|put|tap|press))?"
    r"|(?:no|nope)(?=[ ,.!])"
    r"|(?:please )?(?:change|make|set|correct|update)(?: it| that| this| my rating| the rating"
    r"| today's rating| my answer)?(?: to| into)?"
    r"|(?:it |that )?should (?:have )?be(?:en)?"
    r"|(?:it's|it is|its) actually"
    r"|(?<=[a-z!,. ])"  # "sorry, 3": the cue alone before a number
    r")[ ,.!:]*(?P<rest>.+)$"
)


# "sorry, 4 not 7", "3 not 8", "it's 3, not 8", "5 instead of 10": both sides must be ratings.
_NEW_NOT_OLD = re.compile(
    r"^(?:(?:sorry|soz|sry|oops|whoops|oh|ah|my bad|actually|wait)[ ,.!]*)*"
    r"(?:(?:i )?meant |it's |its |it is |it was |should be )?"
    r"(?P<new>.+?)[ ,]+(?:not|instead of|rather than)[ ,]+(?P<old>.+?)[ .!]*$"
)


def parse_correction(text: str | None) -> int | None:
    """The new rating in a typed correction ("sorry I meant 3", "no, 3", "change to 3",
    "make it 3", "should be 3", "sorry, 3 not 8"), or None when the text is not a correction
    with one whole 0-10 rating in it."""
    if not isinstance(text, str) or not text.strip() or len(text.strip()) > _MAX_LEN:
        return None
    s = _normalise(text)
    pair = _NEW_NOT_OLD.match(s)
    if pair is not None:
        new, old = parse_rating(pair.group("new")), parse_rating(pair.group("old"))
        if isinstance(new, Rating) and isinstance(old, Rating):
            return new.value
    m = _CORRECTION.match(s)
    if m is None or m.group("rest") == s:
        return None  # no cue at all: a plain number is an answer, not a correction
    rest = m.group("rest").strip(" ,.!")
    if re.match(r"(?:not|isn't|isnt|never)\b", rest):
        return None
    result = parse_rating(rest)
    return result.value if isinstance(result, Rating) else None


# -- ending an activity in words: "done", "finished", "didn't", "I didn't go in the end" -------
_NOT_DONE = re.compile(
    r"\b(?:didn't|didnt|did not|couldn't|couldnt|could not|wasn't able|wasnt able|was not able"
    r"|never went|never did|gave up|skipped|skip it|cancel|cancelled|canceled|not today"
    r"|didn't go|didnt go|did not go|not done it|haven't done it|no walk|no go"
    r"|not going(?!\s+(?:well|great|good|so|too|to|bad|badly|fine|ok))|didn't make it"
    r"|didnt make it)\b"
)
_STILL_GOING = re.compile(
    r"\b(?:not (?:done|finished)(?: yet)?|haven't finished|havent finished|not yet|still going"
    r"|still doing|almost|nearly)\b"
)
_DONE = re.compile(
    r"\b(?:done|finished|finish|did it|completed|complete|all done|i'm done|im done|that's it"
    r"|thats it|i did|did that|back home|i'm back|im back)\b"
)


# Only emoji that say "done" (a thumbs up, OK, a tick, raised hands, a flexed arm), any skin tone.
_DONE_EMOJI = re.compile(
    "(?:[\U0001f44d\U0001f44c\u2705\u2714\U0001f64c\U0001f4aa][\U0001f3fb-\U0001f3ff\ufe0f]*\\s*)+"
)


def parse_session_end(text: str | None) -> Literal["done", "not_done"] | None:
    """An activity under way ended in words: "done" (as the Done button) or "not_done" (as
    "I didn't do it"); None for anything else, "not finished yet" included."""
    if not isinstance(text, str) or not text.strip() or len(text.strip()) > _MAX_LEN:
        return None
    if _DONE_EMOJI.fullmatch(text.strip()):
        return "done"  # a thumbs up while an activity is under way
    s = re.sub(r"[^0-9a-z' ]", " ", _normalise(text))
    s = " ".join(s.split())
    if _STILL_GOING.search(s):
        return None
    if _NOT_DONE.search(s):
        return "not_done"
    if _DONE.search(s):
        return "done"
    return None


# -- how long a /pause lasts, typed: "1 day", "a week", "tomorrow", "until I resume" ----------
_PAUSE_DAY = re.compile(r"(?:for )?(?:1|one|a) day|a day or so|tomorrow|today|just today|for today")
_PAUSE_WEEK = re.compile(r"(?:for )?(?:1|one|a) week|a week or so|7 days|seven days")
_PAUSE_OPEN = re.compile(
    r"until i (?:resume|say|restart|come back)|till i (?:resume|say)|indefinitely|no end"
    r"|open[- ]ended|until further notice"
)


def parse_pause_length(text: str | None) -> Literal["day", "week", "open"] | None:
    """The length typed after /pause, as its buttons name it; None for anything else."""
    if not isinstance(text, str) or not text.strip() or len(text.strip()) > _MAX_LEN:
        return None
    s = " ".join(re.sub(r"[^0-9a-z' ]", " ", _normalise(text)).split())
    s = re.sub(r"^(?:pause |please |just |for )+", "", s)
    for length, pattern in (("day", _PAUSE_DAY), ("week", _PAUSE_WEEK), ("open", _PAUSE_OPEN)):
        if pattern.fullmatch(s):
            return length  # type: ignore[return-value]
    return None


# -- the flare-day offer, typed: "yes", "lower please", "use lower doses" / "no", "keep my plan" --
_FLARE_USE = re.compile(
    r"(?:yes|yes please|yeah|ok|okay|please|lower|lower please|use lower doses?"
    r"(?: today)?|lower doses?(?: today)?|half|half please|use them|sounds good)"
)
_FLARE_KEEP = re.compile(
    r"(?:no|no thanks|nope|keep|keep (?:my|the) plan|keep it|usual|as usual"
    r"|normal|my usual plan|the usual)"
)


def parse_flare_choice(text: str | None) -> Literal["use", "keep"] | None:
    """A typed answer to the flare-day offer; None for anything else (the offer's buttons stay)."""
    if not isinstance(text, str) or not text.strip() or len(text.strip()) > _MAX_LEN:
        return None
    s = " ".join(re.sub(r"[^0-9a-z' ]", " ", _normalise(text)).split())
    if _FLARE_USE.fullmatch(s):
        return "use"
    if _FLARE_KEEP.fullmatch(s):
        return "keep"
    return None


# -- clock times typed in words: "eight", "half past 8", "8 in the morning", "around 9" ----------
_HOUR_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
    if i
}
_MINUTE_AFTER = {"fifteen": 15, "thirty": 30, "forty five": 45, "forty-five": 45, "twenty": 20}
_ROUGHLY = re.compile(
    r"^(?:(?:at|about|around|round|roughly|approx|approximately|maybe|say|by|~)\s*)+"
)
_ISH = re.compile(r"\s*(?:-?ish|or so)$")
# A part of the day after an hour: which 12-hour hours it can follow, and am or pm for each.
_DAY_PARTS = {
    "in the morning": {h: "am" for h in range(1, 12)},
    "morning": {h: "am" for h in range(1, 12)},
    "in the afternoon": {12: "pm", **{h: "pm" for h in range(1, 7)}},
    "afternoon": {12: "pm", **{h: "pm" for h in range(1, 7)}},
    "in the evening": {h: "pm" for h in range(4, 12)},
    "evening": {h: "pm" for h in range(4, 12)},
    "tonight": {h: "pm" for h in range(6, 12)},
    "at night": {12: "am", **{h: "am" for h in range(1, 5)}, **{h: "pm" for h in range(6, 12)}},
}
_DAY_PART = re.compile(r"\s*\b(" + "|".join(sorted(_DAY_PARTS, key=len, reverse=True)) + r")$")


def parse_clock(text: str | None) -> time | None:
    """A clock time as `parse_hhmm` reads it, or typed more loosely: "eight", "8ish",
    "around 9", "half past 8", "quarter to 7", "8 in the morning", "11 at night", "eight
    thirty". None when unclear ("8 or 9", "830", "morning", "5 at night")."""
    at = parse_hhmm(text)
    if at is not None or not isinstance(text, str) or len(text) > _MAX_LEN:
        return at
    s = _normalise(text).replace("a.m.", "am").replace("p.m.", "pm")
    s = re.sub(r"[\s!?,]+$|(?<![0-9])\.+$", "", s)
    s = _ISH.sub("", _ROUGHLY.sub("", s)).strip()
    part = None
    if m := _DAY_PART.search(s):
        part, s = m.group(1), s[: m.start()].strip()
        s = _ISH.sub("", s)  # "8ish in the morning"
    s = re.sub(r" ?o'?clock$", "", s)
    s = re.sub(
        r"\b(" + "|".join(_HOUR_WORDS) + r")\b", lambda m: _HOUR_WORDS[m.group(1)], s, count=1
    )
    offset = 0
    if m := re.fullmatch(r"(half|quarter) (past|after|to) (.+)", s):
        offset = (30 if m.group(1) == "half" else 15) * (-1 if m.group(2) == "to" else 1)
        s = m.group(3).strip()
    elif m := re.fullmatch(r"([0-9]{1,2}) (" + "|".join(_MINUTE_AFTER) + r")", s):
        s = f"{m.group(1)}:{_MINUTE_AFTER[m.group(2)]:02d}"
    if offset and not re.fullmatch(r"[0-9]{1,2}(?: ?(?:am|pm))?", s):
        return None  # "half past 8:15" is not a time
    if part is not None:
        hour = re.fullmatch(r"([0-9]{1,2})(?:[:.]([0-9]{2}))?", s)
        suffix = _DAY_PARTS[part].get(int(hour.group(1))) if hour else None
        if suffix is None:
            return None  # "5 at night", "14 in the morning", "8pm in the morning"
        s = f"{s} {suffix}"
    at = parse_hhmm(s)
    if at is None:
        return None
    minutes = (at.hour * 60 + at.minute + offset) % (24 * 60)
    return time(minutes // 60, minutes % 60)
