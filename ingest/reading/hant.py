"""Traditional-character forms of simplified words, from OpenCC's data (SPEC §3a).

Operators on Hong Kong, Taiwan and Big5 clients type 運營商 and 問題描述. Labels, headings,
markers and sign-offs are written once, in simplified characters; their traditional forms are
what OpenCC's s2t, s2tw, s2hk and s2twp conversions give. Only these short words are converted,
once per process; mail bodies never are, and values are kept as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import opencc

CONVERSIONS = ("s2t", "s2tw", "s2hk", "s2twp")


@lru_cache(maxsize=1)
def _converters() -> tuple[opencc.OpenCC, ...]:
    return tuple(opencc.OpenCC(f"{name}.json") for name in CONVERSIONS)


@lru_cache(maxsize=4096)
def forms(word: str) -> tuple[str, ...]:
    """`word` first, then each distinct traditional form of it."""
    out = [word]
    for converter in _converters():
        converted = converter.convert(word)
        if converted not in out:
            out.append(converted)
    return tuple(out)


def all_forms(words: Iterable[str]) -> list[str]:
    """Every form of every word, each once, in order."""
    out: list[str] = []
    for word in words:
        out.extend(form for form in forms(word) if form not in out)
    return out
