"""Readability report for the 12-week course; writes docs/course.md.

    python -m bot.course_report            # write docs/course.md and print the averages
    python -m bot.course_report --check    # exit 1 if docs/course.md is out of date
    python -m bot.course_report --output PATH

textstat is a test/dev dependency, so it is imported here only, never by the bot itself.

Syllables: textstat 0.7.4+ looks words up in NLTK's CMU dictionary, which it downloads at run time.
The project's machines and CI cannot download it, so this module makes textstat use its own
fallback (the pyphen hyphenation dictionary, which ships with the package) for every word. That
keeps the numbers the same on every machine and never touches the network.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser

import textstat

from bot.course import (
    DEFAULT_FOLDER,
    LENGTH_CHECK_EMERGENCY_NUMBER,
    MAX_BODY_CHARS,
    MAX_TAKEAWAY_CHARS,
    SIGN_PARTIALS,
    WEEK_THEMES,
    WEEKS,
    Lesson,
    lessons_for_week,
    load_course,
)

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "course.md"
TARGET_READING_EASE = 60.0


def _offline_syllables() -> None:
    """Make textstat count syllables with pyphen only (no CMU dictionary download)."""
    try:
        from textstat.backend.counts import _count_syllables
    except ImportError:  # older textstat: pyphen only already
        return
    if hasattr(_count_syllables, "get_cmudict"):
        _count_syllables.get_cmudict = lambda lang: None  # -> textstat's pyphen fallback


_offline_syllables()
textstat.set_lang("en_US")


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(telegram_html: str) -> str:
    """The text a reader sees: tags stripped, entities decoded."""
    parser = _TextOnly()
    parser.feed(telegram_html)
    parser.close()
    return "".join(parser.parts)


def _lines_as_sentences(text: str) -> str:
    """End every line with a full stop if it has none: a list item is read as one unit, and
    textstat would otherwise count a whole bullet list as one long sentence."""
    lines = []
    for line in text.split("\n"):
        stripped = line.rstrip()
        if stripped and stripped[-1] not in ".!?":
            stripped += "."
        lines.append(stripped)
    return "\n".join(lines)


def lesson_text(lesson: Lesson) -> str:
    """Body and takeaway of a lesson as plain text, rendered with the default variables."""
    rendered = lesson.render()
    return _lines_as_sentences(plain_text(rendered.body) + "\n\n" + plain_text(rendered.takeaway))


@dataclass(frozen=True)
class Readability:
    id: str
    week: int
    title: str
    reading_ease: float
    grade: float
    words: int
    chars: int
    body_chars: int  # rendered Telegram HTML, as counted against MAX_BODY_CHARS
    has_check: bool


def readability(lesson: Lesson) -> Readability:
    text = lesson_text(lesson)
    rendered = lesson.render()
    return Readability(
        id=lesson.id,
        week=lesson.week,
        title=plain_text(rendered.title),
        reading_ease=float(textstat.flesch_reading_ease(text)),
        grade=float(textstat.flesch_kincaid_grade(text)),
        words=int(textstat.lexicon_count(text)),
        chars=len(text),
        body_chars=len(rendered.body),
        has_check=lesson.check is not None,
    )


@dataclass(frozen=True)
class Averages:
    reading_ease: float
    grade: float
    words: float
    chars: float


def averages(rows: Sequence[Readability]) -> Averages:
    """Means over snippets (each snippet counts once, whatever its length)."""
    return Averages(
        reading_ease=statistics.fmean(r.reading_ease for r in rows),
        grade=statistics.fmean(r.grade for r in rows),
        words=statistics.fmean(r.words for r in rows),
        chars=statistics.fmean(r.chars for r in rows),
    )


_FORMAT_EXAMPLE = """\
```
---
id: w01-01            # "w" + 2-digit week + "-" + 2-digit order; the file name starts with it
week: 1               # 1 to 12
order: 1              # position in the week
title: "You are not alone"
takeaway: "Most back pain settles within 6 to 12 weeks."   # one line, at most 120 characters
source: "docs/clinical-rules.md C01, C02"   # the claims it makes, by number
check:                # optional; on about a third of the snippets
  question: "True or false: a scan that shows wear explains your pain."
  answer: false       # true or false
  right: "Right. ..."       # shown when they answer correctly, at most 300 characters
  wrong: "Not quite. ..."   # shown otherwise, at most 300 characters
promises:             # needed when the text says what the bot does or names a /command
  - promise: "/urgent asks the warning-sign questions"
    test: tests/test_commands.py::test_urgent_soon_and_no_signs   # the test that proves it
---
Welcome{% if name %}, {{ name }}{% endif %}! The body is Telegram HTML ...

Paragraphs are separated by one blank line; each paragraph is one line.
```"""


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def build_report(course: Sequence[Lesson]) -> str:
    rows = [readability(lesson) for lesson in course]
    avg = averages(rows)
    checks = sum(r.has_check for r in rows)
    out: list[str] = []
    add = out.append
    add("# The 12-week course")
    add("")
    add("<!-- Generated by `python -m bot.course_report`. Do not edit by hand: edit the snippets")
    add("     or bot/course_report.py, then regenerate. -->")
    add("")
    add(
        "The bot sends a short self-management course over 12 weeks to adults with non-specific "
        "(mechanical) low back or neck pain: 2 to 4 short snippets a week, each with a one-line "
        "takeaway and, on about a third of them, a true-or-false question. Every claim it "
        "makes is listed with its source (a leaflet, a NICE NG59 recommendation or a paper) in "
        "[clinical-rules.md](clinical-rules.md), in the project's own words; where a leaflet and "
        "the guideline disagree (acupuncture, TENS and other electrotherapy), the course follows "
        "the guideline. It never diagnoses and never advises complete rest. The warning signs "
        "and `/urgent` come in week 1 and again in weeks 10 and 12."
    )
    add("")
    add("## Files and format")
    add("")
    add(
        f"One file per snippet in `{DEFAULT_FOLDER.relative_to(REPO_ROOT).as_posix()}/`, named "
        "`wWW-NN-slug.md` (e.g. `w01-01-you-are-not-alone.md`): YAML front matter, then the body."
    )
    add("")
    add(_FORMAT_EXAMPLE)
    add("")
    add(
        f'- The body is Telegram HTML: only `<b> <i> <u> <s> <code> <a href="..."> '
        f"<blockquote>`, every tag closed and properly nested; write `&amp;` `&lt;` `&gt;` for "
        f"`&` `<` `>`. No Markdown. At most {MAX_BODY_CHARS} characters once rendered (tags "
        f"included, with an empty name and a {len(LENGTH_CHECK_EMERGENCY_NUMBER)}-character "
        f"emergency text, "
        f"the longest a clinic may set)."
    )
    add(
        "- Title, takeaway, body and check texts are jinja2 templates. Only two variables exist: "
        "`{{ name }}` (first name, already HTML-escaped, may be empty: guard it with "
        '`{% if name %}`) and `{{ emergency_number }}` (plain text such as "999 or 112", or a '
        "clinic's own text: always write `call {{ emergency_number }}`). Anything else fails "
        "loading. The warning-sign lists are never written out: include "
        '`{% include "_signs_emergency.html" +%}` (also `_signs_neck.html`, `_signs_soon.html`), '
        "the same lists /help and the closing message show."
    )
    add(
        "- `bot/course.py` loads and validates every file (`load_course()`); any problem raises "
        "`CourseError` naming the file."
    )
    add("")
    add("## Adding or changing a snippet")
    add("")
    add("1. Pick the week and the next free order number; copy a snippet of that week as a start.")
    add("2. Write short sentences in the second person; keep each fact traceable in `source`.")
    add(
        "3. Run `python -m pytest tests/test_course_content.py -q` (counts, lengths, HTML, "
        "variables, safety wording, average reading ease of at least "
        f"{TARGET_READING_EASE:.0f})."
    )
    add(
        "4. Add every new claim to [clinical-rules.md](clinical-rules.md) with its source and cite "
        "its number in `source`; `tests/test_course_originality.py` checks that no run of 8 words "
        "comes from a leaflet."
    )
    add("5. Regenerate this page: `python -m bot.course_report` (`--check` tells if it is stale).")
    add("")
    add("## Weeks and topics")
    add("")
    for week in range(1, WEEKS + 1):
        lessons = lessons_for_week(course, week)
        add(f"**Week {week}.** {WEEK_THEMES[week]}.")
        add("")
        for lesson in lessons:
            add(f"- `{lesson.id}` {plain_text(lesson.render().title)}")
        add("")
    add("## Readability")
    add("")
    add(
        "Computed with textstat on each snippet's body and takeaway as plain text (tags "
        "stripped, each line of a list read as one sentence), rendered with an empty name and "
        "the default emergency number. Syllables are "
        "counted with pyphen (textstat's own fallback) so that no dictionary is downloaded. "
        "Flesch reading ease: higher is easier, 60 to 70 is plain English; the course aims for "
        f"an average of at least {TARGET_READING_EASE:.0f}. Grade is the Flesch-Kincaid US "
        "school grade. Averages are over snippets."
    )
    add("")
    add(
        f"**{len(rows)} snippets, {checks} with a check. Averages: reading ease "
        f"{avg.reading_ease:.1f}, grade {avg.grade:.1f}, {avg.words:.0f} words, "
        f"{avg.chars:.0f} characters.**"
    )
    add("")
    add("| id | title | reading ease | grade | words | characters | body (HTML) chars | check |")
    add("|---|---|---:|---:|---:|---:|---:|:---:|")
    for r in rows:
        add(
            f"| {r.id} | {_md_cell(r.title)} | {r.reading_ease:.1f} | {r.grade:.1f} | {r.words} "
            f"| {r.chars} | {r.body_chars} | {'yes' if r.has_check else ''} |"
        )
    add(
        f"| **average** | | **{avg.reading_ease:.1f}** | **{avg.grade:.1f}** | "
        f"**{avg.words:.0f}** | **{avg.chars:.0f}** | | |"
    )
    add("")
    _extra_sections(course, add)
    return "\n".join(out)


@dataclass(frozen=True)
class Longest:
    """The longest rendered text of one kind, with the longest emergency text a clinic may set."""

    id: str
    chars: int  # rendered Telegram HTML, as checked against the limit
    words: int  # plain text


def longest(course: Sequence[Lesson]) -> dict[str, Longest]:
    """The longest body and takeaway of the course, rendered with a 60-character emergency text."""
    out = {}
    for field in ("body", "takeaway"):
        best = None
        for lesson in course:
            rendered = lesson.render(name="", emergency_number=LENGTH_CHECK_EMERGENCY_NUMBER)
            text = getattr(rendered, field)
            row = Longest(lesson.id, len(text), int(textstat.lexicon_count(plain_text(text))))
            if best is None or row.chars > best.chars:
                best = row
        assert best is not None
        out[field] = best
    return out


def sign_lists(course: Sequence[Lesson]) -> dict[str, list[str]]:
    """Which lessons include which warning-sign list."""
    out: dict[str, list[str]] = {name: [] for name in SIGN_PARTIALS}
    for lesson in course:
        for name in SIGN_PARTIALS:
            if name in lesson.body:
                out[name].append(lesson.id)
    return out


def _extra_sections(course: Sequence[Lesson], add) -> None:
    big = longest(course)
    add("## Lengths with the longest emergency text")
    add("")
    add(
        f"Rendered with an empty name and a {len(LENGTH_CHECK_EMERGENCY_NUMBER)}-character "
        "emergency text (the longest a clinic may set; the per-country numbers are shorter). "
        "Characters are Telegram HTML as sent, words are the plain text."
    )
    add("")
    add("| text | lesson | characters | limit | words |")
    add("|---|---|---:|---:|---:|")
    add(
        f"| longest lesson body | {big['body'].id} | {big['body'].chars} | {MAX_BODY_CHARS} | "
        f"{big['body'].words} |"
    )
    add(
        f"| longest takeaway | {big['takeaway'].id} | {big['takeaway'].chars} | "
        f"{MAX_TAKEAWAY_CHARS} | {big['takeaway'].words} |"
    )
    add("")
    add("## Warning signs")
    add("")
    add(
        "The three lists live once each in `messages/templates/` and are included wherever a list "
        "is shown (lessons, the closing message, /help, the set-up and /urgent questions); "
        "`tests/test_course_signs.py` renders every place and compares the items."
    )
    add("")
    for name, ids in sign_lists(course).items():
        add(f"- `{name}`: {', '.join(f'`{i}`' for i in ids)}")
    add("")
    add("## Promises about the bot")
    add("")
    add(
        "What a lesson tells the person the bot does, and the test that proves it "
        "(`tests/test_course_promises.py` checks that each test exists and that every lesson "
        "naming the bot or a command has a row)."
    )
    add("")
    add("| lesson | promise | test |")
    add("|---|---|---|")
    for lesson in course:
        for p in lesson.promises:
            add(f"| {lesson.id} | {_md_cell(p.promise)} | `{p.test}` |")
    add("")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.course_report", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--output", type=pathlib.Path, default=DEFAULT_OUTPUT, help="where to write the report"
    )
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the report is out of date"
    )
    args = parser.parse_args(argv)

    course = load_course()
    report = build_report(course)
    avg = averages([readability(lesson) for lesson in course])
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != report:
            print(f"{args.output} is out of date: run python -m bot.course_report", file=sys.stderr)
            return 1
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report, encoding="utf-8")
        print(f"wrote {args.output}")
    print(f"snippets: {len(course)}")
    print(f"average Flesch reading ease: {avg.reading_ease:.1f}")
    print(f"average Flesch-Kincaid grade: {avg.grade:.1f}")
    print(f"average words: {avg.words:.1f}")
    print(f"average characters: {avg.chars:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
