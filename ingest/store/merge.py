"""Merging one ticket into another and closing tickets (SPEC §13): all the SQL of both."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from ingest.store.models import Message, Outbox, StopCodeHit, Ticket, TicketEvent

AUTOMATIC = "自动邮件"  # the closed_reason of a ticket that automatic mail opened
BY_ENGINEER = "工程师关闭"  # an engineer ticked ☑ 已关闭
MAX_HOPS = 20  # merged tickets followed at most this far (a chain, never a loop: see merge)


class Refused(Exception):
    """A merge or close that cannot be done; its message is one line for people."""


def merged_reason(target_id: int) -> str:
    return f"合并到 #{target_id}"


def _event(session: Session, ticket_id: int, kind: str, by: str, at: datetime, **detail) -> None:
    session.add(TicketEvent(ticket_id=ticket_id, at=at, kind=kind, by=by, detail=detail))


def close_ticket(
    session: Session,
    ticket: Ticket,
    reason: str,
    by: str,
    now: datetime,
    kind: str = "closed",
    **detail,
) -> None:
    """Close `ticket` without a reply: status closed, why, waiting for nobody; one event `kind`."""
    old = ticket.status
    ticket.status, ticket.closed_reason, ticket.waiting_on = "closed", reason, None
    ticket.updated_at = now
    session.add(ticket)
    _event(session, ticket.id, kind, by, now, old=old, reason=reason, **detail)
    session.flush()  # its event before any written after it


def close(session: Session, number: int, reason: str, by: str, now: datetime) -> Ticket:
    """`gongdan tickets close N --reason TEXT`: close ticket `number`, or refuse."""
    ticket = session.get(Ticket, number)
    if ticket is None:
        raise Refused(f"no ticket #{number}")
    if ticket.status == "closed":
        raise Refused(f"ticket #{number} is already closed")
    close_ticket(session, ticket, reason, by, now)
    return ticket


def followed(session: Session, ticket: Ticket | None) -> Ticket | None:
    """The ticket that a merged ticket's number now stands for (itself when not merged)."""
    for _ in range(MAX_HOPS):
        if ticket is None or ticket.merged_into is None:
            return ticket
        ticket = session.get(Ticket, ticket.merged_into)
    return ticket


def _target(session: Session, source: Ticket, target_id: int) -> Ticket:
    if target_id == source.id:
        raise Refused(f"ticket #{source.id} cannot be merged into itself")
    if source.merged_into is not None:
        raise Refused(f"ticket #{source.id} is already merged into #{source.merged_into}")
    target = session.get(Ticket, target_id)
    if target is None:
        raise Refused(f"no ticket #{target_id}")
    if target.status == "closed":
        # A closed target may itself be merged: mail would follow it elsewhere, or in a loop.
        raise Refused(f"ticket #{target_id} is closed; merge into an open ticket")
    return target


def merge(session: Session, source: Ticket, target_id: int, by: str, now: datetime) -> Ticket:
    """Move `source`'s messages, history, stop codes and replies to ticket `target_id`, add its
    thread's people there, and close it as merged (its number then leads to the target).
    Refused (nothing changed) for itself, an unknown ticket, or a closed one."""
    target = _target(session, source, target_id)
    session.flush()
    moved = {"ticket_id": target.id}
    for table in (Message, TicketEvent, Outbox):
        session.execute(
            update(table).where(table.ticket_id == source.id).values(moved),
            execution_options={"synchronize_session": False},
        )
    # A stop code the target already has is kept once, as first seen there.
    theirs = aliased(StopCodeHit)
    session.execute(
        delete(StopCodeHit).where(
            StopCodeHit.ticket_id == source.id,
            exists(
                select(theirs.id).where(
                    theirs.ticket_id == target.id,
                    theirs.vendor == StopCodeHit.vendor,
                    theirs.code == StopCodeHit.code,
                )
            ),
        ),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(StopCodeHit).where(StopCodeHit.ticket_id == source.id).values(moved),
        execution_options={"synchronize_session": False},
    )
    target.thread_addresses = list(
        dict.fromkeys([*target.thread_addresses, *source.thread_addresses])
    )
    target.updated_at = now
    session.add(target)
    _event(session, target.id, "merged", by, now, **{"from": source.id})
    source.merged_into = target.id
    close_ticket(session, source, merged_reason(target.id), by, now, "merged", into=target.id)
    session.flush()
    return target


def merge_numbers(session: Session, number: int, target_id: int, by: str, now: datetime) -> Ticket:
    """`gongdan tickets merge N --into M`."""
    source = session.get(Ticket, number)
    if source is None:
        raise Refused(f"no ticket #{number}")
    return merge(session, source, target_id, by, now)
