"""Decide whether a stored email gets a reply, which one, where it goes, and whether the operator
hears that their ticket is resolved (SPEC §6, §6a, §8). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from ingest.config import Config
from ingest.reading.addresses import (
    canonical_address,
    canonical_domain,
    domain_of,
    mailbox_of,
    trusted_domains,
)
from ingest.rules import threads
from ingest.rules.stored import Stored


@dataclass(frozen=True)
class Situation:
    """Everything the decision needs: built here only, by situation() from a stored email or by
    reminder_situation() for a follow-up."""

    outcome: str  # new_ticket, follow_up, duplicate, unreadable
    auto_submitted: bool = False
    sender: str = ""
    complete: bool = False
    became_complete: bool = False
    changed_fields: bool = False
    from_engineer: bool = False
    forged_engineer: bool = False  # an engineer's address that failed authentication
    on_thread: bool = True  # False: joined by References from outside the thread (SPEC §6a)
    operator_domains: tuple[str, ...] = ()
    recipient: str = ""  # where a reply would go (reply_address)
    replies_today: int = 0  # replies to the recipient's mailbox in the last day
    daily_limit: int = 40
    resolved_now: bool = False  # an engineer's email has just resolved the ticket
    operator_address: str = ""  # who opened the ticket
    answered: bool = False  # a verified engineer's ---答复 to relay to the operator (SPEC §13)
    not_understood: tuple[str, ...] = ()  # what a verified engineer's mail failed to say


@dataclass(frozen=True)
class Decision:
    kind: str | None  # "ack", "request_info", or None for no reply
    reason: str  # why, for the log and the message's flags
    flag: str | None = None  # a flag to store on the message, when the rule is worth seeing later
    to: str | None = None  # where the reply goes
    notify: str | None = None  # the operator to tell that their ticket is resolved
    withheld: str | None = None  # the reply the daily limit holds back (kept `held`, SPEC §6b)
    answer_to: str | None = None  # the operator an engineer's ---答复 is relayed to (SPEC §13)
    explain_to: str | None = None  # the engineer told what their mail failed to say
    not_understood: tuple[str, ...] = ()


def situation(stored: Stored, config: Config, replies_today: Mapping[str, int]) -> Situation:
    """The one place a Situation is made: from a stored email, the config, and the replies each
    mailbox got in the last day (counted for every reply_candidates of the batch)."""
    reading, ticket = stored.reading, stored.ticket
    if reading is None or ticket is None:
        return Situation(outcome=stored.outcome)
    recipient = reply_address(reading.mail, config, list(ticket.thread_addresses))
    return Situation(
        outcome=stored.outcome,
        auto_submitted=reading.auto_submitted,
        sender=reading.mail.from_address,
        complete=ticket.complete,
        became_complete=stored.became_complete,
        changed_fields=bool(stored.changed),
        from_engineer=stored.engineer is not None,
        forged_engineer="forged_engineer" in stored.flags,
        on_thread="outside_thread" not in stored.flags,
        operator_domains=tuple(config.desk.operator_domains),
        recipient=recipient,
        replies_today=replies_today[mailbox_of(recipient)],
        daily_limit=config.desk.daily_reply_limit,
        resolved_now=stored.resolved_now,
        operator_address=ticket.operator_address,
        answered=bool(stored.answer),
        not_understood=tuple(stored.not_understood),
    )


def message_situation(reading) -> Situation:
    """The Situation of a message judged alone, as `gongdan parse` reports it: a first message
    from an operator on its own thread (the poll cycle adds the thread's and sender's rules)."""
    return Situation(
        outcome="new_ticket",
        auto_submitted=reading.auto_submitted,
        sender=reading.mail.from_address,
        complete=reading.assessment.complete,
        recipient=reading.mail.from_address,
    )


def message_action(reading) -> str:
    """What the message alone calls for (`action` in `gongdan parse`): ack, request_info or none."""
    return decide(message_situation(reading)).kind or "none"


def reminder_situation(
    recipient: str,
    thread_addresses: list[str],
    config: Config,
    replies_today: int,
    last_was_automatic: bool,
) -> Situation:
    """The Situation of a reminder or on-hold notice to `recipient`: it repeats a request for
    information, so it must pass what a first request_info passes — not to automatic senders
    (their latest mail on the thread was automatic, or the address is ours), engineers or anyone
    off the thread, within the operator domains and the daily limit."""
    own = {canonical_address(a) for a in config.desk.own_addresses}
    recipient = canonical_address(recipient)
    return Situation(
        outcome="new_ticket",  # the rules as for a first request: no follow-up exemptions
        auto_submitted=recipient in own or last_was_automatic,
        sender=recipient,
        complete=False,
        from_engineer=recipient in config.engineer_mailboxes,
        on_thread=threads.on_thread(recipient, thread_addresses, config.desk.operator_domains),
        operator_domains=tuple(config.desk.operator_domains),
        replies_today=replies_today,
        daily_limit=config.desk.daily_reply_limit,
    )


def decide(s: Situation) -> Decision:
    decision = _reply(s)
    if s.resolved_now and s.operator_address:
        decision = replace(decision, notify=s.operator_address)
    if not (s.from_engineer and not s.auto_submitted and s.outcome in ENGINEER_OUTCOMES):
        return decision  # only a verified engineer's own mail is relayed or answered
    if s.answered and s.operator_address:
        # The ticket's operator and nobody else: never a Reply-To, never the thread's others.
        decision = replace(decision, answer_to=s.operator_address)
    if s.not_understood:
        decision = replace(decision, explain_to=s.sender, not_understood=s.not_understood)
    return decision


ENGINEER_OUTCOMES = ("new_ticket", "follow_up")


def _reply(s: Situation) -> Decision:
    if s.outcome in ("duplicate", "unreadable"):
        return Decision(None, s.outcome)
    if s.auto_submitted:
        return Decision(None, "automatic mail")
    if "@" not in s.sender:
        return Decision(None, "no sender address to answer")
    if s.from_engineer:
        return Decision(None, "engineer")
    if s.forged_engineer:
        return Decision(None, "engineer address without passing authentication")
    if not s.on_thread:
        # Answering would quote the ticket to someone who is not on it.
        return Decision(None, "sender outside the thread")
    if s.operator_domains and domain_of(s.sender) not in {
        canonical_domain(d) for d in s.operator_domains
    }:
        return Decision(None, "sender outside the operator domains", "outside_operator_domains")
    if s.outcome == "new_ticket":
        kind = "ack" if s.complete else "request_info"
    elif s.became_complete:
        kind = "ack"
    elif s.changed_fields and not s.complete:
        kind = "request_info"
    else:
        return Decision(None, "follow-up changed nothing that needs an answer")
    if s.replies_today >= s.daily_limit:
        # Not sent, not forgotten: the reply is kept `held` until a person releases it.
        return Decision(
            None,
            f"daily reply limit of {s.daily_limit} reached for {s.recipient or s.sender}",
            "over_daily_limit",
            to=s.recipient or s.sender,
            withheld=kind,
        )
    return Decision(kind, kind, to=s.recipient or s.sender)


def _reply_to_allowed(address: str, mail, config: Config) -> bool:
    """Reply-To is honoured within From's domain or the operator domains, never to ourselves,
    and at a public mail domain only when it is From's own mailbox (SPEC §6b)."""
    address, domain = canonical_address(address), domain_of(address)
    if not domain or address in {canonical_address(a) for a in config.desk.own_addresses}:
        return False
    if mailbox_of(address) == mailbox_of(mail.from_address):
        return True
    return domain in trusted_domains([*config.desk.operator_domains, domain_of(mail.from_address)])


def reply_candidates(mail, config: Config) -> set[str]:
    """Every mailbox a reply to `mail` may go to (to count the daily limit a batch at once)."""
    return {
        mailbox_of(a)
        for a in [mail.from_address, *mail.reply_to]
        if a == mail.from_address or _reply_to_allowed(a, mail, config)
    }


def reply_address(mail, config: Config, thread_addresses: list[str] | None = None) -> str:
    """Where a reply goes (SPEC §6a): to From, or to a Reply-To that _reply_to_allowed and, given
    the ticket's thread, is on it (a reply quotes the ticket: its data goes only to the thread)."""
    domains = config.desk.operator_domains
    for address in mail.reply_to:
        if _reply_to_allowed(address, mail, config) and (
            thread_addresses is None or threads.on_thread(address, thread_addresses, domains)
        ):
            return address
    return mail.from_address
