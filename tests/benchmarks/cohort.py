"""A simulated cohort for the simulator benchmark: many personas, many time zones, all answering."""

from __future__ import annotations

import random
from datetime import date, timedelta

from bot.simulator.scenario import Scenario, parse_scenario
from tests.benchmarks.population import COURSE_DAYS, COURSE_TIMES, TIMEZONES

START = "2026-03-02T12:00:00Z"  # a Monday


def cohort(patients: int, days: int, seed: int = 8) -> Scenario:
    """`patients` personas over `days` days: every one has a daily check-in and the course (half
    of them joined a clinic cohort that started up to 12 weeks earlier, so some reach the course
    end and the weekly rhythm); about half take sitting breaks on weekdays; each answers
    check-ins, lessons and (unless they ignore them) sitting nudges a few minutes after they
    arrive. One in ten has a caregiver (in another time zone) who gets the weekly summary; one in
    five paces an activity, every third day, and rates the next day only two times in three (the
    others are decided at the deadline by the plan tick)."""
    rng = random.Random(seed)
    people = []
    for i in range(patients):
        person = {
            "id": f"p{i}",
            "chat_id": 5_000_001 + i,
            "timezone": TIMEZONES[i % len(TIMEZONES)],
            "checkin_time": f"{rng.randrange(7, 11):02d}:{rng.choice((0, 15, 30, 45)):02d}",
            "quiet_hours": rng.choice(
                ({"from": "21:30", "to": "07:30"}, {"from": "22:00", "to": "07:00"}, None)
            ),
            "course": {
                "days": COURSE_DAYS[i % len(COURSE_DAYS)].split(","),
                "time": rng.choice(COURSE_TIMES),
            },
            "answers": {
                "checkin_pain": {"min": 2, "max": 7},
                "ignore": ["sitting"] if rng.random() < 0.3 else [],
            },
        }
        if rng.random() < 0.5:
            person["course"]["start"] = (
                date(2026, 3, 2) - timedelta(days=rng.randrange(84))
            ).isoformat()
        if rng.random() < 0.1:
            person["caregivers"] = [
                {
                    "id": f"c{i}",
                    "chat_id": 7_000_001 + i,
                    "timezone": rng.choice(TIMEZONES),
                    "alerts": rng.random() < 0.5,
                }
            ]
        if rng.random() < 0.2:
            person["activities"] = [{"name": "walk", "minutes": 15}]
            person["answers"]["sessions"] = [
                {
                    "day": day,
                    "at": "17:00",
                    "activity": "walk",
                    "before": 3,
                    "after": 4,
                    "settled": True,
                    **({"next_day": 3} if day % 9 else {}),
                }
                for day in range(1, days, 3)
            ]
        if rng.random() < 0.5:
            person["sitting"] = {
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "from": "09:00",
                "to": "17:00",
                "every_minutes": rng.choice((60, 60, 45, 30)),
            }
        people.append(person)
    return parse_scenario({"start": START, "days": days, "seed": seed, "patients": people})
