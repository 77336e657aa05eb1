"""What a mailbox source raises, whatever its kind (here, not in imap.py: a Maildir desk's poll
loads no IMAP client)."""


class SourceError(RuntimeError):
    """The mailbox cannot be used as configured; the message says why in one line."""


class SourceDisconnected(SourceError):
    """The connection dropped; the caller may reconnect and resume from the last stored UID."""
