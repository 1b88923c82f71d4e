"""Clinic and patient in touch (issue 16): who is who, messages both ways, alerts acted on.

Clinicians: `/invite_patient COHORT REF` (a personal enrolment link carrying the clinic's
reference), `/ref MEMBER REF` (set or change it), `/message MEMBER text` (delivered with the
clinic's name and a Reply button that relays one answer back), `/clinic_hours` (when non-urgent
alerts arrive), and the Acknowledge / Resolve buttons under alerts (colleagues who got the alert
are told who did what). Patients: `/contact` asks the clinic to contact them (a non-urgent alert
episode), and "Reply" under a clinician's message. A MEMBER is the patient's number on the roster
(#12) or the clinic's reference; every lookup goes through `storage.clinics.find_members`, which
sees only current members of the sender's own clinics.
"""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules.callbacks import decode, encode
from handlers.caregiver import bot_username
from handlers.clinic import COHORT_PREFIX, _cohort_or_refuse, deep_link
from handlers.common import (
    answer_callback,
    incoming,
    patient_of,
    reply,
    respond,
    runtime,
    sender,
    tapped,
)
from jobs import clinic
from jobs import safety as safety_flow
from jobs.dispatch import dispatch_now
from messages import Outgoing, label, render
from storage import alerts, clinics, events, outbox, patients

MESSAGE_MAX = 1500  # characters of a clinician's message or a patient's answer
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _args_text(update: Update, skip: int) -> str:
    """The message text after the command and `skip` words, line breaks kept."""
    parts = (incoming(update).text or "").split(None, skip + 1)
    return parts[skip + 1].strip() if len(parts) > skip + 1 else ""


async def _answer(rt, update: Update, template: str, **context) -> None:
    patient = patient_of(rt, update)
    await reply(
        rt,
        update,
        Outgoing(render(template, **context)),
        patient_id=patient["id"] if patient else None,
    )


async def _member_or_refuse(rt, update: Update, key: str | None, command: str, usage: str):
    """The one current member of the sender's clinics named by `key`, with (cohort, clinician);
    else answered and None. Non-clinicians get the usual staff-only answer."""
    user_id = sender(update).id
    if not clinics.roles_of(rt.db, user_id):
        await _answer(rt, update, "clinic_staff_only")
        return None
    if not key:
        await _answer(
            rt, update, "clinic_member_problem", problem="usage", command=command, usage=usage
        )
        return None
    found = clinics.find_members(rt.db, user_id, key.lstrip("#"))
    if len(found) != 1:
        await _answer(
            rt, update, "clinic_member_problem", problem="none" if not found else "many", key=key
        )
        return None
    member = found[0]
    access = clinics.cohort_for(rt.db, member["cohort_id"], user_id)
    if access is None:  # find_members already checked it: cannot happen
        await _answer(rt, update, "clinic_member_problem", problem="none", key=key)
        return None
    return member, access


# --- clinicians ------------------------------------------------------------------------------


async def message_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/message MEMBER text: to the patient with the clinic's name and a Reply button."""
    rt = runtime(context)
    args = list(context.args or [])
    usage = "MEMBER text"
    text = _args_text(update, 1)
    found = await _member_or_refuse(rt, update, args[0] if args else None, "message", usage)
    if found is None:
        return
    member, (cohort, staff) = found
    if not text:
        await _answer(
            rt, update, "clinic_member_problem", problem="usage", command="message", usage=usage
        )
        return
    if len(text) > MESSAGE_MAX:
        await _answer(rt, update, "clinic_member_problem", problem="long", limit=MESSAGE_MAX)
        return
    now = rt.clock.now()
    rows: list[int | None] = []

    def act():
        message_id = alerts.create_message(
            rt.db,
            clinic_id=cohort["clinic_id"],
            cohort_id=cohort["id"],
            patient_id=member["id"],
            clinician_id=staff["id"],
            kind="message",
            now=now,
        )
        out = Outgoing(
            render(
                "clinic_message",
                clinic=cohort["clinic_name"],
                staff=staff["first_name"],
                text=text,
            ),
            [[(label("clinic_reply"), encode("cm", message_id))]],
        )
        rows.append(
            outbox.enqueue(
                rt.db,
                chat_id=member["chat_id"],
                patient_id=member["id"],
                kind="clinic_message",
                due_at=now,
                now=now,
                dedupe_key=f"clinic_message:{message_id}",
                payload={**out.as_payload(), "cohort_id": cohort["id"]},
            )
        )
        events.record(
            rt.db,
            now,
            "clinic_message",
            member["id"],
            clinician=staff["id"],
            message=message_id,
        )
        return [
            Outgoing(
                render(
                    "clinic_message_sent",
                    sent=True,
                    label=clinics.member_label(member),
                    patient_id=member["id"],
                )
            )
        ]

    if await respond(rt, update, act):
        for row in rows:
            if row:
                await dispatch_now(rt, row)


async def ref_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ref MEMBER REF: set or change the clinic's reference for a member ("-" removes it)."""
    rt = runtime(context)
    args = list(context.args or [])
    usage = "MEMBER REFERENCE (- to remove)"
    found = await _member_or_refuse(rt, update, args[0] if args else None, "ref", usage)
    if found is None:
        return
    member, (cohort, staff) = found
    reference = " ".join(args[1:]).strip()
    if not reference:
        await _answer(
            rt, update, "clinic_member_problem", problem="usage", command="ref", usage=usage
        )
        return
    if len(reference) > clinics.REFERENCE_MAX:
        await _answer(
            rt, update, "clinic_member_problem", problem="long", limit=clinics.REFERENCE_MAX
        )
        return
    value = None if reference == "-" else reference
    now = rt.clock.now()

    def act():
        clinics.set_reference(rt.db, member["membership_id"], value)
        events.record(
            rt.db, now, "member_reference", member["id"], clinician=staff["id"], cohort=cohort["id"]
        )
        return [
            Outgoing(
                render(
                    "clinic_ref_set",
                    name=member["first_name"] or "A patient",
                    patient_id=member["id"],
                    reference=value,
                )
            )
        ]

    await respond(rt, update, act)


async def invite_patient_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/invite_patient COHORT REF: a single-use, 30-day enrolment link for one patient."""
    rt = runtime(context)
    args = list(context.args or [])
    found = await _cohort_or_refuse(rt, update, args, "invite_patient")
    if found is None:
        return
    cohort, staff = found
    reference = " ".join(args[1:]).strip()
    if not reference or len(reference) > clinics.REFERENCE_MAX:
        await _answer(
            rt,
            update,
            "clinic_member_problem",
            problem="usage" if not reference else "long",
            command="invite_patient",
            usage="COHORT REFERENCE",
            limit=clinics.REFERENCE_MAX,
        )
        return
    now = rt.clock.now()

    def act():
        invite_id, code = clinics.invite_patient(rt.db, cohort["id"], reference, now)
        events.record(
            rt.db,
            now,
            "patient_invited",
            None,
            cohort=cohort["id"],
            clinician=staff["id"],
            invite=invite_id,
        )
        link = deep_link(bot_username(rt), COHORT_PREFIX, code)
        return [
            Outgoing(render("clinic_invite_patient", cohort=cohort, reference=reference, link=link))
        ]

    await respond(rt, update, act)


_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def _parse_days(text: str) -> list[int] | None:
    days: list[int] = []
    for part in text.lower().split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            if first[:3] not in DAY_NAMES or last[:3] not in DAY_NAMES:
                return None
            a, b = DAY_NAMES.index(first[:3]), DAY_NAMES.index(last[:3])
            days += list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]
        elif part[:3] in DAY_NAMES:
            days.append(DAY_NAMES.index(part[:3]))
        else:
            return None
    return sorted(set(days)) or None


def _parse_hours(text: str) -> tuple[str, str] | None:
    match = _HOURS.match(text)
    if not match:
        return None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if not (h1 < 24 and h2 <= 24 and m1 < 60 and m2 < 60) or (h1, m1) >= (h2, m2):
        return None
    return f"{h1:02d}:{m1:02d}", "24:00" if h2 == 24 else f"{h2:02d}:{m2:02d}"


def _days_shown(stored: str) -> str:
    return ", ".join(DAY_NAMES[int(d)].title() for d in stored.split(",") if d.strip())


async def clinic_hours_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/clinic_hours [DAYS HH:MM-HH:MM]: show or set the working hours of the sender's clinic
    (the one they joined most recently) for non-urgent alerts."""
    rt = runtime(context)
    roles = clinics.roles_of(rt.db, sender(update).id)
    if not roles:
        await _answer(rt, update, "clinic_staff_only")
        return
    staff = roles[-1]
    args = list(context.args or [])
    change = None
    problem = False
    if args:
        days = _parse_days(args[0]) if len(args) == 2 else None
        hours = _parse_hours(args[1]) if len(args) == 2 else None
        if days is None or hours is None or hours[1] == "24:00":
            problem = True
        else:
            change = (",".join(str(d) for d in days), *hours)
    now = rt.clock.now()

    def act():
        if change:
            clinics.set_work_hours(rt.db, staff["clinic_id"], *change)
            events.record(
                rt.db, now, "clinic_hours", None, clinic=staff["clinic_id"], clinician=staff["id"]
            )
        place = clinics.clinic(rt.db, staff["clinic_id"]) or {}
        return [
            Outgoing(
                render(
                    "clinic_hours",
                    clinic=place,
                    days=_days_shown(place.get("work_days", "")),
                    changed=bool(change),
                    problem=problem,
                )
            )
        ]

    await respond(rt, update, act)


async def alert_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`al:a|r:<episode>`: acknowledge or resolve, by an active clinician who may see the
    episode's cohort; the colleagues told of it hear who did what."""
    rt = runtime(context)
    await answer_callback(update)
    cb = decode(tapped(update).data)
    user = sender(update)
    episode = alerts.get(rt.db, cb["episode"]) if cb is not None and cb.head == "al" else None
    access = clinics.cohort_for(rt.db, episode["cohort_id"], user.id) if episode else None
    if episode is None or access is None or cb is None:
        await _answer(rt, update, "expired")
        return
    cohort, staff = access
    action = cb["action"]
    now = rt.clock.now()
    rows: list[int | None] = []

    def act():
        if action == "a":
            changed = alerts.acknowledge(rt.db, episode["id"], staff["id"], now)
        else:
            changed = alerts.resolve(rt.db, episode["id"], now, by=staff["id"])
        fresh = alerts.get(rt.db, episode["id"]) or episode
        patient = patients.get(rt.db, fresh["patient_id"])
        if patient is None:
            return [Outgoing(render("expired"))]
        item = clinic._episode_view(rt.db, fresh, patient, now)
        colleagues = []
        if changed:
            events.record(
                rt.db,
                now,
                "alert_episode_acknowledged" if action == "a" else "alert_episode_resolved",
                patient["id"],
                episode=episode["id"],
                clinician=staff["id"],
            )
            active = {s["id"]: s for s in clinics.clinicians_of(rt.db, cohort["clinic_id"])}
            for other_id in alerts.recipients(fresh):
                other = active.get(other_id)
                if other is None or other["user_id"] == user.id:
                    continue
                text = render(
                    "clinic_alert_action",
                    mine=False,
                    who=staff["first_name"] or "A colleague",
                    action=action,
                    item=item,
                )
                rows.append(
                    outbox.enqueue(
                        rt.db,
                        chat_id=other["chat_id"],
                        patient_id=patient["id"],
                        kind="alert_update",
                        due_at=now,
                        now=now,
                        dedupe_key=f"alert_update:{other_id}:{episode['id']}:{action}",
                        payload={
                            "text": text,
                            "clinician_id": other_id,
                            "cohort_id": cohort["id"],
                        },
                    )
                )
                colleagues.append(other_id)
        return [
            Outgoing(
                render(
                    "clinic_alert_action",
                    mine=True,
                    changed=changed,
                    action=action,
                    item=item,
                    colleagues=colleagues,
                )
            )
        ]

    if await respond(rt, update, act):
        for row in rows:
            if row:
                await dispatch_now(rt, row)


# --- patients --------------------------------------------------------------------------------


async def reply_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`cm:<message>`: the patient's next text (within the hour) goes back to the clinician."""
    rt = runtime(context)
    await answer_callback(update)
    cb = decode(tapped(update).data)
    patient = patient_of(rt, update)
    found = alerts.message(rt.db, cb["message"]) if cb is not None and cb.head == "cm" else None
    member = clinics.membership(rt.db, patient["id"]) if patient else None
    if found is None or patient is None or found["patient_id"] != patient["id"]:
        await _answer(rt, update, "expired")
        return
    now = rt.clock.now()
    still = member is not None and member["clinic_id"] == found["clinic_id"]
    clinic_name = member["clinic_name"] if member else None

    def act():
        opened = still and alerts.open_reply(rt.db, found["id"], now)
        return [
            Outgoing(
                render(
                    "clinic_reply_prompt",
                    open=opened,
                    clinic=clinic_name,
                    emergency_number=clinic.emergency_number(rt.db, patient["id"]),
                )
            )
        ]

    await respond(rt, update, act, patient_id=patient["id"])


async def typed_reply(rt, update: Update, patient: dict) -> bool:
    """From the text router: the patient's answer to a clinician's message, if they tapped Reply
    within the hour (the safety screen has already heard it; on hold too, but never while a
    safety question waits for its answer). True if it was taken."""
    now = rt.clock.now()
    waiting = alerts.reply_waiting(rt.db, patient["id"], now)
    if waiting is None or safety_flow.safety_waiting(rt.db, patient) is not None:
        return False  # a safety question waits: only a clear answer to it counts
    text = (incoming(update).text or "").strip()[:MESSAGE_MAX]
    member = clinics.membership(rt.db, patient["id"])
    staff = clinics.clinician(rt.db, waiting["clinician_id"]) if waiting["clinician_id"] else None
    rows: list[int | None] = []

    def act():
        if not alerts.mark_replied(rt.db, waiting["id"], now):
            return []
        reachable = (
            member is not None
            and member["cohort_id"] == waiting["cohort_id"]
            and staff is not None
            and not staff["removed_at"]
        )
        if reachable:
            assert member is not None and staff is not None
            relay = render(
                "clinic_relay",
                label=clinics.member_label(member | {"first_name": patient["first_name"]}),
                patient_id=patient["id"],
                cohort=member["cohort_name"],
                text=text,
            )
            rows.append(
                outbox.enqueue(
                    rt.db,
                    chat_id=staff["chat_id"],
                    patient_id=patient["id"],
                    kind="clinic_relay",
                    due_at=now,
                    now=now,
                    dedupe_key=f"clinic_relay:{waiting['id']}",
                    payload={
                        "text": relay,
                        "clinician_id": staff["id"],
                        "cohort_id": waiting["cohort_id"],
                    },
                )
            )
            events.record(rt.db, now, "clinic_reply", patient["id"], message=waiting["id"])
        return [
            Outgoing(
                render(
                    "clinic_reply_done",
                    sent=reachable,
                    clinic=member["clinic_name"] if member else "the clinic",
                )
            )
        ]

    if await respond(rt, update, act, patient_id=patient["id"]):
        for row in rows:
            if row:
                await dispatch_now(rt, row)
    return True


async def contact_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/contact: a member asks their clinic to contact them (a non-urgent alert, once per
    episode). They are told the clinic was asked only if an active clinician will get it."""
    rt = runtime(context)
    patient = patient_of(rt, update)
    member = clinics.membership(rt.db, patient["id"]) if patient else None
    if patient is None or patient["status"] in ("onboarding", "withdrawn"):
        member = None
    now = rt.clock.now()

    def act():
        told = already = False
        if member is not None and patient is not None:
            open_one = alerts.current(rt.db, patient["id"], "contact", now)
            if open_one is None:
                told = clinic.alert(rt.db, patient, "contact", now) > 0
            else:  # asked already: "they have been told" only if someone was
                already = bool(alerts.recipients(open_one))
        return [
            Outgoing(
                render(
                    "clinic_contact",
                    member=member is not None,
                    told=told,
                    already=already,
                    clinic=member["clinic_name"] if member else None,
                    emergency_number=clinic.emergency_number(
                        rt.db, patient["id"] if patient else None
                    ),
                )
            )
        ]

    await respond(rt, update, act, patient_id=patient["id"] if patient else None)


__all__ = [
    "alert_button",
    "clinic_hours_command",
    "contact_command",
    "invite_patient_command",
    "message_command",
    "ref_command",
    "reply_button",
    "typed_reply",
]
