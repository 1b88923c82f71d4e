"""Nothing that grows can fail (issue 16, finding 6 and Deliver 6).

Every message goes through `jobs.dispatch.telegram_parts`, which splits a text over Telegram's
4,096 characters (a caption over 1,024), counted as Telegram counts them, at line breaks. Every
template is rendered here with large data (200 members, 100 cohorts, long names) and its parts
pass the fake Bot API's rules; no rendered message runs two list items onto one line.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import meta

from bot.simulator.fake_api import _validate, parse_html
from jobs.dispatch import telegram_parts
from messages import TEMPLATES, Outgoing, _env, render
from messages.split import MAX_CAPTION, MAX_TEXT, split_html, visible_length
from storage import clinics, outbox

LONG = "Bartholomew-Maximilian Featherstonehaugh-Cholmondeley"


class Big:
    """Stands in for any value a template is given: long text, and 200 items of whatever a
    list holds at the first levels (3 further down)."""

    def __init__(self, depth: int = 0, n: int = 200):
        self.depth, self.n = depth, n

    def __getattr__(self, name: str) -> Big:
        if name.startswith("__"):
            raise AttributeError(name)
        return Big(self.depth + 1, self.n)

    def __getitem__(self, key: object) -> Big:
        return Big(self.depth + 1, self.n)

    def __iter__(self):
        return iter([Big(self.depth + 1, self.n) for _ in range(self.n if self.depth < 2 else 3)])

    def __len__(self) -> int:
        return self.n

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        return LONG

    def __format__(self, spec: str) -> str:
        return format(7.5, spec) if spec else LONG

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 1

    def __lt__(self, other: object) -> bool:
        return False

    __le__ = __lt__

    def __gt__(self, other: object) -> bool:
        return True

    __ge__ = __gt__

    def __add__(self, other: object) -> Big:
        return self

    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __add__
    __mod__ = __floordiv__ = __neg__ = __add__

    def __int__(self) -> int:
        return 7

    def __abs__(self) -> Big:
        return self

    def __float__(self) -> float:
        return 7.5

    def __round__(self, n: int | None = None) -> int:
        return 7

    def __contains__(self, item: object) -> bool:
        return True

    def __call__(self, *args: object, **kwargs: object) -> Big:
        return Big(self.depth + 1, self.n)


def _rows(n: int, width: int) -> list[tuple]:
    return [tuple(f"{LONG} {i}" if k == 0 else LONG for k in range(width)) for i in range(n)]


# Templates that unpack tuples or index with computed keys get their data spelled out.
SPECIAL = {
    "clinic_settings": {"thresholds": [(f"threshold_{i}", 2, True) for i in range(200)]},
    "clinic_confirm": {"action": "cohort_new"},
    "clinic_member_problem": {"problem": "usage"},
    "delete_done": {"kinds": {f"{LONG} {i}": i for i in range(200)}},
    "onboarding_left": {"left": ["consent", "safety", "tz", "ci", "qh", "sit", "act"]},
    "help": {"commands": _rows(200, 2), "clinic_commands": _rows(200, 2)},
    "pacing_advice": {"findings": [], "plain": {}},
    "sitting": {"variant": 3},
    "summary": {"figures": Big(), "change": 2, "average": 7.5},
}


def big_context(name: str) -> dict:
    source = (TEMPLATES / f"{name}.html").read_text(encoding="utf-8")
    names = meta.find_undeclared_variables(_env.parse(source))
    context: dict = {"problem": None} | {n: Big() for n in names}  # `problem`: an include's
    return context | SPECIAL.get(name, {})


def every_template() -> list[str]:
    """Every template sent as a message (`_name` ones are only included in others)."""
    return sorted(p.stem for p in TEMPLATES.glob("*.html") if not p.stem.startswith("_"))


def rendered_big(name: str) -> str:
    return render(name, **big_context(name))


@pytest.mark.parametrize("name", every_template())
def test_every_template_with_large_data_goes_through_the_fake_api(name):
    text = rendered_big(name)
    for out in (Outgoing(text), Outgoing(text, document=("f.csv", b"x"))):
        parts = telegram_parts(out)
        for part in parts:
            if part.document is not None:
                params = {"chat_id": 1, "document": "id", "caption": part.text}
                _validate("sendDocument", params | {"parse_mode": "HTML"})
            else:
                _validate("sendMessage", {"chat_id": 1, "text": part.text, "parse_mode": "HTML"})
        # Nothing lost: the parts together show the same words in the same order.
        assert _words("\n".join(p.text for p in parts)) == _words(text)


def _words(html: str) -> list[str]:
    return parse_html(html).split()


@pytest.mark.parametrize("name", every_template())
def test_finding_06_no_rendered_message_runs_two_list_items_onto_one_line(name):
    small = {n: Big(n=3) if isinstance(v, Big) else v for n, v in big_context(name).items()}
    text = render(name, **small)
    for line in parse_html(text).splitlines():
        assert "•" not in line.strip()[1:], f"{name}: {line!r}"


def test_finding_06_the_four_named_templates_keep_their_line_breaks():
    cohorts = [
        {
            "id": i,
            "name": f"Group {i}",
            "clinic_name": "Northside",
            "patients": i,
            "start_date": None,
        }
        for i in range(1, 4)
    ]
    listed = render("clinic_cohorts", cohorts=cohorts).splitlines()
    assert [line for line in listed if line.startswith("•")] == [
        f"• <b>{i}</b>: Group {i} (Northside), {i} patient{'' if i == 1 else 's'}, rolling"
        for i in range(1, 4)
    ]
    for new in (True, False):
        cohort = {"id": 4, "name": "Tuesday", "start_date": "2026-12-01"}
        text = render(
            "clinic_cohort_link", new=new, cohort=cohort, link="https://t.me/x?start=co_a"
        )
        assert "\n\nFixed start: week 1 begins on 2026-12-01" in text
        assert "for everyone who joins before then.\n\nEnrolment link" in text
        assert (
            "waiting room."
            + ("" if new else " The previous link and QR code no longer work.")
            + ("\nSettings")
            in text
        )
    offer = render("caregiver_offer", name="Ana", day="Sunday", time="18:00", alerts=True)
    assert "urgent care.\n\n<b>What you won't get</b>" in offer


# --- the splitting itself ---------------------------------------------------------------------


def test_a_short_message_is_left_alone():
    out = Outgoing("<b>hi</b>\n\nthere", [[("OK", "x")]])
    assert telegram_parts(out) == [out]


def test_a_long_list_is_split_at_line_breaks_with_the_buttons_on_the_last_part():
    lines = [f"• <b>{LONG} {i}</b> &amp; more 🙂" for i in range(300)]
    out = Outgoing("<b>Title</b>\n" + "\n".join(lines), [[("OK", "x")]])
    parts = telegram_parts(out)
    assert len(parts) > 1 and [p.buttons for p in parts[:-1]] == [[]] * (len(parts) - 1)
    assert parts[-1].buttons == [[("OK", "x")]]
    shown = "\n".join(parse_html(p.text) for p in parts).splitlines()
    assert shown == parse_html(out.text).splitlines()  # whole lines, in order, none lost
    assert all(visible_length(p.text) <= MAX_TEXT for p in parts)


def test_a_caption_over_1024_keeps_its_start_on_the_file_and_the_rest_follows():
    out = Outgoing("\n".join(f"line {i} {LONG}" for i in range(100)), document=("a.csv", b"1"))
    first, *rest = telegram_parts(out)
    assert first.document == ("a.csv", b"1") and visible_length(first.text) <= MAX_CAPTION
    assert rest and all(p.document is None and visible_length(p.text) <= MAX_TEXT for p in rest)


def test_length_is_counted_as_telegram_counts_it():
    assert visible_length("<b>a</b> &amp; <i>b</i>") == len("a & b")
    assert visible_length("🙂") == 2  # UTF-16 code units
    assert len(split_html("🙂" * 2049)) == 2
    assert split_html("&amp;" * 4096) == ["&amp;" * 4096]


def test_a_tag_open_across_a_cut_is_closed_and_opened_again():
    text = "<blockquote>" + "word " * 3000 + "</blockquote>"
    parts = split_html(text, MAX_CAPTION)
    assert len(parts) > 3
    for part in parts:
        assert part.startswith("<blockquote>") and part.endswith("</blockquote>")
        assert len(parse_html(part).encode("utf-16-le")) // 2 <= MAX_CAPTION


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "b", "i", "code"]),
            st.text(alphabet=st.sampled_from("ab é🙂&<> \n"), max_size=60),
        ),
        max_size=60,
    ),
    st.integers(min_value=8, max_value=200),
)
def test_any_text_splits_into_valid_parts_within_the_limit(runs, limit):
    from markupsafe import escape

    text = "".join(f"<{t}>{escape(s)}</{t}>" if t else str(escape(s)) for t, s in runs)
    parts = split_html(text, limit)
    for part in parts:
        assert len(parse_html(part).encode("utf-16-le")) // 2 <= limit
    assert "".join("".join(parse_html(p).split()) for p in parts) == "".join(
        parse_html(text).split()
    )


# --- through the real outbox and dispatcher ---------------------------------------------------


async def test_a_digest_of_many_flagged_patients_arrives_whole_in_order(harness, clock):
    h = harness
    with h.db.atomic():
        clinic_id = clinics.create_clinic(h.db, "Northside " + LONG, "Europe/London", clock.now())
    chat = 7001
    text = "\n".join(f"• {LONG} #{i}: red flag reported 2026-03-0{1 + i % 9}" for i in range(200))
    with h.db.atomic():
        row_id = outbox.enqueue(
            h.db,
            chat_id=chat,
            kind="reply",
            due_at=clock.now(),
            now=clock.now(),
            dedupe_key="reply:big",
            payload=Outgoing(text, [[("OK", "x")]]).as_payload(),
        )
    seen = []
    h.rt.observers.append(lambda event, data: seen.append(data) if event == "sent" else None)
    clock.advance(timedelta(seconds=1))
    await h.tick()
    sent = h.api.sent_to(chat)
    # Observers (the simulator's transcript) learn every part's message id, in order.
    [note] = [d for d in seen if d["row"]["id"] == row_id]
    assert note["message_ids"] == [s.message_id for s in sent]
    assert len(sent) > 3 and clinic_id
    assert outbox.get(h.db, row_id)["status"] == "sent"
    assert "\n".join(s.text for s in sent).splitlines() == text.splitlines()
    assert sent[-1].buttons and not any(s.buttons for s in sent[:-1])
    assert all(len(s.text.encode("utf-16-le")) // 2 <= MAX_TEXT for s in sent)


# --- both stand-ins refuse what Telegram refuses, counted as Telegram counts ------------------


LENGTH_CASES = [
    ("sendMessage", {"text": "<b>" + "x" * 4096 + "</b>"}, False),  # tags do not count
    ("sendMessage", {"text": "&amp;" * 4096}, False),  # an entity is one character
    ("sendMessage", {"text": "🙂" * 2048}, False),  # 4,096 UTF-16 code units
    ("sendMessage", {"text": "🙂" * 2048 + "x"}, True),
    ("sendMessage", {"text": "<i>" + "x" * 4097 + "</i>"}, True),
    ("sendPhoto", {"photo": "id", "caption": "<b>" + "x" * 1024 + "</b>"}, False),
    ("sendPhoto", {"photo": "id", "caption": "é" * 1025}, True),
    ("sendDocument", {"document": "id", "caption": "🙂" * 513}, True),
]


def test_the_http_stand_in_counts_length_as_telegram_does():
    import httpx

    from tests.telegram_server import TelegramServer

    with TelegramServer() as server:
        for method, body, refused in LENGTH_CASES:
            answer = httpx.post(
                f"{server.base_url}{server.token}/{method}",
                json={"chat_id": 1, "parse_mode": "HTML", **body},
                timeout=10,
                trust_env=False,
            )
            assert (answer.status_code == 400) == refused, (method, answer.text)
            if refused:
                assert "too long" in answer.json()["description"]


async def test_a_part_refused_midway_is_sent_again_alone_not_the_parts_before(harness):
    """A long message goes as several parts; when Telegram refuses a later one (429, a network
    error), the retry sends that part and the rest, never the parts already delivered again."""
    from jobs.dispatch import dispatch_due

    h = harness
    chat = h.add_patient(5001) and 5001
    text = "\n".join(f"line {n}: " + "walk a little further each day " * 3 for n in range(120))
    parts = telegram_parts(Outgoing(text))
    assert len(parts) >= 3
    outbox.enqueue(
        h.db,
        chat_id=chat,
        patient_id=None,
        kind="reply",
        due_at=h.clock.now(),
        now=h.clock.now(),
        dedupe_key="long-reply",
        payload=Outgoing(text).as_payload(),
    )
    delivered = []

    def refuse_the_second(sent):
        delivered.append(sent.text)
        if len(delivered) == 1:
            h.api.fail_next("429", retry_after=3)

    h.api.on_send = refuse_the_second
    await dispatch_due(h.rt)
    assert delivered == [parts[0].text]
    h.clock.advance(timedelta(seconds=4))
    await dispatch_due(h.rt)
    assert delivered == [p.text for p in parts]  # each part once, in order
    [row] = h.db.query("SELECT status FROM outbox WHERE dedupe_key = 'long-reply'")
    assert row["status"] == "sent" and h.rt.parts_sent == {}
