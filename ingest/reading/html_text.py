"""Turn an HTML mail body into plain text with its line structure kept."""

from __future__ import annotations

import html
import re

# Tags that end a line in what the reader sees.
_BLOCK = {
    "p",
    "div",
    "tr",
    "li",
    "ul",
    "ol",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "section",
    "article",
    "header",
    "footer",
    "dd",
    "dt",
    "address",
    "center",
}
_CELL = {"td", "th"}
_SKIP = {"script", "style", "head", "title", "template", "noscript", "xml"}
# A tag, a comment, a doctype or a processing instruction. Mail HTML is too loose for a strict
# parser, and a scan with one regular expression is several times faster than html.parser.
_TOKEN = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)(?:\s[^>]*)?/?>|<!--.*?(?:-->|$)|<![^>]*>|<\?[^>]*>", re.S
)
_NEWLINES = re.compile(r"[\r\n]+")


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.line_quote = 0

    def end_line(self, force: bool = False) -> None:
        text = "".join(self.current).replace("\xa0", " ").rstrip()
        if text or force:
            self.lines.append("> " * self.line_quote + text if text else "")
        self.current = []
        self.line_quote = self.quote_depth

    def data(self, text: str) -> None:
        # Source line breaks inside HTML are just spaces to a browser.
        text = html.unescape(_NEWLINES.sub(" ", text))
        if not self.current:
            text = text.lstrip(" \t")
            self.line_quote = self.quote_depth
        if text:
            self.current.append(text)

    def tag(self, name: str, closing: bool) -> None:
        if name == "br" and not closing:
            self.end_line(force=True)
        elif name == "hr" and not closing:
            self.end_line()
            self.lines.append("-" * 20)
        elif name == "blockquote":
            self.end_line()
            self.quote_depth = max(0, self.quote_depth + (-1 if closing else 1))
            self.line_quote = self.quote_depth
        elif name in _BLOCK:
            self.end_line()
        elif name in _CELL and not closing and self.current:
            self.current.append(" ")


def html_to_text(source: str) -> str:
    """Plain text of `source`: block tags and <br> end lines, blockquotes become `> ` lines."""
    out = _Lines()
    skipping: str | None = None  # inside <style>, <script>...: text is not shown
    position = 0
    for match in _TOKEN.finditer(source):
        if not skipping and match.start() > position:
            out.data(source[position : match.start()])
        position = match.end()
        closing, name = match.group(1) == "/", (match.group(2) or "").lower()
        if not name:
            continue  # a comment or a doctype
        if skipping:
            if closing and name == skipping:
                skipping = None
            continue
        if name in _SKIP and not closing and not match.group(0).endswith("/>"):
            skipping = name
            continue
        out.tag(name, closing)
    if not skipping and position < len(source):
        out.data(source[position:])
    out.end_line()
    # Collapse runs of blank lines that nested <div>s leave behind.
    lines: list[str] = []
    for line in out.lines:
        if line.strip() or (lines and lines[-1].strip()):
            lines.append(line)
    return "\n".join(lines).strip("\n")
