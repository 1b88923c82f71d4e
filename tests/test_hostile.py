"""Hostile and odd input through the real Application (hypothesis).

Random text and unicode, 4096-character messages, commands known and unknown, edited messages,
group and channel updates, callback data of every shape. For each: no unhandled exception (the
error handler in handlers/errors.py is never reached), a reply in a private chat whenever the
person wrote or tapped something, and nothing stored that the input did not legitimately mean
(no check-in from text that is not a rating, no patient from a stranger, no sitting break or
lesson feedback from forged data).

One database and Application serve all examples of a test; the database is put back to the
same snapshot (SQLite's backup API) after each example, so examples are independent.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot.clock import VirtualClock
from bot.rules.parsing import Rating, parse_rating
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import checkins, consents
from storage.db import open_database
from tests.conftest import START, Harness

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

ANA, BEN, STRANGER, NEWCOMER = 1001, 1002, 5555, 1003
GROUP = -1001234567
CHANNEL = -1009876543
# Tables a stranger or nonsense must never add to.
HEALTH_TABLES = (
    "patients",
    "consents",
    "checkins",
    "activities",
    "sitting_breaks",
    "lessons_sent",
    "sitting_off",
)

EDGE_TEXTS = [
    "7",
    "７",
    "٧",
    "७",
    "7️⃣",
    "🔟",
    "²",
    "①",
    "7/10",
    "10/10",
    "11",
    "-0",
    "-1",
    "0x7",
    "1e1",
    "NaN",
    "inf",
    "7.5",
    "7,5",
    "6-7",
    "seven",
    "SEVEN",
    "not 7",
    "<7",
    "7 <b>",
    "<b>7</b>",
    "&amp;",
    "&#0;",
    "&lt;script&gt;",
    "\u200b7",
    "\u202e7",
    "\x00",
    "\ufeff7",
    " \t\n7\n ",
    "7" * 4096,
    "🙂" * 2048,
    "a" * 4096,
    "<" * 4096,
    "&" * 4096,
    "/start",
    "/start@BackPainCompanionBot",
    "/start@SomeOtherBot",
    "/checkin extra words",
    "/CHECKIN",
    "/ checkin",
    "//",
    "/",
    "/dance",
    "/help " + "x" * 4000,
    "/" + "a" * 64,
    "/курс",
    "/start 7",
    "/delete",
    "/mydata",
    "/urgent",
    "/withdraw",
    "yes",
    "no",
    "done",
    "Europe/Berlin",
    "berlin",
    "08:00",
    "22:00-07:00",
    "30",
    "walk",
    "my " + "very " * 10 + "long walk",
    "x" * 41,
    "🧘",
    "tai-chi",
    "/leave",
    "/cohorts",
    "/cohort_new",
    "/cohort_new " + "x" * 100,
    "/cohort 1",
    "/cohort ١",
    "/export 99999999999999999999",
    "/cohort_set 1 threshold flare_tolerance NaN",
    "/cohort_set 1 start 2026-02-30",
    "/start co_x",
    "/start cl_" + "a" * 100,
    "/start co_",
]

texts = st.one_of(
    st.sampled_from(EDGE_TEXTS),
    st.text(min_size=1, max_size=80),
    st.text(min_size=1, max_size=4096),
    st.builds(
        lambda chunk, n: (chunk * n)[:4096], st.text(min_size=1, max_size=8), st.integers(1, 4096)
    ),
    st.from_regex(r"/[A-Za-z0-9_]{1,40}(@[A-Za-z0-9_]{1,32})?( [^\n]{0,50})?", fullmatch=True),
).filter(lambda t: t.strip())  # Telegram never delivers an empty message

_parts = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "0",
            "00",
            "007",
            "10",
            "11",
            "1" * 13,
            "done",
            "snooze",
            "off",
            "h",
            "n",
            "x",
            "r",
            "c",
            "t",
            "m",
            "d",
            "a",
            "keep",
            "stop",
            "mwf",
            "tts",
            "0800",
            "2000",
            "go",
            "yes",
            "no",
            "seen",
            "walk",
            "Europe/Berlin",
            "2200-0700",
            "e",
            "l",
            "la",
            "lm",
            "lw",
            "b",
            "s",
            "emergency",
            "soon",
            "sum",
            "dose",
            "dm",
            "i",
            "sun1800",
            "1",
            "2",
        ]
    ),
)
callback_data = st.one_of(
    st.builds(
        lambda head, rest: ":".join([head, *rest]),
        st.sampled_from(
            [
                "c",
                "s",
                "l",
                "o",
                "x",
                "",
                "C",
                "c ",
                "ç",
                "a",
                "r",
                "n",
                "u",
                "set",
                "cg",
                "cgj",
                "cgz",
                "del",
                "coj",
                "clj",
                "lv",
                "w",
            ]
        ),
        st.lists(_parts, max_size=4),
    ),
    st.text(max_size=64),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    st.text(min_size=65, max_size=300),
)


class World:
    """Ana has an open check-in, a sitting nudge and a lesson; Ben has answered today's."""

    def __init__(self, tmp_path):
        self.loop = asyncio.new_event_loop()
        self.path = tmp_path / "hostile.sqlite3"
        self.clock = VirtualClock(START)
        self.db = open_database(self.path)
        self.h = Harness(self.clock, self.db, self.path)
        self.errors: list[BaseException] = []

        async def record(update, context) -> None:
            self.errors.append(context.error)

        self.h.app.add_error_handler(record)
        self.run(self.h.start())
        h = self.h
        self.ana = h.add_patient(
            ANA,
            sitting_days="mon,tue,wed,thu,fri",
            sitting_from="08:30",
            sitting_to="17:00",
            course_start="2026-03-02",
        )
        self.ben = h.add_patient(BEN, first_name="Ben", course_start="2026-03-02")
        plan_all(h.rt)
        self.clock.set(self.clock.now().replace(day=3, hour=7, minute=0))  # Tue 08:00 Berlin
        self.run(dispatch_due(h.rt))
        self.question = self._last_row(ANA, "checkin")
        ben_q = self._last_row(BEN, "checkin")
        self.run(h.tap(BEN, f"c:{ben_q}:3"))
        self.clock.set(self.clock.now().replace(hour=8, minute=1))  # 09:01: a sitting nudge is due
        self.run(dispatch_due(h.rt))
        self.nudge = self._last_row(ANA, "sitting")
        self.run(h.send_text(ANA, "/course"))
        lesson = self.db.execute(
            "SELECT id FROM outbox WHERE kind = 'lesson' AND patient_id = ? "
            "ORDER BY due_at LIMIT 1",
            [self.ana],
        ).fetchone()[0]
        self.db.execute(
            "UPDATE outbox SET due_at = ? WHERE id = ?",
            [self.clock.now().isoformat(timespec="seconds"), lesson],
        )
        self.run(dispatch_due(h.rt))
        self.lesson_id = self.db.execute("SELECT lesson_id FROM lessons_sent").fetchone()[0]
        assert checkins.awaiting(self.db, self.ana) is not None and self.nudge and self.question
        assert self.errors == []
        self.snapshot = sqlite3.connect(":memory:")
        self.db.conn.backup(self.snapshot)

    def _last_row(self, chat_id: int, kind: str) -> int:
        return self.db.execute(
            "SELECT max(id) FROM outbox WHERE chat_id = ? AND kind = ? AND status = 'sent'",
            [chat_id, kind],
        ).fetchone()[0]

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def reset(self) -> None:
        self.snapshot.backup(self.db.conn)

    def counts(self) -> dict[str, int]:
        return {
            t: self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in HEALTH_TABLES
        }

    def ratings(self, patient_id: int) -> list:
        return [
            tuple(r)
            for r in self.db.execute(
                "SELECT local_date, pain FROM checkins WHERE patient_id = ? ORDER BY local_date",
                [patient_id],
            )
        ]

    def process(self, update) -> list:
        """Feed one update; returns the messages sent because of it."""
        before = len(self.h.api.sent)
        self.run(self.h.app.process_update(update))
        assert self.errors == [], f"the error handler was reached: {self.errors[0]!r}"
        return self.h.api.sent[before:]

    def close(self) -> None:
        self.run(self.h.stop())
        self.loop.close()
        self.snapshot.close()
        self.db.close()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def replies_to(sent, chat_id):
    return [s for s in sent if s.chat_id == chat_id]


@SETTINGS
@given(text=texts)
def test_any_text_from_a_patient_with_an_open_checkin(world, text):
    world.reset()
    before = world.counts()
    sent = world.process(world.h.updates.text(ANA, text))
    assert len(replies_to(sent, ANA)) >= 1, "she wrote, the bot stayed silent"
    parsed = parse_rating(text)
    stored = world.ratings(world.ana)
    if isinstance(parsed, Rating) and not text.lstrip().startswith("/"):
        assert stored == [("2026-03-03", parsed.value)]
        assert f"{parsed.value}/10" in sent[-1].text
    else:
        assert stored == [], f"{text!r} is not a rating, yet {stored} was stored"
    after = world.counts()
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} in (
        {},
        {"checkins": 1},
    )


@SETTINGS
@given(text=texts)
def test_any_text_from_a_stranger_or_a_patient_with_nothing_open(world, text):
    world.reset()
    before = world.counts()
    for user in (STRANGER, BEN):
        sent = world.process(world.h.updates.text(user, text, first_name="Zed"))
        assert len(replies_to(sent, user)) >= 1
    assert world.counts() == before  # a stranger's /start only opens onboarding, no health row
    assert world.ratings(world.ben) == [("2026-03-03", 3)]


@SETTINGS
@given(text=texts, chat=st.sampled_from([(GROUP, "group"), (GROUP, "supergroup")]))
def test_group_messages_get_a_pointer_to_private_chat_and_store_nothing(world, text, chat):
    world.reset()
    before = world.counts()
    sent = world.process(world.h.updates.text(ANA, text, chat_id=chat[0], chat_type=chat[1]))
    assert all(s.chat_id == chat[0] for s in sent)
    assert len(sent) == 1 and "private" in sent[0].text
    assert world.counts() == before and world.ratings(world.ana) == []


@SETTINGS
@given(text=texts)
def test_channel_posts_and_edits_are_ignored_quietly(world, text):
    world.reset()
    before = world.counts()
    assert world.process(world.h.updates.channel_post(CHANNEL, text)) == []
    edited = world.process(world.h.updates.edited_text(ANA, text, message_id=1_000_001))
    assert all(s.chat_id == ANA for s in edited)
    # An edit is never read as a (new) rating; edited commands may run again, nothing more.
    assert world.ratings(world.ana) == [] and world.counts() == before


@SETTINGS
@given(
    data=callback_data,
    who=st.sampled_from([ANA, BEN, STRANGER]),
    message_id=st.integers(1, 2**31 - 1),
)
def test_callback_data_of_every_shape(world, data, who, message_id):
    world.reset()
    before = world.counts()
    answered = len([c for c in world.h.api.calls if c.method == "answerCallbackQuery"])
    sent = world.process(world.h.updates.callback(who, data, message_id=message_id))
    assert len(replies_to(sent, who)) >= 1, f"{data!r}: a tap got no answer"
    assert len([c for c in world.h.api.calls if c.method == "answerCallbackQuery"]) > answered
    after = world.counts()
    valid_rating = re.fullmatch(rf"c:0*{world.question}:0*([0-9]|10)", data)
    valid_break = re.fullmatch(rf"s:0*{world.nudge}:(done|snooze|off)", data)
    if who == ANA and valid_rating:
        assert world.ratings(world.ana) == [("2026-03-03", int(valid_rating.group(1)))]
    else:
        assert world.ratings(world.ana) == [], f"{data!r} from {who} stored a rating"
    assert world.ratings(world.ben) == [("2026-03-03", 3)]
    if not (who == ANA and valid_break):
        assert after["sitting_breaks"] == before["sitting_breaks"]
    feedback = world.db.execute("SELECT feedback FROM lessons_sent").fetchone()[0]
    if not (
        who == ANA
        and data in (f"l:h:{world.lesson_id}", f"l:n:{world.lesson_id}", f"l:x:{world.lesson_id}")
    ):
        assert feedback is None
    assert after["patients"] == before["patients"] and after["consents"] == before["consents"]


@SETTINGS
@given(
    name=st.one_of(
        st.text(max_size=64),
        st.sampled_from(
            ["<b>Ana", "Ana & Co", "</b>", "&lt;", "<a href='x'>Ana</a>", "\u202eanA", "🙂" * 32]
        ),
    )
)
def test_any_first_name_renders_as_valid_telegram_html(world, name):
    """Names come from Telegram as the person typed them; every message showing one must stay
    valid HTML (the stand-in refuses broken markup, as Telegram does)."""
    world.reset()
    world.db.execute("UPDATE patients SET first_name = ? WHERE id = ?", [name, world.ana])
    world.db.execute("DELETE FROM awaiting")
    world.db.execute("UPDATE outbox SET status = 'expired' WHERE id = ?", [world.question])
    sent = world.process(world.h.updates.text(ANA, "/checkin"))
    assert replies_to(sent, ANA) and "How is your back" in sent[-1].text
    assert (
        world.db.execute("SELECT count(*) FROM outbox WHERE status = 'failed'").fetchone()[0] == 0
    )


STEP_PATH = {  # the taps that lead to each onboarding step
    "intro": [],
    "consent": ["o:intro:go"],
    "rf": ["o:intro:go", "o:consent:yes"],
}
STEP_PATH["hold"] = STEP_PATH["rf"] + ["o:rf:yes"]
STEP_PATH["soon"] = STEP_PATH["rf"] + ["o:rf:no"]
STEP_PATH["tz"] = STEP_PATH["soon"] + ["o:soon:no"]
STEP_PATH["ci"] = STEP_PATH["tz"] + ["o:tz:Europe/Berlin"]
STEP_PATH["qh"] = STEP_PATH["ci"] + ["o:ci:0900"]
STEP_PATH["sit"] = STEP_PATH["qh"] + ["o:qh:2200-0700"]
STEP_PATH["sh"] = STEP_PATH["sit"] + ["o:sit:wd"]
STEP_PATH["se"] = STEP_PATH["sh"] + ["o:sh:0900-1700"]
STEP_PATH["act"] = STEP_PATH["se"] + ["o:se:30"]
STEP_PATH["dose"] = STEP_PATH["act"] + ["o:act:walk", "o:act:done"]


def goto(world: World, step: str) -> dict:
    world.process(world.h.updates.text(NEWCOMER, "/start", first_name="Nia"))
    for data in STEP_PATH[step]:
        world.process(world.h.updates.callback(NEWCOMER, data, message_id=1))
    state = consents.onboarding(world.db, NEWCOMER)
    assert state["step"] == step
    return state


@settings(SETTINGS, max_examples=40)
@given(step=st.sampled_from(sorted(STEP_PATH)), text=texts)
def test_any_text_at_any_onboarding_step(world, step, text):
    world.reset()
    state = goto(world, step)
    sent = world.process(world.h.updates.text(NEWCOMER, text, first_name="Nia"))
    assert len(replies_to(sent, NEWCOMER)) >= 1
    now = consents.onboarding(world.db, NEWCOMER)
    if step == "intro" or step == "consent":
        stored = world.db.execute(
            "SELECT count(*) FROM patients WHERE user_id = ?", [NEWCOMER]
        ).fetchone()[0]
        assert stored == (1 if now and now["step"] == "rf" else 0)
    for row in world.db.query(
        "SELECT name, dose_minutes FROM activities WHERE patient_id = ?",
        [state["patient_id"] or -1],
    ):
        name = row["name"]  # stored as typed: must still be a short, single-line name
        assert 0 < len(name) <= 40 and "\n" not in name and not name.startswith("/")
        assert any(ch.isalpha() for ch in name) and 0 < row["dose_minutes"] <= 180
    assert world.ratings(world.ana) == []


def test_a_callback_without_data_gets_an_answer(world):
    world.reset()
    raw = world.h.updates.callback(ANA, "x", message_id=5).to_dict()
    raw["callback_query"].pop("data")
    raw["callback_query"]["game_short_name"] = "tetris"  # the only callback Telegram sends bare
    sent = world.process(Update.de_json(raw, world.h.app.bot))
    assert "expired" in replies_to(sent, ANA)[-1].text


def test_a_button_pressed_in_a_group_never_posts_health_data_there(world):
    world.reset()
    sent = world.process(
        world.h.updates.callback(ANA, f"c:{world.question}:7", message_id=5, chat_id=GROUP)
    )
    assert not [s for s in sent if s.chat_id == GROUP and "/10" in s.text]


@pytest.mark.parametrize("data", ["c:1:7", "zz", "o:intro:go"])
def test_a_callback_from_an_inline_message_is_ignored_quietly(world, data):
    world.reset()
    raw = world.h.updates.callback(ANA, data, message_id=5).to_dict()
    raw["callback_query"].pop("message")
    raw["callback_query"]["inline_message_id"] = "AAAAAQ"
    world.process(Update.de_json(raw, world.h.app.bot))


@pytest.mark.parametrize("data", ["c:{q}:²", "c:①:3", "s:{n}²:done"])
def test_non_ascii_digits_in_button_data_are_refused(world, data):
    world.reset()
    sent = world.process(
        world.h.updates.callback(ANA, data.format(q=world.question, n=world.nudge), message_id=5)
    )
    assert "expired" in replies_to(sent, ANA)[-1].text


def test_the_stand_in_refuses_what_telegram_refuses(world):
    """The fake Bot API checks HTML, lengths and button data, so these tests would see it."""
    bot = world.h.app.bot
    for text, kwargs in [
        ("<b>open", {"parse_mode": "HTML"}),
        ("<br>", {"parse_mode": "HTML"}),
        ("x" * 4097, {}),
        ("<b>" + "x" * 4097 + "</b>", {"parse_mode": "HTML"}),
        (
            "ok",
            {
                "reply_markup": InlineKeyboardMarkup(
                    [[InlineKeyboardButton("b", callback_data="x" * 65)]]
                )
            },
        ),
    ]:
        with pytest.raises(BadRequest):
            world.run(bot.send_message(ANA, text, **kwargs))
    world.run(bot.send_message(ANA, "<b>" + "x" * 4000 + "</b> &amp; fine", parse_mode="HTML"))
    world.run(bot.send_message(ANA, "🙂" * 2048))
