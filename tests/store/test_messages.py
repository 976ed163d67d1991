"""Round trips through the store: messages, flags, paging, counts, bodies, folders."""

from __future__ import annotations

import random
from array import array
from dataclasses import replace

import pytest

from sync.store import FolderMarks, SortKey, Store, StoreError
from tests.store.helpers import BASE_TIME, make_folder, record


async def test_upsert_round_trip_and_update(store: Store) -> None:
    folder = await make_folder(store)
    original = record(
        5,
        subject="Hello",
        cc="Cc Person <cc@test.example>",
        flags=("\\Seen", "$Label1", "\\Flagged"),
        has_attachment=True,
        in_reply_to="<4@test.example>",
        references="<1@test.example> <4@test.example>",
    )
    async with store.write() as w:
        await w.upsert_messages(folder, [original])
    row = await store.message(folder, 5)
    assert row is not None
    assert (row.subject, row.cc, row.from_addr, row.size) == (
        "Hello",
        "Cc Person <cc@test.example>",
        "sender5@test.example",
        1005,
    )
    assert set(row.flags) == {"\\Seen", "$Label1", "\\Flagged"}
    assert row.seen and row.flagged and not row.answered and row.has_attachment
    assert row.in_reply_to == "<4@test.example>"
    assert row.references == "<1@test.example> <4@test.example>"
    assert row.sort_key == SortKey(original.internaldate, 5)
    assert not row.has_body

    async with store.write() as w:
        await w.upsert_messages(folder, [record(5, subject="Changed", flags=("\\seen",))])
    row = await store.message(folder, 5)
    assert row is not None and row.subject == "Changed"
    assert row.seen and not row.flagged  # system flags are case-insensitive (RFC 3501 2.3.2)
    assert await store.message(folder, 6) is None


async def test_set_flags_and_remove(store: Store) -> None:
    folder = await make_folder(store)
    async with store.write() as w:
        await w.upsert_messages(folder, [record(uid) for uid in range(1, 6)])
    async with store.write() as w:
        await w.set_flags(folder, [(2, ("\\Seen",), 50), (3, ("\\Flagged",), None), (99, (), 1)])
    two, three = await store.message(folder, 2), await store.message(folder, 3)
    assert two is not None and two.seen and two.modseq == 50
    assert three is not None and three.flagged and not three.seen and three.modseq == 3
    async with store.write() as w:
        await w.remove_messages(folder, [1, 3, 42])
    assert list(await store.folder_uids(folder)) == [2, 4, 5]
    assert [row.uid for row in await store.messages(folder, [5, 3, 2, 77])] == [2, 5]
    assert await store.message_count(folder) == 3


async def test_keyset_paging_walks_the_folder_without_gaps_or_repeats(store: Store) -> None:
    folder = await make_folder(store)
    rng = random.Random(20261129)
    uids = rng.sample(range(1, 5000), 333)
    # Many equal arrival times, so the UID tie-break decides the order.
    records = [record(uid, internaldate=BASE_TIME + rng.randrange(40)) for uid in uids]
    rng.shuffle(records)
    async with store.write() as w:
        await w.upsert_messages(folder, records[:200])
    async with store.write() as w:
        await w.upsert_messages(folder, records[200:])
    expected = sorted(((r.internaldate, r.uid) for r in records), reverse=True)

    for newest_first, order in ((True, expected), (False, expected[::-1])):
        walked: list[tuple[int, int]] = []
        after: SortKey | None = None
        for _ in range(len(records) // 17 + 2):  # bounded: a broken cursor cannot loop forever
            rows = await store.page(folder, after=after, limit=17, newest_first=newest_first)
            if not rows:
                break
            assert len(rows) <= 17
            walked += [(row.internaldate, row.uid) for row in rows]
            after = rows[-1].sort_key
        assert walked == order

    sort_values, sorted_uids = await store.sort_keys(folder)
    assert isinstance(sort_values, array) and sort_values.typecode == "q"
    assert list(zip(sort_values, sorted_uids, strict=True)) == expected
    uid_array = await store.folder_uids(folder)
    assert uid_array.typecode == "q" and list(uid_array) == sorted(uids)


async def test_counts_follow_every_kind_of_change(store: Store) -> None:
    folder = await make_folder(store)
    other = await make_folder(store, "Archive")
    rng = random.Random(7)
    present: dict[int, bool] = {}  # uid -> seen
    for _round in range(12):
        async with store.write() as w:
            new = [rng.randrange(1, 300) for _ in range(rng.randrange(1, 30))]
            flags = [("\\Seen",) if rng.random() < 0.5 else () for _ in new]
            await w.upsert_messages(
                folder, [record(u, flags=f) for u, f in zip(new, flags, strict=True)]
            )
            for uid, f in zip(new, flags, strict=True):
                present[uid] = bool(f)
            changed = rng.sample(sorted(present), min(len(present), 5))
            await w.set_flags(folder, [(u, ("\\Seen",) if u % 2 else (), None) for u in changed])
            for uid in changed:
                present[uid] = bool(uid % 2)
            gone = rng.sample(sorted(present), min(len(present), 3))
            await w.remove_messages(folder, gone)
            for uid in gone:
                del present[uid]
            await w.upsert_messages(other, [record(1)])
        row = await store.folder(folder)
        assert row is not None
        assert row.total == len(present) == await store.message_count(folder)
        assert row.unread == sum(1 for seen in present.values() if not seen)
    archive = await store.folder(other)
    assert archive is not None and (archive.total, archive.unread) == (1, 1)


async def test_folder_marks_rename_and_delete(store: Store) -> None:
    folder = await make_folder(store, "Old")
    marks = FolderMarks(
        uidvalidity=9,
        uidnext=120,
        highestmodseq=4000,
        synced_low_uid=50,
        synced_high_uid=119,
        last_full_sync=BASE_TIME,
    )
    async with store.write() as w:
        await w.set_folder_marks(folder, marks)
        await w.upsert_messages(folder, [record(1)])
        await w.rename_folder(folder, "New", "New (display)")
    row = await store.folder(folder)
    assert row is not None
    assert (row.name, row.display_name, row.marks) == ("New", "New (display)", marks)
    assert await store.folder_by_name(row.account_id, "Old") is None
    assert (await store.folder_by_name(row.account_id, "New")) == row
    async with store.write() as w:
        await w.delete_folder(folder)
    assert await store.folder(folder) is None
    assert await store.message(folder, 1) is None


async def test_rename_with_inferiors_moves_exactly_the_children(store: Store) -> None:
    """RFC 3501 §6.3.5: the folders under the renamed one move along, by its delimiter; a
    sibling that only shares a prefix, or matches it as a LIKE pattern would, stays."""
    async with store.write() as w:
        account = await w.ensure_account("acct", "acct@test.example")
        ids = {
            display: await w.upsert_folder(
                account, raw, display_name=display, delimiter=".", special_use=None
            )
            for raw, display in [
                ("P_&AOk-", "P_é"),
                ("P_&AOk-.x", "P_é.x"),
                ("P_&AOk-.x.&ZeU-", "P_é.x.日"),
                ("PX&AOk-.x", "PXé.x"),
                ("P_&AOk-x", "P_éx"),
            ]
        }
        await w.rename_folder(ids["P_é"], "N&AOQ-", "Nä", inferiors=True)
    names = {f.id: (f.name, f.display_name) for f in await store.folders(account)}
    assert names == {
        ids["P_é"]: ("N&AOQ-", "Nä"),
        ids["P_é.x"]: ("N&AOQ-.x", "Nä.x"),
        ids["P_é.x.日"]: ("N&AOQ-.x.&ZeU-", "Nä.x.日"),
        ids["PXé.x"]: ("PX&AOk-.x", "PXé.x"),
        ids["P_éx"]: ("P_&AOk-x", "P_éx"),
    }


async def test_upsert_folder_is_idempotent(store: Store) -> None:
    async with store.write() as w:
        account = await w.ensure_account("a", "a@test.example")
        assert await w.ensure_account("a", "a@test.example") == account
        first = await w.upsert_folder(
            account,
            "&AMk-t&AOk-",
            display_name="Été",
            delimiter=".",
            special_use="\\Archive",
            attributes=("\\HasNoChildren",),
            subscribed=False,
        )
        again = await w.upsert_folder(
            account, "&AMk-t&AOk-", display_name="Été", delimiter=".", special_use="\\Archive"
        )
    assert first == again
    [row] = await store.folders(account)
    assert (row.name, row.display_name, row.special_use) == ("&AMk-t&AOk-", "Été", "\\Archive")
    assert row.attributes == () and row.subscribed  # the second call's values won


async def test_bodies_survive_reset_and_relink_by_content(store: Store) -> None:
    folder = await make_folder(store)
    archive = await make_folder(store, "Archive")
    raw = b"Message-ID: <1@test.example>\r\nSubject: one\r\n\r\nhello\r\n"
    async with store.write() as w:
        await w.upsert_messages(folder, [record(1), record(2)])
        assert await w.store_body(folder, 1, raw)
        assert not await w.store_body(folder, 77, b"gone")
    assert await store.body(folder, 1) == raw
    assert await store.body(folder, 2) is None

    # UIDVALIDITY changed: messages go, the body stays, and comes back by Message-ID + size.
    async with store.write() as w:
        await w.reset_folder(folder, 555)
    row = await store.folder(folder)
    assert row is not None and row.total == 0 and row.marks == FolderMarks(uidvalidity=555)
    async with store.write() as w:
        await w.upsert_messages(folder, [replace(record(1), uid=1001)])
        # A copy of the same message in another folder finds it too.
        await w.upsert_messages(archive, [replace(record(1), uid=3)])
    assert await store.body(folder, 1001) == raw
    assert await store.body(archive, 3) == raw
    relinked = await store.message(folder, 1001)
    assert relinked is not None and relinked.has_body

    async with store.write() as w:
        await w.remove_messages(folder, [1001])
        assert await w.prune_bodies() == 0  # still referenced from the archive copy
        await w.remove_messages(archive, [3])
        assert await w.prune_bodies() == 1
    async with store.write() as w:
        await w.upsert_messages(folder, [replace(record(1), uid=2001)])
    assert await store.body(folder, 2001) is None


async def test_store_body_links_existing_twins_and_relink(store: Store) -> None:
    folder = await make_folder(store)
    archive = await make_folder(store, "Archive")
    async with store.write() as w:
        await w.upsert_messages(folder, [record(1)])
        await w.upsert_messages(archive, [replace(record(1), uid=40)])
        await w.store_body(folder, 1, b"raw one")
    assert await store.body(archive, 40) == b"raw one"
    async with store.write() as w:
        assert await w.relink_bodies(archive) == 0


async def test_unit_of_work_misuse_is_refused(store: Store) -> None:
    folder = await make_folder(store)
    async with store.write() as w:
        with pytest.raises(StoreError, match="re-entrant"):
            async with store.write():
                pass
    with pytest.raises(StoreError, match="ended"):
        await w.upsert_messages(folder, [record(1)])
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.page(folder, after=None)
    with pytest.raises(StoreError, match="closed"):
        async with store.write():
            pass
