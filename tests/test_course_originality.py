"""No lesson, template or button label shares a run of 8 words with the source leaflets.

The leaflets' 8-word runs are stored only as sha256 hashes (tests/leaflet_shingles.py says how
they were made); a failure prints the run, found in our own text, so it can be reworded.
"""

from __future__ import annotations

import html
import re

import pytest
import yaml

from bot.course import load_course
from bot.course_report import plain_text
from messages import TEMPLATES
from tests.leaflet_shingles import RUN, digest, load_hashes, shingles

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


@pytest.fixture(scope="module")
def leaflet_hashes() -> frozenset[str]:
    return load_hashes()


def _segments(template_source: str) -> list[str]:
    """The literal text of a template, split where a jinja tag or expression stands."""
    return [html.unescape(_TAG.sub(" ", part)) for part in _JINJA.split(template_source)]


def _shared(texts: list[str], hashes: frozenset[str]) -> list[str]:
    return [s for text in texts for s in shingles(text) if digest(s) in hashes]


def test_the_hash_file_is_there_and_well_formed(leaflet_hashes):
    assert len(leaflet_hashes) > 1000  # two leaflets of some 2,600 words
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in leaflet_hashes)


def test_the_check_finds_a_shared_run(leaflet_hashes):
    # Our own sentence, hashed as if it were a leaflet's: the check must catch it however the
    # punctuation, case and apostrophes differ.
    ours = "The bot can't diagnose, but it asks about warning signs."
    fake = frozenset(digest(s) for s in shingles(ours.upper().replace("'", "\u2019")))
    assert _shared([ours], fake)
    assert len(shingles("one two three four five six seven")) == 0  # fewer than RUN words
    assert RUN == 8


def test_no_lesson_shares_8_words_with_a_leaflet(leaflet_hashes):
    problems = {}
    for lesson in load_course():
        r = lesson.render(name="", emergency_number="112")
        texts = [r.title, r.takeaway, r.body]
        if r.check:
            texts += [r.check.question, r.check.right, r.check.wrong]
        shared = _shared([plain_text(t) for t in texts], leaflet_hashes)
        if shared:
            problems[lesson.id] = shared
    assert not problems, problems


def test_no_template_shares_8_words_with_a_leaflet(leaflet_hashes):
    problems = {}
    for path in sorted(TEMPLATES.glob("*.html")):
        shared = _shared(_segments(path.read_text(encoding="utf-8")), leaflet_hashes)
        if shared:
            problems[path.name] = shared
    assert len(list(TEMPLATES.glob("*.html"))) > 50
    assert not problems, problems


def test_no_button_label_shares_8_words_with_a_leaflet(leaflet_hashes):
    labels = yaml.safe_load((TEMPLATES / "labels.yaml").read_text(encoding="utf-8"))
    texts = [part for value in labels.values() for part in _PLACEHOLDER.split(str(value))]
    assert texts
    assert not _shared(texts, leaflet_hashes)
