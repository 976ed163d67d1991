"""What an IMAP server offers, as the rest of the code uses it (a fact about the server).

Derived from CAPABILITY and ENABLED once per connection; the engine and the operation replay
choose commands by it (QRESYNC SELECT, UID MOVE, COPYUID and so on).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ServerFeatures"]


@dataclass(frozen=True, slots=True)
class ServerFeatures:
    """What the server offers that the engine uses, from CAPABILITY and ENABLED."""

    condstore: bool = False
    qresync: bool = False
    move: bool = False
    uidplus: bool = False
    esearch: bool = False
    notify: bool = False
    list_status: bool = False
    special_use: bool = False
    idle: bool = False

    @classmethod
    def from_capabilities(
        cls, capabilities: Iterable[str], enabled: Iterable[str] = ()
    ) -> ServerFeatures:
        """Derive the features; QRESYNC counts only once ENABLEd (RFC 7162 §3.2.3)."""
        caps = {capability.upper() for capability in capabilities}
        on = {capability.upper() for capability in enabled}
        qresync = "QRESYNC" in on
        return cls(
            condstore="CONDSTORE" in caps or qresync,
            qresync=qresync,
            move="MOVE" in caps,
            uidplus="UIDPLUS" in caps,
            esearch="ESEARCH" in caps,
            notify="NOTIFY" in caps,
            list_status="LIST-STATUS" in caps,
            special_use="SPECIAL-USE" in caps,
            idle="IDLE" in caps,
        )
