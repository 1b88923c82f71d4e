"""Retention: message texts that can hold ratings and names are scrubbed after
OUTBOX_RETENTION_DAYS, finished rows about nobody and stale invite data are removed, and nothing
the bot still reads is touched. Virtual clock; the job function is called as the hourly tick
would call it."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.app import build_application
from bot.settings import load_settings
from bot.simulator.runner import SIM_TOKEN
from jobs.plan import record_missed_days
from jobs.retention import purge_old
from storage import checkins, outbox
from tests.test_caregivers import CARER, accept, invite, open_link
from tests.test_sessions import USER, do_session, press, setup

STRANGER = 5555


def rows(h, where="1", params=()):
    return list(h.db.query(f"SELECT * FROM outbox WHERE {where} ORDER BY id", list(params)))


async def test_old_texts_are_scrubbed_and_what_the_bot_reads_is_kept(harness):
    h = harness
    pid, ids = setup(h, ("walk", 20))
    h.clock.set(h.clock.now().replace(day=3, hour=7, minute=0))  # Tue 08:00 Berlin
    await h.tick()
    await press(h, h.last(USER), "c:", 7)  # "Thanks, noted: 7/10" is a reply row
    await do_session(h, ids["walk"], before=None, after=8)
    await h.send_text(STRANGER, "hello")  # a reply to someone who is not a patient
    await open_link(h, "not-a-real-code", user=CARER)  # a failed invite attempt
    await invite(h)  # an invite nobody uses
    await h.send_text(USER, "/pause")  # a reply row left pending (cancelled) would be resent
    outbox.enqueue(
        h.db,
        chat_id=USER,
        patient_id=pid,
        kind="advice",
        due_at=h.clock.now(),
        now=h.clock.now(),
        dedupe_key="advice:kept-back",
        payload={"text": "Your walk: 8/10 during"},
    )
    h.db.execute("UPDATE outbox SET status = 'cancelled' WHERE dedupe_key = 'advice:kept-back'")
    with_text = rows(h, "patient_id = ? AND json_extract(payload, '$.text') LIKE '%7/10%'", [pid])
    assert with_text, "the acknowledgement should carry the rating"
    checkin_row = rows(h, "kind = 'checkin'")[0]

    # Inside the window nothing changes (but failed invite attempts only live 15 minutes).
    h.clock.advance(timedelta(days=29))
    before = rows(h)
    done = purge_old(h.rt)
    assert rows(h) == before
    assert done["invite_failures"] == 1
    assert h.db.execute("SELECT count(*) FROM invite_failures").fetchone()[0] == 0

    h.clock.advance(timedelta(days=2))  # past OUTBOX_RETENTION_DAYS (30) for all of them
    done = purge_old(h.rt)
    assert done["outbox_scrubbed"] >= 3 and done["outbox_unowned"] >= 1
    assert done["invites"] == 0  # it expired 7 days after it was made: 24 days ago
    left = rows(h)
    assert all("7/10" not in r["payload"] and "8/10" not in r["payload"] for r in left)
    assert rows(h, "patient_id IS NULL") == []  # the stranger's reply is gone
    for r in left:
        if r["kind"] in ("reply", "advice"):
            assert r["payload"] == "{}"
    kept_back = rows(h, "dedupe_key = 'advice:kept-back'")[0]
    assert (kept_back["status"], kept_back["last_error"]) == ("expired", "retention")
    # Scheduled rows keep their ids and dates: the missed-day rule and old buttons read them.
    assert outbox.get(h.db, checkin_row["id"])["payload"] == checkin_row["payload"]
    assert json.loads(outbox.get(h.db, checkin_row["id"])["payload"])["local_date"]
    record_missed_days(h.rt)
    assert checkins.for_date(h.db, pid, "2026-03-03")["pain"] == 7  # the stored answers stay
    # An old button still gets its kind answer, not a crash.
    await h.tap(USER, f"c:{checkin_row['id']}:5", 1)
    assert h.last(USER).text
    h.clock.advance(timedelta(days=7))
    assert purge_old(h.rt) == {
        "outbox_unowned": 0,
        "outbox_scrubbed": 0,
        "invites": 1,
        "invite_failures": 0,
    }
    assert h.db.execute("SELECT count(*) FROM invites").fetchone()[0] == 0


async def test_pending_and_recent_rows_and_used_invites_are_never_touched(harness):
    h = harness
    pid = h.add_patient()
    await accept(h, await invite(h))  # used: the caregiver link points at it
    h.clock.advance(timedelta(days=40))
    future = h.clock.now() + timedelta(hours=1)
    outbox.enqueue(
        h.db,
        chat_id=USER,
        patient_id=pid,
        kind="reply",
        due_at=future,
        now=h.clock.now(),
        dedupe_key="reply:later",
        payload={"text": "soon: 3/10"},
    )
    purge_old(h.rt)
    assert rows(h, "dedupe_key = 'reply:later'")[0]["payload"] != "{}"
    assert h.db.execute("SELECT count(*) FROM invites WHERE used_at IS NOT NULL").fetchone()[0] == 1


def test_the_retention_tick_is_scheduled_hourly(clock, fresh_db, db_path):
    settings = load_settings(
        environ={"OUTBOX_RETENTION_DAYS": "7"},
        dotenv=None,
        TELEGRAM_BOT_TOKEN=SIM_TOKEN,
        DATABASE_PATH=db_path,
    )
    assert settings.OUTBOX_RETENTION_DAYS == 7
    app = build_application(settings, clock, db=fresh_db, rate_limit=False)
    [job] = app.job_queue.get_jobs_by_name("retention")
    assert job.trigger.interval == timedelta(hours=1)
