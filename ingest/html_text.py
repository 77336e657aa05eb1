"""Turn an HTML mail body into plain text with its line structure kept."""

from __future__ import annotations

from html.parser import HTMLParser

# Tags that end a line in what the reader sees.
_BLOCK = {
    "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "pre", "section", "article", "header", "footer", "dd", "dt", "address", "center",
}
_CELL = {"td", "th"}
_SKIP = {"script", "style", "head", "title", "template", "noscript", "xml"}


class _TextBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.line_quote = 0

    def _end_line(self, force: bool = False) -> None:
        text = "".join(self.current).replace("\xa0", " ").rstrip()
        if text or force:
            self.lines.append("> " * self.line_quote + text if text else "")
        self.current = []
        self.line_quote = self.quote_depth

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag == "br":
            self._end_line(force=True)
        elif tag == "hr":
            self._end_line()
            self.lines.append("-" * 20)
        elif tag == "blockquote":
            self._end_line()
            self.quote_depth += 1
            self.line_quote = self.quote_depth
        elif tag in _BLOCK:
            self._end_line()
        elif tag in _CELL and self.current:
            self.current.append(" ")

    def handle_startendtag(self, tag: str, attrs) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "blockquote":
            self._end_line()
            self.quote_depth = max(0, self.quote_depth - 1)
            self.line_quote = self.quote_depth
        elif tag in _BLOCK:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        # Source line breaks inside HTML are just spaces to a browser.
        data = " ".join(data.replace("\r", "\n").split("\n"))
        if not self.current:
            data = data.lstrip(" \t")
            self.line_quote = self.quote_depth
        if data:
            self.current.append(data)


def html_to_text(html: str) -> str:
    """Plain text of `html`: block tags and <br> end lines, blockquotes become `> ` lines."""
    builder = _TextBuilder()
    try:
        builder.feed(html)
        builder.close()
    except Exception:  # HTMLParser is lenient; keep whatever was read before a failure
        pass
    builder._end_line()
    lines = builder.lines
    # Collapse runs of blank lines that nested <div>s leave behind.
    out: list[str] = []
    for line in lines:
        if line.strip() or (out and out[-1].strip()):
            out.append(line)
    return "\n".join(out).strip("\n")
