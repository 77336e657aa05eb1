"""Split a mail body into the sender's new text and the quoted or forwarded history below it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace

from ingest.reading.hant import alternation as _any

# Words written in simplified characters; each matches in its traditional forms too (SPEC §3a).
# Dashed lines around these open quoted history or a forwarded message.
_SEPARATOR_WORDS = ("原始邮件", "转发邮件信息", "转发的邮件", "邮件原文", "轉寄郵件資訊")
_HEADER_WORDS = (
    "发件人", "寄件者", "发送时间", "发送日期", "寄件日期", "时间", "日期", "收件人", "收件者",
    "抄送", "副本", "主题", "主旨",
)  # fmt: skip
_FROM_WORDS = ("发件人", "寄件者")
_FORWARD_WORDS = ("转发", "转寄", "轉寄")
_REPLY_WORDS = ("回复", "回覆", "答复", "答覆")


_QUOTE_PREFIX = re.compile(r"^(?:[ \t]*>)+ ?")
_DASHES = r"[-=_—－─━*\s]*"


@lru_cache(maxsize=1)
def patterns() -> SimpleNamespace:
    """The marker patterns, built on first use: their traditional forms come from OpenCC, whose
    dictionaries take a while to load, and `gongdan --help` never needs them."""
    # A line that opens quoted history or a forwarded message.
    marker = re.compile(
        rf"""^\s*(?:
            {_DASHES}(?:{_any(_SEPARATOR_WORDS)}|Original\ Message|Forwarded\ message){_DASHES}
          | (?:{_any(("在",))}).{{1,200}}(?:{_any(("写道",))})[:：]
          | 於.{{1,200}}寫道[:：]
          | On\ .{{1,300}}\ wrote:
          | (?:{_any(("发自我的", "来自我的"))}).{{1,30}}  # a phone's tag ends the new text
          | Sent\ from\ my\ .{{1,40}}
          | Get\ Outlook\ for\ .{{1,20}}
        )\s*$""",
        re.X | re.I,
    )
    signature = re.compile(
        rf"^\s*(?:{_any(('发自我的', '来自我的'))}|Sent from my |Get Outlook for )", re.I
    )
    # Header lines of a forwarded or Outlook-quoted message.
    header_line = re.compile(
        rf"^\s*\**(?:{_any(_HEADER_WORDS)}|From|Sent|Date|To|Cc|Subject)\**\s*[:：]", re.I
    )
    from_line = re.compile(rf"^\s*\**(?:{_any(_FROM_WORDS)}|From)\**\s*[:：]", re.I)
    forward_prefix = re.compile(rf"^\s*(?:fwd?|{_any(_FORWARD_WORDS)})\s*[:：]", re.I)
    reply_prefix = re.compile(rf"^\s*(?:re|aw|sv|{_any(_REPLY_WORDS)})\s*[:：]", re.I)
    # Every marker line holds one of these; most lines hold none and are skipped quickly.
    hint = re.compile(
        rf"原始|Original|{_any(_FORWARD_WORDS)}|Forwarded|{_any(('邮件原文', '写道', '我的'))}|"
        rf"wrote|{_any(_FROM_WORDS)}|From|Sent from|Get Outlook|^\s*(?:On |在)",
        re.I,
    )
    return SimpleNamespace(
        marker=marker,
        signature=signature,
        header_line=header_line,
        from_line=from_line,
        forward_prefix=forward_prefix,
        reply_prefix=reply_prefix,
        hint=hint,
    )


@dataclass
class SplitBody:
    new_text: str
    history: list[str]  # each quoted or forwarded message, `>` prefixes removed, newest first
    forwarded: str  # the forwarded message itself, without its own quoted history


def is_forward(subject: str) -> bool:
    return bool(patterns().forward_prefix.match(subject or ""))


def is_reply(subject: str, in_reply_to: str, references: list[str]) -> bool:
    return bool(in_reply_to or references or patterns().reply_prefix.match(subject or ""))


def _is_header_block(lines: list[str], start: int) -> bool:
    """A `From:`/`发件人:` line followed by more header lines: a forwarded or quoted mail."""
    if not patterns().from_line.match(lines[start]):
        return False
    following = [line for line in lines[start + 1 : start + 6] if line.strip()]
    return sum(1 for line in following[:4] if patterns().header_line.match(line)) >= 2


def _two_line_on_wrote(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if not (line.startswith("On ") or line.startswith("在")) or i + 1 >= len(lines):
        return False
    return bool(patterns().marker.match(line + " " + lines[i + 1].strip()))


def _marker_at(lines: list[str], i: int) -> bool:
    line = lines[i]
    if len(line) > 400 or not patterns().hint.search(line):
        return False
    return (
        bool(patterns().marker.match(line))
        or _is_header_block(lines, i)
        or _two_line_on_wrote(lines, i)
    )


def is_marker_line(line: str) -> bool:
    """A line that opens quoted history, a forward or a client's tag, judged on its own."""
    return (
        len(line) <= 400
        and bool(patterns().hint.search(line))
        and bool(patterns().marker.match(line))
    )


def _depth(line: str) -> int:
    match = _QUOTE_PREFIX.match(line)
    return match.group().count(">") if match else 0


def _segments(lines: list[str]) -> list[list[str]]:
    """Cut history into the messages it quotes: at each marker and at each change of `>` depth."""
    segments: list[list[str]] = []
    i = 0
    while i < len(lines):
        depth = _depth(lines[i])
        segment = [lines[i]]
        i += 1
        # The header lines (From:, Date:, ...) right under a marker belong to its message.
        while (
            i < len(lines)
            and _depth(lines[i]) == depth
            and (
                not lines[i].strip()
                or patterns().header_line.match(_QUOTE_PREFIX.sub("", lines[i]))
            )
        ):
            segment.append(lines[i])
            i += 1
        while i < len(lines) and _depth(lines[i]) == depth and not _marker_at(lines, i):
            segment.append(lines[i])
            i += 1
        segments.append([_QUOTE_PREFIX.sub("", line) for line in segment])
    return segments


def split_body(body: str) -> SplitBody:
    """New text: the lines above the first history marker, without `>` lines."""
    lines = body.split("\n")
    cut = len(lines)
    for i in range(len(lines)):
        if _marker_at(lines, i):
            cut = i
            break
    new_lines = [line for line in lines[:cut] if not _QUOTE_PREFIX.match(line)]
    quoted_above = [line for line in lines[:cut] if _QUOTE_PREFIX.match(line)]
    below = _segments(lines[cut:])
    # The forwarded message: the first message below the marker, without the marker line.
    messages = [seg for seg in below if not patterns().signature.match(seg[0])]
    forwarded = messages[0][1:] if messages else []
    history = _segments(quoted_above) + below
    return SplitBody(
        new_text="\n".join(new_lines).strip("\n"),
        history=["\n".join(seg).strip("\n") for seg in history],
        forwarded="\n".join(forwarded).strip("\n"),
    )


def new_text(body: str) -> str:
    """A mail's own words: its body without quoted history, signature tags or the `-- ` block."""
    lines = []
    for line in split_body(body or "").new_text.split("\n"):
        if line.rstrip() == "--" or patterns().signature.match(line):
            break
        lines.append(line)
    return "\n".join(lines).strip()
