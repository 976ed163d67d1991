"""The shape of queued operations, and the one rule that keeps chains on one message right.

A queued operation names its messages by (folder, UID) as the store knows them *when it is
queued*. A message moved, copied or appended while its real UID is unknown gets a provisional
row with a negative UID in the destination; later operations on it (flag it in the new folder,
move it on, delete it) name that negative UID. When the replayer learns the real UID (COPYUID,
APPENDUID, or a Message-ID search) it calls :func:`remap` in the same transaction that renames
the row, so every later operation then names the real UID: flag -> move -> flag lands on the
right message. When the move is rejected, the same function points the later operations back
at the source message; when the message is gone, it drops them (and, recursively, whatever
they had queued in turn).

Fields by kind (the dataclasses of ``sync.ops.kinds``, stored in ``pending_ops.payload`` as
JSON by ``sync.ops.codec``):

- ``flags``: ``uids``, ``add``, ``remove`` (a delta: ``+FLAGS``/``-FLAGS``, never a full set)
- ``move``/``copy``: ``uids`` (source), ``provisional`` (destination rows, aligned),
  ``message_ids`` (aligned), ``rows`` (move only: aligned snapshots of the source rows),
  ``dest_id``, ``dest`` (server name), ``dest_uidnext`` (set just before the command is sent:
  where to look for the messages if the answer was lost)
- ``expunge``: ``uids``, ``rows`` (aligned snapshots, to restore on rejection)
- ``append``: ``raw`` (base64), ``flags``, ``internaldate``, ``provisional``, ``message_id``,
  ``dest_uidnext`` (as for move)
- ``create_folder`` (``folder_name`` is the new name), ``rename_folder`` (``new``,
  ``new_display``), ``delete_folder``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar, assert_never

from sync.ops.codec import UnreadableOperation, encode, load
from sync.ops.kinds import MESSAGE_KINDS, Expunge, FlagChange, MessageChange, Transfer
from sync.store import MessageRecord, PendingOperation, StoreWriter

__all__ = [
    "Target",
    "allocate_provisional",
    "message_change",
    "referenced",
    "remap",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a provisional message really is now: a folder (id and server name) and UID."""

    folder_id: int
    folder_name: str
    uid: int


async def allocate_provisional(unit: StoreWriter, folder_id: int, count: int) -> list[int]:
    """``count`` fresh negative UIDs for provisional rows in ``folder_id``.

    Never reused (a queued operation may name a provisional UID after its row has moved on),
    and never a server UID, which starts at 1 (RFC 3501 2.3.1.1).
    """
    del folder_id  # unique across folders: one sequence serves them all
    return await unit.provisional_uids(count)


def message_change(op: PendingOperation) -> MessageChange | None:
    """The change of a queued operation that names messages of its folder, else None.

    An unreadable one counts as naming none: it cannot be followed, and the replayer parks it
    as failed when its turn comes (so it is shown, not dropped).
    """
    if op.kind not in MESSAGE_KINDS:
        return None
    try:
        change = load(op).change
    except UnreadableOperation:
        return None
    if isinstance(change, FlagChange | Transfer | Expunge):
        return change
    return None


async def referenced(
    unit: StoreWriter, account_id: int, folder_id: int, uid: int, *, after: int
) -> bool:
    """Whether a queued operation after ``after`` names message ``uid`` of ``folder_id``."""
    for op in await unit.operations(account_id):
        if op.id > after and op.folder_id == folder_id:
            change = message_change(op)
            if change is not None and uid in change.uids:
                return True
    return False


async def remap(
    unit: StoreWriter,
    account_id: int,
    folder_id: int,
    mapping: dict[int, Target | None],
    *,
    after: int,
) -> None:
    """Rewrite queued operations (ids above ``after``) that name provisional UIDs of
    ``folder_id``: to their ``Target``, or out of the operation when mapped to None.

    An operation left with no message is finished (nothing to do); a move or copy losing a
    message also loses its provisional row in its destination, and that row's dependants are
    remapped in turn (a worklist, so chains of any length resolve).
    """
    work: list[tuple[int, dict[int, Target | None]]] = [(folder_id, mapping)]
    while work:
        current_folder, current = work.pop()
        if not current:
            continue
        for op in await unit.operations(account_id):
            if op.id <= after or op.folder_id != current_folder:
                continue
            change = message_change(op)
            if change is None:
                continue
            uids = change.uids
            if not any(uid in current for uid in uids):
                continue
            targets: list[Target | _Same | None] = [current.get(uid, _SAME) for uid in uids]
            moved = {t.folder_id for t in targets if isinstance(t, Target)}
            everything_moved = all(isinstance(t, Target) for t in targets) and len(moved) == 1
            new_folder, new_name = op.folder_id, op.folder_name
            if everything_moved and moved != {current_folder}:
                first = targets[0]
                assert isinstance(first, Target)
                new_folder, new_name = first.folder_id, first.folder_name
            keep: list[int] = []
            new_uids: list[int] = []
            dropped: list[int] = []
            for index, (uid, target) in enumerate(zip(uids, targets, strict=True)):
                if isinstance(target, _Same):
                    keep.append(index)
                    new_uids.append(uid)
                elif isinstance(target, Target) and target.folder_id == new_folder:
                    keep.append(index)
                    new_uids.append(target.uid)
                else:  # gone, or split across folders: cannot follow it in one operation
                    dropped.append(index)
            if isinstance(change, Transfer) and dropped:
                lost = [change.provisional[index] for index in dropped]
                await unit.remove_messages(change.dest_id, lost)
                work.append((change.dest_id, dict.fromkeys(lost)))
            if not new_uids:
                await unit.finish_operation(op.id)
            else:
                await unit.update_operation(
                    op.id,
                    folder_id=new_folder,
                    folder_name=new_name,
                    payload=encode(_kept(change, keep, tuple(new_uids))),
                )


def _kept(change: MessageChange, keep: list[int], uids: tuple[int, ...]) -> MessageChange:
    """``change`` left with the messages at ``keep``, now named ``uids`` (the tuples beside
    ``uids`` filtered with it, the snapshots renumbered)."""
    match change:
        case FlagChange():
            return replace(change, uids=uids)
        case Transfer():
            return replace(
                change,
                uids=uids,
                provisional=_pick(change.provisional, keep),
                message_ids=_pick(change.message_ids, keep),
                rows=_renumbered(_pick(change.rows, keep), uids),
            )
        case Expunge():
            return replace(change, uids=uids, rows=_renumbered(_pick(change.rows, keep), uids))
        case _:
            assert_never(change)


def _pick(values: tuple[T, ...], keep: Sequence[int]) -> tuple[T, ...]:
    # A copy keeps no snapshots: nothing to filter.
    return tuple(values[index] for index in keep) if values else values


def _renumbered(
    rows: tuple[MessageRecord, ...], uids: tuple[int, ...]
) -> tuple[MessageRecord, ...]:
    return tuple(replace(row, uid=uid) for row, uid in zip(rows, uids, strict=False))


class _Same:
    """Marker: this UID is not remapped."""


_SAME = _Same()
