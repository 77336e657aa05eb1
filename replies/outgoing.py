"""The one way into the outbox: a reply on a ticket's thread (ack, request for information,
reminder, on-hold and resolved notices) or a digest, composed with our headers and threading
(reply_mail) and queued with its outbox row (ingest.store.outbox.enqueue), in the caller's
transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ingest.config import Config
from ingest.reading.addresses import domain_of
from ingest.rules.threads import reply_subject
from ingest.store import outbox
from ingest.store.db import Session
from replies.compose import compose_reply, make_message_id


def new_message_id(config: Config) -> str:
    return make_message_id(domain_of(config.outgoing.from_address) or "localhost")


def reply_mail(
    config: Config,
    *,
    kind: str,
    body: str,
    to: str,
    ticket_id: int,
    original_subject: str,
    in_reply_to: str,
    references: list[str],
    caused_by: int | None,
    now: datetime,
    message_id: str | None = None,
) -> outbox.Outgoing:
    """Our reply `body` to `to` on ticket `ticket_id`'s thread, answering the message
    `in_reply_to` (with its `references`): `Re: <subject> [工单#N]`, dated `now`, with a new
    Message-ID (or `message_id`: a reply every run derives alike is queued once)."""
    from_address = config.outgoing.from_address
    message_id = message_id or new_message_id(config)
    raw = compose_reply(
        body=body,
        from_address=from_address,
        to_address=to,
        original_subject=original_subject,
        ticket_id=ticket_id,
        in_reply_to=in_reply_to,
        references=references,
        message_id=message_id,
        date=now,
    )
    return outbox.Outgoing(
        kind=kind,
        raw=raw,
        message_id=message_id,
        to=[to],
        subject=reply_subject(original_subject, ticket_id),
        from_address=from_address,
        ticket_id=ticket_id,
        caused_by=caused_by,
    )


def queue_reply(session: Session, config: Config, *, now: datetime, held: str = "", **reply) -> str:
    """Queue reply_mail(config, now=now, **reply), due `now` (or kept `held` for that reason
    until a person releases it); returns its Message-ID."""
    mail = replace(reply_mail(config, now=now, **reply), held=held)
    outbox.enqueue(session, mail, now)
    return mail.message_id


def queue_mail(
    session: Session,
    config: Config,
    *,
    kind: str,
    raw: bytes,
    message_id: str,
    to: list[str],
    subject: str,
    now: datetime,
) -> int:
    """Queue a mail on no ticket's thread (a digest), composed by the caller with our headers;
    returns its outbox row."""
    mail = outbox.Outgoing(
        kind=kind,
        raw=raw,
        message_id=message_id,
        to=list(to),
        subject=subject,
        from_address=config.outgoing.from_address,
        on_thread=False,
    )
    return outbox.enqueue(session, mail, now)
