"""Clinics in Telegram: clinicians join by invite and follow their cohorts; patients join a cohort
through its link (seeing exactly what the clinic will see) and may /leave at any time.

Every clinician command names a cohort by number and goes through `storage.clinics.cohort_for`,
which allows only an active clinician of the clinic that owns it. Anyone else, a removed clinician,
or a cohort of another clinic gets the same answer, so nothing about other clinics leaks.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, timedelta
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.clock import iso, parse_iso
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
CONFIRM_VALID = timedelta(days=1)  # a held request (past start, new link, archive) waits a day


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
    same = clinics.cohort_named(rt.db, staff["clinic_id"], name)
    if same is not None:  # two cohorts of one name: links, digests and exports get mixed up
        await _refuse(rt, update, "clinic_cohort_exists", cohort=same)
        return
    if start is not None and start < _clinic_today(rt, staff["clinic_id"]):
        await _ask(
            rt, update, staff, "cohort_new", None, {"name": name, "start": start.isoformat()}
        )
        return
    await _create_cohort(rt, update, staff, name, start)


async def _create_cohort(rt, update: Update, staff: dict, name: str, start: date | None) -> None:
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
        clinics.log_change(rt.db, cohort_id, staff["id"], "created", None, start or "rolling", now)
        return _link_messages(rt, update, clinics.cohort(rt.db, cohort_id), qr, new=True)

    if await respond(rt, update, create):
        await _send_qr(rt, qr)


def _clinic_today(rt, clinic_id: int) -> date:
    place = clinics.clinic(rt.db, clinic_id)
    if place is None:  # the clinician's own clinic: cannot happen
        raise LookupError(f"clinic {clinic_id} does not exist")
    return local_date(rt.clock.now(), zone(place["timezone"]))


async def _ask(
    rt, update: Update, staff: dict, action: str, cohort: dict | None, args: dict
) -> None:
    """Hold a request until the clinician confirms it (buttons `cc:<request>:y|n`)."""
    now = rt.clock.now()
    today = _clinic_today(rt, staff["clinic_id"])
    context: dict[str, Any] = {"action": action, "cohort": cohort, **args}
    if args.get("start"):
        start = date.fromisoformat(args["start"])
        context["weeks_ago"] = (today - start).days // 7
        context["course_end"] = clinics.course_end(args["start"])
        context["ended"] = clinics.course_over(args["start"], today)
    if action == "cohort_archive" and cohort is not None:
        context["members"] = len(clinics.members(rt.db, cohort["id"]))

    def act():
        request = clinics.ask_confirm(
            rt.db, staff["id"], action, cohort["id"] if cohort else None, args, now
        )
        return [
            Outgoing(
                render("clinic_confirm", **context),
                [
                    [(label(f"clinic_confirm_{action}"), encode("cc", request, "y"))],
                    [(label("clinic_confirm_no"), encode("cc", request, "n"))],
                ],
            )
        ]

    await respond(rt, update, act, patient_id=_sender_pid(rt, update))


async def confirm_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`cc:<request>:y|n`: only the clinician who asked, while still active, within a day; a
    cohort's request only while they may still see that cohort."""
    rt = runtime(context)
    await answer_callback(update)
    cb = decode(tapped(update).data)
    now = rt.clock.now()
    user_id = sender(update).id
    request = None
    if cb is not None and cb.head == "cc":
        request = clinics.pending_confirm(rt.db, cb["request"], now - CONFIRM_VALID)
    found = None
    if request is not None and request["cohort_id"] is not None:
        found = clinics.cohort_for(rt.db, request["cohort_id"], user_id)
    if (
        request is None
        or request["user_id"] != user_id
        or (request["cohort_id"] is not None and found is None)
    ):
        await _refuse(rt, update, "expired")
        return
    assert cb is not None  # a request was found only with it
    await clear_buttons(update)
    staff = clinics.clinician(rt.db, request["clinician_id"])
    assert staff is not None  # pending_confirm joins it
    if cb["answer"] == "n" or not clinics.answer_confirm(rt.db, request["id"], now):
        if cb["answer"] == "n":
            await _refuse(rt, update, "clinic_confirm_cancelled")
        return
    args, action = request["args"], request["action"]
    if args.get("start"):  # the range moves with the clinic's date: checked again
        out_of_range = _start_out_of_range(
            rt, staff["clinic_id"], date.fromisoformat(args["start"])
        )
        if out_of_range:
            await _refuse(rt, update, "clinic_bad_date", **out_of_range)
            return
    if action == "cohort_new":
        await _create_cohort(rt, update, staff, args["name"], date.fromisoformat(args["start"]))
        return
    assert found is not None  # the other actions name a cohort
    cohort = found[0]
    if cohort["archived_at"]:
        await _refuse(rt, update, "clinic_archived", cohort=cohort)
        return
    if action == "cohort_start":
        await _apply_settings(rt, update, cohort, staff, {"start_date": args["start"]})
    elif action == "cohort_link":
        await _new_link(rt, update, cohort, staff)
    elif action == "cohort_archive":

        def archive():
            if not clinics.archive_cohort(rt.db, cohort["id"], staff["id"], now):
                return []
            events.record(
                rt.db, now, "cohort_archived", None, cohort=cohort["id"], clinician=staff["id"]
            )
            return [Outgoing(render("clinic_archived", cohort=cohort, done=True))]

        await respond(rt, update, archive, patient_id=_sender_pid(rt, update))


async def cohort_link_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cohort_link ID: a new enrolment link and QR code; the old one stops working."""
    rt = runtime(context)
    found = await _cohort_or_refuse(rt, update, list(context.args or []), "cohort_link")
    if found is None:
        return
    if found[0]["archived_at"]:
        await _refuse(rt, update, "clinic_archived", cohort=found[0])
        return
    await _ask(rt, update, found[1], "cohort_link", found[0], {})


async def _new_link(rt, update: Update, cohort: dict, staff: dict) -> None:
    """Confirmed: a new enrolment link and QR code; the previous link stops working."""
    qr: dict[str, Any] = {}

    def act():
        clinics.log_change(rt.db, cohort["id"], staff["id"], "link", None, "new", rt.clock.now())
        return _link_messages(rt, update, cohort, qr, new=False)

    if await respond(rt, update, act):
        await _send_qr(rt, qr)


async def cohort_archive_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cohort_archive ID: (after a confirmation) the link stops and no more digests; the
    roster and export stay readable; members keep their course."""
    rt = runtime(context)
    found = await _cohort_or_refuse(rt, update, list(context.args or []), "cohort_archive")
    if found is None:
        return
    if found[0]["archived_at"]:
        await _refuse(rt, update, "clinic_archived", cohort=found[0])
        return
    await _ask(rt, update, found[1], "cohort_archive", found[0], {})


async def cohort_log_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cohort_log ID: who changed what and when (settings, link, archive, responsibility)."""
    rt = runtime(context)
    found = await _cohort_or_refuse(rt, update, list(context.args or []), "cohort_log")
    if found is None:
        return
    cohort = found[0]
    tz = zone(cohort["clinic_timezone"])
    lines = [
        {**row, "when": parse_iso(row["at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M")}
        for row in clinics.change_log(rt.db, cohort["id"])
    ]
    await reply(
        rt,
        update,
        Outgoing(render("clinic_cohort_log", cohort=cohort, lines=lines)),
        patient_id=_sender_pid(rt, update),
    )


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


EXPORT_PARTS = {None: ("days", "sessions"), "research": ("research",), "fhir": ("fhir",)}


async def export_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export ID [research|fhir]: two CSV files, or the research files (one zip, issue 17), or
    a FHIR R4 Bundle; built when they are sent (access is checked again then)."""
    rt = runtime(context)
    args = list(context.args or [])
    found = await _cohort_or_refuse(rt, update, args, "export")
    if found is None:
        return
    cohort, staff = found
    what = args[1].lower() if len(args) > 1 else None
    if what not in EXPORT_PARTS:
        await _refuse(rt, update, "clinic_usage", usage="export", cohorts=[])
        return
    now = rt.clock.now()
    rows = []

    def act():
        for part in EXPORT_PARTS[what]:
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
        return [Outgoing(render("clinic_export", cohort=cohort, what=what))]

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
    if change and cohort["archived_at"]:
        await _refuse(rt, update, "clinic_archived", cohort=cohort)
        return
    if change.get("start_date"):
        start = date.fromisoformat(change["start_date"])
        out_of_range = _start_out_of_range(rt, cohort["clinic_id"], start)
        if out_of_range:
            await _refuse(rt, update, "clinic_bad_date", setting=True, **out_of_range)
            return
        if start < _clinic_today(rt, cohort["clinic_id"]):
            await _ask(rt, update, staff, "cohort_start", cohort, {"start": change["start_date"]})
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
    await _apply_settings(rt, update, cohort, staff, change)


LOGGED_AS = {
    "start_date": "start",
    "emergency_text": "emergency",
    "thresholds": "thresholds",
    "responsible": "responsible",
    "quiet_days": "quiet",
}


async def _apply_settings(rt, update: Update, cohort: dict, staff: dict, change: dict) -> None:
    """Save the change (if any), log each field's old and new value, and show the settings."""
    now = rt.clock.now()

    def act():
        if change:
            clinics.update_cohort(rt.db, cohort["id"], **change)
            for field, value in sorted(change.items()):
                old = cohort[field]
                if field == "thresholds":
                    _log_thresholds(rt, cohort["id"], staff["id"], old, value, now)
                    continue
                if field == "start_date":
                    old, value = old or "rolling", value or "rolling"
                clinics.log_change(
                    rt.db, cohort["id"], staff["id"], LOGGED_AS.get(field, field), old, value, now
                )
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


def _log_thresholds(rt, cohort_id: int, staff_id: int, old: str, new: str, now) -> None:
    """One log line per threshold that changed: `threshold NAME`, old and new (None: default)."""
    before, after = json.loads(old or "{}"), json.loads(new or "{}")
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            clinics.log_change(
                rt.db,
                cohort_id,
                staff_id,
                f"threshold {name}",
                before.get(name),
                after.get(name),
                now,
            )


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
    user = sender(update)
    now = rt.clock.now()
    found = invites.answered(rt.db, decode(tapped(update).data), "clj", "clinician", user.id, now)
    if found is None:
        await reply(rt, update, Outgoing(render("invite_refused")))
        return
    invite, yes = found
    await clear_buttons(update)
    await _answer_staff_invite(rt, update, invite, yes)


async def typed_staff_answer(rt, update: Update, patient: dict | None) -> bool:
    """Text typed at an opened clinician invite instead of tapping: a clear yes joins, a no
    declines, anything else asks again with the buttons. Only for someone not set up here."""
    message = update.effective_message
    if patient is not None or message is None:
        return False
    invite = clinics.claimed_clinician_invite(rt.db, sender(update).id, rt.clock.now())
    if invite is None:
        return False
    answer = _typed_offer_answer(message.text)
    if answer is None:
        buttons = [
            [
                (label("clinic_accept"), encode("clj", invite["id"], "y")),
                (label("clinic_decline"), encode("clj", invite["id"], "n")),
            ]
        ]
        await reply(rt, update, Outgoing(render("clinic_staff_typed"), buttons))
        return True
    await _answer_staff_invite(rt, update, invite, answer)
    return True


async def _answer_staff_invite(rt, update: Update, invite: dict, yes: bool) -> None:
    user, chat = sender(update), current_chat(update)
    now = rt.clock.now()
    place = clinics.clinic(rt.db, invite["clinic_id"])
    if place is None:  # the invite's foreign key: cannot happen
        raise LookupError(f"clinic {invite['clinic_id']} does not exist")
    if not yes:
        with rt.db.atomic():
            events.record(rt.db, now, "clinician_invite_declined", None, invite=invite["id"])
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


def _offer_text(cohort: dict, today: date | None = None) -> str:
    """The offer; a fixed cohort whose 12 weeks are over says so: the newcomer follows their own
    course (jobs.clinic.enrol keeps their own start date)."""
    ended = today is not None and clinics.course_over(cohort["start_date"], today)
    return render(
        "clinic_offer",
        cohort=cohort,
        ended=ended,
        course_end=clinics.course_end(cohort["start_date"]),
    )


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
    await _show_offer(rt, update, cohort, cohort.get("personal_invite_id"))


def _offer_buttons(offer_id: int) -> list:
    return [
        [(label("clinic_join"), encode("coj", offer_id, "y"))],
        [(label("clinic_not_now"), encode("coj", offer_id, "n"))],
    ]


async def _show_offer(rt, update: Update, cohort: dict, invite_id: int | None) -> None:
    """The offer with its buttons, recorded as shown (the exact text's hash)."""
    user = sender(update)
    now = rt.clock.now()
    patient = patient_of(rt, update)
    tz_name = patient["timezone"] if patient else cohort["clinic_timezone"]
    text = _offer_text(cohort, local_date(now, zone(tz_name)))

    def offer():
        offer_id = clinics.make_offer(
            rt.db,
            cohort["id"],
            user.id,
            hashlib.sha256(text.encode("utf-8")).hexdigest(),
            now,
            invite_id=invite_id,  # a personal link: its reference
        )
        return [Outgoing(text, _offer_buttons(offer_id))]

    await respond(rt, update, offer)


# Typed answers to an offer: sharing with a clinic needs a clear yes ("ok" or "sure" re-asks).
TYPED_OFFER_VALID = timedelta(hours=1)
RESHOW_OFFER_WITHIN = timedelta(days=1)
_JOIN_WORDS = frozenset({"join", "join and share", "join the group", "i want to join"})
_YES_WORDS = _JOIN_WORDS | {"yes", "yes please", "i agree", "agree", "yes i agree"}
_NO_WORDS = frozenset({"no", "no thanks", "no thank you", "not now", "don't join", "nope"})


def _typed_offer_answer(text: str | None) -> bool | None:
    s = " ".join(re.sub(r"[^\w\s']", " ", (text or "").casefold()).split())
    if s in _YES_WORDS:
        return True
    if s in _NO_WORDS:
        return False
    return None


async def typed_offer_answer(rt, update: Update, patient: dict | None) -> bool:
    """Text typed within an hour of a cohort offer instead of tapping: a clear yes joins, a no
    declines, anything else asks again with the buttons. Someone set up already is only caught
    by a clear join or no, so their other answers still reach their questions."""
    message = update.effective_message
    now = rt.clock.now()
    found = clinics.open_offer(rt.db, sender(update).id, now - TYPED_OFFER_VALID)
    if found is None or message is None:
        return False
    if patient is not None and clinics.membership(rt.db, patient["id"]) is not None:
        return False
    answer = _typed_offer_answer(message.text)
    set_up = patient is not None and patient["status"] != "onboarding"
    if set_up and answer is None:
        return False
    cohort = clinics.cohort(rt.db, found["cohort_id"])
    if cohort is None or cohort["archived_at"]:
        return False
    if answer is None:
        await reply(
            rt,
            update,
            Outgoing(render("clinic_offer_typed"), _offer_buttons(found["id"])),
            patient_id=patient["id"] if patient else None,
        )
        return True
    await _answer_offer(rt, update, found, cohort, answer)
    return True


async def reshow_offer(rt, update: Update) -> bool:
    """A bare /start with an unanswered offer under a day old: that offer again, not set-up."""
    patient = patient_of(rt, update)
    if patient is not None and clinics.membership(rt.db, patient["id"]) is not None:
        return False
    now = rt.clock.now()
    found = clinics.open_offer(rt.db, sender(update).id, now - RESHOW_OFFER_WITHIN)
    cohort = clinics.cohort(rt.db, found["cohort_id"]) if found else None
    if found is None or cohort is None or cohort["archived_at"]:
        return False
    await _show_offer(rt, update, cohort, found["invite_id"])
    return True


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
    await _answer_offer(rt, update, found, cohort, cb["answer"] == "y")


async def _answer_offer(rt, update: Update, found: dict, cohort: dict, yes: bool) -> None:
    """Join (or not) after a tap on the offer's button or a clear typed answer."""
    user = sender(update)
    now = rt.clock.now()
    if not yes:
        with rt.db.atomic():
            events.record(rt.db, now, "cohort_offer_declined", None, offer=found["id"])
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
    tz_name = patient["timezone"] if patient else cohort["clinic_timezone"]
    ended = clinics.course_over(cohort["start_date"], local_date(now, zone(tz_name)))

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
            return [Outgoing(render("clinic_joined", cohort=cohort, set_up=True, ended=ended))]
        # Not set up yet: they join when set-up ends; its first (or next) question follows.
        state = consents.onboarding(rt.db, user.id)
        if state is None:
            consents.set_step(rt.db, user.id, current_chat(update).id, "intro", now)
            state = consents.onboarding(rt.db, user.id)
        return [
            Outgoing(render("clinic_joined", cohort=cohort, set_up=False, ended=ended)),
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
