"""Personas who type (`style: typed`): they read the screen and answer in words.

A typing persona does not use the callback data of the bot's buttons to decide what to say: she
reads the bot's last messages in her chat (the transcript's `out` lines, newest first) and answers
the newest question she has not answered yet, in words from the phrasebook
(`bot/simulator/phrasebook.yaml`): "7/10", "seven", "about a 4", "yes it settled", "done", 👍.
Sometimes late (hours, or the next morning), sometimes wrong and then corrected ("8", then "sorry
I meant 3", or the message edited), sometimes a voice note or a sticker first. Every choice is
drawn from a generator seeded by the scenario's seed, the persona and the question (its kind, her
local day, its number that day), so a run repeats exactly and one more message from the bot (a new
nudge) changes none of her other answers.

What she meant is written to the transcript as `rating_given` events (the subject: a check-in's
local date, or a session's before / after / next_day; the value; whether it corrects an earlier
one), so a test can hold the database to it. Buttons' callback data is read only for that
bookkeeping (which session a question is about), never to choose an answer.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bot.rules.localtime import local_date, local_to_utc, zone
from storage import activities, patients

if TYPE_CHECKING:
    from bot.simulator.runner import Simulation
    from bot.simulator.scenario import Persona

PHRASEBOOK = Path(__file__).with_name("phrasebook.yaml")
WORDS = "zero one two three four five six seven eight nine ten".split()
SCREEN_DEPTH = 6  # how many of the bot's last messages she looks at
_TAG = re.compile(r"<[^>]+>")


def stable_rng(*parts: object) -> random.Random:
    """A generator seeded by `parts` (the scenario's seed, the persona, what is decided): each
    decision draws from its own, so one more nudge from the bot changes no later answer."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def load_phrasebook(path: Path | str | None = None) -> dict[str, list[str]]:
    raw = yaml.safe_load(Path(path or PHRASEBOOK).read_text(encoding="utf-8"))
    return {str(k): [str(p) for p in v] for k, v in raw.items()}


@dataclass
class Seen:
    """One bot message on her screen."""

    message_id: int
    kind: str  # the outbox kind
    text: str  # plain text, lower case
    labels: list[str]
    datas: list[str]
    session_id: int | None = None  # from the row's payload (a next-day question)
    day: date | None = None  # her local date when it arrived
    rng: random.Random | None = None  # her choices about this message (see `stable_rng`)


@dataclass
class Screen:
    messages: deque = field(default_factory=lambda: deque(maxlen=12))
    answered: set[int] = field(default_factory=set)
    session_id: int | None = None  # the session she is in, as far as her screen shows
    done_for: set[int] = field(default_factory=set)  # sessions she will say "done" to
    last: tuple[list[dict], int] | None = None  # (subjects, value) of her last rating
    today: dict[date, int | None] = field(default_factory=dict)  # the pain she has on a day
    menu_for: object = None  # the session plan whose activity chooser she has answered
    counts: dict[tuple, int] = field(default_factory=dict)  # questions seen, by role and day
    away_until: datetime | None = None  # answering late: she reads nothing new until then
    fixing: bool = False  # she typed a wrong number and puts it right before anything else


def plain(html: str) -> str:
    return " ".join(_TAG.sub(" ", html).replace("&#39;", "'").replace("&amp;", "&").split()).lower()


def role_of(seen: Seen) -> str | None:
    """What a person reading this message would take it to ask, or None (not a question)."""
    t, kind = seen.text, seen.kind
    if "is this happening now" in t:
        return "safety"
    if "still open: your pain after" in t:  # the bot says which question is still waiting
        return "after"
    if "still open: your pain before" in t:
        return "before"
    if "still open: today's check-in" in t:
        return "checkin"
    if "still open: how your back is a day after" in t:
        return "next_day"
    if "come back to about where it was" in t or "has it settled" in t or "did it settle" in t:
        return "settle"  # first: it says "before you started" too
    if "highest pain" in t:
        return "after"
    if "before you start" in t or "just before you started" in t or "first, how is your pain" in t:
        return "before"
    if kind == "next_day" or "about a day since" in t:
        return "next_day"
    if "how is your back" in t or kind in ("checkin", "checkin_reminder"):
        return "checkin"
    if "finished your" in t or "did you finish" in t:
        return "finish"  # the bot asks whether an activity under way is over
    if "tap done when you finish" in t:
        return "done"
    if kind == "sitting" or "movement break" in t:
        return "sitting"
    if "which is closer" in t or "didn't catch a number" in t or "the scale goes from" in t:
        return "again"
    if kind == "lesson":
        return "lesson"
    return None


class Typist:
    """The typing personas of one Simulation."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.screens: dict[int, Screen] = {}
        self._phrases: dict[str, list[str]] | None = None

    @property
    def phrases(self) -> dict[str, list[str]]:
        if self._phrases is None:  # read once, when a persona first types
            self._phrases = load_phrasebook(self.sim.scenario.extra.get("phrasebook"))
        return self._phrases

    # -- the screen -----------------------------------------------------------------------------
    def screen(self, persona: Persona) -> Screen:
        return self.screens.setdefault(persona.chat_id, Screen())

    def saw(self, persona: Persona, row: dict, sent) -> None:
        """The bot sent her a message: it is on her screen; she means to answer a question."""
        payload = json.loads(row.get("payload") or "{}")
        seen = Seen(
            sent.message_id,
            row["kind"],
            plain(sent.text or ""),
            [label for r in sent.buttons for label, _ in r],
            [d for r in sent.buttons for _, d in r],
            payload.get("session_id") if isinstance(payload, dict) else None,
            self.today(persona),
        )
        screen = self.screen(persona)
        screen.messages.append(seen)
        found = None
        for data in seen.datas:  # bookkeeping only: which session the screen is about
            parts = data.split(":")
            if parts[0] == "r" and len(parts) == 4 and parts[2] in ("b", "a", "s"):
                found = int(parts[1])
            elif parts[0] == "a" and len(parts) == 3 and parts[1] == "e":
                found = int(parts[2])
        if found is not None:
            screen.session_id = found
        if self._menu(persona, seen):
            return
        starting = self.sim._starting.get(persona.chat_id)
        if found is not None and starting is not None and found not in self.sim._plans:
            self.sim._bind(persona, found, starting)
        role = role_of(seen)
        if role is None:
            return
        key = (role, seen.day)
        screen.counts[key] = screen.counts.get(key, 0) + 1
        seen.rng = self.rng_for(persona, role, seen.day, screen.counts[key])
        if role == "done":
            self._plan_done(persona, seen)
            return
        if role in persona.ignore:  # e.g. sitting, lesson, checkin: kinds she never answers
            return
        now = self.sim.clock.now()
        if screen.away_until is not None and now < screen.away_until:
            return  # she is away from her phone: she reads it all when she is back
        wait, away = self.delay(persona, role, seen.rng)
        if away:
            screen.away_until = now + wait
        self.sim.later(now + wait, partial(self.wake, persona))

    def _menu(self, persona: Persona, seen: Seen) -> bool:
        """The activity chooser after her /activity: she picks the one she planned, typing its
        name (`menus: type`) or tapping it; typed and not understood, she taps it after all."""
        plan = self.sim._starting.get(persona.chat_id)
        screen = self.screen(persona)
        if plan is None or screen.menu_for is plan or "which activity" not in seen.text:
            return False
        screen.menu_for = plan
        aid = self.sim.activity_ids.get((persona.id, plan.activity))
        wanted = f"a:s:{aid}"
        soon = self.sim.clock.now() + timedelta(minutes=1)
        if wanted in seen.datas:
            shown = seen.labels[seen.datas.index(wanted)]
            tap = partial(self.sim.tap, persona, seen.message_id, wanted, shown, "activity_start")
            if persona.typed.get("menus") == "type":
                self.sim.later(soon, partial(self.type_later, persona, plan.activity, "activity"))
                self.sim.later(soon + timedelta(minutes=1), partial(self._tap_if_not_begun, tap))
            else:
                self.sim.later(soon, tap)
            return True
        # The chooser without this activity: it is having a break (or is gone).
        self.sim._starting.pop(persona.chat_id, None)
        self.sim.note(persona, "event", "session_not_offered", activity=plan.activity)
        return True

    async def _tap_if_not_begun(self, tap) -> None:
        persona = tap.args[0]
        if self.sim._starting.get(persona.chat_id) is not None:
            await tap()
        self.sim._starting.pop(persona.chat_id, None)  # begun, or never: she stops trying

    def rng_for(self, persona: Persona, *what: object) -> random.Random:
        return stable_rng(self.sim.scenario.seed, persona.id, *what)

    def delay(self, persona: Persona, role: str, rng: random.Random) -> tuple[timedelta, bool]:
        """How long until she answers, and whether she is away from her phone meanwhile:
        minutes mostly; with `late`, hours; with `next_morning`, at 07:00-08:59 the next day."""
        typed = persona.typed
        low, high = typed.get("reply_minutes", (1, 20))
        if role in ("again", "safety"):
            return timedelta(minutes=rng.randint(1, 3)), False
        draw = rng.random()
        if draw < typed.get("next_morning", 0.0):
            tz = self.zone_now(persona)
            tomorrow = local_date(self.sim.clock.now(), tz) + timedelta(days=1)
            at = time(rng.choice((7, 8)), rng.randint(0, 59))
            return local_to_utc(tomorrow, at, tz) - self.sim.clock.now(), True
        if draw < typed.get("next_morning", 0.0) + typed.get("late", 0.0):
            return timedelta(minutes=rng.randint(45, 360)), True
        return timedelta(minutes=rng.randint(low, high)), False

    # -- where and when she is --------------------------------------------------------------------
    def zone_now(self, persona: Persona):
        """Her time zone as the bot has it now (she may have changed it, travelling)."""
        pid = self.sim.patient_ids.get(persona.id)
        row = patients.get(self.sim.db, pid) if pid is not None else None
        return zone(row["timezone"] if row else persona.timezone)

    def today(self, persona: Persona) -> date:
        return local_date(self.sim.clock.now(), self.zone_now(persona))

    def pain_today(self, persona: Persona) -> int | None:
        """How her back is today (the scenario's checkin_pain), the same all day."""
        screen, day = self.screen(persona), self.today(persona)
        if day not in screen.today:
            first = local_date(self.sim.scenario.start, zone(persona.timezone))
            screen.today[day] = persona.checkin_pain.for_day(
                (day - first).days, self.rng_for(persona, "pain", day)
            )
        return screen.today[day]

    # -- answering --------------------------------------------------------------------------------
    def question(self, persona: Persona) -> tuple[Seen, str] | None:
        """The newest question on her screen, if she has not answered it yet."""
        screen = self.screen(persona)
        for seen in list(screen.messages)[::-1][:SCREEN_DEPTH]:
            role = role_of(seen)
            if role is None or role == "done":
                continue
            if seen.message_id in screen.answered:
                return None
            return seen, role
        return None

    async def wake(self, persona: Persona) -> None:
        if self.sim.api_blocked(persona) or self.screen(persona).fixing:
            return  # a correction first; she reads the screen again after it
        found = self.question(persona)
        if found is None:
            return
        seen, role = found
        screen, typed = self.screen(persona), persona.typed
        rng = seen.rng or self.rng_for(persona, "wake", seen.message_id)
        screen.answered.add(seen.message_id)
        if role in ("checkin", "next_day", "before", "after", "again"):
            subjects, value = self.rating_for(persona, seen, role)
            if value is None:
                return
            if rng.random() < typed.get("voice", 0.0):
                await self.media(persona, "voice")
            elif rng.random() < typed.get("sticker", 0.0):
                await self.media(persona, "sticker")
            await self.rate(persona, subjects, value, role, rng)
            return
        plan = self._plan(persona)
        if role == "settle":
            if plan is None or plan.settled is None:
                return
            words = self.pick("settled_yes" if plan.settled else "settled_no", rng)
            if plan.settled and rng.random() < typed.get("emoji", 0.0):
                words = self.pick("emoji", rng)
            await self.type(persona, words, "settle")
        elif role == "finish":  # asked again, she says it in words
            if plan is not None:
                words = self.pick("done", rng)
                await self.type(persona, words, "finish", session_id=screen.session_id)
        elif role == "sitting":
            emoji = rng.random() < typed.get("emoji", 0.0)
            await self.type(persona, self.pick("emoji" if emoji else "sitting", rng), "sitting")
        elif role == "safety":
            await self.type(persona, self.pick("safety_no", rng), "safety")
        elif role == "lesson":
            emoji = rng.random() < typed.get("emoji", 0.0)
            await self.type(persona, self.pick("emoji" if emoji else "lesson", rng), "lesson")

    def _plan(self, persona: Persona):
        sid = self.screen(persona).session_id
        return self.sim._plans.get(sid) if sid is not None else None

    def rating_for(self, persona: Persona, seen: Seen, role: str) -> tuple[list[dict], int | None]:
        """What the question is about (its subjects) and the number she means."""
        screen = self.screen(persona)
        if role == "again":  # asked again: she looks up for the question it asks again
            older = [m for m in list(screen.messages)[::-1][1:SCREEN_DEPTH] if m is not seen]
            asked = next(
                (
                    (m, r)
                    for m in older
                    if (r := role_of(m)) in ("checkin", "next_day", "before", "after")
                ),
                None,
            )
            if asked is not None:
                return self.rating_for(persona, asked[0], asked[1])
            return screen.last if screen.last is not None else ([], None)
        day = self.today(persona)
        if seen.day is not None and seen.day < day and role != "checkin":
            # A question from an earlier day, answered in words today: her pain now, which is
            # today's rating ("a question from an earlier day never takes today's answer").
            return [{"what": "checkin", "local_date": day.isoformat()}], self.pain_today(persona)
        if role in ("before", "after"):
            sid = screen.session_id
            plan = self.sim._plans.get(sid) if sid is not None else None
            if plan is None:
                return [], None
            value = plan.before if role == "before" else plan.after
            return [{"what": "session", "session_id": sid, "field": role}], value
        waiting = [
            sid for sid in self.sim._awaiting_next_day(persona) if self.sim._plans[sid].next_day
        ]
        if role == "next_day":
            sid = seen.session_id or (waiting[0] if waiting else None)
            plan = self.sim._plans.get(sid) if sid is not None else None
            if plan is None:  # a session she did not play: how her back is today, unrecorded
                return [], self.pain_today(persona)
            return [{"what": "session", "session_id": sid, "field": "next_day"}], plan.next_day
        subjects: list[dict] = [{"what": "checkin", "local_date": day.isoformat()}]
        if waiting and "a day after your" in seen.text:
            # The check-in that is also a session's next-day question: she answers for the session.
            subjects += [
                {"what": "session", "session_id": sid, "field": "next_day"} for sid in waiting
            ]
            value = self.sim._plans[waiting[0]].next_day
            self.screen(persona).today.setdefault(self.today(persona), value)
            return subjects, value
        return subjects, self.pain_today(persona)

    async def rate(
        self, persona: Persona, subjects: list[dict], value: int, role: str, rng: random.Random
    ) -> None:
        """Type a rating; with the `wrong` share, a wrong one first and its correction after."""
        typed, screen = persona.typed, self.screen(persona)
        screen.last = (subjects, value)
        if rng.random() < typed.get("wrong", 0.0):
            wrong = (value + rng.randint(3, 7)) % 11
            message_id = await self.type(persona, self.say_rating(wrong, rng), role)
            self.given(persona, subjects, wrong, "typed")
            screen.fixing = True
            by_edit = rng.random() < typed.get("edit", 0.5)
            self.sim.later(
                self.sim.clock.now() + timedelta(minutes=rng.randint(1, 4)),
                partial(self.correct, persona, subjects, value, wrong, message_id, by_edit, rng),
            )
            return
        await self.type(persona, self.say_rating(value, rng), role)
        self.given(persona, subjects, value, "typed")

    async def correct(
        self,
        persona: Persona,
        subjects: list[dict],
        value: int,
        wrong: int,
        message_id: int,
        by_edit: bool,
        rng: random.Random,
    ) -> None:
        self.screen(persona).fixing = False
        if self.sim.api_blocked(persona):
            return
        if by_edit:
            words = self.say_rating(value, rng)
            self.sim.note(persona, "in", "edit", words, message_id=message_id)
            await self.sim.app.process_update(
                self.sim.updates.edited_text(persona.chat_id, words, message_id=message_id)
            )
            self.given(persona, subjects, value, "edited")
        else:
            words = self.pick("correction", rng).format(n=value, word=WORDS[value], wrong=wrong)
            await self.type(persona, words, "correction")
            self.given(persona, subjects, value, "corrected")
        self.sim.track(persona)
        await self.wake(persona)  # then what is still open on the screen

    def given(self, persona: Persona, subjects: list[dict], value: int, how: str) -> None:
        for subject in subjects:
            self.sim.note(persona, "event", "rating_given", value=value, how=how, **subject)

    def say_rating(self, value: int, rng: random.Random) -> str:
        return self.pick("rating", rng).format(n=value, word=WORDS[value])

    def pick(self, key: str, rng: random.Random) -> str:
        return rng.choice(self.phrases[key])

    async def type(self, persona: Persona, words: str, answers: str, **data: Any) -> int:
        if self.sim.api_blocked(persona):
            return 0
        message_id = await self.sim.say(persona, words, "typed", answers=answers, **data)
        self.sim.track(persona)
        return message_id

    async def type_later(self, persona: Persona, words: str, answers: str, **data: Any) -> None:
        await self.type(persona, words, answers, **data)

    async def media(self, persona: Persona, what: str) -> None:
        self.sim.note(persona, "in", what, "")
        build = self.sim.updates.voice if what == "voice" else self.sim.updates.sticker
        await self.sim.app.process_update(build(persona.chat_id))

    def _plan_done(self, persona: Persona, seen: Seen) -> None:
        """ "Tap Done when you finish": she does the activity, then types that she is done."""
        screen = self.screen(persona)
        sid = screen.session_id
        plan = self.sim._plans.get(sid) if sid is not None else None
        if plan is None or sid is None or sid in screen.done_for:
            return
        screen.done_for.add(sid)
        screen.answered.add(seen.message_id)
        act = activities.get(self.sim.db, self.sim.activity_ids[(persona.id, plan.activity)])
        minutes = plan.minutes or (act["dose_minutes"] if act else 10)
        rng, typed = self.rng_for(persona, "done", sid), persona.typed
        words = self.pick("emoji" if rng.random() < typed.get("emoji", 0.0) else "done", rng)
        self.sim.later(
            self.sim.clock.now() + timedelta(minutes=minutes + rng.randint(0, 5)),
            partial(self.type_later, persona, words, "done", session_id=sid),
        )

    # -- settings and places ----------------------------------------------------------------------
    async def change_setting(self, persona: Persona, change: dict) -> None:
        """/settings, pick each of `choose` from the menus in turn, then type each of `answers`
        as asked (a minute apart)."""
        if self.sim.api_blocked(persona):
            return
        mark = len(self.sim.api.sent)
        await self.sim.say(persona, "/settings", "typed", answers="settings")
        for fragment in change["choose"]:
            menu = None
            for sent in self.sim._replies_since(mark, persona.chat_id):
                for row in sent.buttons:
                    for shown, data in row:
                        if fragment.casefold() in shown.casefold():
                            menu = (sent, shown, data)
            if menu is None:
                self.sim.note(persona, "event", "setting_not_offered", choose=fragment)
                return
            mark = len(self.sim.api.sent)
            if persona.typed.get("menus") == "type":
                await self.sim.say(persona, menu[1], "typed", answers="settings")
            else:
                await self.sim.tap(persona, menu[0].message_id, menu[2], menu[1], "settings")
        self.sim.later(
            self.sim.clock.now() + timedelta(minutes=1),
            partial(self.setting_answers, persona, change, list(change["answers"])),
        )

    async def setting_answers(self, persona: Persona, change: dict, left: list) -> None:
        """The next typed answer of a /settings change, a minute after the bot's question."""
        if self.sim.api_blocked(persona):
            return
        if left:
            answer = left.pop(0)
            if isinstance(answer, dict) and "location" in answer:
                await self.location(persona, *answer["location"])
            else:
                await self.sim.say(persona, str(answer), "typed", answers="settings")
            self.sim.later(
                self.sim.clock.now() + timedelta(minutes=1),
                partial(self.setting_answers, persona, change, left),
            )
            return
        self.sim.track(persona)
        row = patients.existing(self.sim.db, self.sim.patient_ids[persona.id])
        self.sim.note(
            persona,
            "event",
            "setting_changed",
            choose=" > ".join(change["choose"]),
            expect=change.get("expect") or {},
            found={
                k: self.activities_now(persona, v) if k == "activities" else row.get(k)
                for k, v in (change.get("expect") or {}).items()
            },
        )

    def activities_now(self, persona: Persona, expected: list) -> list[str]:
        """Her activities as "name minutes", sorted (any the bot marks removed left out); as the
        bare name where `expected` names it without minutes (its dose is the pacing rule's)."""
        rows = activities.for_patient(self.sim.db, self.sim.patient_ids[persona.id])
        bare = {str(e) for e in expected or []}
        return sorted(
            a["name"] if a["name"] in bare else f"{a['name']} {a['dose_minutes']}"
            for a in rows
            if not (a.get("removed_at") or a.get("deleted_at"))
            and a.get("status", "active") not in ("removed", "deleted")
        )

    async def location(self, persona: Persona, lat: float, lon: float) -> None:
        self.sim.note(persona, "in", "location", "", latitude=lat, longitude=lon)
        await self.sim.app.process_update(self.sim.updates.location(persona.chat_id, lat, lon))
        self.sim.track(persona)
