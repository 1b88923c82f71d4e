"""A model of the sender's day (issue 20), pure Python: the day's rows (when each became due, by
kind) drained through one line by the dispatch policy, without the bot.

The policy modelled: one send every 1.02 s / 30 (jobs.dispatch.PACE); the highest priority first
(bot.rules.kinds `priority`), due order within it; planned rows wait for the bulk lane's next pass
(every DISPATCH_INTERVAL on a quiet line), replies and alerts go at once; a row past its kind's
max_late when its turn comes is given up (expired or dropped) and uses no slot. Left out: the
per-chat gap and the batches of 500 the real sender claims at a time (their error is measured:
the model is checked against the real run at the same size, tests/benchmarks/peak.py).

Larger populations are the measured day's rows repeated (`scale` times each): the same mix of kinds,
time zones and times, so the question is only how the one line copes.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import timedelta

from bot.rules.kinds import KINDS

GAP = 1.02 / 30  # seconds between sends at jobs.dispatch.PACE's rate
DISPATCH_INTERVAL = 5.0  # the bulk lane's passes, seconds


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def drain(rows: dict[str, list[float]], scale: int = 1, gap: float = GAP) -> dict:
    """Per kind: lateness p50/p99/max in seconds and rows given up; the longest queue. `rows`:
    kind -> times (seconds from the start of the day) when each row became due."""
    kinds = sorted(rows)
    index = {k: i for i, k in enumerate(kinds)}
    priority = [KINDS[k].priority if k in KINDS else 0 for k in kinds]
    limit = [
        KINDS[k].max_late.total_seconds()
        if k in KINDS and isinstance(KINDS[k].max_late, timedelta)
        else math.inf
        for k in kinds
    ]
    events = sorted((t, priority[index[k]], index[k]) for k, times in rows.items() for t in times)
    if scale > 1:
        events = [e for e in events for _ in range(scale)]
    late: list[list[float]] = [[] for _ in kinds]
    given_up = [0] * len(kinds)
    queues: list[deque] = [deque() for _ in range(4)]
    waiting = 0
    longest = 0
    t, i, n = 0.0, 0, len(events)
    sent: deque[float] = deque(maxlen=30)
    while i < n or waiting:
        if not waiting:
            release, p, _ = events[i]
            t = max(
                t, release if p == 0 else math.ceil(release / DISPATCH_INTERVAL) * DISPATCH_INTERVAL
            )
        while i < n and events[i][0] <= t:
            release, p, k = events[i]
            queues[p].append((release, k))
            waiting += 1
            i += 1
        longest = max(longest, waiting)
        queue = next(q for q in queues if q)
        release, k = queue.popleft()
        waiting -= 1
        if t - release > limit[k]:
            given_up[k] += 1
            continue
        late[k].append(t - release)
        sent.append(t)  # Pace: 30 in any window, at least half an even spacing apart
        t += gap / 2
        if len(sent) == sent.maxlen:
            t = max(t, sent[0] + gap * sent.maxlen)
    return {
        "kinds": {
            k: {
                "priority": priority[index[k]],
                "rows": len(rows[k]) * scale,
                "p50_s": _pct(late[index[k]], 0.5),
                "p99_s": _pct(late[index[k]], 0.99),
                "max_s": max(late[index[k]], default=0.0),
                "given_up": given_up[index[k]],
            }
            for k in kinds
        },
        "longest_queue": longest,
    }


def error(model: dict, real: dict, floor: float = 10.0) -> dict[str, float]:
    """The model against the real run, per kind: the larger relative error of p50 and p99, where
    a figure under `floor` seconds on both sides counts as equal (seconds of jitter)."""
    out = {}
    for kind, m in model["kinds"].items():
        r = real["kinds"].get(kind)
        if r is None or not r["sent"]:
            continue
        worst = 0.0
        for key in ("p50_s", "p99_s"):
            a, b = m[key], r[key]
            if max(a, b) >= floor:
                worst = max(worst, abs(a - b) / max(a, b))
        out[kind] = worst
    return out


def ceiling(rows: dict[str, list[float]], base: int, target_s: float = 180.0) -> int:
    """Patients per bot token before check-ins (and activity questions) run later than
    `target_s` at p99: the largest multiple of the measured day that keeps them in time,
    refined to a tenth of `base`."""

    def ok(factor: float) -> bool:
        thinned = {k: _resample(v, factor) for k, v in rows.items()}
        result = drain(thinned)
        return all(
            v["p99_s"] <= target_s and not v["given_up"]
            for v in result["kinds"].values()
            if v["priority"] <= 1
        )

    low, high = 1.0, 2.0
    while ok(high) and high < 64:
        low, high = high, high * 2
    while high - low > 0.1:
        mid = (low + high) / 2
        low, high = (mid, high) if ok(mid) else (low, mid)
    return int(base * low)


def _resample(times: list[float], factor: float) -> list[float]:
    """`factor` times as many rows as `times`, at the same moments (whole copies, then every
    k-th for the fraction)."""
    whole, part = int(factor), factor - int(factor)
    out = [t for t in times for _ in range(whole)]
    if part > 0:
        step = 1 / part
        out += [t for j, t in enumerate(times) if int(j % step) == 0]
    return sorted(out)


def answer(peak: dict, sizes: tuple[int, ...] = (300_000, 1_000_000)) -> dict:
    """The model beside a real run (tests/benchmarks/peak.py): its figures at the run's size and
    the error against the run, then the same at `sizes` (the run's rows repeated), and the
    ceiling of one token at this mix. Sizes that are not whole multiples of the run are rounded
    to one."""
    n, rows = peak["patients"], peak["rows"]
    same = drain(rows)
    scaled = {}
    for size in sizes:
        factor = max(1, round(size / n))
        scaled[str(n * factor)] = drain(rows, factor)
    return {
        "patients": n,
        "model": same,
        "error": error(same, peak),
        "scaled": scaled,
        "ceiling": ceiling(rows, n),
    }
