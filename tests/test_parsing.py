"""What people type: ratings, yes/no, durations, clock times."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.parsing import (
    Ambiguous,
    Invalid,
    Rating,
    parse_correction,
    parse_flare_choice,
    parse_hhmm,
    parse_minutes,
    parse_pause_length,
    parse_rating,
    parse_session_end,
    parse_yes_no,
    parse_yesterday,
)

WORDS = "zero one two three four five six seven eight nine ten".split()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("7", 7),
        (" 7 ", 7),
        ("7/10", 7),
        ("7 / 10", 7),
        ("7 out of 10", 7),
        ("seven", 7),
        (" Seven ", 7),
        ("SEVEN", 7),
        ("0", 0),
        ("10", 10),
        ("pain 7", 7),
        ("about 6", 6),
        ("６", 6),
        ("٧", 7),
        ("7.", 7),
        ("7.0", 7),
        ("10/10", 10),
        ("0/10", 0),
        ("seven out of ten", 7),
        ("I'd say about a 7!", 7),
        ("7/10 pain", 7),
        ("7\ufe0f\u20e3", 7),
        ("Pain: 4", 4),
        ("ten", 10),
        ("zero", 0),
    ],
)
def test_rating(text, expected):
    assert parse_rating(text) == Rating(expected)


@pytest.mark.parametrize(
    "text, low, high",
    [
        ("7.5", 7, 8),
        ("7,5", 7, 8),
        ("6-7", 6, 7),
        ("6 or 7", 6, 7),
        ("6 - 7", 6, 7),
        ("6–7", 6, 7),
        ("six or seven", 6, 7),
        ("7-6", 6, 7),
        ("6-7/10", 6, 7),
        ("9.5", 9, 10),
        ("0.5", 0, 1),
        ("7.5/10", 7, 8),
        ("between 6 and 7", 6, 7),
    ],
)
def test_rating_ambiguous(text, low, high):
    assert parse_rating(text) == Ambiguous(low, high)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("11", "out_of_range"),
        ("-1", "out_of_range"),
        ("\u22121", "out_of_range"),
        ("12/10", "out_of_range"),
        ("10.5", "out_of_range"),
        ("-0.5", "out_of_range"),
        ("99", "out_of_range"),
        ("eleven", "not_a_number"),
        ("9-11", "out_of_range"),
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        ("lots", "not_a_number"),
        ("🙂", "not_a_number"),
        ("7/5", "not_a_number"),
        ("1e9", "not_a_number"),
        ("NaN", "not_a_number"),
        ("inf", "not_a_number"),
        ("-inf", "not_a_number"),
        (".5", "not_a_number"),
        ("not 7", "not_a_number"),
        ("<7", "not_a_number"),
        ("7 10", "not_a_number"),
        ("7/10.5", "not_a_number"),
        ("6.5-7", "not_a_number"),
        ("7" * 4096, "not_a_number"),
        ("x" * 4096, "not_a_number"),
        ("0x7", "not_a_number"),
        ("1_0", "not_a_number"),
    ],
)
def test_rating_invalid(text, reason):
    result = parse_rating(text)
    assert result == Invalid(reason)


def test_rating_never_raises_on_non_str():
    assert parse_rating(7) == Invalid("empty")  # type: ignore[arg-type]


@given(st.text())
def test_rating_never_raises(text):
    assert isinstance(parse_rating(text), (Rating, Ambiguous, Invalid))


@given(st.text(alphabet="0123456789 ./,-orutf", max_size=20))
def test_rating_never_raises_on_number_like_text(text):
    result = parse_rating(text)
    if isinstance(result, Rating):
        assert 0 <= result.value <= 10
    if isinstance(result, Ambiguous):
        assert 0 <= result.low < result.high <= 10


@given(st.integers(0, 10), st.sampled_from(["{}", "{}/10", "{} / 10", " {} ", "{} out of 10"]))
def test_every_rating_in_every_form(n, form):
    assert parse_rating(form.format(n)) == Rating(n)
    assert parse_rating(form.format(WORDS[n])) == Rating(n)
    assert parse_rating(form.format(WORDS[n].upper())) == Rating(n)


@given(st.integers().filter(lambda n: not 0 <= n <= 10))
def test_every_integer_outside_the_scale_is_out_of_range(n):
    assert parse_rating(str(n)) == Invalid("out_of_range")


# --- yes / no -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "Yes",
        "YES!",
        "y",
        "yeah",
        "yep",
        "yup",
        "ok",
        "OK",
        "okay",
        "settled",
        "sure",
        "yes it has",
        "yes, settled",
        "I think so",
        "👍",
        "it has",
    ],
)
def test_yes(text):
    assert parse_yes_no(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "no",
        "No.",
        "n",
        "nope",
        "nah",
        "not really",
        "Not yet",
        "not settled",
        "hasn't settled",
        "no, still sore",
        "still sore",
        "I don’t think so",
        "👎",
        "no not settled",
    ],
)
def test_no(text):
    assert parse_yes_no(text) is False


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "  ",
        "maybe",
        "yes and no",
        "no, it's fine now",
        "ok not really",
        "7",
        "🙂",
        "yes " * 100,
    ],
)
def test_yes_no_unclear(text):
    assert parse_yes_no(text) is None


@given(st.text())
def test_yes_no_never_raises(text):
    assert parse_yes_no(text) in (True, False, None)


# --- minutes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("30", 30),
        ("30 min", 30),
        ("30 minutes", 30),
        ("30min", 30),
        ("30 mins.", 30),
        ("1h", 60),
        ("1 hour", 60),
        ("1.5 h", 90),
        ("1,5 h", 90),
        ("1h 15m", 75),
        ("1h15", 75),
        ("1 hour and 15 minutes", 75),
        ("90m", 90),
        ("1:15", 75),
        ("an hour", 60),
        ("half an hour", 30),
        ("about 45 min", 45),
        ("twenty minutes", 20),
        ("10 hours", 600),
        ("1", 1),
        ("600", 600),
        ("２０ min", 20),
    ],
)
def test_minutes(text, expected):
    assert parse_minutes(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "0",
        "601",
        "11 hours",
        "1.5",
        "1.33 h",
        "1h 75m",
        "30-40 min",
        "lots",
        "-5",
        "1e3",
        "nan",
        "3" * 4096,
        "30 seconds",
    ],
)
def test_minutes_unclear(text):
    assert parse_minutes(text) is None


@given(st.text())
def test_minutes_never_raises(text):
    result = parse_minutes(text)
    assert result is None or 1 <= result <= 600


@given(st.integers(1, 600))
def test_minutes_round_trip(n):
    assert parse_minutes(str(n)) == parse_minutes(f"{n} min") == n
    assert parse_minutes(f"{n // 60}h {n % 60}m") == n


# --- clock times ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8", time(8)),
        ("08:30", time(8, 30)),
        ("8.30", time(8, 30)),
        ("8:30am", time(8, 30)),
        ("8:30 pm", time(20, 30)),
        ("8pm", time(20)),
        ("8 PM", time(20)),
        ("8 a.m.", time(8)),
        ("20h", time(20)),
        ("20 h", time(20)),
        ("20h30", time(20, 30)),
        ("20:00", time(20)),
        ("0830", time(8, 30)),
        ("12am", time(0)),
        ("12pm", time(12)),
        ("12:15am", time(0, 15)),
        ("0", time(0)),
        ("23:59", time(23, 59)),
        ("noon", time(12)),
        ("midnight", time(0)),
        ("7 o'clock", time(7)),
        ("８:３０", time(8, 30)),
    ],
)
def test_hhmm(text, expected):
    assert parse_hhmm(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "24",
        "24:00",
        "25",
        "8:60",
        "8:5",
        "8.5",
        "830",
        "13pm",
        "0am",
        "soon",
        "-1",
        "8:30:15",
        "1" * 4096,
    ],
)
def test_hhmm_unclear(text):
    assert parse_hhmm(text) is None


@given(st.text())
def test_hhmm_never_raises(text):
    result = parse_hhmm(text)
    assert result is None or isinstance(result, time)


@given(st.integers(0, 23), st.integers(0, 59))
def test_hhmm_round_trip(h, m):
    assert parse_hhmm(f"{h:02d}:{m:02d}") == parse_hhmm(f"{h}.{m:02d}") == time(h, m)
    twelve = h % 12 or 12
    assert parse_hhmm(f"{twelve}:{m:02d}{'pm' if h >= 12 else 'am'}") == time(h, m)


# -- corrections and activities ended in words (issue 15) --------------------------------------
CUES = [
    "sorry I meant {}",
    "no, {}",
    "no {}",
    "change to {}",
    "change it to {}",
    "make it {}",
    "oops, meant {}",
    "it should be {}",
    "Sorry, {}",
    "actually {}",
    "I meant {}/10",
]


@given(st.sampled_from(CUES), st.integers(0, 10), st.booleans())
def test_a_correction_reads_its_new_rating(cue, n, as_word):
    assert parse_correction(cue.format(WORDS[n] if as_word and "/10" not in cue else n)) == n


@given(st.integers(0, 10))
def test_a_bare_number_is_an_answer_not_a_correction(n):
    assert parse_correction(str(n)) is None
    assert parse_session_end(str(n)) is None


@pytest.mark.parametrize(
    "text", ["no", "not 3", "no, not 3", "sorry", "change to 11", "sorry I meant no", "no, 7.5"]
)
def test_unclear_corrections_are_not_guessed(text):
    assert parse_correction(text) is None


@given(st.text())
def test_correction_and_ending_never_raise(text):
    found = parse_correction(text)
    assert found is None or 0 <= found <= 10
    assert parse_session_end(text) in (None, "done", "not_done")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("done", "done"),
        ("Done!", "done"),
        ("finished", "done"),
        ("all done 👍", "done"),
        ("didn't", "not_done"),
        ("couldn't", "not_done"),
        ("I didn't go in the end", "not_done"),
        ("Not going 😕", "not_done"),
        ("not going well", None),  # about how it goes, not a cancellation
        ("I did not do it", "not_done"),
        ("not finished yet", None),
        ("still going", None),
        ("hello", None),
    ],
)
def test_an_activity_ended_in_words(text, expected):
    assert parse_session_end(text) == expected


@given(st.sampled_from(["didn't", "couldn't", "did not", "could not"]), st.text(max_size=20))
def test_a_negation_never_reads_as_done(neg, rest):
    assert parse_session_end(f"I {neg} {rest}") in ("not_done", None)


@pytest.mark.parametrize("text", ["no pain", "No pain at all!", "pain free", "pain-free"])
def test_no_pain_in_words_is_the_bottom_of_the_scale(text):
    assert parse_rating(text) == Rating(0)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 day", "day"),
        ("just a day", "day"),
        ("tomorrow", "day"),
        ("a week", "week"),
        ("pause for a week", "week"),
        ("until I resume", "open"),
        ("3", None),
        ("forever and ever", None),
        ("a day? not sure", None),
    ],
)
def test_a_pause_length_in_words(text, expected):
    assert parse_pause_length(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("yes", "use"),
        ("lower please", "use"),
        ("use lower doses today", "use"),
        ("no", "keep"),
        ("keep my plan", "keep"),
        ("7", None),
        ("my legs are numb", None),
    ],
)
def test_the_flare_offer_in_words(text, expected):
    assert parse_flare_choice(text) == expected


@given(st.text(max_size=60))
def test_the_typed_choices_never_fail(text):
    assert parse_pause_length(text) in (None, "day", "week", "open")
    assert parse_flare_choice(text) in (None, "use", "keep")
    assert parse_correction(text) is None or 0 <= parse_correction(text) <= 10


@pytest.mark.parametrize(
    "text, expected",
    [
        ("yesterday was a 5", 5),
        ("5 yesterday", 5),
        ("Yesterday: 7/10", 7),
        ("it was four yesterday", 4),
        ("last night was a 6", 6),
        ("yesterday's pain 3", 3),
        ("last night was awful, 8", 8),  # one clear number among other words
        ("YESTERDAY WAS 7 actually", 7),
        ("yesterday was 4/10 tbh", 4),
        ("yesterday I walked 20 minutes", None),  # a duration, not a rating
        ("yesterday I did 5 minutes", None),
        ("yesterday at 8:30 it was bad", None),  # a time
        ("today 4, yesterday 3", None),  # two numbers: never a guess
        ("yesterday was bad", None),  # no number: not a rating
        ("yesterday 4-6", None),  # two numbers: never a guess
        ("yesterday was 11", None),
        ("5", None),  # today's, not yesterday's
        ("", None),
    ],
)
def test_a_rating_typed_for_yesterday(text, expected):
    assert parse_yesterday(text) == expected
