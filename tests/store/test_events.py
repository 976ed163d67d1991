"""Events are published after commit only, coalesced per folder; units of work serialise."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from sync.events import Subscription
from sync.store import Store
from sync.store.events import (
    BodyStored,
    FolderCountsChanged,
    FoldersChanged,
    MessagesChanged,
    StoreEvent,
)
from tests.store.helpers import make_folder, record


def drain(subscription: Subscription[StoreEvent]) -> list[StoreEvent]:
    """Every event queued so far."""
    events: list[StoreEvent] = []
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    return events


async def test_events_are_published_after_commit(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = await make_folder(store)
    # Record, at the moment of each publish, whether the writer is still inside its transaction.
    in_transaction_at_publish: list[bool] = []
    publish = store.events.publish

    def recording_publish(event: StoreEvent) -> None:
        in_transaction_at_publish.append(store._writer.in_transaction)
        publish(event)

    monkeypatch.setattr(store.events, "publish", recording_publish)
    with store.events.subscribe() as subscription:
        async with store.write() as w:
            await w.upsert_messages(folder, [record(1), record(2, flags=("\\Seen",))])
            await w.store_body(folder, 2, b"raw")
            assert drain(subscription) == []  # nothing before the commit
        events = drain(subscription)
    assert MessagesChanged(folder, added=(1, 2)) in events
    assert FolderCountsChanged(folder, total=2, unread=1) in events
    assert BodyStored(folder, 2) in events
    # A subscriber reacting to the event reads committed data.
    assert await store.message(folder, 2) is not None
    assert in_transaction_at_publish == [False] * len(events)


async def test_nothing_is_published_or_kept_on_rollback(store: Store) -> None:
    folder = await make_folder(store)
    with store.events.subscribe() as subscription:
        with pytest.raises(RuntimeError, match="boom"):
            async with store.write() as w:
                await w.upsert_messages(folder, [record(1)])
                await w.ensure_account("other", "other@test.example")
                raise RuntimeError("boom")
        assert drain(subscription) == []
    assert await store.message(folder, 1) is None
    assert [account.name for account in await store.accounts()] == ["acct"]
    row = await store.folder(folder)
    assert row is not None and row.total == 0
    # The store stays usable after the rollback.
    async with store.write() as w:
        await w.upsert_messages(folder, [record(1)])
    assert await store.message_count(folder) == 1


async def test_changes_are_coalesced_and_exact(store: Store) -> None:
    async with store.write() as w:
        account = await w.ensure_account("acct", "acct@test.example")
    with store.events.subscribe() as subscription:
        folder = await make_folder(store)
        assert drain(subscription) == [FoldersChanged(account)]
        async with store.write() as w:
            await w.upsert_messages(folder, [record(uid) for uid in (1, 2, 3)])
        drain(subscription)
        async with store.write() as w:
            await w.upsert_messages(folder, [record(4)])
            await w.remove_messages(folder, [4, 3])  # 4 never existed outside this unit
            await w.set_flags(folder, [(1, ("\\Seen",), None), (2, (), None)])  # 2 unchanged
            await w.upsert_messages(folder, [record(2)])  # identical: not an update
        assert drain(subscription) == [
            MessagesChanged(folder, added=(), removed=(3,), updated=(1,)),
            FolderCountsChanged(folder, total=2, unread=1),
        ]
        async with store.write() as w:  # a no-change resync publishes nothing
            await w.upsert_messages(folder, [record(1, flags=("\\Seen",)), record(2)])
            await w.set_flags(folder, [(1, ("\\Seen",), None)])
        assert drain(subscription) == []
        async with store.write() as w:
            await w.upsert_messages(folder, [record(2, subject="new subject")])
        assert drain(subscription) == [MessagesChanged(folder, updated=(2,))]


async def test_units_of_work_are_serialised(store: Store) -> None:
    folder = await make_folder(store)
    order: list[str] = []
    first_inside = asyncio.Event()

    async def first() -> None:
        async with store.write() as w:
            order.append("first in")
            first_inside.set()
            await w.upsert_messages(folder, [record(1)])
            await asyncio.sleep(0.05)  # the second unit must wait here
            order.append("first out")

    async def second() -> None:
        await first_inside.wait()
        async with store.write() as w:
            order.append("second in")
            # It sees the first unit's committed row.
            assert await store.message(folder, 1) is not None
            await w.upsert_messages(folder, [record(2)])
            order.append("second out")

    async with asyncio.TaskGroup() as group:
        group.create_task(second())
        group.create_task(first())
    assert order == ["first in", "first out", "second in", "second out"]
    assert list(await store.folder_uids(folder)) == [1, 2]


async def test_events_match_a_model_under_random_mixed_units(store: Store) -> None:
    """Whatever a unit does, its event is the net difference between before and after."""
    folder = await make_folder(store)
    rng = random.Random(1129)
    model: dict[int, str] = {}  # uid -> subject
    with store.events.subscribe() as subscription:
        for _unit in range(25):
            before = dict(model)
            async with store.write() as w:
                for _step in range(rng.randrange(1, 6)):
                    uids = rng.sample(range(1, 40), rng.randrange(1, 8))
                    action = rng.choice(["upsert", "remove", "flags"])
                    if action == "upsert":
                        subjects = {uid: rng.choice(["a", "b"]) for uid in uids}
                        await w.upsert_messages(
                            folder, [record(u, subject=s) for u, s in subjects.items()]
                        )
                        model.update(subjects)
                    elif action == "remove":
                        await w.remove_messages(folder, uids)
                        for uid in uids:
                            model.pop(uid, None)
                    else:
                        await w.set_flags(folder, [(uid, ("\\Seen",), None) for uid in uids])
            changed = [e for e in drain(subscription) if isinstance(e, MessagesChanged)]
            added = set(model) - set(before)
            removed = set(before) - set(model)
            rewritten = {u for u in set(before) & set(model) if before[u] != model[u]}
            if not changed:
                assert not added and not removed and not rewritten
                continue
            [event] = changed
            assert set(event.added) == added and set(event.removed) == removed
            assert rewritten <= set(event.updated) <= set(before) & set(model)
            assert sorted(model) == list(await store.folder_uids(folder))
            row = await store.folder(folder)
            assert row is not None and row.total == len(model)


_SLOW_QUERY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) "
    "SELECT count(*) FROM c"
)


async def test_a_unit_cancelled_while_it_commits_ends_committed_and_announced(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiosqlite's thread runs a COMMIT whatever happens to the task awaiting it: a cancel
    that lands then must not roll back after the fact (an error), nor leave the commit
    unannounced; the cancellation itself goes on."""
    folder = await make_folder(store)
    writer = store._writer
    execute = writer.execute
    commit_queued = asyncio.Event()

    def execute_with_slow_commit(sql: str, *args: object) -> object:
        if sql == "COMMIT":
            # Queue a slow query first, so the COMMIT waits on the thread when we cancel.
            slow = asyncio.ensure_future(execute(_SLOW_QUERY))
            pending.append(slow)
            commit_queued.set()
        return execute(sql, *args)

    pending: list[asyncio.Future[Any]] = []
    monkeypatch.setattr(writer, "execute", execute_with_slow_commit)

    async def unit() -> None:
        async with store.write() as w:
            await w.upsert_messages(folder, [record(1)])

    with store.events.subscribe() as subscription:
        task = asyncio.create_task(unit())
        await commit_queued.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.gather(*pending)
        events = drain(subscription)
    monkeypatch.undo()
    assert await store.message(folder, 1) is not None  # the COMMIT ran
    assert MessagesChanged(folder, added=(1,)) in events  # and was announced
    async with store.write() as w:  # the store is still usable
        await w.upsert_messages(folder, [record(2)])
    assert await store.message_count(folder) == 2
