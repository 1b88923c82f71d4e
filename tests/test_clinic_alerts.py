"""Issue 16, findings 1-3 (deliverables 1 and 2): who is who, reaching a patient, and alerts a
clinician can act on. Through the real Application on the fake Bot API, a virtual clock and real
SQLite: what each person sees and what is stored."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rules import weekly
from jobs import clinic as clinic_flow
from messages import render
from storage import alerts, clinics
from tests.test_clinics import (
    COHORT_LINK,
    OTHER_STAFF,
    PATIENT,
    STAFF,
    STRANGER,
    alerts_to,
    enrol,
    join_staff,
    make_clinic,
    new_cohort,
)
from tests.test_sessions import button, setup

SECOND = 1003  # a second patient


@pytest.fixture
async def two_staff(harness):
    """A clinic (London) with two clinicians, a cohort, and patient Ana enrolled."""
    h = harness
    clinic_id, code = make_clinic(h)
    await join_staff(h, code)
    with h.db.atomic():
        _, code2 = clinics.invite_clinician(h.db, clinic_id, h.clock.now())
    await join_staff(h, code2, user=OTHER_STAFF)
    cohort_id, link = await new_cohort(h)
    pid, _ = setup(h, ("walking", 20))
    await enrol(h, link)
    staff = {r["user_id"]: r["id"] for r in clinics.clinicians_of(h.db, clinic_id)}
    return {"h": h, "clinic": clinic_id, "cohort": cohort_id, "link": link, "pid": pid, **staff}


def episodes(h, pid):
    return alerts.for_patient(h.db, pid)


def flags_to(h, chat_id):
    return [s for s in h.api.sent_to(chat_id) if "⚠️" in s.text]


async def rate_rise(h, pid):
    """A first week at 2 and a last week at 5 (7 ratings each), stored directly."""
    for day, pain in enumerate([2, 2, 2, 2, 2, 2, 2, 5, 5, 5, 5, 5, 5, 5]):
        h.db.execute(
            "INSERT INTO checkins (patient_id, local_date, pain, status, answered_at) "
            "VALUES (?, ?, ?, 'answered', ?)",
            [pid, f"2026-03-{2 + day:02d}", pain, f"2026-03-{2 + day:02d}T08:00:00+00:00"],
        )


# --- finding 1: who is who, and reaching them ------------------------------------------------


async def test_finding_01_personal_link_carries_the_reference_and_a_study_id(harness):
    h = harness
    _, code = make_clinic(h)
    await join_staff(h, code)
    cohort_id, _ = await new_cohort(h)
    await h.send_text(STAFF, f"/invite_patient {cohort_id} MRN-0042")
    reply = h.last(STAFF).text
    assert "MRN-0042" in reply and "works once, for 30 days" in reply
    personal = COHORT_LINK.search(reply).group(2)
    setup(h, ("walking", 20))
    offer, _ = await enrol(h, personal)
    assert "MRN-0042" not in offer.text  # the patient never sees the clinic's reference
    [member] = clinics.members(h.db, cohort_id)
    assert member["reference"] == "MRN-0042"
    assert re.fullmatch(r"[0-9A-F]{8}", member["study_id"])
    assert clinics.member_label(member) == "Ana · ref MRN-0042"
    days, _ = clinic_flow.export_rows(h.db, cohort_id, h.clock.now())
    assert {(r["reference"], r["study_id"]) for r in days} == {("MRN-0042", member["study_id"])}
    # Single use: someone else opening it is refused.
    await h.send_text(SECOND, f"/start co_{personal}")
    assert h.last(SECOND).text == render("clinic_link_refused")
    # The roster names them by reference in alerts; /ref changes it, "-" removes it.
    await h.send_text(PATIENT, "/urgent")
    await h.tap(PATIENT, "u:emergency:yes", h.last(PATIENT).message_id)
    await h.tick()
    [alert] = alerts_to(h, STAFF)
    assert "Ana · ref MRN-0042" in alert and "/message" in alert
    await h.send_text(STAFF, "/ref MRN-0042 AB 12")
    assert "now has the reference <b>AB 12</b>" in h.last(STAFF).text
    assert clinics.members(h.db, cohort_id)[0]["reference"] == "AB 12"
    await h.send_text(STAFF, f"/ref {member['id']} -")
    assert clinics.members(h.db, cohort_id)[0]["reference"] is None
    # Someone who is not staff, or staff of another clinic, finds no one.
    await h.send_text(STRANGER, f"/ref {member['id']} X")
    assert h.last(STRANGER).text == render("clinic_staff_only")


async def test_finding_01_message_with_the_clinics_name_and_one_reply_relayed(two_staff):
    t = two_staff
    h, pid = t["h"], t["pid"]
    await h.send_text(STAFF, f"/message {pid} Hello Ana,\nplease call us on 0123.")
    assert "Queued for <b>Ana</b>" in h.last(STAFF).text
    await h.tick()
    message = h.last(PATIENT)
    assert "Message from Northside Physio" in message.text
    assert "Hello Ana,\nplease call us on 0123." in message.text
    await h.tap(PATIENT, button(message, "cm:"), message.message_id)
    assert "Type your answer to <b>Northside Physio</b>" in h.last(PATIENT).text
    # A warning sign in the answer is heard first, and not relayed as an answer.
    await h.send_text(PATIENT, "I can't feel my bum and I wet myself")
    assert "Is this happening now" in h.last(PATIENT).text
    await h.send_text(PATIENT, "no")
    await h.send_text(PATIENT, "Thanks <b>I'll</b> call tomorrow")
    assert "passed your answer on to <b>Northside Physio</b>" in h.last(PATIENT).text
    await h.tick()
    relay = h.last(STAFF).text
    assert "answered your message" in relay
    assert "Thanks &lt;b&gt;I&#39;ll&lt;/b&gt; call tomorrow" in relay  # escaped, as typed
    assert all("wet myself" not in s.text for s in h.api.sent_to(STAFF))
    assert not any("answered your message" in s.text for s in h.api.sent_to(OTHER_STAFF))
    # One answer only: the next text is not relayed.
    await h.send_text(PATIENT, "and another thing")
    assert sum("answered your message" in s.text for s in h.api.sent_to(STAFF)) == 1
    [row] = list(h.db.query("SELECT * FROM clinic_messages"))
    assert row["replied_at"] and row["clinician_id"] == t[STAFF]


async def test_finding_01_the_patient_hears_the_clinic_was_told_only_when_someone_gets_it(
    two_staff, monkeypatch
):
    t = two_staff
    h, pid = t["h"], t["pid"]
    await h.send_text(PATIENT, "/contact")
    assert "I've asked <b>Northside Physio</b> to contact you" in h.last(PATIENT).text
    await h.tick()
    assert any("asks you to contact them" in a for a in alerts_to(h, STAFF))
    await h.send_text(PATIENT, "/contact")  # the same episode: said truthfully, told once
    assert "already asked" in h.last(PATIENT).text
    # Both clinicians removed: nobody at the clinic will hear, so no promise is made.
    with h.db.atomic():
        for staff_id in (t[STAFF], t[OTHER_STAFF]):
            clinics.remove_clinician(h.db, staff_id, h.clock.now())
    await h.send_text(SECOND, "/contact")  # not a patient at all
    assert "not in a clinic's group" in h.last(SECOND).text
    await rate_rise(h, pid)
    h.clock.set(datetime(2026, 3, 16, 9, 0, tzinfo=UTC))
    await h.send_text(PATIENT, "/checkin")
    await h.tap(PATIENT, button(h.last(PATIENT), "c:", 6), h.last(PATIENT).message_id)
    rise = next(t for t in h.texts(PATIENT) if "averaged 2 or more points higher" in t)
    assert "Northside" not in rise and "know" not in rise
    assert alerts.latest(h.db, pid, "rise")["recipients"] == "[]"


# --- finding 2: alert floods -----------------------------------------------------------------


def test_finding_02_a_rise_needs_three_ratings_in_each_window():
    start = date(2026, 3, 2)
    one_first = {start: 1, **{date(2026, 3, 10 + n): 6 for n in range(6)}}
    figures = weekly.week_figures(one_first, date(2026, 3, 15), start, [], 0, 0)
    assert figures.change_vs_first is not None and figures.change_vs_first >= 2
    assert not figures.sustained_rise  # one rating in the first week is no baseline
    few_last = {**{start + timedelta(days=n): 1 for n in range(7)}, date(2026, 3, 15): 8}
    assert not weekly.week_figures(few_last, date(2026, 3, 15), start, [], 0, 0).sustained_rise
    enough = {
        **{start + timedelta(days=n): 1 for n in range(3)},
        **{date(2026, 3, 13 + n): 5 for n in range(3)},
    }
    assert weekly.week_figures(enough, date(2026, 3, 15), start, [], 0, 0).sustained_rise


async def test_finding_02_one_alert_per_episode_in_working_hours_with_ack_and_resolve(two_staff):
    t = two_staff
    h, pid = t["h"], t["pid"]
    other = setup(h, user_id=SECOND, first_name="Ben")[0]
    await enrol(h, t["link"], user=SECOND)
    # Saturday 03:00 London: Ana's chat is gone, Ben asks to be contacted. Neither is urgent.
    h.clock.set(datetime(2026, 3, 7, 3, 0, tzinfo=UTC))
    h.api.block(PATIENT)
    await h.send_text(PATIENT, "/plan")  # the reply meets 403
    await h.send_text(SECOND, "/contact")
    await h.tick()
    assert flags_to(h, STAFF) == [] and flags_to(h, OTHER_STAFF) == []
    h.clock.set(datetime(2026, 3, 8, 23, 0, tzinfo=UTC))  # Sunday night: still nothing
    await h.tick()
    assert flags_to(h, STAFF) == []
    h.clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))  # Monday 08:00: one message each
    await h.tick()
    for chat in (STAFF, OTHER_STAFF):
        [batch] = flags_to(h, chat)
        assert "2 flags to look at" in batch.text
        assert "has blocked me" in batch.text and "asks you to contact them" in batch.text
        assert len(batch.buttons) == 2  # Acknowledge / Resolve per flag
    # Blocked again and again: the episode is open, nobody is told twice.
    await h.send_text(PATIENT, "/plan")
    h.clock.advance(timedelta(days=2))
    await h.send_text(PATIENT, "/plan")
    await h.tick()
    assert len(flags_to(h, STAFF)) == 1
    # Sam acknowledges Ana's flag: the colleague sees who did what.
    [ana] = [e for e in episodes(h, pid) if e["kind"] == "blocked"]
    batch = flags_to(h, STAFF)[0]
    await h.tap(STAFF, f"al:a:{ana['id']}", batch.message_id)
    assert "you acknowledged the alert about <b>Ana</b>" in h.last(STAFF).text
    await h.tick()
    sam = clinics.clinician(h.db, t[STAFF])["first_name"]
    assert f"{sam} acknowledged the alert about <b>Ana</b>" in h.last(OTHER_STAFF).text
    assert alerts.get(h.db, ana["id"])["state"] == "acknowledged"
    # The colleague tapping Acknowledge too learns it is done, and by whom.
    await h.tap(OTHER_STAFF, f"al:a:{ana['id']}", batch.message_id)
    assert f"already acknowledged by {sam}" in h.last(OTHER_STAFF).text
    # Resolved: the next block is a new episode, told again (in working hours).
    await h.tap(OTHER_STAFF, f"al:r:{ana['id']}", batch.message_id)
    assert alerts.get(h.db, ana["id"])["state"] == "resolved"
    await h.tick()
    assert "resolved the alert about <b>Ana</b>" in h.last(STAFF).text
    await h.send_text(PATIENT, "/plan")
    await h.tick()
    assert len(flags_to(h, STAFF)) == 2
    # Ana unblocks the bot and comes back: the open "blocked" episode ends at the next plan tick.
    h.api.unblock(PATIENT)
    await h.send_text(PATIENT, "/start")
    await h.tick()
    assert {e["resolved_how"] for e in episodes(h, pid)} == {"clinician", "reachable"}
    # A stranger's tap does nothing.
    await h.tap(STRANGER, f"al:r:{ana['id']}", 1)
    assert h.last(STRANGER).text == render("expired")
    assert {e["kind"] for e in episodes(h, other)} == {"contact"}


async def test_finding_02_a_long_rise_alerts_once_and_only_the_responsible_clinician(two_staff):
    t = two_staff
    h, pid = t["h"], t["pid"]
    await h.send_text(STAFF, f"/cohort_set {t['cohort']} responsible {t[STAFF]}")
    settings = h.last(STAFF).text
    sam = clinics.clinician(h.db, t[STAFF])["first_name"]
    assert f"Alerts go to: {sam} #{t[STAFF]} (responsible" in settings
    await rate_rise(h, pid)
    for day in range(16, 44):  # four weeks of high ratings
        h.clock.set(datetime(2026, 3, 1, 9, 0, tzinfo=UTC) + timedelta(days=day))
        h.db.execute(
            "INSERT INTO checkins (patient_id, local_date, pain, status, answered_at) "
            "VALUES (?, ?, 6, 'answered', ?)",
            [pid, (date(2026, 3, 1) + timedelta(days=day)).isoformat(), h.clock.now().isoformat()],
        )
        clinic_flow.check_rise(h.db, clinics.members(h.db, t["cohort"])[0], h.clock.now())
        await h.tick()
        if day == 29:  # two weeks of it: told once
            assert len([a for a in alerts_to(h, STAFF) if "pain has risen" in a]) == 1
    # Unresolved after 14 days, the episode no longer holds the alert back: told once more.
    assert len([a for a in alerts_to(h, STAFF) if "pain has risen" in a]) == 2
    assert [e["resolved_how"] for e in episodes(h, pid)] == [None, "expired"]
    assert [a for a in alerts_to(h, OTHER_STAFF) if "pain has risen" in a] == []
    # An emergency sign goes at once, at night, to the responsible clinician only.
    h.clock.set(datetime(2026, 4, 18, 2, 0, tzinfo=UTC))  # Saturday 03:00 London (BST)
    await h.send_text(PATIENT, "/urgent")
    await h.tap(PATIENT, "u:emergency:yes", h.last(PATIENT).message_id)
    await h.tick()
    assert sum("urgent care" in a for a in alerts_to(h, STAFF)) == 1
    assert alerts_to(h, OTHER_STAFF) == []
    # The responsible clinician removed: the others get the alerts again.
    with h.db.atomic():
        clinics.remove_clinician(h.db, t[STAFF], h.clock.now())
    assert [s["id"] for s in clinics.alert_recipients(h.db, pid)] == [t[OTHER_STAFF]]


# --- finding 3: flags carry a date and a state -----------------------------------------------


async def test_finding_03_seen_resolves_the_red_flag_and_tells_the_clinic(two_staff):
    t = two_staff
    h, pid = t["h"], t["pid"]
    await h.send_text(PATIENT, "/urgent")
    await h.tap(PATIENT, "u:emergency:yes", h.last(PATIENT).message_id)
    await h.tick()
    [alert] = flags_to(h, STAFF)
    assert "urgent care (2026-03-02)" in alert.text
    [episode] = episodes(h, pid)
    assert (episode["kind"], episode["state"]) == ("red_flag", "open")
    assert episode["opened_at"].startswith("2026-03-02")
    await h.tap(STAFF, button(alert, "al:a:"), alert.message_id)
    assert alerts.get(h.db, episode["id"])["acknowledged_by"] == t[STAFF]
    # On hold, they can still answer the clinic's message.
    await h.send_text(STAFF, f"/message {pid} How are you doing?")
    await h.tick()
    await h.tap(PATIENT, button(h.last(PATIENT), "cm:"), h.last(PATIENT).message_id)
    await h.send_text(PATIENT, "Going to the GP now")
    assert "passed your answer on" in h.last(PATIENT).text
    await h.tick()
    assert "Going to the GP now" in h.last(STAFF).text
    # The next day the patient says a doctor has seen them: resolved, and both are told.
    h.clock.advance(timedelta(days=1))
    await h.tap(PATIENT, "u:seen", h.last(PATIENT).message_id)
    await h.tick()
    done = alerts.get(h.db, episode["id"])
    assert (done["state"], done["resolved_how"]) == ("resolved", "seen")
    assert done["resolved_at"].startswith("2026-03-03")
    for chat in (STAFF, OTHER_STAFF):
        seen = alerts_to(h, chat)[-1]
        assert "says a doctor has seen them" in seen and "on 2026-03-02" in seen
        assert "now resolved" in seen and "stay on hold" in seen  # still on hold: shown
    member = clinics.members(h.db, t["cohort"])[0]
    [flag] = clinic_flow.patient_flags(h.db, member, h.clock.now())
    assert (flag["opened"], flag["state"], flag["resolved_how"]) == (
        "2026-03-02",
        "resolved",
        "seen",
    )
    assert flag["on_hold"] and flag["acknowledged_by"]
    # Resolve tapped afterwards: it says it is already resolved, and why.
    await h.tap(OTHER_STAFF, button(alert, "al:r:"), alert.message_id)
    assert "already resolved (they said a doctor has seen them)" in h.last(OTHER_STAFF).text
    # A new emergency sign is a new episode, told at once.
    await h.send_text(PATIENT, "/urgent")
    await h.tap(PATIENT, "u:emergency:yes", h.last(PATIENT).message_id)
    await h.tick()
    assert sum("urgent care" in a for a in alerts_to(h, STAFF)) == 2
    assert [e["state"] for e in episodes(h, pid)] == ["open", "resolved"]


async def test_finding_03_quiet_spell_per_cohort_and_working_hours_setting(two_staff):
    t = two_staff
    h, pid = t["h"], t["pid"]
    await h.tick()
    assert all(e["kind"] != "quiet" for e in episodes(h, pid))  # off by default
    await h.send_text(STAFF, f"/cohort_set {t['cohort']} quiet 4")
    assert "after 4 days without an answer" in h.last(STAFF).text
    await h.send_text(STAFF, "/clinic_hours Mon-Thu 09:00-17:30")
    assert "Mon, Tue, Wed, Thu 09:00–17:30" in h.last(STAFF).text
    h.clock.set(datetime(2026, 3, 6, 12, 0, tzinfo=UTC))  # Friday: 4 days quiet, not a work day
    await h.tick()
    [quiet] = [e for e in episodes(h, pid) if e["kind"] == "quiet"]
    assert quiet["notify_at"].startswith("2026-03-09T09:00")
    assert flags_to(h, STAFF) == []
    h.clock.set(datetime(2026, 3, 9, 9, 0, tzinfo=UTC))
    await h.tick()
    [batch] = flags_to(h, STAFF)
    assert "2026-03-06: has answered no check-ins for a while" in batch.text
    assert json.loads(quiet["recipients"]) == sorted([t[STAFF], t[OTHER_STAFF]])


# --- working hours, as a rule ----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    st.sets(st.integers(0, 6), min_size=1),
    st.integers(4, 20),  # clear of the DST changes at 01:00-02:00
)
def test_working_time_is_the_first_working_moment_from_now(moment, days, opens):
    place = {
        "timezone": "Europe/London",
        "work_days": ",".join(str(d) for d in sorted(days)),
        "work_from": f"{opens:02d}:00",
        "work_to": f"{opens + 1:02d}:30",
    }
    now = moment.replace(tzinfo=UTC)
    due = clinic_flow.working_time(now, place)
    local = due.astimezone(ZoneInfo("Europe/London"))
    assert due >= now and due - now < timedelta(days=8)
    assert local.weekday() in days
    assert time(opens) <= local.time() < time(opens + 1, 30)
    # Nothing earlier works: `now` itself, or else `due` is a working period's start.
    assert due == now or local.time() == time(opens)


def test_the_migration_gives_existing_memberships_a_study_id(clock):
    import sqlite_utils

    from storage import patients
    from storage.migrations import migrations

    db = sqlite_utils.Database(memory=True)
    db.execute("PRAGMA foreign_keys=ON")
    migrations.apply(db, stop_before="m016_clinic_alerts")
    now = clock.now()
    clinic_id = clinics.create_clinic(db, "Old Clinic", "Europe/London", now)
    cohort_id = clinics.create_cohort(
        db, clinic_id=clinic_id, name="Old group", start_date=None, created_by=None, now=now
    )
    for user in (1, 2):
        pid = patients.create(db, user_id=user, chat_id=user, now=now, first_name="P")
        db.execute(
            "INSERT INTO memberships (cohort_id, patient_id, joined_at) VALUES (?, ?, ?)",
            [cohort_id, pid, now.isoformat()],
        )
    migrations.apply(db)
    ids = [r["study_id"] for r in db.query("SELECT study_id FROM memberships")]
    assert len(set(ids)) == 2 and all(re.fullmatch(r"[0-9A-F]{8}", i) for i in ids)
    assert [r["reference"] for r in db.query("SELECT reference FROM memberships")] == [None, None]


async def test_message_ref_and_invite_refuse_other_clinics_and_bad_input(two_staff):
    t = two_staff
    h, pid = t["h"], t["pid"]
    _, code = make_clinic(h, "Elsewhere Clinic")
    await join_staff(h, code, user=STRANGER)  # staff of another clinic
    await h.send_text(STRANGER, f"/message {pid} hello")
    assert "can't find a current member" in h.last(STRANGER).text
    await h.send_text(STRANGER, f"/invite_patient {t['cohort']} X1")
    assert h.last(STRANGER).text == render("clinic_no_cohort", cohort_id=t["cohort"])
    await h.send_text(STAFF, "/message")
    assert "Usage: <code>/message MEMBER text</code>" in h.last(STAFF).text
    await h.send_text(STAFF, f"/message {pid}")
    assert "Usage" in h.last(STAFF).text
    await h.send_text(STAFF, f"/message {pid} " + "x" * 1501)
    assert "at most 1500 characters" in h.last(STAFF).text
    await h.send_text(STAFF, f"/ref {pid} " + "r" * 41)
    assert "at most 40 characters" in h.last(STAFF).text
    # Two members with the same reference: asked to use the number.
    setup(h, user_id=SECOND, first_name="Ben")
    await enrol(h, t["link"], user=SECOND)
    await h.send_text(STAFF, f"/ref {pid} AB")
    await h.send_text(STAFF, f"/ref {clinics.members(h.db, t['cohort'])[1]['id']} ab")
    await h.send_text(STAFF, "/message AB hello")
    assert "matches more than one patient" in h.last(STAFF).text
    assert list(h.db.query("SELECT * FROM clinic_messages")) == []
    # A patient cannot use clinician commands.
    await h.send_text(PATIENT, f"/message {pid} hi me")
    assert h.last(PATIENT).text == render("clinic_staff_only")
