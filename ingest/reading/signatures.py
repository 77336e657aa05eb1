"""The unmarked signature that ends a mail: a short last paragraph, no part of a value (§3b)."""

from __future__ import annotations

import re

from ingest.reading.field_catalog import catalog
from ingest.reading.phones import holds_phone
from ingest.reading.values import SPACES

_MAX_LINES = 4
_MAX_CHARS = 30
_SENTENCE = re.compile("[。！？；]")
_NAME = re.compile(r"[\u3400-\u9fff·]{2,4}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _is_signature(lines: list[str]) -> bool:
    cat = catalog()
    if any(len(line) > _MAX_CHARS or _SENTENCE.search(line) for line in lines):
        return False
    if any(cat.label_re.search(line) for line in lines):
        return False  # a labelled line is a field, whatever it holds
    text = "\n".join(lines)
    return bool(
        _NAME.fullmatch(lines[0])
        or holds_phone(text)
        or _EMAIL.search(text)
        or cat.organisation_re.search(text)
    )


def signature_start(lines: list[str]) -> int | None:
    """The index of the first line of an unmarked signature in `lines` (a mail's text): its last
    paragraph, after a blank line, of at most 4 lines of at most 30 characters with no sentence
    punctuation, whose first line is a 2-4 character name or that holds a phone number, an email
    address or an organisation word. None when the last paragraph is no signature."""
    end = len(lines)
    while end and not lines[end - 1].strip(SPACES):
        end -= 1
    start = end
    while start and lines[start - 1].strip(SPACES):
        start -= 1
        if end - start > _MAX_LINES:
            return None
    if not start or start == end or not any(line.strip(SPACES) for line in lines[:start]):
        return None
    paragraph = [line.strip(SPACES) for line in lines[start:end]]
    return start if _is_signature(paragraph) else None
