"""Issue 14: an emergency typed in words, at any moment, is answered in the bot's next message.

Driven through the simulator's `says:` (the real Application on a virtual clock): patients type an
emergency phrase mid-check-in, mid-activity, while paused, while on hold and with nothing open;
someone mid-onboarding and someone who withdrew consent through the Harness (the simulator enrols
its personas as set-up patients).
"""

from __future__ import annotations

import pytest

from bot.simulator.runner import Simulation
from bot.simulator.scenario import ScenarioError, parse_scenario
from storage import checkins, consents, patients

# Phrases the warning-sign screen recognises (bot.rules.safety, messages/warning_signs.toml).
PHRASES = {
    "checkin": "I can't feel my bum and I wet myself",
    "activity": "i cant feel my bum and i wet myself on the walk",
    "paused": "I can't feel my bum and I wet myself this morning",
    "hold": "I can't feel my bum and I wet myself again",
    "idle": "I can't feel my bum and I wet myself",
    "edited": "I can't feel my bum and I wet myself",
}

SCENARIO = {
    "start": "2026-03-02T06:00:00Z",
    "days": 1,
    "patients": [
        {
            "id": "checkin",
            "timezone": "Europe/London",
            "checkin_time": "09:00",
            "answers": {"ignore": ["checkin"]},  # the check-in stays open
            "says": [{"day": 0, "at": "09:05", "text": PHRASES["checkin"]}],
        },
        {
            "id": "activity",
            "timezone": "Asia/Tokyo",
            "checkin_time": "08:00",
            "activities": [{"name": "walk", "minutes": 30}],
            "answers": {
                "sessions": [
                    {
                        "day": 0,
                        "at": "16:00",
                        "activity": "walk",
                        "before": 3,
                        "after": 4,
                        "minutes": 40,
                    }
                ]
            },
            "says": [{"day": 0, "at": "16:15", "text": PHRASES["activity"]}],
        },
        {
            "id": "paused",
            "timezone": "America/New_York",
            "checkin_time": "07:00",
            "says": [
                {"day": 0, "at": "08:00", "text": "/pause"},
                {"day": 0, "at": "08:30", "text": PHRASES["paused"]},
            ],
        },
        {
            "id": "hold",
            "timezone": "Australia/Sydney",
            "checkin_time": "08:00",
            "answers": {"red_flag": {"day": 0, "at": "18:00"}},
            "says": [{"day": 0, "at": "18:20", "text": PHRASES["hold"]}],
        },
        {
            "id": "idle",
            "timezone": "Asia/Kolkata",
            "checkin_time": "08:00",
            "says": [{"day": 0, "at": "15:00", "text": PHRASES["idle"]}],
        },
    ],
}
NUMBERS = {"checkin": "999", "activity": "119", "paused": "911", "hold": "000", "idle": "112"}


@pytest.fixture(scope="module")
def played():
    import asyncio

    sim = Simulation(parse_scenario(SCENARIO))
    lines = asyncio.run(sim.run())
    return sim, lines


def _next_out(lines: list[dict], after: int, patient: str) -> dict:
    return next(
        line for line in lines[after + 1 :] if line["patient"] == patient and line["dir"] == "out"
    )


@pytest.mark.parametrize("who", ["checkin", "activity", "paused", "hold", "idle"])
def test_an_emergency_typed_in_words_is_answered_in_the_next_message(played, who):
    _sim, lines = played
    said = [
        (n, line)
        for n, line in enumerate(lines)
        if line["patient"] == who
        and line["dir"] == "in"
        and line["kind"] == "says"
        and line["text"] == PHRASES[who]
    ]
    assert len(said) == 1, f"{who} did not type the phrase"
    n, line = said[0]
    answer = _next_out(lines, n, who)
    assert answer["kind"] == "reply"
    assert answer["t"][:16] == line["t"][:16], "answered within the same minute"
    assert f"Call {NUMBERS[who]}" in answer["text"], answer["text"]
    assert "Is this happening now" in answer["text"]
    assert "Yes" in answer["buttons"][0]
    # Never taken as a rating or an answer to what was open.
    assert "didn't catch a number" not in answer["text"]


def test_the_state_each_was_in_is_as_described(played):
    sim, _lines = played
    ids = sim.patient_ids
    assert patients.get(sim.db, ids["paused"])["status"] == "paused"
    assert patients.get(sim.db, ids["hold"])["status"] == "hold"
    session = sim.db.execute(
        "SELECT stage FROM sessions WHERE patient_id = ?", [ids["activity"]]
    ).fetchone()
    assert session is not None
    # The check-in that was open is still answerable after the safety question.
    waiting = checkins.awaiting(sim.db, ids["checkin"])
    assert waiting is not None and waiting["kind"] == "safety_confirm"


def test_the_words_are_never_stored(played):
    sim, _ = played
    for table in ("events", "awaiting", "checkins", "sessions"):
        dump = " ".join(str(tuple(r)) for r in sim.db.execute(f"SELECT * FROM {table}"))
        assert "wet myself" not in dump and "bum" not in dump, table
    heard = [r for r in sim.db.execute("SELECT data FROM events WHERE kind = 'warning_sign_heard'")]
    assert len(heard) == 5


async def test_mid_onboarding_and_withdrawn_and_stranger(harness):
    h = harness
    # Mid-onboarding, at the time-zone question.
    await h.send_text(1001, "/start")
    for data in ("o:intro:go", "o:consent:yes", "o:rf:no", "o:soon:no"):
        await h.tap(1001, data, h.last(1001).message_id)
    assert consents.onboarding(h.db, 1001)["step"] == "tz"
    before = len(h.api.sent_to(1001))
    await h.send_text(1001, PHRASES["idle"])
    sent = h.api.sent_to(1001)[before:]
    assert len(sent) == 1 and "Is this happening now" in sent[0].text
    assert "Call 112 or your local emergency number" in sent[0].text  # no zone yet
    assert sent[0].at == h.clock.now()
    assert consents.onboarding(h.db, 1001)["step"] == "tz"  # not taken as a time zone
    # A stranger (no patient row, no onboarding).
    await h.send_text(3003, PHRASES["idle"])
    assert "Is this happening now" in h.last(3003).text
    await h.send_text(3003, "yes")
    assert "get medical help now" in h.last(3003).text
    assert (
        h.db["patients"].count == 1
        and h.db.execute("SELECT count(*) FROM events WHERE patient_id IS NULL").fetchone()[0] == 0
    )
    # Someone who withdrew: the advice, nothing stored.
    pid = h.add_patient(user_id=2002, status="withdrawn", timezone="Europe/London")
    await h.send_text(2002, PHRASES["idle"])
    assert "Call 999" in h.last(2002).text and "not storing" in h.last(2002).text
    assert (
        h.db.execute("SELECT count(*) FROM events WHERE patient_id = ?", [pid]).fetchone()[0] == 0
    )


async def test_an_edited_message_is_screened_too(harness):
    h = harness
    h.add_patient()
    await h.send_text(1001, "feeling ok today")
    message_id = h.api.sent_to(1001)[-1].message_id
    await h.app.process_update(
        h.updates.edited_text(1001, PHRASES["edited"], message_id=message_id)
    )
    assert "Is this happening now" in h.last(1001).text


def test_says_is_checked():
    base = {"start": "2026-03-02T06:00:00Z", "days": 1}
    for says, problem in (
        ("hello", "expected a list"),
        ([{"day": -1, "text": "x", "at": "09:00"}], "day"),
        ([{"day": 0, "at": "09:00"}], "text"),
        ([{"day": 0, "at": "25:00", "text": "x"}], "at"),
    ):
        with pytest.raises(ScenarioError, match=problem):
            parse_scenario({**base, "patients": [{"id": "a", "says": says}]})
    found = (
        parse_scenario(
            {
                **base,
                "patients": [{"id": "a", "says": [{"day": [0, 2], "at": "09:05", "text": "hi"}]}],
            }
        )
        .patients[0]
        .says
    )
    assert [(d, t.strftime("%H:%M"), x) for d, t, x in found] == [
        (0, "09:05", "hi"),
        (2, "09:05", "hi"),
    ]


async def test_the_words_are_never_logged(harness, caplog):
    import logging

    h = harness
    h.add_patient()
    with caplog.at_level(logging.DEBUG):
        await h.send_text(1001, PHRASES["idle"])
        await h.send_text(1001, "yes")
    heard = [r for r in caplog.records if r.getMessage() == "warning sign heard"]
    assert heard and getattr(heard[0], "level", None) == "emergency"
    assert not any(
        "wet myself" in r.getMessage() or "wet myself" in str(r.__dict__) for r in caplog.records
    )
