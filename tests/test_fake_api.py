"""The fake Bot API, driven through a real telegram.Bot / Application."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.warnings import PTBDeprecationWarning

from bot.clock import VirtualClock
from bot.simulator.fake_api import FakeBotApi
from bot.simulator.updates import UpdateFactory

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TOKEN = "123456:TEST-TOKEN"
# RetryAfter/Voice read their int-or-timedelta attributes inside PTB itself, which warns.
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22.2+ warns on .retry_after and returns int (or timedelta with PTB_TIMEDELTA=1).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def fake(clock: VirtualClock) -> FakeBotApi:
    return FakeBotApi(clock)


@pytest.fixture
async def bot(fake: FakeBotApi):
    bot = Bot(token=TOKEN, request=fake, get_updates_request=fake)
    await bot.initialize()
    yield bot
    await bot.shutdown()


async def make_bot(fake: FakeBotApi) -> Bot:
    bot = Bot(token=TOKEN, request=fake, get_updates_request=fake)
    await bot.initialize()
    return bot


# --- basics ------------------------------------------------------------------------------


async def test_get_me_gives_the_bot_user(bot: Bot, fake: FakeBotApi):
    assert bot.username == "BackPainCompanionBot"
    assert bot.id == 700000001
    assert bot.bot.is_bot and bot.bot.can_join_groups is False
    assert [c.method for c in fake.calls] == ["getMe"]
    assert fake.calls[0].outcome == "ok"


async def test_send_message_ids_increase_per_chat_and_date_is_clock(
    bot: Bot, fake: FakeBotApi, clock: VirtualClock
):
    first = await bot.send_message(1001, "hello")
    clock.advance(timedelta(minutes=5))
    second = await bot.send_message(1001, "again")
    other = await bot.send_message(2002, "hi")

    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.date == START
    assert second.date == START + timedelta(minutes=5)
    assert first.chat.id == 1001 and first.chat.type == "private"
    assert first.from_user.id == bot.id and first.text == "hello"
    assert [s.text for s in fake.sent_to(1001)] == ["hello", "again"]
    assert fake.sent_to(2002)[0].at == START + timedelta(minutes=5)
    assert fake.sent[0].params == {"chat_id": 1001, "text": "hello"}


async def test_string_params_stay_strings(bot: Bot, fake: FakeBotApi):
    await bot.send_message(1001, "123")
    assert fake.sent[0].text == "123"
    assert fake.calls[-1].params["text"] == "123"


async def test_reply_markup_round_trips(bot: Bot, fake: FakeBotApi):
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Better", callback_data="pain:better")],
            [
                InlineKeyboardButton("Same", callback_data="pain:same"),
                InlineKeyboardButton("Worse", callback_data="pain:worse"),
            ],
        ]
    )
    message = await bot.send_message(1001, "How is your back?", reply_markup=markup)

    assert message.reply_markup == markup
    assert fake.sent[0].buttons == [
        [("Better", "pain:better")],
        [("Same", "pain:same"), ("Worse", "pain:worse")],
    ]
    assert isinstance(fake.calls[-1].params["reply_markup"], dict)


async def test_edits_are_calls_not_sends(bot: Bot, fake: FakeBotApi, clock: VirtualClock):
    sent = await bot.send_message(1001, "How is your back?")
    clock.advance(timedelta(seconds=30))
    edited = await bot.edit_message_text("Thanks!", chat_id=1001, message_id=sent.message_id)
    again = await bot.edit_message_reply_markup(chat_id=1001, message_id=sent.message_id)

    assert edited.message_id == sent.message_id and edited.text == "Thanks!"
    assert edited.edit_date == START + timedelta(seconds=30)
    assert again.text == "Thanks!"
    assert len(fake.sent) == 1
    assert [c.method for c in fake.calls][-2:] == ["editMessageText", "editMessageReplyMarkup"]


async def test_true_methods(bot: Bot, fake: FakeBotApi):
    assert await bot.send_chat_action(1001, "typing") is True
    assert await bot.delete_message(1001, 1) is True
    assert await bot.set_my_commands([("start", "Start")]) is True
    assert await bot.get_updates() == ()
    assert fake.sent == []


async def test_empty_text_is_a_bad_request(bot: Bot, fake: FakeBotApi):
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(1001, "")
    assert fake.sent == [] and fake.calls[-1].outcome == "400"


# --- faults ------------------------------------------------------------------------------


async def test_429_raises_retry_after_and_sends_nothing(bot: Bot, fake: FakeBotApi):
    fake.fail_next("429", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(1001, "hello")

    assert retry_after_seconds(caught.value) == 7
    assert fake.sent == []
    assert fake.calls[-1].method == "sendMessage" and fake.calls[-1].outcome == "429"
    # One-shot: the retry goes through, and the failed call used no message id.
    assert (await bot.send_message(1001, "hello")).message_id == 1


async def test_block_gives_forbidden_until_unblocked(bot: Bot, fake: FakeBotApi):
    fake.block(1001)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(1001, "hello")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(1001, "typing")
    await bot.send_message(2002, "others still get it")
    fake.unblock(1001)
    await bot.send_message(1001, "back")

    assert [(s.chat_id, s.text) for s in fake.sent] == [
        (2002, "others still get it"),
        (1001, "back"),
    ]
    assert [c.outcome for c in fake.calls[1:3]] == ["403", "403"]


async def test_timeout_raises_timed_out(bot: Bot, fake: FakeBotApi):
    fake.fail_next("timeout")
    with pytest.raises(TimedOut):
        await bot.send_message(1001, "hello")
    assert fake.sent == [] and fake.calls[-1].outcome == "timeout"


@pytest.mark.parametrize("kind", ["5xx", "502"])
async def test_server_errors_raise_plain_network_error(bot: Bot, fake: FakeBotApi, kind: str):
    fake.fail_next(kind)
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(1001, "hello")
    # PTB maps every 5xx to NetworkError itself, not to a subclass such as TimedOut.
    assert type(caught.value) is NetworkError
    assert fake.sent == [] and fake.calls[-1].outcome == "5xx"


async def test_400_raises_bad_request(bot: Bot, fake: FakeBotApi):
    fake.fail_next("400")
    # PTB drops the "Bad Request: " prefix and capitalises the rest: "Chat not found".
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(1001, "hello")
    assert fake.calls[-1].outcome == "400"


async def test_faults_match_method_and_chat(bot: Bot, fake: FakeBotApi):
    fake.fail_next("403", method="sendMessage", chat_id=2002, times=2)
    await bot.send_chat_action(2002, "typing")  # other method: untouched
    await bot.send_message(1001, "fine")  # other chat: untouched
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(2002, "nope")
    await bot.send_message(2002, "fault used up")

    assert [s.text for s in fake.sent] == ["fine", "fault used up"]


def test_fail_next_rejects_unknown_kinds(fake: FakeBotApi):
    with pytest.raises(ValueError):
        fake.fail_next("418")


# --- rate limits -------------------------------------------------------------------------


async def test_per_chat_rate_limit(clock: VirtualClock):
    fake = FakeBotApi(clock, per_chat_per_second=1)
    bot = await make_bot(fake)
    await bot.send_message(1001, "one")
    clock.advance(timedelta(milliseconds=400))
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(1001, "two")
    assert retry_after_seconds(caught.value) == 1
    await bot.send_message(2002, "another chat is fine")
    clock.advance(timedelta(seconds=1))
    await bot.send_message(1001, "two")

    assert [s.text for s in fake.sent_to(1001)] == ["one", "two"]
    assert [c.outcome for c in fake.calls if c.method == "sendMessage"] == [
        "ok",
        "429",
        "ok",
        "ok",
    ]


async def test_overall_rate_limit(clock: VirtualClock):
    fake = FakeBotApi(clock, overall_per_second=30)
    bot = await make_bot(fake)
    refused = 0
    for chat in range(31):
        try:
            await bot.send_message(5000 + chat, "daily check-in")
        except RetryAfter as exc:
            refused += 1
            assert retry_after_seconds(exc) >= 1
    assert len(fake.sent) == 30 and refused == 1
    # Edits are not sends and are never throttled.
    await bot.edit_message_text("edited", chat_id=5000, message_id=1)
    clock.advance(timedelta(seconds=1))
    await bot.send_message(5030, "daily check-in")
    assert len(fake.sent) == 31


async def test_slow_rate_uses_a_longer_window(clock: VirtualClock):
    fake = FakeBotApi(clock, per_chat_per_second=1 / 3)  # Telegram's 20 per minute in groups
    bot = await make_bot(fake)
    await bot.send_message(-1001, "one")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(-1001, "two")
    assert retry_after_seconds(caught.value) == 3


# --- files -------------------------------------------------------------------------------


async def test_send_photo_records_size_and_keeps_bytes(bot: Bot, fake: FakeBotApi):
    message = await bot.send_photo(1001, PNG, caption="Your week", filename="week.png")

    assert message.caption == "Your week" and message.photo
    assert message.photo[-1].file_id
    sent = fake.sent[0]
    assert (sent.method, sent.text, sent.message_id) == ("sendPhoto", "Your week", 1)
    assert sent.params["photo"] == {"filename": "week.png", "size": len(PNG)}
    assert sent.params["_bytes"].startswith(b"\x89PNG")
    assert "_bytes" not in fake.calls[-1].params


async def test_send_document_csv(bot: Bot, fake: FakeBotApi):
    csv = b"date,pain\n2026-03-02,4\n"
    message = await bot.send_document(1001, csv, filename="pain.csv")

    assert message.document.file_name == "pain.csv"
    assert message.document.mime_type == "text/csv"
    assert message.document.file_size == len(csv)
    assert fake.sent[0].params["_bytes"] == csv
    assert fake.sent[0].text == ""


# --- updates -----------------------------------------------------------------------------


async def test_text_update_private_and_command_entity(bot: Bot, clock: VirtualClock):
    factory = UpdateFactory(bot, clock)
    update = factory.text(1001, "/start abc")

    assert isinstance(update, Update) and update.update_id == 1
    assert update.effective_user.id == 1001 and update.effective_user.first_name == "Ana"
    assert update.effective_chat.id == 1001 and update.effective_chat.type == "private"
    message = update.effective_message
    assert message.text == "/start abc" and message.date == START
    assert message.entities == (MessageEntity("bot_command", 0, 6),)
    assert message.parse_entities() == {message.entities[0]: "/start"}

    plain = factory.text(1001, "my back hurts")
    assert plain.update_id == 2 and not plain.effective_message.entities
    assert plain.effective_message.message_id == message.message_id + 1


async def test_text_update_in_a_group(bot: Bot, clock: VirtualClock):
    update = UpdateFactory(bot, clock).text(
        1001, "/help@BackPainCompanionBot", chat_id=-100123, chat_type="supergroup"
    )
    assert update.effective_chat.id == -100123
    assert update.effective_chat.type == "supergroup" and update.effective_chat.title
    assert update.effective_user.id == 1001
    assert update.effective_message.entities[0].length == len("/help@BackPainCompanionBot")


async def test_callback_update(bot: Bot, clock: VirtualClock):
    update = UpdateFactory(bot, clock).callback(
        1001, "pain:better", message_id=3, message_text="How is your back?"
    )
    query = update.callback_query
    assert query.data == "pain:better" and query.from_user.id == 1001
    assert update.effective_user.id == 1001 and update.effective_chat.id == 1001
    assert update.effective_message.message_id == 3
    assert update.effective_message.from_user.id == bot.id
    assert update.effective_message.text == "How is your back?"


async def test_media_and_other_updates(bot: Bot, clock: VirtualClock):
    factory = UpdateFactory(bot, clock)

    assert factory.sticker(1001).effective_message.sticker.emoji
    assert factory.photo(1001).effective_message.photo[-1].width == 1280
    assert factory.voice(1001).effective_message.voice.duration in (3, timedelta(seconds=3))
    location = factory.location(1001, 52.52, 13.405).effective_message.location
    assert (location.latitude, location.longitude) == (52.52, 13.405)

    edited = factory.edited_text(1001, "typo fixed", message_id=1000005)
    assert edited.edited_message.message_id == 1000005
    assert edited.effective_message.text == "typo fixed"
    assert edited.effective_user.id == 1001

    post = factory.channel_post(-1009999, "news")
    assert post.channel_post.text == "news" and post.effective_chat.type == "channel"
    assert post.effective_user is None
    assert post.update_id == 6


# --- a real Application ------------------------------------------------------------------


async def test_application_command_handler_replies(fake: FakeBotApi, clock: VirtualClock):
    app = ApplicationBuilder().token(TOKEN).request(fake).get_updates_request(fake).build()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(f"Welcome! args={context.args}")

    app.add_handler(CommandHandler("start", start))
    await app.initialize()
    try:
        factory = UpdateFactory(app.bot, clock)
        await app.process_update(factory.text(1001, "/start abc"))
        await app.process_update(factory.text(1001, "/start@OtherBot"))  # not for us
    finally:
        await app.shutdown()

    assert [(s.chat_id, s.text) for s in fake.sent] == [(1001, "Welcome! args=['abc']")]
