"""Caregivers and weekly summaries: invites, consent, revocation, figures and the chart."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.rules.localtime import zone
from bot.rules.weekly import mean, week_days
from bot.simulator.runner import Simulation
from bot.simulator.scenario import load_scenario
from jobs.dispatch import dispatch_due
from jobs.plan import plan_all
from storage import caregivers, checkins, invites
from tests.test_sessions import button, press

PATIENT, CARER, OTHER = 1001, 2002, 3003
LINK = re.compile(r"https://t\.me/(\w+)\?start=cg_([\w-]+)")


async def invite(h, kind="s") -> str:
    await h.send_text(PATIENT, "/caregiver")
    menu = h.last(PATIENT)
    assert "never see your day-by-day ratings" in menu.text
    await press(h, menu, f"cg:i:{kind}")
    found = LINK.search(h.last(PATIENT).text)
    assert found, h.last(PATIENT).text
    return found.group(2)


async def open_link(h, code, user=CARER):
    await h.send_text(user, f"/start cg_{code}", first_name="Tom")
    return h.last(user)


async def accept(h, code, user=CARER):
    offer = await open_link(h, code, user)
    await h.tap(user, button(offer, "cgj:", "y"), offer.message_id)
    return h.last(user)


async def tick(h):
    plan_all(h.rt)
    return await dispatch_due(h.rt)


async def test_invite_open_accept_and_pick_a_time_zone(harness):
    pid = harness.add_patient()
    code = await invite(harness, "a")
    assert invites.usable(harness.db, code, "caregiver", harness.clock.now(), CARER) is not None
    assert code not in json.dumps(list(harness.db.query("SELECT * FROM invites")))  # hash only
    offer = await open_link(harness, code)
    assert "Ana" in offer.text and "What you won't get" in offer.text
    assert "day-by-day ratings" in offer.text and "warning sign" in offer.text
    joined = await accept(harness, code)
    assert "every Sunday around 18:00" in joined.text
    [carer] = caregivers.active_for_patient(harness.db, pid)
    assert carer["user_id"] == CARER and carer["alerts"] == 1
    assert carer["timezone"] == "Europe/Berlin"
    await press_user(harness, CARER, f"cgz:{carer['id']}:America/New_York")
    assert caregivers.get(harness.db, carer["id"])["timezone"] == "America/New_York"
    await harness.send_text(PATIENT, "/caregiver")
    assert "Linked now:" in harness.last(PATIENT).text
    assert "(summary and warning-sign alert)" in harness.last(PATIENT).text


async def test_reused_expired_revoked_wrong_and_guessed_invites_get_the_same_refusal(
    harness, clock
):
    harness.add_patient()
    refusals = []
    used = await invite(harness)
    await accept(harness, used)
    refusals.append((await open_link(harness, used, OTHER)).text)  # reused
    expired = await invite(harness)
    clock.advance(timedelta(days=7, minutes=1))
    refusals.append((await open_link(harness, expired, OTHER)).text)
    cancelled = await invite(harness)
    await harness.send_text(PATIENT, "/caregiver")
    await press(harness, harness.last(PATIENT), "cg:c:")
    refusals.append((await open_link(harness, cancelled, OTHER)).text)
    refusals.append((await open_link(harness, "guessed-code-123", OTHER)).text)
    opened = await invite(harness)
    await open_link(harness, opened, CARER)
    refusals.append((await open_link(harness, opened, OTHER)).text)  # opened by someone else
    assert len(set(refusals)) == 1 and "can't be used" in refusals[0]
    assert len(caregivers.active_for_patient(harness.db, 1)) == 1


async def test_repeated_guessing_is_slowed_down(harness, clock):
    harness.add_patient()
    good = await invite(harness)
    for n in range(5):
        await open_link(harness, f"guess-{n}", OTHER)
    assert "can't be used" in (await open_link(harness, good, OTHER)).text  # even a good one
    clock.advance(timedelta(minutes=16))
    assert "What you'd get" in (await open_link(harness, good, OTHER)).text


async def test_forged_caregiver_buttons_are_refused(harness):
    pid = harness.add_patient()
    other = harness.add_patient(user_id=OTHER)
    code = await invite(harness)
    await accept(harness, code)
    [carer] = caregivers.active_for_patient(harness.db, pid)
    for data in (
        f"cg:r:{carer['id']}",
        f"cgz:{carer['id']}:Europe/London",
        "cgj:1:y",
        "cg:x:99999999999",
        "cg:i:z",
        "cg:c:1",
    ):
        await harness.tap(OTHER, data)
        assert "expired" in harness.last(OTHER).text or "can't be used" in harness.last(OTHER).text
    assert caregivers.get(harness.db, carer["id"])["ended_at"] is None
    assert caregivers.get(harness.db, carer["id"])["timezone"] == "Europe/Berlin"
    assert other


async def summary_setup(h, clock):
    pid = h.add_patient(start_date="2026-03-02")
    code = await invite(h)
    await accept(h, code)
    for day, pain in zip(range(2, 16), [5, 6, 4, 5, 5, 6, 4, 3, 4, 3, 3, 2, 4, 3], strict=True):
        checkins.record_answer(h.db, pid, f"2026-03-{day:02d}", pain, clock.now())
    checkins.record_missed(h.db, pid, "2026-03-13")
    h.db.execute("DELETE FROM checkins WHERE local_date = '2026-03-12'")
    return pid


async def test_consent_withdrawn_a_minute_before_means_no_summary_for_that_caregiver(
    harness, clock
):
    pid = await summary_setup(harness, clock)
    clock.set(datetime(2026, 3, 15, 16, 0, tzinfo=zone("UTC")))  # Sun 17:00 Berlin
    plan_all(harness.rt)
    [carer] = caregivers.active_for_patient(harness.db, pid)
    clock.set(datetime(2026, 3, 15, 16, 59, tzinfo=zone("UTC")))  # one minute before
    await harness.send_text(CARER, "/caregiver")
    await press_user(harness, CARER, f"cg:x:{carer['id']}")
    clock.set(datetime(2026, 3, 15, 17, 0, tzinfo=zone("UTC")))
    await tick(harness)
    clock.advance(timedelta(hours=2))
    await tick(harness)
    assert not any("Ana's week" in t for t in harness.texts(CARER))
    assert any("Your week" in t for t in harness.texts(PATIENT))


async def press_user(h, user, prefix):
    message = h.last(user)
    await h.tap(user, button(message, prefix), message.message_id)
    return h.last(user)


async def test_summary_figures_match_the_ratings_in_the_database(harness, clock):
    pid = await summary_setup(harness, clock)
    clock.set(datetime(2026, 3, 15, 16, 0, tzinfo=zone("UTC")))
    plan_all(harness.rt)
    clock.set(datetime(2026, 3, 15, 17, 0, tzinfo=zone("UTC")))
    await tick(harness)
    text = next(t for t in harness.texts(PATIENT) if "Your week" in t)
    rows = {
        date.fromisoformat(r["local_date"]): r["pain"]
        for r in harness.db.query(
            "SELECT local_date, pain FROM checkins WHERE patient_id = ? AND status = 'answered'",
            [pid],
        )
    }
    this = [rows[d] for d in week_days(date(2026, 3, 15)) if d in rows]
    last = [rows[d] for d in week_days(date(2026, 3, 8)) if d in rows]
    assert f"Check-ins answered: <b>{len(this)} of 7</b>" in text
    assert f"Average pain: <b>{mean(this)}/10</b>" in text
    change = round(mean(this) - mean(last), 1)
    assert f"{abs(change)} {'lower' if change < 0 else 'higher'} than last week" in text
    # The caregiver's copy: weekly figures only, no chart, no day-by-day ratings.
    clock.set(datetime(2026, 3, 15, 23, 0, tzinfo=zone("UTC")))
    await tick(harness)
    carer_texts = harness.texts(CARER)
    copy = next(t for t in carer_texts if "Ana's week" in t)
    assert f"Average pain: <b>{mean(this)}/10</b>" in copy and "How you can help" in copy
    assert "complete rest" in copy
    assert not [s for s in harness.api.sent_to(CARER) if s.method == "sendPhoto"]
    photos = [s for s in harness.api.sent_to(PATIENT) if s.method == "sendPhoto"]
    assert len(photos) == 1 and "Chart of your daily pain" in photos[0].text


async def test_a_red_flag_alerts_only_caregivers_who_chose_it(harness, clock):
    harness.add_patient()
    await accept(harness, await invite(harness, "a"))
    await accept(harness, await invite(harness, "s"), OTHER)
    await harness.send_text(PATIENT, "/urgent")
    await press(harness, harness.last(PATIENT), "u:emergency:yes")
    await dispatch_due(harness.rt)
    assert "reported a warning sign" in harness.last(CARER).text
    assert not any("warning sign" in t for t in harness.texts(OTHER)[1:] if "reported" in t)


@pytest.mark.slow
async def test_three_weeks_with_a_caregiver_in_another_time_zone(tmp_path):
    scenario = load_scenario(Path(__file__).parent / "scenarios" / "caregiver_three_weeks.yaml")
    sim = Simulation(scenario, db_path=tmp_path / "sim.sqlite3")
    lines = await sim.run()
    summaries = [line for line in lines if line["dir"] == "event" and line["kind"] == "summary"]
    by_recipient = Counter(line["data"]["recipient"] for line in summaries)
    assert by_recipient == {"patient": 3, "caregiver:tom": 3}  # each week once, to each
    for line in summaries:
        tz = "Europe/Berlin" if line["data"]["recipient"] == "patient" else "America/New_York"
        moment = datetime.fromisoformat(line["t"]).astimezone(zone(tz))
        assert (moment.strftime("%a"), moment.hour, moment.minute) == ("Sun", 18, 0)
    # Both copies of a week carry the same figures, recomputed here from the database.
    pid = sim.patient_ids["maria"]
    rows = {
        date.fromisoformat(r["local_date"]): r["pain"]
        for r in sim.db.query(
            "SELECT local_date, pain FROM checkins WHERE patient_id = ? AND status = 'answered'",
            [pid],
        )
    }
    for line in summaries:
        f = line["data"]["figures"]
        this = [rows[d] for d in week_days(date.fromisoformat(f["week_end"])) if d in rows]
        assert (f["answered"], f["average"]) == (len(this), mean(this))
    charts = [line for line in lines if line["dir"] == "out" and line["kind"] == "chart"]
    assert len(charts) == 3 and all(line["chat_id"] == 1001 for line in charts)
    last_photo = [s for s in sim.api.sent if s.method == "sendPhoto"][-1]
    png = last_photo.params["_bytes"]
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 20_000 < len(png) < 500_000
    image = Image.open(io.BytesIO(png))
    assert image.size == (1000, 600)
    plotted = json.loads(image.text["Description"])
    assert {date.fromisoformat(d): p for d, p in plotted["points"]} == {
        d: p for d, p in rows.items() if d <= date(2026, 3, 22)
    }
    verdicts = Counter(v for _, v in plotted["sessions"])
    assert verdicts == Counter(
        r["verdict"]
        for r in sim.db.query(
            "SELECT verdict FROM sessions WHERE stage = 'decided' "
            "AND started_at < '2026-03-22T23:00'"
        )
    )


def test_a_caregiver_never_sees_an_average_that_is_one_days_rating():
    from bot.rules.weekly import week_figures
    from messages import render

    few = week_figures(
        {date(2026, 3, 10): 7, date(2026, 3, 12): 5}, date(2026, 3, 15), date(2026, 3, 2), [], 0, 0
    )
    assert "/10" not in render("summary", f=few, name="Ana", caregiver=True, carer_name="Tom")
    assert "6.0/10" in render("summary", f=few, name="Ana", caregiver=False)
