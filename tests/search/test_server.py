"""The server phase against the real Dovecot: mail whose bodies were never downloaded is
found by UID SEARCH; every operator's translation is run by the server; offline says so."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from sync.dovecot import MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.engine.search_phases import ServerHits, ServerUnavailable, search_servers
from sync.imap import ImapClient
from sync.search import parse_query, server_search
from sync.store import FolderRow, Store
from sync.store.search import folders_needing_server, index_pending_bodies, search_messages
from tests.engine.helpers import config_for
from tests.rig.device import Device

TODAY = date(2025, 3, 1)


def raw(
    subject: str,
    sender: str,
    body: str,
    day: int,
    *,
    to: str = "Alex <alex@example.org>",
    cc: str = "",
    attachment: bool = False,
) -> bytes:
    """A small hand-written RFC 5322 message, dated January ``day``, 2025."""
    headers = [
        f"From: {sender}",
        f"To: {to}",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject if subject.isascii() else _encoded(subject)}",
        f"Date: Fri, {day:02d} Jan 2025 12:00:00 +0000",
        f"Message-ID: <{day}.{subject.encode().hex()[:24]}@server.test>",
        "MIME-Version: 1.0",
    ]
    if attachment:
        headers.append('Content-Type: multipart/mixed; boundary="b"')
        text = (
            f"--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n--b\r\nContent-Type:"
            ' application/pdf\r\nContent-Disposition: attachment; filename="q.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjcK\r\n--b--\r\n"
        )
    else:
        headers.append("Content-Type: text/plain; charset=utf-8")
        text = body + "\r\n"
    return ("\r\n".join(headers) + "\r\n\r\n" + text).encode()


def _encoded(subject: str) -> str:
    """``subject`` as one RFC 2047 encoded-word."""
    return "=?utf-8?b?" + base64.b64encode(subject.encode()).decode() + "?="


def seed(device: Device) -> dict[str, int]:
    device.create_folder("Archive")
    uids = {
        "S1": device.append(
            "INBOX", raw("Lunch plans", "Maria <maria@example.de>", "zanzibar ramen", 10)
        ),
        "S2": device.append(
            "INBOX",
            raw(
                "Statement",
                "Bank <alerts@bank.example>",
                "your zanzibar statement",
                15,
                cc="Priya <priya@example.in>",
            ),
            flags=["\\Seen", "\\Flagged"],
        ),
        "S3": device.append(
            "INBOX",
            raw(
                "Re: Lunch plans",
                "Alex <alex@example.org>",
                "sounds good",
                11,
                to="Maria <maria@example.de>",
            ),
            flags=["\\Seen", "\\Answered"],
        ),
        "S4": device.append(
            "INBOX",
            raw("Report", "ops@example.net", "quarterly numbers attached", 20, attachment=True),
            flags=["\\Seen"],
        ),
        "S6": device.append(
            "INBOX",
            raw("Überweisung bestätigt", "Bank <alerts@bank.example>", "danke", 16),
            flags=["\\Seen"],
        ),
        "A1": device.append(
            "Archive", raw("Old", "Maria <maria@example.de>", "zanzibar archive", 2)
        ),
    }
    return uids


@pytest.fixture
async def synced(
    mail_user: MailUser, device: Device, data_dir: Path, store: Store
) -> AsyncIterator[tuple[dict[str, int], ImapClient, dict[str, FolderRow]]]:
    """The server seeded and synced without bodies; a client logged in for the test."""
    uids = seed(device)
    config = config_for(mail_user, data_dir)
    sync = AccountSync(config.accounts[0], store, SyncSettings(prefetch="none"))
    await sync.run_once()
    client, _ = await sync.connect()
    folders = {f.name: f for f in await store.folders()}
    try:
        yield uids, client, folders
    finally:
        await client.logout()


SERVER_CASES = [
    ("zanzibar", {"S1", "S2"}),
    ("body:zanzibar", {"S1", "S2"}),
    ("zanzibar -from:bank", {"S1"}),
    ("from:maria", {"S1"}),
    ("to:priya", {"S2"}),
    ("cc:priya", {"S2"}),
    ("to:maria", {"S3"}),
    ("subject:lunch", {"S1", "S3"}),
    ('subject:"lunch plans"', {"S1", "S3"}),
    ("is:unread", {"S1"}),
    ("is:read", {"S2", "S3", "S4", "S6"}),
    ("is:flagged", {"S2"}),
    ("is:unflagged", {"S1", "S3", "S4", "S6"}),
    ("is:answered", {"S3"}),
    ("is:unanswered", {"S1", "S2", "S4", "S6"}),
    ("is:draft", set()),
    ("has:attachment", {"S4"}),
    ("before:2025-01-11", {"S1"}),
    ("after:2025-01-15", {"S2", "S4", "S6"}),
    ("date:2025-01-11", {"S3"}),
    ("ramen OR quarterly", {"S1", "S4"}),
    ("(zanzibar from:bank) OR subject:report", {"S2", "S4"}),
    ("-(zanzibar from:bank)", {"S1", "S3", "S4", "S6"}),
    ("-(nowhere OR zanzibar OR report) is:read", {"S3", "S6"}),
    ("überweisung", {"S6"}),
    ("folder:Archive zanzibar", set()),
    ("folder:INBOX OR folder:Archive", {"S1", "S2", "S3", "S4", "S6"}),
    ("-folder:INBOX", set()),
    ("[statement]*", {"S2"}),  # characters IMAP atoms cannot carry are dropped
]


@pytest.mark.parametrize(("text", "expected"), SERVER_CASES, ids=[c[0] for c in SERVER_CASES])
async def test_operators_on_the_server(
    synced: tuple[dict[str, int], ImapClient, dict[str, FolderRow]], text: str, expected: set[str]
) -> None:
    uids, client, folders = synced
    names = {uid: name for name, uid in uids.items() if name.startswith("S")}
    found = await server_search(client, folders["INBOX"], parse_query(text, today=TODAY))
    assert {names[uid] for uid in found} == expected


async def test_bodies_never_downloaded_are_found_on_the_server(
    synced: tuple[dict[str, int], ImapClient, dict[str, FolderRow]],
    store: Store,
    mail_user: MailUser,
    data_dir: Path,
) -> None:
    uids, _, folders = synced
    query = parse_query("zanzibar", today=TODAY)
    assert await search_messages(store, query) == []  # no body here: local finds nothing
    inbox, archive = folders["INBOX"], folders["Archive"]
    assert await folders_needing_server(store, query) == sorted([inbox.id, archive.id])
    config = config_for(mail_user, data_dir)
    results = [r async for r in search_servers(store, query, config.accounts)]
    assert all(isinstance(r, ServerHits) for r in results)
    got = {(r.folder.name, row.uid) for r in results if isinstance(r, ServerHits) for row in r.rows}
    assert got == {("INBOX", uids["S1"]), ("INBOX", uids["S2"]), ("Archive", uids["A1"])}
    # What the local phase showed is not repeated.
    shown = {(inbox.id, uids["S1"])}
    again = [r async for r in search_servers(store, query, config.accounts, shown=shown)]
    assert {
        (r.folder.name, row.uid) for r in again if isinstance(r, ServerHits) for row in r.rows
    } == (got - {("INBOX", uids["S1"])})
    # Scoped to one folder, as the local phase was.
    scoped = [
        r async for r in search_servers(store, query, config.accounts, folder_ids=[archive.id])
    ]
    assert [(r.folder.name, len(r.rows)) for r in scoped if isinstance(r, ServerHits)] == [
        ("Archive", 1)
    ]


async def test_offline_says_so(
    synced: tuple[dict[str, int], ImapClient, dict[str, FolderRow]],
    store: Store,
    mail_user: MailUser,
    data_dir: Path,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = config_for(mail_user, data_dir, port=port)
    results = [r async for r in search_servers(store, parse_query("zanzibar"), config.accounts)]
    assert len(results) == 1 and isinstance(results[0], ServerUnavailable)
    assert results[0].account == "test" and results[0].reason


async def test_index_follows_another_device(
    mail_user: MailUser, device: Device, data_dir: Path, store: Store
) -> None:
    uids = seed(device)
    config = config_for(mail_user, data_dir)
    sync = AccountSync(config.accounts[0], store, SyncSettings(prefetch="all"))
    await sync.run_once()
    while await index_pending_bodies(store):
        pass

    async def local(text: str) -> set[tuple[str, int]]:
        folders = {f.id: f.name for f in await store.folders()}
        rows = await search_messages(store, parse_query(text, today=TODAY))
        return {(folders[row.folder_id], row.uid) for row in rows}

    assert await local("zanzibar") == {
        ("INBOX", uids["S1"]),
        ("INBOX", uids["S2"]),
        ("Archive", uids["A1"]),
    }
    assert await local("is:unread folder:inbox") == {("INBOX", uids["S1"])}
    # Elsewhere: S1 read, S2 moved to the archive, S3 expunged, new mail arrives.
    device.add_flags("INBOX", [uids["S1"]], ["\\Seen"])
    device.move("INBOX", [uids["S2"]], "Archive")
    device.expunge("INBOX", [uids["S3"]])
    new = device.append("INBOX", raw("Zanzibar trip", "Léa <lea@example.fr>", "pack bags", 25))
    await sync.run_once()
    while await index_pending_bodies(store):
        pass
    archive_uids = set(device.uids("Archive"))
    moved = max(archive_uids)
    assert await local("is:unread folder:inbox") == {("INBOX", new)}
    assert await local("zanzibar") == {
        ("INBOX", uids["S1"]),
        ("INBOX", new),
        ("Archive", moved),
        ("Archive", uids["A1"]),
    }
    assert await local("subject:lunch") == {("INBOX", uids["S1"])}
    assert await local("from:bank folder:archive") == {("Archive", moved)}
