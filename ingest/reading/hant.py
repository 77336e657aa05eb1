"""Traditional-character forms of simplified words, from OpenCC's data (SPEC §3a).

Operators on Hong Kong, Taiwan and Big5 clients type 運營商 and 問題描述. Labels, headings,
markers and sign-offs are written once, in simplified characters; their traditional forms are
what OpenCC's s2t, s2tw, s2hk and s2twp conversions give. Only these short words are converted,
never mail bodies, and values are kept as written.

Loading OpenCC's dictionaries takes a quarter of a second or more, too long for every start of
`gongdan parse` from cron, so the forms of the words the reader uses are shipped, as OpenCC
gave them, in data/traditional_forms.json (written by `python -m ingest.reading.hant_words`;
tests/test_hant.py checks it against OpenCC). A word missing there (a label just added to
fields.toml) is converted with OpenCC on first use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

CONVERSIONS = ("s2t", "s2tw", "s2hk", "s2twp")
DATA = "data/traditional_forms.json"
asked: set[str] = set()  # every word whose forms this process looked up
converted: set[str] = set()  # the words among them that the shipped table lacked


@lru_cache(maxsize=1)
def _converters() -> tuple:
    import opencc  # noqa: PLC0415 — heavy: loaded only for a word the shipped table lacks

    return tuple(opencc.OpenCC(f"{name}.json") for name in CONVERSIONS)


def opencc_forms(word: str) -> tuple[str, ...]:
    """`word` first, then each distinct form OpenCC's conversions give, in CONVERSIONS order."""
    out = [word]
    for converter in _converters():
        form = converter.convert(word)
        if form not in out:
            out.append(form)
    return tuple(out)


@lru_cache(maxsize=1)
def _shipped() -> dict[str, tuple[str, ...]]:
    text = resources.files("ingest").joinpath(DATA).read_text("utf-8")
    return {word: tuple(forms) for word, forms in json.loads(text).items()}


@lru_cache(maxsize=4096)
def forms(word: str) -> tuple[str, ...]:
    """`word` first, then each distinct traditional form of it."""
    asked.add(word)
    shipped = _shipped().get(word)
    if shipped is not None:
        return shipped
    converted.add(word)
    return opencc_forms(word)


def all_forms(words: Iterable[str]) -> list[str]:
    """Every form of every word, each once, in order."""
    out: list[str] = []
    for word in words:
        out.extend(form for form in forms(word) if form not in out)
    return out


def alternation(words: Iterable[str]) -> str:
    """A regex alternative of every form of `words`, longest first."""
    return "|".join(re.escape(w) for w in sorted(all_forms(words), key=len, reverse=True))
