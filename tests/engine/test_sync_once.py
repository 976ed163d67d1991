"""One-shot sync against a real Dovecot: the store must equal the server, after any churn."""

from __future__ import annotations

import random
from pathlib import Path

from sync.dovecot import MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.store import Store
from tests.engine.helpers import config_for, server_state, store_state
from tests.rig.corpus import make_message
from tests.rig.device import Device

HOSTILE_SUBJECTS = [
    "Meeting * notes",
    "* OK fake untagged",
    "sad :(",
    "(unbalanced",
    "closing)",
    'quote " inside',
    "back\\slash",
    "{5}",
    "=?utf-8?b?w6lsw6hvbm9yZQ==?= encoded",
    "=?iso-8859-1?q?caf=E9?= latin",
    "ünïcödé raw utf-8",
    "[@click=app.quit]Click[/]",
    "\x1b]0;pwned\x07 escape",
]


def _message(index: int, subject: str) -> bytes:
    return make_message(index, subject=subject)


async def _sync_once(user: MailUser, data_dir: Path, store: Store) -> AccountSync:
    config = config_for(user, data_dir)
    account_sync = AccountSync(config.accounts[0], store, SyncSettings())
    await account_sync.run_once()
    return account_sync


async def test_first_sync_equals_server(
    any_user: MailUser, any_device: Device, data_dir: Path, store: Store
) -> None:
    for index, subject in enumerate(HOSTILE_SUBJECTS):
        any_device.append("INBOX", _message(index, subject), flags=["\\Seen"] if index % 2 else [])
    for index in range(40):
        any_device.append("Archive", make_message(100 + index))
    nested = f"Lists{any_device.delimiter}python-dev"  # "/" or "." by the server
    any_device.create_folder(nested)
    any_device.append(nested, make_message(500))

    await _sync_once(any_user, data_dir, store)

    state = await store_state(store)
    assert state == server_state(any_device)
    assert len(state["INBOX"]) == len(HOSTILE_SUBJECTS)
    assert len(state["Archive"]) == 40
    assert nested in state


async def test_random_churn_converges(
    any_user: MailUser, any_device: Device, data_dir: Path, store: Store
) -> None:
    """Seeded random remote changes between syncs; after every sync the store equals the
    server (no message lost or duplicated, every flag right)."""
    rng = random.Random(4549)
    folders = ["INBOX", "Archive", "Trash"]
    counter = 0
    for _ in range(30):
        any_device.append("INBOX", make_message(counter))
        counter += 1
    for round_number in range(5):
        for _ in range(25):
            folder = rng.choice(folders)
            uids = any_device.uids(folder)
            action = rng.choice(["append", "flag", "unflag", "expunge", "move", "seen"])
            if action == "append" or not uids:
                any_device.append(folder, make_message(counter))
                counter += 1
                continue
            chosen = rng.sample(uids, k=min(len(uids), rng.randint(1, 3)))
            if action == "flag":
                any_device.add_flags(folder, chosen, ["\\Flagged", "$Label1"])
            elif action == "unflag":
                any_device.remove_flags(folder, chosen, ["\\Flagged"])
            elif action == "seen":
                any_device.add_flags(folder, chosen, ["\\Seen"])
            elif action == "expunge":
                any_device.expunge(folder, chosen)
            else:
                any_device.move(folder, chosen, rng.choice([f for f in folders if f != folder]))
        await _sync_once(any_user, data_dir, store)
        assert await store_state(store) == server_state(any_device), f"round {round_number}"


async def test_uidvalidity_change_resyncs(
    any_user: MailUser, any_device: Device, data_dir: Path, store: Store
) -> None:
    """A folder recreated with the same mail in another order: no stale UID points at the
    wrong message, and cached bodies survive by content."""
    any_device.create_folder("Projects")
    originals = [make_message(700 + index, subject=f"project {index}") for index in range(6)]
    for raw in originals:
        any_device.append("Projects", raw)
    await _sync_once(any_user, data_dir, store)
    folder = next(f for f in await store.folders() if f.display_name == "Projects")
    first_uid = min(any_device.uids("Projects"))
    async with store.write() as unit:
        await unit.store_body(folder.id, first_uid, any_device.fetch_raw("Projects", first_uid))
    old_validity = folder.marks.uidvalidity

    any_device.delete_folder("Projects")
    any_device.create_folder("Projects")
    for raw in reversed(originals):
        any_device.append("Projects", raw)
    await _sync_once(any_user, data_dir, store)

    folder = next(f for f in await store.folders() if f.display_name == "Projects")
    assert folder.marks.uidvalidity != old_validity
    assert await store_state(store) == server_state(any_device)
    # The body cached under the old UID is back, under the message's new UID.
    subjects = any_device.subjects("Projects")
    new_uid = next(uid for uid, subject in subjects.items() if subject == "project 0")
    assert await store.body(folder.id, new_uid) is not None
    row = await store.message(folder.id, new_uid)
    assert row is not None and row.subject == "project 0"
