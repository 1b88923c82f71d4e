"""Activity sessions end to end: start, B, end, A, S, N, and the pacing decision with its advice.

Handlers call these inside one transaction with the reply they queue, so an answer and what the bot
says about it are stored together. The rule itself is pure (bot.rules.pacing); this module gathers
its inputs from storage, stores the decision with everything it used, moves the dose, and renders
the advice. The durable outbox carries the later prompts: `settle` (S, ~2 h after the end),
`next_day`
(N, ~24 h after the start, unless the daily check-in falls near then and asks it), `advice` (a
decision made at the deadline without N) and `pause_over` (an offer to try a paused activity again).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from markupsafe import Markup

from bot.clock import iso, parse_iso
from bot.rules import pacing
from bot.rules import questions as question_rules
from bot.rules.callbacks import encode
from bot.rules.localtime import local_date, local_to_utc, parse_hhmm, zone
from bot.rules.schedule import policy_for
from bot.runtime import Runtime
from jobs import flare, skipped
from jobs import questions as conversation
from messages import Outgoing, label, rating_rows, render
from storage import activities, checkins, clinics, events, outbox, patients, questions, sessions

log = logging.getLogger(__name__)

# B may come from a daily check-in made this shortly before the start (docs/clinical-rules.md).
BEFORE_FROM_CHECKIN = timedelta(hours=2)
# A pain-now rating this long after a session's start counts as its N ("about 24 hours later").
NEXT_DAY_EARLIEST = timedelta(hours=20)
NEXT_DAY_AT = timedelta(hours=24)
# A daily check-in due this close to the 24-hour point asks N itself; the separate N prompt then
# waits until after it, as a fallback that is skipped once N is known.
MERGE_WITH_CHECKIN = timedelta(hours=4)
FALLBACK_AFTER_CHECKIN = timedelta(hours=3)
# The settle question goes to every session that ended at least this long ago, in one message.
SETTLE_MERGE = timedelta(minutes=30)
PAUSE_OFFER_AFTER_CHECKIN = timedelta(minutes=30)
# "Finished your walk?" this long after the dose should have ended, once; from then on an
# unfinished activity no longer holds sitting nudges back.
FINISH_CHECK_AFTER = timedelta(minutes=30)
MORNING = "tomorrow morning"
LOG_WHEN_HOURS = (0, 1, 3, 6)  # "log a session afterwards": how long ago it started


def thresholds_for(db, patient: dict) -> pacing.Thresholds:
    """The rule's thresholds for this person: their cohort's, where it set any, else defaults."""
    member = clinics.membership(db, patient["id"])
    return pacing.Thresholds.from_dict(json.loads(member["thresholds"]) if member else None)


def today(patient: dict, now: datetime) -> str:
    return local_date(now, zone(patient["timezone"])).isoformat()


def _checkin_pain_near(rt: Runtime, patient: dict, started: datetime) -> int | None:
    """A check-in answered within 2 hours before the start stands in for B."""
    return checkins.pain_answered_between(
        rt.db, patient["id"], iso(started - BEFORE_FROM_CHECKIN), iso(started)
    )


# -- the plan: what to do today ---------------------------------------------------------------
def plan_message(rt: Runtime, patient: dict, *, intro: str = "") -> Outgoing:
    """Each activity at its current dose (paused ones with their return date), and start buttons.

    `intro` is already-rendered HTML (e.g. the check-in's thanks) shown above the plan.
    """
    now = rt.clock.now()
    day = today(patient, now)
    items = []
    buttons = []
    for act in activities.for_patient(rt.db, patient["id"]):
        paused = activities.is_paused(act, day)
        items.append(
            {
                "name": act["name"],
                # Lower on an accepted flare day; a paused one comes back at its usual dose.
                "dose": act["dose_minutes"]
                if paused
                else flare.dose_today(rt.db, patient, act, day),
                "paused": paused,
                "until": _nice_date(act["paused_until"]) if paused else "",
            }
        )
        if not paused:
            buttons.append([(label("activity_start", name=act["name"]), encode("a:s", act["id"]))])
    buttons.append([(label("activity_log"), encode("a:l"))])
    # `intro` is our own rendered template (plan_intro), already safe HTML.
    return Outgoing(render("plan", intro=Markup(intro), items=items), buttons)  # noqa: S704


def _nice_date(iso_date: str | None) -> str:
    if not iso_date:
        return ""
    d = date.fromisoformat(iso_date)
    return f"{d.strftime('%a')} {d.day} {d.strftime('%b')}"


# -- starting, ending, answering --------------------------------------------------------------
def start(rt: Runtime, patient: dict, activity: dict) -> tuple[int | None, Outgoing]:
    """Begin a live session: ask B, or take it from a recent check-in and say "off you go"."""
    now = rt.clock.now()
    doing = sessions.in_progress(rt.db, patient["id"])
    if doing is not None:
        return None, _doing_message(doing, already=True)
    before = _checkin_pain_near(rt, patient, now)
    sid = sessions.create(
        rt.db,
        patient_id=patient["id"],
        activity_id=activity["id"],
        # On an accepted flare day, about half: planned, and judged (decide), at that dose.
        dose_minutes=flare.dose_today(rt.db, patient, activity, today(patient, now)),
        started_at=now,
        now=now,
        stage="doing" if before is not None else "before",
        before=before,
        before_source="checkin" if before is not None else None,
    )
    events.record(rt.db, now, "session_started", patient["id"], session=sid)
    session = sessions.existing(rt.db, sid)
    if before is None:
        ask(rt, patient, "session_before", sid)
        return sid, Outgoing(
            render("session_before", activity=activity["name"]), rating_rows("r", sid, "b")
        )
    return sid, _doing_message(session, from_checkin=True, today_str=today(patient, now))


def _doing_message(
    session: dict,
    *,
    already: bool = False,
    from_checkin: bool = False,
    today_str: str | None = None,
) -> Outgoing:
    """The "off you go" message; with `today_str` (a local ISO date) notes a break still running."""
    sid = session["id"]
    if already and session["stage"] == "before":
        return Outgoing(
            render("session_before", activity=session["activity"], already=True),
            rating_rows("r", sid, "b"),
        )
    return Outgoing(
        render(
            "session_go",
            activity=session["activity"],
            dose=session["dose_minutes"],
            before=session["before"],
            from_checkin=from_checkin,
            already=already,
            paused_until=_nice_date(session["paused_until"])
            if today_str and session.get("paused_until") and session["paused_until"] > today_str
            else "",
        ),
        [
            [
                (label("activity_done"), encode("a:e", sid)),
                (label("activity_cancel"), encode("a:x", sid)),
            ]
        ],
    )


def record_before(rt: Runtime, patient: dict, session: dict, pain: int) -> Outgoing | None:
    """Store B; a live session is now under way, a logged one goes straight on to A."""
    logged = bool(session["logged"])
    if not sessions.set_if_empty(
        rt.db,
        session["id"],
        "before",
        pain,
        "before",
        "after" if logged else "doing",
        before_source="asked",
    ):
        return None
    questions.close(
        rt.db, patient["id"], "session_before", ref=str(session["id"]), now=rt.clock.now()
    )
    if logged:
        return ask_after(rt, patient, session)
    out = _doing_message(
        sessions.existing(rt.db, session["id"]), today_str=today(patient, rt.clock.now())
    )
    return Outgoing(out.text, out.buttons + [conversation.undo_row("b", session["id"])])


def ask(rt: Runtime, patient: dict, kind: str, session_id: int) -> None:
    """Open an activity's before/after question (it expires: bot.rules.questions)."""
    now = rt.clock.now()
    questions.open_question(
        rt.db,
        patient["id"],
        kind,
        str(session_id),
        now,
        subject=str(session_id),
        expires_at=now + question_rules.EXPIRES_AFTER[kind],
    )


def ask_after(rt: Runtime, patient: dict, session: dict) -> Outgoing:
    ask(rt, patient, "session_after", session["id"])
    return Outgoing(
        render("session_after", activity=session["activity"], logged=bool(session["logged"])),
        rating_rows("r", session["id"], "a"),
    )


def log_past(
    rt: Runtime, patient: dict, activity: dict, minutes: int, hours_ago: int
) -> tuple[int, Outgoing]:
    """A session done earlier, reported now: started `hours_ago`, lasted `minutes`."""
    now = rt.clock.now()
    started = now - timedelta(hours=hours_ago, minutes=minutes if hours_ago == 0 else 0)
    ended = min(started + timedelta(minutes=minutes), now)
    before = _checkin_pain_near(rt, patient, started)
    sid = sessions.create(
        rt.db,
        patient_id=patient["id"],
        activity_id=activity["id"],
        dose_minutes=minutes,
        started_at=started,
        ended_at=ended,
        now=now,
        logged=True,
        stage="after" if before is not None else "before",
        before=before,
        before_source="checkin" if before is not None else None,
    )
    events.record(rt.db, now, "session_logged", patient["id"], session=sid)
    session = sessions.existing(rt.db, sid)
    if before is not None:
        return sid, ask_after(rt, patient, session)
    ask(rt, patient, "session_before", sid)
    return sid, Outgoing(
        render("session_before", activity=activity["name"], logged=True), rating_rows("r", sid, "b")
    )


def end(rt: Runtime, patient: dict, session: dict) -> Outgoing | None:
    """The person tapped Done: ask A (the highest pain during or right after)."""
    now = rt.clock.now()
    if not sessions.mark_done(rt.db, session["id"], now):
        return None
    return ask_after(rt, patient, session)


def cancel(rt: Runtime, patient: dict, session: dict) -> Outgoing | None:
    if not sessions.mark_cancelled(rt.db, session["id"]):
        return None
    for kind in ("session_before", "session_after"):  # this session's; a safety question stays
        questions.close(rt.db, patient["id"], kind, ref=str(session["id"]), status="superseded")
    return Outgoing(render("session_cancelled", activity=session["activity"]))


def record_after(rt: Runtime, patient: dict, session: dict, pain: int) -> list[Outgoing] | None:
    """Store A; plan S about 2 h after the end and N about 24 h after the start."""
    now = rt.clock.now()
    if not sessions.set_if_empty(rt.db, session["id"], "after", pain, "after", "waiting"):
        return None
    questions.close(rt.db, patient["id"], "session_after", ref=str(session["id"]), now=now)
    t = thresholds_for(rt.db, patient)
    ended = parse_iso(session["ended_at"]) if session["ended_at"] else now
    started = parse_iso(session["started_at"])
    settle_at = ended + timedelta(hours=t.settle_check_hours)
    ask_at = settle_ask_at(patient, settle_at)  # never promised into quiet hours
    outs = [
        Outgoing(
            render(
                "session_noted",
                activity=session["activity"],
                after=pain,
                before=session["before"],
                flare=session["before"] is not None
                and pain - session["before"] > t.flare_tolerance,
                settle_now=settle_at <= now,
                settle_later=_settle_later(patient, ended, ask_at) if ask_at > settle_at else "",
            ),
            [conversation.undo_row("a", session["id"])],
        )
    ]
    if settle_at <= now:  # logged afterwards, long enough ago: ask S straight away
        outs.append(settle_question([sessions.existing(rt.db, session["id"])]))
    else:
        _enqueue(
            rt,
            patient,
            "settle",
            ask_at,
            f"settle:{session['id']}",
            {"session_id": session["id"], "overnight": ask_at > settle_at},
        )
    _enqueue(
        rt,
        patient,
        "next_day",
        next_day_prompt_at(patient, started),
        f"next_day:{session['id']}",
        {"session_id": session["id"]},
    )
    return outs


def next_day_prompt_at(patient: dict, started: datetime) -> datetime:
    """When to ask N: 24 h after the start, or just after a daily check-in that asks it anyway."""
    target = started + NEXT_DAY_AT
    if patient["checkin_time"]:
        tz = zone(patient["timezone"])
        at = parse_hhmm(patient["checkin_time"])
        day = local_date(target, tz)
        for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
            checkin = local_to_utc(d, at, tz)
            if abs(checkin - target) <= MERGE_WITH_CHECKIN:
                return max(target, checkin + FALLBACK_AFTER_CHECKIN)
    return target


def _enqueue(
    rt: Runtime, patient: dict, kind: str, due: datetime, key: str, payload: dict
) -> int | None:
    return outbox.enqueue(
        rt.db,
        chat_id=patient["chat_id"],
        patient_id=patient["id"],
        kind=kind,
        due_at=due,
        dedupe_key=key,
        payload=payload,
        now=rt.clock.now(),
    )


def settle_question(due: list[dict]) -> Outgoing:
    """Has the pain settled? One message, one yes/no row per session that is waiting for it."""
    rows = []
    for s in due:
        rows.append(
            [
                (
                    label("settle_yes", name=s["activity"])
                    if len(due) > 1
                    else label("settle_yes_one"),
                    encode("r", s["id"], "s", 1),
                ),
                (
                    label("settle_no", name=s["activity"])
                    if len(due) > 1
                    else label("settle_no_one"),
                    encode("r", s["id"], "s", 0),
                ),
            ]
        )
    return Outgoing(render("session_settle", sessions=due), rows)


def settle_ask_at(patient: dict, settle_at: datetime) -> datetime:
    """When to ask S: at the settle time, or, when that falls in quiet hours, at their end (then
    as "did it settle overnight?"). Never a promise the quiet hours would break."""
    quiet = patients.preferences(patient).quiet
    tz = zone(patient["timezone"])
    if quiet is not None and quiet.contains(settle_at, tz):
        return quiet.next_end(settle_at, tz)
    return settle_at


def _settle_later(patient: dict, ended: datetime, ask_at: datetime) -> str:
    """How the reply after A names a settle question moved out of quiet hours."""
    tz = zone(patient["timezone"])
    later = local_date(ask_at, tz) > local_date(ended, tz)
    return MORNING if later else "once your quiet hours are over"


def settle_due(db, patient: dict, now: datetime) -> list[dict]:
    """Sessions whose S is unanswered and whose settle question is due (or comes very soon):
    2 hours after the end (`settle_check_hours`), or at the end of quiet hours when that time
    fell inside them (marked `overnight`)."""
    t = thresholds_for(db, patient)
    # Past the settle question's own lateness limit, "has it settled?" means something else.
    max_late = policy_for("settle").max_late
    assert max_late is not None  # the settle question has a lateness limit
    due = []
    for s in sessions.open_for(db, patient["id"]):
        if s["stage"] != "waiting" or s["settled"] is not None or not s["ended_at"]:
            continue
        ended = parse_iso(s["ended_at"])
        settle_at = ended + timedelta(hours=t.settle_check_hours)
        ask_at = settle_ask_at(patient, settle_at)
        if now - max_late <= ask_at <= now + SETTLE_MERGE:
            overnight = ask_at > settle_at and _settle_later(patient, ended, ask_at) == MORNING
            due.append({**s, "overnight": overnight})
    return due


def record_settled(rt: Runtime, patient: dict, session: dict, settled: bool) -> Outgoing | None:
    if not sessions.set_if_empty(rt.db, session["id"], "settled", int(settled), "waiting"):
        return None
    if not settle_due(rt.db, patient, rt.clock.now()):
        questions.close(rt.db, patient["id"], "settle", now=rt.clock.now())
    return Outgoing(
        render("session_settled", activity=session["activity"], settled=settled),
        [conversation.undo_row("s", session["id"])],
    )


def next_day_due(db, patient: dict, now: datetime) -> list[dict]:
    """Sessions for which a pain-now rating given now counts as N."""
    t = thresholds_for(db, patient)
    return sessions.waiting_next_day(
        db, patient["id"], now - timedelta(hours=t.next_day_deadline_hours), now - NEXT_DAY_EARLIEST
    )


def record_pain_now(
    rt: Runtime, patient: dict, pain: int, *, message_id: int | None = None
) -> tuple[int, list[Outgoing]]:
    """A pain-now rating (daily check-in or N prompt) is N for every session at its 24-hour point;
    each of those sessions is decided now. Returns how many took it, and the advice to send."""
    advice, applied = [], 0
    for s in next_day_due(rt.db, patient, rt.clock.now()):
        if sessions.set_if_empty(rt.db, s["id"], "next_day", pain, "waiting"):
            applied += 1
            out = decide(rt, patient, s["id"])
            if out is not None:
                advice.append(out)
    if applied:  # one N serves every session at its 24-hour point: nothing left to ask
        questions.close(rt.db, patient["id"], "next_day", now=rt.clock.now(), message_id=message_id)
    return applied, advice


# -- deciding ---------------------------------------------------------------------------------
def decide(
    rt: Runtime, patient: dict, session_id: int, *, overdue: bool = False
) -> Outgoing | None:
    """Apply rule v1 to one session, store the decision and its inputs, move the dose.

    Returns the advice to send, or None (still waiting, incomplete, or already decided).
    """
    now = rt.clock.now()
    s = sessions.get(rt.db, session_id)
    if s is None or s["stage"] in sessions.FINAL_STAGES:
        return None
    t = thresholds_for(rt.db, patient)
    earlier = sessions.decided_for_activity(rt.db, s["activity_id"], s["id"])
    # Judge the session at the dose it was done at when that was less than the current dose
    # (a short logged session must not be "eased" from a longer dose it never tried).
    dose = min(s["dose_minutes"], s["current_dose"])
    # "Again after an adaptation" means this session came after that advice was given.
    advised_before = [e for e in earlier if e["decided_at"] <= s["started_at"]]
    keeps = 0
    for e in earlier:
        if e["verdict"] != "keep" or e["dose_minutes"] != dose:
            break
        keeps += 1
    ratings = pacing.Ratings(
        s["before"], s["after"], None if s["settled"] is None else bool(s["settled"]), s["next_day"]
    )
    decision = pacing.decide(
        ratings,
        dose,
        previous_verdict=advised_before[0]["verdict"] if advised_before else None,
        keeps_at_dose=keeps if s["dose_minutes"] == s["current_dose"] else 0,
        next_day_overdue=overdue,
        thresholds=t,
    )
    if decision.status == "waiting":
        return None
    if not sessions.record_decision(rt.db, s["id"], decision.as_dict(), now):
        return None
    prior = {"prior_dose": s["current_dose"], "prior_paused_until": s["paused_until"]}
    day = today(patient, now)
    if decision.verdict in ("progress", "adapt"):
        activities.set_dose(rt.db, s["activity_id"], decision.next_dose)
    elif decision.verdict == "pause":
        until = (date.fromisoformat(day) + timedelta(days=decision.pause_days)).isoformat()
        activities.set_dose(rt.db, s["activity_id"], decision.next_dose, paused_until=until)
        _enqueue(
            rt,
            patient,
            "pause_over",
            _pause_offer_at(patient, until),
            f"pause_over:{s['activity_id']}:{until}",
            {"activity_id": s["activity_id"]},
        )
    inputs = {
        "before": s["before"],
        "after": s["after"],
        "settled": ratings.settled,
        "next_day": s["next_day"],
    }
    events.record(
        rt.db,
        now,
        "pacing_decision",
        patient["id"],
        session=s["id"],
        status=decision.status,
        verdict=decision.verdict,
        findings=list(decision.findings),
        rule_version=decision.rule_version,
        **prior,  # the activity as it was: a corrected N takes the decision again from there
    )
    rt.notify(
        "decision",
        chat_id=patient["chat_id"],
        kind="pacing",
        session_id=s["id"],
        activity=s["activity"],
        **inputs,
        findings=list(decision.findings),
        verdict=decision.verdict,
        status=decision.status,
        partial=decision.partial,
        dose=decision.dose,
        next_dose=decision.next_dose,
        rule_version=decision.rule_version,
    )
    log.info(
        "pacing decision",
        extra={
            "session": s["id"],
            "patient": patient["id"],
            "status": decision.status,
            "verdict": decision.verdict,
        },
    )
    if decision.status != "decided":
        return None  # without A there is no sound basis for advice, so none is given
    return advice_message(rt, patient, s, decision, day)


def _pause_offer_at(patient: dict, until: str) -> datetime:
    tz = zone(patient["timezone"])
    at = parse_hhmm(patient["checkin_time"]) if patient["checkin_time"] else time(10, 0)
    return local_to_utc(date.fromisoformat(until), at, tz) + PAUSE_OFFER_AFTER_CHECKIN


def gentler_alternative(rt: Runtime, patient: dict, activity_id: int, day: str) -> str | None:
    """Another activity the person already does without trouble (latest verdict keep/progress),
    else any other activity that is not paused and not just adapted."""
    tolerated, others = [], []
    for act in activities.for_patient(rt.db, patient["id"]):
        if act["id"] == activity_id or activities.is_paused(act, day):
            continue
        latest = sessions.decided_for_activity(rt.db, act["id"], 0)
        verdict = latest[0]["verdict"] if latest else None
        if verdict in ("keep", "progress"):
            tolerated.append(act["name"])
        elif verdict is None:
            others.append(act["name"])
    return (tolerated or others or [None])[0]


def advice_message(
    rt: Runtime, patient: dict, s: dict, decision: pacing.Decision, day: str
) -> Outgoing:
    until = ""
    if decision.verdict == "pause":
        until = _nice_date(
            (date.fromisoformat(day) + timedelta(days=decision.pause_days)).isoformat()
        )
    text = render(
        "pacing_advice",
        activity=s["activity"],
        verdict=decision.verdict,
        findings=decision.findings,
        partial=decision.partial,
        dose=s["current_dose"] if decision.verdict == "keep" else decision.dose,
        next_dose=decision.next_dose,
        pause_days=decision.pause_days,
        until=until,
        before=s["before"],
        after=s["after"],
        next_day=s["next_day"],
        tolerance=decision.thresholds["flare_tolerance"],
        alternative=gentler_alternative(rt, patient, s["activity_id"], day)
        if decision.verdict == "pause"
        else None,
    )
    return Outgoing(text)


# -- an activity never finished ----------------------------------------------------------------
def finish_check_at(session: dict) -> datetime:
    """About 30 minutes after the dose should have ended."""
    return (
        parse_iso(session["started_at"])
        + timedelta(minutes=session["dose_minutes"])
        + FINISH_CHECK_AFTER
    )


def blocks_nudges(session: dict, now: datetime) -> bool:
    """An activity under way holds sitting nudges back, until "Finished?" is due."""
    return now < finish_check_at(session)


def plan_finish_checks(rt: Runtime) -> int:
    """The plan tick: one "Finished your walk?" per live session still under way (active people
    only; a paused person's row waits for /resume like any prompt). Returns how many were new."""
    now = rt.clock.now()
    added = 0
    for s in sessions.live_unfinished(rt.db, now - timedelta(hours=36)):
        with rt.db.atomic():
            added += (
                outbox.enqueue(
                    rt.db,
                    chat_id=s["chat_id"],
                    patient_id=s["patient_id"],
                    kind="finish_check",
                    due_at=finish_check_at(s),
                    dedupe_key=f"finish_check:{s['id']}",
                    payload={"session_id": s["id"]},
                    now=now,
                )
                is not None
            )
    return added


def finish_question(db, patient: dict, session_id: int) -> Outgoing | None:
    """ "Finished your walk?" with the session's own Done / I didn't do it buttons, or None once it
    is no longer under way."""
    s = sessions.owned(db, session_id, patient["id"])
    if s is None or s["stage"] != "doing":
        return None
    return Outgoing(
        render("session_finish_check", activity=s["activity"], dose=s["dose_minutes"]),
        [
            [
                (label("activity_done"), encode("a:e", s["id"])),
                (label("activity_cancel"), encode("a:x", s["id"])),
            ]
        ],
    )


def decide_overdue(rt: Runtime) -> int:
    """Sessions past the N deadline are decided on what is known: partial (A known, N missing) or
    incomplete (no A: no advice). Advice goes through the outbox as `advice`, durable like the rest.
    """
    return sum(decide_overdue_steps(rt))


def decide_overdue_steps(rt: Runtime, size: int = 50) -> Iterator[int]:
    """decide_overdue, `size` sessions at a time: yields how many each step decided (the plan
    pass turns the event loop in between; each session is looked at again in its transaction)."""
    now = rt.clock.now()
    earliest_deadline = timedelta(hours=pacing.limits("next_day_deadline_hours")[0])
    rows = sessions.open_started_before(rt.db, now - earliest_deadline)
    for start in range(0, len(rows), size):
        decided = 0
        for row in rows[start : start + size]:
            try:
                decided += _decide_one_overdue(rt, row, now)
            except Exception as exc:  # noqa: BLE001 - one person's bad data must not stop the others
                skipped("decide_overdue", exc, patient=row["patient_id"], session=row["id"])
        yield decided


def _decide_one_overdue(rt: Runtime, row: dict, now: datetime) -> int:
    patient = patients.get(rt.db, row["patient_id"])
    if patient is None or patient["status"] == "withdrawn":
        return 0  # deleted, or consent withdrawn: nothing about them is decided
    deadline = timedelta(hours=thresholds_for(rt.db, patient).next_day_deadline_hours)
    if now - parse_iso(row["started_at"]) < deadline:
        return 0
    with rt.db.atomic():
        before = sessions.get(rt.db, row["id"])
        if before is None or before["stage"] not in sessions.OPEN_STAGES:
            return 0  # decided or closed since it was listed (the person answered meanwhile)
        out = decide(rt, patient, row["id"], overdue=True)
        closed = sessions.get(rt.db, row["id"])
        if out is None and before and closed and closed["stage"] == "incomplete":
            out = _closed_message(patient, before)  # never finished: a word, not silence
        if out is not None:
            rid = _enqueue(rt, patient, "advice", now, f"advice:{row['id']}", out.as_payload())
            if rid is not None and patient["status"] != patients.PLANNABLE:
                # Paused or on hold: kept back, and sent if they resume.
                outbox.mark_final(rt.db, rid, "cancelled", patient["status"])
    return 1


def _closed_message(patient: dict, session: dict) -> Outgoing:
    """A session closed at the deadline without its "after" rating: say so, kindly."""
    started = local_date(parse_iso(session["started_at"]), zone(patient["timezone"]))
    return Outgoing(
        render(
            "session_closed",
            activity=session["activity"],
            day=f"{started.strftime('%A')}",
            finished=session["stage"] == "after" or bool(session["logged"]),
        )
    )


def pause_offer(db, patient: dict, activity_id: int, now: datetime) -> Outgoing | None:
    act = activities.owned(db, activity_id, patient["id"])
    if act is None or activities.is_paused(act, today(patient, now)):
        return None
    return Outgoing(
        render("pause_over", activity=act["name"], dose=act["dose_minutes"]),
        [
            [(label("activity_start", name=act["name"]), encode("a:s", act["id"]))],
            [(label("pause_over_later"), encode("a:p"))],
        ],
    )


def payload_session(row: dict) -> int:
    return json.loads(row["payload"])["session_id"]


def retake(rt: Runtime, patient: dict, old: int, new: int, since: datetime) -> list[Outgoing]:
    """A pain-now rating changed from `old` to `new` within its 10 minutes (a typed correction,
    an edit, the change button): each session it decided since `since` is decided again on the
    new value, from the activity as it was before (dose, break), and the new advice is sent.
    Inside the caller's transaction."""
    out: list[Outgoing] = []
    for s in sessions.decided_since(rt.db, patient["id"], since):
        if s["next_day"] != old:
            continue
        taken = [
            e
            for e in events.for_patient(rt.db, patient["id"], "pacing_decision")
            if e["data"].get("session") == s["id"]
        ]
        if not taken or "prior_dose" not in taken[-1]["data"]:
            continue  # decided before this was recorded: it stays
        prior = taken[-1]["data"]
        activities.set_dose(
            rt.db, s["activity_id"], prior["prior_dose"], paused_until=prior["prior_paused_until"]
        )
        # The end of a break the first decision gave is not offered.
        outbox.cancel_keyed(
            rt.db, patient["id"], f"pause_over:{s['activity_id']}:", "decision_retaken"
        )
        if not sessions.reopen_with_next_day(rt.db, s["id"], new):
            continue
        events.record(rt.db, rt.clock.now(), "decision_retaken", patient["id"], session=s["id"])
        advice = decide(rt, patient, s["id"])
        if advice is not None:
            out.append(advice)
    return out
