"""Issue 15, findings 3, 4 and 5: setup and /settings that understand typing, change their
minds and never store settings that silence the bot. Through the real Application."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules import onboarding_rules as R
from bot.rules.localtime import DailyWindow
from bot.rules.schedule import Preferences, plan_messages
from jobs.plan import plan_all
from storage import activities, consents, events, patients, sessions
from tests.test_sessions import press

U = 1001


def step(h, uid=U):
    state = consents.onboarding(h.db, uid)
    return state["step"] if state else None


def me(h, uid=U):
    return patients.by_user(h.db, uid)


def names(h):
    return [(a["name"], a["dose_minutes"]) for a in activities.for_patient(h.db, me(h)["id"])]


def pending(h, kind):
    return list(
        h.db.query(
            "SELECT * FROM outbox WHERE kind = ? AND status = 'pending' ORDER BY due_at", [kind]
        )
    )


async def to_activities(h):
    """Typed setup up to the activities step."""
    await h.send_text(U, "/start")
    for typed in ["ok", "I agree", "no", "none", "Berlin", "8:00", "22:00-07:00", "no"]:
        await h.send_text(U, typed)
    assert step(h) == "act", h.last(U).text


# -- finding 3: a stalled setup swallows everything ------------------------------------------


async def test_finding_03_list_endings_and_near_duplicates(harness):
    h = harness
    await to_activities(h)
    await h.send_text(U, "gardening")
    await h.send_text(U, "and gardening")
    assert "You have <b>gardening</b> already" in h.last(U).text
    for same in ["Gardening ", "also  GARDENING", "gardenings", "plus, gardening!"]:
        await h.send_text(U, same)
        assert "already" in h.last(U).text, same
    await h.send_text(U, "and swimming, gardening")  # the new one kept, the same one caught
    assert "You have <b>gardening</b> already" in h.last(U).text
    assert consents.onboarding(h.db, U)["data"]["chosen"] == ["gardening", "swimming"]
    await h.send_text(U, "no")  # "anything else?" - no: the list is complete
    assert step(h) == "dose" and "<b>gardening</b>" in h.last(U).text
    await h.send_text(U, "twenty")
    await h.send_text(U, "half an hour")
    assert names(h) == [("gardening", 20), ("swimming", 30)]
    assert me(h)["status"] == "active" and "all set" in h.last(U).text


async def test_finding_03_every_list_ending_word_ends_the_list(harness):
    for word in ["no", "None", "nothing else", "That's it.", "that’s it", "done", "Done!"]:
        assert R.ends_list(word), word
    for word in ["nordic walking", "no-dig gardening", "don't know"]:
        assert not R.ends_list(word), word
    assert R.activity_name("and also gardening") == "gardening"
    assert R.activity_name("  Tai   chi ") == "Tai chi"
    assert R.activity_name("and") is None and R.activity_name("20") is None
    assert R.activity_names("walking, Yoga and nordic walking") == [
        "walking",
        "yoga",
        "nordic walking",
    ]
    assert R.activity_names("walk and swim") == ["walking", "swimming"]
    assert R.activity_names("rock and roll") == ["rock and roll"]
    assert R.activity_names("dancing, 20") == ["dancing, 20"]


async def test_finding_03_stalled_setup_asks_to_finish_instead_of_taking_a_dose(harness):
    h = harness
    await to_activities(h)
    await h.send_text(U, "gardening")
    await h.send_text(U, "done")
    assert step(h) == "dose"
    h.clock.advance(timedelta(hours=22))  # left overnight; the next morning's rating...
    await h.send_text(U, "six")
    assert "Shall we finish setting up?" in h.last(U).text
    assert "your activities" in h.last(U).text
    assert [d for row in h.last(U).buttons for _, d in row] == ["o:resume:go", "o:resume:over"]
    assert names(h) == [] and me(h)["status"] == "onboarding"  # not a 6-minute dose
    await h.send_text(U, "no")  # not now: nothing changes
    assert "When you're ready" in h.last(U).text and step(h) == "resume"
    await h.send_text(U, "/start")  # as good as a yes
    assert step(h) == "dose" and "<b>gardening</b>" in h.last(U).text
    await h.send_text(U, "lots")  # a slip an hour later is answered, not a stalled setup
    h.clock.advance(timedelta(minutes=59))
    await h.send_text(U, "lots")
    h.clock.advance(timedelta(minutes=59))
    assert "How many minutes of <b>gardening</b>" in h.last(U).text
    await h.send_text(U, "6")  # now it is an answer to the question on screen
    assert names(h) == [("gardening", 6)] and me(h)["status"] == "active"


async def test_finding_03_start_over_keeps_the_safety_answers(harness):
    h = harness
    await to_activities(h)
    await h.send_text(U, "walking")
    await h.send_text(U, "that's it")
    await h.send_text(U, "15")  # only one activity: set up
    assert me(h)["status"] == "active"
    # a second person stalls at the dose step and starts over
    await h.send_text(2002, "/start")
    for typed in ["ok", "I agree", "no", "none", "London", "9", "22-07", "no", "yoga", "done"]:
        await h.send_text(2002, typed)
    assert step(h, 2002) == "dose"
    h.clock.advance(timedelta(hours=2))
    await h.send_text(2002, "10")
    assert step(h, 2002) == "resume"
    await h.tap(2002, "o:resume:over", h.last(2002).message_id)
    assert step(h, 2002) == "tz" and "start again" in h.texts(2002)[-2]
    assert consents.onboarding(h.db, 2002)["data"] == {}
    assert consents.current(h.db, me(h, 2002)["id"], "health_data") is not None


async def test_finding_03_commands_mid_setup_say_what_is_left(harness):
    h = harness
    await h.send_text(U, "/start")
    for typed in ["ok", "I agree", "no", "none", "Berlin"]:
        await h.send_text(U, typed)
    assert step(h) == "ci"
    for command in ["/checkin", "/activity", "/plan", "/settings"]:
        await h.send_text(U, command)
        said, asked = h.texts(U)[-2:]
        assert "haven't set things up" not in said, command
        assert "still setting up" in said and "your check-in time" in said, command
        assert "your activities" in said and "your time zone" not in said, command
        assert "When should I ask" in asked, command
    assert step(h) == "ci" and me(h)["checkin_time"] is None


async def test_finding_03_a_message_that_fits_no_step_says_what_it_wants(harness):
    h = harness
    await to_activities(h)
    await h.send_text(U, "yoga")
    await h.send_text(U, "done")
    for wrong in ["lots", "181", "0", "6/10"]:
        await h.send_text(U, wrong)
        text = h.last(U).text
        assert "How many minutes of <b>yoga</b>" in text and "from 1 to 180" in text, wrong
    assert names(h) == []
    await h.send_text(U, "180")  # the top of the range is a dose
    assert names(h) == [("yoga", 180)]


# -- finding 4: activities can't be removed or renamed; no typed dose in /settings ----------


async def test_finding_04_remove_rename_and_pause_an_activity(harness):
    h = harness
    pid = h.add_patient()
    for name in ("hiking", "rowing", "yoga"):
        activities.add_activity(h.db, pid, name, 20, h.clock.now())
    ids = {a["name"]: a["id"] for a in activities.for_patient(h.db, pid)}
    sid = sessions.create(
        h.db,
        patient_id=pid,
        activity_id=ids["rowing"],
        dose_minutes=20,
        started_at=h.clock.now(),
        now=h.clock.now(),
        stage="done",
    )
    await h.send_text(U, "/settings")
    menu = await press(h, h.last(U), "set:dose")
    actions = await press(h, menu, f"set:d:{ids['rowing']}")
    assert "Rename" in str(actions.buttons) and "Remove" in str(actions.buttons)
    saved = await press(h, actions, f"set:a:{ids['rowing']}:remove")
    assert "<b>rowing</b> is removed" in h.texts(U)[-2] and "history is kept" in h.texts(U)[-2]
    assert "rowing" not in saved.text.split("Activities:")[1]
    assert [a["name"] for a in activities.for_patient(h.db, pid)] == ["hiking", "yoga"]
    assert sessions.get(h.db, sid) is not None  # its history stays
    await h.tap(U, f"a:s:{ids['rowing']}")  # an old keyboard cannot start it
    assert "expired" in h.last(U).text and sessions.in_progress(h.db, pid) is None

    menu = await press(h, await _settings(h), "set:dose")
    actions = await press(h, menu, f"set:d:{ids['hiking']}")
    question = await press(h, actions, f"set:a:{ids['hiking']}:rename")
    assert "What would you like to call <b>hiking</b>" in question.text
    await h.send_text(U, "Yoga")  # the name of another one
    assert "You already have <b>yoga</b>" in h.last(U).text
    await h.send_text(U, "hill walking")
    assert "hill walking (20 min)" in h.last(U).text
    assert activities.owned(h.db, ids["hiking"], pid)["name"] == "hill walking"

    menu = await press(h, h.last(U), "set:dose")
    actions = await press(h, menu, f"set:d:{ids['yoga']}")
    await press(h, actions, f"set:a:{ids['yoga']}:pause")
    assert "yoga (20 min, paused)" in h.last(U).text
    await h.send_text(U, "/plan")
    plan = h.last(U)
    assert "Yoga: paused" in plan.text
    assert f"a:s:{ids['yoga']}" not in str(plan.buttons)  # no prompt to start it
    assert f"a:s:{ids['hiking']}" in str(plan.buttons)
    kinds = {e["kind"] for e in events.for_patient(h.db, pid)}
    assert {"activity_removed", "activity_renamed", "activity_paused"} <= kinds

    menu = await press(h, await _settings(h), "set:dose")
    actions = await press(h, menu, f"set:d:{ids['yoga']}")
    await press(h, actions, f"set:a:{ids['yoga']}:unpause")
    assert "yoga (20 min)" in h.last(U).text and "paused" not in h.last(U).text

    # Adding a removed activity again brings it back, with its history.
    await press(h, h.last(U), "set:act")
    await h.send_text(U, "and rowing")
    await h.send_text(U, "that's it")
    await h.send_text(U, "25")
    assert activities.get(h.db, ids["rowing"])["removed_at"] is None
    assert "rowing (25 min)" in h.last(U).text


async def _settings(h):
    await h.send_text(U, "/settings")
    return h.last(U)


async def test_finding_04_a_typed_dose_in_settings_has_setups_range(harness):
    h = harness
    pid = h.add_patient()
    activities.add_activity(h.db, pid, "walk", 20, h.clock.now())
    aid = activities.for_patient(h.db, pid)[0]["id"]
    menu = await press(h, await _settings(h), "set:dose")
    await press(h, menu, f"set:d:{aid}")
    await h.send_text(U, "181")
    assert "1 to 180" in h.last(U).text
    assert activities.owned(h.db, aid, pid)["dose_minutes"] == 20
    await h.send_text(U, "twenty five")
    assert "1 to 180" in h.last(U).text  # not a number anyone types as one word
    await h.send_text(U, "half an hour")
    assert "walk (30 min)" in h.last(U).text and "Saved" in h.last(U).text
    menu = await press(h, await _settings(h), "set:dose")
    await press(h, menu, f"set:d:{aid}")
    await h.send_text(U, "180 min")
    assert activities.owned(h.db, aid, pid)["dose_minutes"] == 180
    assert [e["data"]["by"] for e in events.for_patient(h.db, pid, "dose_changed")] == [
        "patient",
        "patient",
    ]


async def test_finding_04_sitting_and_lesson_days_any_set_with_the_choice_marked(harness):
    h = harness
    pid = h.add_patient(
        sitting_days="mon,tue,wed,thu,fri",
        sitting_from="09:00",
        sitting_to="17:00",
        course_start="2026-03-02",
    )
    days = await press(h, await _settings(h), "set:sit")
    assert "✓ Mon" in str(days.buttons) and "✓ Sat" not in str(days.buttons)
    days = await press(h, days, "o:sdays:tue")  # unchosen
    days = await press(h, days, "o:sdays:sat")
    assert "✓ Sat" in str(days.buttons) and "✓ Tue" not in str(days.buttons)
    await press(h, days, "o:sdays:done")
    await h.send_text(U, "10-16")
    await h.send_text(U, "45")
    p = patients.get(h.db, pid)
    assert (p["sitting_days"], p["sitting_from"], p["sitting_every"]) == (
        "mon,wed,thu,fri,sat",
        "10:00",
        45,
    )
    assert "Mon, Wed, Thu, Fri, Sat, 10:00–16:00" in h.last(U).text

    days = await press(h, h.last(U), "set:ld")
    assert "✓ Mon" in str(days.buttons) and "✓ Wed" in str(days.buttons)
    await h.send_text(U, "tuesday and thursday")
    assert patients.get(h.db, pid)["course_days"] == "tue,thu"
    assert "Lesson days: Tue, Thu" in h.last(U).text
    plan_all(h.rt)
    lessons = pending(h, "lesson")
    assert lessons and all(datetime.fromisoformat(r["due_at"]).weekday() in (1, 3) for r in lessons)

    await press(h, h.last(U), "set:sit")
    await h.send_text(U, "off")
    assert patients.get(h.db, pid)["sitting_days"] == "" and "Sitting breaks: off" in h.last(U).text


async def test_finding_04_checkin_weekdays_or_off_and_summary_day_time_or_off(harness):
    h = harness
    pid = h.add_patient()
    h.clock.set(datetime(2026, 3, 6, 12, 0, tzinfo=UTC))  # a Friday
    question = await press(h, await _settings(h), "set:ci")
    assert "✓ Every day" in str(question.buttons) and "✓ 08:00" in str(question.buttons)
    await press(h, question, "o:ci:weekdays")
    assert "Check-in: weekdays at 08:00" in h.last(U).text
    plan_all(h.rt)
    assert pending(h, "checkin") == []  # Saturday's is not planned (36 hours: Fri noon-Sun)
    h.clock.advance(timedelta(days=2))
    plan_all(h.rt)
    assert [r["due_at"][:10] for r in pending(h, "checkin")] == ["2026-03-09"]  # Monday

    await press(h, await _settings(h), "set:ci")
    await h.send_text(U, "off")
    assert "Check-in: off" in h.last(U).text and pending(h, "checkin") == []
    plan_all(h.rt)
    assert pending(h, "checkin") == []

    await press(h, await _settings(h), "set:sum")
    await h.send_text(U, "tuesday 19:30")
    p = patients.get(h.db, pid)
    assert (p["summary_day"], p["summary_time"], p["summary_off"]) == ("tue", "19:30", 0)
    assert "Weekly summary: Tue 19:30" in h.last(U).text
    h.clock.advance(timedelta(days=1))  # Monday noon: Tuesday evening is inside the horizon
    plan_all(h.rt)
    assert [r["due_at"] for r in pending(h, "summary")] == ["2026-03-10T18:30:00+00:00"]

    await press(h, await _settings(h), "set:sum")
    assert "✓" not in str(h.last(U).buttons)  # Tuesday 19:30 has no button: typed
    await press(h, h.last(U), "set:sum:off")
    assert "Weekly summary: off" in h.last(U).text
    assert patients.get(h.db, pid)["summary_off"] == 1
    plan_all(h.rt)
    assert pending(h, "summary") == []


async def test_finding_04_quiet_hours_can_be_removed(harness):
    h = harness
    pid = h.add_patient()
    question = await press(h, await _settings(h), "set:qh")
    await press(h, question, "o:qh:none")
    p = patients.get(h.db, pid)
    assert (p["quiet_from"], p["quiet_to"]) == (None, None)
    assert "Quiet hours: none" in h.last(U).text


# -- finding 5: settings that conflict stop the bot quietly ----------------------------------


async def test_finding_05_checkin_inside_quiet_hours_is_refused_and_nothing_stored(harness):
    h = harness
    pid = h.add_patient(quiet_from="22:00", quiet_to="07:00")
    await press(h, await _settings(h), "set:ci")
    await h.send_text(U, "6:30")
    refusal = h.last(U)
    assert "<b>06:30</b> is inside your quiet hours (22:00–07:00)" in refusal.text
    assert "Nothing is changed yet" in refusal.text
    assert "o:qh:back" in str(refusal.buttons)  # move the check-in instead
    # ... and the question is left unanswered: nothing conflicting was stored
    assert patients.get(h.db, pid)["checkin_time"] == "08:00"
    h.clock.advance(timedelta(hours=3))
    plan_all(h.rt)
    assert pending(h, "checkin"), "check-ins still planned"

    # Answering it: quiet hours that still cover 06:30 are refused; others store both at once.
    await press(h, await _settings(h), "set:ci")
    await h.send_text(U, "6:30")
    await h.send_text(U, "23:00-07:00")
    assert "is inside those quiet hours" in h.last(U).text
    assert patients.get(h.db, pid)["quiet_from"] == "22:00"
    await h.send_text(U, "22:00-06:00")
    p = patients.get(h.db, pid)
    assert (p["checkin_time"], p["quiet_from"], p["quiet_to"]) == ("06:30", "22:00", "06:00")
    assert "Saved" in h.last(U).text


async def test_finding_05_quiet_hours_covering_the_checkin_or_summary_are_refused(harness):
    h = harness
    pid = h.add_patient(quiet_from="22:00", quiet_to="07:00")
    await press(h, await _settings(h), "set:qh")
    await h.send_text(U, "17:00-09:00")
    text = h.last(U).text
    assert "check-in time, <b>08:00</b>, is inside those quiet hours" in text
    assert "weekly summary on <b>Sunday 18:00</b> would fall inside them too" in text
    assert patients.get(h.db, pid)["quiet_from"] == "22:00"
    # the summary moved into quiet hours is refused too
    await press(h, await _settings(h), "set:sum")
    await h.send_text(U, "sunday 23:00")
    assert "would fall in your quiet hours" in h.last(U).text
    assert patients.get(h.db, pid)["summary_time"] == "18:00"
    # a check-in switched back on inside quiet hours is refused until its time is moved
    patients.update(h.db, pid, h.clock.now(), checkin_mode="off", checkin_time="06:00")
    question = await press(h, await _settings(h), "set:ci")
    await press(h, question, "o:ci:daily")
    assert "is inside your quiet hours" in h.last(U).text
    assert patients.get(h.db, pid)["checkin_mode"] == "off"
    await h.send_text(U, "8:00")
    p = patients.get(h.db, pid)
    assert (p["checkin_mode"], p["checkin_time"]) == ("daily", "08:00")


async def test_finding_05_any_new_command_ends_a_half_done_edit(harness):
    h = harness
    pid = h.add_patient()
    await press(h, await _settings(h), "set:ci")
    await h.send_text(U, "/history")
    assert step(h) is None
    await h.send_text(U, "9:15")  # not taken as a check-in time any more
    assert patients.get(h.db, pid)["checkin_time"] == "08:00"
    activities.add_activity(h.db, pid, "walk", 20, h.clock.now())
    aid = activities.for_patient(h.db, pid)[0]["id"]
    menu = await press(h, await _settings(h), "set:dose")
    await press(h, menu, f"set:d:{aid}")
    await h.send_text(U, "/plan")
    await h.send_text(U, "5")
    assert activities.owned(h.db, aid, pid)["dose_minutes"] == 20


hours = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@given(checkin=hours, start=hours, end=hours, summary=st.none() | hours)
def test_finding_05_conflicts_rule_keeps_every_checkin_planned(checkin, start, end, summary):
    """Whatever the times: `conflicts` names exactly what quiet hours would cover, and settings
    it accepts plan a check-in on every day (the planner drops none for quiet hours)."""
    found = R.conflicts(checkin, (start, end), summary)
    assert ("checkin" in found) == R.in_window(checkin, start, end)
    assert ("summary" in found) == (summary is not None and R.in_window(summary, start, end))
    assert R.conflicts(checkin, None, summary) == ()
    if "checkin" in found:
        return
    from zoneinfo import ZoneInfo

    prefs = Preferences(1, ZoneInfo("Europe/Berlin"), checkin, DailyWindow(start, end))
    begin = datetime(2026, 3, 2, tzinfo=UTC)
    planned = plan_messages(prefs, begin, begin + timedelta(days=3))
    days = {p.payload["local_date"] for p in planned if p.kind == "checkin"}
    assert {"2026-03-03", "2026-03-04"} <= days


def test_shall_we_finish_understands_typed_answers():
    from handlers.onboarding_questions import from_text

    state = {"step": "resume", "data": {"resume_step": "dose"}}
    assert [from_text(state, t) for t in ("yes", "Continue", "no", "start over")] == [
        "go",
        "go",
        "later",
        "over",
    ]


def test_dose_in_words_and_numbers_has_one_range():
    for typed, minutes in [("20", 20), ("20 min", 20), ("half an hour", 30), ("twenty", 20)]:
        assert R.parse_dose(typed) == minutes
    assert R.parse_dose("180") == 180 and R.parse_dose("181") is None
    assert R.parse_dose("0") is None and R.parse_dose("lots") is None
    assert R.parse_days("mon wed fri") == ("mon", "wed", "fri")
    assert R.parse_days("Weekdays") == R.WEEK[:5]
    assert R.parse_days("sunday, monday") == ("mon", "sun")
    assert R.parse_days("someday") is None
    assert R.parse_summary_when("Friday 19:30") == ("fri", "19:30")
    assert R.parse_summary_when("sat") == ("sat", None)
    assert R.parse_summary_when("off") == "off"
    assert time(7) == R.parse_time_range("22-07")[1]


def stored_clash(h, pid) -> tuple[str, ...]:
    p = patients.get(h.db, pid)
    quiet = (
        (R.parse_hhmm(p["quiet_from"]), R.parse_hhmm(p["quiet_to"])) if p["quiet_from"] else None
    )
    checkin = R.parse_hhmm(p["checkin_time"]) if patients.checkin_on(p) else None
    summary = R.parse_hhmm(p["summary_time"]) if patients.summary_on(p) else None
    return R.conflicts(checkin, quiet, summary)


@pytest.mark.slow
async def test_finding_05_no_order_of_edits_stores_a_conflict(harness):
    """Random edits, refusals answered or walked away from: after every message the stored
    check-in, quiet hours and summary fit together."""
    import random

    h = harness
    pid = h.add_patient(quiet_from="22:00", quiet_to="07:00")
    rng = random.Random(15)
    times = ["06:30", "07:00", "08:00", "12:00", "18:00", "21:30", "23:00"]
    spans = ["22:00-07:00", "21:00-08:00", "17:00-09:00", "05:00-09:00", "none", "23:00-06:30"]
    for _ in range(60):
        what = rng.choice(["ci", "qh", "sum", "mode"])
        await h.send_text(U, "/settings")
        await press(h, h.last(U), f"set:{'ci' if what == 'mode' else what}")
        for _ in range(rng.randint(1, 3)):  # answered, perhaps refused and answered again
            if what == "ci" or (what == "qh" and step(h) == "ci"):
                await h.send_text(U, rng.choice(times))
            elif what == "qh" or step(h) == "qh":
                await h.send_text(U, rng.choice(spans))
            elif what == "sum":
                await h.send_text(U, f"{rng.choice(['sat', 'sun', 'mon'])} {rng.choice(times)}")
            else:
                await h.send_text(U, rng.choice(["weekdays", "off", "daily", *times]))
            assert stored_clash(h, pid) == (), patients.get(h.db, pid)
            if step(h) is None:
                break
        if rng.random() < 0.3:
            await h.send_text(U, "/plan")  # walks away from a refusal
        assert stored_clash(h, pid) == ()
    saved = events.for_patient(h.db, pid, "settings_changed")
    refusals = [t for t in h.texts(U) if "quiet hours" in t and "Nothing is changed" in t]
    assert len(saved) > 10 and len(refusals) > 5, (len(saved), len(refusals))
