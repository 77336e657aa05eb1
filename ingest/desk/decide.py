"""Decide whether a stored email gets a reply, and which one (SPEC §6). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.store.threads import domain_of


@dataclass(frozen=True)
class Situation:
    """Everything the decision needs, gathered by the poll cycle."""

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
    replies_today: int = 0
    daily_limit: int = 10


@dataclass(frozen=True)
class Decision:
    kind: str | None  # "ack", "request_info", or None for no reply
    reason: str  # why, for the log and the message's flags
    flag: str | None = None  # a flag to store on the message, when the rule is worth seeing later


def decide(s: Situation) -> Decision:
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
    if s.operator_domains and domain_of(s.sender) not in {d.lower() for d in s.operator_domains}:
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
        return Decision(
            None, f"daily reply limit of {s.daily_limit} reached for {s.sender}", "over_daily_limit"
        )
    return Decision(kind, kind)
