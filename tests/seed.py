"""Unescape the XWiki export of the team's wiki page (SPEC §2)."""

from __future__ import annotations

import re

_ROW = re.compile(r"^\| \d+ \|(.*)\|\s*$")


def unescape_seed(export: str) -> str:
    """`| 30 | ~#~# 简易工单 |` -> `## 简易工单`; `\\\\` is a line break, `~` escapes a
    character."""
    lines = []
    for row in export.splitlines():
        match = _ROW.match(row)
        if not match:
            continue
        text = match.group(1)
        text = text[1:] if text.startswith(" ") else text
        text = text[:-1] if text.endswith(" ") else text
        text = text.replace("\\\\", "\n")
        lines.append(re.sub(r"~(.)", r"\1", text))
    return "\n".join(lines)


def section(text: str, heading: str, end: str) -> str:
    """The text between a heading line and the next `end` marker."""
    start = text.index(heading) + len(heading)
    return text[start : text.index(end, start)]
