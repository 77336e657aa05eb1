"""Hand a reply to the world: over SMTP (the one place an SMTP connection is made) or into a Maildir."""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from ingest.config import OutgoingSettings, read_secret
from replies.outbox import INTERRUPTED, DeliveryError

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class SmtpSender:
    """Deliver with smtplib: TLS by default, STARTTLS, or plain to localhost only."""

    def __init__(self, settings: OutgoingSettings, timeout: float = 30.0):
        if settings.security == "plain" and settings.host not in LOCAL_HOSTS:
            raise DeliveryError(f"plain SMTP is only allowed to localhost, not {settings.host}", transient=False)
        self.settings = settings
        self.password = read_secret(settings.password_env, settings.password_file, "[outgoing]")
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout, context=_tls_context(s.ca_file))
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
            if s.security == "starttls":
                smtp.starttls(context=_tls_context(s.ca_file))
        smtp.ehlo_or_helo_if_needed()
        if s.username:
            smtp.login(s.username, self.password)
        return smtp

    def __call__(self, raw: bytes, recipients: list[str], before_data: Callable[[], None]) -> None:
        handed_over = False
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            smtp = self._smtp
            code, reply = smtp.mail(self.settings.from_address)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, self.settings.from_address)
            for rcpt in recipients:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, reply)})
            before_data()  # from here on a crash may leave the server holding the message
            handed_over = True
            code, reply = smtp.data(raw)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise DeliveryError(f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}", transient=exc.smtp_code < 500) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset()
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(f"SMTP {code} {_text(reply)}", transient=code < 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._close()
            if handed_over:
                # The message went out but no answer came back: the server may hold it. Retrying
                # could give the operator a second copy, so it is left for a person to check.
                raise DeliveryError(f"{INTERRUPTED} ({exc.__class__.__name__}: {exc})", transient=False) from exc
            raise DeliveryError(f"cannot reach SMTP server {self.settings.host}:{self.settings.port}: "
                                f"{exc.__class__.__name__}: {exc}", unreachable=True) from exc

    def _reset(self) -> None:
        try:
            if self._smtp:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._close()

    def _close(self) -> None:
        try:
            if self._smtp:
                self._smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
        self._smtp = None

    close = _close


@lru_cache(maxsize=4)
def _tls_context(ca_file: str) -> ssl.SSLContext:
    """Verifying TLS, made once: loading the system's certificates takes tens of milliseconds."""
    return ssl.create_default_context(cafile=ca_file or None)


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class MaildirSink:
    """The embedded default outbox: each reply becomes one file in a Maildir's new/."""

    def __init__(self, path: str):
        self.path = Path(path)
        for sub in ("new", "cur", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def __call__(self, raw: bytes, recipients: list[str], before_data: Callable[[], None]) -> None:
        # A name derived from the content makes a retried delivery land on the same file.
        name = f"{hashlib.sha256(raw).hexdigest()[:24]}.gongdan"
        if (self.path / "new" / name).exists() or any((self.path / "cur").glob(f"{name}*")):
            return
        before_data()
        tmp = self.path / "tmp" / name
        tmp.write_bytes(raw)
        os.replace(tmp, self.path / "new" / name)

    def close(self) -> None:
        pass


def make_sender(settings: OutgoingSettings):
    if settings.kind == "smtp":
        return SmtpSender(settings)
    return MaildirSink(settings.path)

