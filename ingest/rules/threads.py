"""Threading rules: the `[工单#N]` subject tag, and who is on a ticket's thread (SPEC §6a)."""

from __future__ import annotations

import re

from ingest.reading.clean_text import clean_text
from ingest.reading.phones import mask_phones_in_text

_TAG = re.compile(r"\[工单\s*#\s*(\d{1,12})\]")


def subject_tag(ticket_id: int) -> str:
    return f"[工单#{ticket_id}]"


def tagged_ticket(subject: str) -> int | None:
    """The ticket number carried in a subject, if any (the last tag wins: it is ours)."""
    tags = _TAG.findall(subject or "")
    return int(tags[-1]) if tags else None


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower() if "@" in address else ""


def mailbox_of(address: str) -> str:
    """The mailbox an address reaches: lower case, without a `+tag` on the local part
    (`a+1@x` and `a+2@x` both reach `a@x`)."""
    address = address.strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return address
    base = local.split("+", 1)[0]
    return f"{base or local}@{domain}"


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
    addresses' domains when that domain is in `operator_domains`: sharing a domain proves
    nothing otherwise (free mail). A forged engineer mail is on no thread.
    """
    sender = sender.strip().lower()
    if forged or "@" not in sender:
        return False
    if engineer:
        return True
    addresses = {a.lower() for a in thread_addresses}
    if sender in addresses:
        return True
    domain = domain_of(sender)
    trusted = {d.strip().lower().lstrip("@") for d in operator_domains}
    return domain in trusted and any(domain_of(a) == domain for a in addresses)


def reply_subject(original: str, ticket_id: int) -> str:
    """`Re: <original> [工单#id]`, without piling up prefixes or tags, its phones masked and no
    control character in it: the subject is the operator's text quoted back (SPEC §6a)."""
    base = mask_phones_in_text(clean_text(_TAG.sub("", original or ""))).strip()
    base = re.sub(r"^(?:\s*(?:re|回复|答复)\s*[:：]\s*)+", "", base, flags=re.I).strip()
    return f"Re: {base} {subject_tag(ticket_id)}".replace("  ", " ")
