"""Changing a rating after it was given (issue 15, Deliver 2), where a change reaches past the
rating itself: a pain-now rating (today's check-in, or the answer to "a day after your walk")
may have decided sessions at once, and a correction within its 10 minutes takes those decisions
again on the new value (`jobs.sessions.retake`). The rest is `jobs.questions`; this module only
joins the two, which cannot import each other."""

from __future__ import annotations

from bot.rules import questions as rules
from bot.rules.parsing import Rating, parse_rating
from bot.runtime import Runtime
from jobs import flare
from jobs import questions as conversation
from jobs import sessions as flow
from messages import Outgoing, render
from storage import checkins, events, questions, sessions


def change(
    rt: Runtime, patient: dict, what: str, target: int, value: int, how: str
) -> list[Outgoing]:
    """`jobs.questions.change`, and for a pain-now rating the decisions it took, taken again."""
    now = rt.clock.now()
    since = now - rules.CHANGE_WINDOW
    if what == "n":
        return _change_next_day(rt, patient, value, how)
    before = checkins.get(rt.db, target) if what == "c" else None
    outs = conversation.change(rt, patient, what, target, value, how)
    after = checkins.get(rt.db, target) if what == "c" else None
    if before and after and before["pain"] != after["pain"]:
        outs += flow.retake(rt, patient, before["pain"], after["pain"], since)
        outs += flare.after_correction(rt, patient, after["pain"], after["local_date"])
    return outs


def _change_next_day(rt: Runtime, patient: dict, value: int, how: str) -> list[Outgoing]:
    now = rt.clock.now()
    since = now - rules.CHANGE_WINDOW
    decided = sessions.decided_since(rt.db, patient["id"], since)
    if not decided:
        return [Outgoing(render("rating_change_refused", why="decided", what="n"))]
    if not 0 <= value <= 10:
        return [Outgoing(render("rating_reask", reason="out_of_range"))]
    old = decided[-1]["next_day"]
    activity = (sessions.get(rt.db, decided[-1]["id"]) or {}).get("activity")
    advice = flow.retake(rt, patient, old, value, since)
    events.record(
        rt.db, now, "rating_changed", patient["id"], what="next_day", old=old, new=value, how=how
    )
    said = render("rating_changed", what="n", old=old, new=value, how=how, activity=activity)
    return [Outgoing(said), *advice]


def typed_correction(rt: Runtime, patient: dict, value: int) -> list[Outgoing]:
    """A typed correction ("sorry I meant 3") of the rating given last (jobs.questions)."""
    found = conversation.correction_target(rt, patient)
    if found is None:
        return [Outgoing(render("rating_change_refused", why="nothing", what="c"))]
    return change(rt, patient, found[0], found[1], value, "typed")


def apply_edit(rt: Runtime, patient: dict, message_id: int, text: str) -> list[Outgoing] | None:
    """An edited message that answered a rating question, within 10 minutes: the new number
    replaces the stored one. None when the edit is not that."""
    row = questions.answered_by_message(rt.db, patient["id"], message_id)
    if row is None or not rules.within_change_window(row["answered_at"], rt.clock.now()):
        return None
    found = conversation.target_of(rt.db, patient, row)
    result = parse_rating(text)
    if found is None or not isinstance(result, Rating):
        return None
    return change(rt, patient, found[0], found[1], result.value, "edit")
