"""Threading rules: the `[工单#N]` subject tag, and who is on a ticket's thread (SPEC §6a)."""

from __future__ import annotations

import re

from ingest.reading.addresses import canonical_address, domain_of, trusted_domains
from ingest.reading.addresses import mailbox_of as mailbox_of  # the limit's key, re-exported
from ingest.reading.clean_text import clean_text
from ingest.reading.phones import mask_phones_in_text

_TAG = re.compile(r"\[工单\s*#\s*(\d{1,12})\]")


def subject_tag(ticket_id: int) -> str:
    return f"[工单#{ticket_id}]"


def tagged_ticket(subject: str) -> int | None:
    """The ticket number carried in a subject, if any (the last tag wins: it is ours)."""
    tags = _TAG.findall(subject or "")
    return int(tags[-1]) if tags else None


def on_thread(
    sender: str,
    thread_addresses: list[str],
    operator_domains,
    *,
    engineer: bool = False,
    forged: bool = False,
) -> bool:
    """Is `sender` one of a ticket's people (SPEC §6a)?

    They are the addresses that opened the thread or wrote on it and were accepted
    (`thread_addresses`), the verified engineers (`engineer`), and colleagues at one of those
    addresses' domains when that domain is in `operator_domains` and is not a public mail
    domain: sharing a domain proves nothing otherwise (free mail). Addresses compare in their
    one canonical form (SPEC §6b). A forged engineer mail is on no thread.
    """
    sender = canonical_address(sender)
    if forged or "@" not in sender:
        return False
    if engineer:
        return True
    addresses = {canonical_address(a) for a in thread_addresses}
    if sender in addresses:
        return True
    domain = domain_of(sender)
    return domain in trusted_domains(operator_domains) and any(
        domain_of(a) == domain for a in addresses
    )


def reply_subject(original: str, ticket_id: int) -> str:
    """`Re: <original> [工单#id]`, without piling up prefixes or tags, its phones masked and no
    control character in it: the subject is the operator's text quoted back (SPEC §6a)."""
    base = mask_phones_in_text(clean_text(_TAG.sub("", original or ""))).strip()
    base = re.sub(r"^(?:\s*(?:re|回复|答复)\s*[:：]\s*)+", "", base, flags=re.I).strip()
    return f"Re: {base} {subject_tag(ticket_id)}".replace("  ", " ")
