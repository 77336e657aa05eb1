"""The field labels of fields.toml as patterns: notes, list numbers, traditional forms (SPEC §3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ingest.reading.data_files import fields_toml
from ingest.reading.field_specs import FieldSpec, field_specs
from ingest.reading.hant import all_forms, forms
from ingest.reading.values import SPACE

_NOTE = rf"(?:{SPACE}*[(（][^()（）\n]{{0,40}}[)）])?"
_COLON = rf"{SPACE}*[:：]{SPACE}*"
_SPACE = SPACE
# What may stand before a label at a line's start: a list number (`1.`, `1、`, `(1)`, `①`…`⑳`)
# or a bullet (SPEC §3a).
LIST_MARK = r"(?:[-*•·●▪◦‧・]|\d{1,2}[.、)）．]|[(（]\d{1,2}[)）]|[\u2460-\u2473])"
LINE_START = rf"^{_SPACE}*(?:{LIST_MARK}{_SPACE}*)?"
_PARENS = re.compile(r"[(（][^)）]*[)）]")
_LINE_START_RE = re.compile(LINE_START)
_COLON_TO_END = re.compile(rf"(?:{_COLON})?{_SPACE}*$")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Catalog:
    fields: tuple[FieldSpec, ...]
    by_key: dict
    options: dict  # status option text (simplified, as replies show it) -> value
    option_forms: dict  # every written form of an option, traditional too -> value
    marks: tuple[str, ...]
    label_re: re.Pattern  # any label with its colon, anywhere in a line
    any_label: str  # the pattern of any label, without its colon
    label_word_re: re.Pattern  # any label's words alone, without note or colon
    heading_re: re.Pattern
    heading_keys: dict  # heading name, in any form -> field key
    placeholder_re: re.Pattern
    signature_re: re.Pattern  # a sign-off alone on its line, or a client's tag line
    organisation_re: re.Pattern  # a word that marks a line as an organisation's (signatures)
    label_keys: dict  # regex group name -> field key


def _words(text: str) -> str:
    """The pattern of a label's words; for English ones (matched in any letter case by
    _alternation), any run of spaces for a space and the final `.` optional (`Order No:`)."""
    text = text.strip()
    if not text.isascii():
        return re.escape(text)
    words = rf"{SPACE}+".join(map(re.escape, text.rstrip(".").split()))
    return words + (r"\.?" if text.endswith(".") else "")


def _alternation(patterns: list[tuple[str, str]]) -> str:
    """One pattern for (label, its pattern) pairs, longest label first (运营商初步排查结果 wins over
    运营商 at the same place). A lookahead on the first characters lets the engine skip most
    positions quickly; English labels (SPEC §3b) match in any letter case, never inside a word."""
    ordered = sorted(patterns, key=lambda item: -len(item[0]))
    chinese = [(label, p) for label, p in ordered if not label.isascii()]
    chars = re.escape("".join(sorted({label[0] for label, _ in chinese})))
    out = [f"(?=[{chars}])(?:" + "|".join(p for _, p in chinese) + ")"] if chinese else []
    # English labels by first letter: at a word's start (in HTML, every tag name and attribute)
    # the engine then tries only the labels that begin with its letter.
    by_letter: dict[str, list[str]] = {}
    for label, pattern in ordered:
        if label.isascii():
            by_letter.setdefault(label[0].lower(), []).append(pattern)
    if by_letter:
        groups = "|".join(
            f"(?={letter})(?:{'|'.join(ps)})" for letter, ps in sorted(by_letter.items())
        )
        first = "".join(sorted(by_letter))
        out.append(rf"(?<![A-Za-z])(?i:(?=[{first}])(?:{groups}))")
    return "(?:" + "|".join(out) + ")"


def _label_pattern(label: str) -> str:
    """`订单号(必填)` -> 订单号 with an optional note, in either parenthesis width."""
    parts = _PARENS.split(label)
    return _NOTE.join(_words(p) for p in parts) + _NOTE


def _loose(text: str) -> str:
    """A pattern for `text` that accepts either width of comma and parenthesis."""
    pieces = []
    for ch in text:
        if ch in ",，":
            pieces.append(r"\s*[,，]\s*")
        else:
            pieces.append(re.escape(ch))
    return "".join(pieces)


def _signature_pattern(sign_offs: list[str], client_tags: list[str]) -> re.Pattern:
    words = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in all_forms(sign_offs))
    tags = "|".join(re.escape(t) for t in all_forms(client_tags))
    punct = r"[\s！!。.,，、~～]*"
    return re.compile(
        rf"^{_SPACE}*(?:(?:{words}){punct}(?:(?:{words}){punct})*$|(?:{tags}).{{0,40}}$)",
        re.I,
    )


def _organisation_pattern(words: list[str]) -> re.Pattern:
    chinese = [w for w in all_forms(w for w in words if not w.isascii())]
    english = [w for w in words if w.isascii()]
    parts = [re.escape(w) for w in chinese] + [rf"\b{re.escape(w)}(?!\w)" for w in english]
    return re.compile("|".join(parts) or "(?!)", re.I)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    data = fields_toml()
    plain = field_specs()
    specs = plain.fields
    alternatives = []
    label_keys = {}
    words = []
    for spec in specs:
        if spec.heading_only:
            continue
        for n, label in enumerate(all_forms(spec.labels)):
            group = f"{spec.key}_{n}"
            label_keys[group] = spec.key
            base = _PARENS.sub("", label).strip()
            alternatives.append((base, f"(?P<{group}>{_label_pattern(label)})"))
            word = _PARENS.split(label)[0].strip()
            words.append((word, f"(?P<{group}>{_words(word)})"))
    any_label = _alternation(alternatives)
    heading_keys = {
        name.lower(): s.key
        for s in specs
        if s.heading
        for label in s.labels
        for name in forms(label)
    }
    headings = "|".join(map(re.escape, heading_keys))
    options = plain.options
    read = {**options, **data["status"].get("also_read", {})}
    option_forms = {form: value for text, value in read.items() for form in forms(text)}
    placeholders = "|".join(_loose(t) for t in all_forms(data["placeholders"]["texts"]))
    signature = data.get("signature", {})
    return Catalog(
        fields=specs,
        by_key=plain.by_key,
        options=options,
        option_forms=option_forms,
        marks=tuple(data["status"]["marks"]),
        label_re=re.compile(any_label + _COLON),
        any_label=any_label,
        # A label's words as they stand in HTML: before a colon, a note, a tag or an entity.
        label_word_re=re.compile(
            "(?<![-－—])" + _alternation(words) + r"(?=[\s\u3000]*(?:[:：(（<&]|$))"
        ),
        heading_re=re.compile(
            rf"^{SPACE}*-+{SPACE}*(?P<name>{headings})(?:{SPACE}*[:：]|(?={SPACE}|$)){SPACE}*"
            r"(?P<rest>.*)$",
            re.I,
        ),
        heading_keys=heading_keys,
        placeholder_re=re.compile(rf"[(（]\s*(?:{placeholders})\s*[)）]"),
        signature_re=_signature_pattern(
            signature.get("sign_offs", []), signature.get("client_tags", [])
        ),
        organisation_re=_organisation_pattern(signature.get("organisation_words", [])),
        label_keys=label_keys,
    )


def key_of(match: re.Match) -> str:
    return catalog().label_keys[match.lastgroup]


def label_at_start(line: str) -> re.Match | None:
    """The label (with its colon) that starts `line`, after any list number or bullet."""
    return catalog().label_re.match(line, _LINE_START_RE.match(line).end())


@lru_cache(maxsize=1)
def _label_alone_re() -> re.Pattern:
    # Compiled on first use only: plain-text mail never needs it.
    return re.compile(catalog().any_label)


def bare_label(text: str) -> bool:
    """True when `text` (a table cell) is nothing but a label, with or without its colon."""
    if len(text) > 60:
        return False
    match = _label_alone_re().match(text, _LINE_START_RE.match(text).end())
    return bool(match and _COLON_TO_END.match(text, match.end()))


def count_labels(text: str) -> int:
    """How many distinct fields have a label (with its colon) in `text`; headings (`---跟踪`)
    do not count, so that the choice between a mail's text and HTML parts looks at labels."""
    return len(
        {
            key_of(m)
            for m in catalog().label_re.finditer(text)
            if not m.start() or text[m.start() - 1] not in "-－—"
        }
    )


def count_label_words(text: str) -> int:
    """How many distinct fields have a label's words in `text` (HTML) before a colon, a note, a
    tag or an entity: at least as many as count_labels finds in the text made from it, unless
    entities or tags split a label's words. A tag counts as its `<` alone: its name and
    attributes hold no text a reader sees, and skipping them halves the time."""
    return len({key_of(m) for m in catalog().label_word_re.finditer(_TAG.sub("<", text))})
