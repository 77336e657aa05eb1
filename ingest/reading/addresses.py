"""One form of an address (SPEC §6b): domains as IDNA 2008 / UTS-46 lower-case A-labels, local
parts in lower case, and the public mail domains that are never anyone's colleagues."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib.resources import files

import idna


def _unseen(text: str) -> str:
    """`text` in NFKC without format characters (a soft hyphen, a zero-width space): full-width
    letters and invisible marks never make a second spelling."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


@lru_cache(maxsize=4096)
def canonical_domain(domain: str) -> str:
    """A domain as compared, counted, stored and written to: UTS-46 mapping to lower-case
    A-labels (`例子.CN` and `ｘｎ--fsqu00a.cn` are `xn--fsqu00a.cn`); a look-alike in another
    script stays another domain. A name IDNA refuses (an underscore, an empty label) is kept in
    NFKC lower case, so it still has one form."""
    domain = domain.strip().lstrip("@").rstrip(".。．｡")
    if not domain:
        return ""
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return _unseen(domain).lower().rstrip(".")


def split(address: str) -> tuple[str, str]:
    """(local part, domain) of an address; ("", "") when it has no `@`."""
    local, at, domain = address.strip().rpartition("@")
    return (local, domain) if at else ("", "")


@lru_cache(maxsize=4096)
def canonical_address(address: str) -> str:
    """An address in its one form: the local part in NFKC lower case without invisible marks
    (local parts compare case-insensitively), the domain canonical. Text without `@` is
    returned trimmed and in lower case."""
    local, domain = split(address)
    if not domain:
        return address.strip().lower()
    return f"{_unseen(local).lower()}@{canonical_domain(domain)}"


def domain_of(address: str) -> str:
    """The canonical domain of an address ("" without `@`)."""
    return canonical_domain(split(address)[1]) if "@" in address else ""


def mailbox_of(address: str) -> str:
    """The mailbox an address reaches, to count replies by: its canonical form without a `+tag`
    on the local part (`a+1@x` and `A+2@Ｘ` both reach `a@x`)."""
    address = canonical_address(address)
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return address
    base = local.split("+", 1)[0]
    return f"{base or local}@{domain}"


def is_ascii(address: str) -> bool:
    """Can the address travel without SMTPUTF8 (RFC 6531)?"""
    return address.isascii()


@lru_cache(maxsize=1)
def public_domains() -> frozenset[str]:
    """The shipped list of public mail domains (ingest/data/public_mail_domains.txt)."""
    text = files("ingest").joinpath("data/public_mail_domains.txt").read_text("utf-8")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return frozenset(canonical_domain(line) for line in lines if line)


def is_public(domain: str) -> bool:
    """Is `domain` a public mail service, where sharing a domain proves nothing?"""
    return canonical_domain(domain) in public_domains()


def trusted_domains(operator_domains) -> set[str]:
    """The operator domains that may vouch for a colleague or a Reply-To: canonical, and never a
    public mail domain, whatever the config lists (SPEC §6b)."""
    domains = {canonical_domain(d) for d in operator_domains}
    return {d for d in domains if d and d not in public_domains()}
