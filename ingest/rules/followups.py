"""An operator's follow-up after the first reply (SPEC §13): does it say something, whom does the
ticket then wait on, does it reopen a closed-off ticket, and whom to tell of it. Pure: no I/O."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.reading.addresses import canonical_address
from ingest.reading.quoting import new_text

# A bare thanks or acknowledgement says nothing that needs an answer (SPEC §13).
_THANKS = re.compile(
    r"^(?:谢谢|謝謝|多谢|多謝|感谢|感謝|好的|好|收到|已收到|了解|明白|辛苦了?|ok|okay|thanks?|"
    r"thank\s*you|noted|[，,。.!！~～\s])+$",
    re.I,
)
_SIGN_OFF = re.compile(
    r"^\s*(?:谢谢|謝謝|此致|敬礼|敬禮|祝好|顺祝商祺|順祝商祺|thanks|best regards|regards)"
    r"\s*[！!。.,，]*\s*$",
    re.I,
)
BARE_LIMIT = 10  # a thanks up to this many characters is bare
REOPENS = ("resolved", "on_hold")
# Mail whose flags say it may change nothing on its ticket, or is no operator's.
NOT_THE_OPERATORS = {"outside_thread", "forged_engineer", "bounce", "unreadable"}


def says_something(text: str, attachments: list[str] | tuple = ()) -> bool:
    """More than a sign-off or a thanks of at most BARE_LIMIT characters, or any attachment."""
    if attachments:
        return True
    words = [line for line in text.split("\n") if line.strip() and not _SIGN_OFF.match(line)]
    joined = "".join("".join(words).split())
    if not joined:
        return False
    return not (len(joined) <= BARE_LIMIT and _THANKS.match(joined))


def waiting_after(
    current: str | None,
    *,
    says: bool,
    became_complete: bool,
    changed_fields: bool,
    complete: bool,
) -> str | None:
    """Whom a ticket waits on after an operator's follow-up from its thread: fields that still
    leave it incomplete get a request for more (the operator), words the team must read make it
    wait for the team; a follow-up that completes it is acknowledged like a new complete ticket."""
    if became_complete:
        return None
    if changed_fields and not complete:
        return "operator"
    return "team" if says else current


def reopen(status: str, last_change: datetime, now: datetime, within: timedelta) -> str | None:
    """What an operator's follow-up that says something does to a `resolved` or `on_hold`
    ticket: "reopen" it within `within` of its last change, "new" ticket after; None otherwise."""
    if status not in REOPENS:
        return None
    return "reopen" if now - last_change <= within else "new"


def first_lines(text: str, lines: int = 2, chars: int = 120) -> str:
    """The start of a text as a digest shows it: its first non-empty lines, cut at `chars`."""
    kept = [line.strip() for line in text.split("\n") if line.strip()][:lines]
    shown = "\n".join(kept)
    return shown if len(shown) <= chars else shown[: chars - 1] + "…"


def news_of(message, engineers: dict[str, str]) -> dict | None:
    """What a stored follow-up tells the engineers (its time, sender and new text), or None when
    it is no operator's (an engineer's, a bounce, off the thread …) or says nothing."""
    if set(message.flags or []) & NOT_THE_OPERATORS:
        return None
    if canonical_address(message.from_address) in engineers:
        return None
    text = new_text(message.text or "")
    if not says_something(text):
        # Then an attachment decides: the mail is read again, and the reader loaded, only now.
        from ingest.reading.email_reader import names_read_again

        if not names_read_again(message.raw):
            return None
    return {"at": message.received_at, "sender": message.from_address, "text": text}


def notice_recipients(
    ticket, engineers: dict[str, str], by_name: dict[str, str], fallback: list[str]
) -> list[str]:
    """Who hears of a follow-up on `ticket`: its engineer's address (`by_name`); with none
    assigned (or a name no longer configured) the `fallback` (the digest's recipients). Never
    anyone on the ticket's thread who is not one of the `engineers`."""
    chosen = [by_name[ticket.engineer]] if ticket.engineer in by_name else list(fallback)
    thread = {canonical_address(a) for a in [ticket.operator_address, *ticket.thread_addresses]}
    return [
        a
        for a in dict.fromkeys(chosen)
        if canonical_address(a) in engineers or canonical_address(a) not in thread
    ]


@dataclass(frozen=True)
class Notice:
    """What one engineer (or a digest recipient) is told: to `to`, greeting `name` ("" when the
    address is no engineer's), the `tickets`, each a dict of id, subject, status, engineer and
    messages (news_of)."""

    to: str
    name: str
    tickets: list[dict]


def notices_of(
    followups: list,
    tickets: dict,
    engineers: dict[str, str],
    by_name: dict[str, str],
    fallback: list[str],
) -> list[Notice]:
    """The notices of stored `followups` (on `tickets`, by id): one per recipient
    (notice_recipients), listing the tickets whose follow-ups say something (news_of), the
    tickets and their news in the order the mail was stored."""
    news = defaultdict(list)
    for message in followups:
        if (said := news_of(message, engineers)) is not None:
            news[message.ticket_id].append(said)
    listed = defaultdict(list)
    for ticket_id, messages in news.items():
        ticket = tickets[ticket_id]
        for address in notice_recipients(ticket, engineers, by_name, fallback):
            listed[address].append(
                {
                    "id": ticket.id,
                    "subject": ticket.subject,
                    "status": ticket.status,
                    "engineer": ticket.engineer,
                    "messages": messages,
                }
            )
    return [
        Notice(address, engineers.get(canonical_address(address), ""), shown)
        for address, shown in listed.items()
    ]
