"""What storing one email did, and its ticket as it then stands: plain data that the rules decide
over (the store builds them; nothing here touches the database), and the view of a ticket row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingest.reading.field_specs import field_specs

if TYPE_CHECKING:  # the reader's modules are loaded only where mail is read (issue 22)
    from ingest.reading.ticket import TicketReading

# A ticket's fields as replies show them. The answer is relayed, not kept on the ticket: it is in
# the history (`answered`).
FIELD_KEYS = tuple(k for k in field_specs().by_key if k not in ("status", "engineer", "answer"))


@dataclass(frozen=True)
class TicketView:
    """A ticket as it stands after an email: what deciding and replying need of it."""

    id: int
    subject: str
    template: str
    status: str
    engineer: str | None
    operator_address: str
    thread_addresses: list[str]
    complete: bool
    missing: list[str]
    invalid: dict
    fields: dict


def ticket_fields(ticket) -> dict[str, str]:
    """The fields a ticket row (a model or a row read by name) has a value for."""
    return {k: getattr(ticket, k) for k in FIELD_KEYS if getattr(ticket, k)}


def view_of(ticket) -> TicketView:
    """The plain-data view of a ticket row (what deciding and replying need of it)."""
    return TicketView(
        id=ticket.id,
        subject=ticket.subject,
        template=ticket.template,
        status=ticket.status,
        engineer=ticket.engineer,
        operator_address=ticket.operator_address,
        thread_addresses=list(ticket.thread_addresses),
        complete=ticket.complete,
        missing=list(ticket.missing),
        invalid=dict(ticket.invalid),
        fields=ticket_fields(ticket),
    )


@dataclass
class Stored:
    """What storing one email did."""

    outcome: str  # "new_ticket", "follow_up", "duplicate", "unreadable"
    message_db_id: int | None = None
    ticket_id: int | None = None
    reading: TicketReading | None = None
    changed: dict = field(default_factory=dict)  # key -> (old, new) set by this email
    became_complete: bool = False
    flags: list[str] = field(default_factory=list)
    engineer: object = None  # the Engineer whose mail this is, when it counts as one
    engineer_changes: list = field(default_factory=list)  # engineers.Change applied
    answer: str = ""  # an engineer's ---答复 to relay to the ticket's operator (SPEC §13)
    not_understood: list[str] = field(default_factory=list)  # what their mail failed to say
    ticket: TicketView | None = field(default=None, repr=False)  # as it stands after this email
    # A new ticket's stop codes are exactly this email's: replies need not read them back.
    # None: read them from the store.
    stop_codes: list[dict] | None = field(default=None, repr=False)

    @property
    def resolved_now(self) -> bool:
        return any(
            c.kind == "status_changed" and c.new == "resolved" for c in self.engineer_changes
        )
