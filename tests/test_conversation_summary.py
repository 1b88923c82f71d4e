"""Issue 15, findings 11, 12 and 13: a fair weekly summary, flare days, and the small breaks.

Each test drives the real Application on the fake Bot API and asserts the reply the person sees
and what is stored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.rules.localtime import zone
from jobs import summary
from jobs.plan import plan_all
from storage import checkins, events, patients
from tests.test_caregivers import CARER, accept, invite, tick

PATIENT = 1001
BERLIN = zone("Europe/Berlin")


def local(y, m, d, hh=12, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BERLIN).astimezone(UTC)


async def summary_of(h, clock, week_end: date, user: int = PATIENT) -> str:
    """Plan and send the Sunday 18:00 summary of the week ending `week_end`; its text."""
    clock.set(local(week_end.year, week_end.month, week_end.day, 17, 0))
    plan_all(h.rt)
    clock.set(local(week_end.year, week_end.month, week_end.day, 18, 0))
    await tick(h)
    heads = ("Your week", "Ana's week")
    return next(t for t in reversed(h.texts(user)) if t.startswith(tuple(f"<b>{x}" for x in heads)))


def rate(h, pid, clock, days: dict[int, int], month=3):
    for day, pain in days.items():
        checkins.record_answer(h.db, pid, f"2026-{month:02d}-{day:02d}", pain, clock.now())


# --- finding 11: the weekly summary -------------------------------------------------------------


async def test_finding_11_paused_days_are_not_counted(harness, clock):
    pid = harness.add_patient()
    # Paused from Wednesday 10:00 to Saturday 07:00: Thursday's and Friday's 08:00 check-ins
    # were never asked; Saturday's was.
    events.record(harness.db, local(2026, 3, 11, 10), "prompts_paused", pid)
    events.record(harness.db, local(2026, 3, 14, 7), "prompts_resumed", pid)
    rate(harness, pid, clock, {9: 4, 14: 5})
    text = await summary_of(harness, clock, date(2026, 3, 15))
    assert "Check-ins answered: <b>2 of 5</b>" in text
    assert "of 7" not in text


async def test_finding_11_a_pause_for_a_while_ends_by_itself(harness, clock):
    pid = harness.add_patient()
    # A pause "for 1 day" (task C's /pause may date its end): Wednesday 10:00 until Friday.
    events.record(harness.db, local(2026, 3, 11, 10), "prompts_paused", pid, until="2026-03-13")
    rate(harness, pid, clock, {9: 4, 13: 5})
    found = summary.figures(harness.db, patients.existing(harness.db, pid), date(2026, 3, 15))
    assert (found.answered, found.possible) == (2, 6)  # only Thursday's check-in was not asked


async def test_finding_11_a_pause_still_running_and_a_hold_count_too(harness, clock):
    pid = harness.add_patient()
    events.record(
        harness.db, local(2026, 3, 9, 20), "red_flag", pid, level="emergency", at="urgent"
    )
    events.record(harness.db, local(2026, 3, 11, 9), "hold_lifted", pid)  # Tue, Wed held
    events.record(harness.db, local(2026, 3, 13, 9), "prompts_paused", pid)  # Sat, Sun paused
    patients.update(harness.db, pid, clock.now(), status="paused")
    rate(harness, pid, clock, {9: 3, 12: 4})
    found = summary.figures(harness.db, patients.existing(harness.db, pid), date(2026, 3, 15))
    assert (found.answered, found.possible) == (2, 3)  # Mon, Thu, Fri


async def test_finding_11_a_first_week_that_began_on_wednesday(harness, clock):
    clock.set(local(2026, 3, 4, 7, 30))
    pid = harness.add_patient(start_date="2026-03-04", course_start="2026-03-04")
    events.record(harness.db, clock.now(), "onboarded", pid)  # before the 08:00 check-in
    rate(harness, pid, clock, {4: 5, 5: 4, 6: 5, 8: 4})
    text = await summary_of(harness, clock, date(2026, 3, 8))
    assert "Check-ins answered: <b>4 of 5</b>" in text


async def test_finding_11_set_up_after_the_check_in_time_starts_the_next_day(harness, clock):
    clock.set(local(2026, 3, 4, 8, 20))
    pid = harness.add_patient(start_date="2026-03-04", course_start="2026-03-04")
    events.record(harness.db, clock.now(), "onboarded", pid)
    rate(harness, pid, clock, {5: 4, 6: 5, 8: 4})
    text = await summary_of(harness, clock, date(2026, 3, 8))
    assert "Check-ins answered: <b>3 of 4</b>" in text


async def test_finding_11_after_the_course_one_of_one(harness, clock):
    # Course began Monday 2025-12-01: week 12 ended 2026-02-22; weekly check-ins on Mondays.
    pid = harness.add_patient(
        start_date="2025-12-01", course_start="2025-12-01", course_state="maintenance"
    )
    rate(harness, pid, clock, {9: 3})
    text = await summary_of(harness, clock, date(2026, 3, 15))
    assert "Check-ins answered: <b>1 of 1</b>" in text
    assert "every check-in" not in text


async def test_finding_11_no_sitting_line_when_sitting_is_off(harness, clock):
    pid = harness.add_patient()  # no sitting days: off
    await accept(harness, await invite(harness))
    rate(harness, pid, clock, {9: 4, 10: 4, 11: 4})
    text = await summary_of(harness, clock, date(2026, 3, 15))
    assert "Sitting breaks" not in text
    clock.set(local(2026, 3, 15, 23, 30))
    await tick(harness)
    copy = next(t for t in harness.texts(CARER) if "Ana's week" in t)
    assert "Sitting breaks" not in copy and "Check-ins answered: <b>3 of 7</b>" in copy


async def test_finding_11_sitting_on_keeps_the_line(harness, clock):
    harness.add_patient(
        sitting_days="mon,tue,wed,thu,fri", sitting_from="09:00", sitting_to="17:00"
    )
    text = await summary_of(harness, clock, date(2026, 3, 15))
    assert "Sitting breaks taken: 0" in text


async def test_finding_11_changes_in_words_never_signs(harness, clock):
    pid = harness.add_patient()
    rate(harness, pid, clock, {2: 4, 3: 4, 4: 4, 5: 4, 9: 4, 10: 5, 11: 5, 12: 4})
    text = await summary_of(harness, clock, date(2026, 3, 15))
    assert "Average pain: <b>4.5/10</b>; 0.5 higher than last week" in text
    assert "+" not in text and "−" not in text


def test_finding_11_change_words():
    from bot.rules.weekly import in_words

    assert in_words(0.5) == "0.5 higher"
    assert in_words(-1.25) == "1.2 lower" or in_words(-1.25) == "1.3 lower"
    assert in_words(0.2) == in_words(-0.4) == in_words(0.0) == "about the same"
    assert in_words(None) is None


# --- finding 13: the small breaks ---------------------------------------------------------------


def _buttons(message) -> list[str]:
    return [data for row in message.buttons for _, data in row]


async def test_finding_13_the_sitting_snooze_gets_its_reply(harness, clock):
    pid = harness.add_patient(
        sitting_days="mon,tue,wed,thu,fri", sitting_from="09:00", sitting_to="17:00"
    )
    clock.set(local(2026, 3, 3, 10, 0))
    plan_all(harness.rt)
    await tick(harness)
    nudge = harness.last(PATIENT)
    snooze = next(d for d in _buttons(nudge) if d.endswith(":snooze"))
    await harness.tap(PATIENT, snooze, nudge.message_id)
    assert harness.last(PATIENT).text == "All right, I'll remind you again in 15 minutes."
    assert "went wrong" not in " ".join(harness.texts(PATIENT))
    [row] = harness.db.query("SELECT action FROM sitting_breaks WHERE patient_id = ?", [pid])
    assert row["action"] == "snooze"
    assert (
        harness.db.execute(
            "SELECT count(*) FROM outbox WHERE dedupe_key LIKE 'sitting-snooze:%'"
        ).fetchone()[0]
        == 1
    )


async def test_finding_13_a_location_outside_set_up_says_what_it_is_for(harness):
    pid = harness.add_patient()
    await harness.app.process_update(harness.updates.location(PATIENT, 41.39, 2.17))
    text = harness.last(PATIENT).text
    assert "only to set your time zone" in text and "/settings" in text
    assert "only read text" not in text
    assert patients.existing(harness.db, pid)["timezone"] == "Europe/Berlin"  # nothing stored
    # Mid-set-up, at another step: the same, pointing to set-up instead of /settings.
    await harness.send_text(2002, "/start")
    await harness.app.process_update(harness.updates.location(2002, 41.39, 2.17))
    text = harness.last(2002).text
    assert "when set-up asks for it" in text and "/settings" not in text


async def test_finding_13_a_question_at_consent_gets_an_answer(harness):
    from storage import consents

    await harness.send_text(PATIENT, "/start")
    intro = harness.last(PATIENT)
    await harness.tap(PATIENT, "o:intro:go", intro.message_id)
    full = harness.last(PATIENT).text
    assert full.startswith("<b>Before we start")
    await harness.send_text(PATIENT, "Who will see my answers?")
    answer = harness.last(PATIENT)
    assert "Nobody else sees it" in answer.text and "Before we start" not in answer.text
    assert len(answer.text) < len(full) / 2
    assert "o:consent:yes" in _buttons(answer)
    await harness.send_text(PATIENT, "can I delete it later")
    assert "/delete removes everything" in harness.last(PATIENT).text
    await harness.send_text(PATIENT, "what happens next?")
    assert harness.last(PATIENT).text.startswith("Good question.")
    await harness.send_text(PATIENT, "hmm")
    assert "tap <b>I agree</b>" in harness.last(PATIENT).text
    assert patients.by_user(harness.db, PATIENT) is None  # nothing stored before agreeing
    assert consents.onboarding(harness.db, PATIENT)["step"] == "consent"
    await harness.send_text(PATIENT, "yes")
    assert consents.onboarding(harness.db, PATIENT)["step"] == "rf"
    [agreed] = harness.db.query("SELECT text_hash FROM consents")
    from bot.rules.onboarding_rules import consent_hash
    from messages import render

    assert agreed["text_hash"] == consent_hash(render("onboarding_consent"))  # the full text


async def test_finding_13_activity_names_start_sentences_with_a_capital(harness):
    from storage import activities

    pid = harness.add_patient()
    activities.add_activity(harness.db, pid, "walking", 20, harness.clock.now())
    activities.add_activity(harness.db, pid, "tai chi", 15, harness.clock.now())
    await harness.send_text(PATIENT, "/plan")
    text = harness.last(PATIENT).text
    assert "• Walking: 20 min" in text and "• Tai chi: 15 min" in text
    assert activities.for_patient(harness.db, pid)[0]["name"] == "walking"  # stored as given


async def test_finding_13_the_delete_receipt_is_in_plain_words(harness, clock):
    pid = harness.add_patient()
    checkins.record_answer(harness.db, pid, "2026-03-02", 4, clock.now())
    await harness.send_text(PATIENT, "/delete")
    await harness.tap(PATIENT, "del:yes", harness.last(PATIENT).message_id)
    text = harness.last(PATIENT).text
    assert "I deleted everything" in text and "• pain check-ins (1)" in text
    for table in ("checkins", "outbox", "events", "patients", "consents", "sitting_", "_"):
        assert table not in text, table
    assert patients.by_user(harness.db, PATIENT) is None


def _listed(text: str) -> set[str]:
    import re

    return set(re.findall(r"^/(\w+) — ", text, re.MULTILINE))


async def test_finding_13_help_shows_the_commands_of_each_role(harness, clock):
    from storage import clinics

    # Not set up: how to start, the warning signs, their data; no patient commands listed.
    await harness.send_text(3003, "/help")
    visitor = harness.last(3003).text
    assert _listed(visitor) == {"start", "urgent", "mydata", "delete", "help"}
    assert "emergency" in visitor and "Once you're set up, /checkin" in visitor
    # A patient: their commands, not the clinic's nor /leave (in no clinic's group).
    harness.add_patient()
    await harness.send_text(PATIENT, "/help")
    mine = _listed(harness.last(PATIENT).text)
    assert {"checkin", "activity", "plan", "pause", "course", "caregiver"} <= mine
    assert "leave" not in mine and "cohort_new" not in harness.last(PATIENT).text
    # A caregiver: the summary they receive, not the patient's commands.
    await accept(harness, await invite(harness))
    await harness.send_text(CARER, "/help")
    carer = _listed(harness.last(CARER).text)
    assert "caregiver" in carer and not carer & {"checkin", "activity", "plan", "settings"}
    # Clinic staff: the clinic commands, no patient commands.
    clinic_id = clinics.create_clinic(harness.db, "Back Clinic", "Europe/Berlin", clock.now())
    invite_id, _ = clinics.invite_clinician(harness.db, clinic_id, clock.now())
    clinics.add_clinician(
        harness.db,
        clinic_id=clinic_id,
        user_id=4004,
        chat_id=4004,
        first_name="Dr",
        invite_id=invite_id,
        now=clock.now(),
    )
    await harness.send_text(4004, "/help")
    staff = harness.last(4004).text
    assert "/cohort_new" in staff and "checkin" not in _listed(staff)
    assert len(_listed(staff)) < len(mine)


async def test_finding_13_lowered_doses_are_rounded_sensibly(harness):
    from bot.rules.pacing import step_down

    assert step_down(30, 0.3) == 20 and step_down(40, 0.3) == 25 and step_down(20, 0.3) == 14
    pid = harness.add_patient()
    from storage import activities
    from tests.test_sessions import do_session

    activities.add_activity(harness.db, pid, "walking", 30, harness.clock.now())
    [act] = activities.for_patient(harness.db, pid)
    sid = await do_session(harness, act["id"], before=2, after=8, minutes=30)
    harness.clock.advance(timedelta(hours=44))  # past the 36-hour deadline, out of quiet hours
    plan_all(harness.rt)
    await tick(harness)
    advice = next(t for t in harness.texts(PATIENT) if "adjust it" in t)
    assert "20 minutes" in advice and "21" not in advice
    assert activities.owned(harness.db, act["id"], pid)["dose_minutes"] == 20
    assert (
        harness.db.execute("SELECT next_dose FROM sessions WHERE id = ?", [sid]).fetchone()[0] == 20
    )


async def test_finding_13_the_quiz_keyboard_fits_a_phone(harness, clock):
    from bot.course import default_course
    from storage import lessons
    from tests.test_course_delivery import COURSE  # noqa: F401 - the course loads

    pid = harness.add_patient(course_start="2026-03-02")
    checked = next(x for x in default_course() if x.check is not None)
    from jobs.compose import compose_lesson

    shown = compose_lesson(harness.db, patients.existing(harness.db, pid), checked.id)
    assert shown is not None
    assert [len(row) for row in shown.buttons] == [2]  # True / False only
    assert all(len(label) <= 20 for row in shown.buttons for label, _ in row)
    lessons.record_sent(harness.db, pid, checked.id, None, clock.now())
    right = int(checked.check.answer)
    await harness.tap(PATIENT, f"l:t:{checked.id}:{right}")
    reply = harness.last(PATIENT)
    assert sum(len(row) for row in reply.buttons) <= 3 and all(len(r) <= 2 for r in reply.buttons)
    assert any(d.startswith("l:h:") for d in _buttons(reply))
    # Without a quick check: Helpful / Not for me, then Next lesson: three buttons.
    plain = next(x for x in default_course() if x.check is None)
    shown = compose_lesson(harness.db, patients.existing(harness.db, pid), plain.id)
    assert [len(row) for row in shown.buttons] in ([2, 1], [2])


async def _set_up_by_taps(harness) -> None:
    """/start and every set-up step tapped: Berlin, check-in 08:00, a 20-minute walk."""
    from tests.test_onboarding import press as tap_button

    await harness.send_text(PATIENT, "/start")
    for data in [
        "o:intro:go",
        "o:consent:yes",
        "o:rf:no",
        "o:soon:no",
        "o:tz:Europe/Berlin",
        "o:ci:0800",
        "o:qh:2200-0700",
        "o:sit:no",
        "o:act:walk",
        "o:act:done",
        "o:dose:0:20",
    ]:
        await tap_button(harness, data)


async def test_finding_13_set_up_after_the_check_in_time_says_tomorrow(harness, clock):
    clock.set(local(2026, 3, 3, 8, 20))
    await _set_up_by_taps(harness)
    text = harness.last(PATIENT).text
    assert "first check-in comes tomorrow at 08:00" in text
    assert patients.by_user(harness.db, PATIENT)["status"] == "active"


async def test_finding_13_set_up_before_the_check_in_time_says_today(harness, clock):
    clock.set(local(2026, 3, 3, 7, 40))
    await _set_up_by_taps(harness)
    assert "first check-in comes today at 08:00" in harness.last(PATIENT).text


# --- finding 12: flare days ---------------------------------------------------------------------


async def _checkin(h, clock, day: int, pain: int):
    """The 08:00 check-in of 2026-03-<day>, answered by a tap; the reply."""
    clock.set(local(2026, 3, day, 8, 0))
    plan_all(h.rt)
    await tick(h)
    question = next(m for m in reversed(h.api.sent_to(PATIENT)) if "c:" in str(m.buttons))
    data = next(d for d in _buttons(question) if d.endswith(f":{pain}"))
    await h.tap(PATIENT, data, question.message_id)
    return h.last(PATIENT)


def _flare_setup(h, clock):
    from storage import activities

    pid = h.add_patient()
    activities.add_activity(h.db, pid, "walking", 30, clock.now())
    activities.add_activity(h.db, pid, "gardening", 20, clock.now())
    rate(h, pid, clock, {2: 3, 3: 3, 4: 4, 5: 3, 6: 3, 7: 3, 8: 3})  # a usual week: about 3
    return pid


async def test_finding_12_a_flare_day_offers_half_of_each_activity(harness, clock):
    pid = _flare_setup(harness, clock)
    offer = await _checkin(harness, clock, 9, 7)
    plan = harness.api.sent_to(PATIENT)[-2]  # the check-in's answer: today's usual plan first
    assert "7/10" in plan.text and "• Walking: 30 min" in plan.text
    assert "For today, about half of each activity" in offer.text
    assert "• Walking: 15 min (usually 30)" in offer.text
    assert "• Gardening: 10 min (usually 20)" in offer.text
    assert [label for row in offer.buttons for label, _ in row] == [
        "Use lower doses today",
        "Keep my plan",
    ]
    [offered] = events.for_patient(harness.db, pid, "flare_offered")
    assert offered["data"] == {"local_date": "2026-03-09", "rating": 7, "mean": 3.1}
    # Accepted: today's plan at the lower doses, and a session started today is planned and
    # judged at that day's dose.
    await harness.tap(PATIENT, _buttons(offer)[0], offer.message_id)
    plan = harness.last(PATIENT)
    assert "Lower doses for today" in plan.text and "• Walking: 15 min" in plan.text
    await harness.send_text(PATIENT, "/plan")
    assert "• Walking: 15 min" in harness.last(PATIENT).text
    from storage import activities

    walk = next(a for a in activities.for_patient(harness.db, pid) if a["name"] == "walking")
    clock.set(local(2026, 3, 9, 9, 0))  # the check-in (7/10) an hour ago is B
    await harness.send_text(PATIENT, "/activity")
    start = next(d for d in _buttons(harness.last(PATIENT)) if d == f"a:s:{walk['id']}")
    await harness.tap(PATIENT, start, harness.last(PATIENT).message_id)
    go = harness.last(PATIENT)
    assert "about <b>15 minutes</b>" in go.text
    [session] = harness.db.query("SELECT * FROM sessions")
    assert (session["dose_minutes"], session["before"]) == (15, 7)
    # Done after 15 minutes, 8 at worst, settled, the next day 6: no finding at all (the flare
    # day itself is not one): keep, and the usual dose stays.
    clock.advance(timedelta(minutes=15))
    await harness.tap(PATIENT, f"a:e:{session['id']}", go.message_id)
    await harness.tap(PATIENT, f"r:{session['id']}:a:8", harness.last(PATIENT).message_id)
    clock.set(local(2026, 3, 9, 12, 0))
    await tick(harness)
    await harness.tap(PATIENT, f"r:{session['id']}:s:1", harness.last(PATIENT).message_id)
    await _checkin(harness, clock, 10, 6)
    [decided] = harness.db.query("SELECT * FROM sessions")
    assert (decided["verdict"], decided["findings"], decided["next_dose"]) == ("keep", "[]", 15)
    assert decided["dose_minutes"] == 15  # judged at that day's dose
    assert activities.get(harness.db, walk["id"])["dose_minutes"] == 30
    # The next day is not a flare day (6 is not 3 above the week's mean any more): usual plan.
    assert "• Walking: 30 min" in harness.last(PATIENT).text or any(
        "• Walking: 30 min" in t for t in harness.texts(PATIENT)[-3:]
    )


async def test_finding_12_three_above_the_weeks_mean_is_a_flare_day_too(harness, clock):
    _flare_setup(harness, clock)
    offer = await _checkin(harness, clock, 9, 6)  # mean 3.1: 2.9 above, not yet
    assert "For today" not in offer.text and "Today's plan" in offer.text


async def test_finding_12_six_after_a_week_of_twos_is_a_flare_day(harness, clock):
    from storage import activities

    pid = harness.add_patient()
    activities.add_activity(harness.db, pid, "walking", 30, clock.now())
    rate(harness, pid, clock, {4: 2, 5: 3, 6: 2, 7: 2, 8: 3})
    offer = await _checkin(harness, clock, 9, 6)
    assert "higher than your last few days" in offer.text and "For today" in offer.text


async def test_finding_12_keep_my_plan_changes_nothing(harness, clock):
    pid = _flare_setup(harness, clock)
    offer = await _checkin(harness, clock, 9, 8)
    await harness.tap(PATIENT, _buttons(offer)[1], offer.message_id)
    reply = harness.last(PATIENT)
    assert "your usual plan" in reply.text and reply.buttons == []
    assert events.for_patient(harness.db, pid, "flare_declined")
    # A second tap on the old offer is expired, and changes nothing.
    await harness.tap(PATIENT, _buttons(offer)[0], offer.message_id)
    assert "expired" in harness.last(PATIENT).text
    assert not events.for_patient(harness.db, pid, "flare_accepted")
    await harness.send_text(PATIENT, "/plan")
    assert "• Walking: 30 min" in harness.last(PATIENT).text


async def test_finding_12_yesterdays_offer_cannot_be_taken_today(harness, clock):
    _flare_setup(harness, clock)
    offer = await _checkin(harness, clock, 9, 8)
    clock.set(local(2026, 3, 10, 7, 45))
    await harness.tap(PATIENT, _buttons(offer)[0], offer.message_id)
    assert "expired" in harness.last(PATIENT).text


def _words(text: str) -> list[str]:
    import re

    from bot.course_report import plain_text

    return re.findall(r"[a-z']+", plain_text(text).lower())


_STOP = set(
    "a an the and or but is are it to of in on for with your you be this that not can as at "
    "by do".split()
)


def _longest_run(a: list[str], b: list[str]) -> int:
    best = 0
    for i in range(len(a)):
        for j in range(len(b)):
            k = 0
            while i + k < len(a) and j + k < len(b) and a[i + k] == b[j + k]:
                k += 1
            best = max(best, k)
    return best


def test_finding_13_no_takeaway_repeats_its_lessons_last_paragraph():
    from bot.course import default_course
    from jobs.compose import compose_lesson  # noqa: F401 - what sends the lesson
    from messages import render

    for lesson in default_course():
        shown = lesson.render(name="", emergency_number="112")
        last = _words(shown.body.strip().split("\n\n")[-1])
        takeaway = _words(shown.takeaway)
        content = {w for w in takeaway if w not in _STOP}
        shared = len(content & set(last)) / max(1, len(content))
        assert _longest_run(takeaway, last) < 6 and shared < 0.5, (lesson.id, shared)
        # The takeaway is shown once, in italics, after the body.
        text = render("lesson", lesson=shown, total=44)
        assert text.count(f"<i>{shown.takeaway}</i>") == 1


# --- finding 11: the pure counting, as properties ------------------------------------------------

_WEEK_END = date(2026, 3, 15)
_days = st.sets(st.sampled_from([_WEEK_END - timedelta(days=n) for n in range(10)]))


@given(
    ratings=st.dictionaries(
        st.sampled_from([_WEEK_END - timedelta(days=n) for n in range(14)]), st.integers(0, 10)
    ),
    first=st.sampled_from([_WEEK_END - timedelta(days=n) for n in range(-1, 12)]),
    off=_days,
    weekdays=st.none() | st.sets(st.integers(0, 6)),
    weekly=st.booleans(),
    checkins_off=st.booleans(),
)
def test_finding_11_answered_never_exceeds_possible(
    ratings, first, off, weekdays, weekly, checkins_off
):
    from bot.rules import weekly as w

    possible = w.possible_days(
        _WEEK_END,
        first,
        off=off,
        weekdays=weekdays,
        weekly_from=_WEEK_END - timedelta(days=20) if weekly else None,
        weekly_day=0,
        checkins_off=checkins_off,
    )
    week = set(w.week_days(_WEEK_END))
    assert set(possible) <= week and not set(possible) & set(off)
    assert all(d >= first for d in possible)
    if weekly:
        assert len(possible) <= 1
    if checkins_off:
        assert possible == []
    found = w.week_figures(ratings, _WEEK_END, first, [], 0, 0, possible=possible)
    assert found.answered <= found.possible <= 7
    assert found.answered == len([d for d in ratings if d in week])
    if found.possible == 0:
        assert found.mood == "paused"


async def test_finding_12_the_flare_offer_can_be_answered_in_words(harness, clock):
    pid = _flare_setup(harness, clock)
    await _checkin(harness, clock, 9, 8)
    await harness.send_text(PATIENT, "lower please")
    plan = harness.last(PATIENT)
    assert "Lower doses for today" in plan.text and "• Walking: 15 min" in plan.text
    assert [e["kind"] for e in events.for_patient(harness.db, pid) if "flare" in e["kind"]][-1] != (
        "flare_offered"
    )
    await _checkin(harness, clock, 10, 8)  # the next day, offered again: kept in words
    await harness.send_text(PATIENT, "keep my plan")
    assert "not waiting" not in harness.last(PATIENT).text


async def test_a_flare_rating_corrected_down_brings_the_usual_doses_back(harness, clock):
    """A reviewer typed 8, took the lower doses, then corrected the 8 to 3: the halved doses
    stayed. A correction that ends the flare day withdraws the offer (or the lower doses) and
    says so; one that makes the day a flare day offers them."""
    pid = _flare_setup(harness, clock)
    offer = await _checkin(harness, clock, 9, 8)
    await harness.tap(PATIENT, _buttons(offer)[0], offer.message_id)  # lower doses today
    await harness.send_text(PATIENT, "/plan")
    assert "• Walking: 15 min" in harness.last(PATIENT).text
    await harness.send_text(PATIENT, "sorry I meant 3")
    said = " ".join(harness.texts(PATIENT)[-3:])
    assert "changed" in said.lower() and "your usual amounts are back for today" in said
    await harness.send_text(PATIENT, "/plan")
    assert "• Walking: 30 min" in harness.last(PATIENT).text
    assert events.for_patient(harness.db, pid, "flare_declined")[-1]["data"] == {
        "local_date": "2026-03-09",
        "corrected": True,
    }
    # Corrected up again to 8 (a reviewer found this a dead end): the withdrawal was the
    # correction's, not the person's choice, so the offer comes again and can be taken.
    await harness.send_text(PATIENT, "no, 8")
    again = harness.last(PATIENT)
    assert "For today, about half" in again.text
    await harness.tap(PATIENT, _buttons(again)[0], again.message_id)
    await harness.send_text(PATIENT, "/plan")
    assert "• Walking: 15 min" in harness.last(PATIENT).text


async def test_a_declined_offer_is_not_made_again_when_the_rating_is_corrected(harness, clock):
    pid = _flare_setup(harness, clock)
    offer = await _checkin(harness, clock, 9, 8)
    await harness.tap(PATIENT, _buttons(offer)[1], offer.message_id)  # keep my plan: theirs
    await harness.send_text(PATIENT, "sorry I meant 9")
    assert "For today, about half" not in harness.last(PATIENT).text
    assert not events.for_patient(harness.db, pid, "flare_accepted")


async def test_an_open_flare_offer_is_withdrawn_when_the_rating_is_corrected(harness, clock):
    pid = _flare_setup(harness, clock)
    offer = await _checkin(harness, clock, 9, 7)
    await harness.send_text(PATIENT, "sorry I meant 4")
    assert "the lighter amounts I suggested no longer apply" in " ".join(
        harness.texts(PATIENT)[-3:]
    )
    await harness.tap(PATIENT, _buttons(offer)[0], offer.message_id)  # the old offer: expired
    assert "expired" in harness.last(PATIENT).text
    assert not events.for_patient(harness.db, pid, "flare_accepted")


async def test_a_rating_corrected_up_to_a_flare_day_offers_lower_doses(harness, clock):
    pid = _flare_setup(harness, clock)
    await _checkin(harness, clock, 9, 3)
    assert not events.for_patient(harness.db, pid, "flare_offered")
    await harness.send_text(PATIENT, "sorry I meant 8")
    assert "For today, about half of each activity" in harness.last(PATIENT).text
    assert events.for_patient(harness.db, pid, "flare_offered")
