"""Words for a queued operation, as ``mailtui queue`` and the UI show it (no IMAP imports)."""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_never

from sync.ops.codec import UnreadableOperation, load
from sync.ops.kinds import (
    Append,
    CreateFolder,
    DeleteFolder,
    Expunge,
    FlagChange,
    QueuedOp,
    RenameFolder,
    Transfer,
)
from sync.store import PendingOperation

__all__ = ["describe"]


def _count(uids: tuple[int, ...]) -> str:
    count = len(uids)
    return f"{count} message" + ("" if count == 1 else "s")


def describe(
    op: QueuedOp | PendingOperation, folder_name: Callable[[str | None], str] = str
) -> str:
    """One line saying what ``op`` does, e.g. ``+\\Seen on 3 messages in INBOX``.

    ``folder_name`` turns a server folder name into the shown one (the caller knows the
    store's display names); strings from the server are returned uncleaned. A queue row is
    decoded first; one this code cannot read is named by its kind (its error says why).
    """
    if isinstance(op, PendingOperation):
        try:
            op = load(op)
        except UnreadableOperation:
            return op.kind
    where = folder_name(op.folder_name) if op.folder_name is not None else "?"
    change = op.change
    match change:
        case FlagChange():
            changes = [f"+{flag}" for flag in change.add]
            changes += [f"-{flag}" for flag in change.remove]
            return f"{' '.join(changes)} on {_count(change.uids)} in {where}"
        case Transfer():
            dest = folder_name(change.dest)
            return f"{change.kind} {_count(change.uids)} from {where} to {dest}"
        case Expunge():
            return f"delete {_count(change.uids)} from {where} for good"
        case Append():
            return f"add a message to {where}"
        case CreateFolder():
            return f"create folder {where}"
        case RenameFolder():
            return f"rename folder {where} to {folder_name(change.new)}"
        case DeleteFolder():
            return f"delete folder {where}"
        case _:
            assert_never(change)
