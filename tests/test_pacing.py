"""The pacing rule, version 1 (docs/clinical-rules.md, "The pacing rule"): tables, properties."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.pacing import (
    RULE_VERSION,
    VERDICTS,
    Decision,
    Ratings,
    Thresholds,
    decide,
    findings_for,
    flare_dose,
    is_flare_day,
    step_down,
    step_up,
)

SEVERITY = {"keep": 0, "progress": 0, "adapt": 1, "pause": 2}
DEFAULTS = Thresholds()


def run(b, a, s, n, dose=20, previous=None, keeps=0, overdue=False, t=DEFAULTS) -> Decision:
    return decide(
        Ratings(b, a, s, n),
        dose,
        previous_verdict=previous,
        keeps_at_dose=keeps,
        next_day_overdue=overdue,
        thresholds=t,
    )


# --- verdict tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "b, a, s, n, previous, keeps, verdict, findings, next_dose",
    [
        # keep: A - B = 3 is within tolerance, N - B = 1 is not "worse"
        (3, 6, True, 4, None, 0, "keep", (), 20),
        (3, 3, True, 3, None, 0, "keep", (), 20),
        (5, 2, True, 1, None, 0, "keep", (), 20),  # better after and next day
        (3, 6, True, 4, "adapt", 0, "keep", (), 20),  # a clean session after adapting
        # progress: keep on this session and the one before, at this dose
        (3, 6, True, 4, "keep", 1, "progress", (), 22),
        (0, 0, True, 0, "keep", 4, "progress", (), 22),
        # adapt: each finding alone, at its exact boundary
        (3, 7, True, 4, None, 0, "adapt", ("during_flare",), 14),
        (3, 6, False, 4, None, 0, "adapt", ("not_settled",), 14),
        (3, 6, True, 5, None, 0, "adapt", ("next_day_worse",), 14),
        (
            0,
            10,
            False,
            10,
            "keep",
            3,
            "adapt",
            ("during_flare", "not_settled", "next_day_worse"),
            14,
        ),
        (3, 7, True, 4, "progress", 1, "adapt", ("during_flare",), 14),
        # pause: any finding right after an adapt or a pause
        (3, 7, True, 4, "adapt", 0, "pause", ("during_flare",), 14),
        (3, 6, False, 4, "pause", 0, "pause", ("not_settled",), 14),
        (3, 6, True, 5, "adapt", 2, "pause", ("next_day_worse",), 14),
    ],
)
def test_verdict_table(b, a, s, n, previous, keeps, verdict, findings, next_dose):
    d = run(b, a, s, n, previous=previous, keeps=keeps)
    assert (d.status, d.verdict, d.findings) == ("decided", verdict, findings)
    assert d.next_dose == next_dose
    assert d.partial is False
    assert d.dose == 20
    assert d.pause_days == (7 if verdict == "pause" else 0)
    assert d.rule_version == RULE_VERSION == 1
    assert d.thresholds == Thresholds().as_dict()


@pytest.mark.parametrize("a, flare", [(6, False), (7, True), (2, False), (10, True)])
def test_flare_boundary(a, flare):
    assert ("during_flare" in findings_for(Ratings(3, a, True, 3), Thresholds())) is flare


@pytest.mark.parametrize("n, worse", [(4, False), (5, True), (0, False), (10, True), (3, False)])
def test_next_day_boundary(n, worse):
    assert ("next_day_worse" in findings_for(Ratings(3, 3, True, n), Thresholds())) is worse


def test_findings_ignore_missing_answers():
    assert findings_for(Ratings(None, 10, None, 10), Thresholds()) == ()
    assert findings_for(Ratings(0, None, False, None), Thresholds()) == ("not_settled",)


# --- missing answers ------------------------------------------------------------------------


def test_waiting_for_next_day():
    d = run(3, 9, False, None, previous="adapt")
    assert (d.status, d.verdict, d.findings, d.partial, d.next_dose, d.pause_days) == (
        "waiting",
        None,
        (),
        False,
        20,
        0,
    )


def test_waiting_even_before_the_after_rating():
    assert run(3, None, None, None).status == "waiting"


def test_partial_when_next_day_overdue():
    d = run(3, 6, True, None, keeps=0, overdue=True)
    assert (d.status, d.verdict, d.partial, d.next_dose) == ("decided", "keep", True, 20)
    d = run(3, 7, True, None, overdue=True)
    assert (d.verdict, d.findings, d.partial) == ("adapt", ("during_flare",), True)
    assert d.next_dose == 14
    d = run(3, 6, False, None, previous="adapt", overdue=True)
    assert (d.verdict, d.findings, d.partial) == ("pause", ("not_settled",), True)


def test_settled_missing_is_no_finding_but_partial():
    d = run(3, 6, None, 4)
    assert (d.status, d.verdict, d.findings, d.partial) == ("decided", "keep", (), True)
    d = run(3, 6, None, 5)
    assert (d.verdict, d.findings, d.partial) == ("adapt", ("next_day_worse",), True)


def test_next_day_arriving_late_is_still_used():
    d = run(3, 6, True, 5, overdue=True)
    assert (d.verdict, d.partial) == ("adapt", False)


@pytest.mark.parametrize(
    "b, a, n, overdue",
    [
        (3, None, 4, False),
        (None, 6, 4, False),
        (None, None, 4, False),
        (3, None, None, True),
        (None, 6, None, True),
    ],
)
def test_incomplete_without_a_or_b(b, a, n, overdue):
    d = run(b, a, False, n, previous="adapt", keeps=3, overdue=overdue)
    assert (d.status, d.verdict, d.findings, d.next_dose, d.pause_days) == (
        "incomplete",
        None,
        (),
        20,
        0,
    )


# --- doses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dose, fraction, expected",
    [
        (20, 0.10, 22),
        (10, 0.10, 11),
        (5, 0.10, 6),
        (3, 0.10, 4),
        (1, 0.10, 2),
        (15, 0.10, 17),
        (30, 0.10, 33),
        (50, 0.10, 55),
        (55, 0.10, 60),
        (58, 0.10, 65),
        (60, 0.10, 65),
        (90, 0.10, 100),
        (100, 0.10, 110),
        (120, 0.10, 130),
        (10, 0.01, 11),
        (62, 0.01, 65),
        (59, 0.01, 60),
        (20, 0.50, 30),
        (20, 0.0, 21),
    ],
)
def test_step_up(dose, fraction, expected):
    assert step_up(dose, fraction) == expected


@pytest.mark.parametrize(
    "dose, fraction, expected",
    [
        (20, 0.30, 14),
        (15, 0.30, 11),
        (10, 0.30, 7),
        (3, 0.30, 2),
        (2, 0.30, 1),
        (1, 0.30, 1),
        (60, 0.30, 40),
        (30, 0.30, 20),
        (40, 0.30, 25),
        (80, 0.30, 55),
        (85, 0.30, 55),
        (90, 0.30, 60),
        (120, 0.30, 80),
        (10, 0.01, 9),
        (60, 0.01, 55),
        (14, 0.01, 13),
        (61, 0.01, 60),
        (64, 0.01, 60),
        (20, 1.0, 5),
        (10, 1.0, 1),
        (20, 0.0, 15),
        (15, 0.0, 10),
        (14, 0.0, 13),
    ],
)
def test_step_down(dose, fraction, expected):
    assert step_down(dose, fraction) == expected


@pytest.mark.parametrize(
    "call",
    [
        lambda: step_up(0, 0.1),
        lambda: step_down(-5, 0.1),
        lambda: step_up(True, 0.1),
        lambda: step_up(20, -0.1),
        lambda: step_down(20, 1.5),
        lambda: step_up(20, float("nan")),
    ],
)
def test_step_rejects_nonsense(call):
    with pytest.raises(ValueError):
        call()


# --- thresholds -----------------------------------------------------------------------------


def test_custom_thresholds_respected():
    t = Thresholds(
        flare_tolerance=1, next_day_worse=3, progress_step=0.5, adapt_step=0.5, pause_days=3
    )
    assert run(3, 5, True, 5, t=t).findings == ("during_flare",)  # A - B = 2 > 1
    assert run(3, 4, True, 5, t=t).verdict == "keep"  # N - B = 2 < 3
    assert run(3, 4, True, 6, t=t).findings == ("next_day_worse",)
    assert run(3, 4, True, 5, keeps=1, t=t).next_dose == 30
    d = run(3, 5, True, 3, previous="adapt", t=t)
    assert (d.verdict, d.next_dose, d.pause_days, d.thresholds) == ("pause", 10, 3, t.as_dict())


def test_thresholds_from_dict():
    assert Thresholds.from_dict(None) == Thresholds()
    assert Thresholds.from_dict({}) == Thresholds()
    t = Thresholds.from_dict({"flare_tolerance": 2, "pause_days": 5.0, "colour": "blue"})
    assert (t.flare_tolerance, t.pause_days, t.next_day_worse) == (2, 5, 2)
    assert isinstance(t.pause_days, int)
    assert Thresholds.from_dict(t.as_dict()) == t
    assert json.loads(json.dumps(Thresholds().as_dict())) == Thresholds().as_dict()


@pytest.mark.parametrize(
    "bad",
    [
        {"flare_tolerance": -1},
        {"flare_tolerance": 11},
        {"flare_tolerance": 2.5},
        {"next_day_worse": 0},
        {"progress_step": 0},
        {"progress_step": 2},
        {"adapt_step": 1.0},
        {"pause_days": 0},
        {"settle_check_hours": 0},
        {"next_day_deadline_hours": 24},
        {"flare_tolerance": "3"},
        {"pause_days": True},
        {"adapt_step": float("nan")},
    ],
)
def test_thresholds_reject_out_of_range(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        Thresholds.from_dict(bad)


def test_thresholds_from_dict_rejects_non_mapping():
    with pytest.raises(ValueError):
        Thresholds.from_dict([("pause_days", 3)])  # type: ignore[arg-type]


# --- input checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        (-1, 5, True, 5),
        (3, 11, True, 5),
        (3, 5, True, 12),
        (3, 5.5, True, 5),
        (True, 5, True, 5),
        (3, 5, "yes", 5),
    ],
)
def test_ratings_out_of_range_rejected(fields):
    with pytest.raises(ValueError):
        Ratings(*fields)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dose": 0},
        {"previous": "rest"},
        {"keeps": -1},
    ],
)
def test_decide_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        run(3, 5, True, 3, **kwargs)


def test_complete_rest_is_never_a_verdict():
    assert VERDICTS == ("keep", "progress", "adapt", "pause")
    # Even the worst session on a 1-minute dose after a pause leaves something to do.
    assert run(3, 10, False, 10, dose=1, previous="pause").next_dose == 1


# --- properties -----------------------------------------------------------------------------

rating = st.integers(0, 10)
maybe_rating = st.none() | rating
settled = st.none() | st.booleans()
thresholds = st.builds(
    Thresholds,
    flare_tolerance=st.integers(0, 10),
    next_day_worse=st.integers(1, 10),
    progress_step=st.floats(0.01, 1.0),
    adapt_step=st.floats(0.01, 0.9),
    pause_days=st.integers(1, 90),
)
context = st.fixed_dictionaries(
    {
        "dose": st.integers(1, 600),
        "previous_verdict": st.none() | st.sampled_from(VERDICTS),
        "keeps_at_dose": st.integers(0, 5),
        "next_day_overdue": st.booleans(),
        "thresholds": thresholds,
    }
)


@given(maybe_rating, maybe_rating, settled, maybe_rating, context)
def test_status_and_single_verdict(b, a, s, n, ctx):
    d = decide(Ratings(b, a, s, n), **ctx)
    due = n is not None or ctx["next_day_overdue"]
    if not due:
        assert d.status == "waiting"
    elif a is None or b is None:
        assert d.status == "incomplete"
    else:
        assert d.status == "decided"
        assert d.verdict in VERDICTS
        assert d.partial == (n is None or s is None)
    if d.status != "decided":
        assert (d.verdict, d.findings, d.next_dose, d.pause_days) == (None, (), d.dose, 0)


def _severity(r: Ratings, ctx) -> int:
    d = decide(r, **ctx)
    assert d.status == "decided"
    return SEVERITY[d.verdict]


@given(rating, rating, rating, settled, st.none() | rating, context)
def test_higher_after_is_never_milder(b, a1, a2, s, n, ctx):
    ctx = {**ctx, "next_day_overdue": True}
    lo, hi = sorted((a1, a2))
    assert _severity(Ratings(b, hi, s, n), ctx) >= _severity(Ratings(b, lo, s, n), ctx)


@given(rating, rating, st.none() | rating, context)
def test_not_settled_is_never_milder(b, a, n, ctx):
    ctx = {**ctx, "next_day_overdue": True}
    worst = _severity(Ratings(b, a, False, n), ctx)
    assert worst >= _severity(Ratings(b, a, True, n), ctx)
    assert worst >= _severity(Ratings(b, a, None, n), ctx)


@given(rating, rating, settled, rating, rating, context)
def test_higher_next_day_is_never_milder(b, a, s, n1, n2, ctx):
    lo, hi = sorted((n1, n2))
    assert _severity(Ratings(b, a, s, hi), ctx) >= _severity(Ratings(b, a, s, lo), ctx)


@given(rating, rating, st.booleans(), rating, thresholds)
def test_findings_iff_threshold(b, a, s, n, t):
    found = findings_for(Ratings(b, a, s, n), t)
    assert ("during_flare" in found) == (a - b > t.flare_tolerance)
    assert ("not_settled" in found) == (s is False)
    assert ("next_day_worse" in found) == (n - b >= t.next_day_worse)
    order = ("during_flare", "not_settled", "next_day_worse")
    assert found == tuple(f for f in order if f in found)


@given(rating, rating, settled, maybe_rating, context)
def test_verdict_follows_findings_and_history(b, a, s, n, ctx):
    ctx = {**ctx, "next_day_overdue": True}
    d = decide(Ratings(b, a, s, n), **ctx)
    if not d.findings:
        assert d.verdict == ("progress" if ctx["keeps_at_dose"] >= 1 else "keep")
    elif ctx["previous_verdict"] in ("adapt", "pause"):
        assert d.verdict == "pause"
    else:
        assert d.verdict == "adapt"


@given(maybe_rating, maybe_rating, settled, maybe_rating, context)
def test_dose_moves_with_the_verdict(b, a, s, n, ctx):
    d = decide(Ratings(b, a, s, n), **ctx)
    assert d.next_dose >= 1
    assert (d.next_dose > d.dose) == (d.verdict == "progress")
    if d.dose > 1:
        assert (d.next_dose < d.dose) == (d.verdict in ("adapt", "pause"))
    if d.verdict in (None, "keep"):
        assert d.next_dose == d.dose
    assert (d.pause_days > 0) == (d.verdict == "pause")
    if d.verdict == "pause":
        assert d.pause_days == ctx["thresholds"].pause_days


@given(maybe_rating, maybe_rating, settled, maybe_rating, context)
def test_as_dict_is_json(b, a, s, n, ctx):
    d = decide(Ratings(b, a, s, n), **ctx)
    stored = d.as_dict()
    assert json.loads(json.dumps(stored)) == stored
    assert set(stored) == {f.name for f in dataclasses.fields(Decision)}
    assert stored["thresholds"] == ctx["thresholds"].as_dict()
    assert Thresholds.from_dict(stored["thresholds"]) == ctx["thresholds"]


@given(st.integers(1, 1000), st.floats(0, 1))
def test_steps_always_step(dose, fraction):
    up, down = step_up(dose, fraction), step_down(dose, fraction)
    assert up > dose
    assert down < dose or dose == down == 1
    assert down >= 1
    for new in (up, down):
        if new >= 60:
            assert new % 5 == 0  # long doses read as 65 minutes, not 66
    # Rounding stays close to the exact step (within half a grid, or the forced minimum step).
    assert up <= max(dose * (1 + fraction) + 2.5, (dose // 5 + 1) * 5 if dose >= 59 else dose + 1)
    # Downwards: a lowered dose of 15 minutes or more is the multiple of 5 at or below the exact
    # step; from a dose of 15 minutes or more, never below 5.
    assert down >= min(dose * (1 - fraction) - 5, dose - 5)
    if down >= 15:
        assert down % 5 == 0 and down <= dose * (1 - fraction)
    else:  # whole minutes, rounded (down to 14 when rounding would reach the 15-minute grid)
        assert down >= min(dose * (1 - fraction) - 1, dose - 5)
    if dose >= 15:
        assert down >= 5


@given(st.integers(1, 1000))
def test_a_flare_days_dose_is_about_half(dose):
    low = flare_dose(dose)
    assert 1 <= low <= dose and (low < dose or dose == 1)
    assert abs(low - dose / 2) <= (2.5 if dose >= 20 else 0.5)
    if low >= 10:
        assert low % 5 == 0


@given(st.integers(1, 999))
def test_a_longer_dose_never_gets_a_shorter_flare_dose(dose):
    assert flare_dose(dose) <= flare_dose(dose + 1)


ratings = st.integers(0, 10)


@given(ratings, st.lists(ratings, max_size=7))
def test_a_rating_of_seven_or_more_is_always_a_flare_day(rating, recent):
    assert is_flare_day(rating, recent) == (
        rating >= 7 or (len(recent) >= 3 and rating - sum(recent) / len(recent) >= 3 - 1e-9)
    )


@given(ratings, st.lists(ratings, min_size=3, max_size=7))
def test_a_flare_day_stays_one_when_the_rating_is_higher(rating, recent):
    if is_flare_day(rating, recent) and rating < 10:
        assert is_flare_day(rating + 1, recent)


@given(ratings, st.lists(ratings, max_size=2))
def test_below_seven_a_flare_needs_three_days_to_compare_with(rating, recent):
    assert is_flare_day(rating, recent) == (rating >= 7)


def test_flare_day_examples():
    assert is_flare_day(7, []) and not is_flare_day(6, [])
    assert is_flare_day(5, [2, 2, 2]) and not is_flare_day(4, [2, 2, 2])
    assert is_flare_day(6, [3, 3, 3, 3, 3, 3, 3]) and not is_flare_day(6, [3, 3, 4])
