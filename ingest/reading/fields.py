"""Find the ticket fields of the wiki templates (SPEC §3, §3a) in the text of an email."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from ingest.reading.field_catalog import (
    Catalog,
    FieldSpec,
    bare_label,
    catalog,
    key_of,
    label_at_start,
)
from ingest.reading.html_text import UNIT_END
from ingest.reading.quoting import is_marker_line
from ingest.reading.signatures import signature_start
from ingest.reading.values import NUMBER_KEYS, SPACE, SPACES, strip_line_value, tidy_number

__all__ = [
    "Catalog",
    "FieldSpec",
    "FieldsRead",
    "bare_label",
    "catalog",
    "choose_status",
    "extract_fields",
    "read_fields",
    "merge_target",
]

_SEPARATOR_CHARS = "-~—=_－─━＝*·"
# A separator line, or the `-- ` signature delimiter (SPEC §3a).
_SEPARATOR = re.compile(rf"^{SPACE}*(?:[{_SEPARATOR_CHARS}]{{5,}}|--){SPACE}*$")
_RULE = re.compile(rf"^{SPACE}*[{_SEPARATOR_CHARS}]{{2,}}{SPACE}*$")
_QUOTED = re.compile(rf"^{SPACE}*>")
# A section title alone on its line (`【故障二】`, a second ticket's): it ends a block.
_SECTION = re.compile(rf"^{SPACE}*【[^】\n]{{1,20}}】{SPACE}*$")


def clean_value(value: str) -> str:
    """Trim, drop the seed's placeholder, and tidy the lines of a block."""
    value = catalog().placeholder_re.sub("", value)
    # A short rule like `----` inside a block is decoration, not text.
    lines = [line.rstrip(SPACES) for line in value.split("\n") if not _RULE.match(line)]
    return "\n".join(lines).strip(SPACES + "\n")


@lru_cache(maxsize=1)
def _status_tokens() -> re.Pattern:
    """An option, a mark, or a run of other text: what stands between them is only spacing."""
    cat = catalog()
    options = "|".join(map(re.escape, sorted(cat.option_forms, key=len, reverse=True)))
    marks = "|".join(map(re.escape, cat.marks))
    return re.compile(
        rf"(?P<option>{options})|(?P<mark>{marks})"
        rf"|(?:(?!{options}|{marks})\S)+"
    )


def choose_status(value: str) -> str | None:
    """The status option marked in `已解决 | ☑ 处理中 | 暂搁置`; None for no mark or two.

    A mark chooses the option right after it, else the one right before it. One pass over the
    text, looking at each token once: a line of nothing but marks is no slower than any other.
    """
    options = catalog().option_forms
    chosen: set[str] = set()
    previous = None  # the option just before the token at hand, if that token follows one
    pending = False  # the previous token was a mark, waiting to see what follows it
    pending_before = None  # the option before that mark
    for token in _status_tokens().finditer(value):
        option = options[token.group()] if token.lastgroup == "option" else None
        if pending:
            if option or pending_before:
                chosen.add(option or pending_before)
            pending = False
        if token.lastgroup == "mark":
            pending, pending_before = True, previous
        previous = option
        if len(chosen) > 1:
            return None
    if pending and pending_before:
        chosen.add(pending_before)
    return chosen.pop() if len(chosen) == 1 else None


# An engineer's merge line (SPEC §13): `合并到：工单#12`, `合并到: #12` (traditional forms too).
_MERGE_LINE = re.compile(
    r"^[ \t\u3000]*合[并併]到[ \t\u3000]*[:：][ \t\u3000]*(?:工[单單][ \t\u3000]*)?[#＃]"
    r"[ \t\u3000]*([0-9０-９]{1,9})[ \t\u3000]*$",
    re.MULTILINE,
)


def merge_target(text: str) -> int | None:
    """The ticket number of the first `合并到：工单#M` line in `text`, or None."""
    found = _MERGE_LINE.search(text)
    return int(found.group(1)) if found else None


def _ends_value(line: str, cat: Catalog) -> bool:
    """A line that is no value for the label above it (SPEC §3a, next-line values)."""
    return bool(
        _SEPARATOR.match(line)
        or _QUOTED.match(line)
        or label_at_start(line)
        or ("-" in line and cat.heading_re.match(line))
        or _is_signature(line, cat)
        or is_marker_line(line)
    )


def _is_signature(line: str, cat: Catalog) -> bool:
    return len(line) <= 80 and bool(cat.signature_re.match(line))


@dataclass
class FieldsRead:
    fields: dict[str, str]  # by key; the first non-empty value of a field wins
    tickets: int = 1  # how many times the template seems to be filled in (SPEC §3b)
    unread: set[str] = field(default_factory=set)  # labels standing with no readable value


def tickets_in(labels: Counter) -> int:
    """How many tickets a text holds, from how often each field's label stands in it: the
    template filled twice repeats three or more labels (all, when fewer were written); one
    label written twice (two phone numbers) is still one ticket."""
    if len(labels) < 2:
        return 1
    counts = sorted(labels.values(), reverse=True)
    return max(1, counts[min(3, len(counts)) - 1])


def extract_fields(text: str) -> dict[str, str]:
    """Every field found in `text`, by key. The first non-empty value of a field wins."""
    return read_fields(text).fields


def read_fields(text: str) -> FieldsRead:
    """The fields of `text`, how many tickets it seems to hold, and the keys whose label or
    heading stands in it with no value that can be read (a 状态 line with no mark or two, an
    empty ---答复)."""
    cat = catalog()
    found: dict[str, str] = {}
    labels: Counter = Counter()
    unread: set[str] = set()
    block_key: str | None = None
    block_lines: list[str] = []
    waiting: str | None = None  # a label with nothing after it: the next non-empty line's

    def keep(key: str, raw: str, before_label: bool = False) -> None:
        if key in found:
            return
        spec = cat.by_key[key]
        if spec.kind == "choice":
            status = choose_status(raw)
            if status:
                found[key] = status
            else:
                unread.add(key)
            return
        value = clean_value(raw)
        if spec.kind == "line":
            value = strip_line_value(value, before_label)
        if key in NUMBER_KEYS:
            value = tidy_number(value)
        if value:
            found[key] = value
        else:
            unread.add(key)

    def close_block() -> None:
        nonlocal block_key
        if block_key:
            keep(block_key, "\n".join(block_lines))
        block_key = None

    lines = text.split("\n")
    signature = signature_start(lines)
    if signature is not None:
        lines = lines[:signature]  # the last paragraph is a signature: no part of a value
    for line in lines:
        if (
            line == UNIT_END
            or _SEPARATOR.match(line)
            or _is_signature(line, cat)
            or (block_key and _SECTION.match(line))
        ):
            close_block()  # a signature's line and what follows belong to no field
            waiting = None
            continue
        heading = cat.heading_re.match(line) if "-" in line else None
        if heading:
            close_block()
            waiting = None
            block_key = cat.heading_keys[heading["name"].lower()]
            block_lines[:] = [heading["rest"]]
            continue
        if block_key and not label_at_start(line):
            block_lines.append(line)
            continue
        close_block()
        if waiting and line.strip(SPACES):
            key, waiting = waiting, None
            if not _ends_value(line, cat):
                first = cat.label_re.search(line)
                keep(key, line[: first.start()] if first else line, before_label=bool(first))
                if not first:
                    continue
        matches = list(cat.label_re.finditer(line))
        for i, match in enumerate(matches):
            key = key_of(match)
            labels[key] += 1
            if cat.by_key[key].kind == "block":
                block_key = key
                block_lines[:] = [line[match.end() :]]
                break
            last = i + 1 == len(matches)
            raw = line[match.end() : len(line) if last else matches[i + 1].start()]
            if last and not raw.strip(SPACES):
                waiting = key
            keep(key, raw, before_label=not last)
    close_block()
    return FieldsRead(found, tickets_in(labels), unread - set(found))
