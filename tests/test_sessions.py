"""Activity sessions through the real Application: B, A, S, N, the decision and its advice."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import activities, checkins, events, outbox, sessions

USER = 1001


def data_of(message) -> list[str]:
    return [data for row in message.buttons for _, data in row]


def button(message, prefix: str, value: str | int | None = None) -> str:
    """The callback data of the button starting with `prefix` (and ending with `:value`)."""
    for data in data_of(message):
        if data.startswith(prefix) and (value is None or data.endswith(f":{value}")):
            return data
    raise AssertionError(f"no {prefix!r} button in {data_of(message)}")


async def tick(h):
    plan_all(h.rt)
    return await dispatch_due(h.rt)


async def press(h, message, prefix, value=None):
    await h.tap(USER, button(message, prefix, value), message.message_id)
    return h.last(USER)


def setup(h, *acts: tuple[str, int], **fields) -> tuple[int, dict[str, int]]:
    pid = h.add_patient(**fields)
    for name, dose in acts:
        activities.add_activity(h.db, pid, name, dose, h.clock.now())
    ids = {a["name"]: a["id"] for a in activities.for_patient(h.db, pid)}
    return pid, ids


async def do_session(h, activity_id: int, before: int | None, after: int, minutes: int = 20) -> int:
    """Start an activity from /activity, rate B (unless a check-in gave it), finish, rate A."""
    await h.send_text(USER, "/activity")
    msg = await press(h, h.last(USER), f"a:s:{activity_id}")
    sid = max(s["id"] for s in h.db.query("SELECT id FROM sessions"))
    if before is not None:
        msg = await press(h, msg, f"r:{sid}:b:", before)
    assert f"a:e:{sid}" in data_of(msg)
    h.clock.advance(timedelta(minutes=minutes))
    msg = await press(h, msg, f"a:e:{sid}")
    await press(h, msg, f"r:{sid}:a:", after)
    return sid


def pacing_events(h) -> list[dict]:
    return [e for e in h.observed if e[0] == "decision"]


@pytest.fixture
def h(harness):
    harness.observed = []
    harness.rt.observers.append(lambda event, data: harness.observed.append((event, dict(data))))
    return harness


async def test_full_session_keep_with_every_input_and_the_decision_stored(h):
    pid, ids = setup(h, ("walk", 20))
    sid = await do_session(h, ids["walk"], before=3, after=5)  # Mon 13:00-13:20 Berlin
    assert "couple of hours" in h.last(USER).text
    h.clock.advance(timedelta(hours=2))
    await tick(h)
    settle = h.last(USER)
    assert "come back to about where it was" in settle.text
    await press(h, settle, f"r:{sid}:s:", 1)
    # N: 24 h after the start (the 08:00 check-in is too far from it to ask it).
    h.clock.set(h.clock.now().replace(day=3, hour=12, minute=0))
    await tick(h)
    next_day = h.last(USER)
    assert "a day since your walk" in next_day.text
    await press(h, next_day, "n:", 4)
    advice = h.last(USER).text
    assert "keep going" in advice and "20 minutes" in advice
    row = sessions.get(h.db, sid)
    assert (row["before"], row["after"], row["settled"], row["next_day"]) == (3, 5, 1, 4)
    assert row["stage"] == "decided" and row["verdict"] == "keep" and row["rule_version"] == 1
    assert json.loads(row["findings"]) == []
    assert json.loads(row["thresholds"])["flare_tolerance"] == 3
    assert row["partial"] == 0
    [(_, event)] = pacing_events(h)
    assert event["kind"] == "pacing" and event["verdict"] == "keep"
    assert (event["before"], event["after"], event["settled"], event["next_day"]) == (3, 5, True, 4)
    assert event["dose"] == event["next_dose"] == 20
    assert [e["kind"] for e in events.for_patient(h.db, pid, "pacing_decision")] == [
        "pacing_decision"
    ]


async def test_before_comes_from_a_checkin_made_in_the_last_two_hours(h):
    _pid, ids = setup(h, ("walk", 20))
    await h.send_text(USER, "/checkin")
    await press(h, h.last(USER), "c:", 4)
    plan = h.last(USER)
    assert "Today's plan" in plan.text and "Walk: 20 min" in plan.text  # sentence-cased
    h.clock.advance(timedelta(minutes=30))
    go = await press(h, plan, f"a:s:{ids['walk']}")
    assert "check-in from a moment ago (4/10)" in go.text
    stored = list(h.db.query("SELECT before, before_source, stage FROM sessions"))
    assert stored == [{"before": 4, "before_source": "checkin", "stage": "doing"}]


async def test_a_checkin_three_hours_old_is_not_used_as_before(h):
    _pid, ids = setup(h, ("walk", 20))
    await h.send_text(USER, "/checkin")
    await press(h, h.last(USER), "c:", 4)
    h.clock.advance(timedelta(hours=3))
    await h.send_text(USER, "/activity")
    msg = await press(h, h.last(USER), f"a:s:{ids['walk']}")
    assert "Before you start" in msg.text


async def test_the_daily_checkin_near_the_24_hour_point_asks_n_and_decides(h, clock):
    pid, ids = setup(h, ("walk", 20))
    clock.set(clock.now().replace(day=3, hour=7, minute=0))  # Tue 08:00 Berlin, check-in time
    await tick(h)
    await press(h, h.last(USER), "c:", 3)
    clock.advance(timedelta(minutes=20))
    sid = await do_session(h, ids["walk"], before=None, after=4)  # B=3 from the check-in
    clock.advance(timedelta(hours=2))
    await tick(h)
    await press(h, h.last(USER), f"r:{sid}:s:", 1)
    clock.set(clock.now().replace(day=4, hour=7, minute=0))  # Wed 08:00: the next check-in
    await tick(h)
    question = h.last(USER)
    assert "a day after your walk" in question.text
    await press(h, question, "c:", 6)  # 6 - 3 >= 2: still higher the next day
    advice = h.last(USER).text
    assert "let's adjust it" in advice and "still higher the next day" in advice
    assert "14 minutes" in advice  # 20 - 30 %
    assert activities.owned(h.db, ids["walk"], pid)["dose_minutes"] == 14
    # The separate N prompt, kept as a fallback after the check-in, is not sent.
    clock.advance(timedelta(hours=4))
    await tick(h)
    assert not any("a day since" in t for t in h.texts(USER))
    assert (
        outbox.get(
            h.db, next(r["id"] for r in h.db.query("SELECT id FROM outbox WHERE kind = 'next_day'"))
        )["status"]
        == "skipped"
    )


async def test_two_keeps_at_a_dose_progress_it(h, clock):
    pid, ids = setup(h, ("walk", 20))
    for day in (2, 3):
        clock.set(clock.now().replace(day=day, hour=12, minute=0))
        sid = await do_session(h, ids["walk"], before=3, after=4)
        clock.advance(timedelta(hours=2))
        await tick(h)
        await press(h, h.last(USER), f"r:{sid}:s:", 1)
        clock.set(clock.now().replace(day=day + 1, hour=12, minute=0))  # 24 h after the start
        await tick(h)
        await press(h, h.last(USER), "n:", 3)
    verdicts = [r["verdict"] for r in h.db.query("SELECT verdict FROM sessions ORDER BY id")]
    assert verdicts == ["keep", "progress"]
    assert "try <b>22 minutes</b>" in h.last(USER).text
    assert activities.owned(h.db, ids["walk"], pid)["dose_minutes"] == 22


async def _flare(h, clock, activity_id, day):
    clock.set(clock.now().replace(day=day, hour=12, minute=0))
    sid = await do_session(h, activity_id, before=2, after=7)  # +5: a flare
    clock.advance(timedelta(hours=2))
    await tick(h)
    await press(h, h.last(USER), f"r:{sid}:s:", 0)
    clock.set(clock.now().replace(day=day + 1, hour=12, minute=0))
    await tick(h)
    await press(h, h.last(USER), "n:", 5)
    return sid


async def test_adapt_then_pause_then_an_offer_to_retry_at_the_lower_dose(h, clock):
    pid, ids = setup(h, ("gardening", 40), ("walk", 20))
    await _flare(h, clock, ids["gardening"], 2)
    first = h.last(USER).text
    assert "let's adjust it" in first and "more than 3 points" in first
    assert "hadn't settled" in first and "25 minutes" in first  # 40 - 30 % = 28 -> 25
    await _flare(h, clock, ids["gardening"], 4)
    second = h.last(USER).text
    assert "a short break" in second and "not rest" in second
    assert "walk" in second  # a gentler activity they do
    assert "15 minutes" in second  # 25 - 30 % = 17.5 -> 15
    garden = activities.owned(h.db, ids["gardening"], pid)
    assert garden["dose_minutes"] == 15 and garden["paused_until"] == "2026-03-12"
    await h.send_text(USER, "/plan")
    plan = h.last(USER)
    assert "having a break until Thu 12 Mar" in plan.text
    assert f"a:s:{ids['gardening']}" not in data_of(plan)
    # On the day the pause ends, an offer to try it again at the lowered dose.
    clock.set(clock.now().replace(day=12, hour=7, minute=31))
    await tick(h)
    offer = next(m for m in h.api.sent_to(USER) if "break from" in m.text)
    assert "15 minutes" in offer.text
    go = await press(h, offer, f"a:s:{ids['gardening']}")
    assert "Before you start" in go.text


async def test_no_next_day_answer_gives_a_partial_decision_at_36_hours(h, clock):
    _pid, ids = setup(h, ("walk", 20))
    sid = await do_session(h, ids["walk"], before=3, after=4)
    clock.advance(timedelta(hours=2))
    await tick(h)
    await press(h, h.last(USER), f"r:{sid}:s:", 1)
    started = clock.now().replace(hour=12, minute=0)
    clock.set(started + timedelta(hours=35))  # past the N prompt; not answered
    await tick(h)
    assert sessions.get(h.db, sid)["stage"] == "waiting"
    clock.advance(timedelta(hours=1))
    await tick(h)
    row = sessions.get(h.db, sid)
    assert row["stage"] == "decided" and row["partial"] == 1 and row["verdict"] == "keep"
    assert "keep going" not in h.last(USER).text  # 01:00 in Berlin: the advice waits
    clock.set(clock.now().replace(hour=6, minute=31))  # 07:31, quiet hours over
    await tick(h)
    assert "didn't get all of your answers" in h.last(USER).text


async def test_a_session_never_finished_is_incomplete_and_gives_no_advice(h, clock):
    pid, ids = setup(h, ("walk", 20))
    await h.send_text(USER, "/activity")
    msg = await press(h, h.last(USER), f"a:s:{ids['walk']}")
    await press(h, msg, "r:", 3)
    sent_before = len(h.api.sent_to(USER))
    clock.advance(timedelta(hours=37))
    await tick(h)
    row = next(iter(h.db.query("SELECT stage, verdict FROM sessions")))
    assert row == {"stage": "incomplete", "verdict": None}
    assert not any("keep going" in t or "adjust" in t for t in h.texts(USER)[sent_before:])
    assert activities.owned(h.db, ids["walk"], pid)["dose_minutes"] == 20


async def test_log_a_session_afterwards_through_buttons(h, clock):
    _pid, ids = setup(h, ("walk", 30))
    await h.send_text(USER, "/activity")
    msg = await press(h, h.last(USER), "a:l")
    msg = await press(h, msg, f"a:la:{ids['walk']}")
    assert "How long" in msg.text
    msg = await press(h, msg, f"a:lm:{ids['walk']}:", 30)
    msg = await press(h, msg, f"a:lw:{ids['walk']}:30:", 3)  # "3 h ago"
    assert "just before you started" in msg.text
    sid = next(iter(h.db.query("SELECT id FROM sessions")))["id"]
    msg = await press(h, msg, f"r:{sid}:b:", 2)
    msg = await press(h, msg, f"r:{sid}:a:", 3)
    settle = h.last(USER)
    assert "come back to about where it was" in settle.text  # over 2 h ago: asked at once
    await press(h, settle, f"r:{sid}:s:", 1)
    row = sessions.get(h.db, sid)
    assert row["logged"] == 1 and row["dose_minutes"] == 30
    assert row["started_at"] == (clock.now() - timedelta(hours=3)).isoformat(timespec="seconds")


async def test_a_second_tap_on_the_log_keyboard_logs_once(h):
    _pid, ids = setup(h, ("walk", 30))
    await h.tap(USER, f"a:lw:{ids['walk']}:30:1", message_id=77)
    await h.tap(USER, f"a:lw:{ids['walk']}:30:1", message_id=77)
    assert len(list(h.db.query("SELECT id FROM sessions"))) == 1
    assert "expired" in h.last(USER).text


@pytest.mark.parametrize("typed,stored", [("7", 7), ("7/10", 7), (" seven ", 7)])
async def test_typed_before_and_after(h, typed, stored):
    _pid, ids = setup(h, ("walk", 20))
    await h.send_text(USER, "/activity")
    await press(h, h.last(USER), f"a:s:{ids['walk']}")
    await h.send_text(USER, typed)
    msg = h.last(USER)
    sid = next(iter(h.db.query("SELECT id FROM sessions")))["id"]
    await press(h, msg, f"a:e:{sid}")
    await h.send_text(USER, typed)
    row = sessions.get(h.db, sid)
    assert (row["before"], row["after"]) == (stored, stored)


@pytest.mark.parametrize("typed", ["11", "-1", "lots"])
async def test_typed_out_of_range_is_asked_again_and_nothing_stored(h, typed):
    _pid, ids = setup(h, ("walk", 20))
    await h.send_text(USER, "/activity")
    await press(h, h.last(USER), f"a:s:{ids['walk']}")
    await h.send_text(USER, typed)
    assert "10" in h.last(USER).text and "sessions" not in h.last(USER).text
    assert list(h.db.query("SELECT before FROM sessions")) == [{"before": None}]


async def test_half_point_asks_which(h):
    _pid, ids = setup(h, ("walk", 20))
    await h.send_text(USER, "/activity")
    await press(h, h.last(USER), f"a:s:{ids['walk']}")
    await h.send_text(USER, "7.5")
    msg = h.last(USER)
    assert [label for row in msg.buttons for label, _ in row] == ["7", "8"]
    await press(h, msg, "r:", 8)
    assert list(h.db.query("SELECT before FROM sessions")) == [{"before": 8}]


@pytest.mark.parametrize(
    "data",
    [
        "r:{sid}:a:11",
        "r:{sid}:z:3",
        "r:{sid}:a",
        "r:x:a:3",
        "r:{other}:a:3",
        "r:99999999999999:a:3",
        "a:s:{other_act}",
        "a:e:{other}",
        "a:lm:{act}:999",
        "a:lw:{act}:30:2",
        "n:1:5",
        "a:" + "9" * 60,
        "a:s:-1",
    ],
)
async def test_forged_or_foreign_buttons_are_refused_and_change_nothing(h, data):
    pid, ids = setup(h, ("walk", 20))
    other = h.add_patient(user_id=2002)
    activities.add_activity(h.db, other, "swim", 20, h.clock.now())
    other_act = activities.for_patient(h.db, other)[0]["id"]
    other_sid = sessions.create(
        h.db,
        patient_id=other,
        activity_id=other_act,
        dose_minutes=20,
        started_at=h.clock.now(),
        now=h.clock.now(),
        stage="after",
    )
    await h.send_text(USER, "/activity")
    await press(h, h.last(USER), f"a:s:{ids['walk']}")
    sid = next(s["id"] for s in h.db.query("SELECT id FROM sessions WHERE patient_id = ?", [pid]))
    before = list(h.db.query("SELECT * FROM sessions ORDER BY id"))
    await h.tap(USER, data.format(sid=sid, other=other_sid, other_act=other_act, act=ids["walk"]))
    assert "expired" in h.last(USER).text
    assert list(h.db.query("SELECT * FROM sessions ORDER BY id")) == before


async def test_one_reminder_if_unanswered_none_if_answered(h, clock):
    pid, _ = setup(h)
    clock.set(clock.now().replace(day=3, hour=7, minute=0))
    await tick(h)
    clock.advance(timedelta(hours=3))
    await tick(h)
    reminder = h.last(USER)
    assert "gentle nudge" in reminder.text
    clock.advance(timedelta(hours=6))
    await tick(h)
    assert sum("gentle nudge" in t for t in h.texts(USER)) == 1
    await press(h, reminder, "c:", 5)  # the reminder's buttons answer the day's check-in
    assert checkins.for_date(h.db, pid, "2026-03-03")["pain"] == 5
    # Next day: answered at once, so no reminder.
    clock.set(clock.now().replace(day=4, hour=7, minute=0))
    await tick(h)
    await press(h, h.last(USER), "c:", 4)
    clock.advance(timedelta(hours=4))
    await tick(h)
    assert sum("gentle nudge" in t for t in h.texts(USER)) == 1


async def test_no_sitting_nudge_while_an_activity_is_under_way(h, clock):
    _pid, ids = setup(
        h,
        ("walk", 90),  # a long walk: after dose + 30 min, "Finished?" and nudges come again
        sitting_days="mon,tue,wed,thu,fri",
        sitting_from="09:00",
        sitting_to="17:00",
        sitting_every=30,
    )
    clock.set(clock.now().replace(hour=12, minute=35))  # Mon 13:35 Berlin
    await tick(h)
    await h.send_text(USER, "/activity")
    msg = await press(h, h.last(USER), f"a:s:{ids['walk']}")
    await press(h, msg, "r:", 3)
    for _ in range(3):  # 14:00, 14:30, 15:00 nudges fall inside the walk
        clock.advance(timedelta(minutes=30))
        await tick(h)
    statuses = [
        r["status"]
        for r in h.db.query(
            "SELECT status FROM outbox WHERE kind = 'sitting' AND due_at <= ? ORDER BY due_at",
            [clock.now().isoformat()],
        )
    ]
    assert statuses[-3:] == ["skipped", "skipped", "skipped"]


async def test_a_day_never_has_more_than_the_cap_of_prompts(h, clock):
    from bot.rules.schedule import DAILY_PROMPT_CAP

    setup(
        h,
        sitting_days="mon,tue,wed,thu,fri,sat,sun",
        sitting_from="07:30",
        sitting_to="21:30",
        sitting_every=30,
        quiet_from="22:00",
        quiet_to="07:00",
    )
    clock.set(clock.now().replace(day=3, hour=5, minute=0))
    for _ in range(16 * 4):
        clock.advance(timedelta(minutes=15))
        await tick(h)
    day = [
        r
        for r in h.db.query("SELECT kind, sent_at FROM outbox WHERE status = 'sent'")
        if r["sent_at"].startswith("2026-03-03")
    ]
    assert len(day) == DAILY_PROMPT_CAP
