"""Callback data, one codec: every button's data is `<head>:<field>:<field>...`, declared here
once with the name and type of each field. Keyboards build data with `encode` (which refuses
data over Telegram's 64 bytes), handlers read it with `decode` (None for anything no button of
ours says). tests/test_callbacks.py checks every CallbackQueryHandler prefix has routes here and
that every route round-trips.

A field's type: `int` (a decimal id or number), `str` (a token without ':'), `REST` (the rest of
the data, ':' allowed; last field only) or a tuple of the allowed words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_BYTES = 64  # Telegram's limit for callback_data
MAX_DIGITS = 11  # an int field longer than this is no id of ours
REST = "rest"

FieldType = type | str | tuple[str, ...]
YES_NO = ("yes", "no")
Y_N = ("y", "n")
LEVELS = ("emergency", "soon")


@dataclass(frozen=True)
class Route:
    head: str  # e.g. "set:dm": the words before the fields
    fields: tuple[tuple[str, FieldType], ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Callback:
    """Decoded data: its route's head and the named, typed fields."""

    head: str
    fields: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


def _r(head: str, doc: str = "", **fields: FieldType) -> Route:
    return Route(head, tuple(fields.items()), doc)


ROUTES: tuple[Route, ...] = (
    _r("c", "a check-in rating", row=int, pain=int),
    _r(
        "c:fix",
        "change a rating (c a check-in, b/a/s a session's), by the 10-minute undo button (u) "
        "or /checkin (k)",
        what=("c", "b", "a", "s"),
        target=int,
        via=("u", "k"),
    ),
    _r("c:set", "a rating's new value", what=("c", "b", "a", "s"), target=int, value=int),
    _r("s", "under a sitting nudge", row=int, action=("done", "snooze", "off", "pause", "keep")),
    _r("pause", "/pause: for how long", length=("day", "week", "open")),
    _r("pause:later", "lessons missed while paused: not now"),
    _r("a:s", "start an activity now", activity=int),
    _r("a:l", "log an activity done earlier: which"),
    _r("a:la", "log: how long", activity=int),
    _r("a:lm", "log: when", activity=int, minutes=int),
    _r("a:lw", "log: save", activity=int, minutes=int, ago=int),
    _r("a:p", "a paused activity: not today"),
    _r("a:e", "an activity done", session=int),
    _r("a:x", "an activity not done", session=int),
    _r(
        "r",
        "a session answer: before, after (0-10) or settled (1/0)",
        session=int,
        field=("b", "a", "s"),
        value=int,
    ),
    _r("n", "pain a day after a session", row=int, pain=int),
    _r("set", "/settings: what to change", what=str),
    _r("set:sum", "/settings: the weekly summary's day and time", when=str),
    _r("set:d", "/settings: an activity's dose", activity=int),
    _r("set:dm", "/settings: an activity's new dose", activity=int, minutes=int),
    _r(
        "set:a",
        "/settings: rename, pause, unpause or remove an activity",
        activity=int,
        action=("rename", "pause", "unpause", "remove"),
    ),
    _r("cg:i", "invite a caregiver (summary, or summary and alerts)", scope=("s", "a")),
    _r("cg:r", "revoke a caregiver (the patient)", caregiver=int),
    _r("cg:c", "cancel an unused invite", invite=int),
    _r("cg:x", "stop receiving (the caregiver)", caregiver=int),
    _r("cgj", "accept or decline a caregiver invite", invite=int, answer=Y_N),
    _r("cgz", "a caregiver's time zone", caregiver=int, zone=REST),
    _r("lv", "leave a clinic's group", membership=int, answer=Y_N),
    _r("coj", "join a cohort", offer=int, answer=Y_N),
    _r("clj", "join a clinic as staff", invite=int, answer=Y_N),
    _r(
        "cc",
        "a clinician confirms a held request (past date, new link, archive)",
        request=int,
        answer=Y_N,
    ),
    _r("al", "an alert acknowledged or resolved (clinician)", action=("a", "r"), episode=int),
    _r("cm", "reply to a clinician's message (patient)", message=int),
    _r("del", "/delete confirmed or not", answer=YES_NO),
    _r("w", "/withdraw confirmed or not", answer=YES_NO),
    _r("u:seen", "seen by a doctor (on hold)"),
    _r("u:mistake", "the sign was reported by mistake"),
    _r("u:fu", "the follow-up: seen or not yet", answer=("seen", "notyet")),
    _r("u:ok", "carry on after being seen?", answer=YES_NO),
    _r("u:emergency", "/urgent: an emergency sign?", answer=YES_NO),
    _r("u:emergency", "/urgent, asked again", answer=YES_NO, again=("m",)),
    _r("u:soon", "/urgent: a sign to check soon?", answer=YES_NO),
    _r("u:soon", "/urgent, asked again", answer=YES_NO, again=("m",)),
    _r("sf", "a heard warning sign confirmed", level=LEVELS, answer=YES_NO),
    _r("l:t", "a lesson's check question", lesson=str, answer=int),
    _r("l:h", "a lesson was helpful", lesson=str),
    _r("l:n", "a lesson was not for me", lesson=str),
    _r("l:x", "the next lesson now", lesson=str),
    _r("l:r", "re-read a lesson", lesson=str),
    _r("l:c", "catch up on missed lessons"),
    _r("l:d", "lesson days", preset=str),
    _r("l:a", "lesson time", preset=str),
    _r("l:m", "after the course: keep weekly or stop", choice=("keep", "stop")),
    _r("o", "an onboarding answer", step=str, value=REST),
    _r("fl", "a flare day: lower doses today, or keep the plan", day=str, answer=("use", "keep")),
    _r(
        "oc",
        "an outcome answer: set, item (grc, pain, enj, act, g<goal id>), value or s (skip)",
        set=int,
        item=str,
        value=tuple(str(n) for n in range(-3, 11)) + ("s",),
    ),
    _r("oc:n", "no (more) personal goals", set=int),
    _r(
        "oc:w",
        "the weekly change under a summary: its outbox row, -3..3 or s (skip)",
        row=int,
        value=tuple(str(n) for n in range(-3, 4)) + ("s",),
    ),
)

_BY_HEAD: dict[str, list[Route]] = {}
for _route in ROUTES:
    _BY_HEAD.setdefault(_route.head, []).append(_route)


def prefixes() -> set[str]:
    """The first word of every head (what a CallbackQueryHandler pattern matches)."""
    return {route.head.split(":", 1)[0] for route in ROUTES}


def _fits(value: object, kind: FieldType) -> bool:
    if kind is int:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and value >= 0
            and len(str(value)) <= MAX_DIGITS
        )
    if isinstance(kind, tuple):
        return value in kind
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if kind is REST:
        return text != ""
    return text != "" and ":" not in text


def encode(head: str, *values: object) -> str:
    """The data for a button of this route; ValueError if the values do not fit it."""
    for route in _BY_HEAD.get(head, ()):
        if len(route.fields) == len(values) and all(
            _fits(v, kind) for v, (_, kind) in zip(values, route.fields, strict=True)
        ):
            data = ":".join([head, *(str(v) for v in values)])
            if len(data.encode("utf-8")) > MAX_BYTES:
                raise ValueError(f"callback data over {MAX_BYTES} bytes for {head!r}")
            return data
    raise ValueError(f"no route {head!r} takes {values!r}")


def _read(text: str, kind: FieldType) -> object | None:
    if kind is int:
        ok = text.isdecimal() and text.isascii() and len(text) <= MAX_DIGITS
        return int(text) if ok else None
    if isinstance(kind, tuple):
        return text if text in kind else None
    if kind is REST:
        return text or None
    return text if text and ":" not in text else None


def _match(route: Route, rest: str) -> Callback | None:
    n = len(route.fields)
    if n == 0:
        return Callback(route.head, {}) if rest == "" else None
    if rest == "":
        return None
    last_rest = route.fields[-1][1] is REST
    words = rest.split(":", n - 1) if last_rest else rest.split(":")
    if len(words) != n:
        return None
    found = {}
    for word, (name, kind) in zip(words, route.fields, strict=True):
        value = _read(word, kind)
        if value is None:
            return None
        found[name] = value
    return Callback(route.head, found)


def decode(data: str | None) -> Callback | None:
    """The route and fields behind `data`, or None for anything no button of ours says.
    The longest head wins (`set:dm:...` before `set:...`)."""
    if not data or len(data.encode("utf-8")) > MAX_BYTES:
        return None
    parts = data.split(":")
    for n in range(min(len(parts), 2), 0, -1):
        head = ":".join(parts[:n])
        rest = data[len(head) + 1 :] if len(data) > len(head) else ""
        for route in _BY_HEAD.get(head, ()):
            found = _match(route, rest)
            if found is not None:
                return found
    return None
