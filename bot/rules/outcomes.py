"""Outcome questions (issue 17): the items, their scales, typed answers, scoring and thresholds.

Pure. Three instruments, stored in `outcome_sets` / `outcome_answers` (storage/outcomes.py):

* **GRC**, the weekly global rating of change: "Compared with when you started, how is your back
  now?" on 7 points, stored -3..+3 (+3 much better ... -3 much worse). Typed words are read; a
  typed number is never guessed (is "5" better or worse?), the person is asked which words.
* **PEG** (Krebs et al., J Gen Intern Med 2009;24:733-8): average pain, interference with
  enjoyment of life, interference with general activity over the past week, each 0-10; the score
  is the mean of the three, only when all three are answered (a partial set has no score).
* **Goals**: up to three activities the person finds hard because of their back, each rated 0-10
  for how well they can do it now (the idea of the Patient-Specific Functional Scale, Stratford
  et al., Physiother Can 1995, in our own words).

Clinically important improvement: pain 2+ points on 0-10 (Farrar et al., Pain 2001;94:149-58),
PEG 1+ point or 30% (Krebs 2009; Dworkin et al., IMMPACT, J Pain 2008;9:105-21), GRC "better" or
"much better".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from bot.rules.course_plan import WEEKS
from bot.rules.parsing import Ambiguous, Invalid, Rating, parse_rating

Instrument = Literal["peg", "grc", "goals"]
INSTRUMENTS: tuple[Instrument, ...] = ("peg", "grc", "goals")

# --- the global rating of change -------------------------------------------------------------

GRC_MIN, GRC_MAX = -3, 3
GRC_ITEM = "grc"
# value -> the words shown (buttons, "Last week you said: a little better"); labels.yaml keys
# are grc_<key>.
GRC_KEYS: dict[int, str] = {
    3: "much_better",
    2: "better",
    1: "little_better",
    0: "same",
    -1: "little_worse",
    -2: "worse",
    -3: "much_worse",
}
GRC_WORDS: dict[int, str] = {
    3: "much better",
    2: "better",
    1: "a little better",
    0: "about the same",
    -1: "a little worse",
    -2: "worse",
    -3: "much worse",
}
# Button rows for a phone: the better side, the middle, the worse side.
GRC_ROWS: tuple[tuple[int, ...], ...] = ((3, 2, 1), (0,), (-1, -2, -3))

_LITTLE = r"(?:a )?(?:little|bit|slightly|tiny bit|wee bit|touch|little bit|smidge)(?: bit)?"
_MUCH = r"(?:much|lot|a lot|loads|way|far|heaps|really|very much|so much|hugely)"
_GRC_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(p), v)
    for p, v in (
        (rf"(?:{_MUCH}) better|(?:much|far|a lot) improved|great|excellent", 3),
        (rf"(?:{_LITTLE}) better|slightly improved|(?:a )?bit improved", 1),
        (r"better|improved|improving|good", 2),
        (rf"(?:{_MUCH}) worse", -3),
        (rf"(?:{_LITTLE}) worse", -1),
        (r"worse|bad|worsened", -2),
        (
            r"(?:about |roughly |more or less |pretty much |much |just )?(?:the )?same"
            r"(?: as before)?|no change|unchanged|no different|not changed|hasn't changed"
            r"|no better no worse|no better or worse|neither better nor worse|neither",
            0,
        ),
    )
)
_GRC_FILLER = re.compile(
    r"^(?:i(?:'d| would)? say |i think |i feel |it(?:'s| is| feels) |feeling |feels |"
    r"my back is |it's |im |i'm |its )+|(?: than (?:when i )?(?:started|before|at the start))$"
    r"|(?: now| overall| thanks| thank you)+$"
)


@dataclass(frozen=True)
class GrcAnswer:
    value: int  # -3..+3


@dataclass(frozen=True)
class GrcNumber:
    """A number typed for the 7-point question: not guessed; ask which words they mean."""

    text: str


def _fold(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    s = re.sub(r"[^a-z0-9' +\-]", " ", s)
    return " ".join(s.split())


def parse_grc(text: str | None) -> GrcAnswer | GrcNumber | None:
    """Typed words for the global rating of change; None when they say none of them."""
    if not isinstance(text, str) or not text.strip() or len(text) > 80:
        return None
    s = _fold(text)
    if re.search(r"[0-9]", s) or re.fullmatch(r"[+-]+\d*", s or "x"):
        return GrcNumber(text.strip())
    prev = None
    while prev != s:
        prev = s
        s = _GRC_FILLER.sub("", s).strip()
    for pattern, value in _GRC_PATTERNS:
        if pattern.fullmatch(s):
            return GrcAnswer(value)
    return None


def grc_words(value: int | None) -> str | None:
    return None if value is None else GRC_WORDS.get(value)


# --- 0-10 items: PEG and goals ------------------------------------------------------------------

SCALE_MIN, SCALE_MAX = 0, 10
PEG_ITEMS: tuple[str, ...] = ("peg_pain", "peg_enjoyment", "peg_activity")
# Wording (messages/templates/outcome_peg.html picks the sentence by item): past week, 0-10.
PEG_WORDING: dict[str, str] = {
    "peg_pain": "What number best describes your pain on average in the past week? "
    "(0 = no pain, 10 = pain as bad as you can imagine)",
    "peg_enjoyment": "What number best describes how, during the past week, pain has "
    "interfered with your enjoyment of life? (0 = not at all, 10 = completely)",
    "peg_activity": "What number best describes how, during the past week, pain has "
    "interfered with your general activity? (0 = not at all, 10 = completely)",
}
GOAL_WORDING = (
    "How well can you do it now? (0 = not at all, 10 = as well as before your back trouble)"
)
MAX_GOALS = 3
MAX_GOAL_NAME = 60


def goal_item(goal_id: int) -> str:
    return f"goal:{goal_id}"


def goal_id_of(item: str) -> int | None:
    if item.startswith("goal:") and item[5:].isdigit():
        return int(item[5:])
    return None


ScaleAnswer = Rating | Ambiguous | Invalid


def parse_scale(text: str | None) -> ScaleAnswer:
    """A 0-10 answer typed (the same reading as the daily rating: "7", "seven", "7/10")."""
    return parse_rating(text)


_SKIP_WORDS = frozenset(
    {
        "skip",
        "pass",
        "skip it",
        "skip this",
        "skip this one",
        "rather not",
        "i'd rather not",
        "id rather not",
        "prefer not to say",
        "i'd rather not say",
        "next question",
    }
)


def is_skip(text: str | None) -> bool:
    return isinstance(text, str) and _fold(text).strip(" .!") in _SKIP_WORDS


_NONE_WORDS = frozenset(
    {
        "none",
        "no",
        "nope",
        "nothing",
        "nothing really",
        "no goals",
        "not really",
        "no thanks",
        "skip",
        "nothing else",
        "that's it",
        "thats it",
        "that's all",
        "thats all",
        "done",
        "no more",
    }
)


def is_none(text: str | None) -> bool:
    """ "none" (and its friends) ends or skips the goals list."""
    return isinstance(text, str) and _fold(text).strip(" .!") in _NONE_WORDS


def clean_goal(text: str | None) -> str | None:
    """A goal's name as typed (trimmed, one line, at most MAX_GOAL_NAME); None if unusable."""
    if not isinstance(text, str):
        return None
    s = " ".join(text.split()).strip(" .,;:!-")
    if not s or len(s) > MAX_GOAL_NAME or s.startswith("/"):
        return None
    if not re.search(r"[^\W\d_]", s):  # a number or punctuation is not an activity
        return None
    return s


# --- scoring ------------------------------------------------------------------------------------


def peg_score(answers: dict[str, int | None]) -> float | None:
    """The mean of the three PEG items; None unless all three were answered."""
    values = [answers.get(item) for item in PEG_ITEMS]
    if any(v is None for v in values):
        return None
    return round(sum(v for v in values if v is not None) / 3, 2)


# --- improvement thresholds ---------------------------------------------------------------------

PAIN_MCID = 2  # points on 0-10: Farrar JT et al., Pain 2001;94:149-58
PEG_MCID_POINTS = 1.0  # points: Krebs EE et al., J Gen Intern Med 2009;24:733-8
PEG_MCID_FRACTION = 0.30  # 30% of baseline: Farrar 2001; IMMPACT, Dworkin et al., J Pain 2008
GRC_IMPROVED = frozenset({2, 3})  # "better" or "much better"

SOURCES: dict[str, str] = {
    "peg": "Krebs EE, Lorenz KA, Bair MJ, et al. Development and initial validation of the PEG, "
    "a three-item scale assessing pain intensity and interference. J Gen Intern Med. "
    "2009;24(6):733-738.",
    "pain_mcid": "Farrar JT, Young JP, LaMoreaux L, Werth JL, Poole RM. Clinical importance of "
    "changes in chronic pain intensity measured on an 11-point numerical pain rating scale. "
    "Pain. 2001;94(2):149-158.",
    "immpact": "Dworkin RH, Turk DC, Wyrwich KW, et al. Interpreting the clinical importance of "
    "treatment outcomes in chronic pain clinical trials: IMMPACT recommendations. J Pain. "
    "2008;9(2):105-121.",
    "psfs": "Stratford P, Gill C, Westaway M, Binkley J. Assessing disability and change on "
    "individual patients: a report of a patient specific measure. Physiother Can. "
    "1995;47(4):258-263.",
    "grc": "Kamper SJ, Maher CG, Mackay G. Global rating of change scales: a review of "
    "strengths and weaknesses and considerations for design. J Man Manip Ther. "
    "2009;17(3):163-170.",
}


def pain_improved(baseline: float, follow_up: float) -> bool:
    """A fall of PAIN_MCID (2) points or more on 0-10."""
    return baseline - follow_up >= PAIN_MCID


def peg_improved(baseline: float, follow_up: float) -> bool:
    """A fall of 1 point or more, or of 30% or more of the baseline score."""
    fall = baseline - follow_up
    if fall >= PEG_MCID_POINTS:
        return True
    return baseline > 0 and fall / baseline >= PEG_MCID_FRACTION


def grc_improved(value: int) -> bool:
    return value in GRC_IMPROVED


# --- schedule -----------------------------------------------------------------------------------

Timepoint = Literal["baseline", "w06", "w12"]
TIMEPOINTS: tuple[Timepoint, ...] = ("baseline", "w06", "w12")
REMIND_AFTER = timedelta(days=1)  # the one reminder
OPEN_FOR = timedelta(days=3)  # a set closes 3 days after it was asked
# How long each question's record takes typed answers (a set's questions are asked one by one).
QUESTION_OPEN_FOR = OPEN_FOR
GRC_OPEN_FOR = timedelta(days=2)


def followup_date(start: date, timepoint: Timepoint) -> date | None:
    """The local date the PEG and goals are asked: the last day of week 6 and of week 12."""
    if timepoint == "w06":
        return start + timedelta(days=7 * 6 - 1)
    if timepoint == "w12":
        return start + timedelta(days=7 * WEEKS - 1)
    return None


def grc_timepoint(week: int) -> str:
    """The GRC set's timepoint for the summary of course week `week`: 'w01'..'w12', then 'm<n>'."""
    if week <= WEEKS:
        return f"w{max(week, 1):02d}"
    return f"m{week - WEEKS}"


def goals_change(before: int | None, now: int | None) -> str:
    """ "3 → 6"; a missing side shows as "?"."""
    a = "?" if before is None else str(before)
    b = "?" if now is None else str(now)
    return f"{a} → {b}"
