"""Caregivers: the patient's /caregiver (invite, list, revoke) and the caregiver's side (open the
link, see exactly what they will get, accept, choose their time zone, stop at any time)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules.callbacks import decode, encode
from bot.rules.onboarding_rules import TZ_PRESETS
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
from jobs.plan import replan_patient
from messages import Outgoing, label, render
from storage import caregivers, events, invites, patients

INVITE_VALID = timedelta(days=7)
START_PREFIX = "cg_"
SCOPES = {"s": "summary", "a": "summary_alerts"}
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

    def end():
        caregivers.end(rt.db, target["id"], by, now)
        events.record(
            rt.db, now, "caregiver_ended", target["patient_id"], caregiver=target["id"], by=by
        )
        owner = patients.existing(rt.db, target["patient_id"])
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
        return [
            Outgoing(
                render(
                    "caregiver_joined",
                    name=owner["first_name"],
                    timezone=owner["timezone"],
                    day=DAY_NAMES[owner["summary_day"]],
                    time=owner["summary_time"],
                ),
                [
                    [
                        (
                            label(f"onboarding_tz_{z.rsplit('/', 1)[1].lower()}"),
                            encode("cgz", cid, z),
                        )
                        for z in TZ_PRESETS[i : i + 2]
                    ]
                    for i in range(0, len(TZ_PRESETS), 2)
                ],
            )
        ]

    if not await respond(rt, update, accept):
        await reply(rt, update, Outgoing(render("invite_refused")))
        return
    replan_patient(rt, owner)  # plans this caregiver's copies


async def timezone_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`cgz:<caregiver>:<zone>`: the caregiver's own time zone, for when their copy arrives."""
    rt = runtime(context)
    await answer_callback(update)
    cb = decode(tapped(update).data)
    zone_name = cb["zone"] if cb is not None and cb.head == "cgz" else None
    carer = None
    if zone_name in TZ_PRESETS and cb is not None:
        carer = caregivers.get(rt.db, cb["caregiver"])
    if carer is None or carer["user_id"] != sender(update).id or carer["ended_at"]:
        await reply(rt, update, Outgoing(render("expired")))
        return
    await clear_buttons(update)
    owner = patients.existing(rt.db, carer["patient_id"])

    def change():
        caregivers.set_timezone(rt.db, carer["id"], zone_name)
        return [
            Outgoing(
                render(
                    "caregiver_timezone",
                    timezone=zone_name,
                    day=DAY_NAMES[owner["summary_day"]],
                    time=owner["summary_time"],
                )
            )
        ]

    await respond(rt, update, change)
    replan_patient(rt, owner)
