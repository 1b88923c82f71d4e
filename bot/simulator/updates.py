"""Builders of real-shaped incoming updates (Bot API dicts turned into telegram.Update)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from telegram import Bot, Update

if TYPE_CHECKING:
    from bot.clock import Clock

# Incoming message ids start high so they never collide with the ids FakeBotApi hands out
# (from 1) for the bot's own messages in the same chat.
_FIRST_INCOMING_ID = 1_000_001


def _utf16_len(text: str) -> int:
    # Telegram measures entity offsets/lengths in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _file_ids(kind: str, n: int) -> tuple[str, str]:
    digest = hashlib.sha1(f"in:{kind}:{n}".encode(), usedforsecurity=False).hexdigest()
    return f"BQAC{digest[:40]}", f"AgAD{digest[40:]}"


class UpdateFactory:
    """Makes Update objects as Telegram would deliver them to `bot`."""

    def __init__(self, bot: Bot, clock: Clock):
        self.bot = bot
        self.clock = clock
        self._me: dict | None = None  # the bot's own user, once known (getMe does not change)
        self._update_id = 0
        self._message_ids: dict[int, int] = {}
        self._callback_id = 0

    # --- builders ----------------------------------------------------------------------

    def text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Ana",
        language_code: str = "en",
    ) -> Update:
        user = self._user(user_id, first_name, language_code)
        chat = self._chat(user_id if chat_id is None else chat_id, chat_type, first_name)
        message = self._message(chat, user)
        message["text"] = text
        _add_command_entity(message, text)
        return self._update(message=message)

    def callback(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int,
        chat_id: int | None = None,
        message_text: str = "",
    ) -> Update:
        chat_id = user_id if chat_id is None else chat_id
        chat = self._chat(chat_id, "private" if chat_id > 0 else "group", "Ana")
        origin: dict[str, Any] = {
            "message_id": message_id,
            "date": self._now(),
            "chat": chat,
            "from": self._bot_user(),
        }
        if message_text:  # the real API never delivers an empty text
            origin["text"] = message_text
        self._callback_id += 1
        query = {
            "id": f"{self._bot_user()['id']}{self._callback_id:06d}",
            "from": self._user(user_id, "Ana", "en"),
            # Stable per chat, like Telegram's; hashlib because hash() is salted per process.
            "chat_instance": str(
                int(
                    hashlib.sha1(f"chat:{chat_id}".encode(), usedforsecurity=False).hexdigest()[
                        :15
                    ],
                    16,
                )
            ),
            "data": data,
            "message": origin,
        }
        return self._update(callback_query=query)

    def sticker(self, user_id: int) -> Update:
        message = self._private_message(user_id)
        file_id, unique_id = _file_ids("sticker", message["message_id"])
        message["sticker"] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "\U0001f44d",
            "file_size": 24000,
        }
        return self._update(message=message)

    def photo(self, user_id: int, caption: str | None = None) -> Update:
        message = self._private_message(user_id)
        if caption:
            message["caption"] = caption
        file_id, unique_id = _file_ids("photo", message["message_id"])
        message["photo"] = [
            {
                "file_id": f"{file_id}{suffix}",
                "file_unique_id": f"{unique_id}{suffix}",
                "width": side,
                "height": side * 3 // 4,
                "file_size": side * 60,
            }
            for suffix, side in (("s", 90), ("m", 320), ("x", 800), ("y", 1280))
        ]
        return self._update(message=message)

    def voice(self, user_id: int) -> Update:
        message = self._private_message(user_id)
        file_id, unique_id = _file_ids("voice", message["message_id"])
        message["voice"] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "duration": 3,
            "mime_type": "audio/ogg",
            "file_size": 9000,
        }
        return self._update(message=message)

    def location(self, user_id: int, latitude: float, longitude: float) -> Update:
        message = self._private_message(user_id)
        message["location"] = {"latitude": latitude, "longitude": longitude}
        return self._update(message=message)

    def edited_text(self, user_id: int, text: str, *, message_id: int) -> Update:
        user = self._user(user_id, "Ana", "en")
        message = {
            "message_id": message_id,
            "date": self._now(),
            "edit_date": self._now(),
            "chat": self._chat(user_id, "private", "Ana"),
            "from": user,
            "text": text,
        }
        _add_command_entity(message, text)
        return self._update(edited_message=message)

    def channel_post(self, chat_id: int, text: str) -> Update:
        chat = self._chat(chat_id, "channel", "")
        # Channel posts have no `from`; the channel itself is the sender.
        message = {
            "message_id": self._next_message_id(chat_id),
            "date": self._now(),
            "chat": chat,
            "sender_chat": chat,
            "text": text,
        }
        _add_command_entity(message, text)
        return self._update(channel_post=message)

    # --- helpers -----------------------------------------------------------------------

    def _update(self, **payload: Any) -> Update:
        self._update_id += 1
        update = Update.de_json({"update_id": self._update_id, **payload}, self.bot)
        assert update is not None
        return update

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, _FIRST_INCOMING_ID - 1) + 1
        return self._message_ids[chat_id]

    def _user(self, user_id: int, first_name: str, language_code: str) -> dict:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }

    def _chat(self, chat_id: int, chat_type: str, first_name: str) -> dict:
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": first_name}
        titles = {"group": "Back Pain Group", "supergroup": "Back Pain Group"}
        return {"id": chat_id, "type": chat_type, "title": titles.get(chat_type, "Back Pain News")}

    def _message(self, chat: dict, user: dict) -> dict:
        return {
            "message_id": self._next_message_id(chat["id"]),
            "date": self._now(),
            "chat": chat,
            "from": user,
        }

    def _private_message(self, user_id: int) -> dict:
        user = self._user(user_id, "Ana", "en")
        return self._message(self._chat(user_id, "private", "Ana"), user)

    def _bot_user(self) -> dict:
        if self._me is not None:
            return dict(self._me)
        try:
            self._me = self.bot.bot.to_dict()
            return dict(self._me)
        except RuntimeError:
            # Not initialized yet (no getMe): fall back to what the token tells us.
            return {
                "id": int(self.bot.token.split(":", 1)[0]),
                "is_bot": True,
                "first_name": "Back Pain Companion",
                "username": "BackPainCompanionBot",
            }


def _add_command_entity(message: dict, text: str) -> None:
    # Telegram marks a leading "/command" (incl. "@botname") so CommandHandler matches.
    command = text.split(maxsplit=1)[0] if text.startswith("/") else ""
    if len(command) < 2:
        return
    message["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
