"""The IMAP mailbox source: the one place gongdan opens an IMAP connection (SPEC §9)."""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError

from ingest.config import MailboxSettings, is_loopback
from ingest.sources import batches
from ingest.sources.errors import SourceDisconnected, SourceError

SECURITIES = ("tls", "starttls", "plain")
SEEN = b"\\Seen"
DELETED = b"\\Deleted"
BODY = b"BODY[]"
SIZE = b"RFC822.SIZE"
SIZES_PER_FETCH = 1000  # UIDs whose sizes are asked in one command

# Errors that mean the connection itself is gone: imaplib raises abort on EOF and on socket
# errors while sending; a read timeout or reset surfaces as OSError (TimeoutError, ConnectionError).
_CONNECTION_ERRORS = (imaplib.IMAP4.abort, OSError, EOFError)


class ImapSource:
    """One IMAP folder read by UID; messages leave it (or get \\Seen) only when told to."""

    def __init__(self, settings: MailboxSettings, password: str, timeout: float = 30.0):
        self.settings = settings
        self._password = password
        self.timeout = timeout
        self.uidvalidity = 0
        self._client: IMAPClient | None = None

    @property
    def where(self) -> str:
        host = self.settings.host
        return f"[{host}]:{self.settings.port}" if ":" in host else f"{host}:{self.settings.port}"

    def connect(self) -> None:
        s = self.settings
        if s.security not in SECURITIES:
            raise SourceError(f"security must be tls, starttls or plain, not {s.security!r}")
        if s.security == "plain" and not is_loopback(s.host):
            # Checked before any socket is opened: the password must never cross a network in clear.
            raise SourceError(f'security = "plain" is allowed only to localhost, not {s.host}')
        context = None
        if s.security != "plain":
            try:
                context = ssl.create_default_context(cafile=s.ca_file or None)
            except (OSError, ssl.SSLError) as exc:
                raise SourceError(f"cannot load ca_file {s.ca_file}: {self._say(exc)}") from None
        try:
            client = IMAPClient(
                s.host, s.port, ssl=s.security == "tls", ssl_context=context, timeout=self.timeout
            )
        except socket.gaierror:
            raise SourceError(f"cannot resolve IMAP host {s.host}") from None
        except ssl.SSLError as exc:
            raise SourceError(f"TLS refused with {self.where}: {self._say(exc)}") from exc
        except _CONNECTION_ERRORS as exc:
            raise SourceDisconnected(f"cannot connect to {self.where}: {self._say(exc)}") from exc
        # imapclient turns imaplib's protocol trace on (debug = 5) for its DEBUG logger; imaplib
        # then formats the repr of every literal it reads, whether or not anything logs it: three
        # copies of each email in memory at once. Kept only when someone reads that logger.
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            client._imap.debug = 0
        self._client = client
        try:
            self._open(client, context)
        except BaseException:
            self.close()
            raise

    def _open(self, client: IMAPClient, context: ssl.SSLContext | None) -> None:
        s = self.settings
        with self._guard("connect"):
            if s.security == "starttls":
                try:
                    client.starttls(context)
                except CapabilityError:
                    raise SourceError(f"{self.where} does not offer STARTTLS") from None
                except ssl.SSLError as exc:
                    raise SourceError(f"TLS refused with {self.where}: {self._say(exc)}") from exc
            try:
                if (s.username + self._password).isascii():
                    client.login(s.username, self._password)
                elif client.has_capability("AUTH=PLAIN"):
                    # LOGIN goes out as ASCII in imaplib; SASL PLAIN carries UTF-8 (RFC 4616).
                    client.plain_login(s.username, self._password)
                else:
                    raise SourceError(
                        f"{self.where} offers no AUTH=PLAIN for a non-ASCII username or password"
                    )
            except LoginError:
                # The server's words are dropped too: some echo the attempted credentials.
                raise SourceError(f"login failed for {s.username} on {self.where}") from None
            # No ENABLE: CONDSTORE/QRESYNC would change SELECT and FETCH responses we never need.
            for extra in (s.processed_folder, s.error_folder):
                if extra and not client.folder_exists(extra):
                    client.create_folder(extra)
            try:
                info = client.select_folder(s.folder, readonly=False)
            except imaplib.IMAP4.abort:
                raise
            except IMAPClientError as exc:
                raise SourceError(
                    f"cannot open folder {s.folder!r} on {self.where}: {self._say(exc)}"
                ) from exc
            self.uidvalidity = int(info[b"UIDVALIDITY"])

    def new_uids(self, after_uid: int) -> list[int]:
        """UIDs above after_uid, ascending; chosen by UID only, so mail read elsewhere still
        counts."""
        client = self._connected()
        with self._guard("search"):
            # SEARCH sees only mail this session was told about; NOOP fetches the news first.
            client.noop()
            found = client.search(["UID", f"{after_uid + 1}:*"])
        # "n:*" always matches the highest UID, even when it is below n.
        return sorted(uid for uid in found if uid > after_uid)

    def fetch(
        self, uids: list[int], batch: int = 50, budget: int = batches.BUDGET
    ) -> Iterator[tuple[int, bytes]]:
        """(uid, raw bytes) in UID order, read with BODY.PEEK[] so nothing is marked read.

        One FETCH takes up to `batch` messages or `budget` bytes of them (by RFC822.SIZE): the
        whole answer is in memory at once, and fifty large messages would be gigabytes.
        """
        wanted = sorted(set(uids))
        for start in range(0, len(wanted), SIZES_PER_FETCH):
            with self._guard("fetch"):
                sizes = self._connected().fetch(wanted[start : start + SIZES_PER_FETCH], [SIZE])
            # A UID with no size was expunged meanwhile; asking for its body finds nothing either.
            sized = [
                (uid, int(sizes[uid][SIZE]))
                for uid in wanted[start : start + SIZES_PER_FETCH]
                if SIZE in sizes.get(uid, {})
            ]
            for chunk in batches.cut(sized, lambda pair: pair[1], batch, budget):
                yield from self._fetch_bodies([uid for uid, _ in chunk])

    def _fetch_bodies(self, chunk: list[int]) -> Iterator[tuple[int, bytes]]:
        with self._guard("fetch"):
            got = self._connected().fetch(chunk, ["BODY.PEEK[]"])
        for uid in chunk:
            # Absent: expunged before this session knew it. BODY[] NIL: Dovecot's answer for a
            # message another session expunged after we saw it. Unsolicited FETCHes for other
            # UIDs (flag changes) also land in `got` but are never asked for here.
            raw = got.get(uid, {}).get(BODY)
            if raw is not None:
                yield uid, bytes(raw)

    def mark_processed(self, uids: int | list[int]) -> None:
        """Move to the processed folder, or flag \\Seen; one command for a whole batch."""
        uids = [uids] if isinstance(uids, int) else list(uids)
        if not uids:
            return
        if self.settings.processed_folder:
            self._move(uids, self.settings.processed_folder)
        else:
            with self._guard("store"):
                self._connected().add_flags(uids, [SEEN], silent=True)

    def mark_unreadable(self, uids: int | list[int]) -> None:
        uids = [uids] if isinstance(uids, int) else list(uids)
        if uids and self.settings.error_folder:
            self._move(uids, self.settings.error_folder)
        else:
            self.mark_processed(uids)

    def processed_leftovers(self, up_to_uid: int) -> list[int]:
        """UIDs <= up_to_uid still in the folder: stored, but the move after it did not happen."""
        # Without a processed folder every handled message stays here by design.
        if not self.settings.processed_folder or up_to_uid < 1:
            return []
        client = self._connected()
        with self._guard("search"):
            client.noop()
            found = client.search(["UID", f"1:{up_to_uid}"])
        return sorted(uid for uid in found if uid <= up_to_uid)

    def supports_idle(self) -> bool:
        return self._connected().has_capability("IDLE")

    def idle_wait(self, timeout: float, stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait in IDLE up to timeout seconds, or until stop(); True if new mail may have arrived.

        IDLE is left before returning, so the caller renews it by calling again (servers end an
        IDLE after 30 minutes at the least, RFC 2177). Only EXISTS counts as news: Dovecot also
        sends RECENT and EXPUNGE when another session moves mail away, which brings nothing new.
        """
        client = self._connected()
        deadline = time.monotonic() + timeout
        news = False
        with self._guard("idle"):
            client.idle()
            while not news and not stop():
                step = min(1.0, deadline - time.monotonic())  # short steps, so stop() is heard
                if step <= 0:
                    break
                began = time.monotonic()
                responses = client.idle_check(timeout=step)
                if any(r[0] == b"BYE" for r in responses):
                    raise SourceDisconnected(f"{self.where} closed the connection during idle")
                news = any(len(r) > 1 and r[1] == b"EXISTS" for r in responses)
                if not responses and time.monotonic() - began < step / 2:
                    # Readable but nothing read: imapclient swallows EOF here. DONE finds out.
                    break
            _text, responses = client.idle_done()
        return news or any(len(r) > 1 and r[1] == b"EXISTS" for r in responses)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            try:
                client.shutdown()
            except Exception:
                pass  # already gone; nothing left to release

    def _move(self, uids: list[int], folder: str) -> None:
        client = self._connected()
        with self._guard("move"):
            if client.has_capability("MOVE"):
                client.move(uids, folder)
                return
            client.copy(uids, folder)
            client.add_flags(uids, [DELETED], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                # Plain EXPUNGE also removes mail others flagged \Deleted, which they asked for
                # anyway.
                client.expunge()

    def _connected(self) -> IMAPClient:
        if self._client is None:
            raise SourceError(f"not connected to {self.where}")
        return self._client

    @contextmanager
    def _guard(self, action: str):
        try:
            yield
        except SourceError:
            raise
        except _CONNECTION_ERRORS as exc:
            raise SourceDisconnected(
                f"connection to {self.where} lost during {action}: {self._say(exc)}"
            ) from exc
        except IMAPClientError as exc:
            raise SourceError(f"{action} failed on {self.where}: {self._say(exc)}") from exc

    def _say(self, exc: BaseException) -> str:
        """The first line of exc, short, and never holding the password."""
        text = (str(exc).strip() or type(exc).__name__).splitlines()[0][:200]
        return text.replace(self._password, "***") if self._password else text
