"""An in-process stand-in for the Telegram Bot API, plugged into PTB as a BaseRequest.

Answers are shaped like the real server's (HTTP status + JSON body), so PTB itself turns
them into RetryAfter / Forbidden / BadRequest / NetworkError exactly as in production.
Every call is first checked as the Bot API documents it (`_validate`, shared with the HTTP
stand-in in tests/telegram_server.py): methods and parameters against
tests/data/bot_api_methods.toml, Telegram's HTML style (`parse_html`) and the documented limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import math
import re
import tomllib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

if TYPE_CHECKING:
    from bot.clock import Clock

OK = "ok"

# Methods that put a message into a chat; only these are rate limited and recorded in `sent`.
_FILE_FIELDS = {"sendPhoto": "photo", "sendDocument": "document"}
# send* methods that do not answer with a Message.
_NON_MESSAGE_SENDS = {"sendChatAction", "sendMediaGroup", "sendInvoice"}
_TRUE_METHODS = {
    "setMyCommands",
    "deleteMyCommands",
    "deleteWebhook",
    "setWebhook",
    "answerCallbackQuery",
    "deleteMessage",
    "sendChatAction",
    "close",
    "logOut",
}
_EDIT_METHODS = {"editMessageText", "editMessageReplyMarkup", "editMessageCaption"}

_FAULTS: dict[str, tuple[int, str]] = {
    # kind -> (HTTP status, description); 429 builds its description from retry_after.
    "400": (400, "Bad Request: chat not found"),
    "403": (403, "Forbidden: bot was blocked by the user"),
    "5xx": (500, "Internal Server Error"),
    "500": (500, "Internal Server Error"),
    "502": (502, "Bad Gateway"),
    "503": (503, "Service Unavailable"),
    "504": (504, "Gateway Timeout"),
    "401": (401, "Unauthorized"),  # a revoked token
}
_KINDS = set(_FAULTS) | {"429", "timeout", "network", "migrated"}


@dataclass
class ApiCall:
    at: datetime
    method: str
    params: dict
    outcome: str  # "ok" | "429" | "403" | "400" | "5xx" | "timeout" | "network"


@dataclass
class Sent:
    """A message that really reached a chat."""

    at: datetime
    chat_id: int
    message_id: int
    method: str
    text: str
    buttons: list[list[tuple[str, str]]]
    params: dict


@dataclass
class _Fault:
    kind: str
    method: str | None
    chat_id: int | None
    retry_after: int
    times: int
    description: str | None = None

    def matches(self, method: str, chat_id: int | None) -> bool:
        return (self.method is None or self.method == method) and (
            self.chat_id is None or self.chat_id == chat_id
        )


@dataclass
class _Window:
    """Sliding-window limiter: at most `capacity` sends within any `span`."""

    capacity: int
    span: timedelta
    stamps: deque[datetime] = field(default_factory=deque)

    @classmethod
    def per_second(cls, rate: float) -> _Window:
        if rate <= 0:
            raise ValueError("a rate limit must be positive")
        # Below 1/s (e.g. Telegram's 20/min for groups) a 1 s window would allow nothing.
        span = 1.0 if rate >= 1 else 1.0 / rate
        return cls(capacity=max(1, int(rate * span)), span=timedelta(seconds=span))

    def wait(self, now: datetime) -> timedelta:
        """How long until one more send fits (zero if it fits now)."""
        while self.stamps and self.stamps[0] + self.span <= now:
            self.stamps.popleft()
        if len(self.stamps) < self.capacity:
            return timedelta(0)
        return self.stamps[len(self.stamps) - self.capacity] + self.span - now

    def add(self, now: datetime) -> None:
        self.stamps.append(now)


class _Answer(Exception):
    """Short-circuits request handling with a ready error answer."""

    def __init__(self, outcome: str, status: int, body: dict):
        super().__init__(outcome)
        self.outcome, self.status, self.body = outcome, status, body


def _error(status: int, description: str, **parameters: Any) -> dict:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _too_many(retry_after: int) -> _Answer:
    return _Answer(
        "429",
        429,
        _error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after),
    )


def _file_id(kind: str, chat_id: int, message_id: int, size: int) -> tuple[str, str]:
    # Deterministic, so simulator runs are reproducible.
    digest = hashlib.sha1(
        f"{kind}:{chat_id}:{message_id}:{size}".encode(), usedforsecurity=False
    ).hexdigest()
    return f"AgAC{digest[:40]}", f"AQAD{digest[40:]}"


class FakeBotApi(BaseRequest):
    """A fake Bot API server that answers PTB's requests in-process."""

    def __init__(
        self,
        clock: Clock,
        *,
        bot_id: int = 700000001,
        username: str = "BackPainCompanionBot",
        overall_per_second: float | None = None,
        per_chat_per_second: float | None = None,
        history: int | None = None,
    ):
        """`history`: keep only the last N calls and sent messages (long simulations; None: all).

        The rate limits read `clock`: give it a SystemClock to enforce them in real seconds."""
        self.clock = clock
        self.bot_id = bot_id
        self.username = username
        self.calls: list[ApiCall] | deque[ApiCall] = (
            [] if history is None else deque(maxlen=history)
        )
        self.sent: list[Sent] | deque[Sent] = [] if history is None else deque(maxlen=history)
        self._blocked: set[int] = set()
        self._faults: list[_Fault] = []
        self._next_id: dict[int, int] = {}
        # (chat_id, message_id) -> text, so edits can answer with the message's content.
        self._texts: dict[tuple[int, int], str] = {}
        self._per_chat_rate = per_chat_per_second
        self._overall = (
            _Window.per_second(overall_per_second) if overall_per_second is not None else None
        )
        self._per_chat: dict[int, _Window] = {}
        if per_chat_per_second is not None:
            _Window.per_second(per_chat_per_second)  # validate early
        self._unreachable = False
        # Called with each Sent before the answer goes back to the bot: a journal written here
        # survives the bot being killed between Telegram's delivery and the bot recording it.
        self.on_send: Callable[[Sent], None] | None = None
        # getUpdates with Telegram's offset semantics: pushed updates wait here until a call
        # with a later offset confirms them; then they are forgotten (ids kept in `confirmed`).
        self.updates: list[dict] = []
        self.confirmed: list[int] = []
        self._arrived: asyncio.Event | None = None
        # Set to an unset asyncio.Event to make every send* call hang until it is set.
        self.hang: asyncio.Event | None = None

    # --- test controls -------------------------------------------------------------------

    def block(self, chat_id: int) -> None:
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def is_blocked(self, chat_id: int) -> bool:
        return chat_id in self._blocked

    def set_unreachable(self, unreachable: bool = True) -> None:
        """Telegram cannot be reached at all: every call fails before reaching the server.

        The error is what PTB's HTTPXRequest raises for a connection failure (NetworkError), with
        the full request URL in the message, token included, as some httpx errors carry it.
        """
        self._unreachable = unreachable

    def fail_next(
        self,
        kind: str,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        retry_after: int = 5,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Queue a fault for the next `times` calls that match method/chat_id (None = any).

        Kinds: "400" (chat not found), "403" (blocked), "429" (with `retry_after`), "5xx" or
        "500"/"502"/"503"/"504", "401" (token revoked), "timeout" (TimedOut), "network" (a
        connection error), "migrated" (a group became a supergroup). `description` replaces the
        error text, e.g. "Bad Request: message is too long" for a "400".
        """
        if kind not in _KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(_KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        self._faults.append(_Fault(kind, method, chat_id, retry_after, times, description))

    def clear_faults(self) -> None:
        """Forget every queued fault (a long fault queued with a large `times` ends here)."""
        self._faults.clear()

    def push_update(self, update: dict) -> None:
        """An update for getUpdates (a dict as Telegram sends it, e.g. `Update.to_dict()`)."""
        self.updates.append(update)
        if self._arrived is not None:
            self._arrived.set()

    def _get_updates(self, params: dict) -> list[dict]:
        offset = params.get("offset")
        if offset is not None:
            offset = int(offset)
            self.confirmed += [u["update_id"] for u in self.updates if u["update_id"] < offset]
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        return [dict(u) for u in self.updates[:limit]]

    def sent_to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    @property
    def bot_user(self) -> dict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Back Pain Companion",
            "username": self.username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # --- BaseRequest ---------------------------------------------------------------------

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api_method = url.rstrip("/").rsplit("/", 1)[-1]
        params, files = self._decode(request_data)
        if api_method == "getUpdates" and params.get("timeout") and not self._unreachable:
            # Long polling: wait (on the event loop) until an update is pushed or the timeout.
            if self._arrived is None:
                self._arrived = asyncio.Event()
            self._arrived.clear()
            if not self._get_updates({"offset": params.get("offset"), "limit": 1}):
                try:
                    async with asyncio.timeout(float(params["timeout"])):
                        await self._arrived.wait()
                except TimeoutError:
                    pass
        if self.hang is not None and api_method.startswith("send"):
            await self.hang.wait()
        now = self.clock.now()
        call = ApiCall(at=now, method=api_method, params=params, outcome=OK)
        self.calls.append(call)
        chat_id = _as_chat_id(params.get("chat_id"))
        try:
            if self._unreachable:
                raise _network_error(url)
            self._apply_fault(api_method, chat_id, url)
            if chat_id is not None and chat_id in self._blocked:
                raise _Answer("403", 403, _error(403, "Forbidden: bot was blocked by the user"))
            result = self._handle(api_method, params, files, chat_id, now)
        except _Answer as answer:
            call.outcome = answer.outcome
            return answer.status, _dump(answer.body)
        except TimedOut:
            call.outcome = "timeout"
            raise
        except NetworkError:
            call.outcome = "network"
            raise
        return 200, _dump({"ok": True, "result": result})

    # --- internals -----------------------------------------------------------------------

    def _decode(self, request_data: RequestData | None) -> tuple[dict, dict[str, bytes]]:
        """The parameters as the bot sent them, plus uploaded files' bytes by part name."""
        if request_data is None:
            return {}, {}
        raw = request_data.parameters
        params: dict[str, Any] = {}
        for name, json_value in request_data.json_parameters.items():
            # json_parameters leaves str values unencoded, so "123" as text must stay a str.
            value = raw.get(name)
            params[name] = value if isinstance(value, str) else json.loads(json_value)
        if isinstance(params.get("reply_markup"), str):
            with contextlib.suppress(ValueError):
                params["reply_markup"] = json.loads(params["reply_markup"])
        files: dict[str, bytes] = {}
        for part, (filename, content, _mimetype) in request_data.multipart_data.items():
            if not isinstance(content, bytes):  # PTB >= 21.5 may hand over a file handle
                content = content.read()
            files[part] = content
            # Only a summary is kept in calls: benchmarks upload many charts.
            params[part] = {"filename": filename, "size": len(content)}
        return params, files

    def _apply_fault(self, method: str, chat_id: int | None, url: str = "") -> None:
        for fault in self._faults:
            if fault.matches(method, chat_id):
                break
        else:
            return
        fault.times -= 1
        if fault.times == 0:
            self._faults.remove(fault)
        if fault.kind == "timeout":
            raise TimedOut()
        if fault.kind == "network":
            raise _network_error(url)
        if fault.kind == "429":
            raise _too_many(fault.retry_after)
        if fault.kind == "migrated":
            raise _Answer(
                "400",
                400,
                _error(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    migrate_to_chat_id=-1001234567890,
                ),
            )
        status, description = _FAULTS[fault.kind]
        outcome = fault.kind if fault.kind in ("400", "401", "403") else "5xx"
        raise _Answer(outcome, status, _error(status, fault.description or description))

    def _handle(
        self,
        method: str,
        params: dict,
        files: dict[str, bytes],
        chat_id: int | None,
        now: datetime,
    ) -> Any:
        _validate(method, params, files)
        if method == "getMe":
            return self.bot_user
        if method == "getUpdates":
            return self._get_updates(params)
        if method in _TRUE_METHODS:
            return True
        if method in _EDIT_METHODS:
            return self._edit(method, params, chat_id, now)
        if method.startswith("send") and method not in _NON_MESSAGE_SENDS and chat_id is not None:
            return self._send(method, params, files, chat_id, now)
        return True

    def _rate_limit(self, chat_id: int, now: datetime) -> None:
        windows = []
        if self._overall is not None:
            windows.append(self._overall)
        if self._per_chat_rate is not None:
            window = self._per_chat.get(chat_id)
            if window is None:
                window = self._per_chat[chat_id] = _Window.per_second(self._per_chat_rate)
            windows.append(window)
        wait = max((w.wait(now) for w in windows), default=timedelta(0))
        if wait > timedelta(0):
            raise _too_many(max(1, math.ceil(wait.total_seconds())))
        for window in windows:
            window.add(now)

    def _send(
        self, method: str, params: dict, files: dict[str, bytes], chat_id: int, now: datetime
    ) -> dict:
        if method == "sendMessage" and not params.get("text"):
            # A real server rejects this too; catching it here beats finding it in production.
            raise _Answer("400", 400, _error(400, "Bad Request: message text is empty"))
        self._rate_limit(chat_id, now)
        message_id = self._next_id.get(chat_id, 0) + 1
        self._next_id[chat_id] = message_id
        text = params.get("text") or params.get("caption") or ""
        message = self._message(chat_id, message_id, now)
        message["text" if method == "sendMessage" else "caption"] = text
        if not text:
            message.pop("caption", None)
        markup = params.get("reply_markup")
        # The real API only echoes inline keyboards back.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        sent_params = dict(params)
        field_name = _FILE_FIELDS.get(method)
        if field_name is not None:
            self._attach_file(message, sent_params, files, field_name, chat_id, message_id)
        self._texts[(chat_id, message_id)] = text
        sent = Sent(
            at=now,
            chat_id=chat_id,
            message_id=message_id,
            method=method,
            text=text,
            buttons=_buttons(markup),
            params=sent_params,
        )
        self.sent.append(sent)
        if self.on_send is not None:
            self.on_send(sent)
        return message

    def _attach_file(
        self,
        message: dict,
        sent_params: dict,
        files: dict[str, bytes],
        field_name: str,
        chat_id: int,
        message_id: int,
    ) -> None:
        data = files.get(field_name)
        size = len(data) if data is not None else 0
        if data is not None:
            sent_params["_bytes"] = data
        file_id, unique_id = _file_id(field_name, chat_id, message_id, size)
        if field_name == "photo":
            # Telegram answers with several resized copies, largest last.
            message["photo"] = [
                {
                    "file_id": f"{file_id}{suffix}",
                    "file_unique_id": f"{unique_id}{suffix}",
                    "width": side,
                    "height": side,
                    "file_size": max(1, size * side // 1280),
                }
                for suffix, side in (("s", 90), ("m", 320), ("x", 800), ("y", 1280))
            ]
        else:
            info = sent_params.get(field_name)
            filename = info.get("filename") if isinstance(info, dict) else None
            document = {"file_id": file_id, "file_unique_id": unique_id, "file_size": size}
            if filename:
                document["file_name"] = filename
                document["mime_type"] = _mime(filename)
            message["document"] = document

    def _edit(self, method: str, params: dict, chat_id: int | None, now: datetime) -> Any:
        message_id = params.get("message_id")
        if chat_id is None or message_id is None:
            return True  # inline messages: the real API answers True too
        message_id = int(message_id)
        key = (chat_id, message_id)
        if method == "editMessageText":
            self._texts[key] = params.get("text", "")
        elif method == "editMessageCaption":
            self._texts[key] = params.get("caption", "")
        message = self._message(chat_id, message_id, now)
        message["edit_date"] = _epoch(now)
        text = self._texts.get(key, "")
        if text:
            message["caption" if method == "editMessageCaption" else "text"] = text
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    def _message(self, chat_id: int, message_id: int, now: datetime) -> dict:
        return {
            "message_id": message_id,
            "date": _epoch(now),
            "chat": _chat(chat_id),
            "from": self.bot_user,
        }


# --- the Bot API's rules ------------------------------------------------------------------
# What the real server refuses, as the Bot API documents it (core.telegram.org/bots/api):
# "Formatting options" (HTML style), each method's parameters, and the documented limits.
# Where Telegram's server is more lenient than its documentation (it keeps a bare `&`, reads
# an unquoted attribute value, ignores unknown attributes) this stand-in follows the
# documentation: the stricter of the two, so a template that passes here passes there.

MAX_TEXT = 4096  # characters (UTF-16 code units) after entity parsing
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_CALLBACK_ANSWER = 200  # characters
MAX_COMMANDS = 100
MAX_COMMAND_DESCRIPTION = 256
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_PARSE_MODES = {"html", "markdown", "markdownv2"}
# The fields of an InlineKeyboardButton that give it its action; a button has exactly one.
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_METHODS_TABLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "bot_api_methods.toml"

# Telegram's HTML style: tag -> the attributes it may carry.
_HTML_TAGS: dict[str, frozenset[str]] = {
    **{
        tag: frozenset()
        for tag in ("b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "pre")
    },
    "span": frozenset({"class"}),
    "a": frozenset({"href"}),
    "tg-emoji": frozenset({"emoji-id"}),
    "code": frozenset({"class"}),
    "blockquote": frozenset({"expandable"}),
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:([a-zA-Z]+)|#([0-9]+)|#[xX]([0-9a-fA-F]+));")
_TAG_NAME = re.compile(r"[^\s>]*")
_ATTRIBUTE = re.compile(r"\s*([^\s=>]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]*)))?")


class HtmlError(ValueError):
    """Text Telegram's HTML parse mode refuses; the message is the reason."""


def _entity_at(text: str, i: int) -> tuple[str, int]:
    """The character an entity at text[i] ('&') stands for, and where it ends."""
    match = _ENTITY.match(text, i)
    if match is None:
        raise HtmlError(f'unescaped "&" at byte offset {len(text[:i].encode())}; write &amp;')
    name, decimal, hexadecimal = match.groups()
    if name is not None:
        if name not in _NAMED_ENTITIES:
            raise HtmlError(
                f'unsupported entity "&{name};"; only &lt; &gt; &amp; &quot; and numeric ones'
            )
        return _NAMED_ENTITIES[name], match.end()
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise HtmlError(f"invalid numeric entity {match.group(0)}")
    return chr(code), match.end()


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "&":
            char, i = _entity_at(value, i)
            out.append(char)
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _start_tag(text: str, i: int, open_tags: list[str]) -> tuple[str, int]:
    """Checks the start tag at text[i] ('<'); returns its name and the index after it."""
    offset = len(text[:i].encode())
    found = _TAG_NAME.match(text, i + 1)
    name = found.group(0) if found else ""
    tag = name.lower()
    if tag not in _HTML_TAGS:
        raise HtmlError(f'Unsupported start tag "{name}" at byte offset {offset}')
    j = i + 1 + len(name)
    attributes: dict[str, str | None] = {}
    while True:
        while j < len(text) and text[j].isspace():
            j += 1
        if j >= len(text):
            raise HtmlError(f"Unclosed start tag at byte offset {offset}")
        if text[j] == ">":
            j += 1
            break
        match = _ATTRIBUTE.match(text, j)
        if match is None or not match.group(0):
            raise HtmlError(f"Unclosed start tag at byte offset {offset}")
        attribute, double, single, bare = match.groups()
        attribute = attribute.lower()
        if attribute not in _HTML_TAGS[tag] or attribute in attributes:
            raise HtmlError(f'Unsupported attribute "{attribute}" of tag "{tag}"')
        if bare is not None:
            raise HtmlError(f'Unquoted value of attribute "{attribute}" of tag "{tag}"')
        raw = double if double is not None else single
        attributes[attribute] = None if raw is None else _unescape(raw)
        j = match.end()
    _check_attributes(tag, attributes, open_tags)
    return tag, j


def _check_attributes(tag: str, attributes: dict[str, str | None], open_tags: list[str]) -> None:
    if tag == "span" and attributes.get("class") != "tg-spoiler":
        raise HtmlError('Tag "span" must have class "tg-spoiler"')
    if tag == "a" and not attributes.get("href"):
        raise HtmlError('Tag "a" must have a quoted "href"')
    if tag == "tg-emoji" and not (attributes.get("emoji-id") or "").isdigit():
        raise HtmlError('Tag "tg-emoji" must have a numeric "emoji-id"')
    if tag == "blockquote" and attributes.get("expandable") is not None:
        raise HtmlError('Attribute "expandable" of tag "blockquote" takes no value')
    if tag == "code" and "class" in attributes:
        language = attributes["class"] or ""
        if not language.startswith("language-") or len(language) == len("language-"):
            raise HtmlError('Tag "code" may only have class "language-…"')
        if not open_tags or open_tags[-1] != "pre":
            raise HtmlError('A "code" with a language must be directly inside "pre"')
    for attribute in ("class", "href", "emoji-id"):
        if attribute in attributes and attributes[attribute] is None:
            raise HtmlError(f'Expected equal sign in declaration of attribute "{attribute}"')


def parse_html(text: str) -> str:
    """The visible text of `text` in Telegram's HTML parse mode; HtmlError if Telegram refuses.

    As Telegram does, `</>` closes the innermost open tag and a bare `>` is plain text."""
    visible: list[str] = []
    open_tags: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            decoded, i = _entity_at(text, i)
            visible.append(decoded)
        elif char != "<":
            visible.append(char)
            i += 1
        elif text.startswith("</", i):
            offset = len(text[:i].encode())
            end = text.find(">", i)
            if end < 0:
                raise HtmlError(f"Unclosed end tag at byte offset {offset}")
            name = text[i + 2 : end].strip().lower()
            if not open_tags:
                raise HtmlError(f"Unexpected end tag at byte offset {offset}")
            if name and name != open_tags[-1]:
                raise HtmlError(
                    f"Unmatched end tag at byte offset {offset}, expected "
                    f'"</{open_tags[-1]}>", found "</{name}>"'
                )
            open_tags.pop()
            i = end + 1
        else:
            tag, i = _start_tag(text, i, open_tags)
            open_tags.append(tag)
    if open_tags:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(visible)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _bad(description: str) -> _Answer:
    return _Answer("400", 400, _error(400, f"Bad Request: {description}"))


@functools.cache
def bot_api_methods() -> dict[str, dict[str, tuple[tuple[str, ...], bool]]]:
    """method -> parameter -> (accepted types, required), from tests/data/bot_api_methods.toml.

    Empty when the table is absent (an install without the tests): then parameters go unchecked."""
    try:
        raw = tomllib.loads(_METHODS_TABLE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    table: dict[str, dict[str, tuple[tuple[str, ...], bool]]] = {}
    for method, parameters in raw.items():
        table[method] = {}
        for name, spec in parameters.items():
            required = spec.endswith("!")
            types = tuple(t.strip() for t in spec.rstrip("!").split("|"))
            table[method][name] = (types, required)
    return table


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
    )


def _json(value: Any) -> Any:
    # Over HTTP an object may arrive JSON-serialized in a string, as the Bot API allows.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _fits(value: Any, kind: str, uploaded: bool) -> bool:
    if kind.startswith("Array of "):
        items = _json(value)
        return isinstance(items, list) and all(_fits(v, kind[9:], False) for v in items)
    if kind == "Integer":
        return _is_int(value)
    if kind == "Float":
        return _is_int(value) or isinstance(value, float)
    if kind == "String":
        return isinstance(value, str)
    if kind == "Boolean":
        return isinstance(value, bool) or str(value).lower() in ("true", "false")
    if kind == "InputFile":
        # An upload: a multipart part (over HTTP) or its summary (in-process `_decode`).
        return uploaded or (isinstance(value, dict) and "filename" in value)
    obj = _json(value)
    if not isinstance(obj, dict):
        return False
    # Keyboards are told apart by their one required field.
    need = {
        "InlineKeyboardMarkup": "inline_keyboard",
        "ReplyKeyboardMarkup": "keyboard",
        "ReplyKeyboardRemove": "remove_keyboard",
        "ForceReply": "force_reply",
    }.get(kind)
    if need is None:
        return True
    if need in ("inline_keyboard", "keyboard"):
        rows = obj.get(need)
        return isinstance(rows, list) and all(
            isinstance(row, list) and all(isinstance(b, dict) for b in row) for row in rows
        )
    return obj.get(need) is True


def _check_parameters(method: str, params: dict, files: Any = ()) -> None:
    table = bot_api_methods()
    if not table:
        return
    if method not in table:
        raise _Answer("404", 404, _error(404, "Not Found"))
    accepted = table[method]
    for name, value in params.items():
        if name not in accepted:
            raise _bad(f'unknown parameter "{name}" for method {method}')
        types, _required = accepted[name]
        if not any(_fits(value, kind, name in files) for kind in types):
            raise _bad(f'parameter "{name}" of method {method} must be {" or ".join(types)}')
    for name, (_types, required) in accepted.items():
        if required and name not in params and name not in files:
            raise _bad(f'parameter "{name}" is required for method {method}')


def _check_keyboard(markup: Any) -> None:
    markup = _json(markup)
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            if not button.get("text"):
                raise _bad("button text is empty")
            actions = [a for a in _BUTTON_ACTIONS if a in button]
            if len(actions) != 1:
                raise _bad(
                    "can't parse inline keyboard button: an InlineKeyboardButton must "
                    "have exactly one action"
                )
            data = button.get("callback_data")
            if data is not None:
                size = len(str(data).encode("utf-8"))
                if not 1 <= size <= MAX_CALLBACK_DATA:
                    raise _bad("BUTTON_DATA_INVALID")


def _check_commands(params: dict) -> None:
    commands = _json(params.get("commands"))
    if not isinstance(commands, list):
        return
    if len(commands) > MAX_COMMANDS:
        raise _bad("too many commands (at most 100)")
    for command in commands:
        if not isinstance(command, dict):
            raise _bad("BOT_COMMAND_INVALID")
        if not _COMMAND_NAME.fullmatch(str(command.get("command", ""))):
            raise _bad("BOT_COMMAND_INVALID")
        description = command.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= MAX_COMMAND_DESCRIPTION:
            raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")


def _check_text(method: str, params: dict) -> None:
    parse_mode = params.get("parse_mode")
    if parse_mode is not None and str(parse_mode).lower() not in _PARSE_MODES | {""}:
        raise _bad(f'unsupported parse_mode "{parse_mode}"')
    if method == "answerCallbackQuery":
        if _utf16(str(params.get("text") or "")) > MAX_CALLBACK_ANSWER:
            raise _bad("MESSAGE_TOO_LONG")
        return
    field_name = "text" if "text" in params else "caption" if "caption" in params else None
    if field_name is None or not isinstance(params[field_name], str):
        return
    visible = raw = params[field_name]
    if str(parse_mode or "").lower() == "html":
        try:
            visible = parse_html(raw)
        except HtmlError as exc:
            raise _bad(f"can't parse entities: {exc}") from None
    limit = MAX_TEXT if field_name == "text" else MAX_CAPTION
    if _utf16(visible) > limit:
        raise _bad("message is too long" if field_name == "text" else "message caption is too long")
    if field_name == "text" and not visible.strip():
        raise _bad("message text is empty")


def _validate(method: str, params: dict, files: Any = ()) -> None:
    """Refuse what the real Bot API refuses: unknown methods or parameters, wrong types, bad
    HTML, an unknown parse_mode, over-long text, bad buttons and bad command lists.

    `files`: the names of uploaded parts (the HTTP stand-in keeps uploads out of `params`)."""
    _check_parameters(method, params, files)
    _check_text(method, params)
    _check_keyboard(params.get("reply_markup"))
    if method == "setMyCommands":
        _check_commands(params)


def _network_error(url: str) -> NetworkError:
    # Shaped like PTB's HTTPXRequest wrapping an httpx.ConnectError.
    return NetworkError(f"httpx.ConnectError: All connection attempts failed for POST {url}")


def _chat(chat_id: int) -> dict:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Patient"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": "Group"}


def _as_chat_id(value: Any) -> int | None:
    # chat_id may arrive as int, numeric str or "@channelname"; only numeric ids are tracked.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _buttons(markup: Any) -> list[list[tuple[str, str]]]:
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard") or []
    # URL buttons have no callback_data; their url stands in so tests can still see them.
    return [
        [(b.get("text", ""), b.get("callback_data") or b.get("url") or "") for b in row]
        for row in rows
    ]


def _mime(filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return {
        "csv": "text/csv",
        "png": "image/png",
        "pdf": "application/pdf",
        "txt": "text/plain",
        "json": "application/json",
    }.get(suffix, "application/octet-stream")


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _dump(body: dict) -> bytes:
    return json.dumps(body).encode("utf-8")
