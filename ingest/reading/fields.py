"""Find the ticket fields of the wiki templates (SPEC §3) in the text of an email."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

_NOTE = r"(?:[ \t]*[(（][^()（）\n]{0,40}[)）])?"
_COLON = r"[ \t\u3000]*[:：][ \t\u3000]*"
_SEPARATOR = re.compile(r"^[ \t]*(?:[-~—=_]{5,}|--)[ \t]*$")  # `-- ` also opens a signature
_RULE = re.compile(r"^[ \t]*[-~—=_]{2,}[ \t]*$")
_LINE_START = r"^[ \t\u3000]*(?:(?:[-*•·]|\d{1,2}[.、)）])[ \t]*)?"


@dataclass(frozen=True)
class FieldSpec:
    key: str
    labels: tuple[str, ...]
    kind: str  # "line", "block" or "choice"
    heading: bool = False

    @property
    def label(self) -> str:
        """The seed's label, as replies show it."""
        return self.labels[0]


@dataclass(frozen=True)
class Catalog:
    fields: tuple[FieldSpec, ...]
    by_key: dict
    options: dict  # status option text -> value
    marks: tuple[str, ...]
    label_re: re.Pattern  # any label with its colon, anywhere in a line
    label_at_start_re: re.Pattern
    heading_re: re.Pattern
    placeholder_re: re.Pattern
    label_keys: dict  # regex group name -> field key


def _label_pattern(label: str) -> str:
    """`订单号(必填)` -> 订单号 with an optional note, in either parenthesis width."""
    parts = re.split(r"[(（][^)）]*[)）]", label)
    return _NOTE.join(re.escape(p.strip()) for p in parts) + _NOTE


def _loose(text: str) -> str:
    """A pattern for `text` that accepts either width of comma and parenthesis."""
    pieces = []
    for ch in text:
        if ch in ",，":
            pieces.append(r"\s*[,，]\s*")
        else:
            pieces.append(re.escape(ch))
    return "".join(pieces)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    data = tomllib.loads(resources.files("ingest").joinpath("data/fields.toml").read_text("utf-8"))
    specs = tuple(
        FieldSpec(f["key"], tuple(f["labels"]), f["kind"], f.get("heading", False))
        for f in data["field"]
    )
    alternatives = []
    label_keys = {}
    for spec in specs:
        for n, label in enumerate(spec.labels):
            group = f"{spec.key}_{n}"
            label_keys[group] = spec.key
            base = re.sub(r"[(（][^)）]*[)）]", "", label).strip()
            alternatives.append((len(base), f"(?P<{group}>{_label_pattern(label)})"))
    # Longest first, so 运营商初步排查结果 wins over 运营商 at the same place.
    alternatives.sort(key=lambda item: -item[0])
    # A lookahead on the labels' first characters lets the engine skip most positions quickly.
    first_chars = "".join(
        sorted({re.sub(r"[(（][^)）]*[)）]", "", label)[0] for s in specs for label in s.labels})
    )
    any_label = (
        f"(?=[{re.escape(first_chars)}])(?:" + "|".join(a for _, a in alternatives) + ")" + _COLON
    )
    headings = "|".join(re.escape(label) for s in specs if s.heading for label in s.labels)
    placeholders = "|".join(_loose(t) for t in data["placeholders"]["texts"])
    return Catalog(
        fields=specs,
        by_key={s.key: s for s in specs},
        options=dict(data["status"]["options"]),
        marks=tuple(data["status"]["marks"]),
        label_re=re.compile(any_label),
        label_at_start_re=re.compile(_LINE_START + any_label),
        heading_re=re.compile(
            rf"^[ \t]*-+[ \t]*(?P<name>{headings})(?:[ \t]*[:：]|(?=[ \t]|$))[ \t]*(?P<rest>.*)$"
        ),
        placeholder_re=re.compile(rf"[(（]\s*(?:{placeholders})\s*[)）]"),
        label_keys=label_keys,
    )


def _key_of(match: re.Match) -> str:
    return catalog().label_keys[match.lastgroup]


def clean_value(value: str) -> str:
    """Trim, drop the seed's placeholder, and tidy the lines of a block."""
    value = catalog().placeholder_re.sub("", value)
    # A short rule like `----` inside a block is decoration, not text.
    lines = [line.rstrip(" \t\u3000") for line in value.split("\n") if not _RULE.match(line)]
    return "\n".join(lines).strip(" \t\u3000\n")


@lru_cache(maxsize=1)
def _status_tokens() -> re.Pattern:
    """An option, a mark, or a run of other text: what stands between them is only spacing."""
    cat = catalog()
    options = "|".join(map(re.escape, cat.options))
    marks = "|".join(map(re.escape, cat.marks))
    return re.compile(
        rf"(?P<option>{options})|(?P<mark>{marks})"
        rf"|(?:(?!{options}|{marks})[^ \t\u3000])+"
    )


def choose_status(value: str) -> str | None:
    """The status option marked in `已解决 | ☑ 处理中 | 暂搁置`; None for no mark or two.

    A mark chooses the option right after it, else the one right before it. One pass over the
    text, looking at each token once: a line of nothing but marks is no slower than any other.
    """
    options = catalog().options
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


def extract_fields(text: str) -> dict[str, str]:
    """Every field found in `text`, by key. The first non-empty value of a field wins."""
    cat = catalog()
    found: dict[str, str] = {}
    block_key: str | None = None
    block_lines: list[str] = []

    def keep(key: str, raw: str) -> None:
        if key in found:
            return
        spec = cat.by_key[key]
        if spec.kind == "choice":
            status = choose_status(raw)
            if status:
                found[key] = status
            return
        value = clean_value(raw)
        if value:
            found[key] = value

    def close_block() -> None:
        nonlocal block_key
        if block_key:
            keep(block_key, "\n".join(block_lines))
        block_key = None

    for line in text.split("\n"):
        if _SEPARATOR.match(line):
            close_block()
            continue
        heading = cat.heading_re.match(line) if "-" in line else None
        if heading:
            close_block()
            block_key = next(s.key for s in cat.fields if s.heading and heading["name"] in s.labels)
            block_lines[:] = [heading["rest"]]
            continue
        if block_key and not cat.label_at_start_re.match(line):
            block_lines.append(line)
            continue
        close_block()
        matches = list(cat.label_re.finditer(line))
        for i, match in enumerate(matches):
            key = _key_of(match)
            if cat.by_key[key].kind == "block":
                block_key = key
                block_lines[:] = [line[match.end() :]]
                break
            end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
            keep(key, line[match.end() : end])
    close_block()
    return found
