"""Hand a reply to an SMTP server: the one place an SMTP connection is made."""

from __future__ import annotations

import smtplib
import ssl
from functools import lru_cache

from ingest.config import ConfigError, OutgoingSettings, is_loopback, read_secret
from replies.sending import INTERRUPTED, DeliveryError

# Replies a server gives when it wants a login we did not give or refuses the one we gave.
AUTH_REFUSED = frozenset({530, 534, 535, 538})


class SmtpSender:
    """Deliver with smtplib: TLS by default, STARTTLS, or plain to a loopback host only."""

    def __init__(self, settings: OutgoingSettings, timeout: float = 30.0):
        if settings.security == "plain" and not is_loopback(settings.host):
            # Refused before any connection: the password would cross the network in clear.
            raise DeliveryError(
                f'security = "plain" is only allowed to a loopback host '
                f"(localhost, 127.0.0.0/8, ::1), not {settings.host}; "
                f'use "tls" or "starttls"',
                held=True,
            )
        self.settings = settings
        try:
            self.password = read_secret(
                settings.password_env, settings.password_file, "SMTP password"
            )
        except ConfigError as exc:
            raise DeliveryError(str(exc), held=True) from exc
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        """A logged-in connection, or DeliveryError (unreachable or held)."""
        s = self.settings
        where = f"SMTP server {s.host}:{s.port}"
        smtp = None
        try:
            if s.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=self.timeout, context=_tls_context(s.ca_file)
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
                if s.security == "starttls":
                    smtp.starttls(context=_tls_context(s.ca_file))
            smtp.ehlo_or_helo_if_needed()
            if s.username:
                smtp.login(s.username, self.password)
            return smtp
        except smtplib.SMTPAuthenticationError as exc:
            _quit(smtp)
            raise DeliveryError(
                f"{where} refused the login of {s.username}: SMTP {exc.smtp_code} "
                f"{_text(exc.smtp_error)}",
                held=True,
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:  # no STARTTLS, or no AUTH, offered
            _quit(smtp)
            raise DeliveryError(f"{where}: {exc}", held=True) from exc
        except ssl.SSLError as exc:  # a certificate that does not verify, or TLS on a plain port
            _quit(smtp)
            raise DeliveryError(
                f"{where}: TLS failed ({exc.__class__.__name__}: {exc}); "
                f"check host, port, security and ca_file",
                held=True,
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            _quit(smtp)
            raise DeliveryError(
                f"cannot reach {where}: {exc.__class__.__name__}: {exc}", held=True
            ) from exc

    def __call__(self, raw: bytes, recipients: list[str]) -> None:
        handed_over = taken = False
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        options = _utf8_options(smtp, [self.settings.from_address, *recipients])
        try:
            code, reply = smtp.mail(self.settings.from_address, options)
            taken = True  # the server answered for this reply
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, self.settings.from_address)
            for rcpt in recipients:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, reply)})
            handed_over = True  # from here on the server may hold the message
            code, reply = smtp.data(raw)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise _refusal(exc.smtp_code, exc.smtp_error, before_data=not handed_over) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset()
            code, reply = next(iter(exc.recipients.values()))
            raise _refusal(code, reply, before_data=True) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._close()
            if handed_over:
                # No answer came back: the server may hold it. Sent again after the backoff (at
                # least once, SPEC §9): a second copy beats a reply that never arrives.
                raise DeliveryError(f"{INTERRUPTED} ({exc.__class__.__name__}: {exc})") from exc
            raise DeliveryError(
                f"cannot reach SMTP server {self.settings.host}:{self.settings.port}: "
                f"{exc.__class__.__name__}: {exc}",
                unreachable=True,
                held=not taken,  # gone before MAIL FROM was answered: not this reply's doing
            ) from exc

    def _reset(self) -> None:
        try:
            if self._smtp:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._close()

    def _close(self) -> None:
        _quit(self._smtp)
        self._smtp = None

    close = _close


def _utf8_options(smtp: smtplib.SMTP, addresses: list[str]) -> list[str]:
    """MAIL FROM options: SMTPUTF8 when an address is not ASCII (`张三@例子.cn`, RFC 6531), and
    a permanent failure, seen in `gongdan status`, when the server does not offer it."""
    if all(a.isascii() for a in addresses):
        return []
    if not smtp.has_extn("smtputf8"):
        raise DeliveryError(
            "the recipient's address is not ASCII and the SMTP server does not offer SMTPUTF8 "
            f"(RFC 6531): {', '.join(a for a in addresses if not a.isascii())}",
            transient=False,
        )
    return ["SMTPUTF8", "BODY=8BITMIME"] if smtp.has_extn("8bitmime") else ["SMTPUTF8"]


@lru_cache(maxsize=4)
def _tls_context(ca_file: str) -> ssl.SSLContext:
    """Verifying TLS, made once: loading the system's certificates takes tens of milliseconds."""
    return ssl.create_default_context(cafile=ca_file or None)


def _refusal(code: int, reply, before_data: bool) -> DeliveryError:
    """A server's refusal of one reply; before DATA, a demand for a login is the outbox's fault."""
    if before_data and code in AUTH_REFUSED:
        return DeliveryError(
            f"SMTP server refused to relay without a valid login: SMTP {code} {_text(reply)}",
            held=True,
        )
    return DeliveryError(f"SMTP {code} {_text(reply)}", transient=code < 500)


def _quit(smtp: smtplib.SMTP | None) -> None:
    try:
        if smtp:
            smtp.quit()
    except (OSError, smtplib.SMTPException):
        pass


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
