"""Bodies: prefetched by policy after headers, fetched on demand, never marking mail read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.dovecot import MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.engine.bodies import BodyFetcher, Prefetch
from sync.store import Store
from tests.engine.helpers import config_for
from tests.rig.corpus import make_message
from tests.rig.device import Device


def _seed_ages(device: Device) -> dict[str, int]:
    now = datetime.now(UTC)
    uids: dict[str, int] = {}
    for name, age in (("fresh", 1), ("week", 7), ("old", 90), ("ancient", 400)):
        uids[name] = device.append(
            "INBOX", make_message(len(uids), subject=name), date=now - timedelta(days=age)
        )
    return uids


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("recent", {"fresh", "week"}), ("all", {"fresh", "week", "old", "ancient"}), ("none", set())],
)
async def test_prefetch_policy(
    mail_user: MailUser,
    device: Device,
    data_dir: Path,
    store: Store,
    policy: Prefetch,
    expected: set[str],
) -> None:
    uids = _seed_ages(device)
    config = config_for(mail_user, data_dir)
    await AccountSync(config.accounts[0], store, SyncSettings(prefetch=policy)).run_once()
    inbox = next(f for f in await store.folders() if f.name == "INBOX")
    cached = {name for name, uid in uids.items() if await store.body(inbox.id, uid) is not None}
    assert cached == expected
    for name in cached:
        assert await store.body(inbox.id, uids[name]) == device.fetch_raw("INBOX", uids[name])
    # Prefetching reads with BODY.PEEK: nothing became \Seen on the server.
    assert all("\\Seen" not in flags for flags in device.flags("INBOX").values())


async def test_fetch_on_demand(
    mail_user: MailUser, device: Device, data_dir: Path, store: Store
) -> None:
    uid = device.append("INBOX", make_message(1, subject="open me"))
    config = config_for(mail_user, data_dir)
    account_sync = AccountSync(config.accounts[0], store, SyncSettings(prefetch="none"))
    await account_sync.run_once()
    inbox = next(f for f in await store.folders() if f.name == "INBOX")
    assert await store.body(inbox.id, uid) is None

    fetcher = BodyFetcher(store, account_sync.connect)
    try:
        raw = await fetcher.fetch(inbox, uid)
        assert raw == device.fetch_raw("INBOX", uid)
        assert await store.body(inbox.id, uid) == raw
        row = await store.message(inbox.id, uid)
        assert row is not None and row.has_body
        device.expunge("INBOX", [uid])
        gone = device.append("INBOX", make_message(2))
        device.expunge("INBOX", [gone])
        assert await fetcher.fetch(inbox, gone) is None  # not on the server any more
    finally:
        await fetcher.close()
    assert "\\Seen" not in device.flags("INBOX").get(uid, frozenset())
