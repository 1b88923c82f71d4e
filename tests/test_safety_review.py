"""What a fresh reviewer found typing the safety flow as a patient would (issue 14), pinned."""

from __future__ import annotations

from datetime import timedelta

from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import checkins
from tests.test_safety_flow import USER, onboard_to, red_flags, say, status, step

BLADDER = "I've wet myself twice today"
FEVER = "and I had a fever last night"


async def test_a_lesser_sign_never_replaces_an_open_emergency_question(harness):
    h = harness
    pid = h.add_patient(timezone="Europe/London")
    await say(h, BLADDER)
    reply = await say(h, FEVER)
    assert "Is this happening now" in reply.text and "999" in reply.text
    assert "isn't an emergency" not in reply.text
    await say(h, "yes")
    assert status(h, pid) == "hold" and ("emergency", "message") in red_flags(h, pid)


async def test_a_leading_yes_answers_the_open_question_even_when_a_sign_follows(harness):
    h = harness
    pid = h.add_patient()
    await say(h, "cant feel my bum when i wipe")
    await say(h, "yes and my legs are weak")
    assert status(h, pid) == "hold"


async def test_recent_and_past_signs_are_asked_about_in_words_that_fit(harness):
    h = harness
    pid = h.add_patient(timezone="Europe/London")
    asked = await say(h, BLADDER)
    assert "in the last few days" in asked.text
    answer = await say(h, "nope")
    assert "glad" not in answer.text and "call 999 or 112 straight away" in answer.text
    asked = await say(h, "I had breast cancer 5 years ago")
    assert "Does this apply to you?" in asked.text
    await say(h, "yes")
    assert ("soon", "message") in red_flags(h, pid)


async def _held_in_setup(h):
    await onboard_to(h, "hold")  # "yes" at the set-up warning-sign question


async def test_in_set_up_a_bare_yes_is_not_seen_by_a_doctor(harness):
    h = harness
    await _held_in_setup(h)
    for text in ("yes", "Yes I will", "yep"):
        reply = await say(h, text)
        assert "I have been seen" in reply.text and step(h) == "hold", text
    assert step(h) == "hold"
    await say(h, "I've seen the GP")
    assert step(h) == "soon"


async def test_in_set_up_a_typed_not_yet_asks_again_tomorrow(harness):
    h = harness
    await _held_in_setup(h)
    pid = next(h.db["patients"].rows_where())["id"]
    h.clock.advance(timedelta(hours=25))
    plan_all(h.rt)
    await dispatch_due(h.rt)
    assert "get checked" in h.last(USER).text
    await say(h, "not yet")
    follow_ups = h.db.execute(
        "SELECT count(*) FROM outbox WHERE patient_id = ? AND kind = 'safety_followup' "
        "AND status = 'pending'",
        [pid],
    ).fetchone()[0]
    assert follow_ups == 1 and step(h) == "hold"


async def test_a_caption_and_a_commands_words_are_screened(harness):
    h = harness
    h.add_patient()
    caption = "I've wet myself and my legs are going weak"
    await h.app.process_update(h.updates.photo(USER, caption=caption))
    assert "Is this happening now" in h.last(USER).text
    await say(h, "no")
    await say(h, "/checkin 7 and i wet myself")
    assert "Is this happening now" in h.last(USER).text
    await say(h, "no")
    await say(h, "/ I cant feel my bum when i wipe")
    assert "Is this happening now" in h.last(USER).text
    assert checkins.awaiting(h.db, 1)["kind"] == "safety_confirm"


async def test_a_check_in_sent_while_a_safety_question_is_open_comes_back_after_it(harness):
    h = harness
    pid = h.add_patient(timezone="Europe/London", checkin_time="12:30")
    plan_all(h.rt)
    await say(h, "had a fever last night")
    h.clock.advance(timedelta(minutes=35))
    await dispatch_due(h.rt)
    assert "How is your back" in h.last(USER).text
    assert "clear yes or no" in (await say(h, "6")).text  # the safety question is still first
    await say(h, "no")
    assert "noted: <b>6/10</b>" in (await say(h, "6")).text
    assert h.db["checkins"].count == 1 and status(h, pid) == "active"


async def test_checkin_does_not_discard_an_open_emergency_question(harness):
    h = harness
    pid = h.add_patient()
    await say(h, "I've wet myself twice today and my legs are going weak")
    await say(h, "/checkin")
    await say(h, "Yes!")
    assert status(h, pid) == "hold"


async def test_an_unanswered_confirming_question_lapses(harness):
    h = harness
    h.add_patient()
    await say(h, "no numbness just sore")
    assert checkins.awaiting(h.db, 1)["kind"] == "safety_confirm"
    h.clock.advance(timedelta(days=2))
    await say(h, "/checkin")
    await say(h, "4")
    assert h.db["checkins"].count == 1


async def test_after_a_safety_answer_in_set_up_its_question_is_asked_again(harness):
    h = harness
    await onboard_to(h, "soon")
    await say(h, "no")  # no soon signs: on to the time zone
    assert step(h) == "tz"
    await say(h, "I've wet myself twice today")
    await say(h, "no")
    texts = h.texts(USER)
    assert "call 112 or your local emergency number straight away" in texts[-2]
    assert "time zone" in texts[-1].casefold() and step(h) == "tz"


async def test_a_pause_outlives_a_hold(harness):
    h = harness
    pid = h.add_patient()
    await say(h, "/pause")
    await say(h, "/urgent")
    await say(h, "yes")
    assert status(h, pid) == "hold"
    await say(h, "I answered by mistake")
    await say(h, "no")
    await say(h, "no")
    assert status(h, pid) == "paused" and "stay paused" in h.last(USER).text


def test_a_clinic_text_never_doubles_call_nor_ends_the_sentence():
    from jobs.clinic import clean_emergency_text

    assert clean_emergency_text("please call 999") == "999"
    assert clean_emergency_text("999.") == "999"


def test_a_zone_keeps_its_own_countrys_number_when_tzdata_links_it_to_a_neighbour():
    from bot.rules.safety import UNKNOWN_NUMBER, emergency_number

    # tzdata links these zones to another country's (Asia/Kuala_Lumpur -> Asia/Singapore).
    assert emergency_number("Asia/Kuala_Lumpur") == "999"  # Malaysia, not Singapore's 995
    assert emergency_number("Europe/Ljubljana") == "112"  # Slovenia, not Serbia's 194
    assert emergency_number("Europe/Oslo") == "113"  # Norway's own
    assert emergency_number("Asia/Kuwait") in ("112", UNKNOWN_NUMBER)  # never Saudi Arabia's 997
    assert emergency_number("Asia/Calcutta") == "112"  # an old name still finds India


async def test_a_rating_beside_a_warning_sign_is_asked_for_again(harness):
    h = harness
    h.add_patient()
    await say(h, "/checkin")
    await say(h, "7, and I've wet myself twice today")
    await say(h, "no")
    assert "send the number again" in h.last(USER).text
    assert h.db["checkins"].count == 0
    await say(h, "7")
    assert h.db["checkins"].count == 1
