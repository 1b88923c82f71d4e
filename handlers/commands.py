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
    ("contact", "ask your clinic to contact you"),
    ("mydata", "a copy of everything I keep about you"),
    ("delete", "delete everything I keep about you"),
    ("withdraw", "withdraw your consent: I stop, and keep what you told me"),
    ("course", "your 12-week course: progress, re-read, catch up"),
    ("help", "what I can do"),
]

# Who /help shows each command to (a command not listed here: patients). Roles: "patient" (set
# up), "member" (a patient in a clinic's group), "caregiver", "visitor" (not set up), "staff"
# (a clinician; the clinic commands are listed apart); "anyone" is every role.
ROLES: dict[str, frozenset[str]] = {
    "start": frozenset({"visitor", "caregiver", "staff", "patient"}),
    "urgent": frozenset({"anyone"}),
    "caregiver": frozenset({"patient", "caregiver"}),
    "leave": frozenset({"member"}),
    "mydata": frozenset({"anyone"}),
    "delete": frozenset({"anyone"}),
    "help": frozenset({"anyone"}),
}


def commands_for(roles: set[str]) -> list[tuple[str, str]]:
    """The commands /help lists for someone with these roles, in the menu's order."""
    if "member" in roles:
        roles = roles | {"patient"}
    return [
        (name, text)
        for name, text in COMMANDS
        if ROLES.get(name, frozenset({"patient"})) & (roles | {"anyone"})
    ]


# Clinic staff only (listed in /help for clinicians, not in everyone's menu).
CLINIC_COMMANDS: list[tuple[str, str]] = [
    ("cohort_new", "NAME [YYYY-MM-DD]: a new cohort, its enrolment link and QR code"),
    ("cohorts", "your clinic's cohorts"),
    ("cohort", "ID: the roster"),
    ("patient", "ID: one patient's flags, 4-week timeline and chart"),
    ("outcomes", "ID: outcome report: answers, change with 95% CI, improved, lost to follow-up"),
    ("export", "ID [research|fhir]: CSV files per patient-day and session, or research/FHIR"),
    (
        "cohort_set",
        "ID [start DATE|rolling, emergency TEXT, threshold NAME VALUE, responsible IDS, "
        "quiet DAYS]: settings",
    ),
    ("cohort_link", "ID: a new enrolment link and QR code (asks first: the old one stops)"),
    ("cohort_archive", "ID: archive a cohort (asks first): link stops, no digest, roster kept"),
    ("cohort_log", "ID: who changed what and when"),
    ("invite_patient", "ID REF: a personal enrolment link for one patient, with your reference"),
    ("ref", "MEMBER REF: set or change a member's reference (- removes it)"),
    ("message", "MEMBER text: write to a member; their one reply comes back"),
    ("clinic_hours", "[DAYS HH:MM-HH:MM]: when non-urgent alerts arrive"),
]
