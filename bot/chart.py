"""The weekly chart: daily pain over the course so far, with each session's verdict marked.

`render_png` is pure and CPU-bound (matplotlib, Agg backend); the dispatcher runs it in a worker
thread so the event loop never waits on it. The plotted points are embedded in the PNG's text
metadata ("Description", JSON), so what the picture shows can be checked against the database.
"""

from __future__ import annotations

import io
import json
from datetime import date

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.dates as mdates
from matplotlib.figure import Figure

MARKERS = {
    "keep": ("o", "#2e7d32"),
    "progress": ("^", "#1565c0"),
    "adapt": ("s", "#ef6c00"),
    "pause": ("X", "#c62828"),
}


def human_date(day: date, year: bool = False) -> str:
    """A date as people write it: "Mon 3 Mar" ("Mon 3 Mar 2026" with the year)."""
    return f"{day:%a} {day.day} {day:%b}" + (f" {day.year}" if year else "")


def spec(ratings: dict[date, int], sessions: list[tuple[date, str]], title: str) -> dict:
    """What to draw, as plain JSON-able data (stored nowhere; rebuilt at send time)."""
    return {
        "title": title,
        "points": [[d.isoformat(), p] for d, p in sorted(ratings.items())],
        "sessions": [[d.isoformat(), v] for d, v in sorted(sessions)],
    }


def alt_text(chart: dict) -> str:
    """A plain description of the chart for people who cannot see it (sent as its caption)."""
    points = chart["points"]
    if not points:
        return "Chart: no ratings yet."
    values = [p for _, p in points]
    verdicts: dict[str, int] = {}
    for _, v in chart["sessions"]:
        verdicts[v] = verdicts.get(v, 0) + 1
    marked = ", ".join(f"{n} {v}" for v, n in verdicts.items()) or "none"
    return (
        f"Chart of your daily pain (0-10) from {points[0][0]} to {points[-1][0]}: "
        f"{len(points)} ratings, lowest {min(values)}, highest {max(values)}, latest "
        f"{values[-1]}. Activity sessions marked: {marked}."
    )


def render_png(chart: dict) -> bytes:
    """A 1000x600 PNG, readable on a phone: big type, a 0-10 axis, one marker style per verdict."""
    fig = Figure(figsize=(10, 6), dpi=100)
    ax = fig.add_subplot()
    days = [date.fromisoformat(d) for d, _ in chart["points"]]
    values = [p for _, p in chart["points"]]
    if days:
        # matplotlib's stubs leave out the dates its unit converters take (date axes).
        ax.plot(
            days,  # type: ignore[arg-type]
            values,
            color="#455a64",
            linewidth=2.5,
            marker="o",
            markersize=5,
            label="pain",
        )
    by_day = dict(zip(days, values, strict=True))
    for verdict, (marker, colour) in MARKERS.items():
        marked = [date.fromisoformat(d) for d, v in chart["sessions"] if v == verdict]
        if marked:
            ax.scatter(
                marked,  # type: ignore[arg-type]
                [by_day.get(d, 0) + 0.4 for d in marked],
                marker=marker,
                s=140,
                color=colour,
                label=verdict,
                zorder=3,
            )
    ax.set_ylim(-0.5, 10.9)
    ax.set_yticks(range(0, 11, 2))
    ax.set_ylabel("pain (0-10)", fontsize=16)
    ax.set_title(chart["title"], fontsize=20)
    ax.tick_params(labelsize=14)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.grid(alpha=0.3)
    if days:
        ax.legend(fontsize=13, loc="upper right")
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Description": json.dumps(chart)})
    return out.getvalue()
