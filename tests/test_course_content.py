"""The 12-week course: every snippet loads, fits Telegram, reads easily and says safe things."""

from __future__ import annotations

import html
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import textstat  # a test dependency: a hard import, never skipped
from hypothesis import given
from hypothesis import strategies as st

from bot.course import (
    ALLOWED_TAGS,
    ALLOWED_VARIABLES,
    DEFAULT_FOLDER,
    MAX_BODY_CHARS,
    MAX_FEEDBACK_CHARS,
    MAX_TAKEAWAY_CHARS,
    WEEK_THEMES,
    Check,
    CourseError,
    Lesson,
    RenderedLesson,
    lessons_for_week,
    load_course,
    validate_telegram_html,
)
from bot.course_report import averages, build_report, plain_text, readability

EMERGENCY_60 = "x" * 60  # the length the loader checks against (messages.MAX_EMERGENCY_TEXT)


@pytest.fixture(scope="module")
def course() -> tuple[Lesson, ...]:
    return load_course()


def all_texts(lesson: Lesson, **values: str) -> str:
    """Every rendered text of a lesson as one plain, lower-case string."""
    r = lesson.render(**values)
    parts = [r.title, r.takeaway, r.body]
    if r.check:
        parts += [r.check.question, r.check.right, r.check.wrong]
    return "\n".join(plain_text(p) for p in parts)


# --------------------------------------------------------------------------------------------
# Shape of the course


def test_course_loads_sorted(course):
    assert all(isinstance(x, Lesson) for x in course)
    assert list(course) == sorted(course, key=lambda x: (x.week, x.order))


def test_snippet_count(course):
    assert 36 <= len(course) <= 48


@pytest.mark.parametrize("week", range(1, 13))
def test_every_week_has_two_to_four_snippets(course, week):
    lessons = lessons_for_week(course, week)
    assert 2 <= len(lessons) <= 4, [x.id for x in lessons]
    assert [x.order for x in lessons] == sorted(x.order for x in lessons)
    assert all(x.week == week for x in lessons)


def test_only_weeks_one_to_twelve(course):
    assert {x.week for x in course} == set(range(1, 13)) == set(WEEK_THEMES)


def test_ids_unique_and_match_week_and_order(course):
    counts = Counter(x.id for x in course)
    assert not [i for i, n in counts.items() if n > 1]
    for x in course:
        assert x.id == f"w{x.week:02d}-{x.order:02d}"


def test_file_names_start_with_id(course):
    names = sorted(p.name for p in DEFAULT_FOLDER.glob("*.md"))
    assert len(names) == len(course)
    for name, lesson in zip(names, course, strict=True):
        assert name.startswith(lesson.id + "-")


def test_bodies_fit_when_rendered(course):
    for x in course:
        r = x.render(name="", emergency_number=EMERGENCY_60)
        assert 0 < len(r.body) <= MAX_BODY_CHARS, (x.id, len(r.body))
        assert 0 < len(r.takeaway) <= MAX_TAKEAWAY_CHARS, x.id
        assert "\n" not in r.takeaway and "\n" not in r.title, x.id


def test_checks_have_both_feedbacks(course):
    checks = [x for x in course if x.check is not None]
    for x in checks:
        r = x.render()
        assert isinstance(r.check, Check) and isinstance(r.check.answer, bool)
        assert r.check.question.strip() and r.check.right.strip() and r.check.wrong.strip()
        assert len(r.check.right) <= MAX_FEEDBACK_CHARS and len(r.check.wrong) <= MAX_FEEDBACK_CHARS
        assert r.check.right != r.check.wrong
    # "Roughly a third" of the snippets carry a check, with both answers in use.
    assert len(course) / 5 <= len(checks) <= len(course) / 2
    assert {x.check.answer for x in checks} == {True, False}


def test_every_field_is_filled(course):
    for x in course:
        assert x.title.strip() and x.takeaway.strip() and x.source.strip() and x.body.strip(), x.id


def test_paragraphs_and_no_markdown(course):
    markdown = [
        re.compile(r"\*\*|__|`"),
        re.compile(r"\[[^\]]+\]\([^)]+\)"),  # [text](url)
        re.compile(r"^\s*(#{1,6}\s|[-*+]\s)", re.MULTILINE),  # headings, Markdown bullets
    ]
    for x in course:
        body = x.render().body
        assert "\n\n\n" not in body, x.id
        assert not re.search(r"[ \t]+$", body, re.MULTILINE), f"{x.id}: trailing spaces"
        for pattern in markdown:
            assert not pattern.search(body), f"{x.id}: Markdown syntax {pattern.pattern}"


def test_course_texts_are_valid_telegram_html(course):
    for x in course:
        r = x.render(name="Zoë", emergency_number="999 or 112")
        for text in (r.title, r.takeaway, r.body):
            validate_telegram_html(text)
        if r.check:
            for text in (r.check.question, r.check.right, r.check.wrong):
                validate_telegram_html(text)


# --------------------------------------------------------------------------------------------
# Rendering


def test_render_returns_rendered_lesson(course):
    r = course[0].render()
    assert isinstance(r, RenderedLesson)
    assert (r.id, r.week) == (course[0].id, course[0].week)
    assert "{{" not in r.body and "{%" not in r.body


def test_name_is_used_and_never_escaped_twice(course):
    with_name = [
        x for x in course if "name" in "".join(x.texts().values()).replace("emergency", "")
    ]
    assert with_name, "some snippet should greet the person by name"
    for x in with_name:
        assert "Zoë" in x.render(name="Zoë").body
        # The caller escapes; the course must not escape again.
        body = x.render(name="Tom &amp; Jo").body
        assert "Tom &amp; Jo" in body and "&amp;amp;" not in body
        validate_telegram_html(body)
        # An empty name leaves no stray comma or double space.
        empty = x.render(name="").body
        assert ", !" not in empty and " ," not in empty and "  " not in empty


@pytest.mark.parametrize("week", [10, 12])
def test_urgent_help_uses_the_emergency_number(course, week):
    lessons = [
        x
        for x in lessons_for_week(course, week)
        if "emergency_number" in "".join(x.texts().values())
    ]
    assert len(lessons) >= 1
    for x in lessons:
        assert "999 or 112" in x.render(emergency_number="999 or 112").body
        assert "call your local emergency number" in x.render().body.lower()


def test_only_allowed_variables_exist():
    assert {"name", "emergency_number"} == ALLOWED_VARIABLES
    assert {"b", "i", "u", "s", "code", "a", "blockquote"} == ALLOWED_TAGS


# --------------------------------------------------------------------------------------------
# The Telegram HTML validator


@pytest.mark.parametrize(
    "text",
    [
        "plain text",
        "<b>bold</b> <i>italic</i> <u>under</u> <s>struck</s> <code>x = 1</code>",
        '<a href="https://example.org/a?b=1&amp;c=2">a link</a>',
        "<blockquote>1. one\n2. two</blockquote>",
        "<b>bold <i>and italic</i></b>",
        "fish &amp; chips, 1 &lt; 2 &gt; 0, &quot;quoted&quot;, &#169; &#x2764;",
        "Zoë says hi ✓",
        "",
    ],
)
def test_validator_accepts(text):
    validate_telegram_html(text)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("<p>para</p>", "not allowed"),
        ("<div>x</div>", "not allowed"),
        ("line<br>break", "not allowed"),
        ("<strong>x</strong>", "not allowed"),
        ("<b>never closed", "never closed"),
        ("<b>bold <i>italic</b></i>", "misnested"),
        ("stray </b>", "no matching"),
        ("<a>no href</a>", "href"),
        ('<a href="">empty href</a>', "href"),
        ('<a href="https://x.org" title="t">extra</a>', "href"),
        ('<b class="x">attr</b>', "attributes"),
        ("<b><b>nested same</b></b>", "nested"),
        ("<B>upper</B>", "lower case"),
        ("self <b/> closing", "self-closing"),
        ("fish & chips", "&amp;"),
        ("fish &amp chips", "&amp;"),
        ('<a href="https://x.org/?a=1&b=2">bare amp in href</a>', "&amp;"),
        ('<a href="javascript:alert(1)">x</a>', "href must start"),
        ("text <b", "&lt;"),
        ("1 < 2", "&lt;"),
        ("2 > 1", "&gt;"),
        ("&nbsp;", "entities"),
        ("<!-- note -->", "comments"),
    ],
)
def test_validator_rejects(text, problem):
    with pytest.raises(CourseError) as exc:
        validate_telegram_html(text)
    assert problem in str(exc.value)


@given(st.text(), st.sampled_from(sorted(ALLOWED_TAGS - {"a"})))
def test_validator_accepts_any_escaped_text_in_any_tag(text, tag):
    escaped = html.escape(text, quote=False)
    validate_telegram_html(escaped)
    validate_telegram_html(f"<{tag}>{escaped}</{tag}>")
    validate_telegram_html(f'<a href="https://example.org">{escaped}</a>')


# --------------------------------------------------------------------------------------------
# load_course rejects broken files, naming them


@pytest.fixture
def course_copy(tmp_path) -> Path:
    folder = tmp_path / "course"
    shutil.copytree(DEFAULT_FOLDER, folder)
    return folder


def _first(folder: Path, prefix: str) -> Path:
    return next(iter(sorted(folder.glob(f"{prefix}-*.md"))))


def _mutate(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path.name, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_copy_of_course_loads(course_copy, course):
    assert load_course(course_copy) == course


@pytest.mark.parametrize(
    "file_prefix, old, new, problem",
    [
        ("w01-01", "Back and neck pain", "{{ nickname }} Back and neck pain", "nickname"),
        ("w01-01", 'title: "You are not alone"', 'title: "Hi {{ user.first_name }}"', "user"),
        ("w01-01", "Back and neck pain", "{{ name.nope }} Back", "cannot render"),
        ("w01-01", "Back and neck pain", "{% if %} Back", "syntax"),
        ("w01-02", "takeaway:", "takeaway_missing:", "takeaway"),
        ("w01-02", "source:", "sauce:", "source"),
        ("w01-02", "week: 1\n", "week: one\n", "week"),
        ("w01-02", "order: 2\n", "order: 3\n", "does not match"),
        ("w01-02", "id: w01-02", "id: w01-01", "does not match"),
        ("w01-03", "answer: true", 'answer: "yes please"', "true or false"),
        ("w01-03", "  wrong:", "  wrongly:", "wrong"),
        ("w01-02", "<b>non-specific</b>", "<b>non-specific", "never closed"),
        ("w01-02", "<b>mechanical</b>", "<p>mechanical</p>", "not allowed"),
        ("w01-02", "Doctors call it", "Doctors & nurses call it", "&amp;"),
        ("w01-02", "Doctors call it", "Doctors call it " + "very " * 60, "limit 700"),
        ("w01-02", 'takeaway: "', 'takeaway: "' + "long " * 25, "limit 120"),
        ("w01-02", "---\nid:", "id:", "front matter"),
        (
            "w01-03",
            "Call {{ emergency_number }}",
            "Ring {{ emergency_number }}",
            "call {{ emergency_number }}",
        ),
        (
            "w01-03",
            '{% include "_signs_neck.html" +%}',
            '{% include "help.html" +%}',
            "only the warning-sign lists",
        ),
        ("w01-04", "test: tests/test_commands.py::", "test: test_commands::", "promises.test"),
        ("w01-04", "  - promise: ", "  - pledge: ", "promise"),
    ],
)
def test_broken_file_raises_naming_the_file(course_copy, file_prefix, old, new, problem):
    path = _first(course_copy, file_prefix)
    _mutate(path, old, new)
    with pytest.raises(CourseError) as exc:
        load_course(course_copy)
    message = str(exc.value)
    assert path.name in message
    assert problem in message


def test_duplicate_id_raises(course_copy):
    src = _first(course_copy, "w01-01")
    dup = course_copy / "w01-01-a-copy.md"
    shutil.copy(src, dup)
    with pytest.raises(CourseError) as exc:
        load_course(course_copy)
    assert "duplicate id" in str(exc.value) and "w01-01" in str(exc.value)


def test_badly_named_file_raises(course_copy):
    shutil.copy(_first(course_copy, "w01-01"), course_copy / "Intro.md")
    with pytest.raises(CourseError, match=r"Intro\.md"):
        load_course(course_copy)


def test_empty_folder_raises(tmp_path):
    with pytest.raises(CourseError):
        load_course(tmp_path)


# --------------------------------------------------------------------------------------------
# Readability and safety of the content


def test_average_reading_ease_is_at_least_60(course):
    rows = [readability(x) for x in course]
    avg = averages(rows)
    assert avg.reading_ease >= 60, avg
    # Cross-check one snippet against textstat directly.
    text = plain_text(course[0].render().body) + "\n\n" + plain_text(course[0].render().takeaway)
    assert rows[0].reading_ease == pytest.approx(textstat.flesch_reading_ease(text))
    # No single snippet is hard going.
    hard = [(r.id, r.reading_ease) for r in rows if r.reading_ease < 45]
    assert not hard


_NOT_RECOMMENDED = re.compile(r"guidelines?\b[^.]*?\b(do not|don't|does not|doesn't)\s+recommend")
_ELECTRO = re.compile(
    r"acupunctur|electrotherap|electrical (nerve )?(stimulation|treatment)|\btens\b"
)


def test_acupuncture_and_tens_only_with_guideline_warning(course):
    mentioned = []
    for x in course:
        text = all_texts(x)
        # "TENS" is matched case-sensitively so the word "tens" cannot trigger it.
        if re.search(r"\bTENS\b", text) or _ELECTRO.search(text.lower().replace("tens of", "")):
            mentioned.append(x.id)
            assert _NOT_RECOMMENDED.search(text.lower()), f"{x.id} mentions acupuncture/TENS"
    assert mentioned, "week 9 should say plainly that guidelines do not recommend them"


_REST = re.compile(
    r"complete rest|bed rest|total rest|rest completely|stay(ing)? in bed"
    r"|lying still|rest until"
)
_AGAINST_REST = re.compile(
    r"slows?\b|does not help|doesn't help|avoid|stiff|do not stop|don't stop|rather than"
    r"|better than|not quite"
)


def test_no_snippet_recommends_complete_rest(course):
    for x in course:
        text = all_texts(x).lower()
        for match in _REST.finditer(text):
            assert _AGAINST_REST.search(text), (
                f"{x.id}: mentions {match.group(0)!r} without advising against it"
            )
    week3 = " ".join(all_texts(x).lower() for x in lessons_for_week(course, 3))
    assert "complete rest" in week3 and "slow" in week3


def test_ultrasound_only_as_not_supported(course):
    for x in course:
        text = all_texts(x).lower()
        if "ultrasound" in text:
            assert "not supported" in text or _NOT_RECOMMENDED.search(text), x.id


def test_no_diagnosing(course):
    diagnosing = re.compile(
        r"\byou have (a |an )?"
        r"(slipped|herniated|bulging|prolapsed|trapped|pinched|sciatica|arthritis|disc)"
    )
    for x in course:
        assert not diagnosing.search(all_texts(x).lower()), x.id


# Words each week must touch, so the outline's topics stay covered when snippets change.
OUTLINE_KEYWORDS = {
    1: ["common", "not serious", "6 to 12 weeks"],
    2: ["alarm", "scan", "too sensitive"],
    3: ["relative rest", "pacing rule", "complete rest"],
    4: ["too little", "too much", "same movement", "sudden", "core", "tired"],
    5: ["posture", "break", "habit", "variety"],
    6: ["exercise", "enjoy", "build up"],
    7: ["stress", "worr", "talk", "balance"],
    8: ["sleep", "night"],
    9: ["short time", "massage", "heat", "guidelines", "acupuncture", "tens"],
    10: ["flare", "plan", "referred pain", "emergency"],
    11: ["aerobic", "nicotine", "alcohol", "tired", "sudden"],
    12: ["active", "habit", "emergency", "doctor"],
}


@pytest.mark.parametrize("week", range(1, 13))
def test_outline_topics_are_covered(course, week):
    text = " ".join(all_texts(x).lower() for x in lessons_for_week(course, week))
    missing = [k for k in OUTLINE_KEYWORDS[week] if k not in text]
    assert not missing, f"week {week} misses {missing}"


# --------------------------------------------------------------------------------------------
# The report


def test_report_lists_every_snippet_and_week(course):
    report = build_report(course)
    for x in course:
        assert f"| {x.id} |" in report
    for week in range(1, 13):
        assert f"**Week {week}.**" in report
    assert "python -m bot.course_report" in report


# --------------------------------------------------------------------------------------------
# Sources: every lesson cites the claims table of docs/clinical-rules.md, and the table cites back

CLINICAL_RULES = Path(__file__).resolve().parent.parent / "docs" / "clinical-rules.md"
_CLAIM_ROW = re.compile(r"^\| (C\d{2}) \| .*? \| ([^|]*) \| ([^|]+) \|$", re.MULTILINE)
_CITED = re.compile(r"\b([CR]\d{1,2})\b")


def _claims() -> dict[str, tuple[set[str], str]]:
    text = CLINICAL_RULES.read_text(encoding="utf-8")
    return {
        m.group(1): ({i.strip() for i in m.group(2).split(",") if i.strip()}, m.group(3).strip())
        for m in _CLAIM_ROW.finditer(text)
    }


def test_every_lesson_cites_claims_that_exist(course):
    claims = _claims()
    assert len(claims) >= 30
    red_flags = {f"R{n}" for n in range(1, 7)}
    for x in course:
        cited = set(_CITED.findall(x.source))
        assert x.source.startswith("docs/clinical-rules.md"), x.id
        assert cited, f"{x.id} cites no claim"
        assert cited <= set(claims) | red_flags, (x.id, cited - set(claims) - red_flags)


def test_every_claim_names_lessons_that_cite_it_and_a_source(course):
    by_id = {x.id: x for x in course}
    for claim, (lessons, source) in _claims().items():
        assert lessons, claim
        assert source, claim
        for lesson_id in lessons:
            assert lesson_id in by_id, (claim, lesson_id)
            assert claim in _CITED.findall(by_id[lesson_id].source), (claim, lesson_id)


def test_the_course_never_points_at_the_shared_folder():
    root = Path(__file__).resolve().parent.parent
    templates = root / "messages" / "templates"
    owned = [
        *DEFAULT_FOLDER.glob("*.md"),
        *templates.glob("_signs_*.html"),
        *(templates / f"{name}.html" for name in ("course_end", "course_maintenance", "help")),
        root / "docs" / "course.md",
        CLINICAL_RULES,
        root / "bot" / "course.py",
        root / "bot" / "course_report.py",
    ]
    for path in owned:
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "CLINICAL.md" not in text, path.name
