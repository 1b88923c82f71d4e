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
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from telegram import Update

from bot.app import build_application
from bot.clock import VirtualClock, iso
from bot.rules.localtime import local_date, local_to_utc, zone
from bot.rules.outcomes import PEG_ITEMS, goal_id_of
from bot.settings import load_settings
from bot.simulator.fake_api import FakeBotApi
from bot.simulator.scenario import Clinician, ClinicSpec, CohortSpec, Persona, Scenario, SessionPlan
from bot.simulator.typed import Typist
from bot.simulator.updates import UpdateFactory
from jobs import outcomes as outcome_flow
from jobs.dispatch import dispatch_due, next_due
from jobs.plan import plan_all, plan_done
from storage import activities, caregivers, clinics, patients
from storage import outcomes as outcome_store
from storage.db import open_database

SIM_TOKEN = "123456789:SIMULATED-NOT-A-REAL-TOKEN-000"  # noqa: S105 - a fake, by design
PLAN_EVERY = timedelta(minutes=15)  # the default of the PLAN_INTERVAL_SECONDS setting
ENROLMENT_LINK = re.compile(r"https://t\.me/\w+\?start=co_([\w-]+)")

Action = Callable[[], Awaitable[None]]


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        *,
        db_path: Path | str | None = None,
        transcript: TextIO | None = None,
        keep_lines: bool = True,
        **settings: Any,
    ):
        """`keep_lines=False` keeps neither the transcript lines nor the fake API's history in
        memory (long runs: the benchmark's 1,000 patients x 84 days); `counts` still tallies the
        lines by direction and kind, and `transcript` still receives them."""
        self.scenario = scenario
        self.clock = VirtualClock(scenario.start)
        self.api = FakeBotApi(self.clock, history=None if keep_lines else 1000)
        self.settings = load_settings(
            environ={},
            dotenv=None,
            TELEGRAM_BOT_TOKEN=SIM_TOKEN,
            DATABASE_PATH=db_path or ":memory:",
            **settings,
        )
        self.db = open_database(db_path)
        self.app = build_application(
            self.settings, self.clock, self.api, db=self.db, rate_limit=False, schedule_ticks=False
        )
        self.rt = self.app.bot_data["runtime"]
        # The planner ticks as often as the setting says (900 s unless the caller passes
        # PLAN_INTERVAL_SECONDS=..., e.g. to run a large cohort faster).
        self.plan_every = timedelta(seconds=self.settings.PLAN_INTERVAL_SECONDS)
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
        self.caregiver_chats = {
            c["chat_id"]: (p, c["id"]) for p in scenario.patients for c in p.caregivers
        }
        self.patient_ids: dict[str, int] = {}
        self.updates: UpdateFactory  # made in start(), once the Bot is initialised
        # Sessions being played: the plan a persona is starting, and each session id's plan.
        self._starting: dict[int, SessionPlan] = {}
        self._plans: dict[int, SessionPlan] = {}
        self._started_at: dict[int, datetime] = {}
        self.activity_ids: dict[tuple[str, str], int] = {}
        # Clinics: clinicians' chats, and what the clinic flows created (ids, enrolment codes).
        self.clinician_chats = {k.chat_id: (c, k) for c in scenario.clinics for k in c.clinicians}
        self.cohort_of = {
            pid: (c, h) for c in scenario.clinics for h in c.cohorts for pid in h.patients
        }
        self.clinic_ids: dict[str, int] = {}
        self.cohort_ids: dict[tuple[str, str], int] = {}
        self.enrolment_codes: dict[tuple[str, str], str] = {}
        # Personas who type (`style: typed`) read their screen and answer in words.
        self.typist = Typist(self)
        self._grc_answers: Counter[str] = Counter()
        # What the bot has of each persona's zone and hours, last seen (see `track`).
        self._profiles: dict[str, dict] = {}

    # -- transcript ---------------------------------------------------------------------------
    def note(
        self,
        persona: Persona | None,
        direction: str,
        kind: str,
        text: str = "",
        buttons: list | None = None,
        chat_id: int | None = None,
        **data: Any,
    ) -> None:
        line = {
            "t": iso(self.clock.now()),
            "patient": persona.id if persona else None,
            "chat_id": chat_id or (persona.chat_id if persona else None),
            "dir": direction,
            "kind": kind,
            "text": text,
            "buttons": buttons or [],
            "data": data,
        }
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
            sent = next(
                (
                    s
                    for s in reversed(self.api.sent)
                    if s.chat_id == row["chat_id"] and s.message_id == data["message_id"]
                ),
                None,
            )
            labels = [[label for label, _ in r] for r in sent.buttons] if sent else []
            details = {"outbox_id": row["id"]}
            if row["kind"] in ("lesson", "lesson_reread"):
                details["lesson_id"] = json.loads(row["payload"])["lesson_id"]
            if carer is not None:
                details["recipient"] = f"caregiver:{carer[1]}"
            if row["chat_id"] in self.clinician_chats:
                details["recipient"] = f"clinician:{row['chat_id']}"
            if sent is not None and "_bytes" in sent.params:
                key = "document_bytes" if sent.method == "sendDocument" else "photo_bytes"
                details[key] = len(sent.params["_bytes"])
            text = sent.text if sent else ""
            if len(data.get("message_ids") or ()) > 1:  # split by the outbox: every part, in order
                parts = {
                    s.message_id: s.text
                    for s in self.api.sent
                    if s.chat_id == row["chat_id"] and s.message_id in data["message_ids"]
                }
                text = "\n".join(parts.get(m, "") for m in data["message_ids"])
            self.note(
                persona,
                "out",
                row["kind"],
                text,
                labels,
                chat_id=row["chat_id"],
                **details,
            )
            meta = data.get("meta") or {}
            if "figures" in meta:
                recipient = meta["recipient"]
                if carer is not None:
                    recipient = f"caregiver:{carer[1]}"
                self.note(
                    persona,
                    "event",
                    "summary",
                    chat_id=row["chat_id"],
                    recipient=recipient,
                    figures=meta["figures"],
                )
            if persona is not None and sent is not None and carer is None:
                self.react(persona, row, sent)
        elif event == "unreachable":
            self.note(
                self.personas.get(data["chat_id"]),
                "event",
                "unreachable",
                data={"patient_id": data["patient_id"]},
            )
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
        if persona.outcomes is not None and self.react_to_outcomes(persona, row, sent):
            return
        if persona.style == "typed":
            self.typist.saw(persona, row, sent)
            return
        if self.react_to_session(persona, row, sent):
            return
        if (
            kind in ("checkin", "checkin_asked", "checkin_reminder")
            and "checkin" not in persona.ignore
        ):
            pain = persona.checkin_pain.for_day(self.day_of(persona), self.rng)
            # A check-in near a session's 24-hour point is that session's next-day rating.
            pain = next(
                (
                    self._plans[sid].next_day
                    for sid in self._awaiting_next_day(persona)
                    if self._plans[sid].next_day is not None
                ),
                pain,
            )
            if pain is None:  # a day she leaves unanswered (null, or `skip`, in checkin_pain)
                return
            if kind == "checkin_reminder":
                prefix = next(d for r in sent.buttons for _, d in r).rsplit(":", 1)[0]
                self.later(
                    self.clock.now() + self.reply_delay(persona),
                    lambda: self.tap(
                        persona, sent.message_id, f"{prefix}:{pain}", str(pain), "checkin"
                    ),
                )
                return
            self.later(
                self.clock.now() + self.reply_delay(persona),
                lambda: self.tap(
                    persona, sent.message_id, f"c:{row['id']}:{pain}", str(pain), "checkin"
                ),
            )
        elif kind == "lesson" and "lesson" not in persona.ignore:
            lesson_id = json.loads(row["payload"])["lesson_id"]
            self.later(
                self.clock.now() + self.reply_delay(persona),
                lambda: self.tap(persona, sent.message_id, f"l:h:{lesson_id}", "Helpful", "lesson"),
            )
        elif kind == "sitting" and "sitting" not in persona.ignore:
            self.later(
                self.clock.now() + timedelta(minutes=self.rng.randint(1, 5)),
                lambda: self.tap(
                    persona, sent.message_id, f"s:{row['id']}:done", "Done", "sitting"
                ),
            )

    # -- outcome questions (issue 17) ---------------------------------------------------------
    def react_to_outcomes(self, persona: Persona, row: dict, sent) -> bool:
        """Answer the weekly change under a summary and the PEG and goal questions as her
        `answers.outcomes` says; True when the message was one of those."""
        spec = persona.outcomes or {}
        datas = [d for r in sent.buttons for _, d in r]
        at = self.clock.now() + self.reply_delay(persona)
        weekly = [d for d in datas if d.startswith("oc:w:")]
        if weekly:
            grc = spec.get("grc")
            if grc is None:
                return False  # she never answers it; the summary needs nothing else
            n = self._grc_answers[persona.id]
            self._grc_answers[persona.id] += 1
            said = grc[min(n, len(grc) - 1)]
            data = f"oc:w:{weekly[0].split(':')[2]}:{'s' if said is None else said}"
            self.later(at, lambda: self.tap(persona, sent.message_id, data, data, "outcome"))
            return True
        names = [d for d in datas if d.startswith("oc:n:")]
        items = [d for d in datas if d.startswith("oc:") and d.split(":")[1].isdigit()]
        if not names and not items:
            return False
        set_id = int((names or items)[0].split(":")[2 if names else 1])
        found = outcome_store.get_set(self.db, set_id)
        if found is None:
            return True
        tp = found["timepoint"]
        if row["kind"] == "outcomes" and tp in spec.get("late", ()):
            return True  # she answers late: after the reminder
        if names:
            have = len(outcome_store.current_goals(self.db, found["patient_id"]))
            goals = spec.get("goals") or []
            if have < len(goals):
                name = goals[have]["name"]
                self.later(at, lambda: self._say_outcome(persona, name))
            else:
                data = names[0]
                self.later(at, lambda: self.tap(persona, sent.message_id, data, data, "outcome"))
            return True
        code = items[0].split(":")[2]
        item = outcome_flow.item_of(code)
        value: int | None
        if item in PEG_ITEMS:
            values = spec.get("peg", {}).get(tp)
            if values is None:
                return True  # this timepoint goes unanswered
            value = values[PEG_ITEMS.index(item)]
        else:
            goal = outcome_store.get_goal(self.db, goal_id_of(item or "") or 0)
            wanted: dict = next(
                (g for g in spec.get("goals") or [] if goal and g["name"] == goal["name"]), {}
            )
            value = wanted.get(tp)
        data = f"oc:{set_id}:{code}:{'s' if value is None else value}"
        self.later(at, lambda: self.tap(persona, sent.message_id, data, data, "outcome"))
        return True

    async def _say_outcome(self, persona: Persona, text: str) -> None:
        if not self.api_blocked(persona):
            await self.say(persona, text, "outcome")

    # -- activity sessions --------------------------------------------------------------------
    def _schedule_sessions(self, persona: Persona) -> None:
        for plan in persona.sessions:

            async def begin(plan: SessionPlan = plan) -> None:
                if self.api_blocked(persona):  # she blocked the bot: she writes to it no more
                    return
                self._starting[persona.chat_id] = plan
                await self.say(persona, "/activity", "activity")

            self.later(self.local_moment(persona, plan.day, plan.at), begin)

    def _awaiting_next_day(self, persona: Persona) -> list[int]:
        now = self.clock.now()
        return [
            sid
            for sid, at in self._started_at.items()
            if self._plans[sid] in persona.sessions
            and timedelta(hours=20) <= now - at <= timedelta(hours=36)
        ]

    def react_to_session(self, persona: Persona, row: dict, sent) -> bool:
        """Play the persona's `sessions`: tap start, rate B, finish, rate A, answer S and N."""
        datas = [d for r in sent.buttons for _, d in r]
        now = self.clock.now()
        soon = now + timedelta(minutes=1)
        plan = self._starting.get(persona.chat_id)
        if plan is not None:
            aid = self.activity_ids.get((persona.id, plan.activity))
            if f"a:s:{aid}" in datas:
                self.later(
                    soon,
                    lambda: self.tap(
                        persona, sent.message_id, f"a:s:{aid}", plan.activity, "activity_start"
                    ),
                )
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
                value = (
                    None if chosen is None else (chosen.before if parts[2] == "b" else chosen.after)
                )
                if value is not None:
                    self.later(
                        soon,
                        partial(
                            self.tap,
                            persona,
                            sent.message_id,
                            f"r:{sid}:{parts[2]}:{value}",
                            str(value),
                            "session_before" if parts[2] == "b" else "session_after",
                        ),
                    )
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
                if act is None:
                    raise RuntimeError(f"activity {chosen.activity!r} of {persona.id} is gone")
                minutes = chosen.minutes or act["dose_minutes"]
                self.later(
                    now + timedelta(minutes=minutes),
                    partial(
                        self.tap, persona, sent.message_id, f"a:e:{sid}", "Done", "session_done"
                    ),
                )
                return True
        settles = [d for d in datas if d.startswith("r:") and d.split(":")[2] == "s"]
        if settles:
            for data in settles:
                sid, answer = int(data.split(":")[1]), data.split(":")[3]
                chosen = self._plans.get(sid)
                if (
                    chosen is not None
                    and chosen.settled is not None
                    and answer == ("1" if chosen.settled else "0")
                ):
                    self.later(
                        now + self.reply_delay(persona),
                        partial(
                            self.tap,
                            persona,
                            sent.message_id,
                            data,
                            "yes" if data.endswith("1") else "no",
                            "session_settled",
                        ),
                    )
            return True
        if row["kind"] == "next_day":
            sid = json.loads(row["payload"])["session_id"]
            chosen = self._plans.get(sid)
            if chosen is not None and chosen.next_day is not None:
                self.later(
                    now + self.reply_delay(persona),
                    lambda: self.tap(
                        persona,
                        sent.message_id,
                        f"n:{row['id']}:{chosen.next_day}",
                        str(chosen.next_day),
                        "next_day",
                    ),
                )
            return True
        return False

    def _bind(self, persona: Persona, sid: int, plan: SessionPlan) -> None:
        self._plans[sid] = plan
        self._started_at[sid] = self.clock.now()
        self._starting.pop(persona.chat_id, None)

    async def tap(
        self, persona: Persona, message_id: int, data: str, shown: str, kind: str
    ) -> None:
        if self.api_blocked(persona):
            return
        self.note(persona, "in", kind, shown, data={"callback_data": data})
        await self.app.process_update(
            self.updates.callback(persona.chat_id, data, message_id=message_id)
        )

    async def say(self, persona: Persona, text: str, kind: str = "text", **data: Any) -> int:
        """She sends `text`; returns the message's id (for an edit later)."""
        update = self.updates.text(persona.chat_id, text, first_name=persona.first_name)
        message = update.message
        message_id = message.message_id if message is not None else 0
        self.note(persona, "in", kind, text, **({**data, "message_id": message_id} if data else {}))
        await self.app.process_update(update)
        return message_id

    def track(self, persona: Persona) -> None:
        """A `profile` event whenever the bot's idea of her zone, check-in time or quiet hours
        changes (a /settings edit, a location), so a test knows her local day and hours."""
        pid = self.patient_ids.get(persona.id)
        row = patients.get(self.db, pid) if pid is not None else None
        if row is None:
            return
        now = {k: row[k] for k in ("timezone", "checkin_time", "quiet_from", "quiet_to")}
        if self._profiles.get(persona.id) != now:
            self._profiles[persona.id] = now
            self.note(persona, "event", "profile", **now)

    def api_blocked(self, persona: Persona) -> bool:
        return self.api.is_blocked(persona.chat_id)

    def enrol(self, persona: Persona) -> int:
        """Register a persona as an onboarded patient (the onboarding chat is tested elsewhere).

        A member-to-be of a fixed-start cohort gets the cohort's start as her course's week 1, as
        she would have had she opened its link before setting up (unless `course.start` says)."""
        tz = zone(persona.timezone)
        sitting = persona.sitting or {}
        today = local_date(self.clock.now(), tz)
        course = dict(persona.course or {})
        cohort = self.cohort_of.get(persona.id)
        if cohort is not None and cohort[1].start is not None and not course.get("start"):
            course["start"] = cohort[1].start
        course_fields = {
            "course_days": ",".join(course.get("days", ["mon", "wed", "fri"])),
            "course_time": course.get("time", "18:00"),
            "course_start": (course.get("start") or today).isoformat(),
        }
        pid = patients.create(
            self.db,
            user_id=persona.chat_id,
            chat_id=persona.chat_id,
            now=self.clock.now(),
            first_name=persona.first_name,
            timezone=persona.timezone,
            checkin_time=persona.checkin_time,
            quiet_from=persona.quiet_hours[0] if persona.quiet_hours else None,
            quiet_to=persona.quiet_hours[1] if persona.quiet_hours else None,
            sitting_days=",".join(sitting.get("days", [])),
            sitting_from=sitting.get("from"),
            sitting_to=sitting.get("to"),
            sitting_every=sitting.get("every_minutes", 30),
            status="active",
            start_date=today.isoformat(),
            **course_fields,
        )
        self.patient_ids[persona.id] = pid
        if persona.outcomes is not None:  # set up now: the baseline questions, as set-up ends
            outcome_flow.start_baseline(self.db, patients.existing(self.db, pid), self.clock.now())
        for act in persona.activities:
            activities.add_activity(self.db, pid, act["name"], act["minutes"], self.clock.now())
        for act in activities.for_patient(self.db, pid):
            self.activity_ids[(persona.id, act["name"])] = act["id"]
        for carer in persona.caregivers:  # linked as if they had accepted an invite
            caregivers.link(
                self.db,
                patient_id=pid,
                user_id=carer["chat_id"],
                chat_id=carer["chat_id"],
                first_name=carer["name"],
                timezone=carer["timezone"],
                alerts=carer["alerts"],
                invite_id=0,
                terms_hash="simulated",
                now=self.clock.now(),
            )
        return pid

    def _schedule_blocks(self, persona: Persona) -> None:
        if persona.blocks_bot_on_day is None:
            return

        async def block() -> None:
            self.api.block(persona.chat_id)
            self.note(persona, "event", "blocked_bot")

        self.later(self.local_moment(persona, persona.blocks_bot_on_day, time(0)), block)

    def _schedule_red_flag(self, persona: Persona) -> None:
        """`red_flag`: /urgent, "yes" to an emergency sign, and "I have been seen" hours later."""
        spec = persona.red_flag
        if spec is None:
            return

        async def report() -> None:
            if self.api_blocked(persona):
                return
            mark = len(self.api.sent)
            await self.say(persona, "/urgent", "urgent")
            question = self._sent_with_button(mark, persona.chat_id, "u:emergency:yes")
            if question is None:
                return
            mark = len(self.api.sent)
            await self.tap(
                persona, question[0].message_id, "u:emergency:yes", question[1], "urgent_emergency"
            )
            answer = self._sent_with_button(mark, persona.chat_id, "u:seen")
            if answer is not None and spec["seen_after_hours"]:
                self.later(
                    self.clock.now() + timedelta(hours=spec["seen_after_hours"]),
                    lambda: seen(answer),
                )

        async def seen(answer) -> None:
            """ "I have been seen", then "yes" to "may you carry on?": the hold ends."""
            mark = len(self.api.sent)
            await self.tap(persona, answer[0].message_id, "u:seen", answer[1], "urgent_seen")
            cleared = self._sent_with_button(mark, persona.chat_id, "u:ok:yes")
            if cleared is not None:
                await self.tap(
                    persona, cleared[0].message_id, "u:ok:yes", cleared[1], "urgent_cleared"
                )

        self.later(self.local_moment(persona, spec["day"], spec["at"]), report)

    def _schedule_settings(self, persona: Persona) -> None:
        """`settings` (/settings changes, typed) and `locations` (shared out of the blue)."""
        for day, at, change in persona.settings:
            self.later(
                self.local_moment(persona, day, at),
                partial(self.typist.change_setting, persona, change),
            )
        for day, at, lat, lon in persona.locations:
            self.later(
                self.local_moment(persona, day, at),
                partial(self.typist.location, persona, lat, lon),
            )

    def _schedule_says(self, persona: Persona) -> None:
        """`says`: free text typed at a local day and time, whatever the bot has open."""
        for day, at, text in persona.says:

            async def type_it(text: str = text) -> None:
                if not self.api_blocked(persona):
                    await self.say(persona, text, "says")

            self.later(self.local_moment(persona, day, at), type_it)

    # -- clinics ------------------------------------------------------------------------------
    def _sent_with_button(
        self, mark: int, chat_id: int, data: str, suffix: str | None = None
    ) -> tuple[Any, str, str] | None:
        """(message, label, callback data) of the first message sent to the chat since `mark`
        with a button whose data is `data`, or (with `suffix`) starts with `data` and ends so."""
        for sent in itertools.islice(self.api.sent, mark, None):
            if sent.chat_id != chat_id:
                continue
            for row in sent.buttons:
                for shown, value in row:
                    if (
                        value == data
                        if suffix is None
                        else (value.startswith(data) and value.endswith(suffix))
                    ):
                        return sent, shown, value
        return None

    def _replies_since(self, mark: int, chat_id: int) -> list:
        return [s for s in itertools.islice(self.api.sent, mark, None) if s.chat_id == chat_id]

    async def clinician_say(self, staff: Clinician, text: str, kind: str = "text") -> list:
        """A clinician sends a message; returns what the bot sent to their chat in answer."""
        mark = len(self.api.sent)
        self.note(
            None, "in", kind, text, chat_id=staff.chat_id, recipient=f"clinician:{staff.chat_id}"
        )
        await self.app.process_update(self.updates.text(staff.chat_id, text, first_name=staff.name))
        return self._replies_since(mark, staff.chat_id)

    async def clinician_tap(
        self, staff: Clinician, message_id: int, data: str, shown: str, kind: str
    ) -> list:
        mark = len(self.api.sent)
        self.note(
            None,
            "in",
            kind,
            shown,
            chat_id=staff.chat_id,
            recipient=f"clinician:{staff.chat_id}",
            callback_data=data,
        )
        update = self.updates.callback(staff.chat_id, data, message_id=message_id).to_dict()
        update["callback_query"]["from"]["first_name"] = staff.name  # the factory says "Ana"
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return self._replies_since(mark, staff.chat_id)

    async def set_up_clinics(self) -> None:
        """Play `clinics:` through the real flows: each clinic is created as the command line
        does, each clinician opens their invite link and accepts, the first clinician sends
        /cohort_new for each cohort, and each listed patient opens the link from its reply and
        taps "join". Anything that does not work stops the run with a RuntimeError."""
        for spec in self.scenario.clinics:
            now = self.clock.now()
            clinic_id = clinics.create_clinic(self.db, spec.name, spec.timezone, now)
            self.clinic_ids[spec.name] = clinic_id
            self.note(None, "event", "clinic_created", clinic=spec.name, clinic_id=clinic_id)
            for staff in spec.clinicians:
                await self._clinician_joins(spec, clinic_id, staff)
            for cohort in spec.cohorts:
                await self._cohort_created(spec, cohort, spec.clinicians[0])
                for persona_id in cohort.patients:
                    await self._patient_joins(spec, cohort, persona_id)

    async def _clinician_joins(self, spec: ClinicSpec, clinic_id: int, staff: Clinician) -> None:
        _, code = clinics.invite_clinician(self.db, clinic_id, self.clock.now())
        mark = len(self.api.sent)
        await self.clinician_say(staff, f"/start cl_{code}", "clinician_invite")
        offer = self._sent_with_button(mark, staff.chat_id, "clj:", ":y")
        if offer is None:
            raise RuntimeError(
                f"clinician {staff.chat_id} of {spec.name!r}: the invite link was "
                "not offered with a button to accept"
            )
        await self.clinician_tap(staff, offer[0].message_id, offer[2], offer[1], "clinician_accept")
        if not any(r["clinic_id"] == clinic_id for r in clinics.roles_of(self.db, staff.chat_id)):
            raise RuntimeError(f"clinician {staff.chat_id} could not join {spec.name!r}")

    async def _cohort_created(self, spec: ClinicSpec, cohort: CohortSpec, staff: Clinician) -> None:
        command = f"/cohort_new {cohort.name}"
        if cohort.start is not None:
            command += f" {cohort.start.isoformat()}"
        replies = await self.clinician_say(staff, command, "cohort_new")
        found = next((m for m in map(ENROLMENT_LINK.search, (s.text for s in replies)) if m), None)
        made = clinics.cohort_by_code(self.db, found.group(1), self.clock.now()) if found else None
        if found is None or made is None:
            raise RuntimeError(
                f"{spec.name!r}: /cohort_new gave no working enrolment link for "
                f"{cohort.name!r}: {[s.text for s in replies]}"
            )
        key = (spec.name, cohort.name)
        self.cohort_ids[key] = made["id"]
        self.enrolment_codes[key] = found.group(1)
        self.note(
            None,
            "event",
            "cohort_created",
            chat_id=staff.chat_id,
            clinic=spec.name,
            cohort=cohort.name,
            cohort_id=made["id"],
            start_date=made["start_date"],
            link=found.group(0),
            qr=any(s.method == "sendDocument" for s in replies),
        )

    async def _patient_joins(self, spec: ClinicSpec, cohort: CohortSpec, persona_id: str) -> None:
        persona = next(p for p in self.scenario.patients if p.id == persona_id)
        key = (spec.name, cohort.name)
        mark = len(self.api.sent)
        await self.say(persona, f"/start co_{self.enrolment_codes[key]}", "cohort_link")
        offer = self._sent_with_button(mark, persona.chat_id, "coj:", ":y")
        if offer is None:
            raise RuntimeError(
                f"patient {persona.id}: the link of {cohort.name!r} offered no button to join"
            )
        await self.tap(persona, offer[0].message_id, offer[2], offer[1], "cohort_join")
        member = clinics.membership(self.db, self.patient_ids[persona.id])
        if member is None or member["cohort_id"] != self.cohort_ids[key]:
            raise RuntimeError(
                f"patient {persona.id} did not become a member of {cohort.name!r} ({spec.name!r})"
            )
        self.note(
            persona,
            "event",
            "cohort_joined",
            clinic=spec.name,
            cohort=cohort.name,
            cohort_id=member["cohort_id"],
            membership_id=member["id"],
        )

    # -- running ------------------------------------------------------------------------------
    async def start(self) -> None:
        for persona in self.scenario.patients:
            self.enrol(persona)
            self._schedule_blocks(persona)
            self._schedule_sessions(persona)
            self._schedule_red_flag(persona)
            self._schedule_says(persona)
            self._schedule_settings(persona)
            if persona.style == "typed" or persona.settings or persona.locations:
                self.track(persona)  # her zone and hours can change: tests follow them
        await self.app.initialize()
        self.updates = UpdateFactory(self.app.bot, self.clock)
        if self.app.post_init is None:
            raise RuntimeError("build_application sets post_init")
        await self.app.post_init(self.app)
        await plan_done(self.rt)  # the start-up pass runs in the background: wait for it
        await self.set_up_clinics()

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
                next_plan = now + self.plan_every
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
    return [
        datetime.fromisoformat(line["t"]).astimezone(tz).date()
        for line in lines
        if line["patient"] == persona.id and line["dir"] == "out" and line["kind"] == kind
    ]
