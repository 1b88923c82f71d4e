"""What a clinician reads (issue 16, findings 7 and 8, Deliver 3 and 5): the roster with flagged
patients first and their flags' dates and states, a cohort line, the Monday digest of exactly
the week it names, and `/patient ID`. Figures are recomputed here from the stored rows."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage import clinics, events, patients
from tests.test_clinics import STAFF, join_staff, make_clinic, new_cohort

LONDON = ZoneInfo("Europe/London")


def member(h, cohort_id: int, user_id: int, name: str, joined: datetime, **fields) -> int:
    """A set-up patient who is a member of the cohort (rows written as enrolment writes them)."""
    fields.setdefault("start_date", "2026-03-02")
    fields.setdefault("course_start", fields["start_date"])
    fields.setdefault("timezone", "Europe/London")
    pid = h.add_patient(user_id=user_id, first_name=name, **fields)
    with h.db.atomic():
        clinics.join(
            h.db, cohort_id=cohort_id, patient_id=pid, consent_id=0, offer_id=0, now=joined
        )
    return pid


def rate(h, pid: int, ratings: dict[str, int]) -> None:
    with h.db.atomic():
        for day, pain in ratings.items():
            h.db.execute(
                "INSERT INTO checkins (patient_id, local_date, pain, status, answered_at) "
                "VALUES (?, ?, ?, 'answered', ?)",
                [pid, day, pain, f"{day}T09:00:00+00:00"],
            )


def report(h, pid: int, level: str, at: datetime) -> None:
    with h.db.atomic():
        events.record(h.db, at, "red_flag", pid, level=level)


def days(first: str, n: int, pains: list[int] | int) -> dict[str, int]:
    start = date.fromisoformat(first)
    values = pains if isinstance(pains, list) else [pains] * n
    return {(start + timedelta(days=i)).isoformat(): values[i] for i in range(n)}


@pytest.fixture
async def world(harness):
    """One clinic, one clinician, two cohorts (the second empty), five members."""
    h = harness
    _, code = make_clinic(h)
    await join_staff(h, code)
    cohort_id, _ = await new_cohort(h, "Tuesday group")
    empty_id, _ = await new_cohort(h, "Empty group")
    t0 = h.clock.now()
    ids = {
        "steady": member(h, cohort_id, 2001, "Steady", t0),
        "flare": member(h, cohort_id, 2002, "Flare", t0),
        "quiet": member(h, cohort_id, 2003, "Quiet", t0),
        "better": member(h, cohort_id, 2004, "Better", t0),
        # Joins on Wednesday of the second week: their week counts from the day they started.
        "late": member(h, cohort_id, 2005, "Late", t0 + timedelta(days=9), start_date="2026-03-11"),
    }
    rate(h, ids["steady"], days("2026-03-02", 14, 4))
    rate(h, ids["flare"], days("2026-03-02", 14, [2] * 7 + [5, 6, 5, 6, 6, 5, 6]))
    rate(h, ids["quiet"], days("2026-03-02", 4, 5))
    rate(
        h,
        ids["better"],
        {**days("2026-03-02", 7, 7), **days("2026-03-09", 7, [4, 4, 5, 4, 4, 4, 3])},
    )
    rate(h, ids["late"], days("2026-03-11", 3, 3))
    # A red flag last week (seen by a doctor the next day) and one this week (still open).
    report(h, ids["quiet"], "emergency", datetime(2026, 3, 4, 10, 0, tzinfo=LONDON))
    with h.db.atomic():
        events.record(
            h.db, datetime(2026, 3, 5, 10, 0, tzinfo=LONDON), "red_flag_seen", ids["quiet"]
        )
    report(h, ids["flare"], "emergency", datetime(2026, 3, 12, 10, 0, tzinfo=LONDON))
    with h.db.atomic():
        patients.update(h.db, ids["flare"], h.clock.now(), status="hold")
    return {"h": h, "cohort": cohort_id, "empty": empty_id, "ids": ids}


async def roster_text(h, cohort_id: int) -> str:
    mark = len(h.api.sent_to(STAFF))
    await h.send_text(STAFF, f"/cohort {cohort_id}")
    return "\n".join(s.text for s in h.api.sent_to(STAFF)[mark:])


# --- the roster -------------------------------------------------------------------------------


async def test_roster_lists_flagged_patients_first_with_dates_and_states(world):
    h, ids = world["h"], world["ids"]
    h.clock.set(datetime(2026, 3, 15, 18, 0, tzinfo=LONDON))
    text = await roster_text(h, world["cohort"])
    order = [int(n) for n in re.findall(r"#(\d+) \(day ", text)]
    # The red flag (open, on hold) first, then the quiet one, then the rest by number.
    assert order == [ids["flare"], ids["quiet"], ids["steady"], ids["better"], ids["late"]]
    assert (
        "⚠️ red flag reported 2026-03-12 (open, on hold since 2026-03-12), "
        "pain rising (2+ above week 1)" in text
    )
    # Seen by a doctor the day after: dated, with its state, until 14 days after being seen.
    assert "⚠️ red flag reported 2026-03-04 (seen by a doctor 2026-03-05), quiet 3+ days" in text
    assert text.index("<i>Not flagged:</i>") < text.index(f"#{ids['steady']} ")


async def test_a_seen_red_flag_leaves_the_roster_14_days_after_the_doctor(world):
    h, ids = world["h"], world["ids"]
    h.clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=LONDON))  # 15 days after being seen
    text = await roster_text(h, world["cohort"])
    assert "2026-03-04" not in text
    assert re.search(rf"#{ids['quiet']} .*\n.*\n⚠️ quiet 3\+ days\n", text)


async def test_roster_cohort_line_recomputed_from_the_database(world):
    h = world["h"]
    h.clock.set(datetime(2026, 3, 15, 18, 0, tzinfo=LONDON))
    text = await roster_text(h, world["cohort"])
    today = date(2026, 3, 15)
    answered = possible = 0
    changes = []
    for p in clinics.members(h.db, world["cohort"]):
        start = date.fromisoformat(p["start_date"])
        rated = {
            date.fromisoformat(r["local_date"]): r["pain"]
            for r in h.db.query("SELECT * FROM checkins WHERE patient_id = ?", [p["id"]])
        }
        first = max(start, today - timedelta(days=6))
        answered += sum(1 for d in rated if first <= d <= today)
        possible += (today - first).days + (1 if today in rated else 0)
        week1 = [rated[d] for d in rated if d < start + timedelta(days=7)]
        last7 = [rated[d] for d in rated if today - timedelta(days=6) <= d <= today]
        if week1 and last7 and start < today - timedelta(days=6):
            changes.append(
                round(round(sum(last7) / len(last7), 1) - round(sum(week1) / len(week1), 1), 1)
            )
    mean = round(sum(changes) / len(changes), 1)
    improved = sum(1 for c in changes if c <= -2)
    assert (
        f"Adherence, last 7 days: {round(100 * answered / possible)}% "
        f"({answered} of {possible} check-ins)." in text
    )
    assert (
        f"mean change {mean:+.1f} ({len(changes)} patients); improved by 2+ points: "
        f"{improved} of {len(changes)} ({round(100 * improved / len(changes))}%)."
    ) in text
    assert "5 patients, 2 flagged." in text


# --- the digest -------------------------------------------------------------------------------


async def _digest(h, monday: date) -> list[str]:
    """Plan on the Sunday, send on Monday 08:00 London; the digest texts the clinician got."""
    h.clock.set(
        datetime.combine(monday - timedelta(days=1), datetime.min.time(), LONDON).replace(hour=12)
    )
    await h.tick()
    mark = len(h.api.sent_to(STAFF))
    h.clock.set(datetime.combine(monday, datetime.min.time(), LONDON).replace(hour=8, minute=1))
    await h.tick()
    return [s.text for s in h.api.sent_to(STAFF)[mark:] if "Weekly digest" in s.text]


async def test_finding_07_the_digest_counts_exactly_the_named_week(world):
    h, ids = world["h"], world["ids"]
    # Someone joins on the Monday morning before the digest goes: next week's, not this one's.
    early = datetime(2026, 3, 16, 7, 0, tzinfo=LONDON)
    newcomer = member(h, world["cohort"], 2006, "Newcomer", early, start_date="2026-03-16")
    # Someone leaves during the week.
    gone = member(h, world["cohort"], 2007, "Gone", h.clock.now())
    with h.db.atomic():
        h.db.execute(
            "UPDATE memberships SET left_at = ? WHERE patient_id = ?",
            ["2026-03-13T10:00:00+00:00", gone],
        )
    [digest] = await _digest(h, date(2026, 3, 16))
    assert "Weekly digest: Tuesday group</b> (the week Mon 9 Mar to Sun 15 Mar)" in digest
    # Recomputed: members who had joined by Sunday midnight, their answered check-ins in
    # Mon 9 - Sun 15 March from their own start.
    week = [date(2026, 3, 9) + timedelta(days=n) for n in range(7)]
    answered = possible = 0
    for pid in ids.values():
        start = date.fromisoformat(patients.get(h.db, pid)["start_date"])
        on_course = [d for d in week if d >= start]
        rated = {
            r["local_date"]
            for r in h.db.query("SELECT local_date FROM checkins WHERE patient_id = ?", [pid])
        }
        possible += len(on_course)
        answered += sum(1 for d in on_course if d.isoformat() in rated)
    assert (answered, possible) == (7 + 7 + 0 + 7 + 3, 7 + 7 + 7 + 7 + 5)
    assert (
        f"Check-ins answered that week: {answered} of {possible} "
        f"({round(100 * answered / possible)}%)." in digest
    )
    assert "5 patients that week, 1 joined, 1 left." in digest
    assert f"#{newcomer}" not in digest and "Newcomer" not in digest
    # Flags: the red flag of this week is marked new; last week's seen one is not.
    assert (
        f"• Flare #{ids['flare']}: red flag reported 2026-03-12 (open, on hold since 2026-03-12) "
        "<b>new</b>, pain rising (2+ above week 1)"
    ) in digest
    assert (
        f"• Quiet #{ids['quiet']}: red flag reported 2026-03-04 (seen by a doctor 2026-03-05), "
        "quiet 3+ days\n" in digest
    )
    # Late's third quiet day is the Monday of the digest: flagged now, not new that week.
    assert f"• Late #{ids['late']}: quiet 3+ days\n" in digest
    assert "<b>Flagged now</b> (3, 1 with a flag new this week):" in digest
    # The next week, the newcomer is counted once, as joined then.
    [later] = await _digest(h, date(2026, 3, 23))
    assert "6 patients that week, 1 joined." in later


async def test_finding_07_an_empty_cohort_gets_no_digest(world):
    h = world["h"]
    texts = await _digest(h, date(2026, 3, 16))
    assert [t for t in texts if "Empty group" in t] == []
    assert any("Tuesday group" in t for t in texts)
    rows = list(
        h.db.query(
            "SELECT status, payload FROM outbox WHERE kind = 'digest' AND due_at < '2026-03-17'"
        )
    )
    empty = [r for r in rows if json.loads(r["payload"])["cohort_id"] == world["empty"]]
    assert empty and {r["status"] for r in empty} == {"skipped"}


# --- /patient ID --------------------------------------------------------------------------------


async def test_patient_view_shows_the_timeline_and_a_chart_that_matches_the_database(world):
    import io

    from PIL import Image

    h, ids = world["h"], world["ids"]
    h.clock.set(datetime(2026, 3, 15, 18, 0, tzinfo=LONDON))
    mark = len(h.api.sent_to(STAFF))
    await h.send_text(STAFF, f"/patient {ids['quiet']}")
    await h.tick()
    sent = h.api.sent_to(STAFF)[mark:]
    text, photo = sent[0].text, sent[-1]
    assert text.startswith(f"<b>Quiet</b> #{ids['quiet']}, Tuesday group")
    assert "Day 14 of the course, which started Mon 2 Mar 2026." in text
    assert "⚠️ red flag reported 2026-03-04 (seen by a doctor 2026-03-05), quiet 3+ days" in text
    # One line per day since the start (14 days), oldest first, each on its own line.
    days = re.findall(r"^• <b>(\w{3} \d+ \w{3})</b>: (.*)$", text, re.M)
    assert [d for d, _ in days][:2] == ["Mon 2 Mar", "Tue 3 Mar"] and len(days) == 14
    by_day = dict(days)
    assert by_day["Wed 4 Mar"] == "pain 5 · ⚠️ emergency warning sign reported"
    assert by_day["Thu 5 Mar"] == "pain 5 · said a doctor has seen them"
    assert by_day["Fri 6 Mar"] == "no check-in"
    # The chart: its embedded points are the stored ratings; its caption has human dates.
    assert photo.method == "sendPhoto"
    assert "Chart of Quiet's daily pain (0-10) from Mon 2 Mar to Thu 5 Mar" in photo.text
    plotted = json.loads(Image.open(io.BytesIO(photo.params["_bytes"])).text["Description"])
    stored = {
        r["local_date"]: r["pain"]
        for r in h.db.query("SELECT * FROM checkins WHERE patient_id = ?", [ids["quiet"]])
    }
    assert dict(plotted["points"]) == stored
    assert plotted["flags"] == [["2026-03-04", "emergency"]]


@pytest.mark.parametrize("who", ["other_clinic", "no_clinic", "stranger", "patient", "missing"])
async def test_patient_view_of_anyone_else_gets_the_same_answer(world, who):
    h, ids = world["h"], world["ids"]
    _, code = make_clinic(h, "Riverside")
    await join_staff(h, code, user=7002)
    alone = h.add_patient(user_id=2999, first_name="Alone")
    asker, number = {
        "other_clinic": (7002, ids["steady"]),
        "no_clinic": (STAFF, alone),
        "stranger": (8001, ids["steady"]),
        "patient": (2002, ids["steady"]),
        "missing": (STAFF, 99999),
    }[who]
    mark = len(h.api.sent_to(asker))
    await h.send_text(asker, f"/patient {number}")
    await h.tick()
    answers = [s.text for s in h.api.sent_to(asker)[mark:]]
    assert len(answers) == 1 and "Steady" not in answers[0] and "Alone" not in answers[0]
    if who in ("stranger", "patient"):
        assert answers[0].startswith("That command is for clinic staff.")
    else:
        assert answers[0] == f"I can't find patient {number} among your clinic's patients. " + (
            "The roster (/cohort <i>number</i>) shows each patient's number."
        )
    assert not list(h.db.query("SELECT * FROM outbox WHERE kind = 'patient_chart'"))


async def test_a_patient_who_leaves_before_the_chart_goes_takes_it_with_them(world):
    h, ids = world["h"], world["ids"]
    with h.db.atomic():
        row = h.db.execute(
            "SELECT id FROM memberships WHERE patient_id = ?", [ids["steady"]]
        ).fetchone()[0]
    from jobs import clinic as clinic_flow

    staff = clinics.roles_of(h.db, STAFF)[0]
    payload = {"payload": json.dumps({"patient_id": ids["steady"], "clinician_id": staff["id"]})}
    assert clinic_flow.compose_patient_chart(h.db, payload, h.clock.now()) is not None
    with h.db.atomic():
        clinics.leave(h.db, row, h.clock.now())
    assert clinic_flow.compose_patient_chart(h.db, payload, h.clock.now()) is None


# --- finding 8: the chart ---------------------------------------------------------------------


def test_finding_08_the_chart_leaves_gaps_puts_sessions_on_their_own_band_and_marks_signs():
    from bot import chart

    rated = {date(2026, 3, 2) + timedelta(days=n): 5 for n in (0, 1, 2, 5, 6, 9)}
    sessions = [(date(2026, 3, 4), "progress"), (date(2026, 3, 8), "keep")]  # 8th: no rating
    spec = chart.spec(rated, sessions, "Your pain", flags=[(date(2026, 3, 7), "emergency")])
    drawn = chart.layout(spec)
    # Gaps are gaps: three runs, no line across the missing days.
    assert [[d.day for d, _ in line] for line in drawn["lines"]] == [[2, 3, 4], [7, 8], [11]]
    # Session markers sit on their own band below 0, whatever that day's pain (or none).
    low, high = chart.SESSION_BAND
    assert all(low < y < high < 0 for _, y, _ in drawn["sessions"])
    assert drawn["flags"] == [(date(2026, 3, 7), "emergency")]
    caption = chart.alt_text(spec)
    assert "from Mon 2 Mar to Wed 11 Mar" in caption
    assert "4 days without a rating, left as gaps" in caption
    assert "Warning signs reported: Sat 7 Mar (emergency)." in caption
    assert chart.human_date(date(2026, 3, 3)) == "Tue 3 Mar"


async def test_pauses_and_lessons_show_only_to_a_clinic_the_patient_agreed_could_see_them(world):
    from jobs.clinic import SHARING_CONSENT, SHARING_VERSION
    from storage import consents

    h, ids = world["h"], world["ids"]
    when = datetime(2026, 3, 9, 18, 0, tzinfo=LONDON)
    with h.db.atomic():
        for name in ("steady", "better"):
            patients.update(h.db, ids[name], when, status="paused", paused_from=when.isoformat())
            events.record(h.db, when, "prompts_paused", ids[name])
        # Steady joined under the offer that lists pauses and lessons; Better under the first.
        consents.give(h.db, ids["steady"], SHARING_CONSENT, SHARING_VERSION, "hash", when)
        consents.give(h.db, ids["better"], SHARING_CONSENT, 1, "hash", when)
        for name in ("steady", "better"):  # no check-ins while paused
            h.db.execute(
                "DELETE FROM checkins WHERE patient_id = ? AND local_date > '2026-03-09'",
                [ids[name]],
            )
    h.clock.set(datetime(2026, 3, 15, 18, 0, tzinfo=LONDON))
    roster = await roster_text(h, world["cohort"])
    views = {}
    for name in ("steady", "better"):
        mark = len(h.api.sent_to(STAFF))
        await h.send_text(STAFF, f"/patient {ids[name]}")
        views[name] = h.api.sent_to(STAFF)[mark].text
    assert "Prompts paused by the patient" in views["steady"]
    assert "• <b>Mon 9 Mar</b>: pain 4 · paused their prompts" in views["steady"]
    assert "paused" not in views["better"]
    assert "• <b>Mon 9 Mar</b>: pain 4\n" in views["better"]
    assert re.search(
        rf"#{ids['steady']} .*\n.*\n⚠️ quiet 3\+ days \(paused since 2026-03-09\)", roster
    )
    assert re.search(rf"#{ids['better']} .*\n.*\n⚠️ quiet 3\+ days\n", roster)
