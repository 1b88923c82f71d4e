"""A bot process built to be killed: the crash test runs it, SIGKILLs it, and runs it again.

    python -m bot.simulator.crashrun --db PATH --journal PATH [--patients N] [--seed S]

It drives the real Application (handlers, jobs, templates, SQLite) through two busy virtual days
on the in-process fake Bot API, with simulated patients who answer check-ins (tapping or typing
the number), take sitting breaks, mark lessons helpful, and go for a walk on the first day: they
start it from the plan shown after their check-in, rate the pain before (unless the check-in
gives it), tap Done, rate the pain after, answer "has it settled?" and the next-day rating (the
next-day prompt, or the second day's check-in), so the pacing decision is made across kills.

What survives a kill is what would survive in reality:

* the database file (the bot's state), opened like `run` opens it, under the instance lock;
* the journal: one JSON line per event on the Telegram side, appended, flushed and fsynced
  *before* it takes effect. `send` lines are messages the fake Telegram delivered (written before
  the bot gets the answer, so a kill between delivery and the bot recording it still shows the
  delivery); `in` lines are the patients' taps and texts with the update's raw JSON (written
  when Telegram queues the update); `ack` lines are Telegram's confirmation of an update (what
  the next getUpdates offset, or a webhook's 200, tells it), after which Telegram forgets the
  update for good. `start` lines record each (re)start and which outbox rows it found mid-send;
  `done` ends the day.

Intake is `run`'s: the update is stored in the durable inbox (`bot.inbound.Inbound.receive`),
then confirmed (`ack`), then handled from the inbox (`Inbound.handle`). `--intake updater`
models the code before the inbox instead: PTB's Updater confirms a batch with its next
getUpdates call, before handling it, so there `ack` comes first.

On start the process resumes: the virtual clock continues from the latest moment the journal or
the database has seen, Telegram's message ids continue per chat, each patient still owes the
reactions to what she has received, inbox rows left unhandled are handled (`Inbound.recover`),
and only the updates Telegram never saw confirmed are delivered again, byte for byte: a
confirmed update is never delivered twice, whatever became of it.
`tests/test_crash.py` checks the invariants over the journal and the database afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from telegram import Update

import jobs.dispatch as dispatch
from bot.clock import iso, parse_iso
from bot.logs import setup_logging
from bot.simulator.fake_api import Sent
from bot.simulator.runner import Simulation
from bot.simulator.scenario import Persona, Scenario, parse_scenario
from jobs.plan import plan_done
from storage.db import InstanceLock

try:  # the durable inbox (issue 13)
    from bot.inbound import Inbound
    from storage import inbox
except ImportError:  # pragma: no cover - the code before it
    Inbound = inbox = None  # type: ignore[assignment,misc]

DAY_START = "2026-03-03T00:00:00Z"  # a Tuesday; 24 hours from here
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
CHECKIN_TIMES = ("07:30", "08:00", "09:00", "12:00")
TIMES_OF_DB = " UNION ALL ".join(
    [  # the latest moment the database has seen
        "SELECT max(created_at) AS t FROM outbox",
        "SELECT max(claimed_at) FROM outbox",
        "SELECT max(sent_at) FROM outbox",
        "SELECT max(answered_at) FROM checkins",
        "SELECT max(at) FROM events",
        "SELECT max(at) FROM sitting_breaks",
        "SELECT max(updated_at) FROM patients",
        "SELECT max(created_at) FROM sessions",
        "SELECT max(ended_at) FROM sessions",
        "SELECT max(decided_at) FROM sessions",
    ]
)
TIMES_OF_DB = f"SELECT max(t) FROM ({TIMES_OF_DB})"  # noqa: S608 - constants only

# The outbox row being sent right now (set around jobs.dispatch._send_one), so the journal can
# say which row a delivered message belongs to.
CURRENT_ROW: contextvars.ContextVar[dict | None] = contextvars.ContextVar("row", default=None)


ACTIVITY = "walk"
WALK_MINUTES = 20
DAYS = 2  # the next-day rating of a first-day walk comes on the second day


def session_answers(chat_id: int) -> tuple[int, int, bool]:
    """A persona's pain before and after her walk, and whether it settled (deterministic)."""
    before = (chat_id * 3) % 7
    return before, min(10, before + chat_id % 5), chat_id % 3 != 0


def busy_day(patients: int, seed: int) -> Scenario:
    """`patients` people over four time zones: check-ins, sitting breaks, a lesson each day, and
    a walk each on the first day (its answers from `session_answers`, the next-day rating being
    her usual check-in pain)."""
    people = []
    for n in range(patients):
        people.append(
            {
                "id": f"p{n:02d}",
                "name": f"Person{n:02d}",
                "chat_id": 2001 + n,
                "timezone": ZONES[n % len(ZONES)],
                "checkin_time": CHECKIN_TIMES[n % 4],
                "quiet_hours": {"from": "22:00", "to": "07:00"},
                # Sitting breaks on the first day only; the second is for the next-day ratings.
                "sitting": {
                    "days": ["tue"],
                    "from": "09:00",
                    "to": "17:00",
                    "every_minutes": (30, 45, 60)[n % 3],
                },
                "course": {
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "time": ("12:00", "18:00")[n % 2],
                },
                "answers": {"checkin_pain": (2001 + n) % 11},
                "activities": [{"name": ACTIVITY, "minutes": WALK_MINUTES}],
            }
        )
    return parse_scenario({"start": DAY_START, "days": DAYS, "seed": seed, "patients": people})


class Journal:
    """Append-only JSON lines, each flushed and fsynced before the caller goes on."""

    def __init__(self, path: Path):
        self.path = path
        self.records: list[dict] = []
        if path.exists():
            raw = path.read_bytes()
            keep = raw[: raw.rfind(b"\n") + 1]  # a line torn by the kill never took effect
            if len(keep) != len(raw):
                path.write_bytes(keep)
            self.records = [json.loads(line) for line in keep.decode("utf-8").splitlines()]
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open until close()

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records.append(record)

    def close(self) -> None:
        self._file.close()


def _track_rows() -> None:
    """Wrap jobs.dispatch._send_one so the row in flight is known while the fake API answers."""
    original = dispatch._send_one
    if getattr(original, "_tracked", False):
        return

    async def send_one(rt, row, patient, report):
        token = CURRENT_ROW.set(row)
        try:
            return await original(rt, row, patient, report)
        finally:
            CURRENT_ROW.reset(token)

    send_one._tracked = True  # type: ignore[attr-defined]
    dispatch._send_one = send_one


def _reply_update(db, row: dict | None) -> int | None:
    """The update a reply row answers: its dedupe key is reply:<update id>:<part>, or
    reply:i<inbox row>:<part> when handled from the inbox."""
    if row is None or row["kind"] != "reply":
        return None
    parts = row["dedupe_key"].split(":")
    if len(parts) != 3:
        return None
    if parts[1].isdecimal():
        return int(parts[1])
    if parts[1][:1] == "i" and parts[1][1:].isdecimal():
        found = db.execute(
            "SELECT update_id FROM inbox WHERE id = ?", [int(parts[1][1:])]
        ).fetchone()
        return found[0] if found else None
    return None


class CrashRun(Simulation):
    """The simulator, made resumable: patients react to the journal, not to memory."""

    def __init__(self, scenario: Scenario, db_path: Path, journal: Journal, intake: str = "inbox"):
        super().__init__(scenario, db_path=db_path)
        self.journal = journal
        if intake == "inbox" and Inbound is None:
            raise SystemExit("this code has no durable inbox; use --intake updater")
        self.intake = intake
        # The per-chat inbound rate is run's concern (tested elsewhere), not a crash's.
        self.inbound = Inbound(self.app, 10**9) if intake == "inbox" else None
        self.rt.observers.remove(self._observe)  # reactions come from deliveries (on_send)
        self.api.on_send = self._delivered
        self.reacted: set[int] = set()  # prompt rows a patient already reacted to
        # update ids whose reply reached the patient (informational)
        self.answered: set[int] = set()
        self.walked: set[int] = set()  # chats whose walk has started (or is about to)
        self.next_update = 1

    # -- resuming -----------------------------------------------------------------------------
    def resume_time(self) -> datetime:
        moments = [self.scenario.start]
        moments += [parse_iso(r["t"]) for r in self.journal.records if "t" in r]
        latest = self.db.execute(TIMES_OF_DB).fetchone()[0]
        if latest:
            moments.append(parse_iso(latest))
        return max(moments)

    def restore(self) -> list[dict]:
        """Message ids, update ids, reactions owed and updates to deliver again."""
        owed, inbound, confirmed = [], [], set()
        for record in self.journal.records:
            if record["e"] == "ack":
                confirmed.add(record["update"])
                continue
            if record["e"] == "send":
                chat = record["chat"]
                self.api._next_id[chat] = max(self.api._next_id.get(chat, 0), record["msg"])
                if record.get("update") is not None:
                    self.answered.add(record["update"])
                owed.append(record)
            elif record["e"] == "in":
                self.next_update = max(self.next_update, record["update"] + 1)
                self.reacted.add(record["prompt"])
                if record["prompt_kind"] == "activity_start":
                    self.walked.add(record["chat"])
                inbound.append(record)
        for record in owed:
            self.plan_reaction(record)
        # Telegram delivers again only what was never confirmed; the rest is the bot's problem.
        return [r for r in inbound if r["update"] not in confirmed]

    # -- the Telegram side --------------------------------------------------------------------
    def _delivered(self, sent: Sent) -> None:
        row = CURRENT_ROW.get()
        record: dict[str, Any] = {
            "e": "send",
            "t": iso(sent.at),
            "chat": sent.chat_id,
            "msg": sent.message_id,
            "row": row["id"] if row else None,
            "kind": row["kind"] if row else None,
            "update": _reply_update(self.db, row),
            "text": sent.text[:300],
            "data": [d for r in sent.buttons for _, d in r],
        }
        self.journal.write(record)
        if record["update"] is not None:
            self.answered.add(record["update"])
        self.plan_reaction(record)

    def plan_reaction(self, record: dict) -> None:
        """What the patient does about a message: deterministic per message, once per row."""
        persona = self.personas.get(record["chat"])
        row = record["row"]
        if persona is None or row is None or row in self.reacted:
            return
        rng = random.Random(f"{self.scenario.seed}:{row}")
        kind, data = record["kind"], record["data"]
        at = parse_iso(record["t"])
        pain = persona.checkin_pain.for_day(0, rng)
        if kind in ("checkin", "checkin_asked") and data:
            when = at + timedelta(minutes=rng.randint(2, 20))
            if persona.chat_id % 2:
                action = {"type": "text", "text": str(pain), "pain": pain}
            else:
                action = {"type": "tap", "data": f"c:{row}:{pain}", "pain": pain}
        elif kind == "sitting" and data:
            when, action = (
                at + timedelta(minutes=rng.randint(1, 4)),
                {"type": "tap", "data": f"s:{row}:done"},
            )
        elif kind == "lesson":
            helpful = next((d for d in data if d.startswith("l:h:")), None)
            if helpful is None:
                return
            when, action = (
                at + timedelta(minutes=rng.randint(5, 60)),
                {"type": "tap", "data": helpful},
            )
        else:
            found = self.session_reaction(record, rng)
            if found is None:
                return
            kind, when, action = found
        self.reacted.add(row)
        self.later(
            max(when, self.clock.now()), lambda: self.act(persona, row, record["msg"], kind, action)
        )

    def session_reaction(
        self, record: dict, rng: random.Random
    ) -> tuple[str, datetime, dict] | None:
        """The walk: (what she answers, when, the tap) for a message of the session's flow."""
        chat, data, at = record["chat"], record["data"], parse_iso(record["t"])
        before, after, settled = session_answers(chat)
        pain = chat % 11  # her usual rating, also the next day's
        start = next((d for d in data if d.startswith("a:s:")), None)
        if record["kind"] == "reply" and start is not None:
            if chat in self.walked:
                return None  # one walk: later plans are only read
            self.walked.add(chat)
            # Sometimes within 2 hours of the check-in (its rating is the "before"), sometimes
            # not; a late walk gets its own next-day prompt, an early one the next check-in's.
            later = rng.randint(30, 180) if rng.random() < 0.6 else rng.randint(300, 420)
            return "activity_start", at + timedelta(minutes=later), {"type": "tap", "data": start}
        for part, value, kind in (("b", before, "session_before"), ("a", after, "session_after")):
            tap = next(
                (d for d in data if d.startswith("r:") and d.split(":")[2:] == [part, str(value)]),
                None,
            )
            if tap is not None:
                return (
                    kind,
                    at + timedelta(minutes=rng.randint(1, 3)),
                    {"type": "tap", "data": tap, "value": value},
                )
        done = next((d for d in data if d.startswith("a:e:")), None)
        if record["kind"] == "reply" and done is not None:
            return (
                "session_done",
                at + timedelta(minutes=WALK_MINUTES),
                {"type": "tap", "data": done},
            )
        if record["kind"] == "settle":
            tap = next(
                (d for d in data if d.startswith("r:") and d.endswith(f":s:{int(settled)}")), None
            )
            if tap is not None:
                return (
                    "session_settled",
                    at + timedelta(minutes=rng.randint(2, 30)),
                    {"type": "tap", "data": tap, "value": int(settled)},
                )
        if record["kind"] == "next_day":
            tap = next((d for d in data if d.startswith("n:") and d.endswith(f":{pain}")), None)
            if tap is not None:
                return (
                    "next_day",
                    at + timedelta(minutes=rng.randint(2, 30)),
                    {"type": "tap", "data": tap, "value": pain},
                )
        return None

    async def act(
        self, persona: Persona, prompt: int, message_id: int, kind: str, action: dict
    ) -> None:
        if action["type"] == "tap":
            update = self.updates.callback(persona.chat_id, action["data"], message_id=message_id)
        else:
            update = self.updates.text(persona.chat_id, action["text"])
        raw = update.to_dict()
        raw["update_id"] = self.next_update
        record = {
            "e": "in",
            "t": iso(self.clock.now()),
            "chat": persona.chat_id,
            "update": self.next_update,
            "prompt": prompt,
            "prompt_kind": kind,
            "msg": message_id,
            **action,
            "raw": json.dumps(raw, ensure_ascii=False, separators=(",", ":")),
        }
        self.next_update += 1
        self.journal.write(record)  # Telegram has it now; the bot may die before taking it
        await self.deliver(record)

    async def deliver(self, record: dict) -> None:
        """Telegram hands the update over: stored, confirmed, handled (`--intake updater`:
        confirmed, handled)."""
        confirm = {"e": "ack", "t": iso(self.clock.now()), "update": record["update"]}
        if self.inbound is None:
            self.journal.write(confirm)
            await self.app.process_update(Update.de_json(json.loads(record["raw"]), self.app.bot))
            return
        self.inbound.receive([record["raw"]])  # committed before Telegram hears it arrived
        self.journal.write(confirm)
        await self.inbound.drain()

    # -- running ------------------------------------------------------------------------------
    async def resume(self) -> None:
        self.clock.set(self.resume_time())
        known = {r["chat_id"] for r in self.db.query("SELECT chat_id FROM patients")}
        for persona in self.scenario.patients:
            if persona.chat_id not in known:
                self.enrol(persona)
        mid_send = [
            r["id"] for r in self.db.query("SELECT id FROM outbox WHERE status = 'sending'")
        ]
        self.journal.write(
            {"e": "start", "t": iso(self.clock.now()), "pid": os.getpid(), "recovered": mid_send}
        )
        await self.app.initialize()
        from bot.simulator.updates import UpdateFactory

        self.updates = UpdateFactory(self.app.bot, self.clock)
        redeliver = self.restore()
        if self.app.post_init is None:
            raise RuntimeError("build_application sets post_init")
        await self.app.post_init(self.app)  # recovers the rows left mid-send, plans
        await plan_done(self.rt)  # the start-up pass runs in the background: wait for it
        if self.inbound is not None:
            self.inbound.recover()  # stored and confirmed, never handled: handled now
            await self.inbound.drain()
        for record in redeliver:
            await self.deliver(record)

    async def run_day(self) -> None:
        await self.resume()
        try:
            await self.run_until(self.scenario.start + timedelta(days=self.scenario.days))
            self.journal.write({"e": "done", "t": iso(self.clock.now())})
        finally:
            await self.app.shutdown()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bot.simulator.crashrun",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--journal", required=True, type=Path)
    p.add_argument("--patients", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--intake",
        choices=("inbox", "updater"),
        default="inbox",
        help="inbox: stored, then confirmed (run's path); updater: confirmed before "
        "handling (PTB's Updater, the code before the inbox)",
    )
    args = p.parse_args(argv)
    setup_logging("WARNING")
    _track_rows()
    journal = Journal(args.journal)
    if any(r["e"] == "done" for r in journal.records):
        print("the day is already done", file=sys.stderr)
        return 0
    with InstanceLock(args.db):
        run = CrashRun(busy_day(args.patients, args.seed), args.db, journal, args.intake)
        try:
            asyncio.run(run.run_day())
        finally:
            run.db.close()
            journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
