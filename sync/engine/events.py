"""Typed events the engine publishes: connection state, progress, new mail.

The store announces data changes itself (``sync.store.events``); these are about the engine's
own state, which the UI shows in its status bar and ``mailtui sync`` logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ConnectionPhase",
    "ConnectionStateChanged",
    "EngineEvent",
    "FolderSynced",
    "NewMail",
    "SyncProgress",
]


class ConnectionPhase(StrEnum):
    """Where an account's connection stands."""

    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"  # lost or unreachable; ``retry_in`` says when the next try is
    FAILED = "failed"  # needs the user: refused login, bad certificate, bad config
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ConnectionStateChanged:
    """An account's connection moved to ``phase``; ``detail`` says why in words."""

    account: str
    phase: ConnectionPhase
    detail: str = ""
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class SyncProgress:
    """A folder's first sync advanced: ``done`` of about ``total`` messages are in the store."""

    account: str
    folder: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class FolderSynced:
    """A folder was reconciled with the server (``added``/``removed``/``changed`` counts)."""

    account: str
    folder: str
    added: int
    removed: int
    changed: int


@dataclass(frozen=True, slots=True)
class NewMail:
    """A message arrived while the engine was live (not during a first sync)."""

    account: str
    folder: str
    folder_id: int
    uid: int
    sender: str
    subject: str


EngineEvent = ConnectionStateChanged | SyncProgress | FolderSynced | NewMail
