"""Issue 17, deliverables 1-3: the weekly change, PEG and personal goals. Through the real
Application with typed and tapped answers, late and skipped; what the person sees and what is
stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules import outcomes as rules
from jobs import outcomes as flow
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import checkins, patients

USER = 1001  # Ana, Europe/Berlin, check-in 08:00, quiet 21:30-07:30, course from Mon 2 March 2026


async def tick(h) -> None:
    plan_all(h.rt)
    await dispatch_due(h.rt)


def set_up(h, **fields) -> int:
    """A patient at the end of set-up: the baseline queued (handlers.onboarding does this)."""
    pid = h.add_patient(**fields)
    with h.db.atomic():
        flow.start_baseline(h.db, patients.existing(h.db, pid), h.clock.now())
    return pid


async def say(h, text: str):
    await h.send_text(USER, text)
    return h.last(USER)


async def tap(h, data: str):
    await h.tap(USER, data, h.last(USER).message_id)
    return h.last(USER)


def data_of(message) -> list[str]:
    return [d for row in message.buttons for _, d in row]


def button(message, label: str) -> str:
    return next(d for row in message.buttons for text, d in row if text == label)


def sets(h, pid) -> dict[tuple[str, str], str]:
    return {
        (r["instrument"], r["timepoint"]): r["status"]
        for r in h.db.query("SELECT * FROM outcome_sets WHERE patient_id = ?", [pid])
    }


def answers(h, pid, instrument: str, timepoint: str) -> dict[str, int | None]:
    return {
        r["item"]: r["value"]
        for r in h.db.query(
            "SELECT a.item, a.value FROM outcome_answers a JOIN outcome_sets s ON s.id = a.set_id "
            "WHERE a.patient_id = ? AND s.instrument = ? AND s.timepoint = ?",
            [pid, instrument, timepoint],
        )
    }


def at_utc(h, month: int, day: int, hour: int, minute: int = 0) -> None:
    h.clock.set(datetime(2026, month, day, hour, minute, tzinfo=UTC))


async def test_baseline_peg_and_goals_tapped_typed_and_skipped(harness):
    h = harness
    pid = set_up(h)
    await tick(h)
    first = h.last(USER)
    assert "A few questions to start" in first.text and "Question 1 of 3" in first.text
    assert "on average" in first.text
    assert len(data_of(first)) == 12  # 0-10 and Skip
    second = await tap(h, button(first, "4"))
    assert "Question 2 of 3" in second.text and "enjoyment of life" in second.text
    third = await say(h, "6")  # typed
    assert "Question 3 of 3" in third.text and "general activity" in third.text
    goal_q = await say(h, "skip")
    assert "Your own goals" in goal_q.text
    assert answers(h, pid, "peg", "baseline") == {
        "peg_pain": 4,
        "peg_enjoyment": 6,
        "peg_activity": None,
    }
    assert sets(h, pid)[("peg", "baseline")] == "partial"  # partial answers kept, no score
    rate = await say(h, "Gardening")
    assert "<b>Gardening</b>: how well can you do it now?" in rate.text
    more = await tap(h, button(rate, "3"))
    assert "Another one?" in more.text
    rate2 = await say(h, "carrying shopping")
    await say(h, "seven")
    done = await say(h, "none")
    assert "Thank you, that's all for now." in done.text
    assert "Gardening: 3/10" in done.text and "carrying shopping: 7/10" in done.text
    assert "carrying shopping" in rate2.text
    goals = list(h.db.query("SELECT name, position FROM goals WHERE patient_id = ?", [pid]))
    assert [(g["name"], g["position"]) for g in goals] == [
        ("Gardening", 1),
        ("carrying shopping", 2),
    ]
    assert sorted(answers(h, pid, "goals", "baseline").values()) == [3, 7]
    assert sets(h, pid)[("goals", "baseline")] == "complete"
    # Nothing is still waiting for an answer.
    waiting = h.db.execute(
        "SELECT count(*) FROM awaiting WHERE patient_id = ? AND status = 'open' "
        "AND kind LIKE 'outcome%'",
        [pid],
    ).fetchone()[0]
    assert waiting == 0
    # A second tap on an old button changes nothing.
    await h.tap(USER, button(first, "9"), first.message_id)
    assert "already have your answer" in h.last(USER).text
    assert answers(h, pid, "peg", "baseline")["peg_pain"] == 4


async def test_bad_input_reasked_kindly_nothing_inferred(harness):
    h = harness
    pid = set_up(h)
    await tick(h)
    for text in ("15", "7.5", "-2"):
        again = await say(h, text)
        assert "from <b>0</b> to <b>10</b>" in again.text, text
        assert "Question 1 of 3" in again.text
    assert answers(h, pid, "peg", "baseline") == {}
    await say(h, "3")
    await say(h, "3")
    goal_q = await say(h, "3")
    assert "Your own goals" in goal_q.text
    again = await say(h, "42")  # a number is not an activity
    assert "Type an activity in a few words" in again.text
    assert list(h.db.query("SELECT * FROM goals")) == []
    await tap(h, button(h.last(USER), "No goals"))
    assert "Thank you, that's all for now." in h.last(USER).text
    assert sets(h, pid) == {("peg", "baseline"): "complete", ("goals", "baseline"): "skipped"}
    score = rules.peg_score(answers(h, pid, "peg", "baseline"))
    assert score == 3.0


async def test_reminder_once_then_closed_after_three_days_late_tap(harness):
    h = harness
    pid = set_up(h)
    await tick(h)
    first = h.last(USER)
    at_utc(h, 3, 3, 12, 5)  # a day later
    await tick(h)
    reminder = h.last(USER)
    assert "A gentle reminder" in reminder.text and "Question 1 of 3" in reminder.text
    at_utc(h, 3, 3, 18, 0)
    await tick(h)
    reminders = [t for t in h.texts(USER) if "gentle reminder" in t]
    assert len(reminders) == 1
    # Answered late from the reminder: kept.
    await h.tap(USER, button(reminder, "5"), reminder.message_id)
    assert "Question 2 of 3" in h.last(USER).text
    at_utc(h, 3, 5, 12, 30)  # 3 days after asking: the set closes with what it has
    await tick(h)
    assert sets(h, pid)[("peg", "baseline")] == "partial"
    assert sets(h, pid)[("goals", "baseline")] == "expired"
    assert answers(h, pid, "peg", "baseline") == {"peg_pain": 5}
    await h.tap(USER, button(first, "2").replace(":pain:", ":enj:"), first.message_id)
    assert "These questions have closed" in h.last(USER).text
    assert answers(h, pid, "peg", "baseline") == {"peg_pain": 5}
    # A number typed now is not taken by a closed question.
    await say(h, "4")
    assert "These questions have closed" not in h.last(USER).text


async def summary_week(h, day: int) -> None:
    """The Sunday summary (18:00 Berlin, 17:00 UTC) of March 2026, and what follows it."""
    at_utc(h, 3, day, 17, 0)
    await tick(h)
    await dispatch_due(h.rt)


def summary_message(h):
    return next(m for m in reversed(h.api.sent_to(USER)) if "<b>Your week</b>" in m.text)


async def test_weekly_change_with_summary_typed_words_shown_next_week(harness):
    h = harness
    pid = h.add_patient()
    await summary_week(h, 8)
    summary = summary_message(h)
    assert summary.text.endswith("Compared with when you started, how is your back now?")
    assert "Last week you said" not in summary.text
    labels = [[text for text, _ in row] for row in summary.buttons]
    assert labels == [
        ["Much better", "Better", "A little better"],
        ["About the same"],
        ["A little worse", "Worse", "Much worse"],
        ["Skip"],
    ]
    assert h.api.sent_to(USER)[-1].method == "sendPhoto"  # the chart still follows the summary
    reply = await say(h, "a bit better")
    assert "Noted: <b>a little better</b>" in reply.text
    assert answers(h, pid, "grc", "w01") == {"grc": 1}
    assert sets(h, pid)[("grc", "w01")] == "complete"
    await summary_week(h, 15)
    summary = summary_message(h)
    assert "Last week you said: <b>a little better</b>" in summary.text
    # Tapped this time, under the summary; a second tap changes nothing.
    await h.tap(USER, button(summary, "Much worse"), summary.message_id)
    assert "Noted: <b>much worse</b>" in h.last(USER).text
    await h.tap(USER, button(summary, "Better"), summary.message_id)
    assert "already have your answer" in h.last(USER).text
    assert answers(h, pid, "grc", "w02") == {"grc": -3}
    # Skipped the week after: recorded as skipped.
    await summary_week(h, 22)
    summary = summary_message(h)
    await h.tap(USER, button(summary, "Skip"), summary.message_id)
    assert answers(h, pid, "grc", "w03") == {"grc": None}
    assert sets(h, pid)[("grc", "w03")] == "skipped"
    # An old summary's button after its question closed (2 days).
    at_utc(h, 3, 25, 12, 0)
    await tick(h)
    first = h.api.sent_to(USER)[0]
    await h.tap(USER, button(first, "Worse"), first.message_id)
    assert "already have your answer" in h.last(USER).text


@pytest.mark.parametrize(
    ("typed", "value"),
    [("much better", 3), ("same", 0), ("worse", -2), ("much worse", -3), ("A bit better", 1)],
)
async def test_weekly_change_typed_words(harness, typed, value):
    h = harness
    pid = h.add_patient()
    await summary_week(h, 8)
    await say(h, typed)
    assert answers(h, pid, "grc", "w01") == {"grc": value}


async def test_weekly_change_number_not_guessed_checkin_keeps_its_number(harness):
    h = harness
    pid = h.add_patient()
    await summary_week(h, 8)
    which = await say(h, "5")
    assert "I need words rather than a number" in which.text
    assert len(data_of(which)) == 8  # the seven points and Skip again
    assert answers(h, pid, "grc", "w01") == {}
    # Monday's check-in goes out; a number now is the check-in's, never the weekly change.
    at_utc(h, 3, 9, 7, 0)
    await tick(h)
    assert "How is your back" in h.last(USER).text
    await say(h, "4")
    assert checkins.for_date(h.db, pid, "2026-03-09")["pain"] == 4
    assert answers(h, pid, "grc", "w01") == {}
    await say(h, "same")
    assert answers(h, pid, "grc", "w01") == {"grc": 0}
    skipped = sets(h, pid)
    assert skipped[("grc", "w01")] == "complete"


async def test_number_goes_to_the_open_peg_item_not_the_weekly_change(harness):
    h = harness
    at_utc(h, 3, 8, 16, 0)  # set up an hour before the summary
    pid = set_up(h, start_date="2026-03-08")
    await tick(h)
    await summary_week(h, 8)
    texts = h.texts(USER)
    assert "A few questions to start" in texts[0] and "<b>Your week</b>" in texts[1]
    await say(h, "5")
    assert answers(h, pid, "peg", "baseline") == {"peg_pain": 5}
    assert answers(h, pid, "grc", "w01") == {}
    await say(h, "better")
    assert answers(h, pid, "grc", "w01") == {"grc": 2}


async def answer_baseline(h, pains=("6", "6", "5"), goals=(("gardening", "3"),)) -> None:
    await tick(h)
    for p in pains:
        await say(h, p)
    for name, value in goals:
        await say(h, name)
        await say(h, value)
    await say(h, "none")


async def test_week_6_and_12_same_questions_goals_shown_back(harness):
    h = harness
    pid = set_up(h)
    await answer_baseline(h)
    assert sets(h, pid)[("peg", "baseline")] == "complete"
    # The last day of week 6 (Sunday 12 April, Berlin UTC+2), half an hour after the check-in.
    at_utc(h, 4, 12, 6, 0)
    await tick(h)
    assert ("peg", "w06") not in sets(h, pid)
    at_utc(h, 4, 12, 6, 30)
    await tick(h)
    asked = next(t for t in h.texts(USER) if "Halfway through the course" in t)
    assert "Question 1 of 3" in asked
    await say(h, "4")
    await say(h, "3")
    goal = await say(h, "2")
    assert "<b>gardening</b>: how well can you do it now, compared" in goal.text
    done = await say(h, "6")
    assert "gardening: 3 → 6" in done.text
    assert answers(h, pid, "peg", "w06") == {"peg_pain": 4, "peg_enjoyment": 3, "peg_activity": 2}
    assert sets(h, pid)[("goals", "w06")] == "complete"
    base = rules.peg_score(answers(h, pid, "peg", "baseline"))
    now = rules.peg_score(answers(h, pid, "peg", "w06"))
    assert (base, now) == (5.67, 3.0) and rules.peg_improved(base, now)
    # Week 12: its last day, Sunday 24 May.
    at_utc(h, 5, 24, 6, 30)
    await tick(h)
    assert any("The end of week 12" in t for t in h.texts(USER))
    assert ("peg", "w12") in sets(h, pid) and ("goals", "w12") in sets(h, pid)
    # Asked once per timepoint however often the planner runs.
    at_utc(h, 5, 24, 8, 0)
    await tick(h)
    assert sum("The end of week 12" in t for t in h.texts(USER)) == 1


async def test_existing_patient_baseline_with_next_summary(harness):
    h = harness
    pid = h.add_patient(start_date="2026-02-02")  # in week 5 of the course when this lands
    h.db.execute("UPDATE patients SET outcomes_baseline_at_summary = 1 WHERE id = ?", [pid])
    await tick(h)
    assert sets(h, pid) == {}
    assert not any("A few questions" in t for t in h.texts(USER))
    await summary_week(h, 8)
    assert sets(h, pid) == {
        ("grc", "w05"): "open",
        ("peg", "baseline"): "open",
        ("goals", "baseline"): "open",
    }
    assert any("A few questions to start" in t for t in h.texts(USER))
    await say(h, "7")
    assert answers(h, pid, "peg", "baseline") == {"peg_pain": 7}


async def test_paused_not_asked_until_resume_withdrawn_never(harness):
    h = harness
    pid = set_up(h)
    other = set_up(h, user_id=1002)
    await tick(h)  # both asked the baseline, neither answers
    h.db.execute("UPDATE patients SET status = 'withdrawn' WHERE id = ?", [other])
    await h.send_text(USER, "/pause")
    await tap(h, "pause:open")
    at_utc(h, 4, 12, 6, 30)  # week 6 is due
    await tick(h)
    assert ("peg", "w06") not in sets(h, pid) and ("peg", "w06") not in sets(h, other)
    assert not any("Halfway" in t for t in h.texts(USER) + h.texts(1002))
    at_utc(h, 4, 13, 9, 0)  # back a day later, while week 6's questions would still be open
    await h.send_text(USER, "/resume")
    await tick(h)
    assert sets(h, pid)[("peg", "w06")] == "open"
    assert any("Halfway through the course" in t for t in h.texts(USER))
    assert ("peg", "w06") not in sets(h, other)
    assert not any("Halfway" in t for t in h.texts(1002))


async def test_pause_cancels_the_question_resume_asks_it_while_open(harness):
    h = harness
    pid = set_up(h)
    plan_all(h.rt)  # queued, not yet sent
    await h.send_text(USER, "/pause")
    await tap(h, "pause:open")
    await dispatch_due(h.rt)
    assert not any("A few questions" in t for t in h.texts(USER))
    at_utc(h, 3, 3, 12, 30)
    await tick(h)
    assert not any("gentle reminder" in t for t in h.texts(USER))  # not while paused
    await h.send_text(USER, "/resume")
    await tick(h)
    assert any("A few questions to start" in t for t in h.texts(USER))
    await say(h, "2")
    assert answers(h, pid, "peg", "baseline") == {"peg_pain": 2}


async def test_set_up_ends_with_the_baseline_questions(harness):
    h = harness
    await h.send_text(USER, "/start")
    for typed in ["ok", "I agree", "no", "none", "berlin", "8:00", "22:00-07:00", "every day"]:
        await h.send_text(USER, typed)
    for typed in ["9-17", "30", "walking", "done", "15 min"]:
        await h.send_text(USER, typed)
    p = patients.by_user(h.db, USER)
    assert p["status"] == "active"
    await dispatch_due(h.rt)
    assert "A few questions to start" in h.last(USER).text
    assert sets(h, p["id"]) == {("peg", "baseline"): "open", ("goals", "baseline"): "open"}
    await say(h, "3")
    assert answers(h, p["id"], "peg", "baseline") == {"peg_pain": 3}


@given(st.text(max_size=40))
def test_typed_weekly_change_never_raises_and_never_reads_a_number(text):
    found = rules.parse_grc(text)
    if any(ch.isdigit() for ch in text if ch.isascii()):
        assert not isinstance(found, rules.GrcAnswer)


@pytest.mark.parametrize("typed", ["not better", "hmm", "7/10", "better or worse", "", "ok"])
def test_typed_weekly_change_unclear_is_not_guessed(typed):
    assert not isinstance(rules.parse_grc(typed), rules.GrcAnswer)


def test_scoring_and_thresholds():
    assert rules.peg_score({"peg_pain": 6, "peg_enjoyment": 5, "peg_activity": 4}) == 5.0
    assert rules.peg_score({"peg_pain": 6, "peg_enjoyment": None, "peg_activity": 4}) is None
    assert rules.peg_improved(5.0, 4.0) and not rules.peg_improved(5.0, 4.34)
    assert rules.peg_improved(2.0, 1.34)  # 33%: under a point, over 30%
    assert rules.pain_improved(6, 4) and not rules.pain_improved(6, 5)
    assert rules.grc_improved(2) and rules.grc_improved(3) and not rules.grc_improved(1)
