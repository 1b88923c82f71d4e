"""Issue 17, deliverable 4: the results a person sees at weeks 6 and 12, /patient's Outcomes
block and the cohort report /outcomes. Through the real Application; figures recomputed here."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from bot.rules.outcome_stats import mean_change, t975
from jobs import outcome_results as results
from jobs import outcomes as flow
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import patients
from tests.test_clinic_views import member, rate
from tests.test_clinics import STAFF, join_staff, make_clinic, new_cohort

USER = 1001  # Ana, Europe/Berlin, check-in 08:00, course from Mon 2 March 2026


async def tick(h) -> None:
    plan_all(h.rt)
    await dispatch_due(h.rt)


def button(message, label: str) -> str:
    return next(d for row in message.buttons for text, d in row if text == label)


async def answer_all(h, values: list[int | None], user: int = USER) -> None:
    """Tap each question's value (None: Skip) as the questions come."""
    for v in values:
        last = h.last(user)
        await h.tap(user, button(last, "Skip" if v is None else str(v)), last.message_id)


def peg_set(h, pid: int, timepoint: str, values: list[int | None], status: str, at: datetime):
    with h.db.atomic():
        set_id = h.db.execute(
            "INSERT INTO outcome_sets (patient_id, instrument, timepoint, asked_at, closed_at, "
            "status) VALUES (?, 'peg', ?, ?, ?, ?)",
            [pid, timepoint, at.isoformat(), at.isoformat(), status],
        ).lastrowid
        for item, v in zip(("peg_pain", "peg_enjoyment", "peg_activity"), values, strict=True):
            h.db.execute(
                "INSERT INTO outcome_answers (set_id, patient_id, item, value, skipped, "
                "answered_at) VALUES (?, ?, ?, ?, ?, ?)",
                [set_id, pid, item, v, int(v is None), at.isoformat()],
            )
    return set_id


def grc_set(h, pid: int, timepoint: str, value: int, at: datetime) -> None:
    with h.db.atomic():
        set_id = h.db.execute(
            "INSERT INTO outcome_sets (patient_id, instrument, timepoint, asked_at, closed_at, "
            "status) VALUES (?, 'grc', ?, ?, ?, 'complete')",
            [pid, timepoint, at.isoformat(), at.isoformat()],
        ).lastrowid
        h.db.execute(
            "INSERT INTO outcome_answers (set_id, patient_id, item, value, skipped, answered_at) "
            "VALUES (?, ?, 'grc', ?, 0, ?)",
            [set_id, pid, value, at.isoformat()],
        )


def test_t_quantiles_and_the_interval():
    assert t975(1) == 12.706 and t975(9) == 2.262 and t975(30) == 2.042
    assert abs(t975(40) - 2.021) < 0.001 and abs(t975(120) - 1.980) < 0.001
    c = mean_change([-2.0, -1.0, 0.0, -3.0])
    # mean -1.5, sd 1.291, t(3) 3.182: half-width 2.054
    assert c.n == 4 and c.mean == -1.5
    assert abs(c.low - (-3.554)) < 0.001 and abs(c.high - 0.554) < 0.001
    assert mean_change([1.0]).low is None and mean_change([]).mean is None


async def test_results_at_week_6_in_plain_words_with_a_chart(harness):
    h = harness
    pid = h.add_patient(course_start="2026-03-02")
    with h.db.atomic():
        flow.start_baseline(h.db, patients.existing(h.db, pid), h.clock.now())
    await tick(h)
    await answer_all(h, [6, 5, 7])  # PEG at the start: 6
    await h.send_text(USER, "gardening")
    await answer_all(h, [3])
    await h.send_text(USER, "none")
    first = {f"2026-03-0{d}": p for d, p in zip(range(2, 9), [6, 6, 7, 5, 6, 6, 7], strict=True)}
    last = {f"2026-04-{d:02d}": p for d, p in zip(range(6, 13), [4, 3, 4, 4, 5, 3, 4], strict=True)}
    rate(h, pid, {**first, **last})
    # Week 6 ends on Sunday 12 April; the questions come half an hour after the 08:00 check-in.
    h.clock.set(datetime(2026, 4, 12, 6, 31, tzinfo=UTC))
    await tick(h)
    assert "Question 1 of 3" in h.last(USER).text
    await answer_all(h, [4, 3, 4, 6])  # PEG 3.67, gardening 6
    await tick(h)
    h.clock.set(h.clock.now() + timedelta(seconds=2))  # the chart, a second later
    await tick(h)
    sent = h.api.sent_to(USER)
    text = next(s.text for s in sent if "Your results after 6 weeks" in s.text)
    assert "6.1 on average in your first week, 3.9 in the last 7 days" in text
    assert "6 at the start, 3.67 now" in text
    assert "gardening: 3 → 6" in text
    photo = sent[-1]
    assert photo.method == "sendPhoto"
    spec = json.loads(
        next(
            r["payload"]
            for r in h.db.query("SELECT payload FROM outbox WHERE kind = 'outcome_chart'")
        )
    )
    assert spec == {"timepoint": "w06"}
    chart = results.results_chart(h.db, patients.existing(h.db, pid), "w06")
    assert chart["peg"] == [["2026-03-02", 6.0], ["2026-04-12", 3.67]]
    assert len(chart["points"]) == 14
    assert "PEG score: 6, then 3.67." in photo.text
    # Once only, however often the plan ticks.
    await tick(h)
    assert sum("Your results after" in s.text for s in h.api.sent_to(USER)) == 1


async def test_nothing_is_inferred_when_the_start_was_skipped(harness):
    h = harness
    pid = h.add_patient(course_start="2026-03-02")
    with h.db.atomic():
        flow.start_baseline(h.db, patients.existing(h.db, pid), h.clock.now())
    await tick(h)
    await answer_all(h, [None, None, None])
    await h.send_text(USER, "none")
    h.clock.set(datetime(2026, 4, 12, 6, 31, tzinfo=UTC))
    await tick(h)
    await answer_all(h, [5, 5, 5])
    await tick(h)
    h.clock.set(h.clock.now() + timedelta(seconds=2))
    await tick(h)
    text = next(s.text for s in h.api.sent_to(USER) if "Your results after" in s.text)
    assert "you skipped the questions at the start, so I can't compare" in text
    assert "there aren't enough daily ratings to compare" in text
    chart = results.results_chart(h.db, patients.existing(h.db, pid), "w06")
    assert chart["peg"] == [["2026-04-12", 5.0]]


async def test_cohort_report_and_patient_outcomes_block(harness):
    h = harness
    _, code = make_clinic(h)
    await join_staff(h, code)
    cohort_id, _ = await new_cohort(h, "Tuesday group")
    joined = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    start, w6 = datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 4, 12, 9, tzinfo=UTC)
    ids = [member(h, cohort_id, 2000 + n, f"P{n}", joined) for n in range(5)]
    base = [[6, 6, 6], [8, 7, 6], [5, 5, 5], [7, None, 7], [4, 4, 4]]
    week6 = [[4, 5, 3], [7, 7, 6], [5, 5, 4], [5, 5, 5], None]
    for pid, b, f in zip(ids, base, week6, strict=True):
        peg_set(h, pid, "baseline", b, "complete" if None not in b else "partial", start)
        if f is not None:
            peg_set(h, pid, "w06", f, "complete", w6)
    grc_set(h, ids[0], "w06", 2, w6)
    grc_set(h, ids[1], "w06", 1, w6)
    grc_set(h, ids[2], "w06", 3, w6)
    h.clock.set(datetime(2026, 4, 20, 9, tzinfo=UTC))
    await h.send_text(STAFF, f"/outcomes {cohort_id}")
    text = h.last(STAFF).text
    # PEG scores: 6 -> 4, 7 -> 6.67, 5 -> 4.67 (the fourth's start is partial: no score).
    peg = mean_change([4 - 6, 6.67 - 7, 4.67 - 5])
    assert f"PEG score: change {peg.mean:+.1f}".replace("-", "−") in text
    assert f"(95% CI {peg.low:+.1f} to {peg.high:+.1f})".replace("-", "−") in text
    assert "n=3; improved 1+ point or 30%: 1 of 3" in text
    # Average pain (the PEG's first item): -2, -1, 0, -2; improved 2+ points: 2 of 4.
    assert "Average pain: change −1.2" in text and "improved 2+ points: 2 of 4" in text
    assert 'Weekly change "better" or "much better": 2 of 3' in text
    assert "5 members now; 5 answered the questions at the start." in text
    assert "<b>Week 6</b>: 5 reached it, 4 answered, 0 still open, 1 lost to follow-up." in text
    assert "<b>Week 12</b>: 0 reached it" in text
    assert "t-interval" in text
    # Another clinic's cohort, or a patient: refused as every cohort command is.
    await h.send_text(STAFF, "/outcomes 999")
    assert "Outcomes:" not in h.last(STAFF).text
    await h.send_text(2000, f"/outcomes {cohort_id}")
    assert "Outcomes:" not in h.last(2000).text
    # /patient's Outcomes block.
    await h.send_text(STAFF, f"/patient {ids[0]}")
    view = next(s.text for s in reversed(h.api.sent_to(STAFF)) if "<b>Outcomes</b>" in s.text)
    assert "• Start: PEG 6, average pain 6" in view
    assert "• Week 6: PEG 4, average pain 4" in view
    assert "• Weekly change: better (week 6)" in view
    assert date(2026, 4, 12) == results.followup_day(patients.existing(h.db, ids[0]), "w06")
