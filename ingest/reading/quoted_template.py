"""Values an operator typed into the template of our own request or reminder, quoted below a
reply (SPEC §3b): the blanks filled in place."""

from __future__ import annotations

import re

from ingest.reading.fields import extract_fields

# Sentences of our request (replies/templates/request_info.txt.j2) and reminder
# (reminder.txt.j2) that tell our mail in a quote; compared without whitespace, which clients
# rewrap. tests/test_quoted_template.py renders the templates to keep these in step.
_OURS = ("已收到问题。平台方会优先处理故障信息足够的工单", "仍在等待补充信息")
_START = re.compile(r"请复制下面的.{0,4}工单模板")  # the line above the blank template
_END = "回复时请保留邮件主题中的"  # the line below it
# What our blank template already holds (blank_detailed.txt marks 处理中): not the operator's.
PREFILLED = {"status": "in_progress"}
_SPACE = re.compile(r"\s+")


def _is_ours(segment: str) -> bool:
    flat = _SPACE.sub("", segment)
    return any(sentence in flat for sentence in _OURS)


def _template_lines(segment: str) -> list[str]:
    """The lines of the quoted blank template: below its heading line, above the closing one."""
    lines = segment.split("\n")
    start = next((i + 1 for i, line in enumerate(lines) if _START.search(line)), 0)
    end = next((i for i in range(start, len(lines)) if _END in lines[i]), len(lines))
    return lines[start:end]


def typed_values(history: list[str]) -> dict[str, str]:
    """Fields written after the labels of our quoted template, from the newest quote of ours."""
    for segment in history:
        if _is_ours(segment):
            found = extract_fields("\n".join(_template_lines(segment)))
            return {k: v for k, v in found.items() if PREFILLED.get(k) != v}
    return {}
