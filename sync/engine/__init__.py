"""The sync engine: keeps the store reconciled with each account's IMAP server, live.

Server -> engine -> store -> events -> UI. Local changes travel the other way through the
operations queue (``sync.ops``), which the engine replays before it pulls (RFC 4549 §4).
"""

from sync.engine.events import (
    ConnectionPhase,
    ConnectionStateChanged,
    EngineEvent,
    FolderSynced,
    NewMail,
    SyncProgress,
)
from sync.engine.folder_sync import FolderSynchronizer, ServerFeatures
from sync.engine.lock import AccountLock, AccountLocked

__all__ = [
    "AccountLock",
    "AccountLocked",
    "ConnectionPhase",
    "ConnectionStateChanged",
    "EngineEvent",
    "FolderSynced",
    "FolderSynchronizer",
    "NewMail",
    "ServerFeatures",
    "SyncProgress",
]
