"""Words for a queued operation, as ``mailtui queue`` and the UI show it (no IMAP imports)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sync.store import PendingOperation

__all__ = ["describe"]


def _count(payload: dict[str, Any]) -> str:
    count = len(payload.get("uids", []))
    return f"{count} message" + ("" if count == 1 else "s")


def describe(op: PendingOperation, folder_name: Callable[[str | None], str] = str) -> str:
    """One line saying what ``op`` does, e.g. ``+\\Seen on 3 messages in INBOX``.

    ``folder_name`` turns a server folder name into the shown one (the caller knows the
    store's display names); strings from the server are returned uncleaned.
    """
    try:
        payload: dict[str, Any] = json.loads(op.payload)
    except ValueError:
        payload = {}
    where = folder_name(op.folder_name) if op.folder_name is not None else "?"
    if op.kind == "flags":
        changes = [f"+{flag}" for flag in payload.get("add", [])]
        changes += [f"-{flag}" for flag in payload.get("remove", [])]
        return f"{' '.join(changes)} on {_count(payload)} in {where}"
    if op.kind in ("move", "copy"):
        dest = folder_name(payload.get("dest"))
        return f"{op.kind} {_count(payload)} from {where} to {dest}"
    if op.kind == "expunge":
        return f"delete {_count(payload)} from {where} for good"
    if op.kind == "append":
        return f"add a message to {where}"
    if op.kind == "create_folder":
        return f"create folder {where}"
    if op.kind == "rename_folder":
        return f"rename folder {where} to {folder_name(payload.get('new'))}"
    if op.kind == "delete_folder":
        return f"delete folder {where}"
    return op.kind
