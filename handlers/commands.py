"""The bot's commands and their one-line descriptions (data only: /help, setMyCommands, the
README)."""

from __future__ import annotations

# (command, description): the bot's menu (setMyCommands), /help, and the README.
COMMANDS: list[tuple[str, str]] = [
    ("start", "set up, or pick up where you left off"),
    ("checkin", "rate your pain now"),
    ("activity", "start an activity now, or log one you did"),
    ("plan", "today's activities and their doses"),
    ("history", "your last 14 days: ratings and advice"),
    ("settings", "change your times, sitting breaks and activities"),
    ("pause", "pause all prompts for a while"),
    ("resume", "start prompts again"),
    ("urgent", "check warning signs and get urgent help"),
    ("caregiver", "invite someone to get your weekly summary, or stop it"),
    ("leave", "stop sharing with your clinic's group"),
    ("mydata", "a copy of everything I keep about you"),
    ("delete", "delete everything I keep about you"),
    ("withdraw", "withdraw your consent: I stop, and keep what you told me"),
    ("course", "your 12-week course: progress, re-read, catch up"),
    ("help", "what I can do"),
]

# Clinic staff only (listed in /help for clinicians, not in everyone's menu).
CLINIC_COMMANDS: list[tuple[str, str]] = [
    ("cohort_new", "NAME [YYYY-MM-DD]: a new cohort, its enrolment link and QR code"),
    ("cohorts", "your clinic's cohorts"),
    ("cohort", "ID: the roster"),
    ("patient", "ID: one patient's flags, 4-week timeline and chart"),
    ("export", "ID: CSV files, one row per patient-day and per session"),
    ("cohort_set", "ID [start DATE|rolling, emergency TEXT, threshold NAME VALUE]: settings"),
    ("cohort_link", "ID: a new enrolment link and QR code (the old one stops working)"),
]
