"""Read a ticket sent as a .docx or .xlsx attachment (SPEC §3b), within bounds (SPEC §9).

The standard library's zipfile and expat are enough for the few parts a ticket needs, load in a
few milliseconds (python-docx and openpyxl take 140 and 250 ms to import, lxml included), and
let every bound be checked before or while a part is read:
- the uncompressed sizes the archive declares (a zip bomb) are summed before anything is read,
  and the bytes actually inflated are counted again while reading;
- a DTD is refused, so no entity can be declared or expanded (billion laughs, external files);
- members are looked up by fixed names, never by a path taken from the archive (`../`);
- rows, cells, characters and shared strings read are capped (a 10,000-row sheet);
- an encrypted document (an OLE compound file, not a zip) is named in a warning.
Word paragraphs and Excel cells become HTML, so that html_text reads their table cells as the
units it makes of a template pasted from Word or Excel.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from xml.parsers import expat

from ingest.reading.field_catalog import bare_label, count_labels
from ingest.reading.html_text import html_to_text

MAX_UNPACKED = 20 * 1024 * 1024  # bytes of XML inflated from one attachment
MAX_MEMBERS = 2000  # entries in one archive's directory
MAX_ROWS = 1000  # rows of one workbook, empty ones too
MAX_CELLS = 5000  # non-empty cells of one workbook
MAX_SHEETS = 20
MAX_STRINGS = 50_000  # shared strings looked through; a cell pointing further reads as empty
MAX_CELL_CHARS = 2000  # characters kept of one cell or shared string
_CHUNK = 64 * 1024
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an encrypted OOXML file, or a .doc/.xls, is CFB
_SHEET = re.compile(r"xl/worksheets/sheet(\d{1,4})\.xml")


class Unreadable(Exception):
    """Why an attachment could not be read, in words for `warnings`."""


class _Enough(Exception):
    """A cap was reached: stop parsing, keep what was read."""


@dataclass
class OfficeText:
    html: str  # paragraphs and table cells, as HTML for html_text
    capped: list[str] = field(default_factory=list)  # which caps cut the reading short


def read_office(name: str, data: bytes, max_chars: int = 200_000) -> OfficeText:
    """The text of a .docx or .xlsx file as HTML. Raises Unreadable, never anything else."""
    try:
        if data[:8] == _OLE:
            raise Unreadable("encrypted or an old Office format, not a zip file")
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise Unreadable(f"more than {MAX_MEMBERS} files inside")
            if name.lower().rstrip(" .").endswith(".docx"):
                return _read_docx(archive, max_chars)
            return _read_xlsx(archive, max_chars)
    except Unreadable:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise Unreadable(f"not a valid zip file ({exc})") from None
    except RuntimeError as exc:  # zipfile: a member is encrypted
        raise Unreadable(f"encrypted ({exc})") from None
    except expat.ExpatError as exc:
        raise Unreadable(f"broken XML ({expat.errors.messages.get(exc.code, exc)})") from None
    except Exception as exc:  # odd archives (unknown compression, bad headers) lose only this file
        raise Unreadable(f"{type(exc).__name__}: {exc}") from None


def _members(archive: zipfile.ZipFile, names: list[str]) -> list[zipfile.ZipInfo]:
    """The members named, after checking the sizes they declare (SPEC §9: a zip bomb)."""
    found = [archive.getinfo(n) for n in names if n in archive.NameToInfo]
    if sum(info.file_size for info in found) > MAX_UNPACKED:
        raise Unreadable(f"over {MAX_UNPACKED // 2**20} MB when unpacked")
    return found


def _parse(archive: zipfile.ZipFile, info: zipfile.ZipInfo, handler: object) -> None:
    """Feed one member to expat in chunks; a DTD (entity declarations) is refused."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True

    def refuse(*_args: object) -> None:
        raise Unreadable("the XML declares a DTD or entities; not read")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.text
    inflated = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                inflated += len(chunk)
                if inflated > MAX_UNPACKED:  # more than the archive declared
                    raise Unreadable(f"over {MAX_UNPACKED // 2**20} MB when unpacked")
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except _Enough:
        pass


def _local(name: str) -> str:
    return name.rpartition("}")[2]


class _Word:
    """word/document.xml as HTML: a paragraph per <p>, tables as tables, text from <w:t>."""

    _TAGS = {"tbl": "table", "tr": "tr", "tc": "td", "p": "p"}

    def __init__(self, max_chars: int) -> None:
        self.out: list[str] = []
        self.chars = 0
        self.max_chars = max_chars
        self.in_text = False

    def start(self, name: str, _attrs: dict) -> None:
        local = _local(name)
        if local == "t":
            self.in_text = True
        elif local in self._TAGS:
            self.out.append(f"<{self._TAGS[local]}>")
        elif local in ("br", "cr"):
            self.out.append("<br>")
        elif local == "tab":
            self.out.append(" ")

    def end(self, name: str) -> None:
        local = _local(name)
        if local == "t":
            self.in_text = False
        elif local in self._TAGS:
            self.out.append(f"</{self._TAGS[local]}>")

    def text(self, data: str) -> None:
        if self.in_text:
            self.chars += len(data)
            if self.chars > self.max_chars:
                raise _Enough
            self.out.append(html.escape(data, quote=False))


def _read_docx(archive: zipfile.ZipFile, max_chars: int) -> OfficeText:
    members = _members(archive, ["word/document.xml"])
    if not members:
        raise Unreadable("no word/document.xml inside")
    word = _Word(max_chars)
    _parse(archive, members[0], word)
    return OfficeText("".join(word.out), ["text"] if word.chars > max_chars else [])


class _Sheet:
    """One worksheet's non-empty cells, row by row: (shared string index or None, text)."""

    def __init__(self, book: _Book) -> None:
        self.book = book
        self.kind = ""
        self.buffer: list[str] | None = None  # text of the open <v> or <t>
        self.cell: list[str] = []

    def start(self, name: str, attrs: dict) -> None:
        local = _local(name)
        if local == "row":
            self.book.rows += 1
            if self.book.rows > MAX_ROWS:
                self.book.capped.append("rows")
                raise _Enough
            self.book.sheet_rows.append([])
        elif local == "c":
            self.kind, self.cell = attrs.get("t", "n"), []
        elif local in ("v", "t"):
            self.buffer = []

    def end(self, name: str) -> None:
        local = _local(name)
        if local in ("v", "t") and self.buffer is not None:
            self.cell.append("".join(self.buffer))
            self.buffer = None
        elif local == "c":
            self.book.add_cell(self.kind, "".join(self.cell))

    def text(self, data: str) -> None:
        if self.buffer is not None and sum(map(len, self.buffer)) < MAX_CELL_CHARS:
            self.buffer.append(data)


class _Strings:
    """The shared strings that the cells read refer to, and no others."""

    def __init__(self, wanted: set[int]) -> None:
        self.wanted = wanted
        self.last = min(max(wanted, default=-1), MAX_STRINGS - 1)
        self.found: dict[int, str] = {}
        self.index = -1
        self.parts: list[str] = []
        self.in_text = False
        self.phonetic = 0  # inside <rPh>: a reading guide, not the cell's text

    def start(self, name: str, _attrs: dict) -> None:
        local = _local(name)
        if local == "si":
            self.index += 1
            if self.index > self.last:
                raise _Enough
            self.parts = []
        elif local == "rPh":
            self.phonetic += 1
        elif local == "t" and not self.phonetic:
            self.in_text = True

    def end(self, name: str) -> None:
        local = _local(name)
        if local == "t":
            self.in_text = False
        elif local == "rPh":
            self.phonetic -= 1
        elif local == "si" and self.index in self.wanted:
            self.found[self.index] = "".join(self.parts)[:MAX_CELL_CHARS]

    def text(self, data: str) -> None:
        if self.in_text and self.index in self.wanted and sum(map(len, self.parts)) < 4096:
            self.parts.append(data)


class _Book:
    def __init__(self) -> None:
        self.sheets: list[list[list[tuple[int | None, str]]]] = []
        self.sheet_rows: list[list[tuple[int | None, str]]] = []
        self.rows = 0
        self.cells = 0
        self.capped: list[str] = []

    def add_cell(self, kind: str, value: str) -> None:
        if kind == "s":
            if not value.strip().isdigit():
                return
            cell = (int(value), "")
        elif kind == "b":
            cell = (None, "TRUE" if value.strip() == "1" else "FALSE")
        else:
            cell = (None, value[:MAX_CELL_CHARS])
            if not value.strip():
                return
        self.cells += 1
        if self.cells > MAX_CELLS:
            self.capped.append("cells")
            raise _Enough
        if self.sheet_rows:
            self.sheet_rows[-1].append(cell)


def _read_xlsx(archive: zipfile.ZipFile, max_chars: int) -> OfficeText:
    numbered = sorted(
        (int(m.group(1)), info.filename)
        for info in archive.infolist()
        if (m := _SHEET.fullmatch(info.filename))
    )
    sheet_names = [name for _, name in numbered[:MAX_SHEETS]]
    if not sheet_names:
        raise Unreadable("no worksheet inside")
    members = _members(archive, [*sheet_names, "xl/sharedStrings.xml"])
    book = _Book()
    for info in members:
        if info.filename == "xl/sharedStrings.xml" or book.capped:
            continue
        book.sheet_rows = []
        _parse(archive, info, _Sheet(book))
        book.sheets.append(book.sheet_rows)
    wanted = {i for sheet in book.sheets for row in sheet for i, _ in row if i is not None}
    if any(i >= MAX_STRINGS for i in wanted):
        book.capped.append("strings")
    strings = _Strings(wanted)
    shared = [info for info in members if info.filename == "xl/sharedStrings.xml"]
    if wanted and shared:
        _parse(archive, shared[0], strings)
    out, chars = [], 0
    for sheet in book.sheets:
        out.append("<table>")
        for row in sheet:
            texts = [strings.found.get(i, "") if i is not None else t for i, t in row]
            texts = [t for t in texts if t.strip()]
            if not texts:
                continue
            chars += sum(map(len, texts))
            if chars > max_chars:
                book.capped.append("text")
                break
            cells = "".join(f"<td>{_cell_html(text)}</td>" for text in texts)
            out.append(f"<tr>{cells}</tr>")
        out.append("</table>")
    return OfficeText("".join(out), book.capped)


def _cell_html(text: str) -> str:
    return html.escape(text, quote=False).replace("\r\n", "\n").replace("\n", "<br>")


MAX_TRIED = 3  # office attachments tried in one mail


@dataclass
class AttachedTicket:
    name: str = ""  # the attachment read as the ticket; "" when none was
    text: str = ""
    warnings: list[str] = field(default_factory=list)


def attached_ticket(files: list[tuple[str, bytes]], max_chars: int = 200_000) -> AttachedTicket:
    """The first attachment whose text holds a field label, read as lines of text."""
    warnings = []
    for name, data in files[:MAX_TRIED]:
        try:
            found = read_office(name, data, max_chars)
        except Unreadable as exc:
            warnings.append(f"attachment {name} not read: {exc}")
            continue
        text = html_to_text(found.html, bare_label)
        if not count_labels(text):
            continue
        warnings.append(f"attachment {name} read as the ticket")
        warnings += [f"attachment {name}: only the first {_CAPS[c]} read" for c in found.capped]
        return AttachedTicket(name, text, warnings)
    return AttachedTicket(warnings=warnings)


_CAPS = {
    "rows": f"{MAX_ROWS} rows",
    "cells": f"{MAX_CELLS} cells",
    "strings": f"{MAX_STRINGS} shared strings",
    "text": "characters",
}
