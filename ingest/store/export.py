"""`gongdan export`: every ticket with its thread, history and outbox as JSON Lines (SPEC §11)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ingest.reading.attachments import attachments_of
from ingest.reading.phones import mask_phones_in_text
from ingest.reading.quoting import new_text
from ingest.rules.stored import ticket_fields
from ingest.store.models import Message, Outbox, StopCodeHit, Ticket, TicketEvent, iso

PAGE = 500  # tickets per round of queries: memory stays flat however big the database is


def _grouped(conn: Connection, query, key: str) -> dict[int, list]:
    groups: dict[int, list] = defaultdict(list)
    for row in conn.execute(query):
        groups[getattr(row, key)].append(row)
    return groups


def _page(conn: Connection, tickets: list, raw_dir: Path | None) -> Iterator[dict]:
    ids = [t.id for t in tickets]
    message_cols = [
        Message.id,
        Message.ticket_id,
        Message.message_id,
        Message.from_address,
        Message.to_addresses,
        Message.subject,
        Message.date,
        Message.direction,
        Message.auto_submitted,
        Message.flags,
        Message.fields_from_images,
        Message.text,
    ]
    messages = _grouped(
        conn,
        select(*message_cols).where(Message.ticket_id.in_(ids)).order_by(Message.id),
        "ticket_id",
    )
    events = _grouped(
        conn,
        select(TicketEvent).where(TicketEvent.ticket_id.in_(ids)).order_by(TicketEvent.id),
        "ticket_id",
    )
    outbox = _grouped(
        conn,
        select(
            Outbox.ticket_id,
            Outbox.message_id,
            Outbox.kind,
            Outbox.to_addresses,
            Outbox.state,
            Outbox.attempts,
            Outbox.last_error,
            Outbox.bounced_at,
        )
        .where(Outbox.ticket_id.in_(ids))
        .order_by(Outbox.id),
        "ticket_id",
    )
    files = _attachments(conn, ids)
    codes = _grouped(
        conn,
        select(StopCodeHit).where(StopCodeHit.ticket_id.in_(ids)).order_by(StopCodeHit.id),
        "ticket_id",
    )
    for ticket in tickets:
        if raw_dir is not None:
            _write_raw(conn, [m.id for m in messages[ticket.id]], raw_dir / str(ticket.id))
        yield {
            "type": "ticket",
            "id": ticket.id,
            "template": ticket.template,
            "status": ticket.status,
            "engineer": ticket.engineer,
            "operator_address": ticket.operator_address,
            "fields": ticket_fields(ticket),
            "waiting_on": ticket.waiting_on,
            "related": list(ticket.related or []),
            "missing": ticket.missing,
            "complete": ticket.complete,
            "stop_codes": [
                {"vendor": c.vendor, "code": c.code, "meaning": c.meaning, "known": c.known}
                for c in codes[ticket.id]
            ],
            "created_at": iso(ticket.created_at),
            "updated_at": iso(ticket.updated_at),
            "messages": [
                {
                    "message_id": m.message_id,
                    "from": m.from_address,
                    "to": m.to_addresses,
                    "subject": m.subject,
                    "date": iso(m.date),
                    "direction": m.direction,
                    "auto_submitted": m.auto_submitted,
                    "flags": m.flags,
                    "fields_from_images": m.fields_from_images,
                    # Its own words: quoted history removed, phones masked (SPEC §13).
                    "text": mask_phones_in_text(new_text(m.text)),
                    "attachments": files.get(m.id, []),
                }
                for m in messages[ticket.id]
            ],
            "events": [
                {"at": iso(e.at), "kind": e.kind, "by": e.by, "detail": e.detail}
                for e in events[ticket.id]
            ],
            # A reply being handed over right now is still queued to the outside world; one whose
            # delivery failure report came back is `bounced`.
            "outbox": [
                {
                    "message_id": o.message_id,
                    "kind": o.kind,
                    "to": o.to_addresses,
                    "state": "queued" if o.state == "sending" else o.state,
                    "attempts": o.attempts,
                    # Why it failed or bounced (SPEC §6a: a bounced reply says so here).
                    "last_error": o.last_error,
                    "bounced_at": iso(o.bounced_at),
                }
                for o in outbox[ticket.id]
            ],
        }


def _attachments(conn: Connection, ticket_ids: list[int]) -> dict[int, list[dict]]:
    """Each message's attachments (name, type, size), read from its raw bytes one at a time."""
    found = {}
    query = select(Message.id, Message.raw).where(Message.ticket_id.in_(ticket_ids))
    for row in conn.execution_options(stream_results=True).execute(query):
        listed = [a.as_json() for a in attachments_of(row.raw)]
        if listed:
            found[row.id] = listed
    return found


def _private_folder(folder: Path) -> None:
    """Make `folder` and its missing parents, each readable by the owner only (0700): raw mail
    holds operators' phones and addresses. Folders that exist already keep their mode."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file that a new export creates readable by the owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write_raw(conn: Connection, message_ids: list[int], folder: Path) -> None:
    _private_folder(folder)
    for n, message_db_id in enumerate(message_ids, start=1):
        raw = conn.execute(select(Message.raw).where(Message.id == message_db_id)).scalar_one()
        _write_private(folder / f"{n}.eml", raw)


def export(
    conn: Connection,
    since: datetime | None = None,
    ticket_id: int | None = None,
    raw_dir: Path | None = None,
) -> Iterator[dict]:
    """Tickets oldest first, then one `unreadable` object per stored message that has no ticket."""
    last = 0
    while True:
        query = select(Ticket).where(Ticket.id > last).order_by(Ticket.id).limit(PAGE)
        if since:
            query = query.where(Ticket.updated_at >= since)
        if ticket_id is not None:
            query = query.where(Ticket.id == ticket_id)
        tickets = list(conn.execute(query))  # rows, not ORM objects: nothing accumulates
        if not tickets:
            break
        yield from _page(conn, tickets, raw_dir)
        last = tickets[-1].id
    if ticket_id is not None:
        return
    query = (
        select(
            Message.id,
            Message.mailbox,
            Message.uid,
            Message.message_id,
            Message.size,
            Message.parse_error,
        )
        .where(Message.ticket_id.is_(None), Message.direction == "in")
        .order_by(Message.id)
    )
    if since:
        query = query.where(Message.received_at >= since)
    for n, row in enumerate(conn.execute(query).all(), start=1):
        if raw_dir is not None:
            _private_folder(raw_dir / "unreadable")
            raw = conn.execute(select(Message.raw).where(Message.id == row.id)).scalar_one()
            _write_private(raw_dir / "unreadable" / f"{n}.eml", raw)
        yield {
            "type": "unreadable",
            "mailbox": row.mailbox,
            "uid": row.uid,
            "message_id": row.message_id,
            "size": row.size,
            "error": row.parse_error,
        }
