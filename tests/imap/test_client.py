"""The IMAP client against the real private Dovecot (fixtures in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import shutil
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sync.dovecot import DovecotServer, MailUser
from sync.events import Subscription
from sync.imap import (
    Exists,
    Expunge,
    FetchResult,
    ImapClient,
    ImapCommandError,
    ImapDisconnected,
    ImapSecurityError,
    ImapTimeout,
    MailboxStatus,
    QresyncParams,
    Security,
    Unsolicited,
    Vanished,
)
from tests.rig.corpus import make_message, message_id_for, seed_maildir, subject_for
from tests.rig.device import Device
from tests.rig.proxy import FaultProxy

ENVELOPE_ITEMS = ["UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]


async def login(user: MailUser, *, port: int | None = None, limit: float = 10.0) -> ImapClient:
    """A logged-in client over plain IMAP (loopback); ``limit`` is its timeout."""
    server = user.server
    client = await ImapClient.connect(
        server.host, port or server.imap_port, security="none", timeout=limit
    )
    await client.login(user.username, user.password)
    return client


@contextlib.asynccontextmanager
async def logged_in(user: MailUser, limit: float = 10.0) -> AsyncIterator[ImapClient]:
    client = await login(user, limit=limit)
    try:
        yield client
    finally:
        await client.close()


def raw_message(headers: list[bytes], body: bytes = b"body\r\n") -> bytes:
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


async def next_event(
    subscription: Subscription[Unsolicited], kind: type, limit: float = 5.0
) -> Unsolicited:
    """The next event of ``kind`` on a subscription (others are skipped)."""
    deadline = time.monotonic() + limit
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {kind.__name__} within {limit} s")
        event = await asyncio.wait_for(subscription.get(), remaining)
        if isinstance(event, kind):
            return event


# --- content comes back exactly as stored ---

TRICKY_SUBJECTS = [
    "Meeting * notes",
    "sad :(",
    "a (b) c ) (",
    'quote " and \\ backslash',
    "{5}",
    "NIL",
    "* 3 EXISTS",
]


async def test_tricky_subjects_and_addresses_come_back_exactly(
    mail_user: MailUser, device: Device
) -> None:
    uids: dict[int, str] = {}
    for index, subject in enumerate(TRICKY_SUBJECTS):
        raw = raw_message(
            [
                b"From: " + b'"Name ) ( \\" \\\\ :(" <a' + str(index).encode() + b"@example.org>",
                b"To: undisclosed-recipients:;",
                b"Subject: " + subject.encode(),
                b"Message-ID: <tricky" + str(index).encode() + b"@example.org>",
            ]
        )
        uids[device.append("INBOX", raw)] = subject
    eight_bit = raw_message([b"Subject: Gr\xc3\xbc\xc3\x9fe \xe2\x80\x94 ok", b"From: x@y.org"])
    uids[device.append("INBOX", eight_bit)] = "Grüße — ok"
    cp1252 = raw_message([b"Subject: caf\xe9 \x93menu\x94", b"From: x@y.org"])
    uids[device.append("INBOX", cp1252)] = "café “menu”"
    empty_uid = device.append("INBOX", raw_message([b"X-Nothing: here"]))
    big_header = b"X-Big: " + b"\r\n ".join([b"y" * 70] * 14_000)  # about 1 MB, folded
    big = raw_message([b"Subject: big", big_header, b"From: b@y.org"])
    big_uid = device.append("INBOX", big)

    async with logged_in(mail_user) as client:
        await client.select("INBOX")
        results = await client.uid_fetch(
            "1:*", [*ENVELOPE_ITEMS, "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]"]
        )
    by_uid = {result.uid: result for result in results}
    for uid, subject in uids.items():
        envelope = by_uid[uid].envelope
        assert envelope is not None
        assert envelope.subject == subject
    for index in range(len(TRICKY_SUBJECTS)):
        result = next(
            r for r in results if r.envelope and r.envelope.subject == TRICKY_SUBJECTS[index]
        )
        assert result.envelope is not None
        (sender,) = result.envelope.from_
        assert sender.name == 'Name ) ( " \\ :('
        assert sender.email == f"a{index}@example.org"
        assert result.envelope.message_id == f"<tricky{index}@example.org>"
    empty = by_uid[empty_uid].envelope
    assert empty is not None
    assert (empty.subject, empty.from_, empty.to, empty.message_id) == (None, (), (), None)
    header = by_uid[big_uid].section("BODY[HEADER]")
    assert header is not None and len(header) > 1_000_000
    assert header == device.fetch_raw("INBOX", big_uid).split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert by_uid[big_uid].section("BODY[TEXT]") == b"body\r\n"


async def test_a_20k_folder_in_one_uid_fetch(mail_user: MailUser) -> None:
    count = 20_000
    seed_maildir(
        mail_user.server, mail_user.username, "INBOX", (make_message(i) for i in range(count))
    )
    async with logged_in(mail_user, limit=60) as client:
        selected = await client.select("INBOX", readonly=True)
        assert selected.exists == count
        batches = 0
        results: list[FetchResult] = []
        async for batch in client.uid_fetch_iter("1:*", ENVELOPE_ITEMS):
            batches += 1
            results.extend(batch)
    assert batches > 1  # streamed, not collected at the end
    assert [result.uid for result in results] == list(range(1, count + 1))
    assert all(result.envelope is not None and result.internaldate for result in results)
    # UIDs follow the seeding order: UID n is make_message(n - 1).
    got = [(r.envelope.message_id, r.envelope.subject) for r in results if r.envelope]
    assert got == [(message_id_for(i), subject_for(i)) for i in range(count)]


# --- unsolicited responses reach subscribers ---


async def test_qresync_select_reports_vanished_earlier(mail_user: MailUser, device: Device) -> None:
    uids = [device.append("INBOX", make_message(i)) for i in range(6)]
    async with logged_in(mail_user) as client:
        assert "QRESYNC" in await client.enable("QRESYNC")
        first = await client.select("INBOX")
        assert first.uidvalidity is not None and first.highestmodseq is not None
        await client.unselect()
        device.expunge("INBOX", uids[1:3])
        device.add_flags("INBOX", [uids[4]], ["\\Flagged"])
        with client.unsolicited.subscribe() as events:
            again = await client.select(
                "INBOX", qresync=QresyncParams(first.uidvalidity, first.highestmodseq)
            )
            vanished = await next_event(events, Vanished)
        assert isinstance(vanished, Vanished) and vanished.earlier
        assert set(vanished.uids) == set(uids[1:3])
        assert set(again.vanished) == set(uids[1:3])
        assert [(c.uid, c.flags) for c in again.changes] == [(uids[4], ("\\Flagged",))]


async def test_unsolicited_during_idle(mail_user: MailUser, device: Device) -> None:
    first = device.append("INBOX", make_message(1))
    async with logged_in(mail_user) as client:
        await client.select("INBOX")
        with client.unsolicited.subscribe() as events:
            async with client.idle() as idle:
                device.append("INBOX", make_message(2))
                assert (await next_event(events, Exists)) == Exists(2)
                device.add_flags("INBOX", [first], ["\\Seen"])
                change = await next_event(events, FetchResult)
                assert isinstance(change, FetchResult)
                assert change.seq == 1 and change.flags is not None and "\\Seen" in change.flags
                device.expunge("INBOX", [first])
                assert (await next_event(events, Expunge)) == Expunge(1)
                # The IdleSession saw the same events, in order, as every subscriber.
                assert [type(e) for e in await idle.wait(1)] == [Exists, FetchResult, Expunge]
                assert await idle.wait(0.05) == []
        assert await client.noop() == []  # the IDLE ended cleanly; the connection works


async def test_unsolicited_during_another_command(mail_user: MailUser, device: Device) -> None:
    first = device.append("INBOX", make_message(1))
    second = device.append("INBOX", make_message(2))
    async with logged_in(mail_user) as client:
        await client.enable("QRESYNC")
        await client.select("INBOX")
        with client.unsolicited.subscribe() as events:
            device.add_flags("INBOX", [first], ["\\Flagged"])
            device.append("INBOX", make_message(3))
            device.expunge("INBOX", [second])
            # The server reports those changes while answering this unrelated FETCH.
            results = await client.uid_fetch([first], ["ENVELOPE"])
            assert [r.uid for r in results] == [first]
            assert results[0].envelope is not None
            seen: list[Unsolicited] = []
            while (event := events.get_nowait()) is not None:
                seen.append(event)
        kinds = {type(event) for event in seen}
        assert {FetchResult, Exists, Vanished} <= kinds, seen
        flag_change = next(e for e in seen if isinstance(e, FetchResult))
        assert flag_change.uid == first and flag_change.flags is not None
        assert "\\Flagged" in flag_change.flags and flag_change.envelope is None
        vanished = next(e for e in seen if isinstance(e, Vanished))
        assert list(vanished.uids) == [second] and not vanished.earlier


# --- failures surface as typed errors within the timeout ---


@pytest.fixture
def private_server() -> Iterator[DovecotServer]:
    base = Path(tempfile.mkdtemp(prefix="mailtui-imap-kill-"))
    base.chmod(0o755)
    server = DovecotServer.start(base)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


async def test_killing_the_server_during_idle_is_a_disconnect(
    private_server: DovecotServer,
) -> None:
    user = private_server.add_user()
    client = await login(user, limit=3)
    try:
        await client.select("INBOX")
        with client.unsolicited.subscribe() as events:
            with pytest.raises(ImapDisconnected):
                async with client.idle() as idle:
                    await asyncio.to_thread(private_server.stop)  # every process is gone
                    stopped = time.monotonic()
                    while True:
                        await idle.wait(5)
            assert time.monotonic() - stopped < 3  # the client's timeout
            # a BYE from the dying server, then the disconnect, reach subscribers too
            kinds = []
            while (event := events.get_nowait()) is not None:
                kinds.append(type(event).__name__)
            assert "Disconnected" in kinds
        with pytest.raises(ImapDisconnected):
            await client.noop()
    finally:
        await client.close()


async def test_killing_the_server_during_a_fetch_is_a_disconnect(
    private_server: DovecotServer,
) -> None:
    user = private_server.add_user()
    # 40 MB of bodies: far more than the socket buffers hold when the server dies.
    seed_maildir(
        private_server,
        user.username,
        "INBOX",
        (make_message(i, size=200_000) for i in range(200)),
    )
    # Through the proxy, held still while the server is stopped: on loopback Dovecot could
    # otherwise write all 40 MB before the stop lands, and the fetch would simply complete.
    proxy = FaultProxy(private_server.host, private_server.imap_port)
    client = await login(user, port=proxy.port, limit=3)
    try:
        await client.select("INBOX")
        stopped = 0.0
        received = 0
        with pytest.raises(ImapDisconnected):
            async for batch in client.uid_fetch_iter("1:*", ["BODY.PEEK[]"]):
                received += len(batch)
                if not stopped:
                    proxy.stall(True)
                    await asyncio.to_thread(private_server.stop)  # every process is gone
                    proxy.stall(False)  # what the server had sent arrives, then the close
                    stopped = time.monotonic()
        assert 0 < received < 200
        assert time.monotonic() - stopped < 3  # the client's timeout
    finally:
        await client.close()
        proxy.close()


async def test_connection_cut_during_fetch_fails_the_fetch(
    mail_user: MailUser, proxy: FaultProxy
) -> None:
    seed_maildir(
        mail_user.server, mail_user.username, "INBOX", (make_message(i) for i in range(3000))
    )
    client = await login(mail_user, port=proxy.port, limit=3)
    try:
        await client.select("INBOX")
        proxy.set_latency(0.05)
        started = time.monotonic()
        with pytest.raises(ImapDisconnected):
            async for _batch in client.uid_fetch_iter("1:*", ENVELOPE_ITEMS):
                proxy.cut()
        assert time.monotonic() - started < 4
    finally:
        await client.close()


async def test_stalled_link_times_out(mail_user: MailUser, proxy: FaultProxy) -> None:
    client = await login(mail_user, port=proxy.port, limit=1)
    try:
        proxy.stall(True)
        started = time.monotonic()
        with pytest.raises(ImapTimeout):
            await client.noop()
        assert time.monotonic() - started < 2.5
        with pytest.raises(ImapDisconnected):
            await client.noop()
    finally:
        await client.close()


async def test_stalled_link_fails_a_pending_fetch_and_idle(
    mail_user: MailUser, proxy: FaultProxy
) -> None:
    client = await login(mail_user, port=proxy.port, limit=1)
    try:
        await client.select("INBOX")
        proxy.stall(True)
        with pytest.raises(ImapTimeout):
            async with client.idle():
                pass  # the "+" never comes
    finally:
        await client.close()


# --- TLS ---


async def test_implicit_tls_and_starttls_verify_the_certificate(dovecot: DovecotServer) -> None:
    user = dovecot.add_user()
    modes: list[tuple[Security, int]] = [
        ("tls", dovecot.imaps_port),
        ("starttls", dovecot.imap_port),
    ]
    for security, port in modes:
        client = await ImapClient.connect(
            dovecot.host, port, security=security, ca_file=dovecot.ca_file, timeout=10
        )
        try:
            await client.authenticate_plain(user.username, user.password)
            assert "IDLE" in client.capabilities  # learned again after login
        finally:
            await client.logout()
        # The self-signed certificate is refused without our CA file.
        with pytest.raises(ImapSecurityError):
            await ImapClient.connect(dovecot.host, port, security=security, timeout=10)


async def test_fingerprint_pin(dovecot: DovecotServer) -> None:
    der = ssl.PEM_cert_to_DER_cert(dovecot.ca_file.read_text())
    pin = hashlib.sha256(der).hexdigest()
    pretty = ":".join(pin[i : i + 2] for i in range(0, len(pin), 2)).upper()
    client = await ImapClient.connect(
        dovecot.host, dovecot.imaps_port, security="tls", fingerprint=pretty, timeout=10
    )
    await client.logout()
    wrong = "00" * 32
    with pytest.raises(ImapSecurityError):
        await ImapClient.connect(
            dovecot.host, dovecot.imap_port, security="starttls", fingerprint=wrong, timeout=10
        )


# --- commands ---


async def test_login_failure_and_secrets_not_logged(
    mail_user: MailUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = mail_user.server
    client = await ImapClient.connect(server.host, server.imap_port, security="none")
    try:
        with pytest.raises(ImapCommandError) as failure:
            await client.login(mail_user.username, "wrong-secret-x")
        assert failure.value.status == "NO"
        await client.authenticate_plain(mail_user.username, mail_user.password)
        assert "ESEARCH" in client.capabilities
    finally:
        await client.logout()
    assert "wrong-secret-x" not in caplog.text
    assert mail_user.password not in caplog.text
    assert "LOGIN" in caplog.text  # command names are logged, arguments are not


async def test_folders_append_store_copy_move(mail_user: MailUser, device: Device) -> None:
    async with logged_in(mail_user) as client:
        await client.enable("CONDSTORE")
        await client.create("Projekte/Überblick & Co")
        await client.rename("Projekte/Überblick & Co", "Projekte/日本語")
        await client.subscribe("Projekte/日本語")
        assert "Projekte/日本語" in device.folders()
        entries = {
            entry.name: entry for entry in await client.list_mailboxes(status_items=["MESSAGES"])
        }
        assert entries["Sent"].special_use == "\\Sent"
        assert entries["Projekte/日本語"].status is not None
        assert "\\Subscribed" in entries["Projekte/日本語"].attributes

        # A synchronising literal (no LITERAL+) goes through the "+" continuation.
        client.capabilities = client.capabilities - {"LITERAL+"}
        appended = await client.append(
            "Projekte/日本語", make_message(7), flags=["\\Seen", "$Work"]
        )
        assert appended is not None
        (uid,) = appended.uids
        assert device.flags("Projekte/日本語")[uid] >= {"\\Seen", "$Work"}

        selected = await client.select("Projekte/日本語", condstore=True)
        assert selected.highestmodseq is not None
        [before] = await client.uid_fetch([uid], ["MODSEQ", "FLAGS"])
        assert before.modseq is not None
        done = await client.uid_store([uid], "+", ["\\Flagged"], unchangedsince=before.modseq)
        assert not done.modified
        refused = await client.uid_store([uid], "-", ["\\Seen"], unchangedsince=before.modseq)
        assert list(refused.modified) == [uid]
        assert "\\Seen" in device.flags("Projekte/日本語")[uid]

        copied = await client.uid_copy([uid], "Archive")
        assert copied is not None and list(copied.source) == [uid]
        moved = await client.uid_move([uid], "Trash")
        assert moved is not None and list(moved.destination) == device.uids("Trash")
        assert device.uids("Projekte/日本語") == []
        assert await client.uid_search("ALL") == []
        await client.select("Archive")
        assert await client.uid_search("SUBJECT", 'a b "c"') == []
        assert await client.uid_search("UNDELETED") == device.uids("Archive")
        await client.unselect()
        await client.delete("Projekte/日本語")
        assert "Projekte/日本語" not in device.folders()


async def test_command_errors_keep_the_connection(mail_user: MailUser) -> None:
    async with logged_in(mail_user) as client:
        with pytest.raises(ImapCommandError) as failure:
            await client.select("Does not exist")
        assert failure.value.status == "NO"
        assert (await client.select("INBOX")).exists == 0
        assert (await client.status("INBOX", ["MESSAGES", "UIDNEXT"])).uidnext == 1


async def test_reduced_server_fallbacks(reduced_user: MailUser) -> None:
    device = Device.connect(reduced_user)
    try:
        uid = device.append("INBOX", make_message(1))
        async with logged_in(reduced_user) as client:
            assert "UNSELECT" not in client.capabilities and "MOVE" not in client.capabilities
            entries = await client.list_mailboxes(status_items=["MESSAGES"])
            inbox = next(entry for entry in entries if entry.name == "INBOX")
            assert inbox.status is not None and inbox.status.messages == 1
            await client.select("INBOX")
            assert await client.uid_search("ALL") == [uid]
            await client.uid_move([uid], "Archive")
            assert device.uids("INBOX") == [] and len(device.uids("Archive")) == 1
            await client.unselect()
            assert await client.noop() == []
    finally:
        device.close()


async def test_notify_reports_other_mailboxes(mail_user: MailUser, device: Device) -> None:
    async with logged_in(mail_user) as client:
        await client.select("INBOX")
        await client.notify(
            "(SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange))"
            " (PERSONAL (MessageNew MessageExpunge MailboxName))"
        )
        async with client.idle() as idle:
            device.append("Archive", make_message(1))
            events: list[Unsolicited] = []
            deadline = time.monotonic() + 5
            while not any(isinstance(e, MailboxStatus) for e in events):
                assert time.monotonic() < deadline, events
                events += await idle.wait(1)
        status = next(e for e in events if isinstance(e, MailboxStatus))
        assert status.mailbox == "Archive" and status.messages == 1
        await client.notify(None)


async def test_stopping_a_streamed_fetch_early_keeps_the_connection_in_step(
    mail_user: MailUser,
) -> None:
    seed_maildir(
        mail_user.server, mail_user.username, "INBOX", (make_message(i) for i in range(2000))
    )
    async with logged_in(mail_user) as client:
        await client.select("INBOX")
        async with contextlib.aclosing(client.uid_fetch_iter("1:*", ENVELOPE_ITEMS)) as batches:
            async for _batch in batches:
                break
        # The rest of that FETCH was drained, not taken for this command's answer.
        results = await client.uid_fetch([7], ["FLAGS"])
        assert [result.uid for result in results] == [7]
        assert await client.noop() == []


async def test_changedsince_vanished_fetch(mail_user: MailUser, device: Device) -> None:
    uids = [device.append("INBOX", make_message(i)) for i in range(4)]
    async with logged_in(mail_user) as client:
        await client.enable("QRESYNC")
        selected = await client.select("INBOX")
        assert selected.highestmodseq is not None
        await client.unselect()
        device.expunge("INBOX", [uids[0]])
        device.add_flags("INBOX", [uids[2]], ["\\Answered"])
        await client.select("INBOX")
        with client.unsolicited.subscribe() as events:
            changed = await client.uid_fetch(
                "1:*", ["FLAGS"], changedsince=selected.highestmodseq, vanished=True
            )
            vanished = await next_event(events, Vanished)
        assert [(r.uid, r.flags) for r in changed] == [(uids[2], ("\\Answered",))]
        assert isinstance(vanished, Vanished) and vanished.earlier
        assert list(vanished.uids) == [uids[0]]


async def test_binary_fetch_returns_decoded_octets(mail_user: MailUser, device: Device) -> None:
    payload = bytes(range(256)) * 4  # NULs and 8-bit: comes back as a ~{n} literal
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    raw = raw_message(
        [
            b"From: a@example.org",
            b"Subject: binary",
            b"MIME-Version: 1.0",
            b'Content-Type: multipart/mixed; boundary="b"',
        ],
        b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="x.bin"\r\n\r\n' + encoded + b"--b--\r\n",
    )
    uid = device.append("INBOX", raw)
    async with logged_in(mail_user) as client:
        await client.select("INBOX")
        (result,) = await client.uid_fetch([uid], ["BODYSTRUCTURE", "BINARY.PEEK[2]"])
    assert result.section("BINARY.PEEK[2]") == payload
    assert result.bodystructure is not None and result.bodystructure.has_attachment
    assert result.bodystructure.parts[1].filename == "x.bin"
