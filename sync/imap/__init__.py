"""Our own small asyncio IMAP client (see docs/decisions/0001-own-imap-client.md).

The narrow, typed interface the sync engine uses: :class:`ImapClient` and the result and
event types. Underneath, a pure lexer and parser (bytes in, typed results out, no I/O).
"""

from sync.imap.client import IdleSession, ImapClient, Security
from sync.imap.errors import (
    ImapCommandError,
    ImapDisconnected,
    ImapError,
    ImapParseError,
    ImapSecurityError,
    ImapTimeout,
)
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
from sync.imap.utf7 import decode_mailbox, encode_mailbox

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
    "StoreResult",
    "UidSet",
    "Unsolicited",
    "Vanished",
    "decode_mailbox",
    "encode_mailbox",
]
