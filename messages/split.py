"""Telegram's length limits, counted as Telegram counts them, and splitting what is too long.

Telegram refuses a text over 4,096 characters and a caption over 1,024, counted after entity
parsing (tags are not counted, `&amp;` is one character) in UTF-16 code units (an emoji outside
the Basic Multilingual Plane is two). `jobs.dispatch` splits every outgoing message with
`split_html` before it is sent, so no template, however much data it is given, can exceed them.
"""

from __future__ import annotations

import html
import re

MAX_TEXT = 4096
MAX_CAPTION = 1024

# A tag, an entity, or one character (a newline included).
_TOKEN = re.compile(r"<[^>]*>|&#?[0-9A-Za-z]+;|[\s\S]")


def _width(token: str) -> int:
    """UTF-16 code units the token adds to the visible text."""
    if token.startswith("<") and token.endswith(">") and len(token) > 1:
        return 0
    visible = html.unescape(token) if token.startswith("&") else token
    return len(visible.encode("utf-16-le")) // 2


# Tags and entities only: what is between them counts character by character (see _TOKEN).
_MARKUP = re.compile(r"<[^>]*>|&#?[0-9A-Za-z]+;")


def _visible(match: re.Match) -> str:
    token = match.group()
    return "" if token.startswith("<") else html.unescape(token)


def visible_length(text: str) -> int:
    """The length Telegram checks: the visible text of Telegram HTML, in UTF-16 code units
    (the sum of `_width` over `_TOKEN`'s tokens, in one pass instead of one call a character)."""
    visible = _MARKUP.sub(_visible, text.strip())
    return len(visible) if visible.isascii() else len(visible.encode("utf-16-le")) // 2


def _after(stack: list[str], token: str) -> list[str]:
    """The open start tags after `token` (`</...>` closes the innermost, as Telegram does)."""
    if not (token.startswith("<") and token.endswith(">") and len(token) > 1):
        return stack
    if token.startswith("</"):
        return stack[:-1]
    return [*stack, token]


def _closing(stack: list[str]) -> str:
    names = [re.match(r"<\s*([^\s>]+)", tag) for tag in reversed(stack)]
    return "".join(f"</{m.group(1)}>" for m in names if m)


def split_html(text: str, limit: int = MAX_TEXT) -> list[str]:
    """`text` as one or more pieces whose visible length is at most `limit`, in order.

    A piece ends at the last line break that fits; a line longer than the limit on its own
    ends at a space, and only a word longer than the limit is cut inside it. Tags open at a cut
    are closed at the end of one piece and opened again at the start of the next, so each
    piece is valid HTML on its own. Pieces are trimmed, and empty ones dropped."""
    text = text.strip()
    if visible_length(text) <= limit:
        return [text]
    tokens = _TOKEN.findall(text)
    pieces: list[str] = []
    stack: list[str] = []  # tags open where the current piece starts
    i = 0
    while i < len(tokens):
        count, j, open_now = 0, i, list(stack)
        at_newline: tuple[int, list[str]] | None = None
        at_space: tuple[int, list[str]] | None = None
        while j < len(tokens):
            width = _width(tokens[j])
            if width and count + width > limit:
                break
            count += width
            open_now = _after(open_now, tokens[j])
            j += 1
            if tokens[j - 1] == "\n":
                at_newline = (j, open_now)
            elif tokens[j - 1] == " ":
                at_space = (j, open_now)
        end, open_at_end = (j, open_now)
        if j < len(tokens):
            end, open_at_end = at_newline or at_space or (j, open_now)
        piece = "".join(stack) + "".join(tokens[i:end]) + _closing(open_at_end)
        if html.unescape(re.sub(r"<[^>]*>", "", piece)).strip():  # not only whitespace
            pieces.append(piece.strip())
        stack, i = open_at_end, end
    return pieces
