"""Typed events the store publishes on ``Store.events`` after each commit (never on rollback).

Subscribers re-read what they show; events say *what* changed, not the new data.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BodyStored",
    "ChangeDropped",
    "ExternalChange",
    "FolderCountsChanged",
    "FoldersChanged",
    "MessagesChanged",
    "OperationFailed",
    "OperationHeld",
    "OperationsChanged",
    "StoreEvent",
]


@dataclass(frozen=True, slots=True)
class FoldersChanged:
    """An account's folder list changed (added, renamed, deleted, attributes or marks)."""

    account_id: int


@dataclass(frozen=True, slots=True)
class MessagesChanged:
    """Messages of one folder were added, removed or updated (UIDs sorted ascending).

    One event per folder per commit; a UID appears in at most one of the three tuples.
    """

    folder_id: int
    added: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    updated: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class FolderCountsChanged:
    """A folder's total or unread count changed."""

    folder_id: int
    total: int
    unread: int


@dataclass(frozen=True, slots=True)
class BodyStored:
    """A message's raw body is now available from ``Store.body``."""

    folder_id: int
    uid: int


@dataclass(frozen=True, slots=True)
class OperationsChanged:
    """An account's queue of pending operations or its outbox changed."""

    account_id: int


@dataclass(frozen=True, slots=True)
class OperationFailed:
    """The server rejected a local change: it was rolled back here and parked as failed.

    ``message`` says what happened in words (with the server's own text), for the UI to show;
    the operation stays in the queue (``mailtui queue``) to be retried or discarded.
    """

    account_id: int
    operation_id: int
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class ChangeDropped:
    """A local change had nothing left to apply to (the message was expunged elsewhere)."""

    account_id: int
    operation_id: int
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class OperationHeld:
    """A local change waits in the queue for a reason that may pass (another client's
    messages block it); ``message`` says why and what the user sees meanwhile."""

    account_id: int
    operation_id: int
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class ExternalChange:
    """Another connection (usually another process) committed: re-read everything shown."""


StoreEvent = (
    FoldersChanged
    | MessagesChanged
    | FolderCountsChanged
    | BodyStored
    | OperationsChanged
    | OperationFailed
    | ChangeDropped
    | OperationHeld
    | ExternalChange
)
