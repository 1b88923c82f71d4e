"""Issue 16, findings 4, 5, 11 and 12: cohort dates that make sense, a clinic never left without
a clinician, invites a clinic can see and revoke, the command line, and a cohort's lifecycle
(archive, a link replaced only on purpose, a visible log of changes)."""

from __future__ import annotations

import os
import re
import stat

import pytest

from bot.cli import main as cli
from messages import render
from storage import clinics, invites
from storage.db import open_database
from tests.test_clinics import (
    CLINIC_LINK,
    COHORT_LINK,
    NEWCOMER,
    OTHER_STAFF,
    PATIENT,
    STAFF,
    alerts_to,
    enrol,
    join_staff,
    make_clinic,
    new_cohort,
)
from tests.test_sessions import button, setup


async def confirm(h, user=STAFF, answer="y"):
    ask = h.last(user)
    await h.tap(user, button(ask, "cc:", answer), ask.message_id)
    await h.tick()
    return ask


@pytest.fixture
async def staffed(harness):
    h = harness
    clinic_id, code = make_clinic(h)
    await join_staff(h, code)
    return h, clinic_id


# --- finding 4: cohort dates -----------------------------------------------------------------


async def test_finding_04_past_start_asks_and_a_late_joiner_gets_their_own_course(staffed):
    h, _ = staffed
    # Today is 2026-03-02 in London. Out of range (the 2025 typo, 9999): refused with the range.
    for day in ("2025-01-06", "9999-12-31"):
        await h.send_text(STAFF, f"/cohort_new Old group {day}")
        assert "from <code>2025-12-08</code> to <code>2026-08-31</code>" in h.last(STAFF).text
    # In range but in the past: it asks first, and "No" creates nothing.
    await h.send_text(STAFF, "/cohort_new Old group 2025-12-08")
    ask = h.last(STAFF)
    assert "2025-12-08 is in the past</b>, 12 weeks ago" in ask.text
    assert "its 12 weeks ended on 2026-03-01" in ask.text
    await confirm(h, answer="n")
    assert h.last(STAFF).text == render("clinic_confirm_cancelled")
    assert h.db["cohorts"].count == 0
    # "Yes": created as asked; the tap counts once.
    await h.send_text(STAFF, "/cohort_new Old group 2025-12-08")
    ask = await confirm(h)
    await h.tap(STAFF, button(ask, "cc:", "y"), ask.message_id)
    [cohort] = list(h.db.query("SELECT * FROM cohorts"))
    assert cohort["start_date"] == "2025-12-08" and h.db["cohorts"].count == 1
    link = COHORT_LINK.search(
        next(s.text for s in reversed(h.api.sent_to(STAFF)) if "enrolment link" in s.text.lower())
    ).group(2)
    # A newcomer is told the group's course ended, and follows their own 12 weeks.
    pid, _ = setup(h, ("walking", 20))
    offer, joined = await enrol(h, link)
    assert "This group's 12-week course ended on 2026-03-01" in offer.text
    assert "your 12 weeks start from your own start" in joined.text
    member = clinics.membership(h.db, pid)
    assert member["own_course"] == 1
    assert h.db["patients"].get(pid)["course_start"] != "2025-12-08"
    # A start date in the future needs no confirmation.
    await h.send_text(STAFF, "/cohort_new Spring group 2026-04-07")
    assert "Cohort 2 created" in h.last(STAFF).text or any(
        "Cohort 2 created" in s.text for s in h.api.sent_to(STAFF)[-2:]
    )


async def test_a_second_cohort_of_the_same_name_is_refused_until_the_first_is_archived(staffed):
    """Two "Monday group"s would mix up links, digests and exports: the name is refused (case
    and spaces ignored) with the existing cohort's number, until that one is archived."""
    h, _ = staffed
    await h.send_text(STAFF, "/cohort_new Monday group")
    assert h.db["cohorts"].count == 1
    await h.send_text(STAFF, "/cohort_new  monday GROUP ")
    assert h.last(STAFF).text == (
        "Your clinic already has a cohort called <b>Monday group</b> (cohort 1). Choose another"
        " name, or use /cohort_link 1 for a new link to that one."
    )
    assert h.db["cohorts"].count == 1
    await h.send_text(STAFF, "/cohort_archive 1")
    await confirm(h)
    await h.send_text(STAFF, "/cohort_new Monday group")
    assert [c["name"] for c in h.db["cohorts"].rows] == ["Monday group", "Monday group"]


# --- finding 5: the last clinician, invites ----------------------------------------------------


@pytest.fixture
def cli_db(harness, monkeypatch):
    monkeypatch.setenv("DATABASE_PATH", str(harness.db_path))
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "my_back_bot")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)


async def test_finding_05_last_clinician_kept_and_removal_revokes_invites(staffed, cli_db, capsys):
    h, clinic_id = staffed
    _, link = await new_cohort(h)
    setup(h, ("walking", 20))
    await enrol(h, link)
    staff = clinics.roles_of(h.db, STAFF)[0]
    # The only clinician of a clinic with a member: refused, and the CLI says why.
    assert cli(["clinic", "remove-clinician", str(staff["id"])]) == 1
    err = capsys.readouterr().err
    assert "last active clinician of Northside Physio" in err and "1 patient(s)" in err
    assert clinics.roles_of(h.db, STAFF) != []
    # A colleague joins; two more invites wait unused; `clinic invites` lists them.
    _, code = clinics.invite_clinician(h.db, clinic_id, h.clock.now())
    await join_staff(h, code, user=OTHER_STAFF)
    assert cli(["clinic", "invite", "Northside Physio"]) == 0
    spare = CLINIC_LINK.search(capsys.readouterr().out).group(2)
    assert cli(["clinic", "invite", "--id", str(clinic_id)]) == 0
    capsys.readouterr()
    assert cli(["clinic", "invites", "northside physio"]) == 0
    listed = capsys.readouterr().out
    numbers = [int(n) for n in re.findall(r"invite (\d+):", listed)]
    assert len(numbers) == 2 and "Northside Physio" in listed
    # revoke-invite: that link stops working at once.
    assert cli(["clinic", "revoke-invite", str(numbers[1])]) == 0
    assert cli(["clinic", "revoke-invite", str(numbers[1])]) == 1
    # Removing the first clinician revokes every unused clinician invite of the clinic, so the
    # removed clinician cannot come back through one.
    assert cli(["clinic", "remove-clinician", str(staff["id"])]) == 0
    assert "Revoked 1 unused clinician invite(s)" in capsys.readouterr().out
    await h.send_text(STAFF, f"/start cl_{spare}", first_name="Sam")
    assert h.last(STAFF).text == render("invite_refused")
    assert clinics.clinic_invites(h.db, h.clock.now()) == []
    # Patients' alerts still reach the remaining clinician.
    await h.send_text(PATIENT, "/urgent")
    await h.tap(PATIENT, "u:emergency:yes", h.last(PATIENT).message_id)
    await h.tick()
    assert alerts_to(h, OTHER_STAFF) and alerts_to(h, STAFF) == []


# --- finding 11: the command line ------------------------------------------------------------


def test_finding_11_cli_options_names_numbers_missing_db_and_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("DATABASE_PATH", raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "my_back_bot")
    db = str(tmp_path / "clinic.sqlite3")
    # A mistyped --db is refused, nothing created; the first `clinic create` says it creates one.
    assert cli(["clinic", "list", "--db", db]) == 2
    assert "There is no database at" in capsys.readouterr().err
    assert not os.path.exists(db)
    # The README's order (options after the action) and the other order both work.
    assert cli(["clinic", "create", "  Northside   Physio ", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "creating a new one" in out and "Created clinic 1: Northside Physio" in out
    assert cli(["clinic", "--db", db, "create", "northside physio"]) == 1  # same, ignoring case
    assert "exists already" in capsys.readouterr().err
    assert cli(["clinic", "create", "", "--db", db]) == 2
    assert cli(["clinic", "create", "x" * 101, "--db", db]) == 2
    assert cli(["clinic", "create", "x" * 100, "--db", db]) == 0
    # A number is a name when created; `#2` or `--id 2` is the number.
    assert cli(["clinic", "create", "2", "--db", db]) == 0
    assert "Created clinic 3: 2" in capsys.readouterr().out
    assert cli(["clinic", "invite", "#2", "--db", db]) == 0
    assert cli(["clinic", "invite", "--id", "2", "--db", db]) == 0
    assert cli(["clinic", "invite", "2", "--db", db]) == 1  # a name and another's number
    assert "#2" in capsys.readouterr().err
    assert cli(["clinic", "create", "7", "--db", db]) == 0
    assert cli(["clinic", "invite", "7", "--db", db]) == 0  # no clinic 7: the name
    capsys.readouterr()
    rows = list(open_database(db).query("SELECT clinic_id FROM invites ORDER BY id"))
    assert [r["clinic_id"] for r in rows][-4:] == [2, 2, 4, 4]
    assert [r["name"] for r in open_database(db).query("SELECT name FROM clinics ORDER BY id")] == [
        "Northside Physio",
        "x" * 100,
        "2",
        "7",
    ]
    # export: no overwriting without --force, no traceback, files 0600.
    store = open_database(db)
    with store.atomic():
        clinics.create_cohort(
            store, clinic_id=1, name="G", start_date=None, created_by=None, now=_now()
        )
    out_dir = tmp_path / "out"
    assert cli(["export", "--cohort", "1", "--out", str(out_dir), "--db", db]) == 0
    files = sorted(out_dir.iterdir())
    assert len(files) == 2
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    files[0].write_text("kept")
    capsys.readouterr()
    assert cli(["export", "--cohort", "1", "--out", str(out_dir), "--db", db]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and "Traceback" not in err
    assert files[0].read_text() == "kept"
    assert cli(["export", "--cohort", "1", "--out", str(out_dir), "--db", db, "--force"]) == 0
    assert files[0].read_text() != "kept"
    assert cli(["export", "--cohort", "1", "--out", str(files[0]), "--db", db]) == 2
    assert cli(["export", "--cohort", "1", "--out", "x", "--db", db + "x"]) == 2


def _now():
    from bot.clock import SystemClock

    return SystemClock().now()


# --- finding 12: archive, the link, the log --------------------------------------------------


async def test_finding_12_archive_link_confirmation_and_the_cohort_log(staffed):
    h, _ = staffed
    cohort_id, link = await new_cohort(h, "Tuesday group 2026-04-07")
    # /cohort_link asks before replacing the printed link; "No" keeps it working.
    await h.send_text(STAFF, f"/cohort_link {cohort_id}")
    assert "printed posters" in h.last(STAFF).text
    await confirm(h, answer="n")
    await h.send_text(NEWCOMER, f"/start co_{link}")
    assert "Northside Physio" in h.last(NEWCOMER).text
    await h.send_text(STAFF, f"/cohort_link {cohort_id}")
    await confirm(h)
    fresh = COHORT_LINK.search(
        next(s.text for s in reversed(h.api.sent_to(STAFF)) if "enrolment link" in s.text.lower())
    ).group(2)
    await h.send_text(NEWCOMER, f"/start co_{link}")
    assert h.last(NEWCOMER).text == render("clinic_link_refused")
    # Settings changes: a past start asks; thresholds and emergency text apply at once.
    await h.send_text(STAFF, f"/cohort_set {cohort_id} threshold flare_tolerance 3")
    await h.send_text(STAFF, f"/cohort_set {cohort_id} emergency 999 or the clinic on 0123")
    await h.send_text(STAFF, f"/cohort_set {cohort_id} start 2026-02-16")
    assert "2026-02-16 is in the past" in h.last(STAFF).text
    await confirm(h)
    assert clinics.cohort(h.db, cohort_id)["start_date"] == "2026-02-16"
    pid, _ = setup(h, ("walking", 20))
    await enrol(h, fresh)
    # Archive: asks, then the link stops and no digest is planned; the roster stays readable.
    await h.send_text(STAFF, f"/cohort_archive {cohort_id}")
    assert "Its 1 member keeps their course" in h.last(STAFF).text
    await confirm(h)
    assert "is archived" in h.last(STAFF).text
    await h.send_text(NEWCOMER, f"/start co_{fresh}")
    assert h.last(NEWCOMER).text == render("clinic_link_refused")
    await h.tick()
    assert h.db.execute("SELECT count(*) FROM outbox WHERE kind = 'digest'").fetchone()[0] == 0
    await h.send_text(STAFF, f"/cohort {cohort_id}")
    assert "Ana" in h.last(STAFF).text
    await h.send_text(STAFF, f"/cohort_set {cohort_id} start rolling")
    assert "is archived, so it can't be changed" in h.last(STAFF).text
    await h.send_text(STAFF, "/cohorts")
    assert "archived" in h.last(STAFF).text
    assert clinics.membership(h.db, pid) is not None
    # The log: who changed what and when, oldest first.
    await h.send_text(STAFF, f"/cohort_log {cohort_id}")
    text = h.last(STAFF).text
    lines = [line for line in text.splitlines() if line.startswith("•")]
    assert len(lines) == 6, text
    name = clinics.roles_of(h.db, STAFF)[0]["first_name"]
    assert f"2026-03-02 12:00, {name}: created it (2026-04-07)" in lines[0]
    assert "made a new enrolment link" in lines[1]
    assert "threshold flare_tolerance default → 3" in lines[2]
    assert "emergency default → 999 or the clinic on 0123" in lines[3]
    assert "start 2026-04-07 → 2026-02-16" in lines[4]
    assert "archived it" in lines[5]
    # Only staff of the clinic see it.
    await h.send_text(OTHER_STAFF, f"/cohort_log {cohort_id}")
    assert h.last(OTHER_STAFF).text == render("clinic_staff_only")
    assert invites.find(h.db, fresh)["revoked_at"] is not None
