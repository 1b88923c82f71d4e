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
from bot.rules.parsing import parse_clock, parse_minutes
from bot.rules.schedule import CHECKIN_MODES
from jobs import clinic
from messages import Button, Outgoing, label, render
from storage import activities, patients

# The weekly summary's day and time offered as buttons (any day and time may be typed).
SUMMARY_CHOICES = (
    ("sun", "18:00"),
    ("sun", "10:00"),
    ("sat", "18:00"),
    ("fri", "18:00"),
    ("mon", "08:00"),
)

MAX_DOSE = R.MAX_DOSE  # minutes; one range for setup and /settings (bot.rules.onboarding_rules)
# Dose buttons under /settings (a typed dose may be anything in MIN_DOSE..MAX_DOSE).
SETTINGS_DOSES = tuple(sorted({*R.DOSE_PRESETS, 45, 60}))
_MODE_WORDS = {
    "daily": "daily",
    "every day": "daily",
    "everyday": "daily",
    "weekdays": "weekdays",
    "weekdays only": "weekdays",
    "weekday": "weekdays",
    "work days": "weekdays",
    "off": "off",
    "none": "off",
    "no check in": "off",
    "no checkin": "off",
    "stop": "off",
}
_OFF_WORDS = frozenset({"off", "none", "no", "no quiet hours", "nothing", "never", "remove"})
_NO_QUIET = re.compile(
    r"^(?:i )?(?:don'?t|do not|dont)(?: really)? (?:want|need)(?: any)? quiet hours?\b"
    r"|^no (?:thanks|thank you)$|^no quiet\b"
)
_START_OVER = frozenset({"start over", "start again", "restart", "over", "again", "from scratch"})
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


def _marked(text: str, chosen: bool) -> str:
    """A button's label with ✓ when it is the current choice."""
    return f"✓ {text}" if chosen else text


# What each step still to come sets up, for "what's left" (the words are in onboarding_left).
_LEFT = (
    ("consent", ("consent",)),
    ("safety", ("consent", "rf", "hold", "soon")),
    ("tz", ("consent", "rf", "hold", "soon", "tz")),
    ("ci", ("consent", "rf", "hold", "soon", "tz", "ci")),
    ("qh", ("consent", "rf", "hold", "soon", "tz", "ci", "qh")),
    ("sit", ("consent", "rf", "hold", "soon", "tz", "ci", "qh", "sit", "sh", "se")),
    ("act", tuple(R.STEPS)),
)


def left_to_set_up(state: dict) -> list[str]:
    """What is still to set up from this step on (keys of the onboarding_left template)."""
    step = state["data"].get("resume_step", state["step"])
    if step == "intro":
        return [key for key, _ in _LEFT]
    return [key for key, upto in _LEFT if step in upto]


def _rows(buttons: list[Button], per_row: int) -> list[list[Button]]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def _code(span: tuple[str, str]) -> str:
    return f"{span[0]}-{span[1]}".replace(":", "")  # ("22:00", "07:00") -> "2200-0700"


def _span_buttons(step: str, presets, current: tuple = ()) -> list[list[Button]]:
    return [
        [
            (
                _marked(label("onboarding_range", start=a, end=b), (a, b) == current),
                encode("o", step, _code((a, b))),
            )
        ]
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
    editing = state["data"].get("edit")
    patient = patients.get(db, state["patient_id"]) if editing and db is not None else None
    now = patient or {}  # /settings: the current choice is marked ✓ on its button
    if step == "ci":
        rows = _rows(
            [
                (_marked(t, t == now.get("checkin_time")), encode("o", "ci", t.replace(":", "")))
                for t in R.CHECKIN_PRESETS
            ],
            3,
        )
        if patient is not None:
            mode = patient.get("checkin_mode") or "daily"
            rows.append(
                [
                    (_marked(label(f"settings_ci_{m}"), m == mode), encode("o", "ci", m))
                    for m in CHECKIN_MODES
                ]
            )
        return Outgoing(render("onboarding_checkin_time", editing=bool(editing), **ctx), rows)
    if step == "qh":
        blank = {"checkin": "", "start": "", "end": "", "summary": "", "clash": ()}
        rows = _span_buttons("qh", R.QUIET_PRESETS, (now.get("quiet_from"), now.get("quiet_to")))
        if editing:
            none = _marked(label("settings_no_quiet"), bool(now) and not now.get("quiet_from"))
            rows.append([(none, encode("o", "qh", "none"))])
        rows.append([(label("onboarding_change_checkin"), encode("o", "qh", "back"))])
        return Outgoing(
            render("onboarding_quiet", **{**blank, "editing": bool(editing), **ctx}), rows
        )
    if step == "resume":
        return Outgoing(
            render("onboarding_stalled", left=left_to_set_up(state), **ctx),
            [
                [
                    (label("onboarding_continue"), encode("o", "resume", "go")),
                    (label("onboarding_start_over"), encode("o", "resume", "over")),
                ]
            ],
        )
    if step in ("sdays", "ldays"):
        days = state["data"].get("days", [])
        rows = _rows(
            [(_marked(label(f"day_{d}"), d in days), encode("o", step, d)) for d in R.WEEK],
            4,
        )
        last = [(label("settings_days_save"), encode("o", step, "done"))]
        if step == "sdays":
            off = _marked(label("settings_sitting_off"), not now.get("sitting_days"))
            last.append((off, encode("o", step, "off")))
        return Outgoing(
            render(
                "settings_days",
                which=step,
                days=[label(f"day_{d}") for d in R.WEEK if d in days],
                **ctx,
            ),
            rows + [last],
        )
    if step == "sum":
        return Outgoing(
            render("settings_summary_when", **ctx),
            [
                [
                    (
                        _marked(
                            label("settings_summary_at", day=day.capitalize(), time=at),
                            not now.get("summary_off")
                            and (day, at) == (now.get("summary_day"), now.get("summary_time")),
                        ),
                        encode("set:sum", f"{day}{at.replace(':', '')}"),
                    )
                ]
                for day, at in SUMMARY_CHOICES
            ]
            + [
                [
                    (
                        _marked(label("settings_summary_off"), bool(now.get("summary_off"))),
                        encode("set:sum", "off"),
                    )
                ]
            ],
        )
    if step in ("adose", "aname"):
        act = activities.owned(db, state["data"].get("activity", 0), state["patient_id"])
        if act is None:
            raise ValueError("the activity being changed is gone")
        if step == "aname":
            return Outgoing(render("settings_rename", activity=act["name"], **ctx))
        pause = "unpause" if act["stopped"] else "pause"
        return Outgoing(
            render(
                "settings_dose_how",
                activity=act["name"],
                dose=act["dose_minutes"],
                stopped=bool(act["stopped"]),
                max_minutes=R.MAX_DOSE,
                **ctx,
            ),
            [
                [
                    (label("onboarding_minutes", n=n), encode("set:dm", act["id"], n))
                    for n in SETTINGS_DOSES
                ],
                [
                    (label("settings_rename"), encode("set:a", act["id"], "rename")),
                    (label(f"settings_{pause}"), encode("set:a", act["id"], pause)),
                    (label("settings_remove"), encode("set:a", act["id"], "remove")),
                ],
            ],
        )
    if step == "sit":
        return Outgoing(
            render("onboarding_sitting", **ctx),
            [[(label(f"onboarding_sit_{k}"), encode("o", "sit", k)) for k in R.SITTING_DAYS]],
        )
    if step == "sh":
        current = (now.get("sitting_from"), now.get("sitting_to"))
        return Outgoing(
            render("onboarding_sitting_hours", **ctx),
            _span_buttons("sh", R.SITTING_PRESETS, current),
        )
    if step == "se":
        return Outgoing(
            render("onboarding_sitting_every", **ctx),
            [
                [
                    (
                        _marked(label("onboarding_minutes", n=n), n == now.get("sitting_every")),
                        encode("o", "se", n),
                    )
                    for n in R.SITTING_EVERY
                ]
            ],
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
            render(
                "onboarding_dose", name=name, max_minutes=MAX_DOSE, min_minutes=R.MIN_DOSE, **ctx
            ),
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
    editing = state["data"].get("edit")
    if step == "ci":
        if editing and value in CHECKIN_MODES:
            return value
        return next((t for t in R.CHECKIN_PRESETS if t.replace(":", "") == value), None)
    if step in ("sdays", "ldays"):
        days: tuple[str, ...] = (*R.WEEK, "done", "off") if step == "sdays" else (*R.WEEK, "done")
        return value if value in days else None
    if step in ("qh", "sh"):
        if step == "qh" and value == "back":
            return "back"
        if step == "qh" and editing and value == "none":
            return "none"
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
        "resume": ("go", "over"),
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
    editing = state["data"].get("edit")
    if step == "resume":
        if R.safety_words(text) in _START_OVER:
            return "over"
        agreed = R.yes_no(text)
        if agreed is None:
            raise Reask()
        return "go" if agreed else "later"  # "no": not now (starting over is asked for by name)
    if step == "ci":
        if editing and R.safety_words(text).replace("-", " ") in _MODE_WORDS:
            return _MODE_WORDS[R.safety_words(text).replace("-", " ")]
        at = parse_clock(text)
        if at is None:
            raise Reask()
        return R.hhmm(at)
    if step == "qh" and (
        R.safety_words(text) in _OFF_WORDS or _NO_QUIET.search(R.safety_words(text))
    ):
        return "none"  # as /settings' "No quiet hours", in set-up too
    if step in ("sdays", "ldays"):
        if step == "sdays" and R.safety_words(text) in _OFF_WORDS:
            return "off"
        if R.safety_words(text) in ("done", "save", "ok", "that's it", "thats it"):
            return "done"
        days = R.parse_days(text)
        if days is None:
            raise Reask()
        return days
    if step == "sum":
        when = R.parse_summary_when(text)
        if when is None:
            raise Reask()
        return when
    if step == "adose":
        minutes = R.parse_dose(text)
        if minutes is None:
            raise Reask()
        return minutes
    if step == "aname":
        name = R.activity_name(text)
        if name is None:
            raise Reask("not_a_name")
        return name
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
        if R.ends_list(text):
            return "done"
        if R.looks_like_dose(text):
            raise Reask("dose_early")  # "20 min" a step early: ask for the name first
        typed = R.activity_list(text)
        if typed is None:
            raise Reask("not_a_name")
        names, ended = typed
        if any(R.looks_like_dose(n) for n in names):
            raise Reask("dose_early")
        return ("end" if ended else "own", *names)
    if step == "dose":
        minutes = R.parse_dose(text)
        if minutes is None:
            raise Reask()
        return minutes
    raise Reask()
