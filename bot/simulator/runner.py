"""Run a scenario: the real Application, handlers, jobs and database on a virtual clock.

The clock jumps from one thing to the next (a due message, a persona's answer, a planner tick), so
weeks of simulated time take seconds. Everything the bot sends goes to the in-process FakeBotApi;
personas answer by feeding real-shaped updates to `Application.process_update`.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.app import build_application
from bot.clock import VirtualClock, iso
from bot.localtime import local_date, local_to_utc, zone
from bot.settings import load_settings
from bot.simulator.fake_api import FakeBotApi
from bot.simulator.scenario import Persona, Scenario, SessionPlan
from bot.simulator.updates import UpdateFactory
from jobs.dispatch import dispatch_due, next_due
from jobs.plan import plan_all
from storage import activities, caregivers, patients
from storage.db import open_database

SIM_TOKEN = "123456789:SIMULATED-NOT-A-REAL-TOKEN-000"
PLAN_EVERY = timedelta(minutes=15)

Action = Callable[[], Awaitable[None]]


class Simulation:
    def __init__(self, scenario: Scenario, *, db_path: Path | str | None = None,
                 transcript: TextIO | None = None, keep_lines: bool = True, **settings: Any):
        """`keep_lines=False` keeps neither the transcript lines nor the fake API's history in
        memory (long runs: the benchmark's 1,000 patients x 84 days); `counts` still tallies the
        lines by direction and kind, and `transcript` still receives them."""
        self.scenario = scenario
        self.clock = VirtualClock(scenario.start)
        self.api = FakeBotApi(self.clock, history=None if keep_lines else 1000)
        self.settings = load_settings(environ={}, dotenv=None, TELEGRAM_BOT_TOKEN=SIM_TOKEN,
                                      DATABASE_PATH=db_path or ":memory:", **settings)
        self.db = open_database(db_path)
        self.app = build_application(self.settings, self.clock, self.api, db=self.db,
                                     rate_limit=False, schedule_ticks=False)
        self.rt = self.app.bot_data["runtime"]
        self.rt.observers.append(self._observe)
        self.rng = random.Random(scenario.seed)
        self.lines: list[dict] = []
        self.keep_lines = keep_lines
        self.counts: Counter[tuple[str, str]] = Counter()
        self._out = transcript
        self._actions: list[tuple[datetime, int, Action]] = []
        self._seq = itertools.count()
        self.personas = {p.chat_id: p for p in scenario.patients}
        # Caregivers' chats: chat id -> (the patient persona, the caregiver's scenario id).
        self.caregiver_chats = {c["chat_id"]: (p, c["id"]) for p in scenario.patients
                                for c in p.caregivers}
        self.patient_ids: dict[str, int] = {}
        self.updates: UpdateFactory | None = None
        # Sessions being played: the plan a persona is starting, and each session id's plan.
        self._starting: dict[int, SessionPlan] = {}
        self._plans: dict[int, SessionPlan] = {}
        self._started_at: dict[int, datetime] = {}
        self.activity_ids: dict[tuple[str, str], int] = {}

    # -- transcript ---------------------------------------------------------------------------
    def note(self, persona: Persona | None, direction: str, kind: str, text: str = "",
             buttons: list | None = None, chat_id: int | None = None, **data: Any) -> None:
        line = {"t": iso(self.clock.now()), "patient": persona.id if persona else None,
                "chat_id": chat_id or (persona.chat_id if persona else None), "dir": direction,
                "kind": kind, "text": text, "buttons": buttons or [], "data": data}
        self.counts[(direction, kind)] += 1
        if self.keep_lines:
            self.lines.append(line)
        if self._out is not None:
            self._out.write(json.dumps(line, ensure_ascii=False) + "\n")

    def _observe(self, event: str, data: dict) -> None:
        if event == "sent":
            row = data["row"]
            persona = self.personas.get(row["chat_id"])
            carer = self.caregiver_chats.get(row["chat_id"])
            if carer is not None:  # a caregiver's chat: noted under the patient it is about
                persona = carer[0]
            sent = next((s for s in reversed(self.api.sent) if s.chat_id == row["chat_id"]
                         and s.message_id == data["message_id"]), None)
            labels = [[label for label, _ in r] for r in sent.buttons] if sent else []
            details = {"outbox_id": row["id"]}
            if row["kind"] in ("lesson", "lesson_reread"):
                details["lesson_id"] = json.loads(row["payload"])["lesson_id"]
            if carer is not None:
                details["recipient"] = f"caregiver:{carer[1]}"
            if sent is not None and "_bytes" in sent.params:
                details["photo_bytes"] = len(sent.params["_bytes"])
            self.note(persona, "out", row["kind"], sent.text if sent else "", labels,
                      chat_id=row["chat_id"], **details)
            meta = data.get("meta") or {}
            if "figures" in meta:
                recipient = meta["recipient"]
                if carer is not None:
                    recipient = f"caregiver:{carer[1]}"
                self.note(persona, "event", "summary", chat_id=row["chat_id"],
                          recipient=recipient, figures=meta["figures"])
            if persona is not None and sent is not None and carer is None:
                self.react(persona, row, sent)
        elif event == "unreachable":
            self.note(self.personas.get(data["chat_id"]), "event", "unreachable",
                      data={"patient_id": data["patient_id"]})
        elif event == "decision":
            self.note(self.personas.get(data.pop("chat_id")), "event", data.pop("kind"), **data)

    # -- personas -----------------------------------------------------------------------------
    def day_of(self, persona: Persona, moment: datetime | None = None) -> int:
        tz = zone(persona.timezone)
        first = local_date(self.scenario.start, tz)
        return (local_date(moment or self.clock.now(), tz) - first).days

    def local_moment(self, persona: Persona, day: int, at) -> datetime:
        tz = zone(persona.timezone)
        return local_to_utc(local_date(self.scenario.start, tz) + timedelta(days=day), at, tz)

    def later(self, when: datetime, action: Action) -> None:
        heapq.heappush(self._actions, (when, next(self._seq), action))

    def reply_delay(self, persona: Persona) -> timedelta:
        low, high = persona.reply_after_minutes
        return timedelta(minutes=self.rng.randint(low, high))

    def react(self, persona: Persona, row: dict, sent) -> None:
        """How a persona answers what the bot sent (the scenario's `answers`)."""
        kind = row["kind"]
        if self.react_to_session(persona, row, sent):
            return
        if kind in ("checkin", "checkin_asked", "checkin_reminder") \
                and "checkin" not in persona.ignore:
            pain = persona.checkin_pain.for_day(self.day_of(persona), self.rng)
            # A check-in near a session's 24-hour point is that session's next-day rating.
            pain = next((self._plans[sid].next_day for sid in self._awaiting_next_day(persona)
                         if self._plans[sid].next_day is not None), pain)
            if kind == "checkin_reminder":
                prefix = next(d for r in sent.buttons for _, d in r).rsplit(":", 1)[0]
                self.later(self.clock.now() + self.reply_delay(persona),
                           lambda: self.tap(persona, sent.message_id, f"{prefix}:{pain}",
                                            str(pain), "checkin"))
                return
            self.later(self.clock.now() + self.reply_delay(persona),
                       lambda: self.tap(persona, sent.message_id, f"c:{row['id']}:{pain}",
                                        str(pain), "checkin"))
        elif kind == "lesson" and "lesson" not in persona.ignore:
            lesson_id = json.loads(row["payload"])["lesson_id"]
            self.later(self.clock.now() + self.reply_delay(persona),
                       lambda: self.tap(persona, sent.message_id, f"l:h:{lesson_id}",
                                        "Helpful", "lesson"))
        elif kind == "sitting" and "sitting" not in persona.ignore:
            self.later(self.clock.now() + timedelta(minutes=self.rng.randint(1, 5)),
                       lambda: self.tap(persona, sent.message_id, f"s:{row['id']}:done",
                                        "Done", "sitting"))

    # -- activity sessions --------------------------------------------------------------------
    def _schedule_sessions(self, persona: Persona) -> None:
        for plan in persona.sessions:
            async def begin(plan: SessionPlan = plan) -> None:
                self._starting[persona.chat_id] = plan
                await self.say(persona, "/activity", "activity")

            self.later(self.local_moment(persona, plan.day, plan.at), begin)

    def _awaiting_next_day(self, persona: Persona) -> list[int]:
        now = self.clock.now()
        return [sid for sid, at in self._started_at.items()
                if self._plans[sid] in persona.sessions
                and timedelta(hours=20) <= now - at <= timedelta(hours=36)]

    def react_to_session(self, persona: Persona, row: dict, sent) -> bool:
        """Play the persona's `sessions`: tap start, rate B, finish, rate A, answer S and N."""
        datas = [d for r in sent.buttons for _, d in r]
        now = self.clock.now()
        soon = now + timedelta(minutes=1)
        plan = self._starting.get(persona.chat_id)
        if plan is not None:
            aid = self.activity_ids.get((persona.id, plan.activity))
            if f"a:s:{aid}" in datas:
                self.later(soon, lambda: self.tap(persona, sent.message_id, f"a:s:{aid}",
                                                  plan.activity, "activity_start"))
                return True
            if "a:l" in datas:  # the chooser without this activity: it is having a break
                self._starting.pop(persona.chat_id, None)
                self.note(persona, "event", "session_not_offered", activity=plan.activity)
                return True
        for data in datas:
            parts = data.split(":")
            if parts[0] == "r" and parts[2] in ("b", "a") and parts[3] == "0":
                sid = int(parts[1])
                if parts[2] == "b" and plan is not None:
                    self._bind(persona, sid, plan)
                chosen = self._plans.get(sid)
                value = None if chosen is None else (
                    chosen.before if parts[2] == "b" else chosen.after)
                if value is not None:
                    self.later(soon, lambda sid=sid, part=parts[2], value=value: self.tap(
                        persona, sent.message_id, f"r:{sid}:{part}:{value}", str(value),
                        "session_before" if part == "b" else "session_after"))
                return True
            if parts[0] == "a" and parts[1] == "e":
                sid = int(parts[2])
                if plan is not None and sid not in self._plans:
                    self._bind(persona, sid, plan)
                chosen = self._plans.get(sid)
                if chosen is None:
                    return True
                # The persona does what the bot suggests unless the scenario says otherwise.
                act = activities.get(self.db, self.activity_ids[(persona.id, chosen.activity)])
                minutes = chosen.minutes or act["dose_minutes"]
                self.later(now + timedelta(minutes=minutes), lambda sid=sid: self.tap(
                    persona, sent.message_id, f"a:e:{sid}", "Done", "session_done"))
                return True
        settles = [d for d in datas if d.startswith("r:") and d.split(":")[2] == "s"]
        if settles:
            for data in settles:
                sid, answer = int(data.split(":")[1]), data.split(":")[3]
                chosen = self._plans.get(sid)
                if chosen is not None and chosen.settled is not None \
                        and answer == ("1" if chosen.settled else "0"):
                    self.later(now + self.reply_delay(persona), lambda data=data: self.tap(
                        persona, sent.message_id, data, "yes" if data.endswith("1") else "no",
                        "session_settled"))
            return True
        if row["kind"] == "next_day":
            sid = json.loads(row["payload"])["session_id"]
            chosen = self._plans.get(sid)
            if chosen is not None and chosen.next_day is not None:
                self.later(now + self.reply_delay(persona), lambda: self.tap(
                    persona, sent.message_id, f"n:{row['id']}:{chosen.next_day}",
                    str(chosen.next_day), "next_day"))
            return True
        return False

    def _bind(self, persona: Persona, sid: int, plan: SessionPlan) -> None:
        self._plans[sid] = plan
        self._started_at[sid] = self.clock.now()
        self._starting.pop(persona.chat_id, None)

    async def tap(self, persona: Persona, message_id: int, data: str, shown: str,
                  kind: str) -> None:
        if self.api_blocked(persona):
            return
        self.note(persona, "in", kind, shown, data={"callback_data": data})
        await self.app.process_update(self.updates.callback(persona.chat_id, data,
                                                            message_id=message_id))

    async def say(self, persona: Persona, text: str, kind: str = "text") -> None:
        self.note(persona, "in", kind, text)
        await self.app.process_update(self.updates.text(persona.chat_id, text,
                                                        first_name=persona.first_name))

    def api_blocked(self, persona: Persona) -> bool:
        return self.api.is_blocked(persona.chat_id)

    def enrol(self, persona: Persona) -> int:
        """Register a persona as an onboarded patient (the onboarding chat is tested elsewhere)."""
        tz = zone(persona.timezone)
        sitting = persona.sitting or {}
        today = local_date(self.clock.now(), tz)
        course = persona.course or {}
        course_fields = {"course_days": ",".join(course.get("days", ["mon", "wed", "fri"])),
                         "course_time": course.get("time", "18:00"),
                         "course_start": (course.get("start") or today).isoformat()}
        pid = patients.create(
            self.db, user_id=persona.chat_id, chat_id=persona.chat_id, now=self.clock.now(),
            first_name=persona.first_name, timezone=persona.timezone,
            checkin_time=persona.checkin_time,
            quiet_from=persona.quiet_hours[0] if persona.quiet_hours else None,
            quiet_to=persona.quiet_hours[1] if persona.quiet_hours else None,
            sitting_days=",".join(sitting.get("days", [])), sitting_from=sitting.get("from"),
            sitting_to=sitting.get("to"), sitting_every=sitting.get("every_minutes", 30),
            status="active", start_date=today.isoformat(), **course_fields)
        self.patient_ids[persona.id] = pid
        for act in persona.activities:
            activities.add_activity(self.db, pid, act["name"], act["minutes"], self.clock.now())
        for act in activities.for_patient(self.db, pid):
            self.activity_ids[(persona.id, act["name"])] = act["id"]
        for carer in persona.caregivers:  # linked as if they had accepted an invite
            caregivers.link(self.db, patient_id=pid, user_id=carer["chat_id"],
                            chat_id=carer["chat_id"], first_name=carer["name"],
                            timezone=carer["timezone"], alerts=carer["alerts"], invite_id=0,
                            terms_hash="simulated", now=self.clock.now())
        return pid

    def _schedule_blocks(self, persona: Persona) -> None:
        if persona.blocks_bot_on_day is None:
            return

        async def block() -> None:
            self.api.block(persona.chat_id)
            self.note(persona, "event", "blocked_bot")

        self.later(self.local_moment(persona, persona.blocks_bot_on_day, time(0)), block)

    # -- running ------------------------------------------------------------------------------
    async def start(self) -> None:
        for persona in self.scenario.patients:
            self.enrol(persona)
            self._schedule_blocks(persona)
            self._schedule_sessions(persona)
        await self.app.initialize()
        self.updates = UpdateFactory(self.app.bot, self.clock)
        await self.app.post_init(self.app)

    async def run(self) -> list[dict]:
        await self.start()
        try:
            await self.run_until(self.scenario.start + timedelta(days=self.scenario.days))
        finally:
            await self.app.shutdown()
        return self.lines

    async def run_until(self, end: datetime) -> None:
        next_plan = self.clock.now()
        while True:
            now = self.clock.now()
            if now >= next_plan:
                plan_all(self.rt)
                next_plan = now + PLAN_EVERY
            while self._actions and self._actions[0][0] <= now:
                _, _, action = heapq.heappop(self._actions)
                await action()
            await dispatch_due(self.rt)
            upcoming = [next_plan, end]
            if self._actions:
                upcoming.append(self._actions[0][0])
            due = next_due(self.rt)
            if due is not None:
                upcoming.append(due)
            moment = max(min(upcoming), now + timedelta(seconds=1))
            if moment >= end:
                self.clock.set(end)
                return
            self.clock.set(moment)


def local_dates(persona: Persona, lines: list[dict], kind: str) -> list[date]:
    """The persona's local dates of the outgoing lines of one kind (handy in tests)."""
    tz = zone(persona.timezone)
    return [datetime.fromisoformat(line["t"]).astimezone(tz).date() for line in lines
            if line["patient"] == persona.id and line["dir"] == "out" and line["kind"] == kind]
