"""Local changes to mail: made in the store at once, queued durably, replayed to the server.

``Operations(store)`` is what the UI calls (mark read, flag, move, delete, archive, append,
folders...); ``Replayer`` is what the engine runs on its worker connection (RFC 4549: local
changes go up before server changes come down); ``describe`` words a queued operation for
``mailtui queue`` and the UI; ``UndoStack`` keeps the UI's last changes and queues their
inverses. The conflict rules are in docs/decisions/0003-local-operations.md.

Names are imported on first use: ``mailtui queue`` needs only ``describe`` and must not pay
for the IMAP client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.ops.api import Operations, OperationsError, Queued, record_from_raw
    from sync.ops.describe import describe
    from sync.ops.replay import TEMPORARY_CODES, Replayer
    from sync.ops.undo import UndoStack

__all__ = [
    "TEMPORARY_CODES",
    "Operations",
    "OperationsError",
    "Queued",
    "Replayer",
    "UndoStack",
    "describe",
    "record_from_raw",
]

_WHERE = {
    "Operations": "sync.ops.api",
    "OperationsError": "sync.ops.api",
    "Queued": "sync.ops.api",
    "record_from_raw": "sync.ops.api",
    "describe": "sync.ops.describe",
    "TEMPORARY_CODES": "sync.ops.replay",
    "Replayer": "sync.ops.replay",
    "UndoStack": "sync.ops.undo",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'sync.ops' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
