"""/mydata (a JSON and a CSV file of everything stored about the sender) and /delete (confirm,
then every row about them removed, with a short receipt)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.rules.callbacks import decode, encode
from handlers.caregiver import notify
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
from jobs.dispatch import dispatch_now
from messages import Outgoing, label, render
from storage import caregivers, events, outbox, privacy


async def mydata_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    patient = patient_of(rt, update)
    pid = patient["id"] if patient else None
    now = rt.clock.now()

    def act():
        for part in ("json", "csv"):
            outbox.enqueue(
                rt.db,
                chat_id=current_chat(update).id,
                patient_id=pid,
                kind="export",
                due_at=now,
                now=now,
                dedupe_key=f"export:{update_key(update)}:{part}",
                payload={"format": part, "user_id": sender(update).id},
            )
        return [Outgoing(render("mydata"))]

    await respond(rt, update, act, patient_id=pid)


async def delete_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    patient = patient_of(rt, update)
    await reply(
        rt,
        update,
        Outgoing(
            render("delete_confirm"),
            [
                [(label("delete_yes"), encode("del", "yes"))],
                [(label("delete_no"), encode("del", "no"))],
            ],
        ),
        patient_id=patient["id"] if patient else None,
    )


# The receipt names what was deleted in plain words, never table names; a table not listed
# here (a newer one) is counted under "other records".
RECEIPT_WORDS = {
    "checkins": "pain check-ins",
    "activities": "activities and their sessions",
    "sessions": "activities and their sessions",
    "sitting_breaks": "answers to sitting reminders",
    "sitting_off": "answers to sitting reminders",
    "lessons_sent": "lessons and your answers to them",
    "patients": "your settings and consent",
    "consents": "your settings and consent",
    "onboarding": "your settings and consent",
    "awaiting": "messages between us",
    "outbox": "messages between us",
    "inbox": "messages between us",
    "events": "the record of what I suggested and why",
    "caregivers": "family links and invitations",
    "invites": "family links and invitations",
    "invite_failures": "family links and invitations",
    "memberships": "clinic links",
    "cohort_offers": "clinic links",
    "alert_episodes": "clinic links",
    "clinic_messages": "messages with your clinic",
    "clinicians": "your clinic staff account",
    "clinic_confirms": "your clinic staff account",
}


def receipt(counts: dict[str, int]) -> dict[str, int]:
    """Rows deleted per table -> per plain-words kind, in a fixed order, empty kinds left out."""
    found: dict[str, int] = {}
    order = list(dict.fromkeys(RECEIPT_WORDS.values())) + ["other records"]
    for table, n in counts.items():
        if n:
            kind = RECEIPT_WORDS.get(table, "other records")
            found[kind] = found.get(kind, 0) + n
    return {kind: found[kind] for kind in order if kind in found}


async def delete_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt = runtime(context)
    await answer_callback(update)
    await clear_buttons(update)
    cb = decode(tapped(update).data)
    answer = cb["answer"] if cb is not None and cb.head == "del" else None
    if answer == "no":
        await reply(rt, update, Outgoing(render("delete_kept")))
        return
    if answer != "yes":
        await reply(rt, update, Outgoing(render("expired")))
        return
    patient = patient_of(rt, update)
    user, chat = sender(update), current_chat(update)
    told: list[int | None] = []

    def act():
        # A caregiver's links end with their rows: each patient is told (after the deletion,
        # so the notice is not deleted with the caregiver's messages).
        links = privacy.links_as_caregiver(rt.db, user.id)
        # A patient's caregivers are told too, without the name (nothing of theirs may stay).
        carers = caregivers.active_for_patient(rt.db, patient["id"]) if patient else []
        counts = privacy.delete(rt.db, patient["id"] if patient else None, user.id, chat.id)
        # An anonymous line in the audit log: that a deletion happened, not whose.
        events.record(rt.db, rt.clock.now(), "person_deleted", None, rows=sum(counts.values()))
        for link in links:
            if link["patient_chat"] != chat.id:
                told.append(
                    notify(
                        rt,
                        link["patient_chat"],
                        link["patient_id"],
                        f"{link['id']}:deleted",
                        "caregiver_link_notice",
                        event="ended",
                        by="deleted",
                        to="patient",
                        carer=link["first_name"],
                        patient=link["patient_name"],
                    )
                )
        for carer in carers:
            if carer["chat_id"] != chat.id:
                told.append(
                    outbox.enqueue(
                        rt.db,
                        chat_id=carer["chat_id"],
                        patient_id=None,
                        kind="caregiver_notice",
                        due_at=rt.clock.now(),
                        now=rt.clock.now(),
                        dedupe_key=f"caregiver_notice:{carer['id']}:patient_deleted",
                        payload=Outgoing(
                            render(
                                "caregiver_link_notice", event="ended", to="caregiver", by="deleted"
                            )
                        ).as_payload(),
                    )
                )
        kinds = receipt(counts)
        return [Outgoing(render("delete_done", kinds=kinds, total=sum(counts.values())))]

    await respond(rt, update, act)
    for row in told:
        if row:
            await dispatch_now(rt, row)
