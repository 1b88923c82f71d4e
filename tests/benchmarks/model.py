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
import random
from collections import deque
from datetime import timedelta

from bot.rules.kinds import KINDS

GAP = 1.02 / 30  # seconds between sends at jobs.dispatch.PACE's rate
DISPATCH_INTERVAL = 5.0  # the bulk lane's passes, seconds
BATCH = 500  # rows the bulk lane claims at a time (dispatch_due's limit)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def drain(
    rows: dict[str, list[float]],
    scale: int = 1,
    gap: float = GAP,
    batch: int = BATCH,
    seed: int = 8,
) -> dict:
    """Per kind: lateness p50/p99/max in seconds and rows given up; the longest queue. `rows`:
    kind -> times (seconds from the start of the day) when each row became due.

    The fast lane (replies, alerts, advice: kinds not planned) goes at once, ahead of anything;
    the bulk lane claims up to `batch` rows at a time by priority (then due order), decides on
    each as it claims it (given up past max_late), and sends the batch before claiming again,
    as `jobs.dispatch.dispatch_due` does."""
    kinds = sorted(rows)
    index = {k: i for i, k in enumerate(kinds)}
    priority = [KINDS[k].priority if k in KINDS else 0 for k in kinds]
    fast = [k not in KINDS or KINDS[k].lane == "fast" for k in kinds]
    limit = [
        KINDS[k].max_late.total_seconds()
        if k in KINDS and isinstance(KINDS[k].max_late, timedelta)
        else math.inf
        for k in kinds
    ]
    lane = [-1 if fast[j] else priority[j] for j in range(len(kinds))]  # -1: the fast lane
    # Rows due the same second go in the order they were written (the outbox's ids): people
    # one after another, their kinds interleaved; a seeded shuffle stands in for that order.
    shuffle = random.Random(seed)
    events = sorted(
        (t, lane[index[k]], shuffle.random(), index[k])
        for k, times in rows.items()
        for t in times
        for _ in range(scale)
    )
    late: list[list[float]] = [[] for _ in kinds]
    given_up = [0] * len(kinds)
    queues: list[deque] = [deque() for _ in range(5)]  # [fast, priority 0..3]
    claimed: deque = deque()
    waiting = 0
    longest = 0
    t, i, n = 0.0, 0, len(events)
    sent: deque[float] = deque(maxlen=30)
    while i < n or waiting:
        if not waiting:
            release, p, _, _ = events[i]
            grid = math.ceil(release / DISPATCH_INTERVAL) * DISPATCH_INTERVAL
            t = max(t, release if p < 0 else grid)
        while i < n and events[i][0] <= t:
            release, p, _, k = events[i]
            queues[p + 1].append((release, k))
            waiting += 1
            i += 1
        longest = max(longest, waiting)
        if queues[0]:
            release, k = queues[0].popleft()
        else:
            if not claimed:
                for queue in queues[1:]:
                    while queue and len(claimed) < batch:
                        release, k = queue.popleft()
                        if t - release > limit[k]:
                            given_up[k] += 1
                            waiting -= 1
                        else:
                            claimed.append((release, k))
                if not claimed:
                    continue
            release, k = claimed.popleft()
        waiting -= 1
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


def ceiling(
    rows: dict[str, list[float]], base: int, target_s: float = 180.0, strict: bool = False
) -> int:
    """Patients per bot token before check-ins (and activity questions) run later than
    `target_s` at p99 or one is given up: the largest multiple of the measured hours that keeps
    them in time, to a tenth of `base`. `strict`: every target of issue 20 (also lessons and
    summaries under 15 minutes, and no row of any kind given up, nudges included)."""

    def ok(factor: float) -> bool:
        result = drain({k: _resample(v, factor) for k, v in rows.items()})
        for v in result["kinds"].values():
            if v["given_up"] and (strict or v["priority"] <= 1):
                return False
            if v["priority"] <= 1 and v["p99_s"] > target_s:
                return False
            if strict and v["priority"] == 2 and v["p99_s"] > 900:
                return False
        return True

    low, high = 1.0, 2.0
    if not ok(low):
        return 0
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
    day = None
    if peak.get("day_rows"):  # the whole day's planned rows: the model alone, every hour
        day_rows = peak["day_rows"]
        day = {
            "model": drain(day_rows),
            "scaled": {
                str(n * max(1, round(size / n))): drain(day_rows, max(1, round(size / n)))
                for size in sizes
            },
            "ceiling": ceiling(day_rows, n),
            "ceiling_all_targets": ceiling(day_rows, n, strict=True),
        }
    return {
        "patients": n,
        "day": day,
        "model": same,
        "error": error(same, peak),
        "scaled": scaled,
        "ceiling": ceiling(rows, n),
        "ceiling_all_targets": ceiling(rows, n, strict=True),
    }
