"""Access control as a table: every command and every button kind, pressed by every role.

The world: Ana, a patient in our clinic's cohort, with an activity under way, an open check-in and a
caregiver (Tom); our clinic's clinician, a removed one, another clinic's clinician, and a stranger.
Buttons carry Ana's real ids (her check-in, her session, her activity, her caregiver link, her
membership, her offer), as a forger would. Each case starts from the same database snapshot.

For every case: no unhandled error, an answer (never silence), Ana's stored data unchanged unless
Ana herself acted, and nothing of hers (activity, cohort) in what anyone else is sent, except what
her consent allows: our clinic's clinician sees the cohort.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from handlers import CLINIC_COMMANDS, COMMANDS
from messages import render
from storage import alerts, caregivers, clinics, outbox
from storage import outcomes as outcome_store
from tests.test_caregivers import accept, invite
from tests.test_clinics import enrol, join_staff, make_clinic, new_cohort
from tests.test_sessions import button, setup

ANA, TOM, STAFF, OTHER, REMOVED, STRANGER = 1001, 2002, 7001, 7002, 7003, 8001
ROLES = {
    "patient": ANA,
    "caregiver": TOM,
    "clinician": STAFF,
    "other_clinic": OTHER,
    "removed_clinician": REMOVED,
    "stranger": STRANGER,
}
# Ana's health data and her links: what no one else may change.
ANA_TABLES = (
    "checkins",
    "sessions",
    "activities",
    "memberships",
    "caregivers",
    "consents",
    "awaiting",
    "sitting_breaks",
    "lessons_sent",
    "outcome_sets",
    "outcome_answers",
    "goals",
)
PATIENT_ONLY = {
    "checkin",
    "activity",
    "plan",
    "history",
    "settings",
    "pause",
    "resume",
    "course",
    "leave",
    "withdraw",
}
NAMES_A_COHORT = {"cohort", "export", "cohort_set", "cohort_link", "cohort_archive", "cohort_log"}
CAREGIVERS_OWN = ("cg:x:", "cgz:")  # the caregiver stopping, or setting their zone: their link
REFUSALS = {render("clinic_staff_only"), render("clinic_no_cohort", cohort_id=1)}


class World:
    def __init__(self, h):
        self.h = h
        self.errors: list[BaseException] = []

    async def build(self) -> World:
        h = self.h

        async def record(update, context) -> None:
            self.errors.append(context.error)

        h.app.add_error_handler(record)
        clinic_id, code = make_clinic(h)
        await join_staff(h, code, STAFF)
        self.cohort, link = await new_cohort(h, "Tuesday group", STAFF)
        _, again = clinics.invite_clinician(h.db, clinic_id, h.clock.now())
        await join_staff(h, again, REMOVED)
        clinics.remove_clinician(h.db, clinics.roles_of(h.db, REMOVED)[0]["id"], h.clock.now())
        _, elsewhere = make_clinic(h, "Elsewhere Clinic")
        await join_staff(h, elsewhere, OTHER)
        await new_cohort(h, "Their group", OTHER)
        self.pid, acts = setup(h, ("walking", 20))
        self.activity = acts["walking"]
        await enrol(h, link, ANA)
        await accept(h, await invite(h), TOM)
        self.carer = caregivers.active_for_patient(h.db, self.pid)[0]["id"]
        await h.send_text(ANA, "/checkin")
        self.checkin = h.last(ANA)
        await h.send_text(ANA, "/activity")
        started = h.last(ANA)
        await h.tap(ANA, button(started, f"a:s:{self.activity}"), started.message_id)
        self.session = h.db.execute("SELECT max(id) FROM sessions").fetchone()[0]
        self.offer = h.db.execute("SELECT id FROM cohort_offers").fetchone()[0]
        self.membership = clinics.membership(h.db, self.pid)["id"]
        self.staff_invite = h.db.execute(
            "SELECT max(id) FROM invites WHERE kind = 'clinician'"
        ).fetchone()[0]
        self.confirm = clinics.ask_confirm(  # a held request of the clinician's (issue 16)
            h.db,
            clinics.roles_of(h.db, STAFF)[0]["id"],
            "cohort_link",
            self.cohort,
            {},
            h.clock.now(),
        )
        self.carer_invite = h.db.execute(
            "SELECT id FROM invites WHERE kind = 'caregiver'"
        ).fetchone()[0]
        self.nudge = outbox.enqueue(
            h.db,
            chat_id=ANA,
            patient_id=self.pid,
            kind="sitting",
            due_at=h.clock.now(),
            now=h.clock.now(),
            dedupe_key="sitting:test",
            payload={"local_date": "2026-03-02"},
        )
        # An alert episode about Ana and a clinician's message to her (issue 16's buttons).
        member = clinics.membership(h.db, self.pid)
        self.episode = alerts.open_episode(
            h.db,
            patient_id=self.pid,
            cohort_id=member["cohort_id"],
            clinic_id=member["clinic_id"],
            kind="blocked",
            now=h.clock.now(),
            notify_at=h.clock.now(),
            recipients=[clinics.roles_of(h.db, STAFF)[0]["id"]],
        )
        self.message = alerts.create_message(
            h.db,
            clinic_id=member["clinic_id"],
            cohort_id=member["cohort_id"],
            patient_id=self.pid,
            clinician_id=clinics.roles_of(h.db, STAFF)[0]["id"],
            kind="message",
            now=h.clock.now(),
        )
        # Ana's open outcome questions (issue 17) and a summary of hers not yet sent.
        self.peg = outcome_store.create_set(h.db, self.pid, "peg", "baseline", h.clock.now())
        self.goals = outcome_store.create_set(h.db, self.pid, "goals", "baseline", h.clock.now())
        self.summary = outbox.enqueue(
            h.db,
            chat_id=ANA,
            patient_id=self.pid,
            kind="summary",
            due_at=h.clock.now() + timedelta(days=30),
            now=h.clock.now(),
            dedupe_key="summary:test",
            payload={"week_end": "2026-03-08"},
        )
        assert self.errors == []
        self.snapshot = sqlite3.connect(":memory:")
        h.db.conn.backup(self.snapshot)
        return self

    def reset(self) -> None:
        self.snapshot.backup(self.h.db.conn)
        self.errors.clear()

    def ana(self) -> dict:
        db = self.h.db
        rows = {
            t: [tuple(r) for r in db.execute(f"SELECT * FROM {t} WHERE patient_id = ?", [self.pid])]
            for t in ANA_TABLES
        }
        rows["patient"] = [
            tuple(r) for r in db.execute("SELECT * FROM patients WHERE id = ?", [self.pid])
        ]
        return rows

    def buttons(self) -> list[str]:
        sid, act = self.session, self.activity
        return [
            f"c:{self.checkin_row()}:5",
            f"s:{self.nudge}:done",
            f"s:{self.nudge}:off",
            f"a:s:{act}",
            f"a:e:{sid}",
            f"a:x:{sid}",
            f"r:{sid}:b:3",
            f"r:{sid}:a:5",
            f"r:{sid}:s:1",
            f"n:{self.checkin_row()}:4",
            f"a:lm:{act}:30",
            f"set:d:{act}",
            f"set:dm:{act}:30",
            f"cg:r:{self.carer}",
            f"cg:x:{self.carer}",
            f"cg:c:{self.carer_invite}",
            f"cgz:{self.carer}:Europe/London",
            f"cgj:{self.carer_invite}:y",
            f"coj:{self.offer}:y",
            f"lv:{self.membership}:y",
            f"clj:{self.staff_invite}:y",
            f"cc:{self.confirm}:y",
            f"al:a:{self.episode}",
            f"al:r:{self.episode}",
            f"cm:{self.message}",
            "l:h:w01-01",
            "fl:2026-03-02:use",
            "u:seen",
            "u:mistake",
            "u:ok:yes",
            "sf:emergency:yes",
            "sf:soon:yes",
            "o:consent:yes",
            "p:x",
            "pause:day",
            f"oc:{self.peg}:pain:5",
            f"oc:n:{self.goals}",
            f"oc:w:{self.summary}:2",
        ]

    def checkin_row(self) -> int:
        return int(button(self.checkin, "c:").split(":")[1])


@pytest.fixture
async def world(harness):
    world = await World(harness).build()
    yield world
    world.snapshot.close()


def command_line(name: str, cohort: int) -> str:
    if name == "cohort_new":
        return "/cohort_new Extra group"
    return f"/{name} {cohort}" if name in NAMES_A_COHORT else f"/{name}"


ALL_COMMANDS = [name for name, _ in COMMANDS] + [name for name, _ in CLINIC_COMMANDS]


@pytest.mark.parametrize("role", ROLES)
async def test_every_command_by_every_role(world, role):
    h, user = world.h, ROLES[role]
    for name in ALL_COMMANDS:
        if name in ("delete",):
            continue  # asks for confirmation only; the button is in the button table
        world.reset()
        before, sent = world.ana(), len(h.api.sent_to(user))
        await h.send_text(user, command_line(name, world.cohort))
        await h.tick()
        answers = [s.text for s in h.api.sent_to(user)[sent:]]
        case = f"{role} /{name}"
        assert world.errors == [], case
        assert answers, f"{case}: no answer"
        if user != ANA:
            assert world.ana() == before, f"{case} changed Ana's data"
            assert not any("walking" in a for a in answers), case
        if name in NAMES_A_COHORT or name == "cohort_new" or name == "cohorts":
            staff = role == "clinician" or (role == "other_clinic" and name not in NAMES_A_COHORT)
            assert bool(set(answers) & REFUSALS) != staff, (case, answers)
        if role not in ("clinician",):
            assert not any("Tuesday group" in a for a in answers) or role == "patient", case
        if name in PATIENT_ONLY and role != "patient":
            assert not any("walking" in a for a in answers), case


@pytest.mark.parametrize("role", [r for r in ROLES if r != "patient"])
async def test_every_button_kind_with_anas_ids_by_everyone_else(world, role):
    h, user = world.h, ROLES[role]
    for data in world.buttons():
        world.reset()
        before, sent = world.ana(), len(h.api.sent_to(user))
        await h.tap(user, data, 1)
        h.clock.advance(timedelta(seconds=1))
        case = f"{role} {data}"
        assert world.errors == [], case
        assert h.api.sent_to(user)[sent:], f"{case}: no answer"
        if not (role == "caregiver" and data.startswith(CAREGIVERS_OWN)):
            assert world.ana() == before, f"{case} changed Ana's data"
        assert not any("walking" in s.text for s in h.api.sent_to(user)[sent:]), case


async def test_the_table_covers_every_registered_button_prefix(world):
    """A new button kind must be added to the table above."""
    import re

    from telegram.ext import CallbackQueryHandler

    prefixes = {
        handler.pattern.pattern.lstrip("^")
        for group in world.h.app.handlers.values()
        for handler in group
        if isinstance(handler, CallbackQueryHandler) and handler.pattern is not None
    }
    covered = {
        re.match(r"[a-z]+:", data).group(0)
        for data in world.buttons()
        if re.match(r"[a-z]+:", data)
    }
    assert prefixes - covered <= {"w:", "del:"}, prefixes - covered  # the sender's own data only
