"""The pain chart drawn fast without drawing it differently (issue 20: a faster simulator)."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

from PIL import Image

from bot import chart


def _pixels(png: bytes) -> bytes:
    return Image.open(io.BytesIO(png)).convert("RGBA").tobytes()


def test_a_chart_of_one_day_shows_that_day_and_one_either_side():
    spec = chart.spec({date(2026, 3, 3): 4}, [(date(2026, 3, 3), "keep")], "Your pain")
    image = Image.open(io.BytesIO(chart.render_png(spec)))
    assert image.size == (1000, 600)
    assert json.loads(image.text["Description"]) == spec
    # Not four years of day ticks (matplotlib's default for a single date): three days.
    (key,) = [k for k in chart._margins if k[0] == "Your pain" and k[1][1] - k[1][0] == 2]
    assert key[1][0] == date(2026, 3, 2).toordinal() - date(1970, 1, 1).toordinal()


def test_reused_margins_draw_the_same_pixels_as_a_fresh_layout():
    start = date(2026, 3, 2)
    week = [start + timedelta(days=n) for n in range(7)]
    first = chart.spec(
        {d: n % 11 for n, d in enumerate(week)},
        [(week[2], "keep")],
        "Your pain",
        flags=[(week[1], "emergency")],
    )
    second = chart.spec(
        {d: (3 * n) % 11 for n, d in enumerate(week) if n != 4},
        [(week[5], "keep")],
        "Your pain",
        flags=[(week[3], "soon")],
    )
    chart._margins.clear()
    fresh = _pixels(chart.render_png(second))
    chart._margins.clear()
    chart.render_png(first)
    kept = len(chart._margins)
    reused = _pixels(chart.render_png(second))
    assert len(chart._margins) == kept, "the second chart reuses the first one's margins"
    assert reused == fresh
