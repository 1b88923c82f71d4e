"""Issue 15, findings 1, 2, 8 and 9: open questions as records, late answers, corrections.
Through the real Application with typed updates; what the person sees and what is stored."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.clock import iso
from bot.rules import questions as rules
from jobs import clinic, summary
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from messages import render
from storage import activities, checkins, events, patients, sessions

USER = 1001  # Ana, Europe/Berlin, check-in 08:00, quiet 21:30-07:30; Mon 2 March 2026


def at(h, day: int, hour: int, minute: int = 0) -> None:
    """Move the clock to a Berlin local time in March 2026 (UTC+1)."""
    h.clock.set(h.clock.now().replace(day=day, hour=hour - 1, minute=minute))


async def tick(h) -> None:
    plan_all(h.rt)
    await dispatch_due(h.rt)


async def say(h, text: str):
    update = h.updates.text(USER, text)
    await h.app.process_update(update)
    return update.message.message_id, h.last(USER)


def stored(h, pid) -> list[tuple[str, str, int | None]]:
    return [
        (r["local_date"], r["status"], r["pain"])
        for r in h.db.query(
            "SELECT * FROM checkins WHERE patient_id = ? ORDER BY local_date", [pid]
        )
    ]


def data_of(message) -> list[str]:
    return [d for row in message.buttons for _, d in row]


def button(message, prefix: str) -> str:
    return next(d for d in data_of(message) if d.startswith(prefix))


def last_with(h, words: str):
    return next(s for s in reversed(h.api.sent_to(USER)) if words in s.text)


def open_questions(h, pid) -> list[str]:
    return [
        r["kind"]
        for r in h.db.query(
            "SELECT kind FROM awaiting WHERE patient_id = ? AND status = 'open' ORDER BY id", [pid]
        )
    ]


def setup(h) -> tuple[int, int]:
    pid = h.add_patient()
    activities.add_activity(h.db, pid, "walking", 20, h.clock.now())
    return pid, activities.for_patient(h.db, pid)[0]["id"]


async def start_walk(h, walk: int) -> int:
    await h.send_text(USER, "/activity")
    await h.tap(USER, f"a:s:{walk}", h.last(USER).message_id)
    return max(s["id"] for s in h.db.query("SELECT id FROM sessions"))


async def test_finding_01_last_evenings_unanswered_before_never_takes_this_mornings_checkin(
    harness,
):
    h = harness
    pid, walk = setup(h)
    plan_all(h.rt)
    at(h, 2, 19)  # Monday 19:00: an activity whose "pain before" goes unanswered
    sid = await start_walk(h, walk)
    assert "Before you start" in h.last(USER).text
    at(h, 3, 8)  # Tuesday 08:00: the check-in
    await tick(h)
    assert "How is your back" in h.last(USER).text
    _, first = await say(h, "4")
    assert "noted: <b>4/10</b> for today" in first.text
    _, second = await say(h, "4")
    assert "already rated today (4/10)" in second.text
    assert stored(h, pid) == [("2026-03-03", "answered", 4)]
    assert sessions.get(h.db, sid)["before"] is None  # yesterday's question took nothing


async def test_finding_02_a_late_tap_is_stored_for_its_own_day_and_closes_nothing_else(harness):
    h = harness
    pid = h.add_patient()
    plan_all(h.rt)
    at(h, 6, 8)  # Friday's check-in, never answered; its reminder at 11:00
    await tick(h)
    at(h, 6, 11, 1)
    await tick(h)
    friday_reminder = last_with(h, "How is your back")
    at(h, 7, 8)  # Saturday: Friday is recorded missed, Saturday's check-in goes out
    await tick(h)
    assert ("2026-03-06", "missed", None) in stored(h, pid)
    saturday = h.last(USER)
    assert "How is your back" in saturday.text and saturday.message_id != friday_reminder.message_id
    # Friday's button tapped on Saturday: stored for Friday, said so, over the missed mark.
    data = button(friday_reminder, "c:")
    await h.tap(USER, data[: data.rindex(":")] + ":4", friday_reminder.message_id)
    assert "noted <b>4/10</b> for Friday" in h.last(USER).text
    assert "for today" not in h.last(USER).text
    assert ("2026-03-06", "answered", 4) in stored(h, pid)
    # Saturday's check-in is still open and takes a typed answer for today.
    assert open_questions(h, pid) == ["checkin"]
    _, reply = await say(h, "5")
    assert "noted: <b>5/10</b> for today" in reply.text
    assert ("2026-03-07", "answered", 5) in stored(h, pid)
    # More than 3 days later an old button is too late: said so, nothing stored.
    at(h, 10, 9)
    await h.tap(USER, data[: data.rindex(":")] + ":6", friday_reminder.message_id)
    assert "That question was about Friday 6 March" in h.last(USER).text
    assert "up to 3 days later" in h.last(USER).text
    assert ("2026-03-06", "answered", 4) in stored(h, pid)


async def test_a_rating_typed_before_the_checkin_is_todays_and_the_checkin_is_not_sent(harness):
    h = harness
    pid = h.add_patient()
    plan_all(h.rt)
    at(h, 3, 7, 30)  # Tuesday 07:30, the check-in is due at 08:00
    _, reply = await say(h, "3")
    assert "noted: <b>3/10</b> for today" in reply.text
    at(h, 3, 8, 5)
    await tick(h)
    assert not any("How is your back" in t for t in h.texts(USER))
    assert stored(h, pid) == [("2026-03-03", "answered", 3)]


async def test_yesterday_before_the_course_started_is_not_stored(harness):
    h = harness
    pid = h.add_patient()  # set up on Monday 2 March, the course's first day (today)
    _, reply = await say(h, "yesterday was a 5")
    assert reply.text == render("checkin_before_start", start="Monday", day="Sunday")
    assert stored(h, pid) == []


async def test_finding_08_a_rating_can_be_corrected_and_the_latest_value_counts(harness):
    h = harness
    pid = h.add_patient()
    plan_all(h.rt)
    at(h, 3, 8)
    await tick(h)
    question = h.last(USER)
    await h.tap(USER, button(question, "c:")[:-1] + "8", question.message_id)
    thanks = h.last(USER)
    assert "noted: <b>8/10</b>" in thanks.text
    undo = button(thanks, "c:fix:")
    # Typed "sorry I meant 3": changed, with the old value said; an event keeps old -> new.
    _, reply = await say(h, "sorry I meant 3")
    assert "today's rating is now <b>3/10</b> (was 8)" in reply.text
    assert stored(h, pid) == [("2026-03-03", "answered", 3)]
    # "no, 2" and "change to 4" work the same way.
    await say(h, "no, 2")
    _, reply = await say(h, "change to 4")
    assert "now <b>4/10</b> (was 2)" in reply.text
    changes = [
        (e["data"]["old"], e["data"]["new"])
        for e in events.for_patient(h.db, pid)
        if e["kind"] == "rating_changed"
    ]
    assert changes == [(8, 3), (3, 2), (2, 4)]
    # The undo button works for 10 minutes; later the same day /checkin offers the change.
    h.clock.advance(timedelta(minutes=11))
    await h.tap(USER, undo, thanks.message_id)
    assert "works for 10 minutes" in h.last(USER).text
    await h.send_text(USER, "/checkin")
    offer = h.last(USER)
    assert "already rated today (4/10)" in offer.text
    await h.tap(USER, button(offer, "c:fix:"), offer.message_id)
    keyboard = h.last(USER)
    assert "What should it be?" in keyboard.text
    await h.tap(USER, button(keyboard, "c:set:")[:-1] + "6", keyboard.message_id)
    assert "now <b>6/10</b> (was 4)" in h.last(USER).text
    assert stored(h, pid) == [("2026-03-03", "answered", 6)]
    # The weekly figures, chart, rise rule and roster read the stored value: the latest.
    assert checkins.ratings_until(h.db, pid, "2026-03-03") == [
        {"local_date": "2026-03-03", "pain": 6}
    ]
    assert summary.ratings_by_day(h.db, pid, date(2026, 3, 3)) == {date(2026, 3, 3): 6}
    line = clinic.patient_line(h.db, patients.get(h.db, pid), h.clock.now())
    assert line.figures.last_week == 6


async def test_finding_08_an_edited_rating_within_ten_minutes_updates_it(harness):
    h = harness
    pid = h.add_patient()
    plan_all(h.rt)
    at(h, 3, 8)
    await tick(h)
    message_id, reply = await say(h, "8")
    assert "noted: <b>8/10</b>" in reply.text
    h.clock.advance(timedelta(minutes=2))
    await h.app.process_update(h.updates.edited_text(USER, "3", message_id=message_id))
    assert "now <b>3/10</b> (was 8)" in h.last(USER).text
    assert "You edited your message" in h.last(USER).text
    assert stored(h, pid) == [("2026-03-03", "answered", 3)]
    # The safety screen runs on edits first and still wins: nothing is changed by it.
    await h.app.process_update(
        h.updates.edited_text(
            USER, "I've wet myself and my legs are going weak", message_id=message_id
        )
    )
    assert "Is this happening now" in h.last(USER).text
    assert stored(h, pid) == [("2026-03-03", "answered", 3)]
    await say(h, "no")
    # Past 10 minutes an edit changes nothing and gets the usual note.
    h.clock.advance(timedelta(minutes=15))
    await h.app.process_update(h.updates.edited_text(USER, "5", message_id=message_id))
    assert "can't use edited messages" in h.last(USER).text
    assert stored(h, pid) == [("2026-03-03", "answered", 3)]


async def test_finding_08_session_ratings_change_until_the_decision(harness):
    h = harness
    pid, walk = setup(h)
    at(h, 2, 14)
    sid = await start_walk(h, walk)
    _, reply = await say(h, "6")
    assert sessions.get(h.db, sid)["before"] == 6
    _, reply = await say(h, "no, 3")
    assert "your pain before walking is now <b>3/10</b> (was 6)" in reply.text
    assert sessions.get(h.db, sid)["before"] == 3
    await h.tap(USER, f"a:e:{sid}")
    await say(h, "5")
    msg = h.last(USER)
    await h.tap(USER, button(msg, "c:fix:a:"), msg.message_id)
    keyboard = h.last(USER)
    await h.tap(USER, button(keyboard, "c:set:a:")[:-1] + "4", keyboard.message_id)
    assert sessions.get(h.db, sid)["after"] == 4
    # Once decided, the ratings it used stay.
    h.db.execute("UPDATE sessions SET stage = 'decided' WHERE id = ?", [sid])
    await h.tap(USER, f"c:set:a:{sid}:9", keyboard.message_id + 1)
    assert "my advice is based on it" in h.last(USER).text
    assert sessions.get(h.db, sid)["after"] == 4
    changes = [e["data"] for e in events.for_patient(h.db, pid) if e["kind"] == "rating_changed"]
    assert [(c["what"], c["old"], c["new"]) for c in changes] == [
        ("before", 6, 3),
        ("after", 5, 4),
    ]


async def test_finding_09_two_open_questions_both_filled_each_reply_says_which(harness):
    h = harness
    pid, walk = setup(h)
    plan_all(h.rt)
    at(h, 3, 7, 58)  # /activity at 07:58, then the 08:00 check-in
    sid = await start_walk(h, walk)
    at(h, 3, 8)
    await tick(h)
    assert "How is your back" in h.last(USER).text
    assert open_questions(h, pid) == ["session_before", "checkin"]
    _, first = await say(h, "4")  # the newest open question: the check-in on the screen
    assert "That was for today's check-in. Still open: your pain before walking." in first.text
    assert "noted: <b>4/10</b> for today" in first.text
    await say(h, "4")
    assert sessions.get(h.db, sid)["before"] == 4
    assert stored(h, pid) == [("2026-03-03", "answered", 4)]
    assert open_questions(h, pid) == []


async def test_typed_done_and_didnt_finish_or_cancel_an_activity_under_way(harness):
    h = harness
    _pid, walk = setup(h)
    at(h, 2, 14)
    sid = await start_walk(h, walk)
    await say(h, "3")
    _, reply = await say(h, "finished")
    assert sessions.get(h.db, sid)["stage"] == "after" and "highest pain" in reply.text
    await say(h, "4")
    h.clock.advance(timedelta(hours=1))
    other = await start_walk(h, walk)
    await say(h, "2")
    _, reply = await say(h, "I didn't go in the end")
    assert sessions.get(h.db, other)["stage"] == "cancelled"
    _, reply = await say(h, "done")  # nothing under way now
    assert "not waiting" in reply.text


async def test_yesterday_was_a_5_is_stored_for_yesterday_as_its_late_button_would(harness):
    """A reviewer typed "yesterday was a 5" and was told it was not a number: it is yesterday's
    rating, stored for yesterday (over its missed mark), today's check-in left open."""
    h = harness
    pid = h.add_patient()
    plan_all(h.rt)
    at(h, 6, 8)  # Friday's check-in, never answered
    await tick(h)
    at(h, 7, 8)  # Saturday: Friday recorded missed, Saturday's check-in out
    await tick(h)
    assert ("2026-03-06", "missed", None) in stored(h, pid)
    _, reply = await say(h, "yesterday was a 5")
    assert "noted <b>5/10</b> for Friday" in reply.text
    assert ("2026-03-06", "answered", 5) in stored(h, pid)
    assert open_questions(h, pid) == ["checkin"]  # today's still open
    _, reply = await say(h, "it was 6 yesterday")  # yesterday is answered now: said so
    assert "5/10" in reply.text and ("2026-03-06", "answered", 5) in stored(h, pid)
    _, reply = await say(h, "3")
    assert "noted: <b>3/10</b> for today" in reply.text


async def test_i_didnt_go_at_the_pain_before_question_cancels_the_activity(harness):
    """A reviewer typed "I didn't go" when asked for their pain before a walk and was asked for a
    number: nothing was done, so the walk is cancelled and nothing more is asked about it."""
    h = harness
    pid, walk = setup(h)
    at(h, 2, 14)
    sid = await start_walk(h, walk)
    assert open_questions(h, pid) == ["session_before"]
    _, reply = await say(h, "Not going 😕")
    assert sessions.get(h.db, sid)["stage"] == "cancelled"
    assert reply.text == render("session_cancelled", activity="walking")
    assert open_questions(h, pid) == []


async def test_a_safety_question_still_comes_first_and_the_checkin_after_it(harness):
    h = harness
    pid = h.add_patient()
    plan_all(h.rt)
    at(h, 3, 8)
    await tick(h)
    await say(h, "had a fever last night")
    assert open_questions(h, pid) == ["checkin", "safety_confirm"]
    assert "clear yes or no" in (await say(h, "5"))[1].text
    await say(h, "no")
    assert "noted: <b>5/10</b>" in (await say(h, "5"))[1].text
    waiting = [(r["kind"], r["status"]) for r in h.db.query("SELECT * FROM awaiting ORDER BY id")]
    assert waiting == [("checkin", "answered"), ("safety_confirm", "answered")]
    assert json.loads(
        h.db.execute("SELECT data FROM events WHERE kind = 'checkin_answered'").fetchone()[0]
    ) == {"local_date": "2026-03-03"}


async def test_a_correction_with_nothing_to_change_is_a_plain_answer(harness):
    h = harness
    pid = h.add_patient()
    plan_all(h.rt)
    at(h, 3, 8)
    await tick(h)
    _, reply = await say(h, "no, 3")
    assert "noted: <b>3/10</b> for today" in reply.text
    assert stored(h, pid) == [("2026-03-03", "answered", 3)]


async def test_change_buttons_of_someone_else_change_nothing(harness):
    h = harness
    pid = h.add_patient()
    other = h.add_patient(2002, first_name="Ben")
    plan_all(h.rt)
    at(h, 3, 8)
    await tick(h)
    question = h.last(USER)
    await h.tap(USER, button(question, "c:")[:-1] + "8", question.message_id)
    mine = checkins.for_date(h.db, pid, "2026-03-03")["id"]
    for data in (f"c:fix:c:{mine}:k", f"c:set:c:{mine}:1", f"c:set:b:{mine}:1"):
        await h.tap(2002, data)
        assert "expired" in h.last(2002).text
    assert stored(h, pid) == [("2026-03-03", "answered", 8)]
    assert events.for_patient(h.db, other, "rating_changed") == []


def test_m012_keeps_what_was_awaited_as_open_questions(tmp_path):
    """The one-row-per-person table becomes one row per question; open ones carry over."""
    from sqlite_utils import Database

    from storage.migrations import m012_questions

    db = Database(tmp_path / "old.sqlite3")
    db.executescript(
        """
        CREATE TABLE patients (id INTEGER PRIMARY KEY);
        CREATE TABLE outbox (id INTEGER PRIMARY KEY, payload TEXT NOT NULL DEFAULT '{}');
        CREATE TABLE awaiting (patient_id INTEGER PRIMARY KEY, kind TEXT NOT NULL,
                               ref TEXT NOT NULL, asked_at TEXT NOT NULL);
        INSERT INTO patients VALUES (1), (2), (3);
        INSERT INTO outbox VALUES (40, '{"local_date": "2026-03-03"}');
        INSERT INTO awaiting VALUES (1, 'checkin', '40', '2026-03-03T07:00:00+00:00'),
                                    (2, 'session_before', '7', '2026-03-03T09:00:00+00:00'),
                                    (3, 'safety_confirm', '{"level": "soon", "prev": null}',
                                     '2026-03-03T10:00:00+00:00');
        """
    )
    m012_questions(db)
    rows = [
        (r["patient_id"], r["kind"], r["subject"], r["outbox_id"], r["status"])
        for r in db.query("SELECT * FROM awaiting ORDER BY patient_id")
    ]
    assert rows == [
        (1, "checkin", "2026-03-03", 40, "open"),
        (2, "session_before", "7", None, "open"),
        (3, "safety_confirm", None, None, "open"),
    ]


# -- the pure choice (bot.rules.questions) -----------------------------------------------------
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # Tuesday 08:00 Berlin


def _row(n: int, kind: str, asked: datetime, subject: str | None = None) -> dict:
    return {
        "id": n,
        "kind": kind,
        "subject": subject,
        "status": "open",
        "asked_at": iso(asked),
        "expires_at": None,
    }


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["checkin", "session_before", "session_after", "next_day", "settle"]),
            st.integers(0, 72 * 60),  # asked this many minutes before now
            st.sampled_from(["2026-03-01", "2026-03-02", "2026-03-03"]),
        ),
        max_size=6,
    ),
    st.sampled_from(["rating", "yes_no"]),
)
def test_a_question_from_an_earlier_day_never_takes_todays_answer(spec, answer):
    rows = [
        _row(n, kind, NOW - timedelta(minutes=ago), day if kind == "checkin" else None)
        for n, (kind, ago, day) in enumerate(spec)
    ]
    for row in rules.choose(rows, answer, "2026-03-03", NOW, BERLIN):
        asked = datetime.fromisoformat(row["asked_at"])
        if row["kind"] == "checkin":
            assert row["subject"] == "2026-03-03"
        else:
            assert asked.astimezone(BERLIN).date() == date(2026, 3, 3) or NOW - asked <= (
                rules.JUST_ASKED
            )
        assert (row["kind"] == "settle") == (answer == "yes_no")


def test_the_newest_open_question_takes_a_typed_answer_first():
    before = _row(1, "session_before", NOW - timedelta(minutes=2))
    checkin = _row(2, "checkin", NOW, "2026-03-03")
    assert [
        r["id"] for r in rules.choose([checkin, before], "rating", "2026-03-03", NOW, BERLIN)
    ] == [2, 1]
    nday = _row(3, "next_day", NOW - timedelta(minutes=5))
    assert [
        r["id"] for r in rules.choose([nday, checkin], "rating", "2026-03-03", NOW, BERLIN)
    ] == [2, 3]


@pytest.mark.parametrize(
    "day, expected",
    [
        ("2026-03-03", "today"),
        ("2026-03-02", "late"),
        ("2026-02-28", "late"),
        ("2026-02-27", "too_late"),
        ("2026-03-04", "future"),
    ],
)
def test_how_late_an_old_days_rating_is_taken(day, expected):
    assert rules.late_day_status(day, "2026-03-03") == expected


# --- what a fresh reviewer typing as a patient found (issue 15) --------------------------------


async def test_no_pain_in_words_is_zero_and_a_thumbs_up_is_asked_again(harness):
    h = harness
    pid = h.add_patient()
    plan_all(h.rt)
    at(h, 3, 8)
    await tick(h)
    _, reply = await say(h, "👍")  # not a rating: the open check-in asks again
    assert "not waiting" not in reply.text and "0 to 10" in reply.text
    _, reply = await say(h, "no pain")
    assert "noted: <b>0/10</b> for today" in reply.text
    assert stored(h, pid) == [("2026-03-03", "answered", 0)]


async def test_a_pause_length_can_be_typed_after_pause(harness):
    h = harness
    pid = h.add_patient()
    await h.send_text(USER, "/pause")
    assert "pause" in h.last(USER).text.lower()
    _, reply = await say(h, "just a day")
    assert patients.existing(h.db, pid)["paused_until"] is not None
    _, reply = await say(h, "4")  # paused: said plainly, with the way back
    assert "paused" in reply.text and "/resume" in reply.text


async def test_the_same_question_asked_twice_is_not_still_open_after_its_answer(harness):
    h = harness
    pid = h.add_patient()
    plan_all(h.rt)
    at(h, 3, 8)
    await tick(h)  # the 08:00 check-in
    at(h, 3, 9)
    await h.send_text(USER, "/checkin")  # asks the same day's check-in again
    _, reply = await say(h, "5")
    assert "Still open" not in reply.text
    assert stored(h, pid) == [("2026-03-03", "answered", 5)]


async def test_an_activity_named_in_words_starts_it(harness):
    h = harness
    _pid, walk = setup(h)
    at(h, 3, 14)
    await h.send_text(USER, "/activity")
    _, reply = await say(h, "Walking")
    assert "before you start" in reply.text.lower()
    [session] = h.db.query("SELECT * FROM sessions")
    assert session["activity_id"] == walk
    _, reply = await say(h, "gardening")  # not one of hers: nothing starts
    assert len(list(h.db.query("SELECT id FROM sessions"))) == 1
