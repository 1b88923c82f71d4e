"""Warning signs in a person's own words, and the only answers a safety question takes. Pure.

The interface the handlers use; the phrase lists live in `messages/warning_signs.toml`, the
emergency numbers in `messages/emergency_numbers.toml`, and the rules as implemented are written up
in docs/warning-signs.md (linked from docs/clinical-rules.md). Stdlib only: no telegram, sqlite,
jinja2 or yaml.

How `screen` reads a message:
1. normalise: NFKC, casefold, curly quotes straightened, apostrophes dropped ("can't" -> "cant"),
   clause punctuation kept as a "," token, everything else non-word becomes a space;
2. spell: each word is looked up in the data file's explicit variants ("numbnes" -> "numbness")
   and the phone slips generated from its `typos` key words ("wekaer" -> "weaker", "fecer" ->
   "fever"), then key words of six letters or more are matched within a small edit distance and
   the same first letter ("incontinant" -> "incontinent");
3. match: each sign's `patterns` (certain) and `core` (the sign without its qualifier: doubtful)
   are regular expressions over the normalised words, with `{term}` macros from `[terms]`;
   `near` rules ([A, B, n]: two synonym classes within n words of one clause) are core matches;
   `exclude` spans never count ("fell asleep"), `cancel` drops core matches (explained weight
   loss), `requires` must occur somewhere, `ordinary` drops the sign, `doubt` makes every match
   doubtful. A sign's patterns are joined into one expression for a first pass; they are tried
   one by one only where it matched;
4. doubt: a negation or hedge word shortly before a match, inside it, or an "old news" phrase in
   the same clause makes that match doubtful. A doubtful match still reports its level: doubt
   leads to asking, never to dismissing.
The data file's header explains every field; docs/warning-signs.md has the whole account.
"""

from __future__ import annotations

import bisect
import re
import tomllib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

Level = Literal["emergency", "soon"]
Answer = Literal["yes", "no", "unsure"]

UNKNOWN_NUMBER = "112 or your local emergency number"
_LEVEL_RANK = {"emergency": 2, "soon": 1}
_MAX_CHARS = 100_000  # only the start of a longer text is read
_WINDOW_WORDS, _OVERLAP_WORDS = 3000, 60  # screened in overlapping windows of words


@dataclass(frozen=True)
class Screen:
    """What a message says about warning signs.

    `level` is the most serious level heard (None: nothing heard). `signs` names the signs heard,
    the most serious level first, e.g. ("bladder", "saddle", "fever"). `doubtful` is True when
    every match at `level` was negated, hedged or a sign's core without its qualifier ("no
    numbness", "not weak", "my leg is numb"): the bot then asks, it never dismisses.
    """

    level: Level | None
    signs: tuple[str, ...] = ()
    doubtful: bool = False


# ---------------------------------------------------------------------------------------------
# Normalisation


_APOSTROPHES = str.maketrans({c: "'" for c in "\u2018\u2019\u02bc\u02b9\u0060\u00b4\u2032"})
# clause breaks: sentence punctuation, commas, brackets, dashes; not a decimal point or "7/10"
_CLAUSE = re.compile(
    r"(?<!\d)\.|\.(?!\d)|[!;:\n\r\u2026()\[\]\u2013\u2014\"]+|,|(?<!\d)/(?!\d)| - "
)
_NON_WORD = re.compile(r"[^\w,?]+")
_UNDERSCORE = re.compile(r"_+")
_SPACES = re.compile(r" {2,}")
_ILL = re.compile(r"\bi'll\b")
_QUESTION = re.compile(r"\?+")
_QUESTION_WORDS = frozenset(
    "is are am does do did can could should would will what how why whats hows".split()
)
_CONTRACTIONS = {
    "cannot": "cant",
    "can not": "cant",
    "could not": "couldnt",
    "do not": "dont",
    "does not": "doesnt",
    "did not": "didnt",
    "have not": "havent",
    "has not": "hasnt",
    "had not": "hadnt",
    "is not": "isnt",
    "are not": "arent",
    "was not": "wasnt",
    "were not": "werent",
    "will not": "wont",
    "would not": "wouldnt",
    "should not": "shouldnt",
}
_CONTRACT = re.compile(r"\b(?:" + "|".join(sorted(_CONTRACTIONS, key=len, reverse=True)) + r")\b")


def normalise(text: str) -> str:
    """`text` as lower-case words separated by single spaces; clause breaks as " , ".

    Apostrophes are dropped ("can't" -> "cant", "I'd" -> "id") and the long forms follow
    ("cannot", "can not" -> "cant"; "do not" -> "dont"). No spelling correction here (see
    `_words`). A question mark becomes the word ",?" (a clause break that marks a question).
    """
    text = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    text = _ILL.sub("i will", text).replace("'", "")  # "I'll" is not "ill"
    text = _CLAUSE.sub(" , ", text)
    text = _QUESTION.sub(" ,? ", text)  # a question mark ends a clause and marks it a question
    text = _NON_WORD.sub(" ", text)
    text = _UNDERSCORE.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    return _CONTRACT.sub(lambda m: _CONTRACTIONS[m.group(0)], text)


# ---------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class _Sign:
    id: str
    level: Level
    patterns: tuple[re.Pattern[str], ...]
    core: tuple[re.Pattern[str], ...]
    doubt: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    cancel: tuple[re.Pattern[str], ...]
    requires: tuple[re.Pattern[str], ...]
    ordinary: tuple[re.Pattern[str], ...]
    any: re.Pattern[str] | None
    old_news: bool
    fallback: bool


@dataclass(frozen=True)
class _Rules:
    signs: tuple[_Sign, ...]
    variants: dict[str, str]
    fuzzy: dict[str, tuple[str, ...]]  # deletion key -> candidate key words
    fuzzy_words: frozenset[str]
    protected: frozenset[str]
    negators: re.Pattern[str]
    after: re.Pattern[str]
    hedges: re.Pattern[str]
    old_news: re.Pattern[str]
    part_of_sign: re.Pattern[str]
    clause_breaks: frozenset[str]
    window: int


def _read_toml(name: str) -> dict[str, Any]:
    with resources.files("messages").joinpath(name).open("rb") as f:
        return tomllib.load(f)


_MACRO = re.compile(r"\{(\w+)\}")


def _expand(pattern: str, terms: dict[str, str], depth: int = 0) -> str:
    if depth > 8:
        raise ValueError(f"terms nest too deep in {pattern!r}")

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in terms:
            raise KeyError(f"unknown term {{{name}}} in {pattern!r}")
        return "(?:" + _expand(terms[name], terms, depth + 1) + ")"

    return _MACRO.sub(sub, pattern)


# A pattern starts at the start of a word: the normalised text is words joined by single spaces,
# so "not after anything but a space" is the same as a word boundary there, and much quicker for
# Python's regular expressions to test at every position than \b.
_START = r"(?<![^ ])"


def _compile(patterns: list[str], terms: dict[str, str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(_START + "(?:" + _expand(p, terms) + r")\b") for p in patterns)


def _any_of(patterns: list[str], terms: dict[str, str]) -> re.Pattern[str] | None:
    """One regular expression that matches where any of `patterns` would: a sign none of whose
    patterns occur anywhere is skipped after one pass over the text."""
    if not patterns:
        return None
    joined = "|".join(f"(?:{_expand(p, terms)})\\b" for p in patterns)
    return re.compile(_START + "(?:" + joined + ")")


_NEAR_STOP = "but|because|cos|coz|cause|so|then|although|though|however|whereas|except|apart from"


def _near(pairs: list[list[Any]], terms: dict[str, str]) -> list[str]:
    """Co-occurrence rules as patterns: [A, B, n] is A and B, in either order, with at most n
    words between them inside one clause ("my bum feels like its been injected" is {area} near
    {numb}). A synonym class on each side, so one rule hears phrasings nobody wrote down."""
    out = []
    for pair in pairs:
        a, b, n = str(pair[0]), str(pair[1]), int(pair[2])
        if not 0 <= n <= 12 or len(pair) > 4:
            raise ValueError(f"near window {n} out of range in {pair!r}")
        # an optional fourth item: more words the gap may not cross ("and" for a body part and a
        # feeling, which "and" often joins from two separate remarks)
        # the gap stays in one clause ("but", "because", "so" end it) and never runs over another
        # body part ("my arm hurts and my foot is numb")
        stop = _NEAR_STOP + ("|(?:{other_part})" if "other_part" in terms else "")
        if len(pair) == 4:
            stop += "|" + str(pair[3])
        gap = f"(?:(?!(?:{stop}) )[^\\s,]+ ){{0,{n}}}"
        out.append(f"(?:{a}) {gap}(?:{b})|(?:{b}) {gap}(?:{a})")
    return out


def _alternation(words: list[str]) -> re.Pattern[str]:
    words = sorted(set(words), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")


def _regex_alternation(patterns: list[str]) -> re.Pattern[str]:
    patterns = sorted(set(patterns), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in patterns) + r")\b")


def _deletes(word: str, depth: int) -> set[str]:
    out = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


# neighbouring keys on a QWERTY phone keyboard (a thumb that lands one key off)
_KEYS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS = {
    c: "".join(
        _KEYS[r2][c2]
        for r2 in range(max(0, r - 1), min(3, r + 2))
        for c2 in range(len(_KEYS[r2]))
        if (r2, c2) != (r, col) and abs(c2 - col - (r - r2) * 0.5) <= 1
    )
    for r, row in enumerate(_KEYS)
    for col, c in enumerate(row)
}


def _typos(key: str) -> set[str]:
    """The usual phone slips of a key word, never touching its first letter: two letters swapped,
    a letter doubled, a doubled letter single, and (key words of five letters or more) one letter
    hit one key off. Real words among them are listed as `protected` in the data file."""
    out: set[str] = set()
    n = len(key)
    for i in range(1, n):
        out.add(key[:i] + key[i] * 2 + key[i + 1 :])  # doubled
        if i + 1 < n and key[i] != key[i + 1]:
            out.add(key[:i] + key[i + 1] + key[i] + key[i + 2 :])  # swapped
        if i + 1 < n and key[i] == key[i + 1]:
            out.add(key[:i] + key[i + 1 :])  # a double letter single
        if n >= 5 and key[i].isalpha():
            for c in _NEIGHBOURS.get(key[i], ""):
                out.add(key[:i] + c + key[i + 1 :])  # one key off
    out.discard(key)
    return out


def _max_edits(word: str) -> int:
    return 2 if len(word) >= 9 else 1


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    data = _read_toml("warning_signs.toml")
    terms = {
        name: "|".join(f"(?:{alt})" for alt in alts) if isinstance(alts, list) else alts
        for name, alts in data["terms"].items()
    }
    signs = []
    for s in data["sign"]:
        core = s.get("core", []) + _near(s.get("near", []), terms)
        signs.append(
            _Sign(
                id=s["id"],
                level=s["level"],
                patterns=_compile(s.get("patterns", []), terms),
                core=_compile(core, terms),
                any=_any_of(s.get("patterns", []) + core, terms),
                doubt=_compile(s.get("doubt", []), terms),
                exclude=_compile(s.get("exclude", []), terms),
                cancel=_compile(s.get("cancel", []), terms),
                requires=_compile(s.get("requires", []), terms),
                ordinary=_compile(s.get("ordinary", []), terms),
                old_news=bool(s.get("old_news", True)),
                fallback=bool(s.get("fallback", False)),
            )
        )
        if s["level"] not in _LEVEL_RANK:
            raise ValueError(f"sign {s['id']}: unknown level {s['level']!r}")
    spelling = data["spelling"]
    variants: dict[str, str] = {}
    for canonical, wrongs in spelling["variants"].items():
        for w in wrongs:
            variants[w] = canonical
    protected = frozenset(spelling.get("protected", []))
    keys = set(spelling.get("typos", []))
    for key in sorted(keys):
        for w in _typos(key):
            if w not in protected and w not in keys and w not in variants:
                variants[w] = key
    fuzzy: dict[str, set[str]] = {}
    for word in spelling["fuzzy"]:
        for d in _deletes(word, _max_edits(word)):
            fuzzy.setdefault(d, set()).add(word)
    neg = data["negation"]
    return _Rules(
        signs=tuple(signs),
        variants=variants,
        fuzzy={k: tuple(sorted(v)) for k, v in fuzzy.items()},
        fuzzy_words=frozenset(spelling["fuzzy"]),
        protected=protected,
        negators=_alternation(neg["negators"]),
        after=_alternation(neg["after"]),
        hedges=_alternation(neg["hedges"]),
        old_news=_regex_alternation(neg["old_news"]),
        part_of_sign=_regex_alternation(neg["part_of_sign"]),
        clause_breaks=frozenset(neg["clause_breaks"]),
        window=int(neg["window"]),
    )


# ---------------------------------------------------------------------------------------------
# Spelling


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance between a and b (limit + 1 once past `limit`)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


@lru_cache(maxsize=4096)
def _spell(word: str) -> str:
    r = _rules()
    if word in r.variants:
        return r.variants[word]
    if len(word) < 5 or len(word) > 24 or word in r.protected or word in r.fuzzy_words:
        return word
    if not word.isalpha():
        return word
    best, best_d = word, 99
    for d in _deletes(word, 2 if len(word) >= 8 else 1):
        for cand in r.fuzzy.get(d, ()):
            if cand[0] != word[0]:  # misspellings keep the first letter; real words often do not
                continue
            limit = min(_max_edits(cand), _max_edits(word))
            dist = _distance(word, cand, limit)
            if dist <= limit and (dist, cand) < (best_d, best):
                best, best_d = cand, dist
    return best


def _words(text: str) -> str:
    return " ".join(_spell(w) for w in normalise(text).split(" ") if w)


# ---------------------------------------------------------------------------------------------
# Screening


def _is_doubtful(r: _Rules, sign: _Sign, text: str, start: int, end: int) -> bool:
    """A match at text[start:end] is negated, hedged or old news (same clause, a few words)."""
    before = text[start - 160 : start].split()[1:] if start > 160 else text[:start].split()
    window: list[str] = []
    for w in reversed(before):
        if w in r.clause_breaks:
            break
        window.append(w)
        if len(window) >= r.window:
            break
    pre = r.part_of_sign.sub(" ", " ".join(reversed(window)))
    inside = r.part_of_sign.sub(" ", text[start:end])
    if r.negators.search(pre) or r.negators.search(inside):
        return True
    if r.hedges.search(pre) or r.hedges.search(inside):
        return True
    post: list[str] = []
    for w in text[end : end + 80].split():
        if w in r.clause_breaks and w != "now":
            break
        post.append(w)
        if len(post) >= 3:
            break
    if r.after.search(" ".join(post)):
        return True
    # a question ("is numbness in the groin serious?", "should I worry about ...") is asked about
    if _is_question(r, text, start, end):
        return True
    if not sign.old_news:
        return False
    lo, hi = max(0, start - 200), min(len(text), end + 200)
    i = text.rfind(" , ", lo, start)
    j = text.find(" , ", end, hi)
    clause = text[i + 3 if i >= 0 else lo : j if j >= 0 else hi]
    return bool(r.old_news.search(clause))


def _is_question(r: _Rules, text: str, start: int, end: int) -> bool:
    """The clause around text[start:end] ends with "?" or starts with a question word."""
    for w in text[end : end + 200].split():
        if w == ",?":
            return True
        if w in r.clause_breaks:
            break
    first = ""
    for w in reversed(text[max(0, start - 200) : start].split()):
        if w in r.clause_breaks or w == ",?":
            break
        first = w
    if not first:
        first = text[start:end].split(" ", 1)[0]
    return first in _QUESTION_WORDS


def _overlaps(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    s, e = span
    return any(s < xe and xs < e for xs, xe in spans)


_SPACE = re.compile(" ")
_SPAN_WORDS = 40  # no pattern is longer than this many words (the widest: 12-word gaps, twice)


def _ahead(pos: int, starts: list[int], end: int) -> int:
    """Where the word _SPAN_WORDS words after `pos` ends (or the end of the text)."""
    i = bisect.bisect_right(starts, pos) + _SPAN_WORDS
    return starts[i] if i < len(starts) else end


def _hits(any_re: re.Pattern[str], text: str) -> list[int]:
    """Every position where one of a sign's patterns matches (overlapping ones too)."""
    out: list[int] = []
    m = any_re.search(text)
    while m is not None:
        out.append(m.start())
        m = any_re.search(text, m.start() + 1)
    return out


def _matches(p: re.Pattern[str], text: str, hits: list[int]) -> Iterator[re.Match[str]]:
    """What p.finditer(text) gives, tried only where the sign's patterns can start (`hits`)."""
    end = -1
    for h in hits:
        if h < end:
            continue
        m = p.match(text, h)
        if m is not None:
            end = m.end()
            yield m


def _is_excluded(sign: _Sign, text: str, m: re.Match[str], starts: list[int]) -> bool:
    """The match overlaps one of the sign's exclusions (found within _SPAN_WORDS words of it)."""
    lo, hi = _back(m.start(), starts), _ahead(m.end(), starts, len(text))
    return any(
        _overlaps(m.span(), [x.span() for x in p.finditer(text, lo, hi)]) for p in sign.exclude
    )


def _back(pos: int, starts: list[int]) -> int:
    """Where the word _SPAN_WORDS words before `pos` starts (an exclusion may begin there)."""
    i = bisect.bisect_right(starts, pos) - 1
    return starts[max(0, i - _SPAN_WORDS)]


def _screen_words(text: str) -> dict[str, bool]:
    """sign id -> certain (True) or only doubtful (False), for the signs heard in `text`."""
    r = _rules()
    heard: dict[str, bool] = {}
    starts: list[int] | None = None  # where each word starts, made when first needed
    for sign in r.signs:
        hits = _hits(sign.any, text) if sign.any is not None else []
        if not hits:
            continue  # nothing of this sign anywhere: one pass, and the common case
        if sign.requires and not any(p.search(text) for p in sign.requires):
            continue
        if any(p.search(text) for p in sign.ordinary):
            continue
        if starts is None:
            starts = [0] + [m.end() for m in _SPACE.finditer(text)]
        sign_doubt = any(p.search(text) for p in sign.doubt)
        cancelled = any(p.search(text) for p in sign.cancel)
        certain = doubtful = False
        for p in sign.patterns:
            for m in _matches(p, text, hits):
                if _is_excluded(sign, text, m, starts):
                    continue
                if sign_doubt or _is_doubtful(r, sign, text, *m.span()):
                    doubtful = True
                else:
                    certain = True
                    break
            if certain:
                break
        if not certain and not doubtful and not cancelled:
            for p in sign.core:
                for m in _matches(p, text, hits):
                    if not _is_excluded(sign, text, m, starts):
                        doubtful = True
                        break
                if doubtful:
                    break
        if certain or doubtful:
            heard[sign.id] = certain
    # a fallback sign ("numbness" said without where) counts only when nothing else of its level did
    levels = {s.level for s in r.signs if s.id in heard and not s.fallback}
    for sign in r.signs:
        if sign.fallback and sign.id in heard and sign.level in levels:
            del heard[sign.id]
    return heard


def screen(text: str | None) -> Screen:
    """Warning-sign language in `text`: the most serious level heard, which signs, and doubt."""
    if not text or not isinstance(text, str):
        return Screen(None)
    words = _words(text[:_MAX_CHARS]).split(" ")
    heard: dict[str, bool] = {}
    # long texts in overlapping windows of words: a sign is a few words long, so none is cut
    for i in range(0, len(words), _WINDOW_WORDS - _OVERLAP_WORDS):
        for sign, certain in _screen_words(" ".join(words[i : i + _WINDOW_WORDS])).items():
            heard[sign] = heard.get(sign, False) or certain
    if not heard:
        return Screen(None)
    r = _rules()
    levels = {s.id: s.level for s in r.signs}
    order = [s.id for s in r.signs]
    top = max((levels[s] for s in heard), key=_LEVEL_RANK.__getitem__)
    signs = sorted(heard, key=lambda s: (-_LEVEL_RANK[levels[s]], order.index(s)))
    doubtful = not any(heard[s] for s in heard if levels[s] == top)
    return Screen(top, tuple(signs), doubtful)


# ---------------------------------------------------------------------------------------------
# Answers to a safety question


_YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "aye", "yea", "yess", "yesss"})
_NO_WORDS = frozenset({"no", "nope", "nah", "none", "noo", "nooo", "nop"})
_NO_TAIL = frozenset(
    "i dont do not have havent had hasnt has none of these them those that thats its it is isnt "
    "am im not at all no nope nah thanks thank you right now doesnt does nothing like currently "
    "any anything definitely apply applies to the above never".split()
)
_UNSURE_PHRASES = (
    "not sure",
    "unsure",
    "dont know",
    "dunno",
    "maybe",
    "perhaps",
    "possibly",
    "i think so",
    "not really sure",
    "no idea",
    "not certain",
    "idk",
    "dont think so",
    "probably",
    "might be",
    "not sure really",
    "hard to say",
    "cant say",
    "cant tell",
    "no clue",
    "uncertain",
    "not that i know of",
    "not that im aware of",
    "not that i am aware of",
    "not as far as i know",
)
_UNSURE = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in _UNSURE_PHRASES) + r")\b")
_DOUBT_AFTER_YES = re.compile(
    r"\b(?:no|not|nope|nah|dont|doesnt|didnt|havent|hasnt|isnt|arent|wasnt|never|cant|wont|"
    r"but|though|although|except|unless|if|or|sorry|meant|mean|think|maybe|perhaps|possibly|"
    r"probably|might|guess|kind of|sort of|unsure)\b"
)


def safety_answer(text: str | None) -> Answer | None:
    """A typed answer to a safety question: only clear yes/no words count.

    yes: a yes word first (yes, yeah, yep, yup, aye) and no negation or doubt after it ("yes I
    have numbness"). no: no, nope, nah, none, "none of these", "no I don't", "not at all".
    unsure: "not sure", "don't know", "dunno", "maybe", "perhaps", "I think so", "no idea"...
    "ok", "fine", "sure", "k", "y", "next", "I agree", numbers, emoji and anything else -> None
    (ask again, saying why).
    """
    if not text or not isinstance(text, str):
        return None
    words = normalise(text[:500]).replace(",", " ").split()
    question = "?" in words  # "yes?" asks back: not a clear answer
    words = [w for w in words if w != "?"]
    if not words or len(words) > 12:
        return None
    joined = " ".join(words)
    if _UNSURE.search(joined) and len(words) <= 8:
        return "unsure"
    if question:
        return None
    first, rest = words[0], words[1:]
    if first in _YES_WORDS:
        if _DOUBT_AFTER_YES.search(" ".join(rest)):
            return None
        return "yes"
    if joined in ("not at all", "none at all") or first in _NO_WORDS:
        if first in _NO_WORDS and any(w not in _NO_TAIL for w in rest):
            return None
        return "no"
    return None


# ---------------------------------------------------------------------------------------------
# Emergency numbers


@lru_cache(maxsize=1)
def _numbers() -> dict[str, str]:
    data = _read_toml("emergency_numbers.toml")
    return {cc.upper(): str(n) for cc, n in data["numbers"].items()}


def _tz_file(name: str) -> str:
    return resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _zones() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]], dict[str, str]]:
    """(zone.tab zone -> (country,), zone1970.tab zone -> countries, link -> target).

    Links come from the package's tzdata.zi ("L Asia/Kolkata Asia/Calcutta").
    """

    def read(name: str) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for line in _tz_file(name).splitlines():
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) >= 3:
                out[cols[2]] = tuple(cols[0].split(","))
        return out

    links: dict[str, str] = {}
    try:
        for line in _tz_file("tzdata.zi").splitlines():
            if line.startswith("L "):
                _, target, link = line.split()[:3]
                links[link] = target
    except (FileNotFoundError, OSError):  # pragma: no cover - tzdata always ships it
        pass
    return read("zone.tab"), read("zone1970.tab"), links


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """casefolded zone or link name -> its spelling in tzdata."""
    zone_tab, zone1970, links = _zones()
    return {z.casefold(): z for z in (*zone_tab, *zone1970, *links)}


def emergency_number(timezone: str | None) -> str:
    """The emergency number of the country of `timezone`, as plain text ("119", "999 or 112").

    Never starts with "call" (templates put it before). Unknown zone or country -> "112 or your
    local emergency number".
    """
    if not timezone or not isinstance(timezone, str) or len(timezone) > 80:
        return UNKNOWN_NUMBER
    zone_tab, zone1970, links = _zones()
    zone = _zone_names().get(timezone.strip().casefold(), timezone.strip())
    # A zone zone.tab names keeps its own country: tzdata links some countries' zones to a
    # neighbour's (Asia/Kuala_Lumpur -> Asia/Singapore), whose number is not theirs.
    for _ in range(4):
        if zone in zone_tab or zone not in links:
            break
        zone = links[zone]
    numbers = _numbers()
    if zone in zone_tab:
        number = numbers.get(zone_tab[zone][0])
        if number:
            return number
    if zone in zone1970:
        found = {numbers.get(cc) for cc in zone1970[zone]}
        only = found.pop() if len(found) == 1 else None
        if only is not None:
            return only
    return UNKNOWN_NUMBER
