"""The test rig works: the private Dovecot, its users, the other device, the corpus, the proxy.

Every other part's tests stand on these fixtures, so each claim the rig makes is checked here
against what the real server answers.
"""

from __future__ import annotations

import email
import imaplib
import os
import socket
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sync.dovecot as dovecot_module
from sync.dovecot import SPECIAL_USE_FOLDERS, DovecotError, DovecotServer, MailUser
from tests.rig.corpus import folder_path, make_message, message_id_for, seed_maildir, subject_for
from tests.rig.device import Device, DeviceError, decode_mailbox_name, encode_mailbox_name
from tests.rig.proxy import FaultProxy

FALLBACK_CAPABILITIES = {"CONDSTORE", "QRESYNC", "MOVE", "UIDPLUS", "NOTIFY", "ESEARCH"}
FALLBACK_CAPABILITIES |= {"LIST-STATUS", "SPECIAL-USE"}


@pytest.fixture
def other(mail_user: MailUser) -> Iterator[Device]:
    """A second device for the same user, to check what the first one did."""
    with Device.connect(mail_user) as dev:
        yield dev


def _message(index: int, subject: str | None = None) -> bytes:
    return make_message(index, subject=subject, size=3000)


# ------------------------------------------------------------------------------------ server


def test_server_listens_on_loopback_and_greets(dovecot: DovecotServer) -> None:
    assert dovecot.host == "127.0.0.1"
    assert dovecot.running
    assert dovecot.imap_port != dovecot.imaps_port
    with socket.create_connection((dovecot.host, dovecot.imap_port), timeout=5) as sock:
        assert sock.recv(200).startswith(b"* OK")


def test_imaps_verifies_against_ca_file(dovecot: DovecotServer, mail_user: MailUser) -> None:
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    conn = imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=context, timeout=10)
    try:
        assert conn.login(mail_user.username, mail_user.password)[0] == "OK"
        assert isinstance(conn.sock, ssl.SSLSocket)
        peer = conn.sock.getpeercert()
        assert peer is not None and ("IP Address", "127.0.0.1") in peer["subjectAltName"]
    finally:
        conn.logout()
    # Without the CA the certificate must not verify: the check above is a real one.
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(
            dovecot.host, dovecot.imaps_port, ssl_context=ssl.create_default_context(), timeout=10
        )


def test_users_are_isolated(dovecot: DovecotServer, mail_user: MailUser, device: Device) -> None:
    device.append("INBOX", _message(1))
    stranger = dovecot.add_user(password="other-secret")
    with Device.connect(stranger) as theirs:
        assert theirs.uids("INBOX") == []
    # Each password opens only its own mailbox.
    with pytest.raises(imaplib.IMAP4.error):
        Device.connect(MailUser(stranger.username, mail_user.password, dovecot))
    with pytest.raises(ValueError, match="exists"):
        dovecot.add_user(stranger.username)
    for bad in ("", ".hidden", "a/b", "a:b", "a b"):
        with pytest.raises(ValueError):
            dovecot.add_user(bad)
    assert dovecot.user(stranger.username) == stranger
    with pytest.raises(KeyError):
        dovecot.user("nobody-here")


def test_named_user_added_while_running(dovecot: DovecotServer) -> None:
    name = f"Named.User-{os.getpid()}-{time.monotonic_ns()}@example.org"
    user = dovecot.add_user(name, "pass word with spaces")
    with Device.connect(user) as dev:
        assert dev.uids("INBOX") == []
    assert dovecot.maildir(name).is_dir()
    assert dovecot.maildir(name).stat().st_uid == dovecot.mail_owner[0]


def test_special_use_folders_exist_subscribed_with_flags(device: Device) -> None:
    entries = device.list_entries()
    for name, flag in SPECIAL_USE_FOLDERS.items():
        assert flag in entries[name], (name, entries[name])
    assert "INBOX" in entries
    assert set(SPECIAL_USE_FOLDERS) <= set(device.subscribed())
    assert device.delimiter == "/"


def test_dot_server_nests_with_dots_and_seeds_maildir_plus_plus(dot_user: MailUser) -> None:
    server = dot_user.server
    assert server.separator == "."
    seed_maildir(server, dot_user.username, "Lists.Δ dev", [make_message(i) for i in range(2)])
    assert folder_path(server, dot_user.username, "Lists.Δ dev").name == ".Lists.&A5Q- dev"
    with Device.connect(dot_user) as dev:
        entries = dev.list_entries()
        assert dev.delimiter == "."
        assert set(SPECIAL_USE_FOLDERS) <= set(entries)
        assert "\\Noselect" in entries["Lists"]  # the parent level Maildir++ implies
        assert dev.status("Lists.Δ dev")["MESSAGES"] == 2
        with pytest.raises(DeviceError, match="'/'"):
            dev.create_folder("a/b")  # Maildir++ keeps "/" out of names


def test_full_server_advertises_the_extensions(device: Device) -> None:
    assert FALLBACK_CAPABILITIES | {"IDLE", "ENABLE", "LITERAL+"} <= device.capabilities


def test_reduced_server_advertises_only_the_basics(reduced_user: MailUser) -> None:
    with Device.connect(reduced_user) as dev:
        assert dev.capabilities == {"IMAP4REV1", "LITERAL+", "SASL-IR", "IDLE"}
        assert not FALLBACK_CAPABILITIES & dev.capabilities
        # Still a working server with the same folders.
        assert set(SPECIAL_USE_FOLDERS) <= set(dev.folders())


def test_start_failure_carries_dovecots_own_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = dovecot_module._config_text
    monkeypatch.setattr(
        dovecot_module,
        "_config_text",
        lambda **kw: real(**kw) + "no_such_setting_mailtui = 1\n",
    )
    with pytest.raises(DovecotError, match="no_such_setting_mailtui"):
        DovecotServer.start(tmp_path / "broken")


def test_restart_keeps_ports_and_mail_then_stop_ends_everything(tmp_path: Path) -> None:
    server = DovecotServer.start(tmp_path / "own")
    user = server.add_user()
    with Device.connect(user) as dev:
        uid = dev.append("INBOX", _message(1))
    port, first_pid = server.imap_port, server.pid
    server.restart()
    assert [server.running, server.imap_port, server.pid != first_pid] == [True, port, True]
    assert _running_in_group(first_pid) == []
    with Device.connect(user) as dev:
        assert dev.uids("INBOX") == [uid]
    with pytest.raises(DovecotError, match="still runs"):
        DovecotServer.start(tmp_path / "own")  # one server per base directory
    pid = server.pid
    server.stop()
    server.stop()  # idempotent
    assert not server.running
    # Nothing is left running in Dovecot's process group. (Zombies may linger until PID 1 reaps
    # them: in containers whose PID 1 reaps lazily, that can take seconds.)
    assert _running_in_group(pid) == []
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def _running_in_group(pgid: int) -> list[str]:
    """Processes in process group ``pgid`` that are not zombies, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append(f"{entry.name} {state} {stat[stat.index('(') : stat.rindex(')') + 1]}")
    return found


# ------------------------------------------------------------------------------------ device


def test_append_returns_the_uid_the_server_assigned(device: Device, other: Device) -> None:
    first = device.append("INBOX", _message(1, "first"), flags=["\\Seen"])
    second = device.append(
        "Archive", _message(2, "second"), date=datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    )
    third = device.append("INBOX", _message(3, "third"))
    assert other.subjects("INBOX") == {first: "first", third: "third"}
    assert other.subjects("Archive") == {second: "second"}
    assert first < third
    assert other.fetch_raw("INBOX", first) == _message(1, "first")
    assert other.flags("INBOX")[first] == {"\\Seen"}  # \Recent is left out
    assert other.internaldates("Archive")[second] == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_flag_changes_are_visible_to_another_device(device: Device, other: Device) -> None:
    uids = [device.append("INBOX", _message(i)) for i in range(3)]
    device.add_flags("INBOX", uids[:2], ["\\Seen", "\\Flagged"])
    device.remove_flags("INBOX", uids[0], ["\\Flagged"])
    device.set_flags("INBOX", uids[2], ["$Label1", "\\Answered"])
    seen = other.flags("INBOX")
    assert {"\\Seen"} <= seen[uids[0]] and "\\Flagged" not in seen[uids[0]]
    assert {"\\Seen", "\\Flagged"} <= seen[uids[1]]
    assert {"$Label1", "\\Answered"} <= seen[uids[2]] and "\\Seen" not in seen[uids[2]]
    assert other.status("INBOX")["UNSEEN"] == 1


def test_move_copy_expunge(device: Device, other: Device) -> None:
    uids = [device.append("INBOX", _message(i, f"m{i}")) for i in range(4)]
    device.move("INBOX", uids[0], "Archive")
    device.copy("INBOX", [uids[1]], "Trash")
    # UID EXPUNGE removes only the given UIDs, even when another message is \Deleted too.
    device.add_flags("INBOX", uids[3], ["\\Deleted"])
    device.expunge("INBOX", [uids[2]])
    assert sorted(other.subjects("INBOX").values()) == ["m1", "m3"]
    assert list(other.subjects("Archive").values()) == ["m0"]
    assert list(other.subjects("Trash").values()) == ["m1"]


def test_reduced_server_device_falls_back(reduced_user: MailUser) -> None:
    with Device.connect(reduced_user) as dev, Device.connect(reduced_user) as check:
        assert not dev.has("UIDPLUS")
        uids = [dev.append("INBOX", _message(i, f"r{i}")) for i in range(3)]
        assert uids == check.uids("INBOX")
        dev.move("INBOX", uids[0], "Archive")
        dev.expunge("INBOX", uids[1])
        assert list(check.subjects("INBOX").values()) == ["r2"]
        assert list(check.subjects("Archive").values()) == ["r0"]
        assert check.status("INBOX")["MESSAGES"] == 1


def test_folder_create_rename_delete(device: Device, other: Device) -> None:
    device.create_folder("Projekte & Pläne")
    device.create_folder("Projekte & Pläne/台北")
    device.create_folder("dotted.name")
    assert {"Projekte & Pläne", "Projekte & Pläne/台北", "dotted.name"} <= set(other.folders())
    assert "Projekte & Pläne/台北" in other.subscribed()
    uid = device.append("Projekte & Pläne/台北", _message(5, "deep"))
    device.rename_folder("Projekte & Pläne", "Done")
    assert {"Done", "Done/台北"} <= set(other.folders())
    assert "Projekte & Pläne" not in other.folders()
    assert other.subjects("Done/台北") == {uid: "deep"}
    device.delete_folder("dotted.name")
    assert "dotted.name" not in other.folders()
    with pytest.raises(DeviceError):
        device.uids("dotted.name")


def test_subjects_message_ids_status(device: Device) -> None:
    raw = make_message(7, subject="Grüße aus Köln 🎉", message_id="<abc@example.org>")
    uid = device.append("INBOX", raw)
    assert device.subjects("INBOX") == {uid: "Grüße aus Köln 🎉"}
    assert device.message_ids("INBOX") == {uid: "<abc@example.org>"}
    status = device.status("INBOX")
    assert status["MESSAGES"] == 1 and status["UNSEEN"] == 1 and status["UIDNEXT"] > uid
    assert status["HIGHESTMODSEQ"] > 0
    assert device.sizes("INBOX") == {uid: len(raw)}


def test_mailbox_name_encoding_matches_rfc_3501() -> None:
    # The example in RFC 3501 5.1.3, and the '&' escape.
    assert encode_mailbox_name("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert encode_mailbox_name("A&B") == "A&-B"
    assert decode_mailbox_name("~peter/mail/&U,BTFw-/&ZeVnLIqe-") == "~peter/mail/台北/日本語"


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=30))
def test_mailbox_name_encoding_round_trips(name: str) -> None:
    encoded = encode_mailbox_name(name)
    assert encoded.isascii()
    assert decode_mailbox_name(encoded) == name


# ------------------------------------------------------------------------------------ corpus


def test_corpus_is_deterministic_and_realistic() -> None:
    messages = [make_message(i) for i in range(300)]
    assert messages == [make_message(i) for i in range(300)]
    sizes = sorted(len(m) for m in messages)
    assert 2_000 <= sizes[len(sizes) // 2] <= 20_000
    assert sum(2_000 <= s <= 20_000 for s in sizes) > len(sizes) // 2
    kinds: dict[str, int] = {}
    ids: set[str] = set()
    replies = attachments = 0
    for index, raw in enumerate(messages):
        assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert not parsed.defects and all(not part.defects for part in parsed.walk())
        assert parsed["Message-ID"] == message_id_for(index)
        assert parsed["Subject"] == subject_for(index)
        kinds[parsed.get_content_type()] = kinds.get(parsed.get_content_type(), 0) + 1
        attachments += any(part.is_attachment() for part in parsed.walk())
        if parsed["In-Reply-To"]:
            replies += 1
            assert parsed["In-Reply-To"] in ids  # threads point back to earlier messages
            assert parsed["References"].split()[-1] == parsed["In-Reply-To"]
            assert parsed["Subject"].startswith("Re: ")
        ids.add(parsed["Message-ID"])
    assert len(ids) == len(messages)
    assert {"text/plain", "multipart/alternative", "multipart/mixed"} <= set(kinds)
    assert attachments >= 8 and replies >= 30
    assert len({m.split(b"\r\nFrom: ")[1].split(b"\r\n")[0] for m in messages}) >= 10


@pytest.mark.parametrize("size", [1_500, 4_096, 20_000, 150_000])
def test_corpus_size_is_exact(size: int) -> None:
    for index in range(25):
        raw = make_message(index, size=size)
        smallest = len(make_message(index, size=0))  # headers and MIME skeleton only
        assert len(raw) == max(size, smallest) or len(raw) == smallest + 1, (index, len(raw))
        assert not email.message_from_bytes(raw, policy=policy.default).defects


def test_seeded_maildir_is_seen_in_file_order(dovecot: DovecotServer, device: Device) -> None:
    user = device.user.username
    count = 2_000
    messages = (make_message(i) for i in range(count))
    assert seed_maildir(dovecot, user, "INBOX", messages, lambda i: "S" if i % 3 else "") == count
    assert device.status("INBOX")["MESSAGES"] == count
    ids = device.message_ids("INBOX")
    uids = sorted(ids)
    assert [ids[uid] for uid in uids] == [message_id_for(i) for i in range(count)]
    subjects = device.subjects("INBOX")
    assert [subjects[uid] for uid in uids] == [subject_for(i) for i in range(count)]
    flags = device.flags("INBOX")
    assert [("\\Seen" in flags[uid]) for uid in uids] == [bool(i % 3) for i in range(count)]
    # S=/W= in the file names must agree with the bytes, or Dovecot reports wrong sizes.
    sizes = device.sizes("INBOX")
    assert [sizes[uid] for uid in uids[:50]] == [len(make_message(i)) for i in range(50)]
    # INTERNALDATE is the Date header (arrival order is what a client sorts by).
    dates = device.internaldates("INBOX")
    assert dates[uids[0]] == email.utils.parsedate_to_datetime(
        email.message_from_bytes(make_message(0))["Date"]
    )
    # A second batch into the already indexed folder, and into a new folder.
    seed_maildir(dovecot, user, "INBOX", [make_message(count)])
    seed_maildir(dovecot, user, "Lists/Δ dev", [make_message(i) for i in range(3)])
    assert device.message_ids("INBOX")[max(device.uids("INBOX"))] == message_id_for(count)
    assert "Lists/Δ dev" in device.folders()
    assert device.status("Lists/Δ dev")["MESSAGES"] == 3
    owner = dovecot.mail_owner[0]
    cur = folder_path(dovecot, user, "Lists/Δ dev") / "cur"
    assert all(entry.stat().st_uid == owner for entry in cur.iterdir())


# ------------------------------------------------------------------------------------- proxy


def _login(proxy: FaultProxy, user: MailUser, timeout: float = 5.0) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(proxy.host, proxy.port, timeout=timeout)
    conn.login(user.username, user.password)
    return conn


def test_proxy_forwards_and_cut_drops_live_connections(
    proxy: FaultProxy, mail_user: MailUser
) -> None:
    conn = _login(proxy, mail_user)
    assert conn.noop()[0] == "OK"
    assert proxy.connections == 1
    proxy.cut()
    assert proxy.connections == 0
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        conn.noop()
    conn.shutdown()
    # The proxy keeps serving new connections after a cut; a reset cut works too.
    again = _login(proxy, mail_user)
    proxy.cut(reset=True)
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        again.noop()
    again.shutdown()


def test_proxy_refuse(proxy: FaultProxy, mail_user: MailUser) -> None:
    kept = _login(proxy, mail_user)
    proxy.refuse(True)
    with socket.create_connection((proxy.host, proxy.port), timeout=5) as sock:
        assert sock.recv(100) == b""  # closed at once, no greeting
    assert kept.noop()[0] == "OK"  # connections made before still work
    proxy.refuse(False)
    _login(proxy, mail_user).logout()
    kept.logout()


def test_proxy_stall_holds_bytes_then_delivers(proxy: FaultProxy, mail_user: MailUser) -> None:
    with socket.create_connection((proxy.host, proxy.port), timeout=5) as sock:
        assert sock.recv(200).startswith(b"* OK")
        proxy.stall(True)
        sock.sendall(b"a1 NOOP\r\n")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(200)
        assert proxy.connections == 1  # still open
        proxy.stall(False)
        sock.settimeout(5)
        reply = b""
        while b"a1 " not in reply:
            chunk = sock.recv(200)
            assert chunk
            reply += chunk
        assert b"a1 OK" in reply


def test_proxy_latency(proxy: FaultProxy, mail_user: MailUser) -> None:
    conn = _login(proxy, mail_user)
    started = time.monotonic()
    conn.noop()
    fast = time.monotonic() - started
    proxy.set_latency(0.1)
    started = time.monotonic()
    conn.noop()
    slow = time.monotonic() - started
    assert slow >= 0.2 > fast  # held in each direction
    proxy.set_latency(0)
    conn.logout()


def test_proxy_passes_large_transfers_intact(proxy: FaultProxy, mail_user: MailUser) -> None:
    raw = make_message(3, size=3_000_000)
    conn = _login(proxy, mail_user, timeout=20)
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    assert conn.append("INBOX", None, None, raw)[0] == "OK"
    conn.select("INBOX")
    before = proxy.bytes_down
    typ, data = conn.uid("FETCH", "1", "(BODY.PEEK[])")
    assert typ == "OK" and isinstance(data[0], tuple) and data[0][1] == raw
    # What the server sent for the FETCH: the message and a little framing, counted once.
    assert len(raw) < proxy.bytes_down - before < len(raw) + 200
    conn.logout()


def test_proxy_to_a_dead_server_closes_the_client() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    with (
        FaultProxy("127.0.0.1", dead_port) as proxy,
        socket.create_connection((proxy.host, proxy.port), timeout=5) as sock,
    ):
        assert sock.recv(10) == b""
