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

Payload keys by kind (JSON text in ``pending_ops.payload``):

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

import json
from dataclasses import dataclass
from typing import Any

from sync.store import StoreWriter

__all__ = [
    "ALIGNED_KEYS",
    "MESSAGE_KINDS",
    "Target",
    "allocate_provisional",
    "referenced",
    "remap",
]

# Operations whose ``uids`` name messages of ``folder_id``.
MESSAGE_KINDS = frozenset({"flags", "move", "copy", "expunge"})
# Lists that run parallel to ``uids`` and are filtered with it.
ALIGNED_KEYS = ("provisional", "message_ids", "rows")


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


async def referenced(
    unit: StoreWriter, account_id: int, folder_id: int, uid: int, *, after: int
) -> bool:
    """Whether a queued operation after ``after`` names message ``uid`` of ``folder_id``."""
    return any(
        op.id > after
        and op.folder_id == folder_id
        and op.kind in MESSAGE_KINDS
        and uid in json.loads(op.payload).get("uids", [])
        for op in await unit.operations(account_id)
    )


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
            if op.id <= after or op.folder_id != current_folder or op.kind not in MESSAGE_KINDS:
                continue
            payload: dict[str, Any] = json.loads(op.payload)
            uids: list[int] = payload.get("uids", [])
            if not any(uid in current for uid in uids):
                continue
            targets = [current.get(uid, _SAME) for uid in uids]
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
                if target is _SAME:
                    keep.append(index)
                    new_uids.append(uid)
                elif isinstance(target, Target) and target.folder_id == new_folder:
                    keep.append(index)
                    new_uids.append(target.uid)
                else:  # gone, or split across folders: cannot follow it in one operation
                    dropped.append(index)
            payload["uids"] = new_uids
            for key in ALIGNED_KEYS:
                if key in payload:
                    payload[key] = [payload[key][index] for index in keep]
            for row, uid in zip(payload.get("rows", []), new_uids, strict=False):
                row["uid"] = uid
            if op.kind in ("move", "copy") and dropped:
                lost = [json.loads(op.payload)["provisional"][index] for index in dropped]
                dest_id = int(payload["dest_id"])
                await unit.remove_messages(dest_id, lost)
                work.append((dest_id, dict.fromkeys(lost)))
            if not new_uids:
                await unit.finish_operation(op.id)
            else:
                await unit.update_operation(
                    op.id, folder_id=new_folder, folder_name=new_name, payload=json.dumps(payload)
                )


class _Same:
    """Marker: this UID is not remapped."""


_SAME: Any = _Same()
