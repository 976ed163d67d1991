"""The one place that turns queued operations into ``pending_ops.payload`` JSON and back.

:func:`encode` writes version 1: a JSON object with ``"v": 1`` and every field of the change
(``rows`` as ``dataclasses.asdict(MessageRecord)`` objects, ``raw`` as base64). :func:`decode`
reads version 1, and version 0, the payloads queued before there was a version (no ``"v"``
key; the same field names, but ``rows`` absent from a copy, and ``dest_uidnext``,
``message_id`` or ``old_display`` possibly absent).

Old rows are read as they are rather than rewritten by a store migration: the queue is short
and short-lived (an operation leaves it once the server has it), a v0 reader is a few lines of
defaults, and a migration would have to decode every payload with this module from inside
``sync.store``, which must not import ``sync.ops``. Every rewrite of a queued operation goes
through :func:`encode`, so a v0 row becomes v1 the first time it is touched.

Anything that cannot be read (an unknown kind, text that is not JSON, a missing or mistyped
field, misaligned lists) raises :class:`UnreadableOperation`; the replayer parks such an
operation as failed with that message, so it is shown, and never silently dropped.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict
from typing import Literal, TypeVar, assert_never

from sync.ops.kinds import (
    Append,
    CreateFolder,
    DeleteFolder,
    Expunge,
    FlagChange,
    QueuedOp,
    QueuedOperation,
    RenameFolder,
    Transfer,
)
from sync.store import MessageRecord, PendingOperation

__all__ = ["VERSION", "UnreadableOperation", "decode", "encode", "load"]

VERSION = 1

JsonObject = dict[str, object]
T = TypeVar("T")


class UnreadableOperation(ValueError):
    """A queued operation this code cannot read (unknown kind or malformed payload)."""


# -- writing ---------------------------------------------------------------------------------


def encode(change: QueuedOperation) -> str:
    """The payload text for ``change`` (version 1)."""
    fields: JsonObject
    match change:
        case FlagChange(uids=uids, add=add, remove=remove):
            fields = {"uids": list(uids), "add": list(add), "remove": list(remove)}
        case Transfer():
            fields = {
                "uids": list(change.uids),
                "provisional": list(change.provisional),
                "message_ids": list(change.message_ids),
                "dest_id": change.dest_id,
                "dest": change.dest,
                "dest_uidnext": change.dest_uidnext,
                "rows": [_row(record) for record in change.rows],
            }
        case Expunge(uids=uids, rows=rows):
            fields = {"uids": list(uids), "rows": [_row(record) for record in rows]}
        case Append():
            fields = {
                "raw": base64.b64encode(change.raw).decode("ascii"),
                "flags": list(change.flags),
                "internaldate": change.internaldate,
                "provisional": change.provisional,
                "message_id": change.message_id,
                "dest_uidnext": change.dest_uidnext,
            }
        case RenameFolder(new=new, new_display=new_display, old_display=old_display):
            fields = {"new": new, "new_display": new_display, "old_display": old_display}
        case CreateFolder() | DeleteFolder():
            fields = {}
        case _:
            assert_never(change)
    return json.dumps({"v": VERSION, **fields})


def _row(record: MessageRecord) -> JsonObject:
    row = asdict(record)
    row["flags"] = list(record.flags)
    return row


# -- reading ---------------------------------------------------------------------------------


def load(op: PendingOperation) -> QueuedOp:
    """A queue row with its payload decoded (raises :class:`UnreadableOperation`)."""
    return QueuedOp(
        id=op.id,
        account_id=op.account_id,
        folder_id=op.folder_id,
        folder_name=op.folder_name,
        change=decode(op.kind, op.payload),
        created_at=op.created_at,
        attempts=op.attempts,
        last_error=op.last_error,
        failed=op.failed,
        next_attempt_at=op.next_attempt_at,
    )


def decode(kind: str, payload: str) -> QueuedOperation:
    """The change a ``pending_ops`` row of ``kind`` holds (payload version 0 or 1)."""
    try:
        value: object = json.loads(payload)
    except ValueError as exc:
        raise UnreadableOperation(f"{kind} payload is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UnreadableOperation(f"{kind} payload is not a JSON object")
    fields: JsonObject = dict(value)
    version = fields.pop("v", 0)
    # ``true == 1`` in Python: a version is an integer, not a JSON boolean.
    if isinstance(version, bool) or version not in (0, VERSION):
        raise UnreadableOperation(f"{kind} payload has unknown version {version!r}")
    if version == 0:
        _fill_v0_defaults(kind, fields)
    try:
        return _decode(kind, fields)
    except _Missing as missing:
        raise UnreadableOperation(f"{kind} payload lacks {missing}") from None
    except _Mistyped as mistyped:
        raise UnreadableOperation(f"{kind} payload: {mistyped}") from None


def _fill_v0_defaults(kind: str, fields: JsonObject) -> None:
    """What version 0 left out where it had nothing to say."""
    if kind in ("move", "copy"):
        fields.setdefault("rows", [])
        fields.setdefault("dest_uidnext", None)
    elif kind == "append":
        fields.setdefault("message_id", None)
        fields.setdefault("dest_uidnext", None)
    elif kind == "rename_folder":
        fields.setdefault("old_display", None)


def _decode(kind: str, fields: JsonObject) -> QueuedOperation:
    if kind == "flags":
        return FlagChange(
            uids=_ints(fields, "uids"), add=_strs(fields, "add"), remove=_strs(fields, "remove")
        )
    if kind == "move" or kind == "copy":
        transfer_kind: Literal["move", "copy"] = "move" if kind == "move" else "copy"
        uids = _ints(fields, "uids")
        return Transfer(
            kind=transfer_kind,
            uids=uids,
            provisional=_aligned(_ints(fields, "provisional"), uids, "provisional"),
            message_ids=_aligned(_optional_strs(fields, "message_ids"), uids, "message_ids"),
            dest_id=_int(fields, "dest_id"),
            dest=_str(fields, "dest"),
            dest_uidnext=_optional_int(fields, "dest_uidnext"),
            rows=_aligned_or_empty(_records(fields, "rows"), uids, "rows"),
        )
    if kind == "expunge":
        uids = _ints(fields, "uids")
        return Expunge(uids=uids, rows=_aligned(_records(fields, "rows"), uids, "rows"))
    if kind == "append":
        raw = _str(fields, "raw")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _Mistyped("raw is not base64") from None
        return Append(
            raw=data,
            flags=_strs(fields, "flags"),
            internaldate=_int(fields, "internaldate"),
            provisional=_int(fields, "provisional"),
            message_id=_optional_str(fields, "message_id"),
            dest_uidnext=_optional_int(fields, "dest_uidnext"),
        )
    if kind == "create_folder":
        return CreateFolder()
    if kind == "rename_folder":
        return RenameFolder(
            new=_str(fields, "new"),
            new_display=_str(fields, "new_display"),
            old_display=_optional_str(fields, "old_display"),
        )
    if kind == "delete_folder":
        return DeleteFolder()
    raise UnreadableOperation(f"unknown operation kind {kind!r}")


class _Missing(Exception):
    """A required key is absent (its name is the message)."""


class _Mistyped(Exception):
    """A value has the wrong type or shape (the message says which)."""


def _get(fields: JsonObject, key: str) -> object:
    if key not in fields:
        raise _Missing(key)
    return fields[key]


def _int(fields: JsonObject, key: str) -> int:
    value = _get(fields, key)
    # JSON true/false arrive as bool, which Python counts as int: not a number here.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Mistyped(f"{key} is not an integer")
    return value


def _optional_int(fields: JsonObject, key: str) -> int | None:
    return None if _get(fields, key) is None else _int(fields, key)


def _str(fields: JsonObject, key: str) -> str:
    value = _get(fields, key)
    if not isinstance(value, str):
        raise _Mistyped(f"{key} is not a string")
    return value


def _optional_str(fields: JsonObject, key: str) -> str | None:
    return None if _get(fields, key) is None else _str(fields, key)


def _bool(fields: JsonObject, key: str) -> bool:
    value = _get(fields, key)
    if not isinstance(value, bool):
        raise _Mistyped(f"{key} is not true or false")
    return value


def _list(fields: JsonObject, key: str) -> list[object]:
    value = _get(fields, key)
    if not isinstance(value, list):
        raise _Mistyped(f"{key} is not a list")
    return value


def _ints(fields: JsonObject, key: str) -> tuple[int, ...]:
    values = _list(fields, key)
    ints: list[int] = []
    for value in values:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Mistyped(f"{key} holds a non-integer")
        ints.append(value)
    return tuple(ints)


def _strs(fields: JsonObject, key: str) -> tuple[str, ...]:
    strs: list[str] = []
    for value in _list(fields, key):
        if not isinstance(value, str):
            raise _Mistyped(f"{key} holds a non-string")
        strs.append(value)
    return tuple(strs)


def _optional_strs(fields: JsonObject, key: str) -> tuple[str | None, ...]:
    strs: list[str | None] = []
    for value in _list(fields, key):
        if value is not None and not isinstance(value, str):
            raise _Mistyped(f"{key} holds a non-string")
        strs.append(value)
    return tuple(strs)


def _records(fields: JsonObject, key: str) -> tuple[MessageRecord, ...]:
    records: list[MessageRecord] = []
    for value in _list(fields, key):
        if not isinstance(value, dict):
            raise _Mistyped(f"{key} holds a non-object")
        records.append(_record(value))
    return tuple(records)


def _record(row: JsonObject) -> MessageRecord:
    """A ``MessageRecord`` back from its snapshot (``dataclasses.asdict`` as JSON)."""
    return MessageRecord(
        uid=_int(row, "uid"),
        message_id=_optional_str(row, "message_id"),
        subject=_str(row, "subject"),
        from_name=_str(row, "from_name"),
        from_addr=_str(row, "from_addr"),
        to=_str(row, "to"),
        cc=_str(row, "cc"),
        date=_int(row, "date"),
        internaldate=_int(row, "internaldate"),
        size=_int(row, "size"),
        flags=_strs(row, "flags"),
        modseq=_optional_int(row, "modseq"),
        has_attachment=_bool(row, "has_attachment"),
        in_reply_to=_optional_str(row, "in_reply_to"),
        references=_optional_str(row, "references"),
    )


def _aligned(values: tuple[T, ...], uids: tuple[int, ...], key: str) -> tuple[T, ...]:
    if len(values) != len(uids):
        raise _Mistyped(f"{key} does not line up with uids")
    return values


def _aligned_or_empty(values: tuple[T, ...], uids: tuple[int, ...], key: str) -> tuple[T, ...]:
    return values if not values else _aligned(values, uids, key)
