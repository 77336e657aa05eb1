"""Engineers' mail (SPEC §8): who counts as an engineer, and what their 状态, assignment and notes change."""

from __future__ import annotations

from dataclasses import dataclass

import authres

from ingest.config import Config, Engineer
from ingest.email_reader import Email
from ingest.threads import domain_of

NOTE_KEYS = ("tracking", "analysis", "resolution")


@dataclass(frozen=True)
class Sender:
    engineer: Engineer | None  # set when the mail counts as an engineer's
    flag: str | None = None  # "forged_engineer" when an engineer's address failed authentication


def _passes(header: str, authserv_id: str, domain: str) -> bool:
    """Does one Authentication-Results header from `authserv_id` show DKIM or SPF passing for `domain`?"""
    try:
        parsed = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {header}")
    except Exception:  # a header we cannot parse proves nothing
        return False
    if (parsed.authserv_id or "").lower() != authserv_id.lower():
        return False
    for result in parsed.results:
        if (result.result or "").lower() != "pass":
            continue
        props = {f"{p.type}.{p.name}".lower(): (p.value or "").lower() for p in result.properties or []}
        if result.method == "dkim":
            signer = props.get("header.d") or domain_of(props.get("header.i", ""))
            if signer == domain:
                return True
        elif result.method == "spf":
            mailfrom = props.get("smtp.mailfrom", "")
            if (domain_of(mailfrom) if "@" in mailfrom else mailfrom) == domain:
                return True
    return False


def classify(mail: Email, config: Config) -> Sender:
    """An engineer's mail counts only from a configured address and, when `trusted_authserv_id`
    is set, with DKIM or SPF passing for the sender's domain at that server."""
    engineer = next((e for e in config.engineers if e.address.lower() == mail.from_address), None)
    if engineer is None:
        return Sender(None)
    trusted = config.desk.trusted_authserv_id
    if trusted and not any(_passes(h, trusted, domain_of(mail.from_address)) for h in mail.auth_results):
        return Sender(None, "forged_engineer")
    return Sender(engineer)


@dataclass(frozen=True)
class Change:
    kind: str  # status_changed, assigned, note
    field: str
    old: str | None
    new: str


def engineer_changes(current: dict, fields: dict) -> list[Change]:
    """What an engineer's 状态, 售后(跟单)工程师 and 跟踪/分析/解决 lines change on a ticket (pure)."""
    changes = []
    if fields.get("status") and fields["status"] != current.get("status"):
        changes.append(Change("status_changed", "status", current.get("status"), fields["status"]))
    if fields.get("engineer") and fields["engineer"] != current.get("engineer"):
        changes.append(Change("assigned", "engineer", current.get("engineer"), fields["engineer"]))
    for key in NOTE_KEYS:
        note = fields.get(key)
        if note and note not in (current.get(key) or ""):
            changes.append(Change("note", key, current.get(key), note))
    return changes
