"""Turn an outbox row into the message a person sees (scheduled kinds render at send time)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from bot.localtime import zone
from messages import Outgoing, label, rating_rows, render
from storage import checkins

# The scheduled daily question, and the same question asked for with /checkin.
CHECKIN_KINDS = ("checkin", "checkin_asked")


def part_of_day(moment: datetime, tz_name: str) -> str:
    hour = moment.astimezone(zone(tz_name)).hour
    return "morning" if 4 <= hour < 12 else "afternoon" if hour < 18 else "evening"


def compose(db: Database, row: dict, patient: dict | None, now: datetime) -> Outgoing | None:
    """The message for `row`, or None when it no longer makes sense (e.g. today is already rated)."""
    payload = json.loads(row["payload"])
    if "text" in payload:  # replies are rendered when they are written, with the answer they follow
        return Outgoing.from_payload(payload)
    if row["kind"] in CHECKIN_KINDS and patient is not None:
        if checkins.for_date(db, patient["id"], payload["local_date"]) is not None:
            return None
        text = render("checkin", name=patient["first_name"],
                      part_of_day=part_of_day(now, patient["timezone"]))
        return Outgoing(text, rating_rows(f"c:{row['id']}"))
    if row["kind"] == "sitting":
        rid = row["id"]
        return Outgoing(render("sitting", variant=rid),
                        [[(label("sitting_done"), f"s:{rid}:done"),
                          (label("sitting_snooze"), f"s:{rid}:snooze")],
                         [(label("sitting_off"), f"s:{rid}:off")]])
    raise ValueError(f"no composer for outbox kind {row['kind']!r}")


def after_sent(db: Database, row: dict, now: datetime) -> None:
    """What sending a row means for the conversation: a check-in makes typed numbers its answers."""
    if row["kind"] in CHECKIN_KINDS and row["patient_id"] is not None:
        checkins.set_awaiting(db, row["patient_id"], "checkin", str(row["id"]), now)
