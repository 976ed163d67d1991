"""The store's schema as an ordered list of forward migrations, from the very first table.

Each migration runs in its own transaction together with the update of ``schema_version``, so a
crash leaves the database at one version or the next, never in between. A database written by a
newer mailtui (a version this code does not know) is refused rather than misread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from sync.store.search_schema import SEARCH_QUEUE_SCHEMA, SEARCH_SCHEMA

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "Migration",
    "StoreError",
    "StoreVersionError",
    "apply_migrations",
    "schema_version",
    "table_names",
]


class StoreError(Exception):
    """The store cannot do what was asked (closed, misused, or the database is unusable)."""


class StoreVersionError(StoreError):
    """The database was written by a newer mailtui whose schema this code does not know."""

    def __init__(self, path: Path | None, found: int, known: int) -> None:
        where = f"the database {path}" if path is not None else "the database"
        super().__init__(
            f"{where} has schema version {found}, but this mailtui only knows up to version "
            f"{known}; upgrade mailtui, or point it at another data directory"
        )
        self.found = found
        self.known = known


# A step is either a sequence of SQL statements or a coroutine function given the connection
# (for data migrations that need Python). Statements are run one by one: ``executescript``
# would commit behind our back.
MigrationStep = Sequence[str] | Callable[[aiosqlite.Connection], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Migration:
    """One forward step from ``version - 1`` to ``version``."""

    version: int
    step: MigrationStep
    description: str


_V1 = (
    """
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        email TEXT NOT NULL
    )
    """,
    # name is the mailbox name as the server spells it (modified UTF-7, RFC 3501 5.1.3);
    # display_name is the decoded form. Marks are committed with the batch they describe.
    """
    CREATE TABLE folders (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        display_name TEXT NOT NULL,
        delimiter TEXT,
        special_use TEXT,
        attributes TEXT NOT NULL DEFAULT '',
        subscribed INTEGER NOT NULL DEFAULT 1,
        uidvalidity INTEGER,
        uidnext INTEGER,
        highestmodseq INTEGER,
        synced_low_uid INTEGER,
        synced_high_uid INTEGER,
        last_full_sync INTEGER,
        total INTEGER NOT NULL DEFAULT 0,
        unread INTEGER NOT NULL DEFAULT 0,
        UNIQUE (account_id, name)
    )
    """,
    # Bodies are kept by content (sha256 of the raw message), so a message that is moved or
    # re-UIDed (UIDVALIDITY change) finds its body again by Message-ID and size.
    """
    CREATE TABLE bodies (
        id INTEGER PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,
        message_id TEXT,
        size INTEGER NOT NULL,
        raw BLOB NOT NULL,
        stored_at INTEGER NOT NULL
    )
    """,
    "CREATE INDEX bodies_by_message_id ON bodies (message_id, size)",
    # WITHOUT ROWID: the (folder_id, uid) key is the row's address, one b-tree instead of two.
    """
    CREATE TABLE messages (
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        uid INTEGER NOT NULL,
        sort_value INTEGER NOT NULL,
        message_id TEXT,
        subject TEXT NOT NULL,
        from_name TEXT NOT NULL,
        from_addr TEXT NOT NULL,
        to_addrs TEXT NOT NULL,
        cc_addrs TEXT NOT NULL,
        date INTEGER NOT NULL,
        internaldate INTEGER NOT NULL,
        size INTEGER NOT NULL,
        flags TEXT NOT NULL,
        seen INTEGER NOT NULL,
        flagged INTEGER NOT NULL,
        modseq INTEGER,
        has_attachment INTEGER NOT NULL,
        in_reply_to TEXT,
        refs TEXT,
        body_hash BLOB REFERENCES bodies(hash),
        PRIMARY KEY (folder_id, uid)
    ) WITHOUT ROWID
    """,
    # Newest-first keyset paging: WHERE (sort_value, uid) < (?, ?) walks this index.
    "CREATE INDEX messages_by_sort ON messages (folder_id, sort_value DESC, uid DESC)",
    # Unread counts are a range of this index, not a scan of flag strings; partial, so read
    # mail (most of it) costs nothing to index.
    # seen is in the key so the count is answered from the index alone (covering).
    "CREATE INDEX messages_unseen ON messages (folder_id, seen) WHERE seen = 0",
    # Threading (In-Reply-To/References lookups) and duplicate detection.
    "CREATE INDEX messages_by_message_id ON messages (message_id) WHERE message_id IS NOT NULL",
    # Lets deleting a body check for referencing messages without a table scan.
    "CREATE INDEX messages_by_body ON messages (body_hash) WHERE body_hash IS NOT NULL",
)

_V2 = (
    # Local changes not yet on the server, replayed in id order. folder_name is kept as well as
    # folder_id because the folder may be renamed or deleted before the operation goes out.
    """
    CREATE TABLE pending_ops (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        folder_id INTEGER REFERENCES folders(id) ON DELETE SET NULL,
        folder_name TEXT,
        payload TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        state TEXT NOT NULL DEFAULT 'pending'
    )
    """,
    "CREATE INDEX pending_ops_by_account ON pending_ops (account_id, state, id)",
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        raw BLOB NOT NULL,
        envelope_from TEXT NOT NULL,
        recipients TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER,
        last_error TEXT,
        state TEXT NOT NULL DEFAULT 'queued'
    )
    """,
    "CREATE INDEX outbox_by_account ON outbox (account_id, state, id)",
)

_V3 = (
    # When a temporarily failed operation may be tried again (exponential backoff); NULL: now.
    "ALTER TABLE pending_ops ADD COLUMN next_attempt_at INTEGER",
    # The last provisional (negative) UID handed out. Never reused: a queued operation may
    # still name a provisional UID after its row has moved on to another folder.
    "CREATE TABLE provisional_uids (last INTEGER NOT NULL)",
    "INSERT INTO provisional_uids (last) VALUES (0)",
)

_V5 = (
    # What must happen once the SMTP server has accepted the message (the Sent copy, the
    # original's \Answered or $Forwarded, the draft to remove), as JSON recorded with the
    # message in the same transaction (sync.outbox). The state column gains 'sending': the
    # message is with the SMTP server, which may or may not have accepted it yet.
    "ALTER TABLE outbox ADD COLUMN after_send TEXT NOT NULL DEFAULT '{}'",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, _V1, "accounts, folders, messages, bodies"),
    Migration(2, _V2, "pending operations and outbox"),
    Migration(3, _V3, "retry time of pending operations, provisional UIDs"),
    Migration(4, SEARCH_SCHEMA, "full-text search (FTS5) and the thread cache"),
    Migration(5, _V5, "what the outbox does once a message is sent"),
    Migration(6, SEARCH_QUEUE_SCHEMA, "the header search index is built in bulk from a queue"),
)
LATEST_VERSION = MIGRATIONS[-1].version


async def schema_version(conn: aiosqlite.Connection) -> int:
    """The database's schema version (0 for a new, empty database)."""
    async with conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ) as cursor:
        if await cursor.fetchone() is None:
            return 0
    async with conn.execute("SELECT max(version) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


async def table_names(conn: aiosqlite.Connection) -> set[str]:
    """Names of the database's tables (for diagnostics and migration tests)."""
    async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
        return {row[0] for row in await cursor.fetchall()}


async def apply_migrations(
    conn: aiosqlite.Connection,
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    target: int | None = None,
    path: Path | None = None,
) -> int:
    """Bring the database up to ``target`` (default: the last migration); return the version.

    The connection must be in autocommit mode (``isolation_level=None``). Raises
    ``StoreVersionError`` when the database is newer than the newest migration known.
    """
    known = migrations[-1].version if migrations else 0
    goal = known if target is None else target
    current = await schema_version(conn)
    if current > known:
        raise StoreVersionError(path, current, known)
    for migration in migrations:
        if migration.version <= current or migration.version > goal:
            continue
        if migration.version != current + 1:
            raise StoreError(f"migration {migration.version} does not follow version {current}")
        # IMMEDIATE: take the write lock first, so two processes opening a new database at
        # once serialise here instead of both migrating.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if await schema_version(conn) >= migration.version:
                await conn.execute("ROLLBACK")
                current = migration.version
                continue
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            if callable(migration.step):
                await migration.step(conn)
            else:
                for statement in migration.step:
                    await conn.execute(statement)
            await conn.execute("DELETE FROM schema_version")
            await conn.execute(
                "INSERT INTO schema_version (version) VALUES (?)", (migration.version,)
            )
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        current = migration.version
    return current
