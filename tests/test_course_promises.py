"""Every promise a lesson makes about the bot names a behaviour the bot has, and a test proving it.

The promise table lives in the lessons' front matter (`promises:` lesson -> promise -> test);
docs/course.md prints it. A lesson that talks about the bot or names a command must have one.
"""

from __future__ import annotations

import ast
import pathlib
import re

from bot.course import load_course
from bot.course_report import plain_text
from bot.rules import safety
from handlers import COMMANDS

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Promises whose proof is marked xfail until another piece of work lands; each names why.
PENDING = {}

_COMMAND = re.compile(r"(?<![\w/])/([a-z_]+)\b")
_ABOUT_THE_BOT = re.compile(r"\bthe bot\b|/[a-z_]+\b", re.IGNORECASE)


def _lesson_text(lesson) -> str:
    r = lesson.render(name="", emergency_number="112")
    parts = [r.title, r.takeaway, r.body]
    if r.check:
        parts += [r.check.question, r.check.right, r.check.wrong]
    return "\n".join(plain_text(p) for p in parts)


def _test_names(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
            "test"
        ):
            names.add(node.name)
    return names


def _is_xfail(path: pathlib.Path, name: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return any("xfail" in ast.unparse(d) for d in node.decorator_list)
    return False


def test_there_is_a_promise_table():
    promises = [(x.id, p) for x in load_course() for p in x.promises]
    assert len(promises) >= 10


def test_every_promise_names_a_test_that_exists():
    missing = []
    for lesson in load_course():
        for p in lesson.promises:
            file, name = p.test.split("::")
            path = ROOT / file
            if not path.is_file() or name not in _test_names(path):
                missing.append((lesson.id, p.test))
    assert not missing, missing


def test_no_promise_rests_on_a_test_expected_to_fail_unless_declared_pending():
    for lesson in load_course():
        for p in lesson.promises:
            file, name = p.test.split("::")
            if _is_xfail(ROOT / file, name):
                assert p.test in PENDING, f"{lesson.id}: {p.test} is marked xfail"


def test_a_lesson_that_talks_about_the_bot_has_a_promise():
    bare = [
        x.id for x in load_course() if _ABOUT_THE_BOT.search(_lesson_text(x)) and not x.promises
    ]
    assert not bare, f"lessons that promise something about the bot without a promise table: {bare}"


def test_every_command_a_lesson_names_exists():
    real = {name for name, _ in COMMANDS}
    named = {c for x in load_course() for c in _COMMAND.findall(_lesson_text(x))}
    assert named, "the course should name the commands people use"
    assert named <= real, named - real
    assert {"urgent", "activity", "settings", "plan"} <= named


def test_a_lesson_promising_a_bad_day_offer_names_the_flare_day_test():
    # Issue 15 built the flare-day offer: a lesson may promise it only with the test that shows
    # it in its promise table (and no other command, such as a /badday, exists).
    offer = re.compile(
        r"bot (will|can )?(suggest|offer)s? (a )?(lower|smaller|half|easier|lighter) "
        r"(level|dose|plan|day)|flare[- ]day (plan|offer)|bad[- ]day plan|/badday",
        re.IGNORECASE,
    )
    proof = "tests/test_conversation_summary.py::test_finding_12_a_flare_day_offers_half_of_each"
    promising = [x for x in load_course() if offer.search(_lesson_text(x))]
    assert [x.id for x in promising] == ["w10-02"]
    for lesson in promising:
        assert any(p.test.startswith(proof) for p in lesson.promises), lesson.id
        assert "/badday" not in _lesson_text(lesson)


def test_thresholds_a_clinic_can_change_are_not_stated_as_facts():
    # Per-cohort pacing thresholds (bot.pacing.Thresholds) are worded loosely in the course.
    fixed = re.compile(
        r"\b\d+ ?%|\bup to 3 points|\b7 days\b|\babout a week\b|\b2 hours\b"
        r"|20 minutes becomes 22|\ba tenth\b",
        re.IGNORECASE,
    )
    for lesson in load_course():
        assert not fixed.search(_lesson_text(lesson)), lesson.id


def test_a_typed_warning_sign_is_recognised():
    # Week 1 teaches that a warning sign told in one's own words, at any moment, is heard.
    assert safety.screen("I can't feel the toilet paper").level == "emergency"
    assert safety.screen("my legs are getting weaker and weaker").level == "emergency"
    assert safety.screen("I've had a fever since yesterday").level == "soon"


def test_urgent_asks_about_the_neck_signs():
    # The lessons teach the neck signs as emergencies; /urgent must ask about them too.
    from messages import render

    neck = render("_signs_neck")
    assert neck and neck in render("urgent_q_emergency", problem=None, recheck=False)


async def test_a_delivered_lesson_names_the_countrys_number(harness):
    # Lesson lengths are checked with a 60-character emergency text; what a patient without a
    # clinic is actually shown must be their country's number, no longer than that.
    from jobs.compose import compose_lesson
    from messages import DEFAULT_EMERGENCY_NUMBER
    from storage import patients

    pid = harness.add_patient(timezone="Europe/Berlin")
    shown = compose_lesson(harness.db, patients.get(harness.db, pid), "w10-04")
    assert shown is not None and "112" in shown.text
    assert DEFAULT_EMERGENCY_NUMBER not in shown.text
