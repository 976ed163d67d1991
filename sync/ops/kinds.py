"""The queued operations as typed values: one frozen dataclass per kind, and the queue's row.

A change waiting for the server is one of :data:`QueuedOperation` (``FlagChange``,
``Transfer`` for move and copy, ``Expunge``, ``Append``, ``CreateFolder``, ``RenameFolder``,
``DeleteFolder``): only what that kind needs, typed to the field, so code that reads or rewrites
a payload is checked by mypy rather than by a ``KeyError`` at replay time. ``sync.ops.codec``
turns them into the JSON text of ``pending_ops.payload`` and back.

A queued operation as read back is a :class:`QueuedOp`: the queue row's own columns (id,
account, the folder it names, attempts...) beside its ``change``. The folder stays out of the
change on purpose: it is a column of the queue (the store nulls ``folder_id`` when the folder
is deleted, and the folder-list sync renames it), so the payload never holds a second copy
that could disagree. The destination of a move or copy, in contrast, is only in the payload.

Every message kind names its messages by ``uids`` in the operation's folder, and the tuples
beside ``uids`` (``provisional``, ``message_ids``, ``rows``) are aligned with it (``rows`` may
be empty: a copy keeps no snapshots). The meaning of each field is in ``sync.ops.queue``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, TypeAlias

from sync.store import MessageRecord

__all__ = [
    "MESSAGE_KINDS",
    "Append",
    "CreateFolder",
    "DeleteFolder",
    "Expunge",
    "FlagChange",
    "MessageChange",
    "OperationKind",
    "QueuedOp",
    "QueuedOperation",
    "RenameFolder",
    "Transfer",
]

OperationKind: TypeAlias = Literal[
    "flags",
    "move",
    "copy",
    "expunge",
    "append",
    "create_folder",
    "rename_folder",
    "delete_folder",
]


@dataclass(frozen=True, slots=True)
class FlagChange:
    """Add and remove flags on messages: a delta (``+FLAGS``/``-FLAGS``), never a full set."""

    kind: ClassVar[Literal["flags"]] = "flags"
    uids: tuple[int, ...]
    add: tuple[str, ...]
    remove: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move or copy messages to ``dest`` (its folder id and server name).

    ``provisional`` are the destination rows' UIDs meanwhile; ``rows`` (move only) snapshots of
    the source rows, to put them back if the move is refused after the provisional rows are
    gone; ``dest_uidnext`` is recorded just before the command is sent: where to look for the
    messages if the answer was lost.
    """

    kind: Literal["move", "copy"]
    uids: tuple[int, ...]
    provisional: tuple[int, ...]
    message_ids: tuple[str | None, ...]
    dest_id: int
    dest: str
    dest_uidnext: int | None = None
    rows: tuple[MessageRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Expunge:
    """Delete messages for good; ``rows`` are their snapshots, to restore on rejection."""

    kind: ClassVar[Literal["expunge"]] = "expunge"
    uids: tuple[int, ...]
    rows: tuple[MessageRecord, ...]


@dataclass(frozen=True, slots=True)
class Append:
    """Add a message to the operation's folder (shown meanwhile as row ``provisional``)."""

    kind: ClassVar[Literal["append"]] = "append"
    raw: bytes
    flags: tuple[str, ...]
    internaldate: int
    provisional: int
    message_id: str | None
    dest_uidnext: int | None = None


@dataclass(frozen=True, slots=True)
class CreateFolder:
    """Create the operation's folder (its ``folder_name`` is the new server name)."""

    kind: ClassVar[Literal["create_folder"]] = "create_folder"


@dataclass(frozen=True, slots=True)
class RenameFolder:
    """Rename the operation's folder to ``new`` (server name; ``new_display`` as shown).

    ``old_display`` is the name shown before, to put back on rejection (None in payloads
    queued before it was recorded: the decoded server name serves then).
    """

    kind: ClassVar[Literal["rename_folder"]] = "rename_folder"
    new: str
    new_display: str
    old_display: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteFolder:
    """Delete the operation's folder and the messages in it."""

    kind: ClassVar[Literal["delete_folder"]] = "delete_folder"


QueuedOperation: TypeAlias = (
    FlagChange | Transfer | Expunge | Append | CreateFolder | RenameFolder | DeleteFolder
)
# The kinds whose ``uids`` name messages of the operation's folder.
MessageChange: TypeAlias = FlagChange | Transfer | Expunge
MESSAGE_KINDS: frozenset[str] = frozenset({"flags", "move", "copy", "expunge"})


@dataclass(frozen=True, slots=True)
class QueuedOp:
    """One row of the queue, decoded: the store's columns and the typed ``change``.

    ``folder_name`` is the server name when it was queued (or as the folder-list sync renamed
    it); ``folder_id`` is None once the folder is deleted. ``next_attempt_at`` (epoch seconds)
    holds a temporarily failed operation back until then.
    """

    id: int
    account_id: int
    folder_id: int | None
    folder_name: str | None
    change: QueuedOperation
    created_at: int = 0
    attempts: int = 0
    last_error: str | None = None
    failed: bool = False
    next_attempt_at: int | None = None

    @property
    def kind(self) -> OperationKind:
        """The kind string, as the ``pending_ops.kind`` column holds it."""
        return self.change.kind
