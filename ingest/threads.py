"""Threading rules: the `[工单#N]` subject tag and who may join a ticket by it (SPEC §6)."""

from __future__ import annotations

import re

# Free mail services: sharing one of these domains says nothing about being colleagues.
PUBLIC_DOMAINS = frozenset({
    "qq.com", "foxmail.com", "163.com", "126.com", "yeah.net", "sina.com", "sina.cn", "sohu.com",
    "aliyun.com", "139.com", "189.cn", "wo.cn", "gmail.com", "outlook.com", "hotmail.com",
    "live.com", "yahoo.com", "icloud.com", "me.com",
})
_TAG = re.compile(r"\[工单\s*#\s*(\d{1,12})\]")


def subject_tag(ticket_id: int) -> str:
    return f"[工单#{ticket_id}]"


def tagged_ticket(subject: str) -> int | None:
    """The ticket number carried in a subject, if any (the last tag wins: it is ours)."""
    tags = _TAG.findall(subject or "")
    return int(tags[-1]) if tags else None


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower() if "@" in address else ""


def may_join_by_tag(sender: str, operator_address: str, engineers: set[str]) -> bool:
    """A tag alone admits the ticket's operator, a colleague at the same domain, or an engineer."""
    sender = sender.lower()
    if not sender:
        return False
    if sender in engineers or sender == operator_address.lower():
        return True
    domain = domain_of(sender)
    return bool(domain) and domain not in PUBLIC_DOMAINS and domain == domain_of(operator_address)


def reply_subject(original: str, ticket_id: int) -> str:
    """`Re: <original> [工单#id]`, without piling up prefixes or tags, its phones masked and no
    control character in it: the subject is the operator's text quoted back (SPEC §6a)."""
    # Imported here: this module is about threads, the masking and cleaning live with their kind.
    from ingest.clean_text import clean_text
    from ingest.completeness import mask_phones_in_text

    base = mask_phones_in_text(clean_text(_TAG.sub("", original or ""))).strip()
    base = re.sub(r"^(?:\s*(?:re|回复|答复)\s*[:：]\s*)+", "", base, flags=re.I).strip()
    return f"Re: {base} {subject_tag(ticket_id)}".replace("  ", " ")
