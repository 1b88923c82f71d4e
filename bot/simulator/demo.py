"""`backpain-bot demo`: one persona's first days, as a readable transcript. No token, no network."""

from __future__ import annotations

import asyncio
import html
import re
import textwrap
from datetime import datetime

from bot.rules.localtime import zone
from bot.simulator.runner import Simulation
from bot.simulator.scenario import parse_scenario

DEMO_SCENARIO = {
    "start": "2026-03-02T12:00:00Z",  # a Monday, noon in London, 07:00 in New York
    "seed": 7,
    "patients": [
        {
            "id": "ana",
            "name": "Ana",
            "timezone": "America/New_York",
            "checkin_time": "08:00",
            "quiet_hours": {"from": "21:30", "to": "07:30"},
            "sitting": {
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "from": "09:00",
                "to": "12:00",
                "every_minutes": 60,
            },
            "activities": [{"name": "walk", "minutes": 20}],
            "answers": {
                "checkin_pain": [5, 4, 4, 3],
                # After her first check-in she walks; the next morning's check-in is her next-day
                # rating, and the pacing advice follows it.
                "sessions": [
                    {
                        "day": 0,
                        "at": "09:00",
                        "activity": "walk",
                        "before": 5,
                        "after": 6,
                        "settled": True,
                        "next_day": 4,
                    }
                ],
                "ignore": ["lesson"],
            },
        }
    ],
}

_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


def format_line(line: dict, tz_name: str) -> str:
    moment = datetime.fromisoformat(line["t"]).astimezone(zone(tz_name))
    stamp = moment.strftime("%a %d %b %H:%M")
    who = {"out": "bot →", "in": "← ana", "event": "  •  "}[line["dir"]]
    body = plain(line["text"]) or describe(line)
    if line["buttons"]:
        body += "\n" + "  ".join(f"[{label}]" for row in line["buttons"] for label in row)
    indent = " " * 22
    wrapped = "\n".join(
        textwrap.fill(part, 74, initial_indent=indent, subsequent_indent=indent) if part else ""
        for part in body.split("\n")
    ).lstrip()
    return f"{stamp}  {who} {wrapped}"


def describe(line: dict) -> str:
    """A one-line reading of an event (e.g. a pacing decision with its inputs)."""
    d = line["data"]
    if line["kind"] == "pacing":
        settled = {True: "yes", False: "no", None: "?"}[d["settled"]]
        found = ", ".join(d["findings"]) or "no findings"
        return (
            f"pacing rule v{d['rule_version']}: {d['activity']} B={d['before']} "
            f"A={d['after']} settled={settled} N={d['next_day']} -> {found} -> "
            f"{d['verdict'] or d['status']}, {d['dose']} -> {d['next_dose']} min"
        )
    return line["kind"]


def run_demo(days: int = 3) -> str:
    scenario = parse_scenario({**DEMO_SCENARIO, "days": days})
    lines = asyncio.run(Simulation(scenario).run())
    tz = scenario.patients[0].timezone
    head = (
        f"Simulated patient Ana ({tz}), check-in at 08:00 local time, from "
        f"{scenario.start:%Y-%m-%d} for {days} days. Times are Ana's local times.\n"
    )
    return head + "\n".join(format_line(line, tz) for line in lines)
