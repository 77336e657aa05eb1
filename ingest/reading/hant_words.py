"""Write data/traditional_forms.json from OpenCC for every word the reader asks forms of:
`python -m ingest.reading.hant_words` after adding a label, marker, trigger or prefix."""

from __future__ import annotations

import json
from pathlib import Path

from ingest.reading import autoreply, field_catalog, hant, quoting, stopcodes


def used_words() -> list[str]:
    """Every word the reader asks forms of: the field catalog's, the markers', the stop-code
    triggers' and the automatic-mail subjects'."""
    hant.forms.cache_clear()
    for built in (
        field_catalog.catalog,
        quoting.patterns,
        stopcodes.trigger,
        autoreply.subject_pattern,
    ):
        built.cache_clear()
    hant.asked.clear()
    field_catalog.catalog()
    quoting.patterns()
    stopcodes.trigger()
    autoreply.subject_pattern()
    return sorted(hant.asked)


def main() -> int:
    table = {word: list(hant.opencc_forms(word)) for word in used_words()}
    path = Path(__file__).resolve().parents[1] / hant.DATA
    lines = [
        f"  {json.dumps(w, ensure_ascii=False)}: {json.dumps(f, ensure_ascii=False)}"
        for w, f in table.items()
    ]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"wrote {len(table)} words to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
