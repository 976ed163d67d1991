"""The store as the interface reads it: a folder as a `MessageSource`, and store events as
the `BackendEvent`s the panes react to. Backend side: the widgets see only the protocols."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any, Protocol

from sync.store.events import (
    BodyStored,
    ExternalChange,
    FolderCountsChanged,
    FoldersChanged,
    MessagesChanged,
    StoreEvent,
)
from tui.protocol import (
    BackendEvent,
    BodyAvailable,
    CountsUpdated,
    FoldersUpdated,
    ListRow,
    MessagesUpdated,
)

__all__ = ["StoreSource", "backend_event_from_store"]


class _StoreLike(Protocol):
    async def sort_keys(self, folder_id: int) -> tuple[array[int], array[int]]: ...
    async def page(
        self, folder_id: int, *, after: Any, limit: int = ..., newest_first: bool = ...
    ) -> Sequence[ListRow]: ...


class StoreSource:
    """A `MessageSource` over ``sync.store.Store`` (sort_keys + keyset ``page``)."""

    def __init__(self, store: _StoreLike, folder_id: int) -> None:
        self._store = store
        self._folder_id = folder_id

    @property
    def folder_id(self) -> int:
        """The folder this source reads."""
        return self._folder_id

    async def keys(self) -> tuple[array[int], array[int]]:
        """Sort values and uids of the folder, newest first."""
        return await self._store.sort_keys(self._folder_id)

    async def page(self, after: tuple[int, int] | None, limit: int) -> Sequence[ListRow]:
        """One keyset page from the store."""
        from sync.store import SortKey  # imported late: the TUI may start before any store

        key = SortKey(*after) if after is not None else None
        return await self._store.page(self._folder_id, after=key, limit=limit, newest_first=True)


def backend_event_from_store(event: StoreEvent) -> BackendEvent | None:
    """Translate a store event into what the UI reacts to (None: nothing to redraw)."""
    if isinstance(event, MessagesChanged):
        changed = frozenset((*event.added, *event.removed, *event.updated))
        return MessagesUpdated(event.folder_id, changed or None)
    if isinstance(event, FolderCountsChanged):
        return CountsUpdated(frozenset({event.folder_id}))
    if isinstance(event, FoldersChanged):
        return FoldersUpdated()
    if isinstance(event, BodyStored):
        return BodyAvailable(event.folder_id, event.uid)
    if isinstance(event, ExternalChange):
        return MessagesUpdated(None)  # another process wrote: re-read the list (and counts)
    return None  # OperationsChanged: the real backend re-counts and sends OperationsState
