"""/mydata and /delete: everything about a person, exported; then everything removed."""

from __future__ import annotations

import csv
import io
import json

from storage import caregivers, checkins, privacy
from tests.test_caregivers import accept, invite
from tests.test_sessions import USER, do_session, press, setup


def test_every_table_is_either_personal_or_declared_not(fresh_db):
    tables = set(fresh_db.table_names())
    assert tables - set(privacy.PERSONAL_TABLES) - privacy.NOT_PERSONAL == set()


async def busy_patient(h):
    pid, ids = setup(h, ("walk", 20))
    await h.send_text(USER, "/checkin")
    await press(h, h.last(USER), "c:", 4)
    await do_session(h, ids["walk"], before=None, after=5)  # B from the check-in
    await accept(h, await invite(h))
    return pid


async def test_mydata_sends_json_and_csv_with_every_row(harness):
    await busy_patient(harness)
    await harness.send_text(USER, "/mydata")
    await harness.tick()
    docs = [s for s in harness.api.sent_to(USER) if s.method == "sendDocument"]
    assert len(docs) == 2
    data = json.loads(next(d for d in docs if "JSON" in d.text).params["_bytes"])
    assert [r["pain"] for r in data["checkins"]] == [4]
    assert [(r["before"], r["after"]) for r in data["sessions"]] == [(4, 5)]
    assert len(data["caregivers"]) == 1
    rows = list(
        csv.DictReader(
            io.StringIO(next(d for d in docs if "CSV" in d.text).params["_bytes"].decode())
        )
    )
    assert {
        "table": "checkins",
        "row": str(data["checkins"][0]["id"]),
        "column": "pain",
        "value": "4",
    } in rows


async def test_delete_needs_confirmation_then_removes_every_row(harness):
    pid = await busy_patient(harness)
    await harness.send_text(USER, "/delete")
    await press(harness, harness.last(USER), "del:no")
    assert checkins.for_date(harness.db, pid, "2026-03-02") is not None
    await harness.send_text(USER, "/delete")
    await press(harness, harness.last(USER), "del:yes")
    assert "I deleted" in harness.last(USER).text
    left = privacy.collect(harness.db, pid, USER, USER)
    # Only the receipt just sent remains: a row in the outbox with no patient and no ratings.
    assert {t: rows for t, rows in left.items() if rows} == {"outbox": left["outbox"]}
    assert all(r["patient_id"] is None and "/10" not in r["payload"] for r in left["outbox"])
    assert caregivers.active_for_user(harness.db, 2002) == []
    await harness.tick()  # nothing is planned or sent for them any more
    assert list(harness.db.query("SELECT * FROM outbox WHERE status = 'pending'")) == []
