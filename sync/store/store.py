"""The local store: the one source of truth that sync writes and the UI reads.

One writer connection, owned here, takes every write through a unit of work (``Store.write``)
that commits atomically and then announces what changed as typed events. Reads go through a
second, read-only connection: in WAL mode it sees only committed data and never waits behind a
long write batch. No SQL lives outside this package.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import time
from array import array
from collections.abc import AsyncIterator, Awaitable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from sync.events import EventBus
from sync.store.events import (
    BodyStored,
    ChangeDropped,
    ExternalChange,
    FolderCountsChanged,
    FoldersChanged,
    MessagesChanged,
    OperationFailed,
    OperationHeld,
    OperationsChanged,
    StoreEvent,
)
from sync.store.records import (
    AccountRow,
    FolderMarks,
    FolderRow,
    MessageFields,
    MessageRecord,
    MessageRow,
    OutgoingMessage,
    PendingOperation,
    SortKey,
    flag_columns,
    message_fields,
    message_row,
    record_of,
)
from sync.store.schema import MIGRATIONS, StoreError, apply_migrations

__all__ = ["Store", "StoreWriter"]

_BUSY_TIMEOUT_MS = 10_000

MESSAGE_COLUMNS = (
    "folder_id, uid, message_id, subject, from_name, from_addr, to_addrs, cc_addrs, date,"
    " internaldate, size, flags, modseq, has_attachment, in_reply_to, refs, seen, flagged,"
    " body_hash IS NOT NULL"
)
_FOLDER_COLUMNS = (
    "id, account_id, name, display_name, delimiter, special_use, attributes, subscribed, total,"
    " unread, uidvalidity, uidnext, highestmodseq, synced_low_uid, synced_high_uid, last_full_sync"
)

# New rows: a plain INSERT (an upsert costs an extra key probe per row) of many rows per
# statement, not one statement per row (``executemany``), for two reasons:
# - SQLite opens a statement savepoint for each execution of a statement that fires
#   triggers, and FTS5 writes its pending terms to disk at every savepoint: the search
#   trigger run row by row wrote one tiny index segment per row (and merged them again),
#   49 us per row on 100k rows against 16 us with the rows in few statements (SQLite 3.40);
# - the sqlite3 module releases the GIL around each step: one step per row makes the store's
#   thread wait for the GIL a thousand times per batch while the event loop parses.
# A row whose Message-ID and size match a body kept from before (moved, or re-UIDed after a
# UIDVALIDITY change) gets that body back at once. Rows go in by ascending UID: b-tree
# appends, and rising FTS rowids (FTS5 also flushes when a rowid is not above the last one).
_MESSAGE_FIELDS = (
    "folder_id, uid, sort_value, message_id, subject, from_name, from_addr, to_addrs,"
    " cc_addrs, date, internaldate, size, flags, seen, flagged, modseq, has_attachment,"
    " in_reply_to, refs"
)
_ROW_PARAMS = "(" + ", ".join(["?"] * 18) + ")"  # one MessageFields tuple
# Rows per statement: 1024 x 18 parameters stay well below SQLite's 32766. A batch goes in
# as full statements of that size (one ``executemany``, prepared once: the sqlite3 module
# caches statements by text) and one statement for the rest. Few calls matter as much as few
# statements: each call into aiosqlite's thread waits for the event loop, and the thread for
# the GIL, while the loop is busy parsing the server's responses.
_MAX_ROWS_PER_INSERT = 1024


@lru_cache(maxsize=32)
def _insert_rows_sql(count: int) -> str:
    values = ", ".join([_ROW_PARAMS] * count)
    # VALUES columns are column1..column18 in MessageFields order (column3: message_id,
    # column11: size).
    return (
        f"INSERT INTO messages ({_MESSAGE_FIELDS}, body_hash) SELECT ?, v.*,"
        " (SELECT hash FROM bodies AS b WHERE b.message_id = v.column3 AND b.size = v.column11"
        f" LIMIT 1) FROM (VALUES {values}) AS v ORDER BY v.column1"
    )


# Existing rows: rewritten only when something differs, so a no-change resync writes no pages
# and total_changes() tells whether anything was really updated.
_UPDATE_MESSAGE = """
UPDATE messages SET
    sort_value = ?2, message_id = ?3, subject = ?4, from_name = ?5, from_addr = ?6,
    to_addrs = ?7, cc_addrs = ?8, date = ?9, internaldate = ?10, size = ?11, flags = ?12,
    seen = ?13, flagged = ?14, modseq = coalesce(?15, modseq), has_attachment = ?16,
    in_reply_to = ?17, refs = ?18
WHERE folder_id = ?19 AND uid = ?1 AND (
    (sort_value, message_id, subject, from_name, from_addr, to_addrs, cc_addrs, date,
     internaldate, size, flags, has_attachment, in_reply_to, refs)
    IS NOT (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?16, ?17, ?18)
    OR (?15 IS NOT NULL AND modseq IS NOT ?15)
)
"""

# ``uid IN (json_each)`` keeps the primary-key probe per UID; a JOIN on json_each lets the
# planner scan the whole folder once per UID instead.
_EXISTING_UIDS = (
    "SELECT uid FROM messages WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?))"
)
_CURRENT_FLAGS = (
    "SELECT uid, flags, modseq FROM messages"
    " WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?))"
)
_SET_FLAGS = (
    "UPDATE messages SET flags = ?, seen = ?, flagged = ?, modseq = coalesce(?, modseq)"
    " WHERE folder_id = ? AND uid = ?"
)

_UPDATE_COUNTS = """
WITH unread (n) AS MATERIALIZED (SELECT count(*) FROM messages WHERE folder_id = ?1 AND seen = 0)
UPDATE folders SET total = total + ?2, unread = (SELECT n FROM unread)
WHERE id = ?1 AND (?2 != 0 OR unread != (SELECT n FROM unread))
RETURNING total, unread
"""

_OPERATION_COLUMNS = (
    "id, account_id, kind, folder_id, folder_name, payload, created_at, attempts, last_error,"
    " state = 'failed', next_attempt_at"
)
_OPERATIONS_SQL = (
    f"SELECT {_OPERATION_COLUMNS} FROM pending_ops"
    " WHERE account_id = ? AND (? OR state != 'failed') ORDER BY id"
)
_OPERATION_SQL = f"SELECT {_OPERATION_COLUMNS} FROM pending_ops WHERE id = ?"

_OUTBOX_COLUMNS = (
    "id, account_id, raw, envelope_from, recipients, created_at, attempts, next_attempt_at,"
    " last_error, state, after_send"
)
_OUTBOX_SQL = (
    f"SELECT {_OUTBOX_COLUMNS} FROM outbox"
    " WHERE account_id = ? AND (? OR state != 'failed') ORDER BY id"
)


def _outgoing(row: sqlite3.Row | tuple[Any, ...]) -> OutgoingMessage:
    return OutgoingMessage(
        id=row[0],
        account_id=row[1],
        raw=bytes(row[2]),
        envelope_from=row[3],
        recipients=tuple(json.loads(row[4])),
        created_at=row[5],
        attempts=row[6],
        next_attempt_at=row[7],
        last_error=row[8],
        failed=row[9] == "failed",
        state=row[9],
        after_send=row[10],
    )


def _operation(row: sqlite3.Row | tuple[Any, ...]) -> PendingOperation:
    return PendingOperation(
        id=row[0],
        account_id=row[1],
        kind=row[2],
        folder_id=row[3],
        folder_name=row[4],
        payload=row[5],
        created_at=row[6],
        attempts=row[7],
        last_error=row[8],
        failed=bool(row[9]),
        next_attempt_at=row[10],
    )


def _flags_text(flags: Iterable[str]) -> str:
    return " ".join(sorted(set(flags)))


def _folder_row(row: sqlite3.Row | tuple[Any, ...]) -> FolderRow:
    return FolderRow(
        id=row[0],
        account_id=row[1],
        name=row[2],
        display_name=row[3],
        delimiter=row[4],
        special_use=row[5],
        attributes=tuple(row[6].split()),
        subscribed=bool(row[7]),
        total=row[8],
        unread=row[9],
        marks=FolderMarks(
            uidvalidity=row[10],
            uidnext=row[11],
            highestmodseq=row[12],
            synced_low_uid=row[13],
            synced_high_uid=row[14],
            last_full_sync=row[15],
        ),
    )


def _create_private(path: Path) -> None:
    """Create a missing database file (and data directory) readable by the user only.

    Mail is private; SQLite gives the -wal and -shm files the database file's permissions.
    An empty file is a valid empty database.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class _FolderChanges:
    """Net message changes of one folder within a unit of work."""

    __slots__ = ("added", "removed", "updated")

    def __init__(self) -> None:
        self.added: set[int] = set()
        self.removed: set[int] = set()
        self.updated: set[int] = set()

    def add(self, uids: Iterable[int]) -> None:
        for uid in uids:
            if uid in self.removed:  # removed then re-added: it existed before and after
                self.removed.discard(uid)
                self.updated.add(uid)
            else:
                self.added.add(uid)

    def remove(self, uids: Iterable[int]) -> None:
        for uid in uids:
            self.updated.discard(uid)
            if uid in self.added:  # added then removed: never visible outside
                self.added.discard(uid)
            else:
                self.removed.add(uid)

    def update(self, uids: Iterable[int]) -> None:
        self.updated.update(uid for uid in uids if uid not in self.added)

    def event(self, folder_id: int) -> MessagesChanged | None:
        if not (self.added or self.removed or self.updated):
            return None
        return MessagesChanged(
            folder_id,
            added=tuple(sorted(self.added)),
            removed=tuple(sorted(self.removed)),
            updated=tuple(sorted(self.updated)),
        )


class StoreWriter:
    """One unit of work on the writer connection; obtained from ``Store.write()`` only.

    Everything done through it commits together, and its events are published after the
    commit. It is unusable once its ``async with`` block has ended.
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._open = True
        self._messages: dict[int, _FolderChanges] = {}
        self._counted: set[int] = set()
        self._accounts: set[int] = set()
        self._operations: set[int] = set()
        self._bodies: list[BodyStored] = []
        self._notices: list[OperationFailed | ChangeDropped | OperationHeld] = []

    # -- helpers ---------------------------------------------------------------------------

    def _check(self) -> aiosqlite.Connection:
        if not self._open:
            raise StoreError("this unit of work has ended; open a new one with store.write()")
        return self._db

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """Every row of ``sql`` inside this unit of work (it sees the unit's own writes)."""
        async with self._check().execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, params: Sequence[object] = ()) -> Any:
        """The first row of ``sql`` inside this unit of work, or None."""
        async with self._check().execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def _total_changes(self) -> int:
        row = await self.fetch_one("SELECT total_changes()")
        return int(row[0])

    def _changes(self, folder_id: int) -> _FolderChanges:
        self._counted.add(folder_id)
        changes = self._messages.get(folder_id)
        if changes is None:
            changes = self._messages[folder_id] = _FolderChanges()
        return changes

    # -- accounts and folders --------------------------------------------------------------

    async def ensure_account(self, name: str, email: str) -> int:
        """Return the id of the account ``name``, creating it (or updating its email)."""
        rows = await self.fetch_all(
            "INSERT INTO accounts (name, email) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET"
            " email = excluded.email WHERE email IS NOT excluded.email RETURNING id",
            (name, email),
        )
        if rows:
            self._accounts.add(int(rows[0][0]))
            return int(rows[0][0])
        row = await self.fetch_one("SELECT id FROM accounts WHERE name = ?", (name,))
        return int(row[0])

    async def upsert_folder(
        self,
        account_id: int,
        name: str,
        *,
        display_name: str,
        delimiter: str | None,
        special_use: str | None,
        attributes: Sequence[str] = (),
        subscribed: bool = True,
    ) -> int:
        """Create or update the folder ``name`` (spelled as the server does); return its id."""
        params = (
            account_id,
            name,
            display_name,
            delimiter,
            special_use,
            " ".join(attributes),
            subscribed,
        )
        rows = await self.fetch_all(
            "INSERT INTO folders (account_id, name, display_name, delimiter, special_use,"
            " attributes, subscribed) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (account_id, name) DO UPDATE SET display_name = excluded.display_name,"
            " delimiter = excluded.delimiter, special_use = excluded.special_use,"
            " attributes = excluded.attributes, subscribed = excluded.subscribed"
            " WHERE (display_name, delimiter, special_use, attributes, subscribed) IS NOT"
            " (excluded.display_name, excluded.delimiter, excluded.special_use,"
            " excluded.attributes, excluded.subscribed)"
            " RETURNING id",
            params,
        )
        if rows:
            self._accounts.add(account_id)
            return int(rows[0][0])
        row = await self.fetch_one(
            "SELECT id FROM folders WHERE account_id = ? AND name = ?", (account_id, name)
        )
        return int(row[0])

    async def rename_folder(
        self, folder_id: int, new_name: str, display_name: str, *, inferiors: bool = False
    ) -> None:
        """Rename a folder in place: its messages, bodies and marks stay with it.

        With ``inferiors`` the folders under it (by its delimiter) are renamed along, as a
        server's RENAME does (RFC 3501 §6.3.5): ``A/x`` becomes ``B/x`` when ``A`` becomes
        ``B``. The engine's folder-list sync renames each folder on its own instead.
        """
        old = await self.fetch_one(
            "SELECT account_id, name, display_name, delimiter FROM folders WHERE id = ?",
            (folder_id,),
        )
        if old is None:
            raise StoreError(f"no folder with id {folder_id}")
        account_id, old_name, old_display, delimiter = old
        await self.fetch_all(
            "UPDATE folders SET name = ?, display_name = ? WHERE id = ?",
            (new_name, display_name, folder_id),
        )
        if inferiors and delimiter:
            # Prefixes compared with substr, not LIKE: names may hold "%" and "_". The
            # delimiter is printable ASCII, so modified UTF-7 never encodes it into a run and
            # the server name of a child is its parent's server name, delimiter, rest.
            await self.fetch_all(
                "UPDATE folders SET name = ?1 || substr(name, ?2 + 1),"
                " display_name = ?3 || substr(display_name, ?4 + 1)"
                " WHERE account_id = ?5 AND id != ?6"
                " AND substr(name, 1, ?2) = ?7 AND substr(display_name, 1, ?4) = ?8",
                (
                    new_name + delimiter,
                    len(old_name) + len(delimiter),
                    display_name + delimiter,
                    len(old_display) + len(delimiter),
                    account_id,
                    folder_id,
                    old_name + delimiter,
                    old_display + delimiter,
                ),
            )
        self._accounts.add(int(account_id))

    async def delete_folder(self, folder_id: int) -> None:
        """Delete a folder and its messages (bodies stay until ``prune_bodies``)."""
        rows = await self.fetch_all(
            "DELETE FROM folders WHERE id = ? RETURNING account_id", (folder_id,)
        )
        if rows:
            self._accounts.add(int(rows[0][0]))
            self._messages.pop(folder_id, None)
            self._counted.discard(folder_id)

    async def set_folder_marks(self, folder_id: int, marks: FolderMarks) -> None:
        """Record a folder's server state and sync progress (commits with this unit's batch).

        Marks are sync bookkeeping, not display: no event is published for them.
        """
        rows = await self.fetch_all(
            "UPDATE folders SET uidvalidity = ?, uidnext = ?, highestmodseq = ?,"
            " synced_low_uid = ?, synced_high_uid = ?, last_full_sync = ? WHERE id = ?"
            " RETURNING id",
            (
                marks.uidvalidity,
                marks.uidnext,
                marks.highestmodseq,
                marks.synced_low_uid,
                marks.synced_high_uid,
                marks.last_full_sync,
                folder_id,
            ),
        )
        if not rows:
            raise StoreError(f"no folder with id {folder_id}")

    async def reset_folder(self, folder_id: int, uidvalidity: int) -> None:
        """Forget a folder's messages and marks after a UIDVALIDITY change (RFC 3501 2.3.1.1).

        Bodies are kept by content: messages upserted again with the same Message-ID and size
        get their bodies back without a download.
        """
        await self.set_folder_marks(folder_id, FolderMarks(uidvalidity=uidvalidity))
        rows = await self.fetch_all(
            "DELETE FROM messages WHERE folder_id = ? RETURNING uid", (folder_id,)
        )
        self._changes(folder_id).remove(row[0] for row in rows)

    # -- messages --------------------------------------------------------------------------

    async def upsert_messages(self, folder_id: int, records: Sequence[MessageRecord]) -> None:
        """Insert or update message rows keyed by (folder, UID); the last record of a UID wins.

        A new row whose Message-ID and size match a kept body is linked to it at once.
        """
        await self.upsert_rows(folder_id, [message_fields(record) for record in records])

    async def upsert_rows(self, folder_id: int, rows: Sequence[MessageFields]) -> None:
        """Like :meth:`upsert_messages`, from row tuples (``message_fields``): the sync
        engine's bulk path, with no per-message object between the wire and SQLite."""
        if not rows:
            return
        db = self._check()
        by_uid = {row[0]: row for row in rows}
        existing = await self._existing_uids(folder_id, by_uid)
        changes = self._changes(folder_id)
        if len(existing) < len(by_uid):
            new_rows = (
                list(by_uid.values())
                if not existing
                else [row for uid, row in by_uid.items() if uid not in existing]
            )
            new_rows.sort(key=itemgetter(0))  # by UID, across statements too
            full = len(new_rows) - len(new_rows) % _MAX_ROWS_PER_INSERT
            if full:
                await db.executemany(
                    _insert_rows_sql(_MAX_ROWS_PER_INSERT),
                    [
                        [folder_id, *chain.from_iterable(new_rows[at : at + _MAX_ROWS_PER_INSERT])]
                        for at in range(0, full, _MAX_ROWS_PER_INSERT)
                    ],
                )
            if full < len(new_rows):
                rest = new_rows[full:]
                await db.execute(
                    _insert_rows_sql(len(rest)), [folder_id, *chain.from_iterable(rest)]
                )
            changes.add(uid for uid in by_uid if uid not in existing)
        if existing:
            before = await self._total_changes()
            await db.executemany(_UPDATE_MESSAGE, [(*by_uid[uid], folder_id) for uid in existing])
            # Existing rows are reported only when at least one was really rewritten.
            if await self._total_changes() != before:
                changes.update(existing)

    async def _existing_uids(self, folder_id: int, uids: Collection[int]) -> set[int]:
        low, high = min(uids), max(uids)
        # Sync writes dense UID ranges that are usually all new: one range count proves it.
        row = await self.fetch_one(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE folder_id = ? AND uid BETWEEN ? AND ?)",
            (folder_id, low, high),
        )
        if not row[0]:
            return set()
        rows = await self.fetch_all(_EXISTING_UIDS, (folder_id, json.dumps(list(uids))))
        return {row[0] for row in rows}

    async def set_flags(
        self, folder_id: int, updates: Iterable[tuple[int, Sequence[str], int | None]]
    ) -> None:
        """Replace the flags (and MODSEQ, when given) of messages; unknown UIDs are ignored."""
        wanted = {uid: (_flags_text(flags), modseq) for uid, flags, modseq in updates}
        if not wanted:
            return
        current = await self.fetch_all(_CURRENT_FLAGS, (folder_id, json.dumps(list(wanted))))
        params: list[tuple[object, ...]] = []
        changed: list[int] = []
        for uid, flags_text, modseq in current:
            new_flags, new_modseq = wanted[uid]
            if new_flags == flags_text and (new_modseq is None or new_modseq == modseq):
                continue  # unchanged: no write, no event
            _, seen, flagged = flag_columns(tuple(new_flags.split()))
            params.append((new_flags, seen, flagged, new_modseq, folder_id, uid))
            changed.append(uid)
        if params:
            await self._check().executemany(_SET_FLAGS, params)
            self._changes(folder_id).update(changed)

    async def remove_messages(self, folder_id: int, uids: Iterable[int]) -> None:
        """Remove messages (expunged or moved away); their bodies are kept by content."""
        uid_list = list(uids)
        if not uid_list:
            return
        rows = await self.fetch_all(
            "DELETE FROM messages WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?))"
            " RETURNING uid",
            (folder_id, json.dumps(uid_list)),
        )
        self._changes(folder_id).remove(row[0] for row in rows)

    # -- bodies ----------------------------------------------------------------------------

    async def store_body(self, folder_id: int, uid: int, raw: bytes) -> bool:
        """Keep a message's raw body; return False when the message is no longer stored.

        Other rows of the same message (same Message-ID and size, e.g. a copy in another
        folder) that lack a body are linked to it as well.
        """
        row = await self.fetch_one(
            "SELECT message_id, size FROM messages WHERE folder_id = ? AND uid = ?",
            (folder_id, uid),
        )
        if row is None:
            return False
        message_id, size = row[0], row[1]
        digest = hashlib.sha256(raw).digest()
        await self.fetch_all(
            "INSERT INTO bodies (hash, message_id, size, raw, stored_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (hash) DO NOTHING",
            (digest, message_id, size, raw, int(time.time())),
        )
        await self.fetch_all(
            "UPDATE messages SET body_hash = ? WHERE folder_id = ? AND uid = ?",
            (digest, folder_id, uid),
        )
        self._bodies.append(BodyStored(folder_id, uid))
        if message_id is not None:
            twins = await self.fetch_all(
                "UPDATE messages SET body_hash = ? WHERE message_id = ? AND size = ?"
                " AND body_hash IS NULL RETURNING folder_id, uid",
                (digest, message_id, size),
            )
            self._bodies.extend(BodyStored(twin[0], twin[1]) for twin in twins)
        return True

    async def relink_bodies(self, folder_id: int) -> int:
        """Link bodiless messages of a folder to kept bodies by Message-ID and size.

        ``upsert_messages`` already does this for rows it inserts; this catches rows whose
        body was stored later under another folder. Returns how many were linked.
        """
        rows = await self.fetch_all(
            "UPDATE messages SET body_hash = (SELECT b.hash FROM bodies AS b"
            " WHERE b.message_id = messages.message_id AND b.size = messages.size LIMIT 1)"
            " WHERE folder_id = ? AND body_hash IS NULL AND message_id IS NOT NULL"
            " AND EXISTS (SELECT 1 FROM bodies AS b"
            " WHERE b.message_id = messages.message_id AND b.size = messages.size)"
            " RETURNING uid",
            (folder_id,),
        )
        self._bodies.extend(BodyStored(folder_id, row[0]) for row in rows)
        return len(rows)

    async def prune_bodies(self) -> int:
        """Delete bodies no message refers to any more; return how many went.

        Call it after a full reconciliation, not between a reset and the re-fetch that would
        re-link them.
        """
        rows = await self.fetch_all(
            "DELETE FROM bodies WHERE NOT EXISTS"
            " (SELECT 1 FROM messages AS m WHERE m.body_hash = bodies.hash) RETURNING id"
        )
        return len(rows)

    # -- pending operations and outbox -----------------------------------------------------

    async def enqueue_operation(
        self,
        account_id: int,
        kind: str,
        *,
        folder_id: int | None = None,
        folder_name: str | None = None,
        payload: str = "{}",
    ) -> int:
        """Queue a local change for the server; return its id (operations replay in id order).

        Queue it in the same unit of work as the local change it mirrors, so a crash keeps
        both or neither.
        """
        row = await self.fetch_one(
            "INSERT INTO pending_ops (account_id, kind, folder_id, folder_name, payload,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (account_id, kind, folder_id, folder_name, payload, int(time.time())),
        )
        self._operations.add(account_id)
        return int(row[0])

    async def finish_operation(self, operation_id: int) -> None:
        """Drop an operation the server has applied."""
        await self._operation_done("pending_ops", operation_id)

    async def fail_operation(
        self,
        operation_id: int,
        error: str,
        *,
        give_up: bool,
        next_attempt_at: int | None = None,
    ) -> None:
        """Record a failed attempt; ``give_up`` parks it as failed (kept, shown, not retried
        until ``retry_operation``); otherwise it waits until ``next_attempt_at``."""
        rows = await self.fetch_all(
            "UPDATE pending_ops SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,"
            " state = CASE WHEN ? THEN 'failed' ELSE state END WHERE id = ? RETURNING account_id",
            (error, None if give_up else next_attempt_at, give_up, operation_id),
        )
        self._operations.update(int(row[0]) for row in rows)

    async def retry_operation(self, operation_id: int) -> None:
        """Put a failed operation back in the queue, to be tried at once, in its old place."""
        rows = await self.fetch_all(
            "UPDATE pending_ops SET state = 'pending', attempts = 0, next_attempt_at = NULL"
            " WHERE id = ? RETURNING account_id",
            (operation_id,),
        )
        self._operations.update(int(row[0]) for row in rows)

    async def update_operation(
        self, operation_id: int, *, folder_id: int | None, folder_name: str | None, payload: str
    ) -> None:
        """Rewrite a queued operation (its target resolved, or its progress recorded)."""
        rows = await self.fetch_all(
            "UPDATE pending_ops SET folder_id = ?, folder_name = ?, payload = ? WHERE id = ?"
            " RETURNING account_id",
            (folder_id, folder_name, payload, operation_id),
        )
        self._operations.update(int(row[0]) for row in rows)

    async def operations(
        self, account_id: int, *, include_failed: bool = True
    ) -> list[PendingOperation]:
        """An account's queued operations as this unit of work sees them, in replay order."""
        rows = await self.fetch_all(_OPERATIONS_SQL, (account_id, include_failed))
        return [_operation(row) for row in rows]

    async def operation(self, operation_id: int) -> PendingOperation | None:
        """One queued operation as this unit of work sees it, or None."""
        row = await self.fetch_one(_OPERATION_SQL, (operation_id,))
        return None if row is None else _operation(row)

    def announce(self, event: OperationFailed | ChangeDropped | OperationHeld) -> None:
        """Publish ``event`` after this unit commits (never if it rolls back)."""
        self._notices.append(event)

    # -- optimistic local changes (sync.ops) ------------------------------------------------

    async def messages(self, folder_id: int, uids: Iterable[int]) -> list[MessageRow]:
        """The rows of these UIDs that exist, as this unit of work sees them, by UID."""
        rows = await self.fetch_all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages"
            " WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
            (folder_id, json.dumps(list(uids))),
        )
        return [message_row(row) for row in rows]

    async def provisional_uids(self, count: int) -> list[int]:
        """``count`` fresh negative UIDs for rows whose server UID is not known yet.

        Server UIDs start at 1 (RFC 3501 2.3.1.1), so these never meet one; they are never
        handed out twice, in any folder.
        """
        if count <= 0:
            return []
        row = await self.fetch_one(
            "UPDATE provisional_uids SET last = last - ? RETURNING last + ?", (count, count)
        )
        start = int(row[0])
        return [start - 1 - index for index in range(count)]

    async def change_flags(
        self, folder_id: int, uids: Iterable[int], add: Iterable[str], remove: Iterable[str]
    ) -> list[int]:
        """Apply a flag delta to stored rows (compared case-insensitively, RFC 3501 2.3.2);
        return the UIDs whose flags really changed."""
        adding = list(add)
        removing = {flag.lower() for flag in remove}
        updates: list[tuple[int, Sequence[str], int | None]] = []
        for row in await self.messages(folder_id, uids):
            kept = [flag for flag in row.flags if flag.lower() not in removing]
            present = {flag.lower() for flag in kept}
            new = kept + [flag for flag in adding if flag.lower() not in present]
            if sorted(new) != sorted(row.flags):
                updates.append((row.uid, new, None))
        await self.set_flags(folder_id, updates)
        return [uid for uid, _, _ in updates]

    async def copy_messages(
        self, source_id: int, dest_id: int, pairs: Sequence[tuple[int, int]]
    ) -> list[int]:
        """Copy rows (source UID, new UID) into another folder with their bodies; return the
        new UIDs written. MODSEQ is not copied: it belongs to the source folder."""
        if not pairs:
            return []
        rows = await self.fetch_all(
            "INSERT INTO messages (folder_id, uid, sort_value, message_id, subject, from_name,"
            " from_addr, to_addrs, cc_addrs, date, internaldate, size, flags, seen, flagged,"
            " modseq, has_attachment, in_reply_to, refs, body_hash)"
            " SELECT ?, json_extract(j.value, '$[1]'), m.sort_value, m.message_id, m.subject,"
            " m.from_name, m.from_addr, m.to_addrs, m.cc_addrs, m.date, m.internaldate, m.size,"
            " m.flags, m.seen, m.flagged, NULL, m.has_attachment, m.in_reply_to, m.refs,"
            " m.body_hash FROM json_each(?) AS j JOIN messages AS m"
            " ON m.folder_id = ? AND m.uid = json_extract(j.value, '$[0]')"
            " WHERE 1 ON CONFLICT (folder_id, uid) DO NOTHING RETURNING uid",
            (dest_id, json.dumps([list(pair) for pair in pairs]), source_id),
        )
        added = [int(row[0]) for row in rows]
        self._changes(dest_id).add(added)
        return added

    async def change_uid(self, folder_id: int, old_uid: int, new_uid: int) -> bool:
        """Give a (provisional) row its real UID; when a row with that UID already exists
        (the sync fetched it first), the provisional one is dropped instead: never twice.
        Returns whether the old row existed."""
        if await self.fetch_one(
            "SELECT 1 FROM messages WHERE folder_id = ? AND uid = ?", (folder_id, new_uid)
        ):
            rows = await self.fetch_all(
                "DELETE FROM messages WHERE folder_id = ? AND uid = ? RETURNING uid",
                (folder_id, old_uid),
            )
            self._changes(folder_id).remove([old_uid] if rows else [])
            return bool(rows)
        rows = await self.fetch_all(
            "UPDATE messages SET uid = ? WHERE folder_id = ? AND uid = ? RETURNING uid",
            (new_uid, folder_id, old_uid),
        )
        if rows:
            changes = self._changes(folder_id)
            changes.remove([old_uid])
            changes.add([new_uid])
        return bool(rows)

    async def restore_messages(self, folder_id: int, rows: Sequence[MessageRow]) -> None:
        """Put rows back as they were (a rejected move or delete is rolled back)."""
        await self.upsert_messages(folder_id, [record_of(row) for row in rows])

    async def queue_outgoing(
        self,
        account_id: int,
        raw: bytes,
        envelope_from: str,
        recipients: Sequence[str],
        *,
        after_send: str = "{}",
    ) -> int:
        """Put a message in the outbox; return its id. ``after_send`` (JSON) is what
        ``sync.outbox`` does once the message is sent, kept with it."""
        row = await self.fetch_one(
            "INSERT INTO outbox (account_id, raw, envelope_from, recipients, created_at,"
            " after_send) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (
                account_id,
                raw,
                envelope_from,
                json.dumps(list(recipients)),
                int(time.time()),
                after_send,
            ),
        )
        self._operations.add(account_id)
        return int(row[0])

    async def outgoing(self, outbox_id: int) -> OutgoingMessage | None:
        """One outbox message as this unit of work sees it, or None."""
        row = await self.fetch_one(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (outbox_id,)
        )
        return None if row is None else _outgoing(row)

    async def outgoing_sending(self, outbox_id: int) -> bool:
        """Mark a queued message as being handed to the SMTP server (before the first byte
        goes out); False when it is not queued any more (discarded, failed, or taken)."""
        rows = await self.fetch_all(
            "UPDATE outbox SET state = 'sending' WHERE id = ? AND state = 'queued'"
            " RETURNING account_id",
            (outbox_id,),
        )
        self._operations.update(int(row[0]) for row in rows)
        return bool(rows)

    async def outgoing_requeue(
        self, account_id: int, note: str, *, keep: Collection[int] = ()
    ) -> list[int]:
        """Put the account's ``sending`` messages (but those in ``keep``) back in the queue
        with ``note`` as their last error; return their ids. For messages whose sender died
        or was cancelled before it could record the SMTP server's answer."""
        rows = await self.fetch_all(
            "UPDATE outbox SET state = 'queued', last_error = ?, next_attempt_at = NULL"
            " WHERE account_id = ? AND state = 'sending'"
            " AND id NOT IN (SELECT value FROM json_each(?)) RETURNING id",
            (note, account_id, json.dumps(list(keep))),
        )
        if rows:
            self._operations.add(account_id)
        return [int(row[0]) for row in rows]

    async def retry_outgoing(self, outbox_id: int) -> bool:
        """Put a failed message back in the queue, to be sent at once; False if it is not
        failed."""
        rows = await self.fetch_all(
            "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = NULL"
            " WHERE id = ? AND state = 'failed' RETURNING account_id",
            (outbox_id,),
        )
        self._operations.update(int(row[0]) for row in rows)
        return bool(rows)

    async def discard_outgoing(self, outbox_id: int) -> bool:
        """Drop a queued or failed message; False when there is none, or it is being sent."""
        rows = await self.fetch_all(
            "DELETE FROM outbox WHERE id = ? AND state != 'sending' RETURNING account_id",
            (outbox_id,),
        )
        self._operations.update(int(row[0]) for row in rows)
        return bool(rows)

    async def find_messages(self, account_id: int, message_id: str) -> list[tuple[int, int]]:
        """(folder id, UID) of the account's stored messages with this Message-ID."""
        return [
            (int(row[0]), int(row[1]))
            for row in await self.fetch_all(
                "SELECT m.folder_id, m.uid FROM messages AS m JOIN folders AS f"
                " ON f.id = m.folder_id WHERE m.message_id = ? AND f.account_id = ?"
                " ORDER BY m.folder_id, m.uid",
                (message_id, account_id),
            )
        ]

    async def outgoing_sent(self, outbox_id: int) -> None:
        """Drop an outbox message the SMTP server accepted."""
        await self._operation_done("outbox", outbox_id)

    async def outgoing_failed(
        self, outbox_id: int, error: str, *, next_attempt_at: int | None, give_up: bool
    ) -> None:
        """Record a failed send; retry at ``next_attempt_at`` (queued again), or park it as
        failed when ``give_up``."""
        rows = await self.fetch_all(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,"
            " state = CASE WHEN ? THEN 'failed' ELSE 'queued' END WHERE id = ?"
            " RETURNING account_id",
            (error, next_attempt_at, give_up, outbox_id),
        )
        self._operations.update(int(row[0]) for row in rows)

    async def _operation_done(self, table: str, row_id: int) -> None:
        rows = await self.fetch_all(
            f"DELETE FROM {table} WHERE id = ? RETURNING account_id", (row_id,)
        )
        self._operations.update(int(row[0]) for row in rows)

    # -- commit ----------------------------------------------------------------------------

    async def _finish(self) -> list[StoreEvent]:
        """Bring cached counts up to date (inside the transaction); return the events."""
        events: list[StoreEvent] = []
        counts: list[StoreEvent] = []
        for folder_id in sorted(self._counted):
            changes = self._messages.get(folder_id)
            delta = 0 if changes is None else len(changes.added) - len(changes.removed)
            # total follows from the exact net adds and removes; unread is a range of the
            # partial index messages_unseen (only unread rows are in it). One statement (one
            # call into the store's thread); the row is written only when a count changed.
            rows = await self.fetch_all(_UPDATE_COUNTS, (folder_id, delta))
            if rows:
                counts.append(FolderCountsChanged(folder_id, rows[0][0], rows[0][1]))
        events.extend(FoldersChanged(account_id) for account_id in sorted(self._accounts))
        for folder_id, changes in sorted(self._messages.items()):
            event = changes.event(folder_id)
            if event is not None:
                events.append(event)
        events.extend(counts)
        events.extend(self._bodies)
        events.extend(OperationsChanged(account_id) for account_id in sorted(self._operations))
        events.extend(self._notices)
        return events


class Store:
    """The local mail store. Open with ``await Store.open(path)``; always ``await close()``."""

    def __init__(
        self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection
    ) -> None:
        self.path = path
        self.events: EventBus[StoreEvent] = EventBus()
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._write_owner: asyncio.Task[Any] | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, target_version: int | None = None) -> Store:
        """Open (creating and migrating as needed) the store at ``path``.

        ``target_version`` stops migrations at that version; it exists for migration tests.
        Raises ``StoreVersionError`` when the database is newer than this code.
        """
        await asyncio.to_thread(_create_private, path)
        writer = await aiosqlite.connect(path, isolation_level=None)
        reader: aiosqlite.Connection | None = None
        try:
            # WAL: readers (this process's reader, other processes) never block the writer.
            # synchronous=NORMAL is durable across application crashes in WAL mode; a power
            # loss may lose the last commits, which the next sync fetches again.
            # busy_timeout first: switching to WAL needs a lock another process may hold.
            for pragma in (
                f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}",
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA temp_store = MEMORY",
            ):
                async with writer.execute(pragma) as cursor:
                    result = await cursor.fetchone()
                if pragma.startswith("PRAGMA journal_mode") and (
                    result is None or result[0] != "wal"
                ):
                    raise StoreError(
                        f"could not put {path} in WAL mode (its file system may not support"
                        " shared memory, as network file systems often do not); use a data"
                        " directory on a local disk"
                    )
            await apply_migrations(writer, MIGRATIONS, target=target_version, path=path)
            reader = await aiosqlite.connect(path, isolation_level=None)
            for pragma in ("PRAGMA query_only = ON", f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}"):
                async with reader.execute(pragma):
                    pass
        except BaseException:
            if reader is not None:
                await reader.close()
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        """Wait for a running unit of work, then close both connections and the event bus."""
        if self._closed:
            return
        async with self._write_lock:
            self._closed = True
            try:
                await self._reader.close()
            finally:
                await self._writer.close()
                self.events.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    def _is_closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- writing ---------------------------------------------------------------------------

    @asynccontextmanager
    async def write(self) -> AsyncIterator[StoreWriter]:
        """A unit of work: serialised, committed atomically, rolled back on any exception.

        Events are published after the commit, never after a rollback.
        """
        task = asyncio.current_task()
        if task is not None and self._write_owner is task:
            raise StoreError("store.write() is not re-entrant; reuse the open unit of work")
        async with self._write_lock:
            if self._closed:
                raise StoreError("the store is closed")
            self._write_owner = task
            db = self._writer
            unit = StoreWriter(db)
            try:
                if db.in_transaction:  # left open by a unit whose ROLLBACK failed
                    await _to_the_end(db.execute("ROLLBACK"))
                try:
                    # IMMEDIATE takes the write lock now, so a concurrent writer in another
                    # process makes us wait (busy_timeout) instead of failing mid-unit.
                    await _to_the_end(db.execute("BEGIN IMMEDIATE"))
                    yield unit
                    events = await unit._finish()
                    committing = asyncio.ensure_future(db.execute("COMMIT"))
                    try:
                        await asyncio.shield(committing)
                    except asyncio.CancelledError:
                        # The COMMIT runs on in aiosqlite's thread whatever happens to this
                        # task: wait for its outcome, so what was committed is announced
                        # (and not "rolled back" after the fact), then let the cancel go on.
                        await asyncio.wait({committing})
                        if committing.exception() is None:
                            self._publish(events)
                        raise
                except BaseException:
                    if db.in_transaction:
                        await _to_the_end(db.execute("ROLLBACK"))
                    raise
            finally:
                unit._open = False
                self._write_owner = None
        self._publish(events)

    def _publish(self, events: list[StoreEvent]) -> None:
        for event in events:
            self.events.publish(event)

    # -- reading: the public query surface -------------------------------------------------

    async def fetch_all(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """Every row of a read-only ``sql`` on the reader connection (a WAL snapshot).

        The store's public query surface for modules that keep their own SQL over its
        tables (``sync.store.search``, ``sync.store.addresses``); raises when closed.
        """
        if self._closed:
            raise StoreError("the store is closed")
        async with self._reader.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, params: Sequence[object] = ()) -> Any:
        """The first row of a read-only ``sql`` on the reader connection, or None."""
        if self._closed:
            raise StoreError("the store is closed")
        async with self._reader.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def accounts(self) -> list[AccountRow]:
        """All accounts, in creation order."""
        rows = await self.fetch_all("SELECT id, name, email FROM accounts ORDER BY id")
        return [AccountRow(row[0], row[1], row[2]) for row in rows]

    async def folders(self, account_id: int | None = None) -> list[FolderRow]:
        """Folders (of one account, or all) with their total and unread counts, by name."""
        if account_id is None:
            rows = await self.fetch_all(
                f"SELECT {_FOLDER_COLUMNS} FROM folders ORDER BY account_id, name"
            )
        else:
            rows = await self.fetch_all(
                f"SELECT {_FOLDER_COLUMNS} FROM folders WHERE account_id = ? ORDER BY name",
                (account_id,),
            )
        return [_folder_row(row) for row in rows]

    async def folder(self, folder_id: int) -> FolderRow | None:
        """One folder by id, or None."""
        row = await self.fetch_one(
            f"SELECT {_FOLDER_COLUMNS} FROM folders WHERE id = ?", (folder_id,)
        )
        return None if row is None else _folder_row(row)

    async def folder_by_name(self, account_id: int, name: str) -> FolderRow | None:
        """One folder by its server name, or None."""
        row = await self.fetch_one(
            f"SELECT {_FOLDER_COLUMNS} FROM folders WHERE account_id = ? AND name = ?",
            (account_id, name),
        )
        return None if row is None else _folder_row(row)

    async def message(self, folder_id: int, uid: int) -> MessageRow | None:
        """One message row, or None."""
        row = await self.fetch_one(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE folder_id = ? AND uid = ?",
            (folder_id, uid),
        )
        return None if row is None else message_row(row)

    async def messages(self, folder_id: int, uids: Iterable[int]) -> list[MessageRow]:
        """The rows of these UIDs that exist, by ascending UID (to refresh updated rows)."""
        rows = await self.fetch_all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages"
            " WHERE folder_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
            (folder_id, json.dumps(list(uids))),
        )
        return [message_row(row) for row in rows]

    async def message_count(self, folder_id: int) -> int:
        """How many messages the folder holds (from the messages, not the cached count)."""
        row = await self.fetch_one(
            "SELECT count(*) FROM messages WHERE folder_id = ?", (folder_id,)
        )
        return int(row[0])

    async def folder_uids(self, folder_id: int) -> array[int]:
        """Every UID of the folder, ascending, as a compact ``array('q')``."""
        rows = await self.fetch_all(
            "SELECT uid FROM messages WHERE folder_id = ? ORDER BY uid", (folder_id,)
        )
        return array("q", [row[0] for row in rows])

    async def sort_keys(self, folder_id: int) -> tuple[array[int], array[int]]:
        """Sort values and UIDs of the whole folder, newest first, as two ``array('q')``."""
        rows = await self.fetch_all(
            "SELECT sort_value, uid FROM messages WHERE folder_id = ?"
            " ORDER BY sort_value DESC, uid DESC",
            (folder_id,),
        )
        return array("q", [row[0] for row in rows]), array("q", [row[1] for row in rows])

    async def page(
        self,
        folder_id: int,
        *,
        after: SortKey | None,
        limit: int = 200,
        newest_first: bool = True,
    ) -> list[MessageRow]:
        """Up to ``limit`` rows that follow ``after`` in list order (keyset paging, no OFFSET).

        ``after=None`` starts at the newest (or, with ``newest_first=False``, the oldest).
        """
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE folder_id = ?"
        params: list[object] = [folder_id]
        if after is not None:
            sql += " AND (sort_value, uid) " + ("<" if newest_first else ">") + " (?, ?)"
            params += [after.sort_value, after.uid]
        sql += f" ORDER BY sort_value {order}, uid {order} LIMIT ?"
        params.append(limit)
        return [message_row(row) for row in await self.fetch_all(sql, params)]

    async def body(self, folder_id: int, uid: int) -> bytes | None:
        """The message's raw body if it has been fetched, else None."""
        row = await self.fetch_one(
            "SELECT b.raw FROM messages AS m JOIN bodies AS b ON b.hash = m.body_hash"
            " WHERE m.folder_id = ? AND m.uid = ?",
            (folder_id, uid),
        )
        return None if row is None else bytes(row[0])

    async def pending_operations(
        self, account_id: int, *, include_failed: bool = False, limit: int | None = None
    ) -> list[PendingOperation]:
        """An account's queued operations in replay (id) order (the first ``limit`` only)."""
        rows = await self.fetch_all(
            _OPERATIONS_SQL + " LIMIT ?",
            (account_id, include_failed, -1 if limit is None else limit),
        )
        return [_operation(row) for row in rows]

    async def outbox(
        self, account_id: int, *, include_failed: bool = False
    ) -> list[OutgoingMessage]:
        """An account's outbox in queue order."""
        rows = await self.fetch_all(_OUTBOX_SQL, (account_id, include_failed))
        return [_outgoing(row) for row in rows]

    # -- other processes -------------------------------------------------------------------

    async def _data_version(self) -> int:
        # On the writer connection: its data_version moves only when *another* connection
        # commits (our own commits do not), which is exactly "another process wrote".
        async with self._writer.execute("PRAGMA data_version") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def watch_external(self, interval: float = 0.2) -> None:
        """Publish ``ExternalChange()`` whenever another connection commits; run until closed.

        Meant to run in its owner's TaskGroup; returns when the store closes.
        """
        if self._closed:
            return
        last = await self._data_version()
        while True:
            await asyncio.sleep(interval)
            if self._is_closed():  # a call, so the check is not narrowed away across awaits
                return
            try:
                current = await self._data_version()
            except (ValueError, sqlite3.ProgrammingError):  # closed between check and query
                return
            if current != last:
                last = current
                self.events.publish(ExternalChange())


async def _to_the_end(operation: Awaitable[object]) -> None:
    """Await a statement sent to aiosqlite's thread until it has really run there, even if
    this task is cancelled meanwhile (the thread runs it anyway): so ``in_transaction`` is
    true to what SQLite did when the cancellation goes on."""
    running = asyncio.ensure_future(operation)
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait({running})
        raise
