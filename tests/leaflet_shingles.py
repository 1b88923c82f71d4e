"""The source leaflets as 8-word shingles, stored only as sha256 hashes (tests/data/).

The course takes facts from two patient leaflets and must never share a run of 8 words with
them (issue 19). The leaflets themselves are not in the repository; their shingles are, hashed,
in ``tests/data/leaflet_shingles.txt``, which ``tests/test_course_originality.py`` checks every
lesson, template and button label against. To regenerate it (only if the leaflets change), run
from the project folder, giving the leaflet text files:

    .venv/bin/python -m tests.leaflet_shingles LEAFLET.txt [LEAFLET.txt ...]

Normalisation: Unicode NFKC, lower case, apostrophes dropped ("can't" -> "cant"), then the
runs of letters and digits are the words, so punctuation, bullets and line breaks never matter.
"""

from __future__ import annotations

import hashlib
import pathlib
import re
import sys
import unicodedata
from collections.abc import Iterable

RUN = 8
DATA = pathlib.Path(__file__).resolve().parent / "data" / "leaflet_shingles.txt"
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`]")
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    return _WORD.findall(_APOSTROPHES.sub("", text))


def shingles(text: str, run: int = RUN) -> list[str]:
    """Every run of `run` consecutive words, joined by single spaces."""
    w = words(text)
    return [" ".join(w[i : i + run]) for i in range(len(w) - run + 1)]


def digest(shingle: str) -> str:
    return hashlib.sha256(shingle.encode("utf-8")).hexdigest()


def load_hashes(path: pathlib.Path = DATA) -> frozenset[str]:
    return frozenset(
        line.strip()
        for line in path.read_text(encoding="ascii").splitlines()
        if line.strip() and not line.startswith("#")
    )


def build(texts: Iterable[str]) -> list[str]:
    return sorted({digest(s) for text in texts for s in shingles(text)})


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    hashes = build(pathlib.Path(p).read_text(encoding="utf-8") for p in argv)
    DATA.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# sha256 of every normalised {RUN}-word run of the {len(argv)} source leaflets; "
        "made by python -m tests.leaflet_shingles\n"
    )
    DATA.write_text(header + "\n".join(hashes) + "\n", encoding="ascii")
    print(f"wrote {len(hashes)} hashes to {DATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
