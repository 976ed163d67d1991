"""The engine against Cyrus IMAP 3.x (issue 15): "." as hierarchy separator, special-use flags
in lower case (``\\archive``), IDLE without NOTIFY, its own UIDVALIDITY. Skipped when Cyrus
cannot be had (scripts/get-cyrus unpacks it)."""

from __future__ import annotations

import asyncio
import imaplib
import ssl
from pathlib import Path

import pytest

from sync.cyrus import CyrusServer, CyrusUnavailable, CyrusUser, find_cyrus
from sync.engine.account import AccountSync, SyncSettings
from sync.ops import Operations
from sync.store import FolderRow, Store
from tests.engine.helpers import config_for, converge, running_live, server_state, store_state
from tests.engine.test_sync_once import HOSTILE_SUBJECTS
from tests.ops.helpers import engine, server_content, store_content
from tests.rig.corpus import make_message
from tests.rig.device import Device

LATENCY_LIMIT = 1.0  # as for Dovecot (tests/engine/test_live.py)


async def _sync_once(user: CyrusUser, data_dir: Path, store: Store) -> AccountSync:
    account_sync = AccountSync(config_for(user, data_dir).accounts[0], store, SyncSettings())
    await account_sync.run_once()
    return account_sync


async def _folder(store: Store, name: str) -> FolderRow:
    for row in await store.folders():
        if row.display_name == name:
            return row
    raise AssertionError(f"no folder {name}")


async def test_first_sync_equals_server(
    cyrus_user: CyrusUser, cyrus_device: Device, data_dir: Path, store: Store
) -> None:
    device = cyrus_device
    assert device.delimiter == "."
    for index, subject in enumerate(HOSTILE_SUBJECTS):
        device.append("INBOX", make_message(index, subject=subject), flags=["\\Seen"] * (index % 2))
    for index in range(20):
        device.append("Archive", make_message(100 + index))
    device.create_folder("Lists.python-dev")
    device.append("Lists.python-dev", make_message(500))

    await _sync_once(cyrus_user, data_dir, store)

    state = await store_state(store)
    assert state == server_state(device)
    assert len(state["INBOX"]) == len(HOSTILE_SUBJECTS)
    assert len(state["Archive"]) == 20
    assert "Lists.python-dev" in state
    [nested] = [row for row in await store.folders() if row.name == "Lists.python-dev"]
    assert nested.delimiter == "."


async def test_lower_case_special_use_is_recognised(
    cyrus_user: CyrusUser, cyrus_device: Device, data_dir: Path, store: Store
) -> None:
    """Cyrus sends ``\\archive``, ``\\sent``...: RFC 3501 9 makes flags and attributes
    case-insensitive, so each is the folder's special use (RFC 6154 2)."""
    raw = {name: attrs for name, attrs in cyrus_device.list_entries().items()}
    assert "\\archive" in raw["Archive"]  # what Cyrus really says
    await _sync_once(cyrus_user, data_dir, store)
    for name, use in {
        "Archive": "\\Archive",
        "Drafts": "\\Drafts",
        "Junk": "\\Junk",
        "Sent": "\\Sent",
        "Trash": "\\Trash",
    }.items():
        folder = await _folder(store, name)
        assert folder.special_use is not None and folder.special_use.lower() == use.lower(), name


async def test_local_operations_reach_the_server(
    cyrus_user: CyrusUser, cyrus_device: Device, store: Store, data_dir: Path
) -> None:
    device = cyrus_device
    for index in range(1, 6):
        device.append("INBOX", make_message(index, subject=f"message {index}"))
    sync = engine(cyrus_user, store, data_dir)
    await sync.run_once()
    ops = Operations(store)
    inbox, archive = await _folder(store, "INBOX"), await _folder(store, "Archive")

    await ops.mark_read(inbox.id, [1])
    await ops.flag(inbox.id, [2])
    await ops.move(inbox.id, [4], archive.id)
    await ops.delete(inbox.id, [2])  # to Trash, found by its special use
    await ops.archive(inbox.id, [3])  # to Archive, likewise
    expected = await store_content(store)
    await sync.run_once()

    assert server_content(device) == expected
    assert await store_state(store) == server_state(device)
    assert await store.pending_operations(1, include_failed=True) == []
    assert sorted(device.subjects("INBOX").values()) == ["message 1", "message 5"]
    assert sorted(device.subjects("Archive").values()) == ["message 3", "message 4"]
    assert list(device.subjects("Trash").values()) == ["message 2"]
    seen = device.flags("INBOX")
    [first] = [uid for uid, s in device.subjects("INBOX").items() if s == "message 1"]
    assert "\\Seen" in seen[first]


async def test_remote_changes_arrive_live(
    cyrus_user: CyrusUser, cyrus_device: Device, data_dir: Path, store: Store
) -> None:
    """No NOTIFY on Cyrus: IDLE on INBOX, the other folders polled."""
    device = cyrus_device
    device.append("INBOX", make_message(1))
    settings = SyncSettings(poll_interval=0.3, backoff_initial=0.1, backoff_max=0.5)
    account_sync = AccountSync(config_for(cyrus_user, data_dir).accounts[0], store, settings)
    async with running_live(account_sync):
        await asyncio.wait_for(account_sync.wait_live(), timeout=10)
        await converge(store, device, limit=10)
        device.append("INBOX", make_message(10, subject="live append"))
        elapsed = [await converge(store, device, limit=5)]
        uid = max(device.uids("INBOX"))
        device.add_flags("INBOX", [uid], ["\\Seen", "\\Flagged"])
        elapsed.append(await converge(store, device, limit=5))
        device.move("INBOX", [uid], "Archive")
        elapsed.append(await converge(store, device, limit=5))
        device.append("Archive", make_message(11))
        elapsed.append(await converge(store, device, limit=5))
    assert max(elapsed) < LATENCY_LIMIT, elapsed


async def test_uidvalidity_change_resyncs(
    cyrus_user: CyrusUser, cyrus_device: Device, data_dir: Path, store: Store
) -> None:
    device = cyrus_device
    device.create_folder("Projects")
    originals = [make_message(700 + index, subject=f"project {index}") for index in range(4)]
    for raw in originals:
        device.append("Projects", raw)
    await _sync_once(cyrus_user, data_dir, store)
    old_validity = (await _folder(store, "Projects")).marks.uidvalidity

    device.delete_folder("Projects")
    device.create_folder("Projects")
    for raw in reversed(originals):
        device.append("Projects", raw)
    await _sync_once(cyrus_user, data_dir, store)

    assert (await _folder(store, "Projects")).marks.uidvalidity != old_validity
    assert await store_state(store) == server_state(device)


def test_missing_binaries_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CyrusUnavailable, match="no Cyrus master"):
        find_cyrus(tmp_path)


def test_logins_over_tls_and_refusals(cyrus: CyrusServer, cyrus_user: CyrusUser) -> None:
    with imaplib.IMAP4_SSL(cyrus.host, cyrus.imaps_port, ssl_context=cyrus.ssl_context()) as conn:
        assert conn.login(cyrus_user.username, cyrus_user.password)[0] == "OK"
    with imaplib.IMAP4(cyrus.host, cyrus.imap_port) as conn, pytest.raises(imaplib.IMAP4.error):
        conn.login(cyrus_user.username, "wrong")
    assert isinstance(cyrus.ssl_context(), ssl.SSLContext)


def test_device_survives_its_selected_folder_deleted_elsewhere(
    cyrus_user: CyrusUser, cyrus_device: Device
) -> None:
    """Cyrus drops a session at its next command when another session DELETEs the folder it
    has selected; the rig's device logs in again instead of failing the test."""
    cyrus_device.create_folder("Doomed")
    cyrus_device.append("Doomed", make_message(1))
    assert len(cyrus_device.uids("Doomed")) == 1  # "Doomed" stays selected
    with Device.connect(cyrus_user) as other:
        other.delete_folder("Doomed")
    assert "Doomed" not in cyrus_device.folders()
    cyrus_device.append("INBOX", make_message(2))
    assert len(cyrus_device.uids("INBOX")) == 1
