"""The local store (SQLite through aiosqlite): the one source of truth for sync and UI.

Usage::

    store = await Store.open(store_path(data_dir))
    try:
        async with store.write() as w:  # one atomic unit; events go out after the commit
            await w.upsert_messages(folder_id, records)
            await w.set_folder_marks(folder_id, marks)
        rows = await store.page(folder_id, after=None)  # keyset paging, newest first
    finally:
        await store.close()  # aiosqlite threads are not daemons

Events: ``store.events.subscribe()`` (types in ``sync.store.events``). Another process's
commits become ``ExternalChange`` events while ``store.watch_external()`` runs.
"""

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
)
from sync.store.schema import LATEST_VERSION, StoreError, StoreVersionError
from sync.store.store import Store, StoreWriter

__all__ = [
    "LATEST_VERSION",
    "AccountRow",
    "FolderMarks",
    "FolderRow",
    "MessageFields",
    "MessageRecord",
    "MessageRow",
    "OutgoingMessage",
    "PendingOperation",
    "SortKey",
    "Store",
    "StoreError",
    "StoreVersionError",
    "StoreWriter",
    "flag_columns",
    "message_fields",
]
