"""Flare days (issue 15, docs/clinical-rules.md "Flare days"): a check-in of 7 or more, or 3 or
more above the person's mean of the 7 days before, offers "for today, about half of each
activity" with the lowered doses. Accepted, a session started that day is planned and judged at
the lowered dose (`dose_today`, read by jobs.sessions); declined, nothing changes. The offer and
the choice are events (`flare_offered`, `flare_accepted`, `flare_declined`, with the local date),
so nothing new is stored about the person beyond the audit log that /delete already removes.
No telegram here; the button is handlers.flare."""

from __future__ import annotations

from datetime import date, timedelta

from bot.rules import pacing
from bot.rules.callbacks import encode
from bot.rules.localtime import local_date, zone
from messages import Outgoing, label, render
from storage import activities, checkins, events

OFFERED, ACCEPTED, DECLINED = "flare_offered", "flare_accepted", "flare_declined"


def _today(rt, patient: dict) -> str:
    return local_date(rt.clock.now(), zone(patient["timezone"])).isoformat()


def recent_ratings(db, patient_id: int, day: str) -> list[int]:
    """The person's ratings of the 7 days before `day` (a local ISO date)."""
    since = (date.fromisoformat(day) - timedelta(days=7)).isoformat()
    return [
        r["pain"]
        for r in checkins.recent(db, patient_id, since)
        if r["local_date"] < day and r["pain"] is not None and r["status"] == "answered"
    ]


def _latest(db, patient_id: int, day: str) -> dict | None:
    """The latest of offered / accepted / declined for this local day, if any."""
    found = [
        e
        for kind in (OFFERED, ACCEPTED, DECLINED)
        for e in events.for_patient(db, patient_id, kind)
        if e["data"].get("local_date") == day
    ]
    return max(found, key=lambda e: e["id"]) if found else None


def _choice(db, patient_id: int, day: str) -> str | None:
    latest = _latest(db, patient_id, day)
    return latest["kind"] if latest else None


def _withdrawn(db, patient_id: int, day: str) -> bool:
    """Was the day's latest choice the withdrawal a correction made (not the person's own)?"""
    latest = _latest(db, patient_id, day)
    return (
        latest is not None and latest["kind"] == DECLINED and bool(latest["data"].get("corrected"))
    )


def accepted(db, patient_id: int, day: str) -> bool:
    """Did the person take the lower doses for this local day?"""
    return _choice(db, patient_id, day) == ACCEPTED


def dose_today(db, patient: dict, activity: dict, day: str) -> int:
    """The dose to plan and judge a session by on `day`: about half on an accepted flare day."""
    dose = activity["dose_minutes"]
    return pacing.flare_dose(dose) if accepted(db, patient["id"], day) else dose


def _items(db, patient: dict, day: str) -> list[dict]:
    return [
        {
            "id": a["id"],
            "name": a["name"],
            "dose": a["dose_minutes"],
            "low": pacing.flare_dose(a["dose_minutes"]),
        }
        for a in activities.for_patient(db, patient["id"])
        if not activities.is_paused(a, day)
    ]


def flare_reply(rt, patient: dict, rating: int, day: str) -> list[Outgoing]:
    """Inside the check-in's transaction, after today's plan: the flare-day offer, or nothing
    (not a flare day, not today's check-in, prompts paused, no activity to lower, or offered
    already today)."""
    if day != _today(rt, patient) or patient.get("status") != "active":
        return []  # a late answer for an earlier day (that day is over), or prompts paused
    recent = recent_ratings(rt.db, patient["id"], day)
    if not pacing.is_flare_day(rating, recent) or _choice(rt.db, patient["id"], day) is not None:
        return []
    return _offer(rt, patient, rating, day, recent)


def _offer(rt, patient: dict, rating: int, day: str, recent: list[int]) -> list[Outgoing]:
    items = _items(rt.db, patient, day)
    if not items:
        return []
    mean = round(sum(recent) / len(recent), 1) if recent else None
    events.record(
        rt.db, rt.clock.now(), OFFERED, patient["id"], local_date=day, rating=rating, mean=mean
    )
    high = rating >= pacing.FLARE_RATING
    return [
        Outgoing(
            render("flare_offer", items=items, high=high),
            [
                [(label("flare_use"), encode("fl", day, "use"))],
                [(label("flare_keep"), encode("fl", day, "keep"))],
            ],
        )
    ]


def after_correction(rt, patient: dict, rating: int, day: str) -> list[Outgoing]:
    """Today's check-in was corrected to `rating` (inside the correction's transaction). Now a
    flare day: the offer, if none was made today. No longer one: an open offer is withdrawn and
    accepted lower doses go back to the usual ones (`flare_declined` with `corrected`), said so;
    the sessions already judged stay as they were judged."""
    if day != _today(rt, patient) or patient.get("status") != "active":
        return []
    recent = recent_ratings(rt.db, patient["id"], day)
    choice = _choice(rt.db, patient["id"], day)
    if pacing.is_flare_day(rating, recent):
        if choice is None or _withdrawn(rt.db, patient["id"], day):
            return _offer(rt, patient, rating, day, recent)  # first, or again after a withdrawal
        return []
    if choice not in (OFFERED, ACCEPTED):
        return []
    events.record(rt.db, rt.clock.now(), DECLINED, patient["id"], local_date=day, corrected=True)
    return [Outgoing(render("flare_withdrawn", pain=rating, accepted=choice == ACCEPTED))]


def is_open(rt, patient: dict, day: str) -> bool:
    """Is the offer for `day` today's, and not answered yet?"""
    return day == _today(rt, patient) and _choice(rt.db, patient["id"], day) == OFFERED


def choose(rt, patient: dict, day: str, use: bool) -> Outgoing | None:
    """The answer to an open offer (see `is_open`): lower doses for today, and today's plan at
    them; or None for the usual plan (the caller shows it)."""
    events.record(
        rt.db, rt.clock.now(), ACCEPTED if use else DECLINED, patient["id"], local_date=day
    )
    if not use:
        return None
    items = _items(rt.db, patient, day)
    rows = [[(label("activity_start", name=i["name"]), encode("a:s", i["id"]))] for i in items]
    rows.append([(label("activity_log"), encode("a:l"))])
    return Outgoing(render("flare_plan", items=items), rows)
