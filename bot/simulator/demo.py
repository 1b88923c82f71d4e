"""`backpain-bot demo`: one persona's first days, as a readable transcript. No token, no network."""

from __future__ import annotations

import asyncio
import html
import re
import textwrap
from datetime import datetime

from bot.localtime import zone
from bot.simulator.runner import Simulation
from bot.simulator.scenario import parse_scenario

DEMO_SCENARIO = {
    "start": "2026-03-02T12:00:00Z",  # a Monday, noon in London, 07:00 in New York
    "seed": 7,
    "patients": [{
        "id": "ana", "name": "Ana", "timezone": "America/New_York", "checkin_time": "08:00",
        "quiet_hours": {"from": "21:30", "to": "07:30"},
        "sitting": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "12:00",
                    "every_minutes": 60},
        "activities": [{"name": "walk", "minutes": 20}],
        "answers": {"checkin_pain": [5, 4, 4, 3]},
    }],
}

_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


def format_line(line: dict, tz_name: str) -> str:
    moment = datetime.fromisoformat(line["t"]).astimezone(zone(tz_name))
    stamp = moment.strftime("%a %d %b %H:%M")
    who = {"out": "bot →", "in": "← ana", "event": "  •  "}[line["dir"]]
    body = plain(line["text"]) or line["kind"]
    if line["buttons"]:
        body += "\n" + "  ".join(f"[{label}]" for row in line["buttons"] for label in row)
    indent = " " * 22
    wrapped = "\n".join(textwrap.fill(part, 74, initial_indent=indent, subsequent_indent=indent)
                        if part else "" for part in body.split("\n")).lstrip()
    return f"{stamp}  {who} {wrapped}"


def run_demo(days: int = 3) -> str:
    scenario = parse_scenario({**DEMO_SCENARIO, "days": days})
    lines = asyncio.run(Simulation(scenario).run())
    tz = scenario.patients[0].timezone
    head = (f"Simulated patient Ana ({tz}), check-in at 08:00 local time, from "
            f"{scenario.start:%Y-%m-%d} for {days} days. Times are Ana's local times.\n")
    return head + "\n".join(format_line(line, tz) for line in lines)
