"""Traditional-character forms of simplified words, from OpenCC's data (SPEC §3a).

Operators on Hong Kong, Taiwan and Big5 clients type 運營商 and 問題描述. Labels, headings,
markers and sign-offs are written once, in simplified characters; their traditional forms are
what OpenCC's s2t, s2tw, s2hk and s2twp conversions give. Only these short words are converted,
never mail bodies, and values are kept as written.

Loading OpenCC's dictionaries takes a quarter of a second or more, too long for every start of
`gongdan parse` from cron, so the forms of the words the reader uses are shipped, as OpenCC
gave them, in data/traditional_forms.json (written by `python -m ingest.reading.hant`;
tests/test_hant.py checks it against OpenCC). A word missing there (a label just added to
fields.toml) is converted with OpenCC on first use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path

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


def used_words() -> list[str]:
    """Every word the reader asks forms of: those of the field catalog and of the markers."""
    from ingest.reading import field_catalog, quoting  # noqa: PLC0415 — they import this module

    forms.cache_clear()
    field_catalog.catalog.cache_clear()
    quoting.patterns.cache_clear()
    asked.clear()
    field_catalog.catalog()
    quoting.patterns()
    return sorted(asked)


def main() -> int:
    """Write data/traditional_forms.json from OpenCC, for every word the reader uses."""
    # The package's own module, not __main__: the catalog records its words in that one.
    from ingest.reading import hant  # noqa: PLC0415

    table = {word: list(hant.opencc_forms(word)) for word in hant.used_words()}
    path = Path(__file__).resolve().parents[1] / DATA
    lines = [
        f"  {json.dumps(w, ensure_ascii=False)}: {json.dumps(f, ensure_ascii=False)}"
        for w, f in table.items()
    ]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"wrote {len(table)} words to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
