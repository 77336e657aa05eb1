"""Turn an HTML mail body into plain text with its line structure kept."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from ingest.reading.clean_text import drop_invisible

# Tags that end a line in what the reader sees.
_BLOCK = {
    "p",
    "div",
    "li",
    "ul",
    "ol",
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
# The reader's own mark, on a line of its own, of where a table unit ends: after a value cell
# and after a table, so that neither the next cell nor the text after the table joins a value
# (SPEC §3b). A noncharacter, for internal use: no mail brings one (drop_invisible removes it).
UNIT_END = "\ufdd0"


class _Lines:
    def __init__(self, label_cell: Callable[[str], bool] | None = None, unit_end: str = "") -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.line_quote = 0
        self.label_cell = label_cell
        self.unit_end = [unit_end] if unit_end else []
        self.table_depth = 0
        self.cells: list[tuple[int, int]] = []  # open cells: (table depth, first line)
        # open rows: [table depth, first line, a cell has 2+ lines, [(cell text, is a label)]]
        self.rows: list[list] = []
        self.header: tuple[int, int, list[str]] | None = None  # a row of labels just closed

    def end_line(self, force: bool = False) -> None:
        text = "".join(self.current).replace("\xa0", " ").rstrip()
        if text or force:
            self.lines.append("> " * self.line_quote + text if text else "")
        self.current = []
        self.line_quote = self.quote_depth

    def data(self, text: str) -> None:
        # Source line breaks inside HTML are just spaces to a browser.
        # `&#8203;` and friends become nothing, not a character that splits a label (SPEC §3b).
        text = drop_invisible(html.unescape(_NEWLINES.sub(" ", text)))
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
        elif name in _CELL:
            self.close_cell()
            if not closing:
                self.cells.append((self.table_depth, len(self.lines)))
        elif name in ("tr", "table"):
            self.close_cell()
            self.close_row()
            if name == "tr" and not closing:
                self.rows.append([self.table_depth, len(self.lines), False, []])
            if name == "table":
                self.table_depth = max(0, self.table_depth + (-1 if closing else 1))
                if closing and not self.table_depth:
                    self.lines += self.unit_end  # text after a table joins no cell of it
        elif name in _BLOCK:
            self.end_line()

    def close_row(self) -> None:
        """A row of one-line cells is one line, cells apart by a space; else a line per line."""
        self.end_line()
        if not self.rows or self.rows[-1][0] != self.table_depth:
            return
        depth, first, multiline, cells = self.rows.pop()
        header, self.header = self.header, None
        if (
            header
            and header[0] == depth
            and len(header[2]) == len(cells)
            and not multiline
            and not any(is_label for _, is_label in cells)
        ):
            # A header row of labels over a row of values (Excel): each label over its value.
            pairs = zip(header[2], cells, strict=True)
            self.lines[header[1] :] = [
                line
                for label, (text, _) in pairs
                if text
                for line in [label + text, *self.unit_end]
            ]
            return
        labels = [is_label for _, is_label in cells]
        if len(cells) > 1 and all(labels):
            self.header = (depth, first, [text for text, _ in cells])
        filled = [line for line in self.lines[first:] if line.strip()]
        if any(line.startswith(">") for line in filled):
            return
        in_cells = [line for text, _ in cells for line in text.split("\n") if line.strip()]
        if any(labels) and not all(labels) and in_cells == filled:
            self.lines[first:] = self.pairs(cells)
        elif not multiline and len(filled) > 1:
            self.lines[first:] = [" ".join(filled)]

    def pairs(self, cells: list[tuple[str, bool]]) -> list[str]:
        """The lines of a row of label and value cells: a label cell with the next cell only as
        its value, each pair its own unit; other cells on lines of their own (SPEC §3b)."""
        out: list[str] = []
        n = 0
        while n < len(cells):
            text, is_label = cells[n]
            n += 1
            if not is_label:
                out += [line for line in text.split("\n") if line.strip()]
                continue
            value = ""
            if n < len(cells) and not cells[n][1]:
                value, n = cells[n][0], n + 1
            joint = "\n" if "\n" in value else " "
            out += (text + joint + value if value else text).split("\n") + self.unit_end
        return out

    def close_cell(self) -> None:
        """End the open cell of this table; a cell of nothing but a label gets its colon.

        Each cell is a unit of its own (SPEC §3a): a label cell of a template pasted from
        Excel or Word (`运营商` | `星桥充电`) then reads as `运营商：` over its value.
        """
        self.end_line()
        if not self.cells or self.cells[-1][0] != self.table_depth:
            return
        _, first = self.cells.pop()
        filled = [n for n in range(first, len(self.lines)) if self.lines[n].strip()]
        row = self.rows[-1] if self.rows and self.rows[-1][0] == self.table_depth else None
        is_label = False
        if len(filled) == 1 and self.label_cell:
            line = self.lines[filled[0]]
            is_label = self.label_cell(line)
            if is_label and not line.endswith((":", "：")):
                self.lines[filled[0]] = line + "："
        if row:
            row[2] = row[2] or len(filled) > 1
            row[3].append(("\n".join(self.lines[n] for n in filled), is_label))


def html_to_text(
    source: str, label_cell: Callable[[str], bool] | None = None, unit_end: str = ""
) -> str:
    """Plain text of `source`: block tags and <br> end lines, blockquotes become `> ` lines.

    Table cells are units on lines of their own; `label_cell` tells a cell that holds only a
    field label, which then gets a colon. With `unit_end` (UNIT_END), a line of it follows each
    label-and-value pair and each table, for the field reader (SPEC §3b).
    """
    out = _Lines(label_cell, unit_end)
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
    unclosed = bool(out.cells or out.rows or out.table_depth)
    while out.cells or out.rows:
        out.table_depth = max([c[0] for c in out.cells] + [r[0] for r in out.rows])
        out.close_cell()
        out.close_row()
    out.end_line()
    if unclosed:
        out.lines += out.unit_end
    # Collapse runs of blank lines that nested <div>s leave behind.
    lines: list[str] = []
    for line in out.lines:
        if line.strip() or (lines and lines[-1].strip()):
            lines.append(line)
    return "\n".join(lines).strip("\n")
