"""Caregivers: the patient's /caregiver (invite, list, revoke) and the caregiver's side (open the
link, see exactly what they will get, accept, choose their time zone, stop at any time)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules.callbacks import decode, encode
from bot.rules.localtime import local_date, local_to_utc, parse_hhmm, zone
from bot.rules.onboarding_rules import TZ_PRESETS
from bot.rules.schedule import WEEKDAYS
from handlers.common import (
    answer_callback,
    clear_buttons,
    current_chat,
    patient_of,
    reply,
    respond,
    runtime,
    sender,
    tapped,
)
from jobs.dispatch import dispatch_now
from jobs.plan import replan_patient
from jobs.summary import caregiver_due
from messages import Outgoing, label, render
from storage import caregivers, events, invites, outbox, patients

INVITE_VALID = timedelta(days=7)
START_PREFIX = "cg_"
SCOPES = {"s": "summary", "a": "summary_alerts"}
# "Other…" in the caregiver's time-zone step: more zones, one tap each (a caregiver has no
# set-up conversation to type a city into). Labels: the city part of the name.
MORE_ZONES = (
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Istanbul",
    "Europe/Moscow",
    "Africa/Lagos",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Singapore",
    "Asia/Hong_Kong",
    "Asia/Tokyo",
    "Australia/Perth",
    "Pacific/Auckland",
    "America/Halifax",
    "America/Denver",
    "America/Mexico_City",
    "America/Sao_Paulo",
    "America/Anchorage",
    "Pacific/Honolulu",
)
CAREGIVER_ZONES = (*TZ_PRESETS, *MORE_ZONES)
OTHER = "other"
DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


def bot_username(rt) -> str:
    """For deep links: the configured username, else the one Telegram told us at start-up."""
    if rt.settings.TELEGRAM_BOT_USERNAME:
        return rt.settings.TELEGRAM_BOT_USERNAME.lstrip("@")
    try:
        return rt.bot.username
    except Exception:  # noqa: BLE001 - not initialised (e.g. offline): a placeholder link
        return "your_bot"


def carer_schedule(owner: dict, tz_name: str, now: datetime) -> tuple[str, str]:
    """The weekday and time the caregiver's copy really arrives, in their own zone: the first
    `summary_time` there at or after the patient's summary (it may be the next day east of them)."""
    tz, at = zone(owner["timezone"]), parse_hhmm(owner["summary_time"])
    day = local_date(now, tz)
    for _ in range(6):  # the next summary day (a stored day is always one of WEEKDAYS)
        if WEEKDAYS[day.weekday()] == owner["summary_day"]:
            break
        day += timedelta(days=1)
    due = caregiver_due(local_to_utc(day, at, tz), at, tz_name)
    return DAY_NAMES[WEEKDAYS[local_date(due, zone(tz_name)).weekday()]], owner["summary_time"]


def notify(rt, chat_id: int, patient_id: int, key: str, template: str, **context) -> int | None:
    """Inside a transaction: tell the other side of a link (a message of its own, sent now)."""
    now = rt.clock.now()
    return outbox.enqueue(
        rt.db,
        chat_id=chat_id,
        patient_id=patient_id,
        kind="caregiver_notice",
        due_at=now,
        now=now,
        dedupe_key=f"caregiver_notice:{key}",
        payload=Outgoing(render(template, **context)).as_payload(),
    )


def zone_rows(cid: int, zones: tuple[str, ...], other: bool) -> list[list[tuple[str, str]]]:
    """Time-zone buttons two to a row; the presets end with "Other…"."""

    def name(z: str) -> str:
        preset = f"onboarding_tz_{z.rsplit('/', 1)[1].lower()}"
        return label(preset) if z in TZ_PRESETS else z.rsplit("/", 1)[1].replace("_", " ")

    rows = [
        [(name(z), encode("cgz", cid, z)) for z in zones[i : i + 2]]
        for i in range(0, len(zones), 2)
    ]
    if other:
        rows.append([(label("onboarding_tz_other"), encode("cgz", cid, OTHER))])
    return rows


def _menu(rt, patient: dict | None, user_id: int) -> Outgoing:
    linked = caregivers.active_for_patient(rt.db, patient["id"]) if patient else []
    caring = caregivers.active_for_user(rt.db, user_id)
    rows = [
        [(label("caregiver_revoke", name=c["first_name"] or "caregiver"), encode("cg:r", c["id"]))]
        for c in linked
    ]
    waiting = invites.open_for_patient(rt.db, patient["id"], rt.clock.now()) if patient else []
    rows += [
        [(label("caregiver_cancel_invite", n=n + 1), encode("cg:c", i["id"]))]
        for n, i in enumerate(waiting)
    ]
    if patient is not None:
        rows += [
            [(label("caregiver_invite_summary"), encode("cg:i", "s"))],
            [(label("caregiver_invite_alerts"), encode("cg:i", "a"))],
        ]
    rows += [
        [(label("caregiver_stop", name=c["patient_name"]), encode("cg:x", c["id"]))] for c in caring
    ]
    return Outgoing(
        render(
            "caregiver_menu",
            is_patient=patient is not None,
            linked=linked,
            caring=caring,
            waiting=len(waiting),
        ),
        rows,
    )


async def caregiver_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    patient = patient_of(rt, update)
    if patient is not None and patient["status"] == "onboarding":
        patient = None
    await reply(
        rt,
        update,
        _menu(rt, patient, sender(update).id),
        patient_id=patient["id"] if patient else None,
    )


async def caregiver_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`cg:i:<s|a>` invite, `cg:r:<id>` revoke (patient), `cg:x:<id>` stop (caregiver)."""
    rt = runtime(context)
    await answer_callback(update)
    patient = patient_of(rt, update)
    cb = decode(tapped(update).data)
    head = cb.head if cb is not None else ""
    user_id = sender(update).id
    now = rt.clock.now()
    if (
        head == "cg:i"
        and cb is not None
        and patient is not None
        and patient["status"] != "onboarding"
    ):
        scope = cb["scope"]

        def invite():
            invite_id, code = invites.create(
                rt.db,
                kind="caregiver",
                patient_id=patient["id"],
                scope=SCOPES[scope],
                now=now,
                valid_for=INVITE_VALID,
            )
            events.record(
                rt.db,
                now,
                "caregiver_invited",
                patient["id"],
                invite=invite_id,
                scope=SCOPES[scope],
            )
            link = f"https://t.me/{bot_username(rt)}?start={START_PREFIX}{code}"
            return [Outgoing(render("caregiver_invite", link=link, alerts=scope == "a"))]

        await respond(rt, update, invite, patient_id=patient["id"])
        return
    if head == "cg:c" and patient is not None:

        def cancel():
            if not invites.revoke(rt.db, cb["invite"], patient["id"], now):
                return []
            events.record(
                rt.db, now, "caregiver_invite_cancelled", patient["id"], invite=cb["invite"]
            )
            return [Outgoing(render("caregiver_invite_cancelled"))]

        if await respond(rt, update, cancel, patient_id=patient["id"]):
            await clear_buttons(update)
            return
    target = None
    if head in ("cg:r", "cg:x") and cb is not None:
        target = caregivers.get(rt.db, cb["caregiver"])
    allowed = (
        target is not None
        and target["ended_at"] is None
        and (
            (head == "cg:r" and patient is not None and target["patient_id"] == patient["id"])
            or (head == "cg:x" and target["user_id"] == user_id)
        )
    )
    if not allowed:
        await reply(
            rt, update, Outgoing(render("expired")), patient_id=patient["id"] if patient else None
        )
        return
    by = "patient" if head == "cg:r" else "caregiver"

    sent: list[int | None] = []

    def end():
        caregivers.end(rt.db, target["id"], by, now)
        events.record(
            rt.db, now, "caregiver_ended", target["patient_id"], caregiver=target["id"], by=by
        )
        owner = patients.existing(rt.db, target["patient_id"])
        other_chat = target["chat_id"] if by == "patient" else owner["chat_id"]
        sent.append(
            notify(
                rt,
                other_chat,
                owner["id"],
                f"{target['id']}:end",
                "caregiver_link_notice",
                event="ended",
                by=by,
                to="caregiver" if by == "patient" else "patient",
                carer=target["first_name"],
                patient=owner["first_name"],
            )
        )
        return [
            Outgoing(
                render(
                    "caregiver_ended",
                    by=by,
                    carer=target["first_name"],
                    patient=owner["first_name"],
                )
            )
        ]

    assert target is not None  # `allowed` above
    await clear_buttons(update)
    await respond(rt, update, end, patient_id=target["patient_id"] if by == "patient" else None)
    await _send(rt, sent)


async def _send(rt, rows: list[int | None]) -> None:
    for row in rows:
        if row:
            await dispatch_now(rt, row)


async def open_invite(rt, update: Update, code: str) -> None:
    """/start cg_<code>: show whose summaries, what is in them, and ask to accept."""
    user = sender(update)

    def not_their_own(invite: dict) -> bool:
        owner = patients.get(rt.db, invite["patient_id"])
        return owner is not None and owner["user_id"] != user.id

    invite = invites.open_code(rt.db, code, "caregiver", rt.clock.now(), user.id, not_their_own)
    if invite is None:
        await reply(rt, update, Outgoing(render("invite_refused")))
        return
    owner = patients.existing(rt.db, invite["patient_id"])
    offer = _offer(owner, invite)
    await reply(
        rt,
        update,
        Outgoing(
            offer,
            [
                [
                    (label("caregiver_accept"), encode("cgj", invite["id"], "y")),
                    (label("caregiver_decline"), encode("cgj", invite["id"], "n")),
                ]
            ],
        ),
    )


def _offer(owner: dict, invite: dict) -> str:
    return render(
        "caregiver_offer",
        name=owner["first_name"],
        alerts=invite["scope"] == "summary_alerts",
        day=DAY_NAMES[owner["summary_day"]],
        time=owner["summary_time"],
    )


async def join_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`cgj:<invite>:y|n`: honoured only for the person who opened that invite, while valid."""
    rt = runtime(context)
    await answer_callback(update)
    user, chat = sender(update), current_chat(update)
    now = rt.clock.now()
    found = invites.answered(rt.db, decode(tapped(update).data), "cgj", "caregiver", user.id, now)
    if found is None:
        await reply(rt, update, Outgoing(render("invite_refused")))
        return
    invite, yes = found
    await clear_buttons(update)
    owner = patients.existing(rt.db, invite["patient_id"])
    if not yes:
        await reply(rt, update, Outgoing(render("caregiver_declined", name=owner["first_name"])))
        return

    def accept():
        if not invites.use(rt.db, invite["id"], user.id, now):
            return []
        terms = hashlib.sha256(_offer(owner, invite).encode("utf-8")).hexdigest()
        cid = caregivers.link(
            rt.db,
            patient_id=owner["id"],
            user_id=user.id,
            chat_id=chat.id,
            first_name=user.first_name or "",
            timezone=owner["timezone"],
            alerts=invite["scope"] == "summary_alerts",
            invite_id=invite["id"],
            terms_hash=terms,
            now=now,
        )
        events.record(rt.db, now, "caregiver_linked", owner["id"], caregiver=cid)
        day, time = carer_schedule(owner, owner["timezone"], now)
        sent.append(
            notify(
                rt,
                owner["chat_id"],
                owner["id"],
                f"{cid}:start",
                "caregiver_link_notice",
                event="started",
                to="patient",
                carer=user.first_name or "",
                patient=owner["first_name"],
                alerts=invite["scope"] == "summary_alerts",
            )
        )
        return [
            Outgoing(
                render(
                    "caregiver_joined",
                    name=owner["first_name"],
                    timezone=owner["timezone"],
                    day=day,
                    time=time,
                ),
                zone_rows(cid, TZ_PRESETS, other=True),
            )
        ]

    sent: list[int | None] = []
    if not await respond(rt, update, accept):
        await reply(rt, update, Outgoing(render("invite_refused")))
        return
    await _send(rt, sent)
    replan_patient(rt, owner)  # plans this caregiver's copies


async def timezone_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`cgz:<caregiver>:<zone>`: the caregiver's own time zone, for when their copy arrives."""
    rt = runtime(context)
    await answer_callback(update)
    cb = decode(tapped(update).data)
    zone_name = cb["zone"] if cb is not None and cb.head == "cgz" else None
    carer = None
    if (zone_name in CAREGIVER_ZONES or zone_name == OTHER) and cb is not None:
        carer = caregivers.get(rt.db, cb["caregiver"])
    if carer is None or carer["user_id"] != sender(update).id or carer["ended_at"]:
        await reply(rt, update, Outgoing(render("expired")))
        return
    await clear_buttons(update)
    if zone_name == OTHER:
        await reply(
            rt,
            update,
            Outgoing(render("caregiver_more_zones"), zone_rows(carer["id"], MORE_ZONES, False)),
        )
        return
    owner = patients.existing(rt.db, carer["patient_id"])
    assert zone_name is not None  # in CAREGIVER_ZONES
    day, time = carer_schedule(owner, zone_name, rt.clock.now())

    def change():
        caregivers.set_timezone(rt.db, carer["id"], zone_name)
        return [Outgoing(render("caregiver_timezone", timezone=zone_name, day=day, time=time))]

    await respond(rt, update, change)
    replan_patient(rt, owner)
