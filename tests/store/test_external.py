"""Another connection (another Store, another process) committing is noticed cheaply."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sync.events import Subscription
from sync.store import Store
from sync.store.events import ExternalChange, StoreEvent
from tests.store.helpers import make_folder, record

REPO_ROOT = Path(__file__).resolve().parents[2]

WRITER_SCRIPT = """
import asyncio, sys
from pathlib import Path
from sync.store import Store
from tests.store.helpers import record

async def main() -> None:
    store = await Store.open(Path(sys.argv[1]))
    try:
        [folder] = await store.folders()
        async with store.write() as w:
            await w.upsert_messages(folder.id, [record(uid) for uid in range(100, 110)])
    finally:
        await store.close()

asyncio.run(main())
"""


async def next_external(subscription: Subscription[StoreEvent]) -> None:
    """Wait until an ExternalChange arrives (other events are skipped)."""
    async with asyncio.timeout(5):
        while not isinstance(await subscription.get(), ExternalChange):
            pass


async def test_commit_from_a_second_store_is_noticed(store: Store, tmp_path: Path) -> None:
    folder = await make_folder(store)
    other = await Store.open(store.path)
    try:
        with store.events.subscribe() as subscription:
            async with asyncio.TaskGroup() as group:
                watcher = group.create_task(store.watch_external(interval=0.02))
                # Our own commits are not external.
                async with store.write() as w:
                    await w.upsert_messages(folder, [record(1)])
                await asyncio.sleep(0.15)  # several watch intervals: none may report
                assert not any(
                    isinstance(event, ExternalChange)
                    for event in iter(subscription.get_nowait, None)
                )
                async with other.write() as w:
                    await w.upsert_messages(folder, [record(2)])
                await next_external(subscription)
                watcher.cancel()
        assert list(await store.folder_uids(folder)) == [1, 2]
        row = await store.folder(folder)
        assert row is not None and row.total == 2  # the other writer kept the counts right
    finally:
        await other.close()


async def test_commit_from_another_process_is_noticed(store: Store) -> None:
    folder = await make_folder(store)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with store.events.subscribe() as subscription:
        async with asyncio.TaskGroup() as group:
            watcher = group.create_task(store.watch_external(interval=0.02))
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", WRITER_SCRIPT, str(store.path), env=env, cwd=REPO_ROOT
            )
            assert await process.wait() == 0
            await next_external(subscription)
            watcher.cancel()
    assert list(await store.folder_uids(folder)) == list(range(100, 110))


async def test_writers_in_two_connections_wait_for_each_other(store: Store) -> None:
    folder = await make_folder(store)
    other = await Store.open(store.path)
    try:
        holding = asyncio.Event()

        async def hold_the_lock() -> None:
            async with other.write() as w:
                await w.upsert_messages(folder, [record(1)])
                holding.set()
                await asyncio.sleep(0.2)  # hold the write lock while the other waits

        async def write_meanwhile() -> None:
            await holding.wait()
            async with store.write() as w:  # waits on SQLite's lock (busy_timeout), no error
                await w.upsert_messages(folder, [record(2)])

        async with asyncio.TaskGroup() as group:
            group.create_task(hold_the_lock())
            group.create_task(write_meanwhile())
        assert list(await store.folder_uids(folder)) == [1, 2]
    finally:
        await other.close()


async def test_watch_external_returns_when_the_store_closes(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.sqlite3")
    watcher = asyncio.create_task(store.watch_external(interval=0.01))
    await asyncio.sleep(0.03)  # the watcher is polling when the store closes under it
    await store.close()
    await asyncio.wait_for(watcher, 1)
    assert watcher.result() is None
