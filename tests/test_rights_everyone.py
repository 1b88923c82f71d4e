"""Issue 16, findings 9 and 10: caregivers get the week and the day they were promised and both
sides hear when a link starts or ends; /mydata and /delete work for caregivers and clinicians as
for patients, a patient's /delete scrubs them from messages sent to others, and the personal-data
map covers every column that holds someone's id."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.rules.localtime import zone
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import caregivers, outbox, privacy
from tests.test_caregivers import CARER, PATIENT, accept, invite, open_link
from tests.test_clinics import STAFF, enrol, join_staff, make_clinic, new_cohort
from tests.test_sessions import button, press, setup  # press taps as the patient


async def tick(h):
    plan_all(h.rt)
    return await dispatch_due(h.rt)


def carer_rows(h, kind="summary_caregiver"):
    return list(h.db.query("SELECT * FROM outbox WHERE kind = ? ORDER BY due_at", [kind]))


def documents(h, chat):
    return [s for s in h.api.sent_to(chat) if s.method == "sendDocument"]


async def my_data(h, user) -> dict:
    await h.send_text(user, "/mydata")
    await h.tick()
    doc = next(d for d in documents(h, user) if "JSON" in d.text)
    return json.loads(doc.params["_bytes"])


async def tap_as(h, user, prefix, value=None):
    message = h.last(user)
    await h.tap(user, button(message, prefix, value), message.message_id)
    return h.last(user)


async def delete_me(h, user):
    await h.send_text(user, "/delete")
    return (await tap_as(h, user, "del:yes")).text


# --- finding 9: caregivers -------------------------------------------------------------------


async def test_finding_09_caregiver_gets_the_promised_day_no_stale_week_and_both_sides_told(
    harness, clock
):
    h = harness
    # Monday 9 March, 07:00 in Berlin: the father starts today; his daughter lives in Tokyo.
    clock.set(datetime(2026, 3, 9, 6, 0, tzinfo=UTC))
    pid = h.add_patient(start_date="2026-03-09")
    joined = await accept(h, await invite(h, "a"))
    assert "every Sunday around 18:00" in joined.text  # assumed his zone: his day
    # The patient is told the link started.
    [carer] = caregivers.active_for_patient(h.db, pid)
    assert f"{carer['first_name']} accepted your invite" in h.last(PATIENT).text
    assert "warning sign" in h.last(PATIENT).text
    # "Other…" in the caregiver's time-zone step offers more zones.
    await h.tap(CARER, button(joined, "cgz:", "other"), joined.message_id)
    more = h.last(CARER)
    assert "more time zones" in more.text
    await h.tap(CARER, button(more, "cgz:", "Asia/Tokyo"), more.message_id)
    # Sunday 18:00 in Berlin is Monday 02:00 in Tokyo: the promise names the real day.
    assert "Asia/Tokyo" in h.last(CARER).text
    assert "every Monday around 18:00" in h.last(CARER).text
    assert caregivers.get(h.db, carer["id"])["timezone"] == "Asia/Tokyo"
    # No copy about the week that ended yesterday, before he started and before she joined.
    await tick(h)  # her copy about that week would be due at 09:00 UTC today, in the window
    assert carer_rows(h) == []
    # The first copy arrives on her Monday, about his first week.
    clock.set(datetime(2026, 3, 16, 9, 0, tzinfo=UTC))
    await tick(h)
    [row] = carer_rows(h)
    assert row["status"] == "sent"
    sent_local = datetime.fromisoformat(row["sent_at"]).astimezone(zone("Asia/Tokyo"))
    assert sent_local.strftime("%A %H:%M") == "Monday 18:00"
    # A warning sign, then "I have been seen": the alerted caregiver hears both.
    await h.send_text(PATIENT, "/urgent")
    await h.tap(PATIENT, "u:emergency:yes", h.last(PATIENT).message_id)
    await h.tap(PATIENT, "u:seen", h.last(PATIENT).message_id)
    await dispatch_due(h.rt)
    texts = h.texts(CARER)
    assert any("reported a warning sign" in t for t in texts)
    assert any("has been seen by a doctor" in t for t in texts)
    # She stops: the patient is told; he revokes another: that caregiver is told.
    await h.send_text(CARER, "/caregiver")
    await tap_as(h, CARER, "cg:x:")
    assert f"{carer['first_name']} has stopped receiving your weekly" in h.last(PATIENT).text
    offer = await open_link(h, await invite(h), user=3003)
    await h.tap(3003, button(offer, "cgj:", "y"), offer.message_id)
    await h.send_text(PATIENT, "/caregiver")
    await press(h, h.last(PATIENT), "cg:r:")
    assert "Ana has stopped sharing" in h.last(3003).text


# --- finding 10: data rights for everyone ----------------------------------------------------


async def test_finding_10_caregiver_mydata_and_delete_cover_links_and_messages(harness):
    h = harness
    pid = h.add_patient()
    await accept(h, await invite(h))
    await tick(h)
    data = await my_data(h, CARER)
    assert [c["patient_id"] for c in data["caregivers"]] == [pid]
    assert data["outbox"] and all(r["chat_id"] == CARER for r in data["outbox"])
    assert data["invites"] and data["invites"][0]["claimed_by"] == CARER
    receipt = await delete_me(h, CARER)
    assert (
        "I deleted" in receipt and "family links and invitations (2)" in receipt
    )  # the link and its invite
    assert caregivers.active_for_patient(h.db, pid) == []
    left = privacy.collect(h.db, None, CARER, CARER)
    assert [r["kind"] for r in left["outbox"]] == ["reply"]  # only the receipt just sent
    assert "deleted their data" in h.last(PATIENT).text  # the patient is told
    await tick(h)
    assert [r for r in carer_rows(h) if r["status"] == "pending"] == []


async def test_finding_10_clinician_delete_removes_their_messages(harness):
    h = harness
    _, code = make_clinic(h)
    await join_staff(h, code)
    cohort_id, _ = await new_cohort(h)
    await h.send_text(STAFF, f"/cohort {cohort_id}")
    data = await my_data(h, STAFF)
    assert data["clinicians"] and len(data["outbox"]) >= 3
    receipt = await delete_me(h, STAFF)
    assert "your clinic staff account (1)" in receipt
    left = privacy.collect(h.db, None, STAFF, STAFF)
    assert left["clinicians"] == [] and [r["kind"] for r in left["outbox"]] == ["reply"]


async def test_finding_10_patient_delete_scrubs_rows_addressed_to_others_and_mydata_names_them(
    harness,
):
    h = harness
    _, code = make_clinic(h)
    await join_staff(h, code)
    cohort_id, link = await new_cohort(h)
    pid, _ = setup(h, ("walking", 20))
    await enrol(h, link)
    await accept(h, await invite(h))
    await h.send_text(STAFF, f"/cohort {cohort_id}")
    assert "Ana" in h.last(STAFF).text
    # The patient's /mydata names the clinic and the caregiver, without their Telegram ids.
    data = await my_data(h, PATIENT)
    [member] = data["memberships"]
    assert member["clinic_name"] == "Northside Physio" and member["cohort_name"]
    [carer] = data["caregivers"]
    assert carer["first_name"] and carer["user_id"] is None and carer["chat_id"] is None
    exported = json.dumps(data)
    assert str(CARER) not in exported and str(STAFF) not in exported
    # /delete: the caregiver offer and the roster reply no longer carry the name, at once.
    await delete_me(h, PATIENT)
    others = list(h.db.query("SELECT * FROM outbox WHERE chat_id IN (?, ?)", [CARER, STAFF]))
    assert others and not any("Ana" in r["payload"] for r in others)
    assert not any(r["patient_id"] == pid for r in others)
    # The caregiver is told the link ended, without the name.
    assert "has deleted their data" in h.last(CARER).text and "Ana" not in h.last(CARER).text
    assert outbox.get(h.db, others[0]["id"]) is not None  # the rows stay, only the text goes


def test_finding_10_every_column_with_a_persons_id_is_mapped(fresh_db):
    """The schema test: every table is personal or declared not, and every column that holds a
    person's id (or their words: payload, first_name) in a personal table is looked up or declared
    with its reason; a table declared not personal holds none."""
    tables = set(fresh_db.table_names())
    assert tables - set(privacy.PERSONAL_TABLES) - privacy.NOT_PERSONAL == set()
    missing = []
    for table in sorted(tables - {"sqlite_sequence"}):
        columns = {c.name for c in fresh_db[table].columns}
        ids = {c for c in columns if c in privacy.ID_COLUMNS}
        if table in privacy.NOT_PERSONAL:
            missing += [
                (table, c)
                for c in ids | (columns & {"payload", "first_name"})
                if (table, c) not in privacy.UNMAPPED_COLUMNS
            ]
            continue
        looked_up = " ".join(cond for cond, _ in privacy.PERSONAL_TABLES[table])
        missing += [
            (table, c)
            for c in ids
            if c not in looked_up and (table, c) not in privacy.UNMAPPED_COLUMNS
        ]
    assert missing == []
    # Every lookup runs with just the ids a person has: no table is skipped for a missing one.
    for who in [(1, None, None), (None, 5, None), (None, None, 5)]:
        for table in privacy.PERSONAL_TABLES:
            lookup = privacy._lookups(table, privacy._ids(*who))
            if lookup:
                list(fresh_db.query(f"SELECT * FROM [{table}] WHERE {lookup[0]}", lookup[1]))
