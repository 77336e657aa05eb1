"""ImapSource against a real Dovecot on loopback: selection by UID, exact bytes, moves, failures."""

from __future__ import annotations

import base64
import logging
import select
import shutil
import socket
import ssl
import subprocess
import threading

import pytest
from imapclient import IMAPClient

from ingest.config import MailboxSettings
from ingest.sources.imap import ImapSource, SourceDisconnected, SourceError
from tests.servers import wait_port_free

BODY_GBK = "充电桩无法启动，屏幕显示 E07。\r\n站点：深圳南山 3 号桩\r\n".encode("gbk")
# base64 in 76-column lines with CRLF, as Foxmail sends GBK mail: must come back byte for byte.
RAW_GBK_B64 = (
    b"From: =?GBK?B?" + base64.b64encode("张三".encode("gbk")) + b"?= <ops@xingxing.example.cn>\r\n"
    b"To: support@gongdan.example.cn\r\n"
    b"Subject: =?GBK?B?" + base64.b64encode("充电桩故障".encode("gbk")) + b"?=\r\n"
    b"Message-ID: <gbk-1@xingxing.example.cn>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: text/plain; charset="gbk"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + b"\r\n".join(base64.encodebytes(BODY_GBK * 4).splitlines()) + b"\r\n"
)
# Raw 8-bit GBK with no charset label: the bytes must not be "repaired" on the way through.
RAW_GBK_8BIT = (
    b"From: ops@example.cn\r\nSubject: 8bit\r\nMessage-ID: <gbk-2@example.cn>\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\n" + BODY_GBK
)


def mail(n: int) -> bytes:
    return (
        f"From: ops@example.cn\r\nSubject: ticket {n}\r\nMessage-ID: <m{n}@example.cn>\r\n\r\n"
        f"body {n}\r\n"
    ).encode()


def settings(dovecot, user: str, **overrides) -> MailboxSettings:
    values = dict(
        kind="imap",
        host="127.0.0.1",
        port=dovecot.port,
        security="plain",
        username=user,
        folder="INBOX",
    )
    values.update(overrides)
    return MailboxSettings(**values)


@pytest.fixture
def box(dovecot, dovecot_user):
    """(user, password, open) where open(**settings) returns a connected ImapSource, closed
    after."""
    user, password = dovecot_user
    opened = []

    def open_source(**overrides) -> ImapSource:
        source = ImapSource(settings(dovecot, user, **overrides), password, timeout=10)
        source.connect()
        opened.append(source)
        return source

    yield user, password, open_source
    for source in opened:
        source.close()


def other_client(dovecot, user: str, folder: str = "INBOX") -> IMAPClient:
    """A second, independent session: "another mail client" looking at the same mailbox."""
    client = dovecot.client(user)
    client.select_folder(folder)
    return client


def flags_of(dovecot, user: str, folder: str = "INBOX") -> dict[int, tuple]:
    client = other_client(dovecot, user, folder)
    try:
        uids = client.search("ALL")
        return (
            {uid: data[b"FLAGS"] for uid, data in client.fetch(uids, ["FLAGS"]).items()}
            if uids
            else {}
        )
    finally:
        client.logout()


def test_new_uids_after_zero_and_after_a_uid(dovecot, box):
    user, _, open_source = box
    source = open_source()
    assert source.new_uids(0) == []  # an empty folder: "1:*" matches nothing
    for n in range(1, 4):
        dovecot.append(user, mail(n))
    assert source.new_uids(0) == [1, 2, 3]
    assert source.new_uids(1) == [2, 3]
    # "UID 3:*" and "UID 9:*" still match UID 3, the highest: it must not come back as new.
    assert source.new_uids(3) == []
    assert source.new_uids(9) == []
    dovecot.deliver(user, mail(4))  # arrives over LMTP while the session is open
    assert source.new_uids(3) == [4]


def test_fetch_returns_exact_bytes_and_leaves_mail_unread(dovecot, box):
    user, _, open_source = box
    dovecot.append(user, RAW_GBK_B64)
    dovecot.append(user, RAW_GBK_8BIT)
    dovecot.append(user, mail(3))
    source = open_source()
    got = list(source.fetch([3, 1, 2], batch=2))
    assert [uid for uid, _ in got] == [1, 2, 3]  # UID order, whatever order was asked
    assert got[0][1] == RAW_GBK_B64
    assert got[1][1] == RAW_GBK_8BIT
    assert got[2][1] == mail(3)
    assert all(b"\\Seen" not in flags for flags in flags_of(dovecot, user).values())


def test_fetch_skips_uids_that_vanished(dovecot, box):
    user, _, open_source = box
    for n in range(1, 4):
        dovecot.append(user, mail(n))
    source = open_source()
    other = other_client(dovecot, user)
    other.delete_messages([2])
    other.uid_expunge([2])
    other.logout()
    # UID 2 was expunged by another session after ours selected: Dovecot answers BODY[] NIL.
    assert [uid for uid, _ in source.fetch([1, 2, 3, 77])] == [1, 3]


def test_mail_already_read_elsewhere_is_still_new(dovecot, box):
    user, _, open_source = box
    dovecot.append(user, mail(1))
    dovecot.append(user, mail(2))
    other = other_client(dovecot, user)
    other.add_flags([1], [b"\\Seen"])  # a person opened it in their own client
    other.logout()
    source = open_source()
    assert source.new_uids(0) == [1, 2]
    assert [uid for uid, _ in source.fetch([1, 2])] == [1, 2]


def test_mark_processed_without_processed_folder_sets_seen(dovecot, box):
    user, _, open_source = box
    dovecot.append(user, mail(1))
    dovecot.append(user, mail(2))
    source = open_source()
    source.mark_processed(1)
    flags = flags_of(dovecot, user)
    assert set(flags) == {1, 2}  # nothing moved
    assert b"\\Seen" in flags[1] and b"\\Seen" not in flags[2]
    assert source.processed_leftovers(2) == []  # everything stays by design without a folder


def test_mark_processed_moves_to_processed_folder(dovecot, box):
    user, _, open_source = box
    for n in range(1, 4):
        dovecot.append(user, mail(n))
    source = open_source(
        processed_folder="已处理"
    )  # created on connect, modified UTF-7 on the wire
    source.mark_processed(1)
    source.mark_processed(2)
    assert source.new_uids(0) == [3]
    assert set(flags_of(dovecot, user)) == {3}
    moved = other_client(dovecot, user, "已处理")
    try:
        bodies = [d[b"BODY[]"] for d in moved.fetch(moved.search("ALL"), ["BODY.PEEK[]"]).values()]
    finally:
        moved.logout()
    assert bodies == [mail(1), mail(2)]


def test_mark_processed_without_move_capability_copies_and_expunges(dovecot, box):
    user, _, open_source = box
    dovecot.append(user, mail(1))
    dovecot.append(user, mail(2))
    source = open_source(processed_folder="Processed")
    client = source._client
    # Pretend the server lacks MOVE (RFC 6851), as some older servers do.
    client._cached_capabilities = tuple(c for c in client.capabilities() if c != b"MOVE")
    assert not client.has_capability("MOVE")
    source.mark_processed(1)
    assert set(flags_of(dovecot, user)) == {2}
    assert len(flags_of(dovecot, user, "Processed")) == 1


def test_mark_unreadable(dovecot, box):
    user, _, open_source = box
    for n in range(1, 4):
        dovecot.append(user, mail(n))
    source = open_source(processed_folder="Processed", error_folder="Unreadable")
    source.mark_unreadable(1)
    source.mark_processed(2)
    assert set(flags_of(dovecot, user)) == {3}
    assert len(flags_of(dovecot, user, "Unreadable")) == 1
    assert len(flags_of(dovecot, user, "Processed")) == 1
    source.close()
    # Without an error folder an unreadable message is handled like a processed one.
    plain = open_source()
    plain.mark_unreadable(3)
    assert b"\\Seen" in flags_of(dovecot, user)[3]


def test_processed_leftovers(dovecot, box):
    user, _, open_source = box
    for n in range(1, 6):
        dovecot.append(user, mail(n))
    source = open_source(processed_folder="Processed")
    # Stored 1..4, then "crashed" after moving only 1 and 3.
    source.mark_processed(1)
    source.mark_processed(3)
    assert source.processed_leftovers(4) == [2, 4]
    assert source.processed_leftovers(0) == []
    assert source.processed_leftovers(1) == []  # "1:1" must not match anything else
    for uid in source.processed_leftovers(4):
        source.mark_processed(uid)
    assert source.processed_leftovers(4) == []
    assert source.new_uids(4) == [5]


def test_uidvalidity_changes_when_folder_is_recreated(dovecot, box):
    user, _, open_source = box
    dovecot.append(user, mail(1), folder="Tickets")
    source = open_source(folder="Tickets")
    first = source.uidvalidity
    assert first > 0
    source.close()
    admin = dovecot.client(user)
    admin.delete_folder("Tickets")
    admin.create_folder("Tickets")
    admin.append("Tickets", mail(2))
    admin.logout()
    again = open_source(folder="Tickets")
    assert again.uidvalidity != first
    assert again.new_uids(0) == [1]  # UIDs restart: the caller must not trust old ones


def test_missing_folder_is_a_clear_error(dovecot, box):
    _, _, open_source = box
    with pytest.raises(SourceError, match="cannot open folder 'Nope'"):
        open_source(folder="Nope")


def test_plain_refused_to_remote_host_before_any_network(monkeypatch, dovecot_user):
    def no_network(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    source = ImapSource(
        MailboxSettings(
            kind="imap",
            host="imap.example.cn",
            port=143,
            security="plain",
            username="support@example.cn",
        ),
        "secret",
    )
    with pytest.raises(SourceError, match="plain.*only to localhost.*imap.example.cn"):
        source.connect()
    source.close()  # never raises, even when nothing was opened


class TlsFront:
    """Implicit TLS on a loopback port, relayed to Dovecot's plain port (the test Dovecot has
    ssl = no)."""

    def __init__(self, target_port: int, certfile: str, keyfile: str):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certfile, keyfile)
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        try:
            outer = self.context.wrap_socket(conn, server_side=True)
        except OSError:
            conn.close()  # the client refused our certificate: exactly what some tests expect
            return
        inner = socket.create_connection(("127.0.0.1", self.target_port))
        # One thread and select(): an SSL socket must not be read and written from two threads.
        try:
            while True:
                ready = [outer] if outer.pending() else select.select([outer, inner], [], [], 10)[0]
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (inner if sock is outer else outer).sendall(data)
        except OSError:
            return
        finally:
            inner.close()
            outer.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def tls_front(dovecot, tmp_path_factory):
    """(port, ca_file): a self-signed certificate for 127.0.0.1 in front of Dovecot."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    front = TlsFront(dovecot.port, str(cert), str(key))
    yield front.port, str(cert)
    front.close()


def test_tls_with_ca_file(dovecot, dovecot_user, tls_front):
    user, password = dovecot_user
    dovecot.append(user, mail(1))
    port, ca_file = tls_front
    source = ImapSource(
        settings(dovecot, user, security="tls", port=port, ca_file=ca_file), password, timeout=5
    )
    source.connect()
    try:
        assert [raw for _, raw in source.fetch(source.new_uids(0))] == [mail(1)]
    finally:
        source.close()


def test_tls_certificate_not_trusted_is_refused(dovecot, dovecot_user, tls_front):
    user, password = dovecot_user
    port, _ = tls_front
    # Without ca_file only the system's CAs count, and they never signed this certificate.
    source = ImapSource(settings(dovecot, user, security="tls", port=port), password, timeout=5)
    with pytest.raises(SourceError, match="TLS refused.*certificate verify failed") as err:
        source.connect()
    assert not isinstance(err.value, SourceDisconnected)


def test_missing_ca_file_is_a_clear_error(dovecot, dovecot_user):
    user, password = dovecot_user
    source = ImapSource(
        settings(dovecot, user, security="tls", ca_file="/nonexistent/ca.pem"), password
    )
    with pytest.raises(SourceError, match="cannot load ca_file /nonexistent/ca.pem"):
        source.connect()


def test_unknown_security_refused(dovecot, dovecot_user):
    user, password = dovecot_user
    with pytest.raises(SourceError, match="security must be tls, starttls or plain"):
        ImapSource(settings(dovecot, user, security="ssl"), password).connect()


def test_tls_to_a_plain_port_is_refused(dovecot, dovecot_user):
    user, password = dovecot_user
    with pytest.raises(SourceError, match="TLS refused") as err:
        ImapSource(settings(dovecot, user, security="tls"), password, timeout=5).connect()
    assert not isinstance(err.value, SourceDisconnected)


def test_starttls_not_offered_is_refused(dovecot, dovecot_user):
    user, password = dovecot_user
    source = ImapSource(settings(dovecot, user, security="starttls"), password, timeout=5)
    with pytest.raises(SourceError, match="does not offer STARTTLS"):
        source.connect()
    assert source._client is None  # closed again, no half-open session left behind


def test_wrong_password(dovecot, dovecot_user):
    user, _ = dovecot_user
    wrong = "Wr0ng-PaSS-秘密"
    source = ImapSource(settings(dovecot, user), wrong, timeout=5)
    with pytest.raises(SourceError) as err:
        source.connect()
    assert str(err.value) == f"login failed for {user} on 127.0.0.1:{dovecot.port}"
    assert wrong not in repr(err.value)
    assert not isinstance(err.value, SourceDisconnected)


def test_non_ascii_and_quoted_passwords_log_in(dovecot, box, caplog):
    caplog.set_level(
        logging.DEBUG
    )  # imapclient logs every command at DEBUG, LOGIN/AUTHENTICATE hidden
    for n, password in enumerate(('Pass word"1\\', 'pw "引号" \\ back')):
        user = (
            f"{box[0]}q{n}"  # a new passwd-file each: Dovecot rereads a changed one only after 1 s
        )
        dovecot.add_user(user, password)
        source = ImapSource(settings(dovecot, user), password, timeout=5)
        source.connect()
        assert source.new_uids(0) == []
        source.close()
    with pytest.raises(SourceError, match="login failed") as err:
        ImapSource(settings(dovecot, user), "错误密码", timeout=5).connect()
    assert "错误密码" not in str(err.value)
    assert "AUTHENTICATE" in caplog.text and "LOGIN" in caplog.text
    for secret in (
        "引号",
        "word",
        "错误密码",
        base64.b64encode(b"\0" + user.encode() + b"\0").decode()[:8],
    ):
        assert secret not in caplog.text


def test_server_down_is_a_disconnect(dovecot, dovecot_user):
    user, password = dovecot_user
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceDisconnected, match=f"cannot connect to 127.0.0.1:{port}"):
        ImapSource(settings(dovecot, user, port=port), password, timeout=5).connect()


def test_connection_cut_mid_fetch_then_resume(dovecot, box):
    user, _, open_source = box
    for n in range(1, 6):
        dovecot.append(user, mail(n))
    source = open_source(processed_folder="Processed")
    stored = []
    with pytest.raises(SourceDisconnected, match="lost during fetch"):
        for uid, _raw in source.fetch(source.new_uids(0), batch=2):
            stored.append(uid)  # "committed to the database"
            if uid == 2:
                source._client._imap.sock.shutdown(socket.SHUT_RDWR)  # the network goes away
                continue  # so 2 is never moved; the next batch needs the network
            source.mark_processed(uid)
    assert stored == [1, 2]
    with pytest.raises(SourceDisconnected):  # the dead session keeps saying so
        source.new_uids(0)
    source.close()

    again = open_source(processed_folder="Processed")
    assert again.processed_leftovers(max(stored)) == [2]  # stored, but its move was cut off
    todo = again.new_uids(max(stored))
    assert [uid for uid, _ in again.fetch(todo)] == [3, 4, 5]


def test_server_killed_then_restarted(dovecot, box):
    user, _, open_source = box
    for n in range(1, 4):
        dovecot.append(user, mail(n))
    source = open_source()
    assert source.new_uids(0) == [1, 2, 3]
    dovecot.kill()  # like a crash: the session dies without a BYE
    try:
        with pytest.raises(SourceDisconnected):
            list(source.fetch([1, 2, 3]))
        source.close()
    finally:
        wait_port_free(dovecot.port, 10)
        wait_port_free(dovecot.lmtp_port, 10)
        dovecot.start()
    again = open_source()
    assert [raw for _, raw in again.fetch(again.new_uids(0))] == [mail(1), mail(2), mail(3)]
