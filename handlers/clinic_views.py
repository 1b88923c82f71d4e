"""What a clinician sees of one patient: `/patient ID` (issue 16, Deliver 3), with its Outcomes
block (issue 17), and a cohort's outcome report: `/outcomes COHORT_ID` (issue 17).

The text (who, where they stand, flags with dates and states, a 4-week day-by-day timeline)
is the reply; the chart of the whole course follows as its own outbox row (`patient_chart`),
drawn when it is sent. Access is `jobs.clinic.patient_for`, checked again when the chart is
sent: only an active clinician of the clinic whose cohort the patient is in now. A patient of
another clinic, of none, one who left or withdrew, and a number that does not exist all get
the same answer.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from handlers.clinic import _cohort_or_refuse, _sender_pid
from handlers.common import current_chat, patient_of, reply, respond, runtime, sender, update_key
from jobs import clinic, outcome_results
from jobs.dispatch import dispatch_now
from messages import Outgoing, render
from storage import clinics, events, outbox


def _patient_number(args: list[str]) -> int | None:
    """The patient's number as the roster shows it: `12` or `#12`."""
    text = args[0].lstrip("#") if args else ""
    return int(text) if text.isascii() and text.isdecimal() and len(text) < 10 else None


async def patient_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/patient ID: one patient's figures, flags, 4-week timeline and chart."""
    rt = runtime(context)
    user_id = sender(update).id
    own = patient_of(rt, update)
    own_id = own["id"] if own else None
    roles = clinics.roles_of(rt.db, user_id)
    if not roles:
        await reply(rt, update, Outgoing(render("clinic_staff_only")), patient_id=own_id)
        return
    patient_id = _patient_number(list(context.args or []))
    found = clinic.patient_for(rt.db, patient_id, user_id) if patient_id is not None else None
    if found is None:
        text = render("clinic_no_patient", patient_id=patient_id)
        await reply(rt, update, Outgoing(text), patient_id=own_id)
        return
    patient, member, cohort = found
    staff = next(r for r in roles if r["clinic_id"] == cohort["clinic_id"])
    now = rt.clock.now()
    chart_row: list[int | None] = []

    def act() -> list[Outgoing]:
        # Filed under the patient: their /mydata shows it, their /delete removes it.
        events.record(rt.db, now, "patient_viewed", patient["id"], clinician=staff["id"])
        chart_row.append(
            outbox.enqueue(
                rt.db,
                chat_id=current_chat(update).id,
                patient_id=patient["id"],
                kind="patient_chart",
                due_at=now,
                now=now,
                dedupe_key=f"patient_chart:{update_key(update)}",
                payload={"patient_id": patient["id"], "clinician_id": staff["id"]},
            )
        )
        view = clinic.patient_view(rt.db, patient, member, cohort, now)
        block = render("outcome_patient", o=outcome_results.patient_block(rt.db, patient))
        return [Outgoing(f"{view}\n\n{block}" if block else view)]

    if await respond(rt, update, act, patient_id=own_id):
        for row_id in chart_row:
            if row_id is not None:
                await dispatch_now(rt, row_id)


async def outcomes_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/outcomes COHORT_ID: the cohort's outcome report (access as every cohort command)."""
    rt = runtime(context)
    found = await _cohort_or_refuse(rt, update, list(context.args or []), "outcomes")
    if found is None:
        return
    cohort, staff = found
    now = rt.clock.now()

    def act() -> list[Outgoing]:
        events.record(
            rt.db, now, "outcomes_viewed", None, cohort=cohort["id"], clinician=staff["id"]
        )
        return outcome_results.cohort_report_messages(rt.db, cohort, now)

    await respond(rt, update, act, patient_id=_sender_pid(rt, update))
