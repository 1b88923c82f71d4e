"""The dispatcher tick: claim due outbox rows, send them, record what happened to each.

Order of writes is what makes this crash-safe: a row is marked `sending` before the Bot API call
and `sent` after it. A process that dies in between leaves `sending` rows, which `outbox.recover`
returns to the queue at the next start, so the worst case is one duplicate, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError,
                            TimedOut)

from bot import chart
from bot.clock import parse_iso
from bot.localtime import DailyWindow, parse_hhmm, zone
from bot.runtime import Runtime
from bot.schedule import Expire, Postpone, send_decision
from jobs import clinic
from jobs.compose import after_sent, compose
from messages import Outgoing
from storage import outbox, patients

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6  # for errors that are not an outage (unexpected Telegram errors)
RETRY_FOR = timedelta(hours=24)  # network trouble, timeouts and 5xx: retried this long
BACKOFF_START = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=15)
CONCURRENCY = 32  # in flight at once; AIORateLimiter keeps us inside Telegram's limits


@dataclass
class DispatchReport:
    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    postponed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


def keyboard(out: Outgoing) -> InlineKeyboardMarkup | None:
    if not out.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, callback_data=data)
                                  for text, data in row] for row in out.buttons])


def retry_after_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_START * (2 ** min(max(attempts - 1, 0), 20)), BACKOFF_CAP)


def _quiet(patient: dict | None) -> tuple[DailyWindow | None, object]:
    if patient is None:
        return None, None
    tz = zone(patient["timezone"])
    if patient["quiet_from"] and patient["quiet_to"]:
        return DailyWindow(parse_hhmm(patient["quiet_from"]), parse_hhmm(patient["quiet_to"])), tz
    return None, tz


async def dispatch_due(rt: Runtime, limit: int = 500) -> DispatchReport:
    """Send everything that is due now (at most `limit` rows a tick)."""
    report = DispatchReport()
    now = rt.clock.now()
    claimed: list[tuple[dict, dict | None]] = []
    for row in outbox.due(rt.db, now, limit):
        patient = patients.get(rt.db, row["patient_id"]) if row["patient_id"] else None
        quiet, tz = _quiet(patient)
        expires = parse_iso(row["expires_at"]) if row["expires_at"] else None
        decision = send_decision(row["kind"], parse_iso(row["due_at"]), expires, now, quiet, tz)
        if isinstance(decision, Expire):
            outbox.mark_final(rt.db, row["id"], decision.status)
            report.expired.append(row["id"])
            log.info("outbox row given up", extra={"row": row["id"], "kind": row["kind"],
                                                   "status": decision.status})
        elif isinstance(decision, Postpone):
            outbox.postpone(rt.db, row["id"], decision.until)
            report.postponed.append(row["id"])
        elif outbox.claim(rt.db, row["id"], now):
            claimed.append((row, patient))
    await send_rows(rt, claimed, report)
    return report


async def dispatch_now(rt: Runtime, row_id: int) -> DispatchReport:
    """Send one row straight away (a reply to something the person just did)."""
    report = DispatchReport()
    row = outbox.get(rt.db, row_id)
    if row is not None and outbox.claim(rt.db, row_id, rt.clock.now()):
        patient = patients.get(rt.db, row["patient_id"]) if row["patient_id"] else None
        await send_rows(rt, [(row, patient)], report)
    return report


async def send_rows(rt: Runtime, claimed: list[tuple[dict, dict | None]],
                    report: DispatchReport) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(row: dict, patient: dict | None) -> None:
        async with gate:
            await _send_one(rt, row, patient, report)

    await asyncio.gather(*(one(row, patient) for row, patient in claimed))


async def _send_one(rt: Runtime, row: dict, patient: dict | None, report: DispatchReport) -> None:
    row_id, kind = row["id"], row["kind"]
    now = rt.clock.now()
    try:
        out = compose(rt.db, row, patient, now)
    except Exception:  # noqa: BLE001 - one bad row must not stop the others
        log.exception("cannot render outbox row", extra={"row": row_id, "kind": kind})
        outbox.mark_final(rt.db, row_id, "failed", "render_error")
        report.failed.append(row_id)
        return
    if out is None:
        outbox.mark_final(rt.db, row_id, "skipped")
        report.skipped.append(row_id)
        return
    try:
        if out.document is not None:
            name, content = out.document
            message = await rt.bot.send_document(row["chat_id"], content, filename=name,
                                                 caption=out.text, parse_mode=ParseMode.HTML)
        elif out.chart is not None:
            # Drawing takes a fraction of a second of CPU: keep it off the event loop.
            png = await asyncio.to_thread(chart.render_png, out.chart)
            message = await rt.bot.send_photo(row["chat_id"], png, caption=out.text,
                                              parse_mode=ParseMode.HTML)
        else:
            message = await rt.bot.send_message(row["chat_id"], out.text,
                                                parse_mode=ParseMode.HTML,
                                                reply_markup=keyboard(out))
    except RetryAfter as exc:
        # Telegram asked us to wait: not the message's fault, so it does not use up an attempt.
        wait = timedelta(seconds=retry_after_seconds(exc))
        rt.db.execute("UPDATE outbox SET attempts = attempts - 1 WHERE id = ?", [row_id])
        outbox.mark_retry(rt.db, row_id, rt.clock.now() + wait, "retry_after")
        report.retried.append(row_id)
        log.warning("rate limited", extra={"row": row_id, "kind": kind,
                                           "wait_s": wait.total_seconds()})
    except Forbidden:
        outbox.mark_final(rt.db, row_id, "failed", "forbidden")
        pid = patients.mark_unreachable(rt.db, row["chat_id"], rt.clock.now(), "blocked")
        _alert_unreachable(rt, pid)
        report.failed.append(row_id)
        rt.notify("unreachable", patient_id=pid, chat_id=row["chat_id"])
        log.info("recipient blocked the bot", extra={"row": row_id, "patient": pid})
    except BadRequest as exc:
        if "chat not found" in exc.message.lower():
            pid = patients.mark_unreachable(rt.db, row["chat_id"], rt.clock.now(), "chat_not_found")
            _alert_unreachable(rt, pid)
            rt.notify("unreachable", patient_id=pid, chat_id=row["chat_id"])
        outbox.mark_final(rt.db, row_id, "failed", "bad_request")
        report.failed.append(row_id)
        log.error("bad request", extra={"row": row_id, "kind": kind})
    except (TimedOut, NetworkError) as exc:  # TimedOut is a NetworkError; both may be passing
        error = "timeout" if isinstance(exc, TimedOut) else "network"
        if rt.clock.now() - parse_iso(row["due_at"]) >= RETRY_FOR:
            outbox.mark_final(rt.db, row_id, "failed", error)
            report.failed.append(row_id)
            log.error("giving up after retries", extra={"row": row_id, "kind": kind})
        else:
            outbox.mark_retry(rt.db, row_id, rt.clock.now() + backoff(row["attempts"] + 1), error)
            report.retried.append(row_id)
            log.warning("send failed, will retry", extra={"row": row_id, "kind": kind,
                                                           "error": error})
    except TelegramError as exc:  # InvalidToken, ChatMigrated, Conflict: not this message's fault
        error = type(exc).__name__
        if row["attempts"] + 1 >= MAX_ATTEMPTS:
            outbox.mark_final(rt.db, row_id, "failed", error)
            report.failed.append(row_id)
        else:
            outbox.mark_retry(rt.db, row_id, rt.clock.now() + backoff(row["attempts"] + 1), error)
            report.retried.append(row_id)
        log.error("unexpected Telegram error", extra={"row": row_id, "kind": kind, "error": error})
    else:
        sent_at = rt.clock.now()
        with rt.db.atomic():
            outbox.mark_sent(rt.db, row_id, sent_at, message.message_id)
            after_sent(rt.db, row, sent_at)
        report.sent.append(row_id)
        rt.notify("sent", row=row, message_id=message.message_id, at=sent_at, meta=out.meta)
        log.info("sent", extra={"row": row_id, "kind": kind})


def _alert_unreachable(rt: Runtime, patient_id: int | None) -> None:
    """A patient we can no longer reach: their clinic is told (once a day at most)."""
    patient = patients.get(rt.db, patient_id) if patient_id else None
    if patient is not None:
        clinic.alert(rt.db, patient, "blocked", rt.clock.now())


def next_due(rt: Runtime) -> datetime | None:
    """When the next pending row becomes due (the simulator jumps its clock there)."""
    rows = list(rt.db.query("SELECT min(max(due_at, coalesce(next_attempt_at, due_at))) AS t "
                            "FROM outbox WHERE status = 'pending'"))
    return parse_iso(rows[0]["t"]) if rows and rows[0]["t"] else None
