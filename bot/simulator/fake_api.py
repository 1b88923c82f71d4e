"""An in-process stand-in for the Telegram Bot API, plugged into PTB as a BaseRequest.

Answers are shaped like the real server's (HTTP status + JSON body), so PTB itself turns
them into RetryAfter / Forbidden / BadRequest / NetworkError exactly as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
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
    digest = hashlib.sha1(f"{kind}:{chat_id}:{message_id}:{size}".encode(),
                          usedforsecurity=False).hexdigest()
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
            [] if history is None else deque(maxlen=history))
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
            raise _Answer("400", 400, _error(400, "Bad Request: group chat was upgraded to a "
                                             "supergroup chat", migrate_to_chat_id=-1001234567890))
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
        _validate(method, params)
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
        _validate(method, params)
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


# What Telegram's HTML parse mode accepts (https://core.telegram.org/bots/api#html-style).
_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
              "a", "tg-emoji", "code", "pre", "blockquote"}
MAX_TEXT = 4096  # characters (UTF-16 code units) after entity parsing
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes


class _TelegramHtml(HTMLParser):
    """Checks markup the way the Bot API does: known tags, properly nested; counts the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in _HTML_TAGS:
            self.problem = self.problem or f'Unsupported start tag "{tag}"'
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.problem = self.problem or f'Unsupported start tag "{tag}"'

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problem = self.problem or f'Unexpected end tag "{tag}"'
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _bad(description: str) -> _Answer:
    return _Answer("400", 400, _error(400, f"Bad Request: {description}"))


def _validate(method: str, params: dict) -> None:
    """Refuse what the real Bot API refuses: bad HTML, over-long text, oversized button data."""
    field_name = "text" if "text" in params else "caption" if "caption" in params else None
    if field_name is not None and isinstance(params[field_name], str):
        raw = params[field_name]
        visible = raw
        if str(params.get("parse_mode", "")).upper() == "HTML":
            parser = _TelegramHtml()
            parser.feed(raw)
            parser.close()
            if parser.open and parser.problem is None:
                parser.problem = f"Can't find end tag for start tag {parser.open[-1]!r}"
            if parser.problem:
                raise _bad(f"can't parse entities: {parser.problem}")
            visible = "".join(parser.text)
        limit = MAX_TEXT if field_name == "text" else MAX_CAPTION
        if _utf16(visible) > limit:
            raise _bad("message is too long" if field_name == "text" else
                       "message caption is too long")
        if field_name == "text" and not visible.strip():
            raise _bad("message text is empty")
    markup = params.get("reply_markup")
    if isinstance(markup, dict):
        for row in markup.get("inline_keyboard") or []:
            for button in row:
                data = button.get("callback_data")
                if not button.get("text"):
                    raise _bad("button text is empty")
                size = len(str(data).encode("utf-8")) if data is not None else 1
                if not 1 <= size <= MAX_CALLBACK_DATA:
                    raise _bad("BUTTON_DATA_INVALID")


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
