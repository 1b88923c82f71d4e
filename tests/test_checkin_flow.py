"""The daily check-in through the real Application: buttons, typed answers and bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import checkins


async def open_checkin(h, user_id=1001):
    """Plan, move to Tuesday 08:00 Berlin, send the check-in; returns the question's message."""
    plan_all(h.rt)
    h.clock.set(h.clock.now().replace(day=3, hour=7, minute=0))
    await dispatch_due(h.rt)
    return h.last(user_id)


def stored(h, pid):
    return [
        (r["local_date"], r["pain"])
        for r in h.db.query("SELECT * FROM checkins WHERE patient_id = ?", [pid])
    ]


async def test_prompt_has_a_0_to_10_keyboard_and_a_tap_is_stored(harness):
    pid = harness.add_patient()
    question = await open_checkin(harness)
    labels = [label for row in question.buttons for label, _ in row]
    assert labels == [str(n) for n in range(11)]
    await harness.tap(1001, question.buttons[1][1][1], question.message_id)  # "7"
    assert stored(harness, pid) == [("2026-03-03", 7)]
    assert "7/10" in harness.last(1001).text
    assert checkins.awaiting(harness.db, pid) is None


@pytest.mark.parametrize(
    "typed,value", [("7", 7), ("7/10", 7), (" seven ", 7), ("0", 0), ("10/10", 10)]
)
async def test_typed_ratings_are_understood(harness, typed, value):
    pid = harness.add_patient()
    await open_checkin(harness)
    await harness.send_text(1001, typed)
    assert stored(harness, pid) == [("2026-03-03", value)]


async def test_half_point_asks_which_and_stores_nothing_until_answered(harness):
    pid = harness.add_patient()
    await open_checkin(harness)
    await harness.send_text(1001, "7.5")
    ask = harness.last(1001)
    assert "7" in ask.text and "8" in ask.text
    assert [label for row in ask.buttons for label, _ in row] == ["7", "8"]
    assert stored(harness, pid) == []
    await harness.tap(1001, ask.buttons[0][1][1], ask.message_id)
    assert stored(harness, pid) == [("2026-03-03", 8)]


@pytest.mark.parametrize("typed", ["11", "-1", "lots", "12/10"])
async def test_out_of_range_or_unclear_gets_a_kind_reask_and_nothing_stored(harness, typed):
    pid = harness.add_patient()
    await open_checkin(harness)
    await harness.send_text(1001, typed)
    assert stored(harness, pid) == []
    assert "0" in harness.last(1001).text and "10" in harness.last(1001).text
    await harness.send_text(1001, "4")  # the question is still open: nothing valid is lost
    assert stored(harness, pid) == [("2026-03-03", 4)]


async def test_already_answered_button_has_expired(harness):
    pid = harness.add_patient()
    question = await open_checkin(harness)
    await harness.tap(1001, question.buttons[0][3][1], question.message_id)
    await harness.tap(1001, question.buttons[0][5][1], question.message_id)
    assert stored(harness, pid) == [("2026-03-03", 3)]
    assert "expired" in harness.last(1001).text


async def test_someone_elses_or_forged_button_is_refused(harness):
    owner = harness.add_patient()
    intruder = harness.add_patient(user_id=2002)
    question = await open_checkin(harness)
    data = question.buttons[0][2][1]
    await harness.tap(2002, data, question.message_id)
    for forged in ["c:999999:3", "c:abc:3", "c:1:99", "c:" + "9" * 300 + ":1", "zz", "c:1"]:
        await harness.tap(1001, forged)
    assert stored(harness, owner) == [] and stored(harness, intruder) == []
    assert "expired" in harness.last(2002).text
    assert sum("expired" in t for t in harness.texts(1001)) == 6


async def test_stranger_and_media_get_help_not_silence(harness):
    await harness.send_text(5555, "hello")
    assert "/start" in harness.last(5555).text
    harness.add_patient()
    await harness.app.process_update(harness.updates.sticker(1001))
    await harness.app.process_update(harness.updates.voice(1001))
    await harness.app.process_update(harness.updates.photo(1001))
    assert sum("only read text" in t for t in harness.texts(1001)) == 3


async def test_group_chat_is_told_the_bot_works_in_private(harness):
    await harness.send_text(1001, "/checkin", chat_id=-100123, chat_type="supergroup")
    assert "private chat" in harness.last(-100123).text


async def test_unknown_command(harness):
    harness.add_patient()
    await harness.send_text(1001, "/dance")
    assert "/help" in harness.last(1001).text


async def test_checkin_command_asks_now_and_the_scheduled_one_is_then_skipped(harness, clock):
    pid = harness.add_patient()
    plan_all(harness.rt)
    clock.set(clock.now().replace(day=3, hour=5))  # 06:00 Berlin, before the 08:00 prompt
    await harness.send_text(1001, "/checkin")
    await harness.send_text(1001, "5")
    clock.advance(timedelta(hours=2))
    await dispatch_due(harness.rt)
    assert stored(harness, pid) == [("2026-03-03", 5)]
    assert sum("How is your back" in t for t in harness.texts(1001)) == 1
    await harness.send_text(1001, "/checkin")
    assert "already rated today" in harness.last(1001).text


async def test_help_lists_commands_and_emergency_advice(harness):
    await harness.send_text(1001, "/help")
    text = harness.last(1001).text
    assert "/checkin" in text and "emergency" in text and "diagnose" in text
