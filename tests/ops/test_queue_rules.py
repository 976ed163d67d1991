"""The chain rule, without a server: later operations follow a message's provisional UID to
its real one, back to its source when a move is refused, and out of the queue when it is gone."""

from __future__ import annotations

import json

from sync.ops import Operations
from sync.ops.queue import Target, remap
from sync.store import Store
from tests.store.helpers import make_folder, record


def _id(operation_id: int | None) -> int:
    assert operation_id is not None
    return operation_id


async def _ops(store: Store, account: int) -> list[tuple[str, int | None, list[int]]]:
    return [
        (op.kind, op.folder_id, json.loads(op.payload)["uids"])
        for op in await store.pending_operations(account)
    ]


async def test_chain_follows_the_message(store: Store) -> None:
    inbox = await make_folder(store, "INBOX")
    archive = await make_folder(store, "Archive")
    work = await make_folder(store, "Work")
    account = (await store.folders())[0].account_id
    async with store.write() as w:
        await w.upsert_messages(inbox, [record(1), record(2)])
    ops = Operations(store)
    first = await ops.move(inbox, [1], archive)
    p1 = first.provisional[1]
    await ops.flag(archive, [p1])
    second = await ops.move(archive, [p1], work)
    p2 = second.provisional[p1]
    await ops.mark_read(work, [p2, p2])  # duplicates collapse
    await ops.flag(inbox, [2])
    assert p1 < 0 and p2 < 0 and p1 != p2
    assert list(await store.folder_uids(work)) == [p2]

    # The first move is confirmed (COPYUID): every later reference to p1 becomes UID 10.
    async with store.write() as w:
        await w.change_uid(archive, p1, 10)  # nothing to rename: the row moved on
        await remap(
            w, account, archive, {p1: Target(archive, "Archive", 10)}, after=_id(first.operation_id)
        )
    assert await _ops(store, account) == [
        ("move", inbox, [1]),
        ("flags", archive, [10]),
        ("move", archive, [10]),
        ("flags", work, [p2]),
        ("flags", inbox, [2]),
    ]
    # The second move is refused: the flag change made in Work goes back with the message.
    async with store.write() as w:
        await remap(
            w, account, work, {p2: Target(archive, "Archive", 10)}, after=_id(second.operation_id)
        )
    assert (await _ops(store, account))[3] == ("flags", archive, [10])

    # A message gone from the server: what was queued for it is dropped, and a move's
    # provisional row in its destination goes too (with what was queued on that one).
    third = await ops.move(inbox, [2], work)
    p3 = third.provisional[2]
    await ops.flag(work, [p3])
    async with store.write() as w:
        await remap(w, account, inbox, {2: None}, after=0)
    kinds = [(kind, folder) for kind, folder, _ in await _ops(store, account)]
    assert ("move", work) not in kinds and kinds.count(("flags", work)) == 0
    assert p3 not in list(await store.folder_uids(work))
