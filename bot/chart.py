"""The pain chart (the patient's weekly one, and a clinician's in /patient): daily pain over the
course so far, broken where a day has no rating, each session's verdict on a strip of its own,
warning signs marked, dates as people write them.

`render_png` is pure and CPU-bound (matplotlib, Agg backend); the dispatcher runs it in a worker
thread so the event loop never waits on it. The plotted points are embedded in the PNG's text
metadata ("Description", JSON), so what the picture shows can be checked against the database.
"""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.dates as mdates
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

MARKERS = {
    "keep": ("o", "#2e7d32"),
    "progress": ("^", "#1565c0"),
    "adapt": ("s", "#ef6c00"),
    "pause": ("X", "#c62828"),
}


def human_date(day: date, year: bool = False) -> str:
    """A date as people write it: "Mon 3 Mar" ("Mon 3 Mar 2026" with the year)."""
    return f"{day:%a} {day.day} {day:%b}" + (f" {day.year}" if year else "")


def spec(
    ratings: dict[date, int],
    sessions: list[tuple[date, str]],
    title: str,
    *,
    flags: list[tuple[date, str]] | None = None,
    whose: str = "your",
) -> dict:
    """What to draw, as plain JSON-able data (stored nowhere; rebuilt at send time).

    `flags`: (local date, level) of each warning sign reported ("emergency" or "soon");
    `whose`: "your" for the patient, a first name's possessive for a clinician."""
    return {
        "title": title,
        "whose": whose,
        "points": [[d.isoformat(), p] for d, p in sorted(ratings.items())],
        "sessions": [[d.isoformat(), v] for d, v in sorted(sessions)],
        "flags": [[d.isoformat(), level] for d, level in sorted(flags or [])],
    }


def runs(days: list[date]) -> list[list[date]]:
    """Consecutive days together: the line is drawn within a run, never across a gap."""
    found: list[list[date]] = []
    for day in sorted(days):
        if found and (day - found[-1][-1]).days == 1:
            found[-1].append(day)
        else:
            found.append([day])
    return found


def alt_text(chart: dict) -> str:
    """A plain description of the chart for people who cannot see it (sent as its caption)."""
    points = chart["points"]
    whose = chart.get("whose", "your")
    if not points:
        return f"Chart of {whose} daily pain: no ratings yet."
    values = [p for _, p in points]
    days = [date.fromisoformat(d) for d, _ in points]
    first, last = days[0], days[-1]
    missing = (last - first).days + 1 - len(days)
    verdicts: dict[str, int] = {}
    for _, v in chart["sessions"]:
        verdicts[v] = verdicts.get(v, 0) + 1
    marked = ", ".join(f"{n} {v}" for v, n in verdicts.items()) or "none"
    text = (
        f"Chart of {whose} daily pain (0-10) from {human_date(first)} to {human_date(last)}: "
        f"{len(points)} ratings, lowest {min(values)}, highest {max(values)}, latest "
        f"{values[-1]}."
    )
    if missing:
        text += f" {missing} day{'' if missing == 1 else 's'} without a rating, left as gaps."
    text += f" Activity sessions marked: {marked}."
    flags = chart.get("flags") or []
    if flags:
        named = [f"{human_date(date.fromisoformat(d))} ({LEVELS.get(lv, lv)})" for d, lv in flags]
        text += " Warning signs reported: " + ", ".join(named) + "."
    return text


LEVELS = {"emergency": "emergency", "soon": "see a doctor"}
SESSION_BAND = (-2.3, -0.7)  # the sessions' own strip below the 0-10 pain scale
FLAG_COLOURS = {"emergency": "#b71c1c", "soon": "#f57f17"}


def layout(chart: dict) -> dict:
    """Where everything goes: `lines`, one per run of consecutive rated days, as (date, pain);
    `sessions` as (date, height, verdict), every height inside SESSION_BAND whatever that
    day's pain; `flags` as (date, level). `render_png` draws exactly this."""
    by_day = {date.fromisoformat(d): p for d, p in chart["points"]}
    middle = sum(SESSION_BAND) / 2
    return {
        "lines": [[(d, by_day[d]) for d in run] for run in runs(list(by_day))],
        "sessions": [(date.fromisoformat(d), middle, v) for d, v in chart["sessions"]],
        "flags": [(date.fromisoformat(d), level) for d, level in chart.get("flags") or []],
        # Issue 17's results chart: the PEG score (0-10) at the start and at a follow-up.
        "peg": [(date.fromisoformat(d), score) for d, score in chart.get("peg") or []],
    }


def _tick_every(chart: dict) -> int:
    """0: every day (a short span); else every Monday (1) or every other Monday (2)."""
    days = [date.fromisoformat(d) for d, *_ in chart["points"] + chart["sessions"]]
    span = (max(days) - min(days)).days if days else 0
    if span <= 10:
        return 0
    return 1 if span <= 70 else 2


def _day_ticks(chart: dict) -> mdates.DateLocator:
    """Every day over a short span, else Mondays (every other Monday past ten weeks)."""
    every = _tick_every(chart)
    if every == 0:
        return mdates.DayLocator()
    return mdates.WeekdayLocator(byweekday=mdates.MO, interval=every)


# tight_layout's margins by what decides them: the title, the x range and its ticks (so the
# dates written under the axis), the legend's entries. Working them out measures every text of
# the chart (a fifth of its drawing time); charts of one week for many people share them.
_margins: dict[tuple, tuple[float, float, float, float]] = {}
MARGINS_KEPT = 512


def _tight(fig: Figure, key: tuple) -> None:
    """fig.tight_layout(), its result reused for a chart whose texts are laid out the same."""
    known = _margins.get(key)
    if known is not None:
        left, bottom, right, top = known
        fig.subplots_adjust(left=left, bottom=bottom, right=right, top=top)
        return
    fig.tight_layout()
    pars = fig.subplotpars
    if len(_margins) >= MARGINS_KEPT:
        _margins.clear()
    _margins[key] = (pars.left, pars.bottom, pars.right, pars.top)


def render_png(chart: dict) -> bytes:
    """A 1000x600 PNG, readable on a phone: big type, a 0-10 axis, the pain line broken where a
    day has no rating, each session's verdict on a strip of its own below the scale, warning
    signs as vertical lines, dates as people write them ("Mon 3 Mar")."""
    fig = Figure(figsize=(10, 6), dpi=100)
    ax = fig.add_subplot()
    drawn = layout(chart)
    for n, line in enumerate(drawn["lines"]):
        # matplotlib's stubs leave out the dates its unit converters take (date axes).
        ax.plot(
            [d for d, _ in line],
            [p for _, p in line],
            color="#455a64",
            linewidth=2.5,
            marker="o",
            markersize=5,
            label="pain" if n == 0 else None,
        )
    low, high = SESSION_BAND
    ax.axhspan(low, high, color="#eceff1", zorder=0)
    middle = (low + high) / 2
    for verdict, (marker, colour) in MARKERS.items():
        marked = [(d, y) for d, y, v in drawn["sessions"] if v == verdict]
        if marked:
            ax.scatter(
                [d for d, _ in marked],
                [y for _, y in marked],
                marker=marker,
                s=140,
                color=colour,
                label=verdict,
                zorder=3,
            )
    for n, (day, level) in enumerate(drawn["flags"]):
        ax.axvline(
            day,
            color=FLAG_COLOURS.get(level, "#b71c1c"),
            linestyle="--",
            linewidth=2,
            label="warning sign" if n == 0 else None,
            zorder=2,
        )
    if drawn["peg"]:
        ax.scatter(
            [d for d, _ in drawn["peg"]],
            [v for _, v in drawn["peg"]],
            marker="D",
            s=180,
            color="#6a1b9a",
            label="PEG score",
            zorder=4,
        )
    when = {d for line in drawn["lines"] for d, _ in line}
    when.update(d for d, *_ in drawn["sessions"] + drawn["flags"] + drawn["peg"])
    if len(when) == 1:
        # One day only (a first rating, a lone session or sign): a day either side. Left to
        # itself matplotlib widens a single date to four years, 1,600 day ticks: unreadable,
        # and six seconds to draw.
        (day,) = when
        ax.set_xlim(day - timedelta(days=1), day + timedelta(days=1))
    ax.set_ylim(low - 0.2, 12.6)  # room above 10 for the legend, in one row
    ax.set_yticks(range(0, 11, 2))
    ax.set_ylabel("pain (0-10)", fontsize=16)
    if chart["sessions"]:
        ax.text(
            0.005,
            middle,
            "sessions",
            transform=ax.get_yaxis_transform(),
            fontsize=12,
            va="center",
            color="#546e7a",
        )
    # y=1.0 where matplotlib would put it anyway (nothing of ours sits above the axes): it then
    # skips measuring both axes at every draw to find out.
    ax.set_title(chart["title"], fontsize=20, y=1.0)
    ax.tick_params(labelsize=13)
    ax.xaxis.set_major_locator(_day_ticks(chart))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda value, _: human_date(mdates.num2date(value).date()))
    )
    ax.grid(alpha=0.3)
    entries: tuple[str, ...] = ()
    if drawn["lines"]:
        legend = ax.legend(
            fontsize=12, loc="upper center", ncol=6, frameon=False, handletextpad=0.3
        )
        entries = tuple(text.get_text() for text in legend.get_texts())
    fig.autofmt_xdate()
    title = chart["title"]
    _tight(fig, (title, tuple(ax.get_xlim()), _tick_every(chart), entries, bool(chart["sessions"])))
    out = io.BytesIO()
    # zlib level 1: the same pixels, a somewhat larger file, a quarter of the encoding time.
    fig.savefig(
        out,
        format="png",
        metadata={"Description": json.dumps(chart)},
        pil_kwargs={"compress_level": 1},
    )
    return out.getvalue()
