"""`mailtui demo`'s back end: a seeded private Dovecot, a config for it, a busy other device."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.demo import Demo, DemoUnavailable, OtherDevice, start_demo
from sync.engine.account import AccountSync
from sync.imap import ImapClient
from sync.store import Store
from tests.engine.helpers import server_state, store_state
from tests.rig.device import Device


@pytest.fixture
def demo() -> Iterator[Demo]:
    directory = Path(tempfile.mkdtemp(prefix="mailtui-demo-test-"))
    running = start_demo(directory, scale=0.05)
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def test_demo_mailbox_syncs_and_changes(demo: Demo) -> None:
    assert demo.config.accounts[0].imap_port == demo.server.imap_port
    data_dir = demo.config.data_dir
    assert data_dir is not None
    store = await Store.open(data_dir / "mailtui.sqlite3")
    try:
        account_sync = AccountSync(demo.config.accounts[0], store)
        await account_sync.run_once()
        counts = {f.display_name: f.total for f in await store.folders()}
        assert counts["INBOX"] == 60 and counts["Archive"] == 20
        assert counts["Lists/python-dev"] == 12
        inbox = next(f for f in await store.folders() if f.name == "INBOX")
        assert inbox.unread >= 15

        device = OtherDevice(demo, interval=0)
        client = await ImapClient.connect(demo.server.host, demo.server.imap_port, security="none")
        try:
            await client.login(demo.user.username, demo.user.password)
            done = [await device.change_something(client) for _ in range(8)]
        finally:
            await client.logout()
        assert all(d != "nothing to change" for d in done)
        phone = Device.connect(demo.user)
        try:
            changed = server_state(phone)
            assert changed != await store_state(store), "the device changed nothing"
            await account_sync.run_once()
            assert await store_state(store) == changed
        finally:
            phone.close()
    finally:
        await store.close()


def test_demo_without_dovecot_explains(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sync.dovecot.os.access", lambda *args: False)
    with pytest.raises(DemoUnavailable, match="apt-get install dovecot-imapd"):
        start_demo(tmp_path)
