"""Edge cases of sessions and settings found in review, each pinned by a test."""

from __future__ import annotations

from datetime import timedelta

from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import activities, checkins, patients, sessions
from tests.test_sessions import USER, button, do_session, press, setup, tick


async def test_an_abandoned_settings_change_does_not_swallow_the_next_checkin(harness, clock):
    pid, _ = setup(harness)
    await harness.send_text(USER, "/settings")
    await press(harness, harness.last(USER), "set:ci")  # ... and walks away
    clock.set(clock.now().replace(day=3, hour=7, minute=0))
    await tick(harness)
    await harness.send_text(USER, "6")
    assert checkins.for_date(harness.db, pid, "2026-03-03")["pain"] == 6
    assert patients.get(harness.db, pid)["checkin_time"] == "08:00"


async def test_a_short_logged_session_is_eased_from_its_own_dose(harness):
    pid, ids = setup(harness, ("walk", 60))
    await harness.tap(USER, f"a:lw:{ids['walk']}:10:3", message_id=5)
    sid = next(iter(harness.db.query("SELECT id FROM sessions")))["id"]
    await press(harness, harness.last(USER), f"r:{sid}:b:", 2)
    await press(harness, harness.last(USER), f"r:{sid}:a:", 8)
    await press(harness, harness.last(USER), f"r:{sid}:s:", 0)
    harness.clock.advance(timedelta(hours=21))
    await harness.send_text(USER, "/checkin")
    await press(harness, harness.last(USER), "c:", 6)
    advice = harness.last(USER).text
    assert "try <b>7 minutes</b> instead of 10" in advice
    assert activities.owned(harness.db, ids["walk"], pid)["dose_minutes"] == 7


async def _flare_now(h, activity_id):
    sid = await do_session(h, activity_id, before=2, after=8)
    return sid


async def test_two_flares_the_same_day_adapt_twice_not_pause(harness, clock):
    pid, ids = setup(harness, ("walk", 20))
    first = await _flare_now(harness, ids["walk"])
    clock.advance(timedelta(hours=1))
    second = await _flare_now(harness, ids["walk"])
    clock.advance(timedelta(hours=21))
    await harness.send_text(USER, "/checkin")
    await press(harness, harness.last(USER), "c:", 5)
    verdicts = [sessions.get(harness.db, s)["verdict"] for s in (first, second)]
    assert verdicts == ["adapt", "adapt"]  # the second was done before any advice was given
    assert activities.owned(harness.db, ids["walk"], pid)["paused_until"] is None


async def test_settle_is_not_asked_about_a_session_from_yesterday(harness, clock):
    _pid, ids = setup(harness, ("walk", 20), ("swim", 30))
    clock.set(clock.now().replace(hour=19, minute=0))  # 20:00 Berlin: settle falls in quiet hours
    walk = await do_session(harness, ids["walk"], before=3, after=4)
    clock.set(clock.now().replace(day=3, hour=10, minute=0))
    await tick(harness)
    swim = await do_session(harness, ids["swim"], before=3, after=4, minutes=30)
    clock.advance(timedelta(hours=2))
    await tick(harness)
    question = harness.last(USER)
    assert "swim" in question.text and "walk" not in question.text
    assert f"r:{walk}:s:1" not in [d for r in question.buttons for _, d in r]
    assert swim


async def test_a_checkin_sent_meanwhile_takes_the_first_typed_number_and_says_so(harness, clock):
    # Issue 15: a typed answer goes to the newest open question (the one on the screen); the
    # reply names it and what is still open, and the next number answers that.
    pid, ids = setup(harness, ("walk", 20))
    clock.set(clock.now().replace(day=3, hour=6, minute=30))  # 07:30 Berlin
    plan_all(harness.rt)
    await harness.send_text(USER, "/activity")
    msg = await press(harness, harness.last(USER), f"a:s:{ids['walk']}")
    await press(harness, msg, "r:", 3)
    sid = next(iter(harness.db.query("SELECT id FROM sessions")))["id"]
    clock.set(clock.now().replace(hour=6, minute=55))
    await press(harness, harness.last(USER), f"a:e:{sid}")
    clock.set(clock.now().replace(hour=7, minute=1))
    await dispatch_due(harness.rt)  # the 08:00 check-in goes out
    await harness.send_text(USER, "7")
    assert checkins.for_date(harness.db, pid, "2026-03-03")["pain"] == 7
    assert sessions.get(harness.db, sid)["after"] is None
    assert "walk" in harness.texts(USER)[-1] or "walk" in harness.texts(USER)[-2]  # still open
    await harness.send_text(USER, "5")
    assert sessions.get(harness.db, sid)["after"] == 5


async def test_pause_and_resume_keep_the_session_follow_ups(harness, clock):
    _pid, ids = setup(harness, ("walk", 20))
    sid = await do_session(harness, ids["walk"], before=3, after=4)
    await harness.send_text(USER, "/pause")
    clock.advance(timedelta(minutes=30))
    await harness.send_text(USER, "/resume")
    clock.advance(timedelta(hours=2))
    await tick(harness)
    assert "come back to about where it was" in harness.last(USER).text
    await press(harness, harness.last(USER), f"r:{sid}:s:", 1)
    assert sessions.get(harness.db, sid)["settled"] == 1


async def test_a_finished_break_is_not_mentioned_when_starting_later(harness, clock):
    _pid, ids = setup(harness, ("walk", 20))
    activities.set_dose(harness.db, ids["walk"], 14, paused_until="2026-03-01")
    await harness.send_text(USER, "/activity")
    msg = await press(harness, harness.last(USER), f"a:s:{ids['walk']}")
    go = await press(harness, msg, "r:", 3)
    assert "having a break" not in go.text and "14 minutes" in go.text


async def test_answers_to_session_questions_wait_during_a_red_flag_hold(harness):
    pid, ids = setup(harness, ("walk", 20))
    await harness.send_text(USER, "/activity")
    msg = await press(harness, harness.last(USER), f"a:s:{ids['walk']}")
    msg = await press(harness, msg, "r:", 3)
    sid = next(iter(harness.db.query("SELECT id FROM sessions")))["id"]
    done = await press(harness, msg, f"a:e:{sid}")
    await harness.send_text(USER, "/urgent")
    await press(harness, harness.last(USER), "u:emergency:yes")
    await harness.tap(USER, button(done, f"r:{sid}:a:", 5), done.message_id)
    assert "on hold" in harness.last(USER).text
    assert sessions.get(harness.db, sid)["after"] is None
    patients.mark_unreachable(harness.db, USER, harness.clock.now(), "blocked")
    assert patients.get(harness.db, pid)["status"] == "hold"  # blocking does not lift a hold
