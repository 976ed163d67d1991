"""Schema migrations: a new database, one from the previous version with data, and refusals."""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import pytest

from sync.store import FolderMarks, SortKey, Store, StoreVersionError
from sync.store.schema import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    apply_migrations,
    schema_version,
    table_names,
)
from tests.store.helpers import record


async def inspect(path: Path) -> tuple[int, set[str]]:
    """The schema version and table names of the database at ``path``."""
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        return await schema_version(conn), await table_names(conn)


async def test_empty_database_migrates_to_latest(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    store = await Store.open(path)
    await store.close()
    version, tables = await inspect(path)
    assert version == LATEST_VERSION == len(MIGRATIONS)
    assert {"accounts", "folders", "messages", "bodies", "pending_ops", "outbox"} <= tables
    # Opening again is a no-op, not a second migration.
    store = await Store.open(path)
    await store.close()
    assert (await inspect(path))[0] == LATEST_VERSION


async def test_version_1_database_with_data_upgrades_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = await Store.open(path, target_version=1)
    try:
        async with old.write() as w:
            account = await w.ensure_account("work", "me@work.example")
            inbox = await w.upsert_folder(
                account, "INBOX", display_name="Inbox", delimiter="/", special_use=None
            )
            await w.upsert_messages(
                inbox, [record(uid, flags=("\\Seen",) if uid % 2 else ()) for uid in range(1, 8)]
            )
            await w.store_body(inbox, 3, b"Subject: three\r\n\r\nbody three\r\n")
            await w.set_folder_marks(inbox, FolderMarks(uidvalidity=77, uidnext=8))
    finally:
        await old.close()
    version, tables = await inspect(path)
    assert version == 1
    assert "pending_ops" not in tables and "outbox" not in tables

    store = await Store.open(path)
    try:
        version, tables = await inspect(path)
        assert version == LATEST_VERSION and {"pending_ops", "outbox"} <= tables
        [account_row] = await store.accounts()
        assert (account_row.name, account_row.email) == ("work", "me@work.example")
        [folder] = await store.folders(account_row.id)
        assert (folder.total, folder.unread) == (7, 3)
        assert folder.marks == FolderMarks(uidvalidity=77, uidnext=8)
        rows = await store.page(folder.id, after=None)
        assert [row.uid for row in rows] == [7, 6, 5, 4, 3, 2, 1]
        assert await store.body(folder.id, 3) == b"Subject: three\r\n\r\nbody three\r\n"
        # The upgraded database takes new writes normally.
        async with store.write() as w:
            await w.upsert_messages(folder.id, [record(8)])
        assert [r.uid for r in await store.page(folder.id, after=None, limit=2)] == [8, 7]
        assert [
            r.uid for r in await store.page(folder.id, after=SortKey(rows[-2].internaldate, 2))
        ] == [1]
        refreshed = await store.folder(folder.id)
        assert refreshed is not None and refreshed.total == 8
    finally:
        await store.close()


async def test_newer_database_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"

    async def future_step(conn: aiosqlite.Connection) -> None:
        """A version this code does not know; its content does not matter."""

    future = (*MIGRATIONS, Migration(LATEST_VERSION + 1, future_step, "from the future"))
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await apply_migrations(conn, future) == LATEST_VERSION + 1
    with pytest.raises(StoreVersionError) as caught:
        await Store.open(path)
    message = str(caught.value)
    assert f"schema version {LATEST_VERSION + 1}" in message
    assert f"up to version {LATEST_VERSION}" in message
    assert str(path) in message
    assert (await inspect(path))[0] == LATEST_VERSION + 1  # untouched


async def test_failed_migration_rolls_back_completely(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite3"
    v2_statements = MIGRATIONS[1].step
    assert not callable(v2_statements)

    async def half_done(conn: aiosqlite.Connection) -> None:
        for statement in v2_statements:
            await conn.execute(statement)
        raise RuntimeError("crash in the middle of a migration")

    broken = (MIGRATIONS[0], Migration(2, half_done, "fails after creating its tables"))
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        with pytest.raises(RuntimeError):
            await apply_migrations(conn, broken)
        assert await schema_version(conn) == 1
        assert "pending_ops" not in await table_names(conn)
        # The real migration then applies cleanly on top.
        assert await apply_migrations(conn) == LATEST_VERSION
