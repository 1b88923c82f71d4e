"""Every text the bot sends: jinja2 templates (Telegram HTML) and button labels, rendered here."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from bot.rules.callbacks import encode

TEMPLATES = Path(__file__).resolve().parent / "templates"

# autoescape: every value a person typed (names, activity words) is escaped for Telegram HTML.
# auto_reload=False: templates ship with the code, so a compiled one is kept for the process
# without a stat() of its file at every render.
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
    cache_size=-1,
)


def sentence_case(value: object) -> str:
    """The first letter upper case, the rest as typed ("tai chi" -> "Tai chi", "iPad yoga" ->
    "IPad yoga"): for a name a person chose at the start of a sentence or a list line."""
    text = value if isinstance(value, str) else str(value)
    return text[:1].upper() + text[1:]


_env.filters["sentence"] = sentence_case

Button = tuple[str, str]  # (label, callback data)

# The longest emergency text a patient can be shown (a clinic's own text is capped at this; the
# per-country numbers of bot.rules.safety are shorter): lesson lengths are checked with it.
MAX_EMERGENCY_TEXT = 60

# Shown until a clinic sets its own (cohort setting); already safe HTML.
DEFAULT_EMERGENCY_NUMBER = (
    "your local emergency number (112 in Europe, 911 in North America, 999 in the UK)"
)


@dataclass(frozen=True)
class Outgoing:
    """A rendered message: HTML text and inline keyboard rows."""

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    # A chart to send as a photo, `text` being its caption (bot.chart.spec; drawn at send time).
    chart: dict | None = None
    # A file to send as a document, `text` being its caption: (file name, bytes).
    document: tuple[str, bytes] | None = None
    # Facts about the message for observers (the simulator's transcript); never sent.
    meta: dict | None = None

    def as_payload(self) -> dict:
        return {"text": self.text, "buttons": [[list(b) for b in row] for row in self.buttons]}

    @classmethod
    def from_payload(cls, payload: dict) -> Outgoing:
        return cls(
            payload["text"], [[(b[0], b[1]) for b in row] for row in payload.get("buttons", [])]
        )


@cache
def _template(template: str) -> Template:
    return _env.get_template(f"{template}.html")


def render(template: str, /, **context: object) -> str:
    """Render templates/<template>.html, trimmed (each template compiled once per process)."""
    return _template(template).render(**context).strip()


@cache
def _labels() -> dict[str, str]:
    return yaml.safe_load((TEMPLATES / "labels.yaml").read_text(encoding="utf-8"))


def label(key: str, **values: object) -> str:
    """A button label from templates/labels.yaml (plain text: Telegram shows labels verbatim)."""
    return _labels()[key].format(**values)


def rating_rows(head: str, *fields: object) -> list[list[Button]]:
    """0-10 as two rows of buttons: the route `head` with `fields` and the rating last."""
    return [
        [(str(n), encode(head, *fields, n)) for n in range(0, 6)],
        [(str(n), encode(head, *fields, n)) for n in range(6, 11)],
    ]
