"""The warning-sign lists read the same, word for word, wherever they appear.

The three lists (docs/clinical-rules.md, R1-R3) live once each in messages/templates/_signs_*.html.
Every place that shows a list renders one of them whole: lessons, the closing message, /help and
the safety questions. Any bullet list that names a warning sign must be one of the three, whole.
"""

from __future__ import annotations

import re

import pytest

from bot.course import LENGTH_CHECK_EMERGENCY_NUMBER, SIGN_PARTIALS, load_course
from bot.course_report import plain_text
from messages import MAX_EMERGENCY_TEXT, TEMPLATES, render

_SIGN_WORDS = re.compile(
    r"\b(bladder|bowels?|urine|genitals|back passage|sexual|numb|numbness|weakness|fever|unwell|"
    r"weight loss|cancer|bad fall|accident|pain at night|night pain|clumsy|unsteady|headache|"
    r"dizziness|double vision|"
    r"swallowing)\b"
)


def _items(text: str) -> list[str]:
    return [line[2:].strip() for line in text.splitlines() if line.startswith("• ")]


CANON = {name: _items(render(name.removesuffix(".html"))) for name in SIGN_PARTIALS}


def _blocks(text: str) -> list[list[str]]:
    """Runs of consecutive bullet lines."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines() + [""]:
        if line.startswith("• "):
            current.append(line[2:].strip())
        elif current:
            blocks.append(current)
            current = []
    return blocks


def _lists_shown(text: str) -> list[str]:
    """Which canonical lists `text` shows; fails on any sign list that is not one of them, whole."""
    shown = []
    for block in _blocks(text):
        if not any(_SIGN_WORDS.search(item.lower()) for item in block):
            continue
        match = [name for name, items in CANON.items() if items == block]
        assert match, f"a warning-sign list that is not one of the canonical lists: {block}"
        shown += match
    return shown


def _lesson_text(lesson) -> str:
    r = lesson.render(name="Zoë", emergency_number="999 or 112")
    return plain_text(r.body)


EMERGENCY, SOON, NECK = SIGN_PARTIALS

# Where the lists must appear (rendered), and which ones.
LESSON_LISTS = {
    "w01-03": [EMERGENCY, NECK],
    "w01-04": [SOON],
    "w08-03": [SOON],
    "w10-04": [EMERGENCY, NECK],
    "w12-03": [EMERGENCY, NECK],
    "w12-04": [SOON],
}
TEMPLATE_LISTS = {
    "course_end": (
        [EMERGENCY, NECK, SOON],
        {"name": "Zoë", "activities": [], "emergency_number": "999 or 112"},
    ),
    "help": (
        [EMERGENCY, NECK],
        {"commands": [("urgent", "x")], "clinic_commands": [], "emergency_number": "112"},
    ),
    "course_maintenance": ([], {"choice": "stop"}),
    "onboarding_red_flags": ([EMERGENCY, NECK], {"problem": False}),
    "onboarding_soon_signs": ([SOON], {"problem": False, "after_hold": False}),
    "urgent_q_emergency": ([EMERGENCY, NECK], {"problem": None, "recheck": False}),
    "urgent_q_soon": ([SOON], {"problem": None}),
    "onboarding_intro": ([EMERGENCY, NECK], {"name": "Zoë", "emergency_number": "112"}),
    "withdrawn_answer": ([EMERGENCY, NECK], {"emergency_number": "112"}),
}


def test_the_canonical_lists_follow_the_clinical_rules():
    assert len(CANON[EMERGENCY]) == 5 and len(CANON[SOON]) == 5 and len(CANON[NECK]) == 3
    emergency = " ".join(CANON[EMERGENCY])
    for word in (
        "urine",
        "bladder",
        "bowels",
        "back passage",
        "genitals",
        "buttocks",
        "inner thighs",
        "sexual",
        "legs that is getting worse",
    ):
        assert word in emergency, word
    soon = " ".join(CANON[SOON])
    for word in (
        "fever",
        "unwell",
        "weight loss",
        "cancer",
        "fall or accident",
        "constant pain at night",
    ):
        assert word in soon, word
    neck = " ".join(CANON[NECK])
    for word in (
        "arm or hand",
        "getting worse",
        "clumsy hands",
        "unsteady",
        "sudden severe headache",
        "dizziness",
        "double vision",
        "speaking",
        "swallowing",
    ):
        assert word in neck, word


@pytest.mark.parametrize("lesson_id, lists", sorted(LESSON_LISTS.items()))
def test_lessons_show_the_whole_lists(lesson_id, lists):
    lesson = next(x for x in load_course() if x.id == lesson_id)
    assert _lists_shown(_lesson_text(lesson)) == lists


@pytest.mark.parametrize("template", sorted(TEMPLATE_LISTS))
def test_templates_show_the_whole_lists(template):
    lists, context = TEMPLATE_LISTS[template]
    assert _lists_shown(render(template, **context)) == lists


def test_any_sign_list_anywhere_is_a_canonical_one():
    # Every lesson, rendered, and every other template as written: a hand-written copy of a list
    # that drifts from the canonical one fails here.
    for lesson in load_course():
        _lists_shown(_lesson_text(lesson))
        if lesson.check:
            for text in (lesson.check.question, lesson.check.right, lesson.check.wrong):
                _lists_shown(text)
    for path in TEMPLATES.glob("*.html"):
        _lists_shown(path.read_text(encoding="utf-8"))


def test_the_lists_are_identical_across_places():
    seen: dict[str, set[tuple[str, ...]]] = {name: set() for name in CANON}
    texts = [_lesson_text(x) for x in load_course() if x.id in LESSON_LISTS]
    texts += [render(t, **ctx) for t, (_, ctx) in TEMPLATE_LISTS.items()]
    for text in texts:
        for block in _blocks(text):
            for name, items in CANON.items():
                if block == items:
                    seen[name].add(tuple(block))
    assert all(len(v) == 1 for v in seen.values()), seen


def test_week_1_teaches_the_signs_and_urgent():
    week1 = [x for x in load_course() if x.week == 1]
    shown = [name for x in week1 for name in _lists_shown(_lesson_text(x))]
    assert sorted(shown) == sorted(SIGN_PARTIALS)
    text = " ".join(_lesson_text(x) for x in week1)
    assert "/urgent" in text and "own words" in text


def test_lengths_are_checked_with_the_longest_emergency_text():
    assert len(LENGTH_CHECK_EMERGENCY_NUMBER) == MAX_EMERGENCY_TEXT == 60


def test_the_emergency_number_always_follows_call():
    # The number is plain text ("999 or 112"), never a sentence: the text says "call" itself, so
    # a clinic's "Call 112" can never read "Call Call 112".
    texts = [(x.id, t) for x in load_course() for t in x.texts().values()]
    texts += [
        (name, (TEMPLATES / f"{name}.html").read_text(encoding="utf-8"))
        for name in ("course_end", "help")
    ]
    uses = 0
    for where, text in texts:
        for m in re.finditer(r"(\S+)\s+\{\{\s*emergency_number", text):
            uses += 1
            assert re.sub(r"<[^>]*>", "", m.group(1)).lower().endswith("call"), (where, text)
    assert uses >= 8
