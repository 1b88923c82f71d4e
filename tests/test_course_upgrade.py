"""People already past week 1 when the course gained its warning-sign lessons get them once."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import iso
from jobs.dispatch import dispatch_due
from storage import lessons
from storage.migrations import m011_warning_sign_lessons_again

SIGNS_NOW = "back passage"  # w01-03 lists the emergency signs
SIGNS_SOON = "weight loss"  # w01-04 lists the see-a-doctor-soon signs


def _received(h, pid: int, *ids: str) -> None:
    for n, lesson_id in enumerate(ids):
        lessons.record_sent(h.db, pid, lesson_id, None, h.clock.now() - timedelta(days=20 - n))


async def test_someone_past_the_old_lessons_gets_both_new_ones_once_without_buttons(harness):
    h = harness
    past = h.add_patient(1001)
    _received(h, past, "w01-01", "w01-02", "w01-03", "w01-04", "w02-01")
    early = h.add_patient(1002)
    _received(h, early, "w01-01", "w01-02")  # will reach the new w01-03 in its own time
    withdrawn = h.add_patient(1003, status="withdrawn")
    _received(h, withdrawn, "w01-01", "w01-02", "w01-03")

    m011_warning_sign_lessons_again(h.db)
    m011_warning_sign_lessons_again(h.db)  # a second run adds nothing
    await dispatch_due(h.rt)

    sent = h.api.sent_to(1001)
    assert len(sent) == 2
    assert SIGNS_NOW in sent[0].text and SIGNS_SOON in sent[1].text
    assert all(s.buttons == [] for s in sent)
    assert h.api.sent_to(1002) == [] and h.api.sent_to(1003) == []


async def test_the_catch_up_waits_for_the_end_of_quiet_hours(harness):
    h = harness
    h.clock.set(h.clock.now().replace(hour=22))  # 23:00 in Berlin, inside 21:30-07:30
    pid = h.add_patient(1001)
    _received(h, pid, "w01-03")
    m011_warning_sign_lessons_again(h.db)
    await dispatch_due(h.rt)
    assert h.api.sent_to(1001) == []
    row = h.db.execute("SELECT next_attempt_at FROM outbox WHERE patient_id = ?", [pid]).fetchone()
    assert row[0] is not None and row[0] > iso(h.clock.now())
