"""The stand-ins refuse what the Bot API documents it refuses (issue 18, Deliver 5).

Table tests of the rules in `bot/simulator/fake_api.py`: Telegram's HTML style, parameters
checked against tests/data/bot_api_methods.toml, and the documented limits. Both stand-ins
share them: the in-process FakeBotApi and the HTTP server in tests/telegram_server.py.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot.clock import VirtualClock
from bot.simulator.fake_api import (
    FakeBotApi,
    HtmlError,
    _Answer,
    _validate,
    bot_api_methods,
    parse_html,
)
from tests.telegram_server import TelegramServer

TOKEN = "123456:TEST-TOKEN"
TABLE = Path(__file__).parent / "data" / "bot_api_methods.toml"

# (HTML text, the visible text Telegram makes of it) — accepted.
ACCEPTED = [
    ("plain text", "plain text"),
    ("a &lt; b", "a < b"),
    ("a &gt; b and a > b", "a > b and a > b"),  # a bare > is plain text
    ("salt &amp; pepper", "salt & pepper"),
    ("&quot;quoted&quot;", '"quoted"'),
    ("&#60;3 and &#x3C;3", "<3 and <3"),
    ("&#128578;", "\U0001f642"),
    ("<b>bold</b> <strong>strong</strong>", "bold strong"),
    ("<i>i</i><em>em</em><u>u</u><ins>ins</ins>", "iemuins"),
    ("<s>s</s><strike>strike</strike><del>del</del>", "sstrikedel"),
    ('<span class="tg-spoiler">hidden</span>', "hidden"),
    ("<tg-spoiler>hidden</tg-spoiler>", "hidden"),
    ('<a href="https://example.org/?a=1&amp;b=2">link</a>', "link"),
    ("<a href='tg://user?id=1'>me</a>", "me"),
    ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
    ("<code>x = 1</code>", "x = 1"),
    ("<pre>block</pre>", "block"),
    ('<pre><code class="language-python">print(1)</code></pre>', "print(1)"),
    ("<blockquote>quote</blockquote>", "quote"),
    ("<blockquote expandable>long quote</blockquote>", "long quote"),
    ("<b>bold <i>both</i></b>", "bold both"),
    ("<B>upper case tag</B>", "upper case tag"),
    ("<b>a <i>b</></b>", "a b"),  # `</>` closes the innermost tag, as Telegram does
    ("<b>x</>", "x"),
    ("<b >spaced</b >", "spaced"),
    ("line\nbreak", "line\nbreak"),
    ("", ""),
]

# HTML text Telegram refuses ("Can't parse entities").
REFUSED = [
    "a < b",
    "<3",
    "x<",
    "fish & chips",
    "&nbsp;",
    "&copy; 2026",
    "&lt",  # no semicolon
    "&#0;",
    "&#xD800;",
    "<span>no class</span>",
    '<span class="other">wrong class</span>',
    "<!-- x -->",
    "<a href=x>unquoted</a>",
    "<a>no href</a>",
    '<a href="">empty href</a>',
    "<b><i></b></i>",
    "<b>unclosed",
    "</b>",
    "</>",
    "<br>",
    "<br/>",
    "<b/>",
    "<p>paragraph</p>",
    "<div>block</div>",
    "<>",
    '<b class="x">unknown attribute</b>',
    '<b title="x">unknown attribute</b>',
    "<tg-emoji>no id</tg-emoji>",
    '<code class="python">not a language</code>',
    '<code class="language-python">outside pre</code>',
    '<blockquote expandable="yes">x</blockquote>',
    '<a href="x" href="y">twice</a>',
    '<a href="unclosed>x</a>',
    "<b",
]


@pytest.mark.parametrize(("text", "visible"), ACCEPTED)
def test_html_telegram_accepts(text: str, visible: str):
    assert parse_html(text) == visible


@pytest.mark.parametrize("text", REFUSED)
def test_html_telegram_refuses(text: str):
    with pytest.raises(HtmlError):
        parse_html(text)


def test_the_html_table_is_big_enough():
    assert len(ACCEPTED) + len(REFUSED) >= 30


def test_every_template_is_html_telegram_accepts():
    # Sends go through these rules in every test; this also reaches templates few tests render.
    # Each `{{ value }}` stands in as plain text; `{% %}` branches are read one after another.
    from jinja2 import Environment

    root = Path(__file__).parents[1] / "messages" / "templates"
    env = Environment()  # noqa: S701 - reads the templates' fixed text; nothing is rendered for people
    refused = {}
    for path in sorted(root.glob("*.html")):
        parts = []
        for _line, kind, value in env.lex(path.read_text(encoding="utf-8")):
            if kind == "data":
                parts.append(value)
            elif kind == "variable_begin":
                parts.append("x")
        try:
            parse_html("".join(parts))
        except HtmlError as exc:
            refused[path.name] = str(exc)
    assert refused == {}


def test_the_bots_own_command_list_is_what_telegram_accepts():
    import handlers

    commands = [{"command": name, "description": text} for name, text in handlers.COMMANDS]
    _validate("setMyCommands", {"commands": commands})


# --- the table of methods -------------------------------------------------------------------


def test_the_table_notes_its_bot_api_version_and_parses():
    header = TABLE.read_text(encoding="utf-8").splitlines()[:3]
    assert any("Bot API 10.1" in line for line in header)
    raw = tomllib.loads(TABLE.read_text(encoding="utf-8"))
    assert {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "editMessageReplyMarkup",
        "answerCallbackQuery",
        "setMyCommands",
    } <= set(raw)
    methods = bot_api_methods()
    assert methods["sendMessage"]["chat_id"] == (("Integer", "String"), True)
    assert methods["sendMessage"]["parse_mode"] == (("String",), False)


def _refused(method: str, params: dict, files: tuple = ()) -> str:
    with pytest.raises(_Answer) as caught:
        _validate(method, params, files)
    return caught.value.body["description"]


KEYBOARD = {"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}]]}

PARAMETERS_OK = [
    ("sendMessage", {"chat_id": 1, "text": "hi"}),
    ("sendMessage", {"chat_id": "@channel", "text": "hi", "parse_mode": "HTML"}),
    ("sendMessage", {"chat_id": "1", "text": "hi", "parse_mode": "MarkdownV2"}),
    ("sendMessage", {"chat_id": 1, "text": "hi", "reply_markup": KEYBOARD}),
    ("sendMessage", {"chat_id": 1, "text": "hi", "reply_markup": json.dumps(KEYBOARD)}),
    ("sendMessage", {"chat_id": 1, "text": "hi", "reply_markup": {"remove_keyboard": True}}),
    ("sendMessage", {"chat_id": 1, "text": "hi", "disable_notification": "true"}),
    ("sendPhoto", {"chat_id": 1, "photo": {"filename": "a.png", "size": 3}}),
    ("sendPhoto", {"chat_id": 1, "photo": "AgACfileid", "caption": ""}),
    ("sendDocument", {"chat_id": 1}, ("document",)),  # an uploaded part, over HTTP
    ("answerCallbackQuery", {"callback_query_id": "42", "text": "x" * 200}),
    ("answerCallbackQuery", {"callback_query_id": "42", "show_alert": False}),
    ("editMessageReplyMarkup", {"chat_id": 1, "message_id": 2}),
    ("setMyCommands", {"commands": [{"command": "start", "description": "Begin"}]}),
    ("getUpdates", {"offset": 3, "timeout": 10, "allowed_updates": ["message"]}),
    ("getMe", {}),
]

PARAMETERS_REFUSED = [
    ("sendMessage", {"chat_id": 1, "text": "hi", "colour": "red"}, "unknown parameter"),
    (
        "sendMessage",
        {"chat_id": 1, "text": "hi", "disable_web_page_preview": True},
        "unknown parameter",
    ),
    ("editMessageReplyMarkup", {"chat_id": 1, "message_id": 2, "text": "x"}, "unknown parameter"),
    ("sendMessage", {"chat_id": 1}, "required"),
    ("sendMessage", {"text": "hi"}, "required"),
    ("sendPhoto", {"chat_id": 1}, "required"),
    ("answerCallbackQuery", {"text": "x"}, "required"),
    ("sendMessage", {"chat_id": 1.5, "text": "hi"}, "must be Integer or String"),
    ("sendMessage", {"chat_id": True, "text": "hi"}, "must be Integer or String"),
    ("sendMessage", {"chat_id": 1, "text": 5}, "must be String"),
    (
        "sendMessage",
        {"chat_id": 1, "text": "hi", "disable_notification": "maybe"},
        "must be Boolean",
    ),
    ("editMessageText", {"chat_id": 1, "message_id": "two", "text": "x"}, "must be Integer"),
    ("sendMessage", {"chat_id": 1, "text": "hi", "reply_markup": [[1]]}, "must be"),
    (
        "sendMessage",
        {"chat_id": 1, "text": "hi", "reply_markup": {"inline_keyboard": "x"}},
        "must be",
    ),
    (
        "editMessageReplyMarkup",
        {"chat_id": 1, "message_id": 2, "reply_markup": {"remove_keyboard": True}},
        "must be",
    ),
    ("getUpdates", {"allowed_updates": "message"}, "must be Array of String"),
    ("setMyCommands", {"commands": {"command": "start"}}, "must be Array of BotCommand"),
    ("sendMessage", {"chat_id": 1, "text": "hi", "parse_mode": "html5"}, "parse_mode"),
    ("sendMessage", {"chat_id": 1, "text": "hi", "parse_mode": "Markdown2"}, "parse_mode"),
    ("sendSticker", {"chat_id": 1, "sticker": "x"}, "Not Found"),
]


@pytest.mark.parametrize("case", PARAMETERS_OK, ids=lambda case: case[0])
def test_parameters_accepted(case: tuple):
    method, params, *files = case
    _validate(method, params, files[0] if files else ())


@pytest.mark.parametrize(("method", "params", "why"), PARAMETERS_REFUSED)
def test_parameters_refused(method: str, params: dict, why: str):
    assert why in _refused(method, params)


# --- the documented limits ------------------------------------------------------------------


def _button(**fields) -> dict:
    return {
        "chat_id": 1,
        "text": "hi",
        "reply_markup": {"inline_keyboard": [[{"text": "B", **fields}]]},
    }


def _commands(*pairs: tuple[str, str]) -> dict:
    return {"commands": [{"command": c, "description": d} for c, d in pairs]}


LIMITS_OK = [
    ("sendMessage", {"chat_id": 1, "text": "x" * 4096}),
    ("sendMessage", {"chat_id": 1, "text": "<b>" + "x" * 4096 + "</b>", "parse_mode": "HTML"}),
    ("sendMessage", {"chat_id": 1, "text": "&lt;" * 4096, "parse_mode": "HTML"}),
    ("sendPhoto", {"chat_id": 1, "photo": "id", "caption": "x" * 1024}),
    ("sendMessage", _button(callback_data="x" * 64)),
    ("sendMessage", _button(url="https://example.org")),
    ("answerCallbackQuery", {"callback_query_id": "1", "text": ""}),
    ("setMyCommands", _commands(("a" * 32, "d" * 256), ("check_in2", "x"))),
    ("setMyCommands", _commands(*[(f"c{n}", "d") for n in range(100)])),
]

LIMITS_REFUSED = [
    ("sendMessage", {"chat_id": 1, "text": "x" * 4097}, "message is too long"),
    ("sendMessage", {"chat_id": 1, "text": "🙂" * 2049}, "message is too long"),  # UTF-16
    ("sendMessage", {"chat_id": 1, "text": ""}, "message text is empty"),
    (
        "sendMessage",
        {"chat_id": 1, "text": "<b> </b>", "parse_mode": "HTML"},
        "message text is empty",
    ),
    ("sendPhoto", {"chat_id": 1, "photo": "id", "caption": "x" * 1025}, "caption is too long"),
    ("sendMessage", _button(callback_data="x" * 65), "BUTTON_DATA_INVALID"),
    ("sendMessage", _button(callback_data="é" * 33), "BUTTON_DATA_INVALID"),  # 66 bytes
    ("sendMessage", _button(callback_data=""), "BUTTON_DATA_INVALID"),
    ("sendMessage", _button(), "exactly one action"),
    ("sendMessage", _button(callback_data="x", url="https://example.org"), "exactly one action"),
    ("answerCallbackQuery", {"callback_query_id": "1", "text": "x" * 201}, "MESSAGE_TOO_LONG"),
    ("setMyCommands", _commands(("", "d")), "BOT_COMMAND_INVALID"),
    ("setMyCommands", _commands(("a" * 33, "d")), "BOT_COMMAND_INVALID"),
    ("setMyCommands", _commands(("Start", "d")), "BOT_COMMAND_INVALID"),
    ("setMyCommands", _commands(("check-in", "d")), "BOT_COMMAND_INVALID"),
    ("setMyCommands", _commands(("/start", "d")), "BOT_COMMAND_INVALID"),
    ("setMyCommands", _commands(("start", "")), "BOT_COMMAND_DESCRIPTION_INVALID"),
    ("setMyCommands", _commands(("start", "d" * 257)), "BOT_COMMAND_DESCRIPTION_INVALID"),
    ("setMyCommands", _commands(*[(f"c{n}", "d") for n in range(101)]), "too many commands"),
]


@pytest.mark.parametrize("case", LIMITS_OK, ids=lambda case: case[0])
def test_limits_accepted(case: tuple):
    _validate(*case)


@pytest.mark.parametrize(("method", "params", "why"), LIMITS_REFUSED)
def test_limits_refused(method: str, params: dict, why: str):
    assert why in _refused(method, params)


# --- through PTB: the in-process fake and the HTTP stand-in answer alike ---------------------


async def test_in_process_fake_refuses_through_ptb():
    fake = FakeBotApi(VirtualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC)))
    bot = Bot(token=TOKEN, request=fake, get_updates_request=fake)
    await bot.initialize()
    try:
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(1, "a < b", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)unsupported parse_mode"):
            await bot.send_message(1, "hi", parse_mode="Markdown3")
        with pytest.raises(BadRequest, match=r"(?i)unknown parameter"):
            await bot.send_message(1, "hi", api_kwargs={"colour": "red"})
        with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
            await bot.set_my_commands([BotCommand("Check-In", "Log a day")])
        with pytest.raises(BadRequest, match=r"(?i)exactly one action"):
            await bot.send_message(
                1,
                "hi",
                reply_markup=InlineKeyboardMarkup(
                    [[InlineKeyboardButton("B", callback_data="x", url="https://example.org")]]
                ),
            )
        with pytest.raises(BadRequest, match=r"(?i)MESSAGE_TOO_LONG"):
            await bot.answer_callback_query("1", text="x" * 201)
        assert fake.sent == []
        assert [c.outcome for c in fake.calls[-6:]] == ["400"] * 6
        sent = await bot.send_message(1, "<b>fine</b> &amp; well", parse_mode="HTML")
        assert sent.message_id == 1
    finally:
        await bot.shutdown()


def _post(server: TelegramServer, method: str, body: dict) -> tuple[int, dict]:
    answer = httpx.post(
        f"{server.base_url}{server.token}/{method}", json=body, timeout=10, trust_env=False
    )
    return answer.status_code, answer.json()


@pytest.mark.parametrize(
    ("method", "body", "why"),
    [
        ("sendMessage", {"chat_id": 1, "text": "a < b", "parse_mode": "HTML"}, "parse entities"),
        ("sendMessage", {"chat_id": 1, "text": "hi", "colour": "red"}, "unknown parameter"),
        ("sendMessage", {"chat_id": 1, "text": "hi", "parse_mode": "xml"}, "parse_mode"),
        ("sendMessage", {"chat_id": 1, "text": 7}, "must be String"),
        (
            "sendMessage",
            {"chat_id": 1, "text": "hi", "reply_markup": {"inline_keyboard": [[{"text": "B"}]]}},
            "exactly one action",
        ),
        ("answerCallbackQuery", {"callback_query_id": "1", "text": "x" * 201}, "MESSAGE_TOO_LONG"),
        (
            "setMyCommands",
            {"commands": [{"command": "start", "description": ""}]},
            "BOT_COMMAND_DESCRIPTION_INVALID",
        ),
        ("editMessageText", {"chat_id": 1, "message_id": 1}, "text is empty"),
    ],
)
def test_http_stand_in_applies_the_same_rules(method: str, body: dict, why: str):
    with TelegramServer() as server:
        status, answer = _post(server, method, body)
        assert status == 400, answer
        assert why in answer["description"]
        assert (
            _post(server, "sendMessage", {"chat_id": 1, "text": "<i>ok</i>", "parse_mode": "HTML"})[
                0
            ]
            == 200
        )


def test_every_lesson_as_sent_is_html_telegram_accepts():
    # Lessons are HTML marked safe in lesson.html; render each the way jobs/compose.py does.
    from markupsafe import escape

    from bot.course import default_course
    from messages import render

    course = default_course()
    for lesson in course:
        shown = lesson.render(name=escape("Ann <&> O'Brien"), emergency_number="999 or 112")
        text = render("lesson", lesson=shown, total=len(course))
        _validate("sendMessage", {"chat_id": 1, "text": text, "parse_mode": "HTML"})
        if shown.check is not None:
            for feedback in (shown.check.right, shown.check.wrong):
                _validate(
                    "sendMessage",
                    {
                        "chat_id": 1,
                        "parse_mode": "HTML",
                        "text": render("lesson_check", feedback=feedback),
                    },
                )
        for data in (
            f"l:t:{lesson.id}:1",
            f"l:h:{lesson.id}",
            f"l:n:{lesson.id}",
            f"l:x:{lesson.id}",
        ):
            _validate(
                "sendMessage",
                {
                    "chat_id": 1,
                    "text": "x",
                    "reply_markup": {"inline_keyboard": [[{"text": "B", "callback_data": data}]]},
                },
            )
