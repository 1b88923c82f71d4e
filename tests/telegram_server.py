"""A Telegram-faithful Bot API stand-in over real HTTP, on 127.0.0.1 (issue 13).

`bot/simulator/fake_api.py` answers PTB in-process; this one is a server the real
`backpain-bot run` talks to through `TELEGRAM_API_BASE_URL=<server.base_url>`, so what it
proves holds for the real process, SIGKILL included.

* `/bot<token>/<method>`, JSON, form and multipart bodies, answers `{"ok": true, "result": ..}`
  or `{"ok": false, "error_code": .., "description": .., "parameters": {"retry_after": N}}`;
  an unknown method is 404, a wrong token 401. Parameters (names, types, required ones), texts,
  captions, HTML, buttons and command lists are checked with the same Bot API rules as the
  in-process fake (`fake_api._validate`, the table in tests/data/bot_api_methods.toml).
* **Offset semantics as Telegram's**: updates are queued with increasing ids;
  `getUpdates(offset=N)` forgets every update with id < N for good (it is *confirmed*) and
  returns those >= N; a negative offset keeps only the last -N. Long polling with `timeout`,
  `limit`, `allowed_updates`; a newer getUpdates ends a waiting one with 409, as Telegram does.
  `journal[update_id]` records when each update was queued, delivered and confirmed.
* **Webhook delivery** once setWebhook is called: each update is POSTed (with the secret header)
  to the URL, or to `webhook_redirect` (the TLS-terminating proxy in front of the bot), retried
  until a 2xx, which confirms it. getUpdates is refused with 409 meanwhile.
* **Fault knobs**, changeable while running: `latency` (seconds, or a callable giving them) per
  send, `storm(retry_after)` (429 for every send), `fail_5xx(n)`, `hang()` / `release()`.
* `messages[chat]`: what the bot sent (text, buttons, time); `send_text`, `tap` and
  `edit_text` put a person's action in the update queue; `rate_report()` counts sends per second
  overall and per chat and the breaches of Telegram's 30/s and 1/s per chat.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from bot.simulator.fake_api import _Answer, _buttons, _chat, _validate

TOKEN = "123456789:AAE_standin_token_for_tests_only_xyz"
BOT_ID = 123456789
USERNAME = "BackPainStandInBot"

# Form fields whose values PTB sends JSON-encoded (everything else is a string as sent).
_JSON_FIELDS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "allowed_updates",
    "reply_markup",
    "show_alert",
    "cache_time",
    "disable_notification",
    "protect_content",
    "drop_pending_updates",
    "max_connections",
    "commands",
    "scope",
    "link_preview_options",
    "reply_parameters",
    "entities",
    "caption_entities",
    "disable_web_page_preview",
    "has_spoiler",
    "allow_sending_without_reply",
    "reply_to_message_id",
    "message_thread_id",
}
_SENDS = {"sendMessage", "sendDocument", "sendPhoto"}
_METHODS = _SENDS | {
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "deleteMyCommands",
    "answerCallbackQuery",
    "editMessageReplyMarkup",
    "editMessageText",
    "close",
    "logOut",
}
UPDATE_KINDS = (
    "message",
    "edited_message",
    "callback_query",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "my_chat_member",
    "chat_member",
)


@dataclass
class Sent:
    """A message that reached a chat (recorded before the bot hears the answer)."""

    at: float  # time.monotonic()
    wall: float  # time.time()
    chat_id: int
    message_id: int
    method: str
    text: str
    buttons: list[list[tuple[str, str]]]
    requested: float | None = None  # time.monotonic() when the request arrived (before latency)


@dataclass
class Entry:
    """The journal of one update: Telegram's side of its story."""

    update_id: int
    raw: dict
    queued_at: float
    delivered_at: list[float] = field(default_factory=list)
    confirmed_at: float | None = None

    @property
    def kind(self) -> str:
        return next(k for k in self.raw if k != "update_id")

    @property
    def chat_id(self) -> int | None:
        body = self.raw.get(self.kind) or {}
        chat = (
            (body.get("message") or {}).get("chat")
            if self.kind == "callback_query"
            else body.get("chat")
        )
        return chat.get("id") if chat else None


class TelegramServer:
    """The stand-in. `with TelegramServer() as tg:` starts it on an ephemeral port."""

    def __init__(
        self,
        token: str = TOKEN,
        *,
        latency: float | Callable[[], float] = 0.0,
        webhook_retry: float = 0.2,
        webhook_connections: int = 40,
    ):
        self.token = token
        self.latency = latency
        self.webhook_retry = webhook_retry
        self.webhook_connections = webhook_connections
        self.lock = threading.Condition()
        self.journal: dict[int, Entry] = {}
        self.queue: list[int] = []  # update ids not yet confirmed, in order
        self.messages: dict[int, list[Sent]] = defaultdict(list)
        self.sends: list[Sent] = []
        self.calls: dict[str, int] = defaultdict(int)
        self.on_send: Callable[[Sent], None] | None = None
        self._next_update = itertools.count(1)
        self._next_message: dict[int, int] = defaultdict(int)
        self._texts: dict[tuple[int, int], str] = {}
        self._incoming: dict[int, int] = defaultdict(lambda: 1_000_000)
        self._callback = itertools.count(1)
        self._poll_generation = 0
        self._allowed: list[str] | None = None
        self._storm: int | None = None
        self._fail_5xx = 0
        self._released = threading.Event()
        self._released.set()
        self.webhook: dict[str, Any] | None = None
        self.webhook_redirect: str | None = None
        self._in_flight: set[int] = set()
        self._webhook_threads: list[threading.Thread] = []
        self._stopping = False
        self.last_webhook_error: str | None = None
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True, name="telegram-standin"
        )

    # --- life ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL should be."""
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> TelegramServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.lock:
            self._stopping = True
            self.lock.notify_all()
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        for thread in self._webhook_threads:
            thread.join(timeout=5)

    def __enter__(self) -> TelegramServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- fault knobs -------------------------------------------------------------------------
    def storm(self, retry_after: int | None) -> None:
        """Every send is answered 429 with `retry_after` until `storm(None)`."""
        self._storm = retry_after

    def fail_5xx(self, times: int) -> None:
        """The next `times` sends are answered 502 Bad Gateway."""
        with self.lock:
            self._fail_5xx = times

    def hang(self) -> None:
        """Every send waits, unanswered, until `release()`; then it is delivered and answered."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    # --- a person's side -------------------------------------------------------------------
    def _user(self, chat_id: int) -> dict:
        return {"id": chat_id, "is_bot": False, "first_name": f"P{chat_id}", "language_code": "en"}

    def push(self, kind: str, body: dict) -> int:
        """Queue an update (`kind`: message, callback_query, ...); its update id."""
        with self.lock:
            update_id = next(self._next_update)
            raw = {"update_id": update_id, kind: body}
            self.journal[update_id] = Entry(update_id, raw, time.monotonic())
            self.queue.append(update_id)
            self.lock.notify_all()
        return update_id

    def send_text(self, chat_id: int, text: str, *, edited: bool = False) -> int:
        with self.lock:
            self._incoming[chat_id] += 1
            message_id = self._incoming[chat_id]
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": self._user(chat_id),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [
                {
                    "type": "bot_command",
                    "offset": 0,
                    "length": len(text.split()[0].encode("utf-16-le")) // 2,
                }
            ]
        if edited:
            message["edit_date"] = int(time.time())
        return self.push("edited_message" if edited else "message", message)

    def tap(self, chat_id: int, message_id: int, data: str) -> int:
        """A tap on a button of the bot's message `message_id` in `chat_id`."""
        with self.lock:
            text = self._texts.get((chat_id, message_id), "")
            query_id = str(next(self._callback))
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": self._bot_user(),
            "text": text,
        }
        return self.push(
            "callback_query",
            {
                "id": query_id,
                "from": self._user(chat_id),
                "chat_instance": str(chat_id),
                "data": data,
                "message": message,
            },
        )

    # --- what happened -----------------------------------------------------------------------
    def confirmed(self) -> list[Entry]:
        with self.lock:
            return [e for e in self.journal.values() if e.confirmed_at is not None]

    def pending(self) -> int:
        with self.lock:
            return len(self.queue)

    def rate_report(self) -> dict:
        """Sends per second overall and per chat, and breaches of 30/s and 1/s per chat."""
        with self.lock:
            sends = sorted(self.sends, key=lambda s: s.at)
        times = [s.at for s in sends]
        peak, breaches, start = 0, 0, 0
        for end, t in enumerate(times):
            while times[start] <= t - 1.0:
                start += 1
            peak = max(peak, end - start + 1)
            breaches += end - start + 1 > 30
        per_chat: dict[int, list[float]] = defaultdict(list)
        for s in sends:
            per_chat[s.chat_id].append(s.at)
        chat_breaches = sum(
            1 for ts in per_chat.values() for a, b in itertools.pairwise(ts) if b - a < 1.0
        )
        return {
            "sends": len(sends),
            "peak_per_second": peak,
            "over_30_per_second": breaches,
            "chat_gaps_under_1s": chat_breaches,
            "chats_over_1_per_second": sum(
                1 for ts in per_chat.values() if any(b - a < 1.0 for a, b in itertools.pairwise(ts))
            ),
        }

    # --- the API -----------------------------------------------------------------------------
    def _bot_user(self) -> dict:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Back Pain Companion",
            "username": USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def call(self, method: str, params: dict, files: dict[str, bytes]) -> tuple[int, dict]:
        with self.lock:
            self.calls[method] += 1
        try:
            if method not in _METHODS:
                raise _Answer("404", 404, _err(404, "Not Found"))
            _validate(method, params, files)  # the same Bot API rules as the in-process fake
            result = getattr(self, "_" + method)(params, files)
        except _Answer as answer:
            return answer.status, answer.body
        return 200, {"ok": True, "result": result}

    def _getMe(self, params: dict, files: dict) -> dict:
        return self._bot_user()

    def _getUpdates(self, params: dict, files: dict) -> list[dict]:
        offset = _int(params.get("offset"), 0)
        limit = min(max(_int(params.get("limit"), 100), 1), 100)
        timeout = max(_int(params.get("timeout"), 0), 0)
        deadline = time.monotonic() + timeout
        with self.lock:
            if self.webhook is not None:
                raise _Answer(
                    "409",
                    409,
                    _err(
                        409,
                        "Conflict: can't use getUpdates method while "
                        "webhook is active; use deleteWebhook to "
                        "delete the webhook first",
                    ),
                )
            if "allowed_updates" in params and params["allowed_updates"] is not None:
                self._allowed = list(params["allowed_updates"]) or None
            self._poll_generation += 1
            generation = self._poll_generation
            self.lock.notify_all()  # an older poll still waiting ends with 409
            now = time.monotonic()
            if offset > 0:
                self._confirm(lambda uid: uid < offset, now)
            elif offset < 0:
                keep = set(self.queue[offset:])
                self._confirm(lambda uid: uid not in keep, now)
            while True:
                if self._allowed is not None:  # Telegram drops the kinds not asked for
                    self._confirm(lambda uid: self.journal[uid].kind not in self._allowed, now)
                ready = self.queue[:limit]
                if ready or self._stopping:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.lock.wait(left)
                if self._poll_generation != generation:
                    raise _Answer(
                        "409",
                        409,
                        _err(
                            409,
                            "Conflict: terminated by other getUpdates "
                            "request; make sure that only one bot "
                            "instance is running",
                        ),
                    )
            now = time.monotonic()
            for uid in ready:
                self.journal[uid].delivered_at.append(now)
            return [self.journal[uid].raw for uid in ready]

    def _confirm(self, which: Callable[[int], bool], now: float) -> None:
        keep = []
        for uid in self.queue:
            if which(uid):
                self.journal[uid].confirmed_at = now
            else:
                keep.append(uid)
        self.queue = keep

    def _setWebhook(self, params: dict, files: dict) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._deleteWebhook(params, files)
        if not url.startswith("https://"):
            raise _Answer(
                "400",
                400,
                _err(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"),
            )
        with self.lock:
            if params.get("drop_pending_updates"):
                self._confirm(lambda uid: True, time.monotonic())
            self.webhook = {
                "url": url,
                "secret_token": params.get("secret_token"),
                "max_connections": _int(params.get("max_connections"), 40),
                "allowed_updates": params.get("allowed_updates"),
            }
            if params.get("allowed_updates") is not None:
                self._allowed = list(params["allowed_updates"]) or None
            self.lock.notify_all()
            if not any(t.is_alive() for t in self._webhook_threads):
                self._webhook_threads = [
                    threading.Thread(
                        target=self._deliver_webhooks, daemon=True, name=f"webhook-{n}"
                    )
                    for n in range(min(self.webhook_connections, self.webhook["max_connections"]))
                ]
                for thread in self._webhook_threads:
                    thread.start()
        return True

    def _deleteWebhook(self, params: dict, files: dict) -> bool:
        with self.lock:
            self.webhook = None
            if params.get("drop_pending_updates"):
                self._confirm(lambda uid: True, time.monotonic())
            self.lock.notify_all()
        return True

    def _getWebhookInfo(self, params: dict, files: dict) -> dict:
        with self.lock:
            info = {
                "url": self.webhook["url"] if self.webhook else "",
                "has_custom_certificate": False,
                "pending_update_count": len(self.queue),
            }
            if self.webhook:
                info["max_connections"] = self.webhook["max_connections"]
                if self.webhook.get("allowed_updates") is not None:
                    info["allowed_updates"] = self.webhook["allowed_updates"]
            if self.last_webhook_error:
                info["last_error_message"] = self.last_webhook_error
        return info

    def _deliver_webhooks(self) -> None:
        """One of `max_connections` workers: the oldest update nobody is posting yet."""
        while True:
            with self.lock:
                uid = None
                while not self._stopping and self.webhook is not None:
                    if self._allowed is not None:
                        self._confirm(
                            lambda u: self.journal[u].kind not in self._allowed, time.monotonic()
                        )
                    uid = next((u for u in self.queue if u not in self._in_flight), None)
                    if uid is not None:
                        break
                    self.lock.wait(0.5)
                if uid is None:
                    return
                self._in_flight.add(uid)
                entry, hook = self.journal[uid], dict(self.webhook)
            ok = self._post(hook, entry)
            with self.lock:
                self._in_flight.discard(uid)
                if ok and uid in self.queue:
                    self.queue.remove(uid)
                    entry.confirmed_at = time.monotonic()
                self.lock.notify_all()
            if not ok:
                time.sleep(self.webhook_retry)

    def _post(self, hook: dict, entry: Entry) -> bool:
        url = self.webhook_redirect or hook["url"]
        headers = {"Content-Type": "application/json"}
        if hook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        request = urllib.request.Request(  # noqa: S310 - the bot's own loopback http URL
            url, data=json.dumps(entry.raw).encode(), method="POST", headers=headers
        )
        with self.lock:
            entry.delivered_at.append(time.monotonic())
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our http URL
                return 200 <= answer.status < 300
        except urllib.error.HTTPError as exc:
            self.last_webhook_error = f"Wrong response from the webhook: {exc.code}"
        except OSError as exc:
            self.last_webhook_error = f"Connection failed: {type(exc).__name__}"
        return False

    def _setMyCommands(self, params: dict, files: dict) -> bool:
        return True

    _deleteMyCommands = _setMyCommands
    _close = _setMyCommands
    _logOut = _setMyCommands

    def _answerCallbackQuery(self, params: dict, files: dict) -> bool:
        if not params.get("callback_query_id"):
            raise _Answer(
                "400",
                400,
                _err(
                    400,
                    "Bad Request: query is too old and response "
                    "timeout expired or query ID is invalid",
                ),
            )
        return True

    def _edit(self, params: dict) -> dict:
        chat_id, message_id = _int(params.get("chat_id"), 0), _int(params.get("message_id"), 0)
        with self.lock:
            if (chat_id, message_id) not in self._texts:
                raise _Answer("400", 400, _err(400, "Bad Request: message to edit not found"))
            if "text" in params:
                self._texts[(chat_id, message_id)] = params["text"]
            text = self._texts[(chat_id, message_id)]
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": self._bot_user(),
            "text": text,
            "edit_date": int(time.time()),
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        return message

    def _editMessageText(self, params: dict, files: dict) -> dict:
        if not params.get("text"):
            raise _Answer("400", 400, _err(400, "Bad Request: message text is empty"))
        return self._edit(params)

    def _editMessageReplyMarkup(self, params: dict, files: dict) -> dict:
        return self._edit({k: v for k, v in params.items() if k != "text"})

    def _sendMessage(self, params: dict, files: dict) -> dict:
        if not params.get("text"):
            raise _Answer("400", 400, _err(400, "Bad Request: message text is empty"))
        return self._send("sendMessage", params, files)

    def _sendDocument(self, params: dict, files: dict) -> dict:
        return self._send("sendDocument", params, files)

    def _sendPhoto(self, params: dict, files: dict) -> dict:
        return self._send("sendPhoto", params, files)

    def _send(self, method: str, params: dict, files: dict) -> dict:
        chat_id = _int(params.get("chat_id"), 0)
        if not chat_id:
            raise _Answer("400", 400, _err(400, "Bad Request: chat not found"))
        part = {"sendPhoto": "photo", "sendDocument": "document"}.get(method)
        if part and part not in files and not isinstance(params.get(part), str):
            raise _Answer("400", 400, _err(400, f"Bad Request: there is no {part} in the request"))
        requested = time.monotonic()
        wait = self.latency() if callable(self.latency) else self.latency
        if wait:
            time.sleep(wait)
        self._released.wait()
        if self._storm is not None:
            retry = self._storm
            raise _Answer(
                "429", 429, _err(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
            )
        with self.lock:
            if self._fail_5xx > 0:
                self._fail_5xx -= 1
                raise _Answer("5xx", 502, _err(502, "Bad Gateway"))
            self._next_message[chat_id] += 1
            message_id = self._next_message[chat_id]
            text = str(params.get("text") or params.get("caption") or "")
            self._texts[(chat_id, message_id)] = text
            sent = Sent(
                time.monotonic(),
                time.time(),
                chat_id,
                message_id,
                method,
                text,
                _buttons(params.get("reply_markup")),
                requested,
            )
            self.messages[chat_id].append(sent)
            self.sends.append(sent)
        if self.on_send is not None:
            self.on_send(sent)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": self._bot_user(),
        }
        if method == "sendMessage":
            message["text"] = text
        elif text:
            message["caption"] = text
        if part == "photo":
            message["photo"] = [
                {
                    "file_id": f"ph{chat_id}_{message_id}",
                    "file_unique_id": f"u{chat_id}_{message_id}",
                    "width": 800,
                    "height": 800,
                    "file_size": len(files.get(part, b"")),
                }
            ]
        elif part == "document":
            message["document"] = {
                "file_id": f"doc{chat_id}_{message_id}",
                "file_unique_id": f"u{chat_id}_{message_id}",
                "file_size": len(files.get(part, b"")),
            }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        return message


def _err(status: int, description: str, **parameters: Any) -> dict:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None and value != "" else default
    except (TypeError, ValueError):
        return default


def _decode(content_type: str, body: bytes, query: str) -> tuple[dict, dict[str, bytes]]:
    """Parameters from the query string and a JSON, form or multipart body; files by part."""
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    pairs = parse_qsl(query, keep_blank_values=True)
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json" and body:
        loaded = json.loads(body)
        if not isinstance(loaded, dict):
            raise _Answer("400", 400, _err(400, "Bad Request: invalid JSON"))
        params.update(loaded)
        if isinstance(params.get("reply_markup"), str):  # a JSON-serialized object, as allowed
            try:
                params["reply_markup"] = json.loads(params["reply_markup"])
            except ValueError:
                raise _Answer(
                    "400",
                    400,
                    _err(400, "Bad Request: can't parse reply keyboard markup JSON object"),
                ) from None
    elif kind == "application/x-www-form-urlencoded":
        pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    elif kind == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                files[name] = payload
            else:
                pairs.append((name, payload.decode("utf-8")))
    for name, value in pairs:
        if name in _JSON_FIELDS:
            try:
                params[name] = json.loads(value)
                continue
            except ValueError:
                pass
        params[name] = value
    for name, value in list(params.items()):  # attach://name points at an uploaded part
        if isinstance(value, str) and value.startswith("attach://"):
            files.setdefault(name, files.pop(value[len("attach://") :], b""))
    return params, files


def _handler(server: TelegramServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet; the token is in every path
            pass

        def _serve(self) -> None:
            path = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            prefix, _, method = path.path.lstrip("/").partition("/")
            if not prefix.startswith("bot") or "/" in method or not method:
                status, answer = 404, _err(404, "Not Found")
            elif prefix[3:] != server.token:
                status, answer = 401, _err(401, "Unauthorized")
            else:
                try:
                    params, files = _decode(self.headers.get("Content-Type", ""), body, path.query)
                    status, answer = server.call(method, params, files)
                except _Answer as refused:
                    status, answer = refused.status, refused.body
                except ValueError:
                    status, answer = 400, _err(400, "Bad Request: can't parse request")
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the bot was killed while we answered: Telegram does not care

        do_GET = _serve
        do_POST = _serve

    return Handler
