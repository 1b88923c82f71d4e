"""The 12-week self-management course: loading, validating and rendering its snippets.

Each snippet is one Markdown-named file in ``messages/course/`` (``wWW-NN-slug.md``): YAML front
matter between two ``---`` lines, then a body written in Telegram HTML. The body, title, takeaway
and check texts are jinja2 templates that may use only ``name`` and ``emergency_number``, and may
include the canonical warning-sign lists (``messages/templates/_signs_*.html``), so a list reads the
same in a lesson as in /help and the closing message.

This module is pure: standard library, PyYAML and jinja2 only. See docs/course.md.
"""

from __future__ import annotations

import functools
import pathlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import NoReturn

import jinja2
import jinja2.meta
import yaml

from bot.rules.course_plan import WEEKS
from messages import MAX_EMERGENCY_TEXT

ALLOWED_VARIABLES = frozenset({"name", "emergency_number"})
ALLOWED_TAGS = frozenset({"b", "i", "u", "s", "code", "a", "blockquote"})
MAX_BODY_CHARS = 700
MAX_TAKEAWAY_CHARS = 120
MAX_FEEDBACK_CHARS = 300
MAX_TITLE_CHARS = 80
MIN_PER_WEEK = 2
MAX_PER_WEEK = 4

# The emergency text used when checking lengths: as long as the longest a patient can be shown
# (a clinic's own text is capped at MAX_EMERGENCY_TEXT; the per-country numbers are shorter).
LENGTH_CHECK_EMERGENCY_NUMBER = "x" * MAX_EMERGENCY_TEXT
_LENGTH_CHECK_EMERGENCY_NUMBER = LENGTH_CHECK_EMERGENCY_NUMBER

# The shared warning-sign lists a lesson may include (docs/clinical-rules.md, "Red flags").
SIGN_PARTIALS = ("_signs_emergency.html", "_signs_soon.html", "_signs_neck.html")

# The themes of the 12 weeks (docs/clinical-rules.md, "The course").
WEEK_THEMES: dict[int, str] = {
    1: "What non-specific back pain is: common, not dangerous, most settles in 6 to 12 weeks",
    2: "Pain as an alarm system; scans and pain do not match; an over-sensitive alarm",
    3: "Relative rest and the pacing rule; why complete rest slows recovery",
    4: "What tires or irritates the back: too little, too much, repetitive and sudden "
    "movements; core strength after inactive periods; fatigue",
    5: "Sitting and habits: variety, breaks, no single right posture, noticing your own habits",
    6: "Exercise: pick what you enjoy; start low and build gradually",
    7: "Stress, worry and pain; talking to someone; work-life balance",
    8: "Sleep and pain",
    9: "Other treatments: what gives short-term relief, what guidelines advise against",
    10: "Flare-ups: a plan for bad days; pain spreading into a leg or arm is often referred "
    "pain; when to get urgent help",
    11: "Lifestyle: aerobic fitness, nicotine, alcohol; monitoring fatigue; avoiding sudden "
    "jumps in load",
    12: "Prevention and staying well after the course; when to seek help again",
}

_ID_RE = re.compile(r"^w(\d{2})-(\d{2})$")
_FILENAME_RE = re.compile(r"^w\d{2}-\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*\.md$")
_REQUIRED_FIELDS = ("id", "week", "order", "title", "takeaway", "source")
_OPTIONAL_FIELDS = ("check", "promises")
_PROMISE_FIELDS = ("promise", "test")
_PROMISE_TEST_RE = re.compile(r"^tests/[a-z0-9_/]+\.py::[A-Za-z_][A-Za-z0-9_]*$")
# The number is plain text such as "999 or 112", never a sentence: the lesson says "call" itself.
_EMERGENCY_USE_RE = re.compile(r"(\S+\s+)?\{\{-?\s*emergency_number\b")
_CHECK_FIELDS = ("question", "answer", "right", "wrong")
_TELEGRAM_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
_AMPERSAND_RE = re.compile(r"&(?!(?:lt|gt|amp|quot|#[0-9]+|#[xX][0-9a-fA-F]+);)")
_HREF_SCHEMES = ("https://", "http://", "tg://", "mailto:")

DEFAULT_FOLDER = pathlib.Path(__file__).resolve().parent.parent / "messages" / "course"
PARTIALS_FOLDER = pathlib.Path(__file__).resolve().parent.parent / "messages" / "templates"


class CourseError(ValueError):
    """A course file (or a text in it) is invalid."""


# ---------------------------------------------------------------------------------------------
# Templates


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PARTIALS_FOLDER),  # for the _signs_*.html partials only
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # noqa: S701 - the partials get HTML the caller has already escaped
    keep_trailing_newline=False,
)


@functools.lru_cache(maxsize=1024)
def _compile(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def _render(source: str, *, name: str, emergency_number: str) -> str:
    return _compile(source).render(name=name, emergency_number=emergency_number).strip()


def _undeclared(source: str) -> set[str]:
    return set(jinja2.meta.find_undeclared_variables(_ENV.parse(source)))


def _included(source: str) -> set[str | None]:
    return set(jinja2.meta.find_referenced_templates(_ENV.parse(source)))


# ---------------------------------------------------------------------------------------------
# Telegram HTML


class _TelegramHTMLChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []

    def _fail(self, problem: str) -> NoReturn:
        line, col = self.getpos()
        raise CourseError(f"invalid Telegram HTML at line {line}, column {col + 1}: {problem}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or ""
        if tag not in ALLOWED_TAGS:
            self._fail(f"tag <{tag}> is not allowed (allowed: {', '.join(sorted(ALLOWED_TAGS))})")
        if not raw.startswith(f"<{tag}"):
            self._fail(f"tag {raw!r} must be written in lower case")
        if tag == "a":
            names = [key for key, _ in attrs]
            href = dict(attrs).get("href")
            if names != ["href"] or not href or not href.strip():
                self._fail(
                    '<a> needs exactly one non-empty href attribute, e.g. <a href="https://...">'
                )
            if not href.strip().lower().startswith(_HREF_SCHEMES):
                self._fail(f"<a> href must start with one of {', '.join(_HREF_SCHEMES)}")
        elif attrs:
            self._fail(f"<{tag}> must not have attributes")
        if tag in self.stack:
            self._fail(f"<{tag}> must not be nested inside another <{tag}>")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._fail(f"self-closing tag <{tag}/> is not allowed")

    def handle_endtag(self, tag: str) -> None:
        if tag not in ALLOWED_TAGS:
            self._fail(f"closing tag </{tag}> is not allowed")
        if not self.stack:
            self._fail(f"closing tag </{tag}> has no matching opening tag")
        if self.stack[-1] != tag:
            self._fail(
                f"closing tag </{tag}> does not match the open <{self.stack[-1]}> (misnested)"
            )
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            if char in data:
                self._fail(f"a bare {char!r} must be written as {entity}")

    def handle_entityref(self, name: str) -> None:
        if name not in _TELEGRAM_ENTITIES:
            self._fail(f"entity &{name}; is not supported (use &lt; &gt; &amp; &quot;)")

    def handle_charref(self, name: str) -> None:
        pass  # numeric character references are fine

    def handle_comment(self, data: str) -> None:
        self._fail("HTML comments are not allowed")

    def handle_decl(self, decl: str) -> None:
        self._fail("declarations are not allowed")

    def unknown_decl(self, data: str) -> None:
        self._fail("declarations are not allowed")

    def handle_pi(self, data: str) -> None:
        self._fail("processing instructions are not allowed")


def validate_telegram_html(text: str) -> None:
    """Raise CourseError unless ``text`` is valid Telegram HTML as used by the course.

    Only ALLOWED_TAGS, lower case, no attributes except one non-empty ``href`` on ``<a>``; every tag
    closed and properly nested; ``&``, ``<`` and ``>`` escaped outside tags.
    """
    bare = _AMPERSAND_RE.search(text)
    if bare:
        raise CourseError(
            f"invalid Telegram HTML at offset {bare.start()}: a bare '&' must be written as &amp; "
            "(entities: &lt; &gt; &amp; &quot; or numeric, each ending with ';')"
        )
    checker = _TelegramHTMLChecker()
    checker.feed(text)
    checker.close()
    # Anything HTMLParser could not make sense of stays in its buffer (e.g. "<b" at the very end).
    if checker.rawdata:
        raise CourseError(f"invalid Telegram HTML: cannot parse {checker.rawdata[:30]!r}")
    if checker.stack:
        raise CourseError(f"invalid Telegram HTML: tag <{checker.stack[-1]}> is never closed")


# ---------------------------------------------------------------------------------------------
# Lessons


@dataclass(frozen=True)
class Check:
    question: str
    answer: bool
    right: str
    wrong: str


@dataclass(frozen=True)
class Promise:
    """Something a lesson tells the person the bot does, and the test that proves it does."""

    promise: str
    test: str  # "tests/test_file.py::test_name"


def _fields(title: str, takeaway: str, body: str, check: Check | None) -> dict[str, str]:
    """A lesson's texts by field name, raw or rendered alike."""
    out = {"title": title, "takeaway": takeaway, "body": body}
    if check is not None:
        out |= {
            "check.question": check.question,
            "check.right": check.right,
            "check.wrong": check.wrong,
        }
    return out


@dataclass(frozen=True)
class RenderedLesson:
    id: str
    week: int
    title: str
    body: str
    takeaway: str
    check: Check | None


@dataclass(frozen=True)
class Lesson:
    """One snippet, holding the raw template texts."""

    id: str
    week: int
    order: int
    title: str
    takeaway: str
    source: str
    body: str
    check: Check | None
    promises: tuple[Promise, ...] = ()

    def render(
        self, *, name: str = "", emergency_number: str = "your local emergency number"
    ) -> RenderedLesson:
        """Render every text. ``name`` and ``emergency_number`` must already be HTML-escaped."""

        def r(source: str) -> str:
            return _render(source, name=name, emergency_number=emergency_number)

        check = None
        if self.check is not None:
            check = Check(
                question=r(self.check.question),
                answer=self.check.answer,
                right=r(self.check.right),
                wrong=r(self.check.wrong),
            )
        return RenderedLesson(
            id=self.id,
            week=self.week,
            title=r(self.title),
            body=r(self.body),
            takeaway=r(self.takeaway),
            check=check,
        )

    def texts(self) -> dict[str, str]:
        """Every template text of this lesson, by field name."""
        return _fields(self.title, self.takeaway, self.body, self.check)


def _split_front_matter(text: str) -> tuple[str, str]:
    text = text.lstrip("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise CourseError("the file must start with a '---' line (YAML front matter)")
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise CourseError("the YAML front matter is never closed with a '---' line")


def _need_str(data: dict, key: str, where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CourseError(f"field '{where}{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def _need_int(data: dict, key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CourseError(f"field '{key}' must be an integer, got {value!r}")
    return value


def _parse_check(raw: object) -> Check | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise CourseError(f"field 'check' must be a mapping, got {type(raw).__name__}")
    missing = [k for k in _CHECK_FIELDS if k not in raw]
    if missing:
        raise CourseError(f"field 'check' is missing {', '.join(missing)}")
    unknown = sorted(set(raw) - set(_CHECK_FIELDS))
    if unknown:
        raise CourseError(f"field 'check' has unknown keys: {', '.join(map(str, unknown))}")
    answer = raw["answer"]
    if not isinstance(answer, bool):
        raise CourseError(f"field 'check.answer' must be true or false, got {answer!r}")
    return Check(
        question=_need_str(raw, "question", "check."),
        answer=answer,
        right=_need_str(raw, "right", "check."),
        wrong=_need_str(raw, "wrong", "check."),
    )


def _parse_promises(raw: object) -> tuple[Promise, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise CourseError("field 'promises' must be a non-empty list of {promise, test} mappings")
    out = []
    for item in raw:
        if not isinstance(item, dict) or sorted(item) != sorted(_PROMISE_FIELDS):
            raise CourseError(
                f"each of 'promises' needs exactly 'promise' and 'test', got {item!r}"
            )
        test = _need_str(item, "test", "promises.")
        if not _PROMISE_TEST_RE.match(test):
            raise CourseError(
                f"promises.test must look like tests/test_x.py::test_name, got {test!r}"
            )
        out.append(Promise(promise=_need_str(item, "promise", "promises."), test=test))
    return tuple(out)


def _validate_texts(lesson: Lesson) -> None:
    texts = lesson.texts()
    for field, source in texts.items():
        try:
            undeclared = _undeclared(source)
            included = _included(source)
        except jinja2.TemplateSyntaxError as exc:
            raise CourseError(f"field '{field}': template syntax error: {exc}") from exc
        bad_includes = sorted(str(x) for x in included - set(SIGN_PARTIALS))
        if bad_includes:
            raise CourseError(
                f"field '{field}' includes {', '.join(bad_includes)} "
                f"(only the warning-sign lists may be included: {', '.join(SIGN_PARTIALS)})"
            )
        for match in _EMERGENCY_USE_RE.finditer(source):
            before = re.sub(r"<[^>]*>", "", match.group(1) or "").strip()
            if not re.search(r"(?i)\bcall$", before):
                raise CourseError(
                    f"field '{field}': write 'call {{{{ emergency_number }}}}' (the number is "
                    'plain text such as "999 or 112" and never says "call" itself)'
                )
        bad = sorted(undeclared - ALLOWED_VARIABLES)
        if bad:
            raise CourseError(
                f"field '{field}' uses undefined variable(s) {', '.join(bad)} "
                f"(allowed: {', '.join(sorted(ALLOWED_VARIABLES))})"
            )
    try:
        rendered = lesson.render(name="", emergency_number=_LENGTH_CHECK_EMERGENCY_NUMBER)
    except jinja2.TemplateError as exc:
        raise CourseError(f"cannot render: {exc}") from exc
    values = _fields(rendered.title, rendered.takeaway, rendered.body, rendered.check)
    limits = {
        "body": MAX_BODY_CHARS,
        "takeaway": MAX_TAKEAWAY_CHARS,
        "title": MAX_TITLE_CHARS,
        "check.right": MAX_FEEDBACK_CHARS,
        "check.wrong": MAX_FEEDBACK_CHARS,
        "check.question": MAX_FEEDBACK_CHARS,
    }
    for field, value in values.items():
        if not value:
            raise CourseError(f"field '{field}' is empty once rendered")
        limit = limits[field]
        if len(value) > limit:
            raise CourseError(
                f"field '{field}' is {len(value)} characters once rendered (limit {limit})"
            )
        try:
            validate_telegram_html(value)
        except CourseError as exc:
            raise CourseError(f"field '{field}': {exc}") from exc
        if field != "body" and "\n" in value:
            raise CourseError(f"field '{field}' must be a single line")


def parse_lesson(text: str) -> Lesson:
    """Parse and validate the text of one snippet file (raises CourseError)."""
    front, body = _split_front_matter(text)
    try:
        data = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        raise CourseError(f"invalid YAML front matter: {exc}") from exc
    if not isinstance(data, dict):
        raise CourseError("the front matter must be a YAML mapping")
    missing = [k for k in _REQUIRED_FIELDS if k not in data]
    if missing:
        raise CourseError(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(map(str, set(data) - set(_REQUIRED_FIELDS) - set(_OPTIONAL_FIELDS)))
    if unknown:
        raise CourseError(f"unknown field(s): {', '.join(unknown)}")
    lesson_id = _need_str(data, "id")
    week = _need_int(data, "week")
    order = _need_int(data, "order")
    if not 1 <= week <= WEEKS:
        raise CourseError(f"field 'week' must be between 1 and {WEEKS}, got {week}")
    if not 1 <= order <= 99:
        raise CourseError(f"field 'order' must be between 1 and 99, got {order}")
    expected_id = f"w{week:02d}-{order:02d}"
    if not _ID_RE.match(lesson_id) or lesson_id != expected_id:
        raise CourseError(
            f"id {lesson_id!r} does not match week {week} and order {order} "
            f"(expected {expected_id!r})"
        )
    body = body.strip()
    if not body:
        raise CourseError("the body is empty")
    lesson = Lesson(
        id=lesson_id,
        week=week,
        order=order,
        title=_need_str(data, "title"),
        takeaway=_need_str(data, "takeaway"),
        source=_need_str(data, "source"),
        body=body,
        check=_parse_check(data.get("check")),
        promises=_parse_promises(data.get("promises")),
    )
    _validate_texts(lesson)
    return lesson


def load_course(folder: pathlib.Path | None = None) -> tuple[Lesson, ...]:
    """Load every ``*.md`` snippet in ``folder`` (default: messages/course), sorted by week, order.

    Raises CourseError naming the file and the problem for any invalid file.
    """
    folder = DEFAULT_FOLDER if folder is None else pathlib.Path(folder)
    if not folder.is_dir():
        raise CourseError(f"{folder}: course folder not found")
    lessons: list[Lesson] = []
    seen: dict[str, pathlib.Path] = {}
    for path in sorted(folder.glob("*.md")):
        if not _FILENAME_RE.match(path.name):
            raise CourseError(f"{path}: file name must look like wWW-NN-slug.md (lower case)")
        try:
            lesson = parse_lesson(path.read_text(encoding="utf-8"))
        except CourseError as exc:
            raise CourseError(f"{path}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise CourseError(f"{path}: not valid UTF-8: {exc}") from exc
        if not path.name.startswith(lesson.id + "-"):
            raise CourseError(f"{path}: file name must start with its id {lesson.id!r}")
        if lesson.id in seen:
            raise CourseError(
                f"{path}: duplicate id {lesson.id!r} (also in {seen[lesson.id].name})"
            )
        seen[lesson.id] = path
        lessons.append(lesson)
    if not lessons:
        raise CourseError(f"{folder}: no course files (*.md) found")
    return tuple(sorted(lessons, key=lambda lesson: (lesson.week, lesson.order)))


def lessons_for_week(course: Iterable[Lesson], week: int) -> tuple[Lesson, ...]:
    """The lessons of one week, in order."""
    return tuple(sorted((x for x in course if x.week == week), key=lambda x: x.order))


@functools.cache
def default_course() -> tuple[Lesson, ...]:
    """The course shipped in messages/course, read once per process."""
    return load_course()
