"""A synthetic population of onboarded patients, written straight into SQLite in one transaction.

Deterministic for a given size and seed: many time zones (DST in both hemispheres, half- and
quarter-hour offsets), check-in times, quiet hours, sitting windows, course calendars and weekly
summary days and times; one in ten with one or two caregivers (in their own time zones); one in
five with an activity they pace, of whom half have an open session (started in the last two days,
waiting for the next-day rating: the plan tick's `decide_overdue` scans those) and everyone a few
weeks of decided sessions behind them.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.clock import iso
from bot.rules.localtime import local_date, zone

TIMEZONES = (
    "Europe/London",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Helsinki",
    "Europe/Moscow",
    "Europe/Istanbul",
    "Europe/Lisbon",
    "Atlantic/Reykjavik",
    "Africa/Lagos",
    "Africa/Cairo",
    "Africa/Nairobi",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Tehran",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Jakarta",
    "Asia/Manila",
    "Australia/Perth",
    "Australia/Adelaide",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Halifax",
    "America/St_Johns",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "America/Mexico_City",
    "America/Bogota",
    "America/Santiago",
    "UTC",
)
NAMES = (
    "Ana",
    "Ben",
    "Chen",
    "Dara",
    "Eli",
    "Fatima",
    "Goran",
    "Hana",
    "Ivan",
    "Jia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tomasz",
)
QUIET = (("21:30", "07:30"), ("22:00", "07:00"), ("23:00", "08:00"), ("21:00", "06:30"), None)
SITTING = (
    ("mon,tue,wed,thu,fri", "09:00", "17:00", 30),
    ("mon,tue,wed,thu,fri", "09:00", "17:00", 60),
    ("mon,tue,wed,thu,fri", "08:30", "16:30", 45),
    ("mon,tue,wed,thu", "10:00", "18:00", 60),
    None,
    None,
    None,
)
COURSE_DAYS = ("mon,wed,fri", "tue,thu,sat", "mon,thu", "mon,tue,wed,thu,fri")
COURSE_TIMES = ("18:00", "18:00", "19:30", "12:30")

SUMMARY_DAYS = ("sun", "sun", "sun", "sat", "fri", "mon", "wed", "thu", "tue")
SUMMARY_TIMES = ("18:00", "18:00", "09:00", "19:30", "12:00")

COLUMNS = (
    "user_id",
    "chat_id",
    "first_name",
    "timezone",
    "checkin_time",
    "quiet_from",
    "quiet_to",
    "sitting_days",
    "sitting_from",
    "sitting_to",
    "sitting_every",
    "status",
    "start_date",
    "created_at",
    "updated_at",
    "course_days",
    "course_time",
    "course_start",
    "course_state",
    "summary_day",
    "summary_time",
)
CAREGIVER_SHARE = 0.10  # of patients, with one or two caregivers each
ACTIVITY_SHARE = 0.20  # of patients, with one paced activity ...
OPEN_SESSION_SHARE = 0.5  # ... of whom this share have a session open (waiting for N)
PAST_SESSIONS = 12  # decided sessions behind everyone with an activity
FIRST_USER_ID = 10_000_001


def patient_rows(
    n: int,
    now: datetime,
    seed: int = 8,
    *,
    all_active: bool = False,
    course_state: str | None = None,
):
    """`n` rows for the patients table; 95% active (the rest on hold or inactive)."""
    rng = random.Random(seed)
    for i in range(n):
        tz_name = TIMEZONES[i % len(TIMEZONES)]
        today = local_date(now, zone(tz_name))
        quiet = rng.choice(QUIET)
        sitting = rng.choice(SITTING)
        status = "active"
        if not all_active:
            status = rng.choices(("active", "hold", "inactive"), (95, 2, 3))[0]
        started = today - timedelta(days=rng.randrange(0, 84))
        state = course_state or rng.choices(("active", "maintenance"), (90, 10))[0]
        if state == "maintenance":
            started = today - timedelta(days=84 + rng.randrange(0, 60))
        user = FIRST_USER_ID + i
        yield (
            user,
            user,
            rng.choice(NAMES),
            tz_name,
            f"{rng.randrange(7, 11):02d}:{rng.choice((0, 15, 30, 45)):02d}",
            quiet[0] if quiet else None,
            quiet[1] if quiet else None,
            sitting[0] if sitting else "",
            sitting[1] if sitting else None,
            sitting[2] if sitting else None,
            sitting[3] if sitting else 30,
            status,
            started.isoformat(),
            iso(now),
            iso(now),
            rng.choice(COURSE_DAYS),
            rng.choice(COURSE_TIMES),
            started.isoformat(),
            state,
            rng.choice(SUMMARY_DAYS),
            rng.choice(SUMMARY_TIMES),
        )


def _extras(n: int, now: datetime, seed: int):
    """Caregivers, activities and sessions for patients 1..n (ids as `populate` inserts them)."""
    rng = random.Random(seed + 1)
    carers, activities, sessions = [], [], []
    thresholds = json.dumps({"next_day_deadline_hours": 36})
    for pid in range(1, n + 1):
        if rng.random() < CAREGIVER_SHARE:
            for k in range(rng.choice((1, 1, 2))):
                user = 90_000_001 + 2 * pid + k
                carers.append(
                    (
                        pid,
                        user,
                        user,
                        rng.choice(NAMES),
                        rng.choice(TIMEZONES),
                        rng.random() < 0.5,
                        "0" * 64,
                        iso(now - timedelta(days=20)),
                    )
                )
        if rng.random() < ACTIVITY_SHARE:
            activities.append(
                (pid, pid, "walk", rng.choice((10, 15, 20)), iso(now - timedelta(days=60)))
            )
            for k in range(PAST_SESSIONS, 0, -1):  # every few days, decided the day after
                started = now - timedelta(days=3 * k + 2, hours=rng.randrange(12))
                sessions.append(
                    (
                        pid,
                        pid,
                        15,
                        iso(started),
                        "decided",
                        4,
                        4,
                        1,
                        4,
                        "keep",
                        iso(started + timedelta(hours=26)),
                        thresholds,
                    )
                )
            if rng.random() < OPEN_SESSION_SHARE:  # open: B, A and settle known, N awaited
                started = now - timedelta(minutes=rng.randrange(48 * 60))
                sessions.append(
                    (pid, pid, 15, iso(started), "waiting", 4, 5, 1, None, None, None, None)
                )
    return carers, activities, sessions


def populate(
    db: Database, n: int, now: datetime, seed: int = 8, *, extras: bool = True, **options
) -> int:
    """Insert `n` patients with one executemany (and, with `extras`, their caregivers,
    activities and sessions); returns how many are plannable (active)."""
    sql = f"INSERT INTO patients ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    with db.atomic():
        first = (db.execute("SELECT max(id) FROM patients").fetchone()[0] or 0) + 1
        db.conn.executemany(sql, patient_rows(n, now, seed, **options))
        if extras:
            if first != 1:  # pragma: no cover - the benchmark starts from an empty table
                raise ValueError("populate(extras=True) needs an empty patients table")
            carers, activities, sessions = _extras(n, now, seed)
            db.conn.executemany(
                "INSERT INTO caregivers (patient_id, user_id, chat_id, first_name, timezone, "
                "alerts, terms_hash, linked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                carers,
            )
            db.conn.executemany(
                "INSERT INTO activities (id, patient_id, name, dose_minutes, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                activities,
            )
            db.conn.executemany(
                "INSERT INTO sessions (patient_id, activity_id, dose_minutes, started_at, stage, "
                "before, after, settled, next_day, verdict, decided_at, thresholds, created_at) "
                "VALUES (?, ?, ?, ?4, ?, ?, ?, ?, ?, ?, ?, ?, ?4)",
                sessions,
            )
    return db.execute("SELECT count(*) FROM patients WHERE status = 'active'").fetchone()[0]
