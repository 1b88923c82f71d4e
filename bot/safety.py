"""Warning signs in a person's own words, and the only answers a safety question takes. Pure.

The interface the handlers use; the phrase lists live in `messages/warning_signs.toml` and the
rules as implemented are written up in docs/clinical-rules.md. No telegram, sqlite, jinja2 or yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["emergency", "soon"]
Answer = Literal["yes", "no", "unsure"]


@dataclass(frozen=True)
class Screen:
    """What a message says about warning signs.

    `level` is the most serious level heard (None: nothing heard). `signs` names the signs, e.g.
    ("bladder", "saddle"). `doubtful` is True when every match was negated or hedged ("no
    numbness", "not weak"): the bot then asks, it never dismisses.
    """

    level: Level | None
    signs: tuple[str, ...] = ()
    doubtful: bool = False


def screen(text: str | None) -> Screen:
    """Warning-sign language in `text` (placeholder until the phrase lists land)."""
    return Screen(None)


def safety_answer(text: str | None) -> Answer | None:
    """A typed answer to a safety question: only clear yes/no words count.

    "not sure", "don't know", "maybe" -> "unsure"; "ok", "fine", "sure", "next", "I agree" and
    anything else -> None (ask again, saying why).
    """
    return None


def emergency_number(timezone: str | None) -> str:
    """The emergency number of the country of `timezone`, as plain text ("119", "999 or 112")."""
    return "112 or your local emergency number"
