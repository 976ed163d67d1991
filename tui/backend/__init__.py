"""The backend side of the interface: the real `tui.protocol.Backend` over the store, the sync
engine and the operations queue (`StoreBackend`, its parts in `supervisor`, `sending` and
`queue_control`), and the adapters that read the store for the
panes (`StoreSource`, `backend_event_from_store`). Nothing here imports Textual's widgets."""

from __future__ import annotations

from tui.backend.store_adapter import StoreSource, backend_event_from_store
from tui.backend.store_backend import BodyUnavailable, StoreBackend
from tui.backend.supervisor import connection_text, new_mail_environment

__all__ = [
    "BodyUnavailable",
    "StoreBackend",
    "StoreSource",
    "backend_event_from_store",
    "connection_text",
    "new_mail_environment",
]
