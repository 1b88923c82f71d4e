"""docs/architecture.md quotes the numbers the code uses: each phrase is built from its value.

When a constant or a setting's default changes, the phrase below no longer matches the page: change
the page (and, if the wording must change, the phrase here) in the same commit.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot import health, inbound
from bot.rules.pacing import Thresholds
from bot.rules.schedule import DAILY_PROMPT_CAP, MERGE_GAP, POLICIES
from bot.settings import SETTINGS
from handlers import caregiver, common
from jobs import clinic, compose, dispatch, safety, sessions
from messages import MAX_EMERGENCY_TEXT
from storage import clinics, inbox, invites

ROOT = Path(__file__).resolve().parent.parent
PAGE = " ".join((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").split())
DEFAULT = {s.name: s.default for s in SETTINGS}


def _h(td: timedelta) -> int:
    hours, rest = divmod(td, timedelta(hours=1))
    assert not rest, td
    return hours


def _min(td: timedelta) -> int:
    minutes, rest = divmod(td, timedelta(minutes=1))
    assert not rest, td
    return minutes


def _s(td: timedelta) -> int:
    return int(td.total_seconds())


def _days(td: timedelta) -> int:
    assert td.seconds == 0, td
    return td.days


def _one(td: timedelta, unit: timedelta, words: str) -> str:
    """'a day', 'a week': the page says 'a' when the value is exactly one unit."""
    return words if td == unit else f"{td / unit:g} {words.split()[-1]}s"


def _if(code_agrees: bool, phrase: str) -> str:
    """A phrase in words ('a minute'): it stays true only while the code agrees."""
    return phrase if code_agrees else f"{phrase} [no longer what the code does]"


def _claims() -> list[str]:
    thresholds = Thresholds()
    pace = dispatch.PACE
    first_poll_wait = min(inbound.POLL_BACKOFF_CAP, 0.5 * 2)  # inbound.poll: 0.5 * 2 ** failures
    return [
        # ticks and the sender
        f"planner tick ({DEFAULT['PLAN_INTERVAL_SECONDS'] // 60} min)",
        f"sender (kicked, or every {DEFAULT['DISPATCH_INTERVAL_SECONDS']} s)",
        _if(inbound.RETENTION_INTERVAL == 3600, "the hourly retention tick"),
        # lateness
        f"a check-in more than {_h(POLICIES['checkin'].max_late)} hours late is expired",
        f"a sitting nudge more than {_min(POLICIES['sitting'].max_late)} minutes late is dropped",
        # retries
        f"back off from {_s(dispatch.BACKOFF_START)} s doubling to "
        f"{_min(dispatch.BACKOFF_CAP)} min (replies and alerts, the fast lane, from "
        f"{_s(dispatch.BACKOFF_START_FAST)} s",
        f"are retried for {_h(dispatch.RETRY_FOR)} h (`RETRY_FOR`)",
        f"at most {dispatch.MAX_ATTEMPTS} attempts (`MAX_ATTEMPTS`)",
        f"Sends run concurrently ({dispatch.CONCURRENCY} in flight)",
        f"({pace._recent.maxlen}/s overall, {round(pace.window / pace.chat_gap)}/s per chat)",
        # the lease
        f"(retried {_s(dispatch.STRANDED_RETRY)} s later)",
        f"claimed over {_s(dispatch.LEASE)} s ago",
        # the inbox
        f"Network errors back off ({first_poll_wait:g} s doubling to "
        f"{inbound.POLL_BACKOFF_CAP:g} s)",
        f"`WEBHOOK_MAX_BODY_BYTES` ({DEFAULT['WEBHOOK_MAX_BODY_BYTES'] // 1_000_000} MB)",
        f"scrubbed to `{{}}` after {_one(inbox.KEEP_PAYLOAD, timedelta(days=1), 'a day')}",
        f"rows are deleted after {_one(inbox.KEEP_ROW, timedelta(weeks=1), 'a week')}",
        _if(inbound.SWEEP_INTERVAL == 60, "a sweep every minute"),
        _if(inbound.SWEEP_AGE == 60, "a minute after it arrived"),
        # concurrency and fairness
        f"with a {common.COSMETIC_TIMEOUT:g} s timeout",
        f"(`INBOUND_PER_CHAT_PER_MINUTE`, {DEFAULT['INBOUND_PER_CHAT_PER_MINUTE']})",
        _if(inbound.BURST_WINDOW == 60, "a burst ends after a quiet minute"),
        # dates people type, health
        f"from {clinics.START_PAST.days // 7} weeks before to {clinics.START_AHEAD.days // 7} "
        "weeks after the clinic's local today",
        f"older than {['', 'one', 'two', 'three', 'four'][health.STALE_AFTER]} of its intervals",
        # sessions and prompts
        f"answered in the {_h(sessions.BEFORE_FROM_CHECKIN)} hours before the start",
        f"`settle` due {thresholds.settle_check_hours:g} hours after the end",
        f"given {_h(sessions.NEXT_DAY_EARLIEST)}–{thresholds.next_day_deadline_hours} hours "
        "after the start",
        f"`next_day` due {_h(sessions.NEXT_DAY_AT)} hours after the start",
        f"(or {_h(sessions.FALLBACK_AFTER_CHECKIN)} hours after such a check-in",
        f"once the N deadline ({thresholds.next_day_deadline_hours} h) has passed",
        f"within {_min(MERGE_GAP)} minutes of another prompt",
        f"`DAILY_PROMPT_CAP` ({DAILY_PROMPT_CAP}) prompts",
        f"`checkin_reminder` {_h(compose.REMINDER_AFTER)} hours later",
        # caregivers and clinics
        f"single use, {_days(caregiver.INVITE_VALID)} days",
        f"{invites.MAX_FAILURES} failures in {_min(invites.FAILURE_WINDOW)} minutes",
        _if(timedelta(days=365) == clinics.ENROL_LINK_VALID, "valid a year"),
        f"({clinic.ROSTER_CHUNK} patients per message)",
        f"within {_days(clinic.SOON_EPISODE)} days alerts no one again",
        f"`messages.MAX_EMERGENCY_TEXT` ({MAX_EMERGENCY_TEXT}) characters",
        # safety
        f"About {_h(safety.FOLLOW_UP_AFTER)} hours after the report",
        f"given up after {_days(POLICIES['safety_followup'].max_late)} days",
        _if(timedelta(hours=1) == safety.FULL_ADVICE_EVERY, "the full advice at most once an hour"),
    ]


@pytest.mark.parametrize("claim", _claims())
def test_architecture_quotes_the_codes_numbers(claim):
    assert claim in PAGE


def test_every_setting_the_page_names_exists():
    """An upper-case name in backticks is a setting, unless it is one of the code's names."""
    named = set(re.findall(r"`([A-Z][A-Z_]{3,})`", PAGE))
    constants = {
        "RETRY_FOR",
        "MAX_ATTEMPTS",
        "DAILY_PROMPT_CAP",
        "POLICIES",
        "EDIT_FLOWS",
        "F_OFD_SETLK",
    }
    assert named - constants <= set(DEFAULT), named - constants - set(DEFAULT)


def test_design_quotes_the_codes_numbers():
    design = " ".join((ROOT / "docs" / "design.md").read_text(encoding="utf-8").split())
    pace = dispatch.PACE
    assert f"rolling window ({DEFAULT['PLAN_HORIZON_HOURS']} hours ahead)" in design
    assert pace._recent.maxlen == 30 and round(pace.window / pace.chat_gap) == 1
    assert "(30 messages a second overall, one a second per chat)" in design


def test_the_modules_the_page_calls_pure_import_no_io_library():
    """Layers: "`bot/rules/` — the pure rules: `a`, `b`, .... They import no telegram, ..."."""
    import subprocess
    import sys

    listed = re.search(
        r"`bot/rules/` — the pure rules: (.*?)\. They import no telegram", PAGE, re.S
    )
    assert listed, "the Layers section no longer names the pure rules this way"
    names = [f"rules.{name}" for name in re.findall(r"`(\w+)`", listed.group(1))]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module('bot.' + name)\n"
        "print(sorted(m for m in ('telegram', 'sqlite3', 'sqlite_utils', 'jinja2', 'yaml')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def _resolves(name: str) -> bool:
    import importlib

    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(found, attr):
                return False
            found = getattr(found, attr)
        return True
    return False


def test_every_module_function_and_file_the_page_names_exists():
    names = set(re.findall(r"`((?:bot|jobs|storage|handlers|messages)\.[A-Za-z_][\w.]*)`", PAGE))
    files = set(re.findall(r"`((?:bot|jobs|storage|handlers|messages|tests)/[\w/.]+)`", PAGE))
    assert names and files
    assert sorted(n for n in names if not _resolves(n)) == []
    assert sorted(f for f in files if not (ROOT / f).exists()) == []
