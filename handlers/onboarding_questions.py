"""The onboarding questions, and what a tapped button or typed text means at each step.

Nothing here writes: `question` renders the current step's message, `from_button` and `from_text`
turn an answer into one canonical value (or refuse it), and handlers.onboarding stores it.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from bot.rules import onboarding_rules as R
from bot.rules import safety
from bot.rules.callbacks import encode
from bot.rules.parsing import parse_hhmm, parse_minutes
from jobs import clinic
from messages import Button, Outgoing, label, render
from storage import activities

MAX_DOSE = 180  # minutes; a starting dose, so anything longer is more likely a slip
_DONE_WORDS = frozenset({"done", "finished", "that's all", "thats all", "that's it", "no more"})
_SITTING_WORDS = {
    "weekdays": "wd",
    "weekday": "wd",
    "work days": "wd",
    "workdays": "wd",
    "every day": "all",
    "everyday": "all",
    "daily": "all",
    "all": "all",
}


class Reask(Exception):
    """The answer cannot be used: ask the current question again, naming the problem."""

    def __init__(self, problem: str = "unclear", **context: object):
        super().__init__(problem)
        self.problem, self.context = problem, context


def emergency_number(db=None, patient_id: int | None = None, user_id: int | None = None) -> Markup:
    """The number to call, already safe HTML: the person's cohort's own text, else their
    country's number (from their time zone), else "112 or your local emergency number"."""
    if db is None:
        return escape(safety.emergency_number(None))
    return clinic.emergency_number(db, patient_id, user_id)


def pending(db, state: dict) -> list[tuple[int, str]]:
    """Chosen activities still waiting for a starting dose, with their place in the choice."""
    stored = {a["name"] for a in activities.for_patient(db, state["patient_id"])}
    return [(i, n) for i, n in enumerate(state["data"].get("chosen", [])) if n not in stored]


def _rows(buttons: list[Button], per_row: int) -> list[list[Button]]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def _code(span: tuple[str, str]) -> str:
    return f"{span[0]}-{span[1]}".replace(":", "")  # ("22:00", "07:00") -> "2200-0700"


def _span_buttons(step: str, presets) -> list[list[Button]]:
    return [
        [(label("onboarding_range", start=a, end=b), encode("o", step, _code((a, b))))]
        for a, b in presets
    ]


def question(db, state: dict, problem: str | None = None, **extra: object) -> Outgoing:
    """The message asking the current step's question (again, when `problem` says why)."""
    step, ctx = state["step"], {"problem": problem, **extra}
    yes_no = [
        [(label("onboarding_no_signs"), encode("o", step, "no"))],
        [(label("onboarding_has_sign"), encode("o", step, "yes"))],
    ]
    if step == "intro":
        return Outgoing(
            render(
                "onboarding_intro",
                name=extra.get("name", ""),
                emergency_number=emergency_number(
                    db, state.get("patient_id"), state.get("user_id")
                ),
            ),
            [[(label("onboarding_continue"), encode("o", "intro", "go"))]],
        )
    if step == "consent":
        return Outgoing(
            render("onboarding_consent", **ctx),
            [
                [
                    (label("onboarding_agree"), encode("o", "consent", "yes")),
                    (label("onboarding_decline"), encode("o", "consent", "no")),
                ]
            ],
        )
    if step == "rf":
        return Outgoing(render("onboarding_red_flags", **ctx), yes_no)
    if step == "hold":
        return Outgoing(
            render(
                "onboarding_emergency",
                emergency_number=emergency_number(
                    db, state.get("patient_id"), state.get("user_id")
                ),
                **ctx,
            ),
            [
                [(label("onboarding_seen"), encode("o", "hold", "seen"))],
                [(label("safety_mistake"), encode("o", "hold", "mistake"))],
            ],
        )
    if step == "soon":
        return Outgoing(render("onboarding_soon_signs", **{"after_hold": False, **ctx}), yes_no)
    if step == "tz":
        buttons = [
            (label(f"onboarding_tz_{z.rsplit('/', 1)[1].lower()}"), encode("o", "tz", z))
            for z in R.TZ_PRESETS
        ] + [(label("onboarding_tz_other"), encode("o", "tz", "other"))]
        return Outgoing(
            render("onboarding_timezone", **{"candidates": (), **ctx}),
            [] if problem == "other" else _rows(buttons, 2),
        )
    if step == "ci":
        return Outgoing(
            render("onboarding_checkin_time", **ctx),
            _rows([(t, encode("o", "ci", t.replace(":", ""))) for t in R.CHECKIN_PRESETS], 3),
        )
    if step == "qh":
        blank = {"checkin": "", "start": "", "end": ""}
        return Outgoing(
            render("onboarding_quiet", **{**blank, **ctx}),
            _span_buttons("qh", R.QUIET_PRESETS)
            + [[(label("onboarding_change_checkin"), encode("o", "qh", "back"))]],
        )
    if step == "sit":
        return Outgoing(
            render("onboarding_sitting", **ctx),
            [[(label(f"onboarding_sit_{k}"), encode("o", "sit", k)) for k in R.SITTING_DAYS]],
        )
    if step == "sh":
        return Outgoing(
            render("onboarding_sitting_hours", **ctx), _span_buttons("sh", R.SITTING_PRESETS)
        )
    if step == "se":
        return Outgoing(
            render("onboarding_sitting_every", **ctx),
            [[(label("onboarding_minutes", n=n), encode("o", "se", n)) for n in R.SITTING_EVERY]],
        )
    if step == "act":
        chosen = state["data"].get("chosen", [])
        buttons = [
            (
                label("onboarding_chosen", name=label(f"onboarding_act_{k}"))
                if name in chosen
                else label(f"onboarding_act_{k}"),
                encode("o", "act", k),
            )
            for k, name in R.ACTIVITIES.items()
        ]
        return Outgoing(
            render("onboarding_activities", chosen=chosen, **ctx),
            _rows(buttons, 2) + [[(label("onboarding_done"), encode("o", "act", "done"))]],
        )
    if step == "dose":
        index, name = pending(db, state)[0]
        return Outgoing(
            render("onboarding_dose", name=name, max_minutes=MAX_DOSE, **ctx),
            [
                [
                    (label("onboarding_minutes", n=n), encode("o", "dose", f"{index}:{n}"))
                    for n in R.DOSE_PRESETS
                ]
            ],
        )
    raise ValueError(f"unknown onboarding step {step!r}")


def from_button(db, state: dict, value: str) -> object | None:
    """The answer a button of the current step stands for; None for anything no button says."""
    step = state["step"]
    if step == "tz":
        return value if value in R.TZ_PRESETS or value == "other" else None
    if step == "ci":
        return next((t for t in R.CHECKIN_PRESETS if t.replace(":", "") == value), None)
    if step in ("qh", "sh"):
        if step == "qh" and value == "back":
            return "back"
        presets = R.QUIET_PRESETS if step == "qh" else R.SITTING_PRESETS
        return next((span for span in presets if _code(span) == value), None)
    if step == "se":
        return next((n for n in R.SITTING_EVERY if str(n) == value), None)
    if step == "act":
        return value if value in R.ACTIVITIES or value == "done" else None
    if step == "dose":
        index, _, minutes = value.partition(":")
        # The index pins the button to the activity it was asked for: an older dose keyboard
        # must not set the dose of the activity asked about now.
        current = pending(db, state)
        if current and index == str(current[0][0]):
            return next((n for n in R.DOSE_PRESETS if str(n) == minutes), None)
        return None
    allowed = {
        "intro": ("go",),
        "consent": ("yes", "no"),
        "rf": ("yes", "no"),
        "hold": ("seen", "mistake", "notyet"),
        "soon": ("yes", "no"),
        "sit": tuple(R.SITTING_DAYS),
    }
    return value if value in allowed.get(step, ()) else None


_CONSENT_TOPICS = (
    ("share", r"\b(share|shared|sharing|see|sees|who|sell|clinic|doctor|family|anyone)\b"),
    ("delete", r"\b(delete|remove|erase|forget|stop|change my mind|later)\b"),
    ("why", r"\b(why|need|what for|do you use|what do you)\b"),
)


def consent_topic(text: str) -> str:
    """What a message typed at the consent step asks about (a key the template answers), or
    "unclear" when it is neither a question nor a yes or no."""
    words = " ".join(text.casefold().split())
    for topic, pattern in _CONSENT_TOPICS:
        if re.search(pattern, words):
            return topic
    asks = words.endswith("?") or words.split(" ", 1)[0] in ("what", "how", "is", "are", "can")
    return "question" if asks else "unclear"


def from_text(state: dict, text: str) -> object:
    """The answer typed text stands for at the current step; raises Reask when it cannot be used."""
    step, words = state["step"], " ".join(text.casefold().split())
    if step in ("rf", "soon"):  # safety questions: only a clear yes or no counts
        answer = safety.safety_answer(text)
        if answer is None or answer == "unsure":
            raise Reask("unsure" if answer == "unsure" else "unclear")
        return answer
    if step == "hold":
        if R.is_mistake(text):
            return "mistake"
        if R.is_seen(text):
            return "seen"
        if R.is_not_yet(text) or safety.safety_answer(text) == "no":
            return "notyet"  # as the follow-up's button: asked again tomorrow
        # A bare "yes" here may mean "yes, I will go": only "I have been seen" lifts a hold.
        raise Reask("unsure" if safety.safety_answer(text) == "unsure" else "short")
    if step in ("intro", "consent"):
        agreed = R.yes_no(text)
        if agreed is None or (step == "intro" and not agreed):
            raise Reask(consent_topic(text) if step == "consent" else "unclear")
        return "go" if step == "intro" else ("yes" if agreed else "no")
    if step == "tz":
        if words in ("other", "other…", "other..."):
            return "other"
        found = R.match_timezone(text)
        if isinstance(found, tuple):
            raise Reask("ambiguous", candidates=found)
        if found is None:
            raise Reask("unknown")
        return found
    if step == "ci":
        at = parse_hhmm(text)
        if at is None:
            raise Reask()
        return R.hhmm(at)
    if step in ("qh", "sh"):
        span = R.parse_time_range(text)
        if span is None or (step == "sh" and span[0] >= span[1]):
            raise Reask()
        return R.hhmm(span[0]), R.hhmm(span[1])
    if step == "sit":
        key = _SITTING_WORDS.get(words) or ("no" if R.yes_no(text) is False else None)
        if key is None:
            raise Reask()
        return key
    if step == "se":
        minutes = parse_minutes(text)
        if minutes not in R.SITTING_EVERY:
            raise Reask()
        return minutes
    if step == "act":
        if words in _DONE_WORDS:
            return "done"
        name = R.preset_activity(text) or R.clean_activity(text)
        if name is None:
            raise Reask("not_a_name")
        return ("own", name)
    if step == "dose":
        minutes = parse_minutes(text)
        if minutes is None or minutes > MAX_DOSE:
            raise Reask()
        return minutes
    raise Reask()
