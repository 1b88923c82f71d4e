"""The message-kind registry: every outbox kind used anywhere is declared once in
`bot.rules.kinds`, and every declared kind has a composer in `jobs.kinds`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.rules.kinds import KINDS, names
from bot.simulator.runner import Simulation
from bot.simulator.scenario import load_scenario
from jobs.kinds import AFTER_SENT, COMPOSERS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    p for d in ("bot", "handlers", "jobs", "storage") for p in sorted((ROOT / d).rglob("*.py"))
]
# Calls that queue an outbox row, and where their kind is when given by position.
QUEUEING = {
    "enqueue": None,
    "_enqueue": 2,
    "queue_reply": None,
    "reply": None,
    "reply_template": None,
    "respond": None,
    "send_lesson": 4,
    "Planned": 0,
}
# Dedupe-key heads that are not a kind's name: head -> the kind of their rows.
KEY_HEADS = {"throttled": "reply", "sitting-snooze": "sitting"}


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _literal_prefix(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return node.values[0].value
    return None


def kinds_in_code() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(kind literals passed to a queueing call, dedupe-key prefixes), each with its file."""
    used, prefixes = set(), set()
    for path in SOURCES:
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or _name(node.func) not in QUEUEING:
                continue
            position = QUEUEING[_name(node.func)]
            values = [k.value for k in node.keywords if k.arg == "kind"]
            if position is not None and len(node.args) > position:
                values.append(node.args[position])
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    used.add((value.value, where))
            for k in node.keywords:
                if k.arg == "dedupe_key" and (head := _literal_prefix(k.value)):
                    prefixes.add((head.split(":", 1)[0], where))
    return used, prefixes


def test_the_scan_finds_the_kinds_it_should():
    used, prefixes = kinds_in_code()
    found = {k for k, _ in used}
    assert {
        "checkin",
        "sitting",
        "settle",
        "next_day",
        "pause_over",
        "advice",
        "chart",
        "alert_caregiver",
        "alert_clinician",
        "digest",
        "checkin_reminder",
        "export",
        "cohort_qr",
        "cohort_export",
        "checkin_asked",
        "lesson_reread",
        "safety_followup",
    } <= found
    assert {p for p, _ in prefixes} >= {"checkin_reminder", "safety_followup", "chart"}


def test_every_kind_used_in_the_code_is_declared():
    used, prefixes = kinds_in_code()
    assert sorted((k, f) for k, f in used if k not in KINDS) == []
    # A dedupe key starts with its kind (alert_caregiver_seen: a second key of alert_caregiver),
    # or is one of the older heads kept so stored keys stay valid.
    assert (
        sorted(
            (p, f)
            for p, f in prefixes
            if p not in KEY_HEADS and not any(p == k or p.startswith(k + "_") for k in KINDS)
        )
        == []
    )


def test_every_declared_kind_has_a_composer_and_nothing_else_does():
    assert set(COMPOSERS) == set(KINDS)
    assert set(AFTER_SENT) <= set(KINDS)


def test_the_lists_read_elsewhere_come_from_the_registry():
    from bot.rules.schedule import POLICIES, SCHEDULED_KINDS
    from handlers.settings import PROMPT_KINDS
    from storage import outbox, withdrawal

    assert set(POLICIES) == set(KINDS)
    assert names(prompt=True) == SCHEDULED_KINDS
    assert names(paused=True) == PROMPT_KINDS
    assert set(outbox.PLANNED) == set(names(lane="bulk") + names(lane="nudge"))
    assert names(immediate=True) == outbox.IMMEDIATE
    assert names(kept_on_withdraw=True) == withdrawal.KEEP_KINDS


def test_facts_hang_together():
    for k in KINDS.values():
        # A fast-lane kind is never held while the person is inactive, and an immediate one
        # has no lateness limit and ignores quiet hours.
        if k.immediate:
            assert k.lane == "fast" and k.max_late is None and not k.quiet_hours, k.name
        if k.waits_while_inactive:
            assert k.prompt, k.name
        if k.on_consent_again is not None:
            assert k.on_consent_again == k.on_resume, k.name


@pytest.mark.parametrize("scenario", ["issue_example.yaml", "caregiver_three_weeks.yaml"])
async def test_every_kind_stored_by_a_simulation_is_declared(scenario):
    sim = Simulation(load_scenario(ROOT / "tests" / "scenarios" / scenario))
    await sim.run()
    stored = {kind for (kind,) in sim.db.execute("SELECT DISTINCT kind FROM outbox")}
    assert stored and stored <= set(KINDS), stored - set(KINDS)


def test_every_question_the_bot_waits_for_is_declared():
    """Kinds written to `awaiting` (set_awaiting / safety.ask with a literal kind)."""
    from bot.rules.kinds import QUESTIONS

    found = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and _name(node.func) in (
                "set_awaiting",
                "ask",
                "displace",
            ):
                found |= {
                    a.value
                    for a in node.args[2:3]
                    if isinstance(a, ast.Constant) and isinstance(a.value, str)
                }
    assert {"session_before", "hold_seen", "urgent_soon"} <= found
    assert found <= set(QUESTIONS), found - set(QUESTIONS)


def test_delete_removes_every_kind_and_withdraw_keeps_only_what_it_says():
    """/delete removes every outbox row about the person, whatever its kind (storage.privacy);
    /withdraw cancels all but the kinds declared kept."""
    from storage.privacy import PERSONAL_TABLES

    assert {k.on_delete for k in KINDS.values()} == {"delete"}
    assert PERSONAL_TABLES["outbox"] == (("patient_id = ?", "patient"), ("chat_id = ?", "chat"))
    assert names(kept_on_withdraw=True) == ("export",)
    assert set(names(sent_when_withdrawn=True)) == {"reply", "export"}


def test_every_kind_has_a_priority_that_fits_its_lane():
    """Issue 20: replies to a person's own action and urgent alerts first, then questions, then
    lessons and summaries, nudges last; a planned kind never outranks a reply."""
    from storage import outbox

    for k in KINDS.values():
        assert k.priority in (0, 1, 2, 3), k.name
        if k.lane == "nudge":
            assert k.priority == 3, k.name
        if k.lane == "bulk":
            assert k.priority in (1, 2), k.name
        if k.immediate:
            assert k.priority == 0, k.name
    assert KINDS["reply"].priority < KINDS["checkin"].priority < KINDS["lesson"].priority
    assert KINDS["lesson"].priority < KINDS["sitting"].priority
    assert {"reply", "alert_clinician", "alert_caregiver"} <= set(outbox.URGENT)
    assert not set(outbox.URGENT) & set(outbox.PLANNED)


def test_the_sender_takes_each_lane_by_priority_then_due_time(fresh_db, clock):
    """At a peak the bulk lane sends check-ins before lessons before nudges, whatever their
    due order; the fast lane sends a reply queued "now" first, even with its due time ahead."""
    from datetime import timedelta

    from storage import outbox

    now = clock.now()
    for minutes, kind in ((-9, "sitting"), (-8, "lesson"), (-7, "checkin"), (-6, "sitting")):
        outbox.enqueue(
            fresh_db,
            chat_id=1,
            kind=kind,
            due_at=now + timedelta(minutes=minutes),
            dedupe_key=f"{kind}:{minutes}",
            now=now,
        )
    outbox.enqueue(
        fresh_db, chat_id=1, kind="finish_check", due_at=now, dedupe_key="finish", now=now
    )
    outbox.enqueue(fresh_db, chat_id=1, kind="advice", due_at=now, dedupe_key="advice", now=now)
    outbox.enqueue(
        fresh_db,
        chat_id=1,
        kind="reply",
        due_at=now + timedelta(seconds=3),
        dedupe_key="reply",
        now=now,
    )
    bulk = [r["kind"] for r in outbox.due(fresh_db, now, 10, "bulk")]
    assert bulk == ["checkin", "finish_check", "lesson", "sitting", "sitting"]
    fast = [r["kind"] for r in outbox.due(fresh_db, now, 10, "fast")]
    assert fast == ["reply", "advice"]  # the reply first, though queued after the advice
    assert [r["kind"] for r in outbox.due(fresh_db, now, 1, "fast")] == ["reply"]


async def test_paid_broadcast_is_off_by_default_and_only_for_the_kinds_chosen(harness):
    """ALLOW_PAID_BROADCAST (docs/scaling.md): sendMessage carries allow_paid_broadcast=True
    only for the kinds named; unset, no message is sent that way; an unknown kind is refused."""
    from bot.settings import SettingsError, load_settings
    from storage import outbox

    with pytest.raises(SettingsError, match="unknown message kinds"):
        load_settings(environ={"ALLOW_PAID_BROADCAST": "checkin, nudges"}, dotenv=None)
    chosen = load_settings(environ={"ALLOW_PAID_BROADCAST": "checkin, settle"}, dotenv=None)
    assert chosen.ALLOW_PAID_BROADCAST == ("checkin", "settle")
    assert not harness.rt.settings.ALLOW_PAID_BROADCAST

    h = harness
    now = h.clock.now()
    pids = [h.add_patient(user_id=uid) for uid in (2001, 2002)]

    def checkin(pid: int, uid: int) -> None:
        outbox.enqueue(
            h.db,
            chat_id=uid,
            patient_id=pid,
            kind="checkin",
            due_at=now,
            dedupe_key=f"checkin:{pid}:{now.date().isoformat()}",
            payload={"local_date": now.date().isoformat()},
            now=now,
        )

    checkin(pids[0], 2001)
    await dispatch_due_now(h)
    h.rt.settings = h.rt.settings.replace(ALLOW_PAID_BROADCAST=("checkin",))
    checkin(pids[1], 2002)
    await dispatch_due_now(h)
    sends = [c for c in h.api.calls if c.method == "sendMessage"]
    paid = {c.params["chat_id"]: c.params.get("allow_paid_broadcast") for c in sends}
    assert paid == {2001: None, 2002: True}


async def dispatch_due_now(h) -> None:
    from jobs.dispatch import dispatch_due

    await dispatch_due(h.rt)
