"""The DDL of full-text search and the thread cache: migrations 4 and 6 of the store.

Apart from the queries (``sync.store.search``) so that the schema module can list these
migrations without importing the code that queries them (no cycle schema <-> search). The
design of the indexes is described in ``sync.store.search``'s docstring.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "FTS_KEY",
    "HEADER_COLUMNS",
    "SEARCH_QUEUE_SCHEMA",
    "SEARCH_SCHEMA",
    "TOKENIZER",
    "header_values",
]

# SQL for the FTS rowid of a messages row (``m`` is ``new``/``old``/an alias): 2**33 per
# folder, UIDs offset by 2**32 so that provisional (negative) ones stay inside their folder.
FTS_KEY = "({m}.folder_id * 8589934592 + 4294967296 + {m}.uid)"

TOKENIZER = "tokenize = 'unicode61 remove_diacritics 2'"

HEADER_COLUMNS = "subject, sender, to_addrs, cc_addrs"


def header_values(m: str) -> str:
    """SQL for the header index's values of the messages row ``m``."""
    return f"{m}.subject, {m}.from_name || ' ' || {m}.from_addr, {m}.to_addrs, {m}.cc_addrs"


def bump_thread_generation(folder: str) -> str:
    """SQL that marks the thread cache of ``folder`` (an SQL expression) stale."""
    return (
        "INSERT INTO search_thread_state (folder_id, generation)"
        f" SELECT {folder}, 1 WHERE EXISTS (SELECT 1 FROM folders WHERE id = {folder})"
        " ON CONFLICT (folder_id) DO UPDATE SET generation = generation + 1;"
    )


THREAD_COLUMNS = "folder_id, uid, message_id, in_reply_to, refs, subject, sort_value"
THREAD_CHANGED = (
    f"(old.{THREAD_COLUMNS.replace(', ', ', old.')}) IS NOT"
    f" (new.{THREAD_COLUMNS.replace(', ', ', new.')})"
)
# The messages columns a header-index row is made of (with the key): a change to any of them
# makes the row stale.
HEADER_SOURCE_COLUMNS = "folder_id, uid, subject, from_name, from_addr, to_addrs, cc_addrs"
HEADERS_CHANGED = (
    f"(old.{HEADER_SOURCE_COLUMNS.replace(', ', ', old.')}) IS NOT"
    f" (new.{HEADER_SOURCE_COLUMNS.replace(', ', ', new.')})"
)

# The migration's statements (appended to sync.store.schema.MIGRATIONS).
SEARCH_SCHEMA: Final[tuple[str, ...]] = (
    f"CREATE VIRTUAL TABLE search_headers USING fts5({HEADER_COLUMNS}, {TOKENIZER})",
    f"CREATE VIRTUAL TABLE search_body_fts USING fts5(body, content = '', {TOKENIZER})",
    # doc: the body's FTS rowid, never reused (AUTOINCREMENT); see the module docstring.
    """
    CREATE TABLE search_bodies (
        doc INTEGER PRIMARY KEY AUTOINCREMENT,
        hash BLOB NOT NULL UNIQUE
    )
    """,
    "CREATE TABLE search_body_queue (body_id INTEGER PRIMARY KEY)",
    # One row: how many body documents were forgotten (stale postings) since the last rebuild.
    "CREATE TABLE search_stats (stale_body_docs INTEGER NOT NULL)",
    "INSERT INTO search_stats (stale_body_docs) VALUES (0)",
    """
    CREATE TABLE search_thread_state (
        folder_id INTEGER PRIMARY KEY REFERENCES folders(id) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        built INTEGER
    )
    """,
    # A folder's threaded order: threads newest first (thread_sort: the newest arrival in the
    # thread), then each thread depth-first with rank 0, -1, -2... so that one DESC keyset
    # (thread_sort, thread_id, rank) pages through it. rank 0 is the thread's first row.
    """
    CREATE TABLE search_threads (
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        thread_sort INTEGER NOT NULL,
        thread_id INTEGER NOT NULL,
        rank INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        depth INTEGER NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (folder_id, thread_sort, thread_id, rank)
    ) WITHOUT ROWID
    """,
    # The messages whose body is not here: where the server phase may find more.
    "CREATE INDEX search_messages_without_body ON messages (folder_id) WHERE body_hash IS NULL",
    # Search results are newest first across folders: walking this index, a common query
    # fills its first page after a few hundred rows instead of sorting every match.
    "CREATE INDEX search_messages_by_time ON messages (sort_value DESC, folder_id DESC, uid DESC)",
    f"""
    CREATE TRIGGER search_messages_insert AFTER INSERT ON messages BEGIN
        INSERT INTO search_headers (rowid, {HEADER_COLUMNS})
            VALUES ({FTS_KEY.format(m="new")}, {header_values("new")});
        {bump_thread_generation("new.folder_id")}
    END
    """,
    f"""
    CREATE TRIGGER search_messages_delete AFTER DELETE ON messages BEGIN
        DELETE FROM search_headers WHERE rowid = {FTS_KEY.format(m="old")};
        {bump_thread_generation("old.folder_id")}
    END
    """,
    f"""
    CREATE TRIGGER search_messages_headers AFTER UPDATE OF
        {HEADER_SOURCE_COLUMNS} ON messages
    WHEN {HEADERS_CHANGED} BEGIN
        DELETE FROM search_headers WHERE rowid = {FTS_KEY.format(m="old")};
        INSERT INTO search_headers (rowid, {HEADER_COLUMNS})
            VALUES ({FTS_KEY.format(m="new")}, {header_values("new")});
    END
    """,
    f"""
    CREATE TRIGGER search_messages_threads AFTER UPDATE OF {THREAD_COLUMNS} ON messages
    WHEN {THREAD_CHANGED} BEGIN
        {bump_thread_generation("old.folder_id")}
        {bump_thread_generation("new.folder_id")}
    END
    """,
    """
    CREATE TRIGGER search_bodies_insert AFTER INSERT ON bodies BEGIN
        INSERT OR IGNORE INTO search_body_queue (body_id) VALUES (new.id);
    END
    """,
    """
    CREATE TRIGGER search_bodies_delete AFTER DELETE ON bodies BEGIN
        DELETE FROM search_body_queue WHERE body_id = old.id;
        UPDATE search_stats SET stale_body_docs = stale_body_docs + 1
            WHERE EXISTS (SELECT 1 FROM search_bodies WHERE hash = old.hash);
        DELETE FROM search_bodies WHERE hash = old.hash;
    END
    """,
    # What was stored before this migration.
    f"INSERT INTO search_headers (rowid, {HEADER_COLUMNS})"
    f" SELECT {FTS_KEY.format(m='m')}, {header_values('m')} FROM messages AS m",
    "INSERT INTO search_body_queue (body_id) SELECT id FROM bodies",
)


# Migration 6: the header index is built from a queue (see the module docstring). The queue
# is keyed like messages, so the insert trigger appends to it in the order rows arrive.
SEARCH_QUEUE_SCHEMA: Final[tuple[str, ...]] = (
    """
    CREATE TABLE search_header_queue (
        folder_id INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        PRIMARY KEY (folder_id, uid)
    ) WITHOUT ROWID
    """,
    "DROP TRIGGER search_messages_insert",
    "DROP TRIGGER search_messages_delete",
    "DROP TRIGGER search_messages_headers",
    f"""
    CREATE TRIGGER search_messages_insert AFTER INSERT ON messages BEGIN
        INSERT OR IGNORE INTO search_header_queue (folder_id, uid)
            VALUES (new.folder_id, new.uid);
        {bump_thread_generation("new.folder_id")}
    END
    """,
    # Deleting a rowid FTS5 does not hold is a no-op: the row may be indexed or queued.
    f"""
    CREATE TRIGGER search_messages_delete AFTER DELETE ON messages BEGIN
        DELETE FROM search_headers WHERE rowid = {FTS_KEY.format(m="old")};
        DELETE FROM search_header_queue WHERE folder_id = old.folder_id AND uid = old.uid;
        {bump_thread_generation("old.folder_id")}
    END
    """,
    f"""
    CREATE TRIGGER search_messages_headers AFTER UPDATE OF
        {HEADER_SOURCE_COLUMNS} ON messages
    WHEN {HEADERS_CHANGED} BEGIN
        DELETE FROM search_headers WHERE rowid = {FTS_KEY.format(m="old")};
        DELETE FROM search_header_queue WHERE folder_id = old.folder_id AND uid = old.uid;
        INSERT OR IGNORE INTO search_header_queue (folder_id, uid)
            VALUES (new.folder_id, new.uid);
    END
    """,
)
