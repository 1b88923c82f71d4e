"""Issue 16 area: people who type at a clinic's offer (or a clinician invite) instead of tapping,
through the real Application: a clear yes joins as the button does, a no declines, anything else
asks again; a bare /start shows an unanswered offer again rather than forgetting it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from messages import render
from storage import clinics, consents
from tests.test_clinics import (
    NEWCOMER,
    PATIENT,
    join_staff,
    make_clinic,
    new_cohort,
)
from tests.test_sessions import button, setup

STAFF_TYPED = 7003


async def cohort_link(h) -> tuple[int, str]:
    _, code = make_clinic(h)
    await join_staff(h, code)
    return await new_cohort(h)


def offer_rows(h, user):
    return list(h.db.query("SELECT * FROM cohort_offers WHERE user_id = ? ORDER BY id", [user]))


@pytest.mark.parametrize("typed", ["yes", "Yes please", "join", "Join and share", "I agree"])
async def test_finding_01_typed_yes_joins_like_the_button(harness, typed):
    h = harness
    cohort_id, link = await cohort_link(h)
    pid, _ = setup(h, ("walking", 20))
    await h.send_text(PATIENT, f"/start co_{link}")
    offer = h.last(PATIENT)
    await h.send_text(PATIENT, typed)
    assert "You've joined" in h.last(PATIENT).text
    member = clinics.membership(h.db, pid)
    consent = consents.current(h.db, pid, "clinic_sharing")
    assert member["cohort_id"] == cohort_id and member["consent_id"] == consent["id"]
    # The button afterwards is stale.
    await h.tap(PATIENT, button(offer, "coj:", "y"), offer.message_id)
    assert h.last(PATIENT).text == render("expired")


async def test_finding_01_new_person_typing_yes_joins_and_setup_starts(harness):
    h = harness
    _, link = await cohort_link(h)
    await h.send_text(NEWCOMER, f"/start co_{link}", first_name="Ana")
    await h.send_text(NEWCOMER, "join", first_name="Ana")
    sent = h.api.sent_to(NEWCOMER)
    assert "a few quick questions first" in sent[-2].text
    assert "diagnose" in h.last(NEWCOMER).text  # set-up starts, the join waits for its end
    assert render("not_registered") not in [s.text for s in sent]
    assert offer_rows(h, NEWCOMER)[-1]["accepted_at"] is not None


@pytest.mark.parametrize("typed", ["ok", "sure", "what is this?"])
async def test_finding_02_unclear_answers_ask_again_with_the_buttons(harness, typed):
    h = harness
    _, link = await cohort_link(h)
    await h.send_text(NEWCOMER, f"/start co_{link}")
    await h.send_text(NEWCOMER, typed)
    again = h.last(NEWCOMER)
    assert again.text == render("clinic_offer_typed")
    assert button(again, "coj:", "n")  # both buttons are there again
    assert offer_rows(h, NEWCOMER)[-1]["accepted_at"] is None
    await h.tap(NEWCOMER, button(again, "coj:", "y"), again.message_id)
    assert offer_rows(h, NEWCOMER)[-1]["accepted_at"] is not None


async def test_finding_03_typed_no_declines_like_the_button(harness):
    h = harness
    _, link = await cohort_link(h)
    pid, _ = setup(h, ("walking", 20))
    await h.send_text(PATIENT, f"/start co_{link}")
    await h.send_text(PATIENT, "no thanks")
    assert "haven't joined" in h.last(PATIENT).text
    assert clinics.membership(h.db, pid) is None
    # A later bare /start does not bring the declined offer back.
    await h.send_text(PATIENT, "/start")
    assert "What the clinic will see" not in h.last(PATIENT).text


async def test_finding_04_typed_answers_after_an_hour_are_not_taken_as_consent(harness):
    h = harness
    _, link = await cohort_link(h)
    await h.send_text(NEWCOMER, f"/start co_{link}")
    h.clock.advance(timedelta(hours=1, minutes=1))
    await h.send_text(NEWCOMER, "yes")
    assert h.last(NEWCOMER).text == render("not_registered")
    assert offer_rows(h, NEWCOMER)[-1]["accepted_at"] is None


async def test_finding_05_bare_start_shows_the_unanswered_offer_again(harness):
    h = harness
    cohort_id, link = await cohort_link(h)
    await h.send_text(NEWCOMER, f"/start co_{link}")
    first = h.last(NEWCOMER)
    h.clock.advance(timedelta(hours=3))
    await h.send_text(NEWCOMER, "/start")
    again = h.last(NEWCOMER)
    assert again.text == first.text and "What the clinic will see" in again.text
    await h.tap(NEWCOMER, button(again, "coj:", "y"), again.message_id)
    assert "diagnose" in h.last(NEWCOMER).text
    rows = offer_rows(h, NEWCOMER)
    assert rows[-1]["accepted_at"] is not None and rows[-1]["cohort_id"] == cohort_id


async def test_finding_05_an_old_offer_or_setup_under_way_keeps_normal_start(harness):
    h = harness
    _, link = await cohort_link(h)
    await h.send_text(NEWCOMER, f"/start co_{link}")
    h.clock.advance(timedelta(days=1, minutes=1))
    await h.send_text(NEWCOMER, "/start")
    assert "diagnose" in h.last(NEWCOMER).text  # set-up starts
    # Mid-setup, a new offer then /start: set-up carries on.
    await h.send_text(NEWCOMER, f"/start co_{link}")
    await h.send_text(NEWCOMER, "/start")
    assert "What the clinic will see" not in h.last(NEWCOMER).text
    assert offer_rows(h, NEWCOMER)[-1]["accepted_at"] is None


async def test_finding_06_a_clinician_typing_yes_at_their_invite_joins(harness):
    h = harness
    clinic_id, code = make_clinic(h)
    await join_staff(h, code)
    _, second = clinics.invite_clinician(h.db, clinic_id, h.clock.now())
    await h.send_text(STAFF_TYPED, f"/start cl_{second}")
    await h.send_text(STAFF_TYPED, "ok")
    asked = h.last(STAFF_TYPED)
    assert asked.text == render("clinic_staff_typed")
    assert button(asked, "clj:", "y")
    assert not any(r["clinic_id"] == clinic_id for r in clinics.roles_of(h.db, STAFF_TYPED))
    await h.send_text(STAFF_TYPED, "yes")
    place = clinics.clinic(h.db, clinic_id)
    assert h.last(STAFF_TYPED).text == render("clinic_staff_joined", clinic=place)
    assert any(r["clinic_id"] == clinic_id for r in clinics.roles_of(h.db, STAFF_TYPED))


async def test_finding_06_a_clinician_typing_no_declines(harness):
    h = harness
    clinic_id, code = make_clinic(h)
    await h.send_text(STAFF_TYPED, f"/start cl_{code}")
    await h.send_text(STAFF_TYPED, "no")
    place = clinics.clinic(h.db, clinic_id)
    assert h.last(STAFF_TYPED).text == render("clinic_staff_declined", clinic=place)
    assert clinics.roles_of(h.db, STAFF_TYPED) == []
    await h.send_text(STAFF_TYPED, "hello")
    assert h.last(STAFF_TYPED).text == render("not_registered")


async def test_finding_07_a_set_up_patients_other_words_still_reach_their_questions(harness):
    h = harness
    _, link = await cohort_link(h)
    pid, _ = setup(h, ("walking", 20))
    await h.send_text(PATIENT, f"/start co_{link}")
    await h.send_text(PATIENT, "ok")
    assert h.last(PATIENT).text != render("clinic_offer_typed")
    assert clinics.membership(h.db, pid) is None
