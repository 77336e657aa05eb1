"""Every mail we send, as the outbox takes it (ingest.store.outbox.Outgoing): a reply on a
ticket's thread (ack, request for information, reminder, on-hold and resolved notices) composed
with our headers and threading (reply_mail, written), or a mail on no thread (an engineer's
notice, a digest: off_thread_mail, queue_mail). The store's outbox.enqueue and enqueue_many insert
them, in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from ingest.config import Config
from ingest.rules.threads import reply_subject
from ingest.store import outbox
from replies.compose import compose_reply, make_message_id
from replies.render import RENDERERS

if TYPE_CHECKING:
    from ingest.store.db import Connection


def new_message_id(config: Config) -> str:
    return make_message_id(config.outgoing.message_domain)


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


@dataclass(frozen=True)
class Wanted:
    """A reply a decision asks for, before it is written: the template of `kind` filled from
    `ticket` (render.context) and `extra`, to `to`, answering `in_reply_to` on ticket
    `ticket_id`'s thread; `held` keeps it in the outbox for that reason."""

    kind: str
    to: str
    ticket: dict
    original_subject: str
    in_reply_to: str
    references: list[str]
    caused_by: int | None
    extra: dict = field(default_factory=dict)
    held: str = ""


def written(config: Config, wanted: list[Wanted], now: datetime) -> list[outbox.Outgoing]:
    """Each wanted reply rendered from its template and composed on its thread (reply_mail)."""
    template_dir = config.desk.template_dir or None
    mails = []
    for w in wanted:
        body = RENDERERS[w.kind](w.ticket, template_dir, **w.extra)
        mail = reply_mail(
            config,
            kind=w.kind,
            body=body,
            to=w.to,
            ticket_id=w.ticket["id"],
            original_subject=w.original_subject,
            in_reply_to=w.in_reply_to,
            references=w.references,
            caused_by=w.caused_by,
            now=now,
        )
        mails.append(replace(mail, held=w.held))
    return mails


def queue_mail(
    conn: Connection,
    config: Config,
    *,
    kind: str,
    raw: bytes,
    message_id: str,
    to: list[str],
    subject: str,
    now: datetime,
) -> int:
    """Queue a mail on no ticket's thread (a digest), composed by the caller with our headers,
    in the transaction open on `conn`; returns its outbox row."""
    mail = off_thread_mail(
        config, kind=kind, raw=raw, message_id=message_id, to=to, subject=subject
    )
    return outbox.enqueue(conn, mail, now)


def off_thread_mail(
    config: Config, *, kind: str, raw: bytes, message_id: str, to: list[str], subject: str
) -> outbox.Outgoing:
    """A mail on no ticket's thread (a digest, an engineer's notice), composed by the caller
    with our headers, from the support address."""
    return outbox.Outgoing(
        kind=kind,
        raw=raw,
        message_id=message_id,
        to=list(to),
        subject=subject,
        from_address=config.outgoing.from_address,
        on_thread=False,
    )
