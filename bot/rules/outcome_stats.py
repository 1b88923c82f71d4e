"""The cohort report's statistics (issue 17): a mean change with its 95% t-interval, pure.

The interval is mean ± t(0.975, n-1) · sd / √n, sd the sample standard deviation (n-1). The
t quantile is exact to 3 decimals for 1-30 degrees of freedom (a table) and a Cornish-Fisher
expansion above (error under 0.001). No interval for fewer than two people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist, mean, stdev

# t(0.975, df) for df = 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(df: int) -> float:
    """The 97.5th percentile of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = NormalDist().inv_cdf(0.975)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


@dataclass(frozen=True)
class Change:
    n: int
    mean: float | None
    low: float | None  # the 95% t-interval; None for n < 2
    high: float | None


def mean_change(changes: list[float]) -> Change:
    """The mean of paired changes (follow-up minus baseline) with its 95% t-interval."""
    n = len(changes)
    if n == 0:
        return Change(0, None, None, None)
    m = mean(changes)
    if n < 2:
        return Change(n, m, None, None)
    half = t975(n - 1) * stdev(changes) / math.sqrt(n)
    return Change(n, m, m - half, m + half)


def share(flags: list[bool]) -> tuple[int, int]:
    """(how many True, of how many)."""
    return sum(flags), len(flags)
