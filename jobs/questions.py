"""The conversation over open questions (issue 15): what a typed answer answers, ratings given
late for an earlier day, and corrections of a rating. Handlers call these inside one transaction
with the reply (handlers.common.respond); no telegram here.

Corrections change the stored value (so the weekly figures, the chart, the rise rule, the roster
and the pacing decision all read the latest one) and keep the history as `rating_changed` events
(old -> new). A check-in can be changed all day (/checkin) and by its "Undo / change" button for
10 minutes; an activity's before/after/settled until the session is decided.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.rules import questions as rules
from bot.rules.callbacks import encode
from bot.rules.localtime import local_date, zone
from bot.rules.parsing import Rating, parse_rating
from bot.runtime import Runtime
from jobs import clinic
from messages import Button, Outgoing, label, render
from storage import checkins, events, questions, sessions

# What a change button names: c a check-in (its checkins row id), b/a/s a session's before,
# after or settled (its session id).
SESSION_FIELDS = {"b": "before", "a": "after", "s": "settled"}
_KIND_TO_WHAT = {"session_before": "b", "session_after": "a"}


def today(patient: dict, now: datetime) -> str:
    return local_date(now, zone(patient["timezone"])).isoformat()


def weekday(day: str) -> str:
    """The weekday's name of a local date ("Friday")."""
    return date.fromisoformat(day).strftime("%A")


def nice_day(day: str) -> str:
    d = date.fromisoformat(day)
    return f"{d.strftime('%A')} {d.day} {d.strftime('%B')}"


def fitting(rt: Runtime, patient: dict, answer: rules.Answer) -> list[dict]:
    """Open questions a typed answer of this sort fits, the one it goes to first."""
    now = rt.clock.now()  # read only: the plan tick marks expired rows (expire_due)
    return rules.choose(
        questions.open_rows(rt.db, patient["id"], now),
        answer,
        today(patient, now),
        now,
        zone(patient["timezone"]),
    )


def describe(db, row: dict) -> dict:
    """What an open question is about, for "that was for ..." lines."""
    activity = None
    if row["kind"] in ("session_before", "session_after", "next_day", "settle"):
        sid = row["ref"] if row["kind"] in _KIND_TO_WHAT else row["subject"]
        s = sessions.get(db, int(sid)) if sid and str(sid).isdigit() else None
        activity = s["activity"] if s else None
    return {"kind": row["kind"], "activity": activity}


def which_note(db, answered: dict, still: list[dict]) -> str:
    """When more than one question was open: which one this answer went to, what is still open.
    The same question asked twice (the 08:00 check-in and a /checkin) is one question: empty."""
    same = (answered["kind"], answered.get("subject"))
    still = [r for r in still if (r["kind"], r.get("subject")) != same]
    if not still:
        return ""
    return render(
        "question_which",
        answered=describe(db, answered),
        still=[describe(db, r) for r in still],
    )


def with_note(note: str, out: Outgoing | None) -> Outgoing | None:
    """`out` with `note` (rendered HTML) above its text."""
    if out is None or not note:
        return out
    return Outgoing(f"{note}\n\n{out.text}", out.buttons, meta=out.meta)


# -- change buttons ---------------------------------------------------------------------------
def undo_row(what: str, target: int) -> list[Button]:
    """The "Undo / change" button under a rating's acknowledgement (10 minutes)."""
    return [(label("rating_change"), encode("c:fix", what, target, "u"))]


def change_keyboard(db, patient: dict, what: str, target: int) -> Outgoing | None:
    """ "What should it be?" with 0-10 (or yes/no for settled); None if nothing to change."""
    current, subject = _current(db, patient, what, target)
    if current is None:
        return None
    if what == "s":
        rows = [
            [
                (label("settle_yes_one"), encode("c:set", what, target, 1)),
                (label("settle_no_one"), encode("c:set", what, target, 0)),
            ]
        ]
    else:
        rows = [
            [(str(n), encode("c:set", what, target, n)) for n in range(0, 6)],
            [(str(n), encode("c:set", what, target, n)) for n in range(6, 11)],
        ]
    return Outgoing(render("rating_change_ask", what=what, current=current, **subject), rows)


def _current(db, patient: dict, what: str, target: int) -> tuple[int | None, dict]:
    """The stored value a change would replace, and what it is about."""
    if what == "c":
        row = checkins.get(db, target)
        if row is None or row["patient_id"] != patient["id"] or row["status"] != "answered":
            return None, {}
        return row["pain"], {"day": weekday(row["local_date"]), "local_date": row["local_date"]}
    s = sessions.owned(db, target, patient["id"])
    field = SESSION_FIELDS.get(what)
    if s is None or field is None or s[field] is None:
        return None, {}
    return s[field], {"activity": s["activity"], "stage": s["stage"]}


def may_change(db, patient: dict, what: str, target: int, now: datetime) -> str | None:
    """None if this rating may be changed now, else why not: "gone" (nothing of theirs),
    "day_over" (a check-in of an earlier day, past its 10 minutes), "decided" (the session's
    decision is taken)."""
    current, subject = _current(db, patient, what, target)
    if current is None:
        return "gone"
    if what == "c":
        if subject["local_date"] == today(patient, now):
            return None
        row = checkins.get(db, target)
        return None if row and rules.within_change_window(row["answered_at"], now) else "day_over"
    if subject["stage"] not in sessions.OPEN_STAGES:
        return "decided"
    return None


def change(
    rt: Runtime, patient: dict, what: str, target: int, value: int, how: str
) -> list[Outgoing]:
    """Change a stored rating (inside the caller's transaction): the value is replaced, an
    event keeps old -> new. Returns the confirmation, or why it cannot be changed."""
    now = rt.clock.now()
    why = may_change(rt.db, patient, what, target, now)
    if why is not None:
        return [Outgoing(render("rating_change_refused", why=why, what=what))]
    limit = 1 if what == "s" else 10
    if not 0 <= value <= limit:
        return [Outgoing(render("rating_reask", reason="out_of_range"))]
    if what == "c":
        row = checkins.get(rt.db, target)
        assert row is not None  # may_change found it
        old = questions.change_checkin(rt.db, patient["id"], row["local_date"], value)
        subject: dict = {"day": weekday(row["local_date"]), "local_date": row["local_date"]}
        data: dict = {"local_date": row["local_date"]}
    else:
        old = questions.change_session(rt.db, target, SESSION_FIELDS[what], value)
        s = sessions.existing(rt.db, target)
        subject, data = {"activity": s["activity"]}, {"session": target}
    if old is None:
        return [Outgoing(render("rating_change_refused", why="gone", what=what))]
    events.record(
        rt.db,
        now,
        "rating_changed",
        patient["id"],
        what=SESSION_FIELDS.get(what, "checkin"),
        old=old,
        new=value,
        how=how,
        **data,
    )
    is_today = what != "c" or subject["local_date"] == today(patient, now)
    rise = clinic.check_rise(rt.db, patient, now) if what == "c" else None
    more = [Outgoing(render("rise_suggestion", clinic=rise.get("clinic_name")))] if rise else []
    return [
        Outgoing(
            render(
                "rating_changed",
                what=what,
                old=old,
                new=value,
                today=is_today,
                how=how,
                **subject,
            )
        ),
        *more,
    ]


def target_of(db, patient: dict, row: dict) -> tuple[str, int] | None:
    """The (what, target) of an answered rating question row."""
    if row["kind"] == "checkin":
        day = checkins.for_date(db, patient["id"], row["subject"]) if row["subject"] else None
        return ("c", day["id"]) if day is not None else None
    if row["kind"] == "next_day":  # the sessions it decided: jobs.corrections
        return ("n", 0)
    what = _KIND_TO_WHAT.get(row["kind"])
    return (what, int(row["ref"])) if what and str(row["ref"]).isdigit() else None


def correction_target(rt: Runtime, patient: dict) -> tuple[str, int] | None:
    """What a typed correction changes: the rating given in the last 10 minutes, else today's
    check-in; None when there is nothing to change (the number is then a plain answer)."""
    now = rt.clock.now()
    recent = questions.last_answered(rt.db, patient["id"], now - rules.CHANGE_WINDOW)
    found = target_of(rt.db, patient, recent) if recent is not None else None
    if found is None:
        day = checkins.for_date(rt.db, patient["id"], today(patient, now))
        if day is not None and day["status"] == "answered":
            found = ("c", day["id"])
    return found


def typed_correction(rt: Runtime, patient: dict, value: int) -> list[Outgoing]:
    """A typed correction ("sorry I meant 3") of `correction_target`; says so when there is
    nothing to change."""
    found = correction_target(rt, patient)
    if found is None:
        return [Outgoing(render("rating_change_refused", why="nothing", what="c"))]
    return change(rt, patient, found[0], found[1], value, "typed")


def apply_edit(rt: Runtime, patient: dict, message_id: int, text: str) -> list[Outgoing] | None:
    """An edited message that had answered a rating question, edited within 10 minutes of the
    answer: the new number replaces the stored one. None when the edit is not that (the caller
    then says edits are not read)."""
    row = questions.answered_by_message(rt.db, patient["id"], message_id)
    if row is None or not rules.within_change_window(row["answered_at"], rt.clock.now()):
        return None
    found = target_of(rt.db, patient, row)
    result = parse_rating(text)
    if found is None or not isinstance(result, Rating):
        return None
    return change(rt, patient, found[0], found[1], result.value, "edit")
