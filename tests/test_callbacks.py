"""The callback-data codec: every button prefix a handler listens for is declared, every route
round-trips, nothing over Telegram's 64 bytes is built, and no keyboard writes data by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram.ext import CallbackQueryHandler

from bot.rules.callbacks import MAX_BYTES, REST, ROUTES, decode, encode, prefixes
from handlers.withdraw import OPEN_BUTTONS

ROOT = Path(__file__).resolve().parent.parent


def _registered_prefixes(harness_app) -> set[str]:
    found = set()
    for group in harness_app.handlers.values():
        for handler in group:
            if isinstance(handler, CallbackQueryHandler) and handler.pattern is not None:
                match = re.fullmatch(r"\^(\w+):", handler.pattern.pattern)
                assert match, handler.pattern.pattern
                found.add(match.group(1))
    return found


def test_every_registered_prefix_has_routes(harness):
    registered = _registered_prefixes(harness.app)
    assert registered == prefixes()
    assert {p.rstrip(":") for p in OPEN_BUTTONS} <= prefixes()


def _sample(kind):
    if kind is int:
        return 12345
    if kind is REST:
        return "Europe/London"
    if isinstance(kind, tuple):
        return kind[-1]
    return "w01-02"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.head}/{len(r.fields)}")
def test_every_route_round_trips(route):
    values = [_sample(kind) for _, kind in route.fields]
    data = encode(route.head, *values)
    back = decode(data)
    assert back is not None and back.head == route.head
    assert list(back.fields) == [name for name, _ in route.fields]
    assert list(back.fields.values()) == values


@given(st.text(max_size=80))
def test_decode_never_fails_on_any_data(data):
    found = decode(data)
    if found is not None:  # and what it reads, it writes back the same
        assert encode(found.head, *found.fields.values()) == data


def test_building_refuses_what_no_route_takes_and_data_over_64_bytes():
    with pytest.raises(ValueError):
        encode("c", 1)  # a rating needs its value
    with pytest.raises(ValueError):
        encode("w", "maybe")
    with pytest.raises(ValueError):
        encode("zz")
    with pytest.raises(ValueError):
        encode("o", "tz", "x" * MAX_BYTES)
    assert len(encode("o", "tz", "x" * (MAX_BYTES - 5)).encode()) == MAX_BYTES


def test_wrong_types_and_counts_are_refused_on_reading():
    for data in (
        "c:1",
        "c:x:3",
        "c:1:2:3",
        "set:dm:3",
        "w:maybe",
        "s:1:dance",
        "u:seen:x",
        "cgj:1:yes",
        "a:s:",
        "l:h:",
        "",
        "nope",
        "c:" + "9" * 20 + ":1",
    ):
        assert decode(data) is None, data


def test_no_keyboard_writes_callback_data_by_hand():
    """Button data in handlers/ and jobs/ is built by `encode` (or rating_rows), never spelled."""
    heads = "|".join(sorted({r.head.split(":")[0] for r in ROUTES}, key=len, reverse=True))
    spelled = re.compile(rf"^({heads}):")
    found = []
    for path in sorted([*ROOT.glob("handlers/*.py"), *ROOT.glob("jobs/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Tuple) and len(node.elts) == 2:
                first, data = node.elts
                if isinstance(first, ast.Constant) and spelled.match(str(first.value)):
                    continue  # a pair of heads compared with, not a (label, data) button
                text = (
                    data.value
                    if isinstance(data, ast.Constant)
                    else data.values[0].value
                    if isinstance(data, ast.JoinedStr)
                    and data.values
                    and isinstance(data.values[0], ast.Constant)
                    else None
                )
                if isinstance(text, str) and spelled.match(text):
                    found.append(f"{path.name}:{node.lineno}: {text}")
    assert found == []
