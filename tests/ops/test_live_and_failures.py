"""While live, a change goes out at once; failures: permanent ones are kept, retryable and
discardable; temporary ones back off; a crash at every commit point of a replay is safe."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.dovecot import MailUser
from sync.imap import ImapClient, ImapCommandError
from sync.ops import Operations, Replayer
from sync.store import FolderRow, Store, StoreWriter
from tests.engine.helpers import (
    converge,
    open_when_created,
    running_live,
    server_state,
    start_mailtui_sync,
    store_state,
)
from tests.ops.helpers import engine, server_content, store_content, write_config
from tests.rig.corpus import make_message
from tests.rig.device import Device
from tests.waits import eventually

ROOT = Path(__file__).resolve().parents[2]


async def folder(store: Store, name: str) -> FolderRow:
    for row in await store.folders():
        if row.display_name == name:
            return row
    raise AssertionError(f"no folder {name}")


async def test_a_change_made_while_live_reaches_another_device_at_once(
    any_user: MailUser, any_device: Device, store: Store, data_dir: Path
) -> None:
    any_device.append("INBOX", make_message(1))
    sync = engine(any_user, store, data_dir, poll_interval=0.3)
    async with running_live(sync):
        await asyncio.wait_for(sync.wait_live(), timeout=10)
        await converge(store, any_device, limit=10)
        inbox, archive = await folder(store, "INBOX"), await folder(store, "Archive")
        ops = Operations(store)
        await ops.flag(inbox.id, [1])
        moved = await ops.move(inbox.id, [1], archive.id)
        await ops.mark_read(archive.id, [moved.provisional[1]])
        took = await eventually(
            lambda: (
                set(any_device.flags("Archive").values()) == {frozenset({"\\Flagged", "\\Seen"})}
            ),
            what="flags on the server",
        )
        assert took < 2.0
        assert any_device.uids("INBOX") == []
        await converge(store, any_device, limit=10)


async def test_rejected_operation_is_kept_retryable_and_discardable(
    mail_user: MailUser, device: Device, store: Store, data_dir: Path
) -> None:
    device.create_folder("Later")
    device.append("INBOX", make_message(1))
    sync = engine(mail_user, store, data_dir)
    await sync.run_once()
    inbox, later = await folder(store, "INBOX"), await folder(store, "Later")
    ops = Operations(store)
    queued = await ops.move(inbox.id, [1], later.id)
    device.delete_folder("Later")
    await sync.run_once()
    [failed] = await store.pending_operations(inbox.account_id, include_failed=True)
    assert failed.failed and failed.id == queued.operation_id
    assert await store.message(inbox.id, 1) is not None  # rolled back: it stayed
    # The user re-creates the folder and retries: the change is made again and goes out.
    device.create_folder("Later")
    await sync.run_once()  # the engine learns of the new folder
    await ops.retry(failed.id)
    assert await store.message(inbox.id, 1) is None
    await sync.run_once()
    assert list(device.subjects("Later")) == [1]
    assert await store.pending_operations(inbox.account_id, include_failed=True) == []
    # A pending operation cannot be discarded (it may be going out); a failed one can.
    await ops.flag((await folder(store, "Later")).id, [1])
    [pending] = await store.pending_operations(inbox.account_id)
    with pytest.raises(Exception, match="not failed"):
        await ops.discard(pending.id)


class FlakyClient:
    """The real client, but the next ``failures`` UID STOREs answer NO [UNAVAILABLE]."""

    def __init__(self, client: ImapClient, failures: int) -> None:
        self._client = client
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def uid_store(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise ImapCommandError("UID STORE", "NO", "try later", "UNAVAILABLE")
        return await self._client.uid_store(*args, **kwargs)


async def test_temporary_failures_back_off_then_succeed(
    mail_user: MailUser, device: Device, store: Store, data_dir: Path
) -> None:
    device.append("INBOX", make_message(1))
    sync = engine(mail_user, store, data_dir)
    await sync.run_once()
    inbox = await folder(store, "INBOX")
    await Operations(store).flag(inbox.id, [1])
    now = [1000.0]
    replayer = Replayer(store, "test", backoff_initial=2.0, clock=lambda: now[0])
    client, features = await sync.connect()
    try:
        flaky = FlakyClient(client, failures=2)
        assert await replayer.replay(flaky, features) == 2.0  # type: ignore[arg-type]
        [held] = await store.pending_operations(inbox.account_id)
        assert (held.attempts, held.next_attempt_at, held.failed) == (1, 1002, False)
        now[0] = 1001.0
        assert await replayer.replay(flaky, features) == 1.0  # type: ignore[arg-type]
        now[0] = 1002.0
        assert await replayer.replay(flaky, features) == 4.0  # type: ignore[arg-type]
        now[0] = 1006.0
        assert await replayer.replay(flaky, features) is None  # type: ignore[arg-type]
    finally:
        await client.logout()
    assert "\\Flagged" in device.flags("INBOX")[1]
    assert await store.pending_operations(inbox.account_id, include_failed=True) == []


class Crash(BaseException):
    """Stands for kill -9: raised at a commit point, never caught by the code under test."""


@contextlib.contextmanager
def crash_at(store: Store, commit: int, when: str) -> Iterator[None]:
    """Make ``store`` die at its ``commit``-th unit of work: ``before`` it commits (the
    transaction is lost, as with kill -9) or right ``after``. The process-level kill -9
    (tests/engine/crash_child.py) is exercised by test_offline; this covers every point."""
    original = store.write
    count = 0

    @contextlib.asynccontextmanager
    async def write() -> AsyncIterator[StoreWriter]:
        nonlocal count
        async with original() as unit:
            yield unit
            count += 1
            if when == "before" and count == commit:
                raise Crash
        if when == "after" and count == commit:
            raise Crash

    store.write = write  # type: ignore[method-assign]
    try:
        yield
    finally:
        del store.write


async def test_crash_at_every_commit_of_a_chain(
    any_user: MailUser, any_device: Device, store: Store, data_dir: Path
) -> None:
    """flag -> move -> flag -> copy -> append -> delete, with the replay dying at each of its
    commit points in turn (before and after the commit): the server always ends as the store
    first showed it, and the store equals the server."""
    any_device.append("INBOX", make_message(1))
    any_device.append("INBOX", make_message(2))
    await engine(any_user, store, data_dir).run_once()
    point = 0
    while True:
        point += 1
        inbox, archive = await folder(store, "INBOX"), await folder(store, "Archive")
        ops = Operations(store)
        uids = list(await store.folder_uids(inbox.id))
        await ops.flag(inbox.id, uids[:1])
        moved = await ops.move(inbox.id, uids[:1], archive.id)
        await ops.mark_read(archive.id, [moved.provisional[uids[0]]])
        await ops.copy(archive.id, [moved.provisional[uids[0]]], inbox.id)
        await ops.append(inbox.id, make_message(100 + point), ["\\Seen"])
        await ops.delete(inbox.id, uids[1:2])
        expected = await store_content(store)
        crashed = False
        with crash_at(store, (point + 1) // 2, "before" if point % 2 else "after"):
            try:
                await engine(any_user, store, data_dir).run_once()  # a fresh process, as it were
            except Crash:
                crashed = True
        left = await store.pending_operations(1)
        await engine(any_user, store, data_dir).run_once()
        assert server_content(any_device) == expected, point
        assert await store_state(store) == server_state(any_device)
        assert await store.pending_operations(1, include_failed=True) == []
        if not crashed or not left:  # the crash point lay beyond the replay
            break
    assert point > 10


async def test_a_change_queued_by_another_process_goes_out_through_mailtui_sync(
    mail_user: MailUser, device: Device, data_dir: Path
) -> None:
    """The TUI does not hold the account lock while `mailtui sync` runs: its changes reach
    the syncing process as ``ExternalChange`` and go out at once."""
    device.append("INBOX", make_message(1))
    config = write_config(mail_user, data_dir)
    process = await start_mailtui_sync(config)
    store: Store | None = None
    try:
        store = await open_when_created(data_dir / "mailtui.sqlite3")
        await eventually(store.folders, within=20, what="folders synced by mailtui sync")
        await converge(store, device)
        inbox = await folder(store, "INBOX")
        await Operations(store).flag(inbox.id, [1])
        await eventually(lambda: "\\Flagged" in device.flags("INBOX")[1], what="flag on server")
        await converge(store, device, limit=5)
    finally:
        if store is not None:
            await store.close()
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0, err.decode(errors="replace")
