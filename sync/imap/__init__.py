"""Our own small asyncio IMAP client (see docs/decisions/0001-own-imap-client.md).

The narrow, typed interface the sync engine uses: :class:`ImapClient` and the result and
event types. Underneath, a pure lexer and parser (bytes in, typed results out, no I/O).

Names load on first use (PEP 562), so importing a small submodule such as ``sync.imap.utf7``
does not load the client and its parser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.imap.client import (
        IdleSession,
        ImapClient,
        Security,
    )
    from sync.imap.errors import (
        ImapCommandError,
        ImapDisconnected,
        ImapError,
        ImapParseError,
        ImapSecurityError,
        ImapTimeout,
    )
    from sync.imap.features import ServerFeatures
    from sync.imap.types import (
        Address,
        AppendUid,
        BodyStructure,
        Bye,
        CopyUid,
        Disconnected,
        Envelope,
        Exists,
        Expunge,
        FetchResult,
        FlagsUpdate,
        ListEntry,
        MailboxStatus,
        Namespace,
        NamespaceResponse,
        QresyncParams,
        ResponseCode,
        SelectResult,
        StoreResult,
        UidSet,
        Unsolicited,
        Vanished,
    )
    from sync.imap.utf7 import (
        decode_mailbox,
        encode_mailbox,
    )

_HOMES = {
    "Address": "sync.imap.types",
    "AppendUid": "sync.imap.types",
    "BodyStructure": "sync.imap.types",
    "Bye": "sync.imap.types",
    "CopyUid": "sync.imap.types",
    "Disconnected": "sync.imap.types",
    "Envelope": "sync.imap.types",
    "Exists": "sync.imap.types",
    "Expunge": "sync.imap.types",
    "FetchResult": "sync.imap.types",
    "FlagsUpdate": "sync.imap.types",
    "IdleSession": "sync.imap.client",
    "ImapClient": "sync.imap.client",
    "ImapCommandError": "sync.imap.errors",
    "ImapDisconnected": "sync.imap.errors",
    "ImapError": "sync.imap.errors",
    "ImapParseError": "sync.imap.errors",
    "ImapSecurityError": "sync.imap.errors",
    "ImapTimeout": "sync.imap.errors",
    "ListEntry": "sync.imap.types",
    "MailboxStatus": "sync.imap.types",
    "Namespace": "sync.imap.types",
    "NamespaceResponse": "sync.imap.types",
    "QresyncParams": "sync.imap.types",
    "ResponseCode": "sync.imap.types",
    "Security": "sync.imap.client",
    "SelectResult": "sync.imap.types",
    "ServerFeatures": "sync.imap.features",
    "StoreResult": "sync.imap.types",
    "UidSet": "sync.imap.types",
    "Unsolicited": "sync.imap.types",
    "Vanished": "sync.imap.types",
    "decode_mailbox": "sync.imap.utf7",
    "encode_mailbox": "sync.imap.utf7",
}

__all__ = [
    "Address",
    "AppendUid",
    "BodyStructure",
    "Bye",
    "CopyUid",
    "Disconnected",
    "Envelope",
    "Exists",
    "Expunge",
    "FetchResult",
    "FlagsUpdate",
    "IdleSession",
    "ImapClient",
    "ImapCommandError",
    "ImapDisconnected",
    "ImapError",
    "ImapParseError",
    "ImapSecurityError",
    "ImapTimeout",
    "ListEntry",
    "MailboxStatus",
    "Namespace",
    "NamespaceResponse",
    "QresyncParams",
    "ResponseCode",
    "Security",
    "SelectResult",
    "ServerFeatures",
    "StoreResult",
    "UidSet",
    "Unsolicited",
    "Vanished",
    "decode_mailbox",
    "encode_mailbox",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sync.imap' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value
