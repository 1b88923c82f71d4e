"""The warning-sign rules as pure functions (bot.rules.safety): recall and false alarms over the
phrase set in tests/data/warning_phrases.toml and the blind held-out sets in
tests/data/warning_phrases_heldout.toml, negation and doubt, clear answers only, the emergency
number by time zone, and property tests (never raises, bounded time, no yes/no by accident)."""

from __future__ import annotations

import random
import re
import time
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.rules import safety
from bot.rules.safety import Screen, emergency_number, normalise, safety_answer, screen

ROOT = Path(__file__).resolve().parent.parent
PHRASES = tomllib.loads((ROOT / "tests" / "data" / "warning_phrases.toml").read_text("utf-8"))
# Blind sets: each written and committed before the rules were run on it (see the file's header).
HELDOUT = tomllib.loads(
    (ROOT / "tests" / "data" / "warning_phrases_heldout.toml").read_text("utf-8")
)
# Each blind set's figures on its first, untouched run: the honest estimates for phrasings
# nobody had tried, kept for the record (docs/warning-signs.md). Each set's misses were fixed
# after that run, so the earlier sets are held to the tuned targets and the last one to floors.
UNTOUCHED = {
    "first": "emergency 130/150 = 86.7% (18 doubtful); soon 76/80 = 95.0%; false alarms 21/153",
    "second": "emergency 87/101 = 86.1% (17 doubtful); soon 48/50 = 96.0%; false alarms 3/101",
    "third": "emergency 49/60 = 81.7% (9 doubtful); soon 29/30 = 96.7%; false alarms 5/60",
}
LAST_BLIND_SET = "third"
LAST_FLOORS = {"emergency_recall": 0.95, "soon_recall": 0.95, "false_alarms": 0.05}


def _figures(phrases: dict[str, list[str]] = PHRASES) -> tuple[str, dict[str, float], list[str]]:
    """(report, figures, misses) over a phrase set."""
    emergency, soon, ordinary = phrases["emergency"], phrases["soon"], phrases["ordinary"]
    e_hits = [t for t in emergency if screen(t).level == "emergency"]
    e_certain = [t for t in e_hits if not screen(t).doubtful]
    s_hits = [t for t in soon if screen(t).level in ("soon", "emergency")]
    s_exact = [t for t in soon if screen(t).level == "soon"]
    alarms = [t for t in ordinary if screen(t).level is not None]
    figures = {
        "emergency_recall": len(e_hits) / len(emergency),
        "soon_recall": len(s_hits) / len(soon),
        "false_alarms": len(alarms) / len(ordinary),
    }
    report = (
        f"emergency recall {len(e_hits)}/{len(emergency)} = {figures['emergency_recall']:.1%}"
        f" (certain {len(e_certain)}, doubtful {len(e_hits) - len(e_certain)}); "
        f"soon recall {len(s_hits)}/{len(soon)} = {figures['soon_recall']:.1%}"
        f" (at soon {len(s_exact)}); "
        f"false alarms {len(alarms)}/{len(ordinary)} = {figures['false_alarms']:.1%}"
    )
    misses = (
        [f"missed emergency: {t!r} -> {screen(t)}" for t in emergency if t not in e_hits]
        + [f"missed soon: {t!r} -> {screen(t)}" for t in soon if t not in s_hits]
        + [f"false alarm: {t!r} -> {screen(t)}" for t in ordinary if t in alarms]
    )
    return report, figures, misses


# --- the phrase set ----------------------------------------------------------------------------


def test_the_phrase_set_is_big_enough():
    assert len(PHRASES["emergency"]) >= 80
    assert len(PHRASES["soon"]) >= 40
    assert len(PHRASES["ordinary"]) >= 60
    for group in ("emergency", "soon", "ordinary", "negated"):
        assert len(set(PHRASES[group])) == len(PHRASES[group]), f"duplicates in {group}"


def test_every_sign_is_in_the_phrase_set():
    phrases = PHRASES["emergency"] + PHRASES["soon"] + PHRASES["negated"]
    heard = Counter(sign for text in phrases for sign in screen(text).signs)
    # a fallback sign ("numbness" said without where) is heard only when nothing more precise is
    thin = {
        s.id: heard[s.id] for s in safety._rules().signs if heard[s.id] < (1 if s.fallback else 5)
    }
    assert thin == {}, f"signs with too few phrasings: {thin}"


def test_recall_and_false_alarms():
    report, figures, misses = _figures()
    print("\nwarning-sign screen:", report)
    for line in misses:
        print("  ", line)
    message = report + "\n" + "\n".join(misses)
    assert figures["emergency_recall"] == 1.0, message
    assert figures["soon_recall"] >= 0.95, message
    assert figures["false_alarms"] <= 0.05, message


def test_the_held_out_sets_are_big_enough_and_apart():
    assert set(HELDOUT) == set(UNTOUCHED)
    first, second = HELDOUT["first"], HELDOUT["second"]
    assert (len(first["emergency"]), len(first["soon"]), len(first["ordinary"])) >= (150, 80, 150)
    assert len(second["emergency"]) >= 100 and len(second["soon"]) >= 50
    assert len(second["ordinary"]) >= 100
    tuned = {t for group in PHRASES.values() for t in group}
    for name, blind in HELDOUT.items():
        for group, texts in blind.items():
            assert len(set(texts)) == len(texts), f"duplicates in {name}.{group}"
            # written blind, so a few short, common messages ("pain 6", "I fainted") recur
            shared = tuned & set(texts)
            assert len(shared) <= 0.1 * len(texts), f"{name}.{group} repeats: {shared}"


@pytest.mark.parametrize("name", sorted(UNTOUCHED))
def test_held_out_sets(name):
    report, figures, misses = _figures(HELDOUT[name])
    print(f"\n{name} held-out set: {report}\n   its first, untouched run: {UNTOUCHED[name]}")
    for line in misses:
        print("  ", line)
    message = report + "\n" + "\n".join(misses)
    if name == LAST_BLIND_SET:
        assert figures["emergency_recall"] >= LAST_FLOORS["emergency_recall"], message
        assert figures["soon_recall"] >= LAST_FLOORS["soon_recall"], message
        assert figures["false_alarms"] <= LAST_FLOORS["false_alarms"], message
    else:
        assert figures["emergency_recall"] == 1.0, message
        assert figures["soon_recall"] >= 0.95, message
        assert figures["false_alarms"] <= 0.05, message


def test_joined_ordinary_messages_rarely_alarm():
    # three ordinary messages run together, as people type: the gaps in the patterns must not
    # build a sign out of unrelated pieces
    rng = random.Random(7)
    ordinary = [
        t
        for t in PHRASES["ordinary"] + [t for blind in HELDOUT.values() for t in blind["ordinary"]]
        if len(t) > 3
    ]
    alarms = []
    for _ in range(1000):
        text = rng.choice([" and ", " ", " but ", ". "]).join(rng.sample(ordinary, 3))
        if screen(text).level is not None:
            alarms.append(text)
    report = f"joined ordinary messages: {len(alarms)}/1000 alarm"
    print("\n" + report)
    assert len(alarms) <= 10, report + "\n" + "\n".join(alarms)


@pytest.mark.parametrize("text", PHRASES["negated"])
def test_negated_or_hedged_signs_are_asked_about_not_dismissed(text):
    found = screen(text)
    assert found.level is not None, f"{text!r} -> {found}"
    assert found.doubtful, f"{text!r} -> {found}"


@pytest.mark.parametrize(
    "text, level, sign",
    [
        ("no numbness", "emergency", "numbness"),
        ("no numbness in my groin", "emergency", "saddle"),
        ("my legs are not weak", "emergency", "legs"),
        ("not weak", "emergency", "numbness"),
        ("I don't have a fever", "soon", "fever"),
        ("never had cancer", "soon", "cancer"),
        ("I haven't lost any weight", "soon", "weight_loss"),
        ("I do not have a fever", "soon", "fever"),
        ("no problems with my bladder", "emergency", "bladder"),
        ("Numbness? None.", "emergency", "numbness"),
        ("my leg is numb", "emergency", "legs"),  # the sign's core without "getting worse"
        ("my arm is weak", "emergency", "arms"),
        ("losing weight", "soon", "weight_loss"),  # not said to be unexplained
        ("I'm scared I might wet myself", "emergency", "bladder"),
        ("what if I can't feel my legs", "emergency", "legs"),
        ("I had numbness down there years ago", "emergency", "saddle"),
        ("is numbness in the groin serious?", "emergency", "saddle"),  # a question
        ("should I worry about numbness down there", "emergency", "saddle"),
    ],
)
def test_doubt_keeps_the_level(text, level, sign):
    assert screen(text) == Screen(level, (sign,), True)


@pytest.mark.parametrize(
    "text, level, signs",
    [
        (
            "I have numbness around my groin since last night and it feels odd when I pee",
            "emergency",
            ("bladder", "saddle"),
        ),
        (
            "it's really bad today, I'd say 9 and I can't feel my legs properly",
            "emergency",
            ("legs",),
        ),
        ("its bad today id say 9 and i cant feel my legs properly", "emergency", ("legs",)),
        ("I can't feel my bum and I wet myself", "emergency", ("bladder", "saddle")),
        ("my leg is numb and it's getting worse", "emergency", ("legs",)),
        ("no fever but my legs are getting weaker", "emergency", ("legs", "fever")),
        ("had a fall yesterday and now I've got a temperature", "soon", ("fever", "fall")),
        ("I had cancer ten years ago", "soon", ("cancer",)),  # a history counts however old
        ("cant feel the toilet paper", "emergency", ("saddle",)),
        ("neck pain, dizzy and seeing double", "emergency", ("dizziness", "vision")),
    ],
)
def test_certain_signs(text, level, signs):
    assert screen(text) == Screen(level, signs, False)


def test_the_most_serious_level_wins_and_doubt_is_about_that_level():
    # a doubtful emergency with a certain soon sign: still an emergency question
    found = screen("I had a fall and my leg is numb")
    assert found.level == "emergency" and found.doubtful
    assert found.signs == ("legs", "fall")


@pytest.mark.parametrize(
    "text",
    [
        "im incontinant since tuesday",
        "numbniss round my grion",
        "bladdder not working",
        "cnt feel my leggs",
        "my legs r gettin weeker",
        "temprature of 39",
        "feeling unwel",
        "had chemotheraphy in 2019",
        "neck pain and dizzyness",
        "worst hedache ever with neck pain",
        "unstedy walking",
        "lost wieght without trying",
        "wiplash from a crash",
        "I CANT FEEL MY LEGS!!!",
        "Can\u2019t pee",
        "\uff4e\uff55\uff4d\uff42 down there",
    ],
)
def test_misspellings_shouting_and_odd_characters(text):
    found = screen(text)
    assert found.level is not None and not found.doubtful, f"{text!r} -> {found}"


def test_a_sign_inside_a_long_rambling_message():
    text = (
        "so yesterday I went to the shops with my daughter and we had lunch which was lovely "
        "but on the way back I noticed my legs felt funny and now this morning both my legs "
        "are numb and I can barely walk and I'm a bit scared tbh " * 3
    )
    assert screen(text) == Screen("emergency", ("legs",), False)


@pytest.mark.parametrize("text", [None, "", "   ", "...", "\u200f", 7])
def test_nothing_to_screen(text):
    assert screen(text) == Screen(None)


def test_normalise():
    assert normalise("I CAN\u2019T feel, my  legs!!") == "i cant feel , my legs ,"
    assert normalise("I cannot pee") == "i cant pee"
    assert normalise("I'll do it") == "i will do it"  # not "ill"
    assert normalise("is that bad??") == "is that bad ,?"
    assert normalise("I could not make it, I do not know") == "i couldnt make it , i dont know"
    assert normalise("temp 38.5") == "temp 38 5"
    assert normalise("\uff11\uff10/10") == "10/10".replace("/", " ")


def test_the_data_files_are_well_formed():
    rules = safety._rules()
    ids = [s.id for s in rules.signs]
    assert len(ids) == len(set(ids))
    assert {s.level for s in rules.signs} == {"emergency", "soon"}
    for sign in rules.signs:
        assert sign.patterns or sign.core, sign.id
    raw = tomllib.loads((ROOT / "messages" / "warning_signs.toml").read_text("utf-8"))
    for sign in raw["sign"]:
        assert sign.get("source"), f"{sign['id']} has no source note"


# --- clear answers only ------------------------------------------------------------------------

YES = [
    "yes",
    "Yes.",
    "YES!",
    "yeah",
    "yep",
    "yup",
    "aye",
    "yes I do",
    "yes I have",
    "yes I have numbness",
    "Yes, I do",
    "yes it is",
]
NO = [
    "no",
    "No.",
    "NO",
    "nope",
    "nah",
    "no I don't",
    "none",
    "none of these",
    "none of them",
    "no none",
    "not at all",
    "No, I don't.",
    "no thanks",
    "none of these apply",
    "none of the above",
    "no never",
]
UNSURE = [
    "not sure",
    "unsure",
    "don't know",
    "I don't know",
    "dunno",
    "maybe",
    "perhaps",
    "possibly",
    "I think so",
    "not really sure",
    "no idea",
    "I'm not sure",
    "idk",
    "not that I know of",
    "I don't think so",
]
UNCLEAR = [
    "ok",
    "okay",
    "OK!",
    "fine",
    "sure",
    "k",
    "y",
    "n",
    "next",
    "continue",
    "start",
    "I agree",
    "agree",
    "help",
    "1",
    "0",
    "42",
    "\U0001f44d",
    "",
    " ",
    "hello",
    "yes but not now",
    "yes no",
    "yeah nah",
    "no but my leg is numb",
    "sorry I meant no",
    "no wait yes",
    "yes I can't",
    "ok yes",
    "fine no",
    "sure yes",
    "next please",
    "yes, I think",
    "yeah I guess",
    "yes?",
    "no?",
    "none??",
]


@pytest.mark.parametrize("text", YES)
def test_yes(text):
    assert safety_answer(text) == "yes"


@pytest.mark.parametrize("text", NO)
def test_no(text):
    assert safety_answer(text) == "no"


@pytest.mark.parametrize("text", UNSURE)
def test_unsure(text):
    assert safety_answer(text) == "unsure"


@pytest.mark.parametrize("text", UNCLEAR + [None])
def test_unclear_is_none(text):
    assert safety_answer(text) is None


_YES_WORDS = {"yes", "yeah", "yep", "yup", "aye", "yea", "yess", "yesss"}
_NO_WORDS = {"no", "nope", "nah", "none", "noo", "nooo", "nop", "not"}
# the words a "no" may carry after it ("no I don't", "none of these", "not at all", "no thanks")
_NO_FORM = _NO_WORDS | set(
    "i dont do have havent had hasnt has of these them those that thats its it is isnt am im "
    "at all thanks thank you right now doesnt does nothing like currently any anything "
    "definitely apply applies to the above never".split()
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=60))
def test_any_text_without_a_yes_or_no_word_first_is_never_yes_or_no(text):
    words = normalise(text).replace(",", " ").split()
    answer = safety_answer(text)
    if answer == "yes":
        assert words and words[0] in _YES_WORDS, (text, words)
    elif answer == "no":
        assert words and words[0] in _NO_WORDS, (text, words)
        assert set(words) <= _NO_FORM, (text, words)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from(UNCLEAR[:12] + ["maybe", "not sure", "well", "hmm", "I think"]),
    tail=st.lists(
        st.sampled_from(
            [
                "yes",
                "no",
                "I",
                "do",
                "have",
                "numbness",
                "ok",
                "none",
                "not",
                "at",
                "all",
                "fine",
                "sure",
                "\U0001f44d",
                "!",
            ]
        ),
        max_size=5,
    ),
)
def test_an_unclear_word_first_never_makes_a_yes_or_no(prefix, tail):
    assert safety_answer(" ".join([prefix, *tail])) not in ("yes", "no")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tail=st.lists(
        st.sampled_from(
            ["but", "not", "no", "don't", "maybe", "sorry", "meant", "if", "or", "never"]
        ),
        min_size=1,
        max_size=3,
    ),
    head=st.sampled_from(["yes", "yeah", "yep", "yes I have", "aye"]),
)
def test_a_yes_with_negation_or_doubt_after_it_is_not_yes(head, tail):
    assert safety_answer(" ".join([head, *tail])) != "yes"


# --- screen never breaks -----------------------------------------------------------------------

_ODD = st.sampled_from(
    [
        "\u202e",
        "\u200f",
        "\u0000",
        "\x07",
        "\ufeff",
        "\U0001f600",
        "\u0645",
        "\u05d0",
        "\u4e2d",
        "\u0301",
        "\n",
        "\t",
        "'",
        ",",
        ".",
        "/",
        "\\",
        "(",
        "[",
        "{",
        "*",
        "+",
        "?",
        "|",
        "^",
        "$",
        "numb",
        " legs ",
        " no ",
        " cant feel ",
        " getting worse ",
        " fell ",
        " pee ",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=400),
        st.lists(st.one_of(_ODD, st.text(max_size=8)), max_size=200).map("".join),
    )
)
def test_screen_never_raises(text):
    found = screen(text)
    assert isinstance(found, Screen)
    assert found.level in (None, "emergency", "soon")
    assert (found.level is None) == (not found.signs)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(min_size=1, max_size=50).map(lambda s: (s * (10_000 // len(s) + 1))[:10_000]))
def test_screen_is_quick_on_10000_characters(text):
    screen("warm up")
    start = time.perf_counter()
    screen(text)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    "unit",
    [
        "no numb legs ",
        "legs numb ",
        "i cant feel my legs , ",
        "my mum had cancer ",
        "a" * 30 + " ",
        "\U0001f600\u202e ",
        "numb " + "x " * 8,
    ],
)
def test_screen_is_quick_on_long_repetitive_text(unit):
    text = (unit * (10_000 // len(unit) + 1))[:10_000]
    screen("warm up")
    start = time.perf_counter()
    screen(text)
    assert time.perf_counter() - start < 2.0


def test_screen_is_quick_on_the_data_files_own_words():
    # the worst case for the patterns: nothing but their own words, in random order
    words = re.findall(r"[a-z]{2,}", (ROOT / "messages" / "warning_signs.toml").read_text("utf-8"))
    rng = random.Random(3)
    screen("warm up")
    for _ in range(5):
        text = " ".join(rng.choice(words) for _ in range(2500))[:10_000]
        start = time.perf_counter()
        found = screen(text)
        assert time.perf_counter() - start < 2.0
        assert isinstance(found, Screen)


def test_screen_is_well_under_50_ms_on_10000_characters_of_messages():
    # ordinary and warning-sign messages run together: the realistic long message. CPU time, best
    # of five after warm-up (the machine is shared); the aim is well under 50 ms, the assertion
    # leaves room for a slow, busy CI runner
    rng = random.Random(11)
    pool = PHRASES["ordinary"] + PHRASES["emergency"] + PHRASES["soon"]
    text = " ".join(rng.choice(pool) for _ in range(600))[:10_000]
    screen("warm up")
    best = min(_cpu(lambda: screen(text)) for _ in range(5))
    print(f"\n10,000 characters of messages: {best * 1000:.0f} ms")
    assert best < 0.15


def _cpu(f) -> float:
    start = time.process_time()
    f()
    return time.process_time() - start


_DATA_WORDS = sorted(
    set(re.findall(r"[a-z]{2,}", (ROOT / "messages" / "warning_signs.toml").read_text("utf-8")))
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(
        st.one_of(st.sampled_from(_DATA_WORDS), st.sampled_from([",", ",?", "i"])), max_size=120
    )
)
def test_patterns_tried_at_hits_find_what_finditer_finds(words):
    # the screen tries a sign's patterns only where its combined pattern matched: the same
    # matches as scanning the whole text with each pattern
    text = " ".join(words)
    for sign in safety._rules().signs:
        hits = safety._hits(sign.any, text) if sign.any is not None else []
        for p in sign.patterns + sign.core:
            assert [m.span() for m in safety._matches(p, text, hits)] == [
                m.span() for m in p.finditer(text)
            ], (sign.id, p.pattern[:80], text)


@pytest.mark.parametrize(
    "text, level, sign",
    [
        # swapped, doubled or one-key-off letters of key words, generated, not listed one by one
        ("lost control of my bwoels", "emergency", "bowel"),
        ("my legs are getting wekaer", "emergency", "legs"),
        ("I have a fecer", "soon", "fever"),
        ("nummbness around my groni", "emergency", "saddle"),
        ("my bladdre isnt working", "emergency", "bladder"),
        ("my legs are getting worsr and numb", "emergency", "legs"),
    ],
)
def test_phone_typos_of_key_words_are_heard(text, level, sign):
    found = screen(text)
    assert found.level == level and sign in found.signs, f"{text!r} -> {found}"


@pytest.mark.parametrize(
    "text",
    [
        "the village fete was fun",
        "I spurred him on",
        "I slurped my tea",
        "he swears a lot",
    ],
)
def test_real_words_near_a_key_word_are_not_corrected(text):
    assert screen(text) == Screen(None)


def test_typos_keep_the_first_letter_and_skip_protected_words():
    typos = safety._typos("worse")
    assert {"wrose", "worsse", "wirse", "worsd"} <= typos  # swapped, doubled, one key off
    assert all(t[0] == "w" for t in typos) and "worse" not in typos
    assert safety._typos("feet") >= {"fete"}  # generated, but a real word:
    assert safety._spell("fete") == "fete"  # listed as protected, so never corrected


@pytest.mark.parametrize(
    "text, expected",
    [
        # near rules: two synonym classes within a few words of one clause, in either order
        (
            "my bum feels like its been injected with novocaine",
            Screen("emergency", ("saddle",), True),
        ),
        (
            "urine is not coming properly from yesterday only",
            Screen("emergency", ("bladder",), True),
        ),
        ("motion is passing without my control", Screen("emergency", ("bowel",), True)),
        # a near rule stops at "so", "but", "because" and at another body part
        ("the toilet at work is broken so I can't go there", Screen(None)),
        ("cant sleep because i need a wee all night", Screen(None)),
        (
            "my bum aches and my foot feels like its been injected",
            Screen("emergency", ("legs",), True),
        ),
    ],
)
def test_near_rules(text, expected):
    assert screen(text) == expected


def test_an_ordinary_context_drops_only_its_own_sign():
    assert screen("bum numb after a long cycle ride, normal for me") == Screen(None)
    found = screen("bum numb after a long cycle ride, normal for me, but I wet myself")
    assert found == Screen("emergency", ("bladder",), False)


@pytest.mark.parametrize("padding", [2990, 2995, 2999, 3000, 5935, 5941])
def test_a_sign_across_a_window_boundary_is_heard(padding):
    text = "fine " * padding + "my leg is numb and getting worse"
    assert screen(text) == Screen("emergency", ("legs",), False)


def test_screen_reads_only_a_bounded_prefix_of_huge_text():
    start = time.perf_counter()
    assert screen("fine " * 200_000 + "I wet myself").level is None  # past the 100,000 chars read
    assert time.perf_counter() - start < 5.0


# --- the emergency number ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone, number",
    [
        ("Europe/Berlin", "112"),
        ("Europe/London", "999 or 112"),
        ("America/New_York", "911"),
        ("Asia/Tokyo", "119"),
        ("Australia/Sydney", "000"),
        ("Asia/Kolkata", "112"),
        ("Asia/Calcutta", "112"),  # a link name
        ("US/Eastern", "911"),  # a link name
        ("Europe/Paris", "112"),
        ("America/Toronto", "911"),
        ("America/Mexico_City", "911"),
        ("Pacific/Auckland", "111"),
        ("America/Sao_Paulo", "192"),
        ("Africa/Johannesburg", "112"),
        ("Europe/Moscow", "112"),
        ("Asia/Shanghai", "120"),
        ("Asia/Seoul", "119"),
        ("Europe/Zurich", "144"),
        ("europe/berlin", "112"),  # case does not matter
    ],
)
def test_the_number_follows_the_zone(zone, number):
    assert emergency_number(zone) == number


@pytest.mark.parametrize(
    "zone",
    [
        "Antarctica/Troll",
        "Etc/UTC",
        "UTC",
        "Etc/GMT+5",
        None,
        "",
        "garbage",
        "Mars/Olympus_Mons",
        "../../etc/passwd",
        "x" * 1000,
        "Europe/",
        112,
    ],
)
def test_an_unknown_zone_gets_112_or_the_local_number(zone):
    assert emergency_number(zone) == "112 or your local emergency number"


def test_numbers_are_plain_text_that_follows_call():
    for number in {*safety._numbers().values(), safety.UNKNOWN_NUMBER}:
        assert not number.lower().startswith("call")
        assert number[0].isdigit()
        assert "<" not in number and "&" not in number


def test_the_number_table_covers_the_required_countries():
    numbers = safety._numbers()
    eu = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
    for cc in eu:
        assert numbers[cc].startswith("112"), cc
    assert numbers["GB"] == "999 or 112"
    assert (numbers["US"], numbers["CA"], numbers["AU"], numbers["NZ"]) == (
        "911",
        "911",
        "000",
        "111",
    )
    assert (numbers["IN"], numbers["JP"], numbers["BR"], numbers["ZA"], numbers["RU"]) == (
        "112",
        "119",
        "192",
        "112",
        "112",
    )


def test_zone1970_is_used_when_its_countries_share_a_number(monkeypatch):
    zone_tab, zone1970, links = safety._zones()
    fake1970 = {**zone1970, "Test/Shared": ("DE", "FR", "NL"), "Test/Mixed": ("DE", "GB")}
    monkeypatch.setattr(safety, "_zones", lambda: (zone_tab, fake1970, links))
    monkeypatch.setattr(
        safety, "_zone_names", lambda: {"test/shared": "Test/Shared", "test/mixed": "Test/Mixed"}
    )
    assert emergency_number("Test/Shared") == "112"
    assert emergency_number("Test/Mixed") == "112 or your local emergency number"


def test_every_zone_in_zone_tab_gets_an_answer():
    zone_tab, zone1970, links = safety._zones()
    for zone in [*zone_tab, *zone1970, *links]:
        number = emergency_number(zone)
        assert number and not number.lower().startswith("call")
