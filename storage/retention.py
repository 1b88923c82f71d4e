"""Retention: what the outbox and the invite tables keep only for a while.

Reply rows (and advice and caregiver alerts) keep their rendered text, which can carry a rating
("Thanks, noted: 7/10"), a first name or a settings summary. That text is needed only until the
message is sent and, for a redelivered update, a little longer. After the retention window:

* the payload of every finished row that carries rendered text is scrubbed to '{}'; a cancelled
  one becomes expired, since a row without its text can never be sent (/resume would otherwise
  queue it again);
* finished rows about nobody (replies to visitors and strangers, deletion receipts) are deleted;
* caregiver invites that expired (or were cancelled) unused that long ago are deleted.

Rows whose payload is only ids and dates are kept as they are: `jobs.plan.record_missed_days`
reads a sent check-in's `local_date`, and the check-in, sitting and lesson buttons read theirs
when tapped, however late. Failed invite attempts are needed for `invites.FAILURE_WINDOW` only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from bot.clock import iso
from storage.invites import FAILURE_WINDOW

FINISHED = ("sent", "expired", "cancelled", "failed", "dropped", "skipped")


def purge(db: Database, now: datetime, days: int) -> dict[str, int]:
    """Apply the retention rule once; returns how many rows each step touched (for the log)."""
    cutoff = iso(now - timedelta(days=days))
    marks = ", ".join("?" for _ in FINISHED)
    # The moment a row stopped mattering: when it was sent, or when it was due.
    old = f"status IN ({marks}) AND coalesce(sent_at, due_at) < ?"
    with db.atomic():
        done = {
            "outbox_unowned": db.execute(
                f"DELETE FROM outbox WHERE patient_id IS NULL AND {old}", [*FINISHED, cutoff]
            ).rowcount,
            "outbox_scrubbed": db.execute(
                "UPDATE outbox SET payload = '{}', "
                "last_error = CASE WHEN status = 'cancelled' THEN 'retention' ELSE last_error END, "
                "status = CASE WHEN status = 'cancelled' THEN 'expired' ELSE status END "
                f"WHERE {old} AND json_extract(payload, '$.text') IS NOT NULL",
                [*FINISHED, cutoff],
            ).rowcount,
            "invites": db.execute(
                "DELETE FROM invites WHERE used_at IS NULL AND "
                "coalesce(revoked_at, expires_at) < ? AND expires_at < ?",
                [cutoff, cutoff],
            ).rowcount,
            "invite_failures": db.execute(
                "DELETE FROM invite_failures WHERE at < ?", [iso(now - FAILURE_WINDOW)]
            ).rowcount,
        }
    return done
