"""Undo of the user's last changes: each undo queues the inverse operation.

The UI pushes an entry for every flag change and move (archive and delete-to-Trash are
moves) the user made; ``undo`` pops the newest and queues its inverse through
``Operations``, so an undo is as durable as the change it reverses and reaches the server the
same way. A flag undo restores exactly the messages whose flag really changed (a message
flagged before stays flagged). A move undo has to find the messages again in the
destination: until the server answers they sit there under a provisional UID, and after the
engine has synced the move they carry the server's UID; Message-ID and arrival time, which a
move keeps, find them then.

No Textual here: the stack is tested against a real store (tests/ops/test_undo.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from sync.ops.api import Operations, Queued
from sync.store import MessageRow, SortKey, Store

__all__ = [
    "AlreadyGone",
    "FlagUndo",
    "FlagsRestored",
    "MoveUndo",
    "MovedBack",
    "MovedMessage",
    "UndoEntry",
    "UndoResult",
    "UndoStack",
]

DEFAULT_DEPTH: Final = 50
# Above any real or provisional UID: a keyset page "after (date, this)" starts at that date.
_UID_CEILING: Final = 1 << 62
# Messages with the very same arrival time as the one sought, read in one keyset page.
_SAME_TIME_PAGE: Final = 50


@dataclass(frozen=True, slots=True)
class FlagUndo:
    """Undo of a flag change: the inverse delta, on the messages that really changed."""

    folder_id: int
    uids: tuple[int, ...]
    add: tuple[str, ...]
    remove: tuple[str, ...]
    label: str


@dataclass(frozen=True, slots=True)
class MovedMessage:
    """Where a moved message went: its provisional UID there, and how to find it once the
    server gave it its real UID (Message-ID and arrival time, which a move keeps)."""

    provisional: int
    message_id: str | None
    internaldate: int


@dataclass(frozen=True, slots=True)
class MoveUndo:
    """Undo of a move (also archive and delete-to-Trash): move the messages back."""

    source_id: int
    dest_id: int
    moved: tuple[MovedMessage, ...]
    label: str


UndoEntry = FlagUndo | MoveUndo


@dataclass(frozen=True, slots=True)
class FlagsRestored:
    """The flag change labelled ``label`` was reversed."""

    label: str


@dataclass(frozen=True, slots=True)
class MovedBack:
    """``count`` messages of the move labelled ``label`` were moved back to ``source_id``."""

    label: str
    count: int
    source_id: int


@dataclass(frozen=True, slots=True)
class AlreadyGone:
    """None of the moved messages is in the destination any more: nothing was queued."""

    label: str


UndoResult = FlagsRestored | MovedBack | AlreadyGone


class UndoStack:
    """The last ``depth`` changes made through one UI, newest last.

    ``before_move_back`` is told the Message-IDs of messages about to be moved back, before
    the move is queued (the UI uses it so that their arrival is not announced as new mail).
    """

    def __init__(
        self,
        store: Store,
        operations: Operations,
        *,
        depth: int = DEFAULT_DEPTH,
        before_move_back: Callable[[Iterable[str | None]], None] | None = None,
    ) -> None:
        if depth < 1:
            raise ValueError("an undo stack holds at least one entry")
        self.store = store
        self.operations = operations
        self.depth = depth
        self._before_move_back = before_move_back
        self._entries: list[UndoEntry] = []

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> tuple[UndoEntry, ...]:
        """What would be undone, oldest first (the last is undone next)."""
        return tuple(self._entries)

    def push(self, entry: UndoEntry) -> None:
        """Remember ``entry``; the oldest is forgotten past ``depth``."""
        self._entries.append(entry)
        del self._entries[: -self.depth]

    def push_flags(
        self,
        folder_id: int,
        changed: Iterable[int],
        flag: str,
        now_set: bool,
        label: str,
    ) -> None:
        """Remember that ``flag`` was set (``now_set``) or cleared on the ``changed`` UIDs:
        only those whose flag really changed, so that an undo leaves the others alone."""
        uids = tuple(changed)
        if not uids:
            return
        add, remove = ((), (flag,)) if now_set else ((flag,), ())
        self.push(FlagUndo(folder_id, uids, add, remove, label))

    async def push_move(
        self,
        source_id: int,
        rows: Mapping[int, MessageRow],
        queued: Queued,
        label: str,
    ) -> int | None:
        """Remember a queued move of ``rows`` (source UID -> row, read before the move);
        return the destination folder's id, or None when nothing was moved there (a delete
        for good, or messages already gone): then there is nothing to undo."""
        dest_id = await self.destination(queued)
        moved = tuple(
            MovedMessage(provisional, rows[uid].message_id, rows[uid].internaldate)
            for uid, provisional in queued.provisional.items()
            if uid in rows
        )
        if dest_id is not None and moved:
            self.push(MoveUndo(source_id, dest_id, moved, label))
        return dest_id

    async def destination(self, queued: Queued) -> int | None:
        """The folder a queued move put its messages in: where its first provisional row is."""
        provisional = next(iter(queued.provisional.values()), None)
        if provisional is None:
            return None
        for folder in await self.store.folders():
            if await self.store.message(folder.id, provisional) is not None:
                return folder.id
        return None

    async def undo(self) -> UndoResult | None:
        """Queue the inverse of the newest entry and forget it; None when there is none."""
        if not self._entries:
            return None
        entry = self._entries.pop()
        match entry:
            case FlagUndo():
                await self.operations.set_keywords(
                    entry.folder_id, entry.uids, add=entry.add, remove=entry.remove
                )
                return FlagsRestored(entry.label)
            case MoveUndo():
                return await self._move_back(entry)

    async def _move_back(self, entry: MoveUndo) -> UndoResult:
        found = [
            uid
            for moved in entry.moved
            if (uid := await self.locate(entry.dest_id, moved)) is not None
        ]
        if not found:
            return AlreadyGone(entry.label)
        if self._before_move_back is not None:
            self._before_move_back(moved.message_id for moved in entry.moved)
        await self.operations.move(entry.dest_id, found, entry.source_id)
        return MovedBack(entry.label, len(found), entry.source_id)

    async def locate(self, folder_id: int, moved: MovedMessage) -> int | None:
        """The UID a moved message has now: still its provisional one, or the server's."""
        if await self.store.message(folder_id, moved.provisional) is not None:
            return moved.provisional
        if moved.message_id is None:
            return None
        # Its arrival time is its sort key: one keyset page from there holds it.
        page = await self.store.page(
            folder_id, after=SortKey(moved.internaldate, _UID_CEILING), limit=_SAME_TIME_PAGE
        )
        for row in page:
            if row.internaldate != moved.internaldate:
                break
            if row.message_id == moved.message_id:
                return row.uid
        return None
