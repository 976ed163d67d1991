"""The UI contract: what the interface and the core say to each other, with no Textual in it.

The app and its widgets talk to the rest of mailtui through the `Backend` protocol: reads
(accounts, folders, message sources, headers, bodies), operations (`ActionRequest`), and typed
change events (`BackendEvent`). The shapes they exchange (`AccountInfo`, `FolderInfo`,
`ListRow`, `MessageSource`, `MessageHeaders`, `QueueItem`, `ComposeStart`...) live here too, so
a backend, a test double or a headless tool can implement the contract without loading Textual
or Rich (a test checks that importing this module loads neither).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, runtime_checkable

from sync.events import EventBus

if TYPE_CHECKING:  # sync.compose (email, MIME) loads when a message is first written
    from sync.compose import Draft, ReplyKind

__all__ = [
    "AccountInfo",
    "ActionRequest",
    "Archive",
    "Backend",
    "BackendEvent",
    "BodyAvailable",
    "ComposeKind",
    "ComposeStart",
    "ConnectionState",
    "ConsumingRequest",
    "CountsUpdated",
    "Delete",
    "FolderInfo",
    "FoldersUpdated",
    "ListRow",
    "MessageHeaders",
    "MessageSource",
    "MessagesUpdated",
    "Move",
    "NewMailNotice",
    "Notice",
    "OperationsState",
    "QueueItem",
    "SetFlagged",
    "SetRead",
    "SpansFolders",
]


# What the panes show -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """An account as the folder pane shows it."""

    id: int
    name: str
    email: str = ""


@dataclass(frozen=True, slots=True)
class FolderInfo:
    """A folder as the folder pane shows it (the store's FolderRow maps onto this)."""

    id: int
    account_id: int
    name: str  # full server name, e.g. "Lists/python"
    display_name: str  # decoded (modified UTF-7, RFC 3501 5.1.3) full name
    delimiter: str | None
    special_use: str | None  # RFC 6154 attribute, e.g. "\\Sent"; INBOX counts as special
    unread: int = 0
    total: int = 0


class ListRow(Protocol):
    """What the list needs from one message row (`sync.store.MessageRow` fits)."""

    @property
    def uid(self) -> int: ...
    @property
    def date(self) -> int: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def from_name(self) -> str | None: ...
    @property
    def from_addr(self) -> str | None: ...
    @property
    def flags(self) -> Sequence[str]: ...
    @property
    def seen(self) -> bool: ...
    @property
    def flagged(self) -> bool: ...
    @property
    def has_attachment(self) -> bool: ...


class MessageSource(Protocol):
    """A folder (or a filtered view of one) as the list reads it."""

    @property
    def folder_id(self) -> int:
        """The folder whose messages this source lists."""
        ...

    async def keys(self) -> tuple[array[int], array[int]]:
        """Return (sort values, uids) of every message, newest first, as compact arrays."""
        ...

    async def page(self, after: tuple[int, int] | None, limit: int) -> Sequence[ListRow]:
        """Return up to ``limit`` rows strictly after the (sort value, uid) key, newest first."""
        ...


@runtime_checkable
class SpansFolders(MessageSource, Protocol):
    """A source whose rows come from several folders (search results): its "uids" are row
    ids, and ``locate`` gives each one's (folder id, UID)."""

    def locate(self, value: int) -> tuple[int, int]:
        """The (folder id, UID) of a listed row id."""
        ...


class MessageHeaders(Protocol):
    """What the reader shows above the body (`sync.store.MessageRow` fits)."""

    @property
    def uid(self) -> int: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def from_name(self) -> str | None: ...
    @property
    def from_addr(self) -> str | None: ...
    @property
    def to(self) -> str | None: ...
    @property
    def cc(self) -> str | None: ...
    @property
    def date(self) -> int: ...


# Writing mail --------------------------------------------------------------------------------

ComposeKind = Literal["reply", "reply_all", "forward", "compose", "resume"]
"""What to write: a reply, reply-all or forward of a message, a new message, or a draft
resumed from the Drafts folder."""


@dataclass(frozen=True, slots=True)
class ComposeStart:
    """What the backend hands the interface to start writing a message.

    ``account`` names the configured account it goes out from; ``original`` is the message
    it answers (folder id, UID, reply kind: it gets ``\\Answered``/``$Forwarded`` once
    sent); ``draft_uid`` is the Drafts-folder UID of a resumed draft (replaced when saved
    again, removed once sent). ``summary`` is a short line for the confirm bar.
    """

    draft: Draft
    account: str
    original: tuple[int, int, ReplyKind] | None = None
    draft_uid: int | None = None


# Operations, events and the backend ----------------------------------------------------------


# One frozen dataclass per operation the user can ask for on messages, as the backend receives
# it: the folder and the UIDs it acts on, and ``implicit`` for a change the user did not ask
# for by a key (opening a message reads it), which is not put on the undo stack. ``title``
# names the action in an error report.


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete the messages."""

    title: ClassVar[str] = "Delete"
    folder_id: int
    uids: tuple[int, ...]
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class Archive:
    """Move the messages to the account's archive folder."""

    title: ClassVar[str] = "Archive"
    folder_id: int
    uids: tuple[int, ...]
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class Move:
    """Move the messages to the folder ``dest_folder_id`` (of the same account)."""

    title: ClassVar[str] = "Move"
    folder_id: int
    uids: tuple[int, ...]
    dest_folder_id: int
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class SetFlagged:
    """Flag the messages (``value`` True) or unflag them: a target state, so that sending
    it twice changes nothing more."""

    title: ClassVar[str] = "Flag"
    folder_id: int
    uids: tuple[int, ...]
    value: bool
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class SetRead:
    """Mark the messages read (``value`` True) or unread: a target state, like `SetFlagged`."""

    title: ClassVar[str] = "Toggle read"
    folder_id: int
    uids: tuple[int, ...]
    value: bool
    implicit: bool = False


ActionRequest = Delete | Archive | Move | SetFlagged | SetRead
"""An operation the user asked for, as the backend receives it."""

ConsumingRequest = Delete | Archive | Move
"""The requests after which their messages are gone from the folder."""


@dataclass(frozen=True, slots=True)
class FoldersUpdated:
    """Folders were created, renamed or deleted (re-read the folder pane)."""


@dataclass(frozen=True, slots=True)
class CountsUpdated:
    """Unread/total counts changed for these folders (None: any)."""

    folder_ids: frozenset[int] | None = None


@dataclass(frozen=True, slots=True)
class MessagesUpdated:
    """Messages of a folder were added, removed or changed (None: any folder, e.g. another
    process wrote the store). ``uids`` names the changed messages when known."""

    folder_id: int | None
    uids: frozenset[int] | None = None


@dataclass(frozen=True, slots=True)
class BodyAvailable:
    """A message's body has been downloaded (the reader may be waiting for it)."""

    folder_id: int
    uid: int


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """An account's connection state changed; ``text`` is short and shown as is."""

    account: str
    text: str


@dataclass(frozen=True, slots=True)
class OperationsState:
    """Local changes waiting for the server, and the ones that failed."""

    pending: int
    failed: int


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One entry of the queue of work waiting for the server, as the queue screen lists it:
    a local change (``operation``) or a message to send (``outgoing``), by its id there.

    ``state`` is ``pending`` (waiting its turn, or for the connection), ``sending`` (being
    handed to the SMTP server) or ``failed`` (refused: kept until retried or discarded).
    ``next_attempt_at`` (epoch seconds) is set while a temporary failure holds it back.
    ``account``, ``description`` and ``error`` (the server's last words) are as the store
    has them: the screen cleans them before showing them.
    """

    kind: Literal["operation", "outgoing"]
    id: int
    account: str
    description: str
    state: Literal["pending", "sending", "failed"]
    attempts: int = 0
    error: str | None = None
    next_attempt_at: float | None = None

    @property
    def failed(self) -> bool:
        """Refused for good: it stays until the user retries or discards it."""
        return self.state == "failed"

    @property
    def backing_off(self) -> bool:
        """Waiting to be tried again after a temporary failure."""
        return self.state == "pending" and self.next_attempt_at is not None

    @property
    def retryable(self) -> bool:
        """Whether retrying means something: failed, or held back by a temporary failure."""
        return self.failed or self.backing_off

    @property
    def discardable(self) -> bool:
        """Only a failed item may be discarded (a pending one may be going out right now)."""
        return self.failed


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should read once (a change the server refused, a task that
    stopped); ``text`` is shown as plain text."""

    text: str
    severity: Literal["information", "warning", "error"] = "information"


@dataclass(frozen=True, slots=True)
class NewMailNotice:
    """Mail arrived while live: ``count`` messages in ``folder``, the latest from ``sender``.

    Strings are as the server sent them; the app cleans them before showing them.
    """

    account: str
    folder: str
    sender: str
    subject: str
    count: int = 1


BackendEvent = (
    FoldersUpdated
    | CountsUpdated
    | MessagesUpdated
    | BodyAvailable
    | ConnectionState
    | OperationsState
    | Notice
    | NewMailNotice
)


class Backend(Protocol):
    """Everything the TUI needs from the core; the real one wraps the store and the operations
    queue, tests use an in-memory one."""

    @property
    def events(self) -> EventBus[BackendEvent]:
        """Typed change events; the app subscribes for its lifetime."""
        ...

    async def accounts(self) -> Sequence[AccountInfo]:
        """Configured accounts, in config order."""
        ...

    def current_state(self) -> Sequence[BackendEvent]:
        """The latest connection and queue state, for a subscriber that just arrived (events
        published before it subscribed are not replayed by the bus)."""
        ...

    def ui_ready(self) -> None:
        """The first rows are on screen: heavy background work may start now."""

    def watch(self, folder_id: int | None) -> None:
        """The user now looks at this folder (the engine listens there first)."""
        ...

    async def folders(self) -> Sequence[FolderInfo]:
        """Every shown folder of every account, with unread and total counts."""
        ...

    def source(self, folder_id: int) -> MessageSource:
        """The message list's source for a folder."""
        ...

    async def filtered_source(self, folder_id: int, query: str) -> MessageSource | None:
        """A source listing the folder's messages that match ``query`` (None: unsupported).
        Raises `QueryError` when the query cannot be understood."""
        ...

    async def search_source(self, folder_id: int, query: str) -> MessageSource | None:
        """A source listing every folder's messages that match ``query`` (a `SearchSource`
        spans folders), started from ``folder_id``. Raises `QueryError` like the filter."""
        ...

    async def thread_source(self, folder_id: int) -> MessageSource | None:
        """The folder as threads (a `ThreadSource`), or None when unsupported."""
        ...

    async def message(self, folder_id: int, uid: int) -> MessageHeaders | None:
        """One message's headers, or None when it is gone."""
        ...

    async def body(self, folder_id: int, uid: int) -> bytes | None:
        """The raw message, downloaded now if it is not stored yet (None: it cannot be had now,
        a `BodyAvailable` event follows when it arrives). Raises when a download failed; the
        exception's text says why in words. A large message may come text first, as a
        `sync.mime.message.PartialMessage` whose attachments are placeholders (see
        `whole_body`)."""
        ...

    async def whole_body(self, folder_id: int, uid: int) -> bytes | None:
        """Like `body`, but always the whole message (downloaded and kept if need be): for
        the attachments of a message shown text first."""
        ...

    async def cached_body(self, folder_id: int, uid: int) -> bytes | None:
        """The raw message if it is stored here, else None; never downloads (prefetch uses
        it for the message the list cursor rests on)."""
        ...

    async def perform(self, request: ActionRequest) -> str:
        """Apply an operation locally and queue it for the server; return a short summary."""
        ...

    async def undo(self) -> str | None:
        """Undo the last operation; return a summary, or None when there is nothing to undo."""
        ...

    async def compose(
        self, kind: ComposeKind, folder_id: int, uid: int | None
    ) -> ComposeStart | str:
        """Prepare a reply, forward, new message or resumed draft for editing; a string
        says in words why it cannot be written now (shown in the status bar)."""
        ...

    async def send_draft(self, start: ComposeStart, draft: Draft) -> str:
        """Queue an edited message for sending (it goes out when online); a summary."""
        ...

    async def postpone_draft(self, start: ComposeStart, draft: Draft) -> str:
        """File an edited message in the account's Drafts folder; a summary."""
        ...

    async def address_pairs(self, account: str) -> Sequence[tuple[str, str]]:
        """``(name, address)`` pairs from the account's mail, for address completion."""
        ...

    async def queue_items(self) -> Sequence[QueueItem]:
        """Every account's queued changes and outgoing mail, pending and failed, in the
        order they go out."""
        ...

    async def retry(self, item: QueueItem) -> str:
        """Try an item again now (a failed one is queued again, its local change made again);
        return a short summary. Raises when it cannot be retried, saying why in words."""
        ...

    async def discard(self, item: QueueItem) -> str:
        """Forget a failed item for good; return a short summary. Raises when it cannot be
        discarded (it is not failed: it may be going out), saying why in words."""
        ...
