"""Engineers' mail (SPEC §8, §13): who is an engineer; what their 状态, assignment, notes and
答复 change, the 合并到 line, and what in their mail could not be understood."""

from __future__ import annotations

from dataclasses import dataclass

import authres

from ingest.config import Config, Engineer
from ingest.reading.addresses import canonical_address, domain_of
from ingest.reading.email_reader import Email

NOTE_KEYS = ("tracking", "analysis", "resolution")


@dataclass(frozen=True)
class Sender:
    engineer: Engineer | None  # set when the mail counts as an engineer's
    flag: str | None = None  # "forged_engineer" when an engineer's address failed authentication


def _parse(header: str):
    """One Authentication-Results header, parsed; None when it cannot be."""
    try:
        return authres.AuthenticationResultsHeader.parse(
            "Authentication-Results: " + " ".join(header.split())
        )
    except Exception:  # a header we cannot parse proves nothing
        return None


def _authserv_id(header: str) -> str:
    """The server that wrote a header: its first token (what `authres` reads, and a fallback
    when the rest of the header does not parse)."""
    parsed = _parse(header)
    if parsed is not None:
        return (parsed.authserv_id or "").lower()
    return (header.split(";", 1)[0].split() or [""])[0].lower()


def _plain(header: str) -> bool:
    """Printable ASCII, folding whitespace allowed."""
    return header.isascii() and all(c >= " " or c in "\t\r\n" for c in header)


def _passes(header: str, authserv_id: str, address: str) -> bool:
    """Does one Authentication-Results header from `authserv_id` vouch for `address`: DKIM or
    SPF passing for its domain, or SMTP AUTH as that very address (RFC 8601 §2.7.4: sent
    through our own submission service)?"""
    if not _plain(header):
        return False  # our server writes plain ASCII; anything else was dressed up to pass
    domain = domain_of(address)
    parsed = _parse(header)
    if parsed is None or (parsed.authserv_id or "").lower() != authserv_id.lower():
        return False
    for result in parsed.results:
        if (result.result or "").lower() != "pass":
            continue
        props = {
            f"{p.type}.{p.name}".lower(): (p.value or "").lower() for p in result.properties or []
        }
        if result.method == "dkim":
            signer = props.get("header.d") or domain_of(props.get("header.i", ""))
            if signer == domain:
                return True
        elif result.method == "spf":
            mailfrom = props.get("smtp.mailfrom", "")
            if (domain_of(mailfrom) if "@" in mailfrom else mailfrom) == domain:
                return True
        elif result.method == "auth":
            # The login, not a domain: another account on our server is not this engineer.
            if canonical_address(props.get("smtp.auth", "")) == canonical_address(address):
                return True
    return False


def authenticated(headers: list[str], authserv_id: str, address: str) -> bool:
    """Only the topmost header (the one our receiving server added last) is read. A header
    lower down that carries our server's id came with the mail from outside: our server should
    have removed it (RFC 8601 §5), so the mail is forged whatever the top one says."""
    if not headers or not _passes(headers[0], authserv_id, address):
        return False
    return not any(_authserv_id(h) == authserv_id.lower() for h in headers[1:])


def classify(mail: Email, config: Config) -> Sender:
    """An engineer's mail counts only from a configured address and, when `trusted_authserv_id`
    is set, with DKIM or SPF passing for the sender's domain, or SMTP AUTH as the sender, in
    the topmost header from that server. Anything else from an engineer's address is forged
    and changes nothing (SPEC §8)."""
    sender = canonical_address(mail.from_address)
    engineer = next((e for e in config.engineers if canonical_address(e.address) == sender), None)
    if engineer is None:
        return Sender(None)
    trusted = config.desk.trusted_authserv_id
    if trusted and not authenticated(mail.auth_results, trusted, mail.from_address):
        return Sender(None, "forged_engineer")
    return Sender(engineer)


@dataclass(frozen=True)
class Change:
    kind: str  # status_changed, closed, assigned, note, merged
    field: str
    old: str | None
    new: str | int  # merged: the ticket number merged into


def engineer_changes(current: dict, fields: dict, names: list[str] | None = None) -> list[Change]:
    """What an engineer's 状态, 售后(跟单)工程师, 跟踪/分析/解决 and 合并到 lines change on a ticket
    (pure). `current` has the ticket's `id`, status, engineer and notes; `fields` may carry
    `merge_into`, the number a 合并到 line names (applied last: the mail's other lines still
    count on the ticket it was written on). With `names` (the configured engineers'), a name not
    among them assigns nothing."""
    changes = []
    status = fields.get("status")
    if status and status != current.get("status"):
        kind = "closed" if status == "closed" else "status_changed"
        changes.append(Change(kind, "status", current.get("status"), status))
    name = fields.get("engineer")
    if name and name != current.get("engineer") and (names is None or name in names):
        changes.append(Change("assigned", "engineer", current.get("engineer"), name))
    for key in NOTE_KEYS:
        note = fields.get(key)
        if note and note not in (current.get(key) or ""):
            changes.append(Change("note", key, current.get(key), note))
    target = fields.get("merge_into")
    if target is not None and target != current.get("id"):
        changes.append(Change("merged", "merged_into", None, target))
    return changes


# What a verified engineer's mail may fail to say (SPEC §13), in the order a reply lists them:
# a [工单#N] that names no ticket, a 售后(跟单)工程师 nobody in the config is called, a 状态 line
# with no mark or two, an empty ---答复.
PROBLEMS = ("ticket", "engineer", "status", "answer")


def not_understood(
    fields: dict,
    unread: list[str],
    names: list[str],
    current_engineer: str | None,
    *,
    missing_ticket: bool,
    did_something: bool,
) -> list[str]:
    """What an engineer's mail tried to change and could not (pure). A bad ticket number or an
    unknown engineer's name is always said. An unmarked 状态 line and an empty ---答复 are what
    the digest's and notices' reply links prefill: said only when the mail did nothing else."""
    problems = []
    if missing_ticket:
        problems.append("ticket")
    name = fields.get("engineer")
    if name and name != current_engineer and name not in names:
        problems.append("engineer")
    if not did_something:
        problems += [key for key in ("status", "answer") if key in unread]
    return problems
