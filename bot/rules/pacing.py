"""The pacing rule (relative rest), version 1: one session of one activity -> one verdict.

See "The pacing rule" in docs/clinical-rules.md. Pure: no I/O, no clock, standard library only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from typing import Any

RULE_VERSION = 1
VERDICTS = ("keep", "progress", "adapt", "pause")
FINDINGS = ("during_flare", "not_settled", "next_day_worse")
STATUSES = ("decided", "waiting", "incomplete")

# Above this many minutes a dose reads better on a 5-minute grid ("65 minutes", not "66").
_COARSE_FROM = 60
_GRID = 5
# A lowered dose of this many minutes or more lands on a multiple of 5 (docs/clinical-rules.md).
_ROUND_DOWN_FROM = 15

# name -> (lowest, highest, whole number?); clinics edit thresholds, so reject nonsense early.
_LIMITS = {
    "flare_tolerance": (0, 10, True),
    "next_day_worse": (1, 10, True),  # 0 would call every unchanged day "worse"
    "progress_step": (0.01, 1.0, False),
    "adapt_step": (0.01, 0.9, False),  # 1.0 would mean "stop", which is pause's job
    "pause_days": (1, 90, True),
    "settle_check_hours": (0.25, 24, False),
    "next_day_deadline_hours": (25, 72, True),  # N is asked at ~24 h: the deadline must be later
}


def limits(name: str) -> tuple[float, float]:
    """The allowed range of one threshold (lowest, highest)."""
    low, high, _ = _LIMITS[name]
    return low, high


@dataclass(frozen=True)
class Thresholds:
    """The settings of the rule; a clinic may change them per cohort."""

    flare_tolerance: int = 3
    next_day_worse: int = 2
    progress_step: float = 0.10
    adapt_step: float = 0.30
    pause_days: int = 7
    settle_check_hours: float = 2
    next_day_deadline_hours: int = 36

    def __post_init__(self) -> None:
        for name, (low, high, whole) in _LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"threshold {name} must be a number, got {value!r}")
            if not math.isfinite(value) or not low <= value <= high:
                raise ValueError(
                    f"threshold {name} must be between {low} and {high}, got {value!r}"
                )
            if whole and value != int(value):
                raise ValueError(f"threshold {name} must be a whole number, got {value!r}")
            # Normalise so as_dict() is the same however the value was written (3 vs 3.0).
            object.__setattr__(self, name, int(value) if whole else float(value))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Thresholds:
        """Build from stored settings: unknown keys are ignored, missing keys take the default."""
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ValueError(f"thresholds must be a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _check_rating(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"rating {name} must be a whole number 0-10, got {value!r}")
    if not 0 <= value <= 10:
        raise ValueError(f"rating {name} must be 0-10, got {value}")


@dataclass(frozen=True)
class Ratings:
    """B, A, S, N of one session; None means not answered (yet)."""

    before: int | None
    after: int | None
    settled: bool | None
    next_day: int | None

    def __post_init__(self) -> None:
        _check_rating("before", self.before)
        _check_rating("after", self.after)
        _check_rating("next_day", self.next_day)
        if self.settled is not None and not isinstance(self.settled, bool):
            raise ValueError(f"settled must be True, False or None, got {self.settled!r}")


@dataclass(frozen=True)
class Decision:
    """The outcome for one session, with everything needed to explain it later."""

    status: str
    verdict: str | None
    findings: tuple[str, ...]
    partial: bool
    dose: int
    next_dose: int
    pause_days: int
    thresholds: dict[str, Any]
    rule_version: int

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["findings"] = list(self.findings)
        return d


def findings_for(r: Ratings, t: Thresholds) -> tuple[str, ...]:
    """The findings the answers so far support; a missing answer never produces a finding."""
    found = []
    if r.before is not None and r.after is not None and r.after - r.before > t.flare_tolerance:
        found.append("during_flare")
    if r.settled is False:
        found.append("not_settled")
    if (
        r.before is not None
        and r.next_day is not None
        and r.next_day - r.before >= t.next_day_worse
    ):
        found.append("next_day_worse")
    return tuple(found)


def decide(
    r: Ratings,
    dose: int,
    *,
    previous_verdict: str | None,
    keeps_at_dose: int,
    next_day_overdue: bool,
    thresholds: Thresholds = Thresholds(),
) -> Decision:
    """Apply rule version 1 to one session; see docs/clinical-rules.md "The pacing rule"."""
    _check_dose(dose)
    if previous_verdict is not None and previous_verdict not in VERDICTS:
        raise ValueError(
            f"previous_verdict must be one of {VERDICTS} or None, got {previous_verdict!r}"
        )
    if isinstance(keeps_at_dose, bool) or not isinstance(keeps_at_dose, int) or keeps_at_dose < 0:
        raise ValueError(f"keeps_at_dose must be a whole number >= 0, got {keeps_at_dose!r}")
    t = thresholds

    def result(
        status: str,
        verdict: str | None = None,
        findings: tuple[str, ...] = (),
        partial: bool = False,
        next_dose: int = dose,
        pause: int = 0,
    ) -> Decision:
        return Decision(
            status, verdict, findings, partial, dose, next_dose, pause, t.as_dict(), RULE_VERSION
        )

    if r.next_day is None and not next_day_overdue:
        return result("waiting")
    if r.before is None or r.after is None:
        # Without B and A there is no sound basis for advice, so none is given.
        return result("incomplete")

    findings = findings_for(r, t)
    partial = r.next_day is None or r.settled is None
    if findings:
        if previous_verdict in ("adapt", "pause"):
            return result(
                "decided", "pause", findings, partial, step_down(dose, t.adapt_step), t.pause_days
            )
        return result("decided", "adapt", findings, partial, step_down(dose, t.adapt_step))
    if keeps_at_dose >= 1:
        return result("decided", "progress", findings, partial, step_up(dose, t.progress_step))
    return result("decided", "keep", findings, partial)


def _check_dose(dose: int) -> None:
    if isinstance(dose, bool) or not isinstance(dose, int) or dose < 1:
        raise ValueError(f"dose must be a whole number of minutes >= 1, got {dose!r}")


def _check_fraction(fraction: float) -> Fraction:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise ValueError(f"fraction must be a number, got {fraction!r}")
    if not math.isfinite(fraction) or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction!r}")
    # str() gives the shortest decimal form, so 0.3 is exactly 3/10 and 15 * 0.7 is exactly 10.5.
    return Fraction(str(fraction))


def _round_minutes(raw: Fraction) -> int:
    """Whole minutes, halves up; on the 5-minute grid once the result reaches an hour."""
    minutes = math.floor(raw + Fraction(1, 2))
    if minutes >= _COARSE_FROM:
        minutes = _GRID * math.floor(raw / _GRID + Fraction(1, 2))
    return minutes


def step_up(dose: int, fraction: float) -> int:
    """The dose raised by `fraction`, rounded sensibly, and always by at least 1 minute."""
    _check_dose(dose)
    target = _round_minutes(dose * (1 + _check_fraction(fraction)))
    if target <= dose:
        # Small doses or steps would round back to the same dose; a step must be a step.
        target = dose + 1 if dose + 1 < _COARSE_FROM else _GRID * (dose // _GRID + 1)
    return target


def step_down(dose: int, fraction: float) -> int:
    """The dose lowered by `fraction`, rounded sensibly, by at least 1 minute, never below 1.

    A lowered dose of 15 minutes or more lands on the multiple of 5 at or below the exact step
    (30 -> 20, 40 -> 25, 60 -> 40: never less of a step than asked); a shorter one keeps whole
    minutes (20 -> 14, 10 -> 7). From a dose of 15 minutes or more it is never below 5."""
    _check_dose(dose)
    exact = dose * (1 - _check_fraction(fraction))
    if exact >= _ROUND_DOWN_FROM:
        return min(_GRID * math.floor(exact / _GRID), _GRID * ((dose - 1) // _GRID))
    target = _round_minutes(exact)
    if target >= _ROUND_DOWN_FROM:  # 14.7 rounds to 15: stay below, a step is never smaller
        target = _ROUND_DOWN_FROM - 1
    if target >= dose:
        target = dose - 1
    # A 1-minute dose stays 1: doing a little is the point; complete rest is never advised.
    return max(_GRID if dose >= _ROUND_DOWN_FROM else 1, target)


# A flare day (docs/clinical-rules.md "Flare days"): a daily rating of this or more, ...
FLARE_RATING = 7
# ... or this many points above the mean of the person's ratings of the 7 days before ...
FLARE_ABOVE_MEAN = 3
# ... when at least this many of those days were rated (one or two days are no "usual").
FLARE_MIN_DAYS = 3


def is_flare_day(rating: int, recent: list[int]) -> bool:
    """Is a daily rating a flare day? `recent`: the ratings of the 7 days before (any order)."""
    _check_rating("rating", rating)
    for value in recent:
        _check_rating("recent", value)
    if rating >= FLARE_RATING:
        return True
    if len(recent) < FLARE_MIN_DAYS:
        return False
    return rating - Fraction(sum(recent), len(recent)) >= FLARE_ABOVE_MEAN


def flare_dose(dose: int) -> int:
    """A flare day's dose: about half. Whole minutes (halves up: 15 -> 8, 7 -> 4) while the half is
    under 10 minutes, else the nearest multiple of 5 (halves down: 25 -> 10, 45 -> 20, 60 -> 30);
    at least 1 minute, and below the usual dose unless that is 1."""
    _check_dose(dose)
    half = Fraction(dose, 2)
    if half < 10:
        return max(1, math.floor(half + Fraction(1, 2)))
    return _GRID * math.ceil(half / _GRID - Fraction(1, 2))
