"""Clinics in Telegram: clinicians join by invite and follow their cohorts; patients join a cohort
through its link (seeing exactly what the clinic will see) and may /leave at any time.

Every clinician command names a cohort by number and goes through `storage.clinics.cohort_for`,
which allows only an active clinician of the clinic that owns it. Anyone else, a removed clinician,
or a cohort of another clinic gets the same answer, so nothing about other clinics leaks.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.clock import iso
from bot.rules import pacing
from bot.rules.callbacks import decode, encode
from bot.rules.localtime import local_date, zone
from handlers.caregiver import bot_username
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
    update_key,
)
from handlers.onboarding_questions import question
from jobs import clinic
from jobs.dispatch import dispatch_now
from messages import MAX_EMERGENCY_TEXT, Outgoing, label, render
from storage import clinics, consents, events, invites, outbox

CLINICIAN_PREFIX = "cl_"
COHORT_PREFIX = "co_"
OFFER_VALID = timedelta(days=7)
NAME_MAX = 60
EMERGENCY_MAX = MAX_EMERGENCY_TEXT  # what lesson lengths are checked with
SETTINGS = ("start", "emergency", "threshold")


def deep_link(username: str, prefix: str, code: str) -> str:
    return f"https://t.me/{username}?start={prefix}{code}"


def _parse_id(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdecimal() and len(text) < 10 else None


def _sender_pid(rt, update: Update) -> int | None:
    patient = patient_of(rt, update)
    return patient["id"] if patient else None


async def _refuse(rt, update: Update, template: str = "clinic_staff_only", **context) -> None:
    await reply(
        rt, update, Outgoing(render(template, **context)), patient_id=_sender_pid(rt, update)
    )


async def _cohort_or_refuse(rt, update: Update, args: list[str], usage: str):
    """The cohort named by the first argument, if the sender may see it; else answered, None."""
    user_id = sender(update).id
    if not clinics.roles_of(rt.db, user_id):
        await _refuse(rt, update)
        return None
    cohort_id = _parse_id(args[0]) if args else None
    if cohort_id is None:
        await _refuse(
            rt,
            update,
            "clinic_usage",
            usage=usage,
            cohorts=clinics.cohorts_for_user(rt.db, user_id),
        )
        return None
    found = clinics.cohort_for(rt.db, cohort_id, user_id)
    if found is None:
        await _refuse(rt, update, "clinic_no_cohort", cohort_id=cohort_id)
        return None
    return found


# --- clinician commands ----------------------------------------------------------------------


async def cohort_new_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cohort_new NAME [YYYY-MM-DD]: a cohort (fixed start, or rolling) and its link + QR code."""
    rt = runtime(context)
    roles = clinics.roles_of(rt.db, sender(update).id)
    if not roles:
        await _refuse(rt, update)
        return
    args = list(context.args or [])
    staff = roles[-1]  # the clinic they joined most recently
    start = None
    if args and _looks_like_date(args[-1]):
        start = _parse_date(args.pop())
        if start is None:
            await _refuse(rt, update, "clinic_bad_date")
            return
        out_of_range = _start_out_of_range(rt, staff["clinic_id"], start)
        if out_of_range:
            await _refuse(rt, update, "clinic_bad_date", **out_of_range)
            return
    name = " ".join(args).strip()
    if not name or len(name) > NAME_MAX:
        await _refuse(rt, update, "clinic_usage", usage="cohort_new", cohorts=[])
        return
    now = rt.clock.now()
    qr: dict[str, Any] = {}

    def create():
        cohort_id = clinics.create_cohort(
            rt.db,
            clinic_id=staff["clinic_id"],
            name=name,
            start_date=start.isoformat() if start else None,
            created_by=staff["id"],
            now=now,
        )
        events.record(rt.db, now, "cohort_created", None, cohort=cohort_id, clinician=staff["id"])
        return _link_messages(rt, update, clinics.cohort(rt.db, cohort_id), qr, new=True)

    if await respond(rt, update, create):
        await _send_qr(rt, qr)


async def cohort_link_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cohort_link ID: a new enrolment link and QR code; the old one stops working."""
    rt = runtime(context)
    found = await _cohort_or_refuse(rt, update, list(context.args or []), "cohort_link")
    if found is None:
        return
    qr: dict[str, Any] = {}
    if await respond(rt, update, lambda: _link_messages(rt, update, found[0], qr, new=False)):
        await _send_qr(rt, qr)


def _link_messages(rt, update: Update, cohort: dict, qr: dict, *, new: bool) -> list[Outgoing]:
    """Inside the transaction: a fresh code, the text reply, and the QR image queued beside it."""
    now = rt.clock.now()
    code = clinics.new_enrolment_link(rt.db, cohort["id"], now)
    link = deep_link(bot_username(rt), COHORT_PREFIX, code)
    text = render("clinic_cohort_link", cohort=cohort, link=link, new=new)
    qr["row"] = outbox.enqueue(
        rt.db,
        chat_id=current_chat(update).id,
        patient_id=None,
        kind="cohort_qr",
        due_at=now,
        now=now,
        dedupe_key=f"cohort_qr:{update_key(update)}",
        payload={
            "link": link,
            "cohort_id": cohort["id"],
            "caption": render("clinic_qr_caption", cohort=cohort),
        },
    )
    return [Outgoing(text)]


async def _send_qr(rt, qr: dict) -> None:
    if qr.get("row"):
        await dispatch_now(rt, qr["row"])


async def cohorts_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cohorts: the cohorts of the sender's clinics, with head counts."""
    rt = runtime(context)
    if not clinics.roles_of(rt.db, sender(update).id):
        await _refuse(rt, update)
        return
    await reply(
        rt,
        update,
        Outgoing(
            render("clinic_cohorts", cohorts=clinics.cohorts_for_user(rt.db, sender(update).id))
        ),
        patient_id=_sender_pid(rt, update),
    )


async def cohort_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cohort ID: the roster."""
    rt = runtime(context)
    found = await _cohort_or_refuse(rt, update, list(context.args or []), "cohort")
    if found is None:
        return
    events.record(
        rt.db,
        rt.clock.now(),
        "roster_viewed",
        None,
        cohort=found[0]["id"],
        clinician=found[1]["id"],
    )
    await respond(
        rt,
        update,
        lambda: clinic.roster_messages(rt.db, found[0], rt.clock.now()),
        patient_id=_sender_pid(rt, update),
    )


async def export_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export ID: two CSV files, built when they are sent (access is checked again then)."""
    rt = runtime(context)
    found = await _cohort_or_refuse(rt, update, list(context.args or []), "export")
    if found is None:
        return
    cohort, staff = found
    now = rt.clock.now()
    rows = []

    def act():
        for part in ("days", "sessions"):
            rows.append(
                outbox.enqueue(
                    rt.db,
                    chat_id=current_chat(update).id,
                    patient_id=None,
                    kind="cohort_export",
                    due_at=now,
                    now=now,
                    dedupe_key=f"cohort_export:{update_key(update)}:{part}",
                    payload={"cohort_id": cohort["id"], "clinician_id": staff["id"], "part": part},
                )
            )
        events.record(
            rt.db, now, "cohort_exported", None, cohort=cohort["id"], clinician=staff["id"]
        )
        return [Outgoing(render("clinic_export", cohort=cohort))]

    if await respond(rt, update, act, patient_id=_sender_pid(rt, update)):
        for row in rows:
            if row:
                await dispatch_now(rt, row)


async def cohort_set_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cohort_set ID [start DATE|rolling | emergency TEXT | threshold NAME VALUE]."""
    rt = runtime(context)
    args = list(context.args or [])
    found = await _cohort_or_refuse(rt, update, args, "cohort_set")
    if found is None:
        return
    cohort, staff = found
    what, rest = (args[1].lower(), args[2:]) if len(args) > 1 else (None, [])
    change, problem = _setting_change(cohort, what, rest)
    if change.get("start_date"):
        out_of_range = _start_out_of_range(
            rt, cohort["clinic_id"], date.fromisoformat(change["start_date"])
        )
        if out_of_range:
            await _refuse(rt, update, "clinic_bad_date", setting=True, **out_of_range)
            return
    if problem:
        await _refuse(
            rt,
            update,
            "clinic_setting_problem",
            problem=problem,
            cohort=cohort,
            max_length=EMERGENCY_MAX,
            names=list(pacing.Thresholds().as_dict()),
        )
        return
    now = rt.clock.now()

    def act():
        if change:
            clinics.update_cohort(rt.db, cohort["id"], **change)
            events.record(
                rt.db,
                now,
                "cohort_settings",
                None,
                cohort=cohort["id"],
                clinician=staff["id"],
                fields=sorted(change),
            )
        fresh = clinics.cohort(rt.db, cohort["id"])
        return [
            Outgoing(
                render(
                    "clinic_settings",
                    cohort=fresh,
                    changed=bool(change),
                    thresholds=_thresholds_shown(fresh),
                    emergency_text=clinic.clean_emergency_text(fresh["emergency_text"]),
                    staff=clinics.clinicians_of(rt.db, fresh["clinic_id"]),
                    responsible=clinics.responsible_ids(fresh),
                )
            )
        ]

    await respond(rt, update, act, patient_id=_sender_pid(rt, update))


def _thresholds_shown(cohort: dict) -> list[tuple[str, object, bool]]:
    own = clinics.thresholds_of(cohort)
    values = pacing.Thresholds.from_dict(own).as_dict()
    return [(name, value, name in own) for name, value in values.items()]


def _setting_change(cohort: dict, what: str | None, rest: list[str]) -> tuple[dict, str | None]:
    """The column changes `/cohort_set` asks for, or the problem to explain."""
    if what is None:
        return {}, None  # just show the settings
    if what == "start" and len(rest) == 1:
        if rest[0].lower() == "rolling":
            return {"start_date": None}, None
        day = _parse_date(rest[0])
        return ({"start_date": day.isoformat()}, None) if day else ({}, "date")
    if what == "emergency" and rest:
        text = " ".join(" ".join(rest).split())
        if text.lower() == "default":
            return {"emergency_text": None}, None
        cleaned = clinic.clean_emergency_text(text)
        if cleaned is None:
            return {}, "usage"
        if len(cleaned) > EMERGENCY_MAX:
            return {}, "emergency_long"
        return {"emergency_text": cleaned}, None
    if what == "threshold" and len(rest) == 2:
        own = clinics.thresholds_of(cohort)
        name = rest[0].lower()
        if name not in pacing.Thresholds().as_dict():
            return {}, "threshold_name"
        if rest[1].lower() == "default":
            own.pop(name, None)
        else:
            try:
                value = float(rest[1].replace(",", "."))
                own[name] = value
                pacing.Thresholds.from_dict(own)
            except ValueError:
                low, high = pacing.limits(name)
                return {}, f"threshold_value:{name}:{low:g}:{high:g}"
            own[name] = pacing.Thresholds.from_dict(own).as_dict()[name]
        return {"thresholds": json.dumps(own, sort_keys=True)}, None
    alerts_change = clinic.alert_setting_change(what, rest)  # responsible, quiet (issue 16)
    if alerts_change is not None:
        return alerts_change
    return {}, "usage"


def _looks_like_date(text: str) -> bool:
    return len(text) == 10 and text[4] == "-" and text[7] == "-"


def _start_out_of_range(rt, clinic_id: int, day: date) -> dict | None:
    """None for a start date the clinic may set today (its local date); else the allowed range,
    for the answer (storage.clinics.start_range holds the rule)."""
    place = clinics.clinic(rt.db, clinic_id)
    if place is None:  # the clinician's own clinic: cannot happen
        raise LookupError(f"clinic {clinic_id} does not exist")
    earliest, latest = clinics.start_range(local_date(rt.clock.now(), zone(place["timezone"])))
    if earliest <= day <= latest:
        return None
    return {"earliest": earliest.isoformat(), "latest": latest.isoformat()}


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text.isascii() else None
    except ValueError:
        return None


# --- clinicians joining ----------------------------------------------------------------------


async def open_clinician_invite(rt, update: Update, code: str) -> None:
    """/start cl_<code>: what joining the clinic means, and accept / decline."""
    user = sender(update)
    invite = invites.open_code(
        rt.db,
        code,
        "clinician",
        rt.clock.now(),
        user.id,
        lambda i: clinics.clinic(rt.db, i["clinic_id"]) is not None,
    )
    if invite is None:
        await reply(rt, update, Outgoing(render("invite_refused")))
        return
    place = clinics.clinic(rt.db, invite["clinic_id"])
    await reply(
        rt,
        update,
        Outgoing(
            render("clinic_staff_offer", clinic=place),
            [
                [
                    (label("clinic_accept"), encode("clj", invite["id"], "y")),
                    (label("clinic_decline"), encode("clj", invite["id"], "n")),
                ]
            ],
        ),
    )


async def clinician_join_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`clj:<invite>:y|n`: honoured only for the person who opened that invite, while valid."""
    rt = runtime(context)
    await answer_callback(update)
    user, chat = sender(update), current_chat(update)
    now = rt.clock.now()
    found = invites.answered(rt.db, decode(tapped(update).data), "clj", "clinician", user.id, now)
    if found is None:
        await reply(rt, update, Outgoing(render("invite_refused")))
        return
    invite, yes = found
    await clear_buttons(update)
    place = clinics.clinic(rt.db, invite["clinic_id"])
    if place is None:  # the invite's foreign key: cannot happen
        raise LookupError(f"clinic {invite['clinic_id']} does not exist")
    if not yes:
        await reply(rt, update, Outgoing(render("clinic_staff_declined", clinic=place)))
        return
    if any(r["clinic_id"] == place["id"] for r in clinics.roles_of(rt.db, user.id)):
        await reply(rt, update, Outgoing(render("clinic_staff_already", clinic=place)))
        return

    def accept():
        if not invites.use(rt.db, invite["id"], user.id, now):
            return []
        staff_id = clinics.add_clinician(
            rt.db,
            clinic_id=place["id"],
            user_id=user.id,
            chat_id=chat.id,
            first_name=user.first_name or "",
            invite_id=invite["id"],
            now=now,
        )
        events.record(rt.db, now, "clinician_joined", None, clinic=place["id"], clinician=staff_id)
        return [Outgoing(render("clinic_staff_joined", clinic=place))]

    if not await respond(rt, update, accept):
        await reply(rt, update, Outgoing(render("invite_refused")))


# --- patients joining and leaving ------------------------------------------------------------


def _offer_text(cohort: dict) -> str:
    return render("clinic_offer", cohort=cohort)


async def open_cohort_link(rt, update: Update, code: str) -> None:
    """/start co_<code>: the clinic's name, exactly what it will see, and join / not now."""
    user = sender(update)
    now = rt.clock.now()
    cohort = None
    if not invites.too_many_failures(rt.db, user.id, now):
        cohort = clinics.cohort_by_code(rt.db, code, now)
    if cohort is None:
        with rt.db.atomic():
            invites.record_failure(rt.db, user.id, now)
        await reply(
            rt, update, Outgoing(render("clinic_link_refused")), patient_id=_sender_pid(rt, update)
        )
        return
    patient = patient_of(rt, update)
    member = clinics.membership(rt.db, patient["id"]) if patient else None
    if patient is not None and member is not None:
        await reply(
            rt,
            update,
            Outgoing(
                render(
                    "clinic_already_member", member=member, same=member["cohort_id"] == cohort["id"]
                )
            ),
            patient_id=patient["id"],
        )
        return
    text = _offer_text(cohort)

    def offer():
        offer_id = clinics.make_offer(
            rt.db,
            cohort["id"],
            user.id,
            hashlib.sha256(text.encode("utf-8")).hexdigest(),
            now,
            invite_id=cohort.get("personal_invite_id"),  # a personal link: its reference
        )
        return [
            Outgoing(
                text,
                [
                    [(label("clinic_join"), encode("coj", offer_id, "y"))],
                    [(label("clinic_not_now"), encode("coj", offer_id, "n"))],
                ],
            )
        ]

    await respond(rt, update, offer)


async def cohort_join_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`coj:<offer>:y|n`: only the person the offer was shown to, once, within a week."""
    rt = runtime(context)
    await answer_callback(update)
    cb = decode(tapped(update).data)
    cb = cb if cb is not None and cb.head == "coj" else None
    user = sender(update)
    now = rt.clock.now()
    found = clinics.offer(rt.db, cb["offer"]) if cb is not None else None
    cohort = clinics.cohort(rt.db, found["cohort_id"]) if found else None
    if (
        found is None
        or cohort is None
        or found["user_id"] != user.id
        or found["accepted_at"]
        or found["created_at"] <= iso(now - OFFER_VALID)
    ):
        await _refuse(rt, update, "expired")
        return
    assert cb is not None  # an offer was found only with it
    await clear_buttons(update)
    if cb["answer"] == "n":
        await _refuse(rt, update, "clinic_not_joined", cohort=cohort)
        return
    patient = patient_of(rt, update)
    if patient is not None and clinics.membership(rt.db, patient["id"]) is not None:
        await _refuse(
            rt,
            update,
            "clinic_already_member",
            member=clinics.membership(rt.db, patient["id"]),
            same=False,
        )
        return
    set_up = patient is not None and patient["status"] != "onboarding"

    def accept():
        if not clinics.accept_offer(rt.db, found["id"], now):
            return []
        events.record(
            rt.db,
            now,
            "cohort_offer_accepted",
            patient["id"] if patient else None,
            cohort=cohort["id"],
        )
        if set_up:
            clinic.enrol(rt.db, patient, clinics.offer(rt.db, found["id"]), now)
            return [Outgoing(render("clinic_joined", cohort=cohort, set_up=True))]
        # Not set up yet: they join when set-up ends; its first (or next) question follows.
        state = consents.onboarding(rt.db, user.id)
        if state is None:
            consents.set_step(rt.db, user.id, current_chat(update).id, "intro", now)
            state = consents.onboarding(rt.db, user.id)
        return [
            Outgoing(render("clinic_joined", cohort=cohort, set_up=False)),
            question(
                rt.db,
                state,
                **({"name": user.first_name or ""} if state["step"] == "intro" else {}),
            ),
        ]

    await respond(rt, update, accept)


async def leave_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/leave: stop sharing with the clinic (confirm first); the course carries on."""
    rt = runtime(context)
    patient = patient_of(rt, update)
    member = clinics.membership(rt.db, patient["id"]) if patient else None
    if patient is None or member is None:
        await _refuse(rt, update, "clinic_not_member")
        return
    await reply(
        rt,
        update,
        Outgoing(
            render("clinic_leave_confirm", member=member),
            [
                [(label("clinic_leave_yes"), encode("lv", member["id"], "y"))],
                [(label("clinic_leave_no"), encode("lv", member["id"], "n"))],
            ],
        ),
        patient_id=patient["id"],
    )


async def leave_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`lv:<membership>:y|n`: only for the member themself, while still a member."""
    rt = runtime(context)
    await answer_callback(update)
    cb = decode(tapped(update).data)
    patient = patient_of(rt, update)
    member = clinics.membership(rt.db, patient["id"]) if patient else None
    if member is None or cb is None or cb.head != "lv" or cb["membership"] != member["id"]:
        await _refuse(rt, update, "expired")
        return
    assert patient is not None  # a membership was found only with them
    await clear_buttons(update)
    if cb["answer"] == "n":
        await _refuse(rt, update, "clinic_leave_kept", member=member)
        return
    now = rt.clock.now()

    def act():
        if not clinics.leave(rt.db, member["id"], now):
            return []
        events.record(rt.db, now, "cohort_left", patient["id"], cohort=member["cohort_id"])
        return [Outgoing(render("clinic_left", member=member))]

    await respond(rt, update, act, patient_id=patient["id"])
