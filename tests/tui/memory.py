"""An in-memory `Backend` and `MessageSource` for the TUI's tests and benchmark.

Folders hold their order as compact arrays, like the store: a 100k-message folder costs two
arrays, and rows are synthesised per page from the uid unless a message was added or changed
explicitly. Operations really change the folders and publish the same typed events the real
backend will, so the UI is exercised the way it runs (act, then re-read on the event).
"""

from __future__ import annotations

from array import array
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import assert_never

from sync.compose import Draft, forward_draft, reply_draft
from sync.config import AccountConfig, parse_config
from sync.events import EventBus
from sync.outbox import draft_from_raw
from sync.search.query import (
    And,
    DateBound,
    FlagTest,
    Folder,
    HasAttachment,
    Not,
    Or,
    Query,
    Text,
    folder_matches,
    parse_query,
)
from tui.protocol import (
    AccountInfo,
    ActionRequest,
    Archive,
    BackendEvent,
    ComposeKind,
    ComposeStart,
    ConnectionState,
    CountsUpdated,
    Delete,
    FolderInfo,
    MessageSource,
    MessagesUpdated,
    Move,
    OperationsState,
    QueueItem,
    SetFlagged,
    SetRead,
)
from tui.search_view import SearchHit, SearchSource, ServerNews, ThreadItem, ThreadSource

BASE_TIME = 1_700_000_000


@dataclass(frozen=True, slots=True)
class MemoryMessage:
    """One message (the fields the list and the reader read)."""

    uid: int
    date: int
    subject: str | None = "Hello"
    from_name: str | None = "Alice Example"
    from_addr: str | None = "alice@example.org"
    to: str | None = "bob@example.org"
    cc: str | None = None
    flags: tuple[str, ...] = ()
    has_attachment: bool = False
    body: bytes | None = None

    @property
    def seen(self) -> bool:
        """\\Seen is set."""
        return "\\Seen" in self.flags

    @property
    def flagged(self) -> bool:
        """\\Flagged is set."""
        return "\\Flagged" in self.flags


def synthetic_message(uid: int) -> MemoryMessage:
    """The deterministic message a synthetic folder holds at ``uid``."""
    return MemoryMessage(
        uid=uid,
        date=BASE_TIME + uid * 60,
        subject=f"Message number {uid}",
        from_name=f"Sender {uid % 97}",
        from_addr=f"sender{uid % 97}@example.org",
        flags=("\\Seen",) if uid % 3 else (),
        has_attachment=uid % 7 == 0,
        body=f"Subject: Message number {uid}\r\n\r\nBody of {uid}.\r\n".encode(),
    )


class MemoryFolder:
    """A folder: (sort value, uid) keys newest first, synthetic rows plus explicit ones."""

    def __init__(self, folder_id: int, name: str, *, synthetic: int = 0) -> None:
        self.folder_id = folder_id
        self.name = name
        # Newest first: uid n has the latest date.
        self.sort_values: array[int] = array("q", range(BASE_TIME + synthetic * 60, BASE_TIME, -60))
        self.uids: array[int] = array("q", range(synthetic, 0, -1))
        self.synthetic = synthetic
        self.explicit: dict[int, MemoryMessage] = {}
        self.page_calls = 0
        self.next_uid = synthetic + 1

    def get(self, uid: int) -> MemoryMessage | None:
        """The message with this uid, or None."""
        found = self.explicit.get(uid)
        if found is not None:
            return found
        if 0 < uid <= self.synthetic and _index(self.uids, self.sort_values, uid) is not None:
            return synthetic_message(uid)
        return None

    def add(self, message: MemoryMessage) -> None:
        """Insert a message at its place in the order (by date, then uid)."""
        self.explicit[message.uid] = message
        self.next_uid = max(self.next_uid, message.uid + 1)
        position = _insertion_point(self.sort_values, self.uids, (message.date, message.uid))
        self.sort_values.insert(position, message.date)
        self.uids.insert(position, message.uid)

    def remove(self, uids: Sequence[int]) -> list[MemoryMessage]:
        """Remove messages; return them."""
        removed = []
        for uid in uids:
            message = self.get(uid)
            if message is None:
                continue
            removed.append(message)
            index = self.uids.index(uid)
            del self.uids[index]
            del self.sort_values[index]
            self.explicit.pop(uid, None)
        return removed

    def replace(self, message: MemoryMessage) -> None:
        """Change a message in place (flags)."""
        self.explicit[message.uid] = message

    def unread(self) -> int:
        """Unread messages (synthetic: every third one, minus the changed ones)."""
        return sum(1 for uid in self.uids if not (self.get(uid) or synthetic_message(uid)).seen)


class FolderSource:
    """`MessageSource` over a `MemoryFolder`, optionally restricted by a predicate."""

    def __init__(
        self, folder: MemoryFolder, predicate: Callable[[MemoryMessage], bool] | None = None
    ) -> None:
        self.folder = folder
        self._predicate = predicate

    @property
    def folder_id(self) -> int:
        """The folder listed."""
        return self.folder.folder_id

    async def keys(self) -> tuple[array[int], array[int]]:
        """Copies of the folder's arrays (a snapshot, as a query result would be)."""
        if self._predicate is None:
            return array("q", self.folder.sort_values), array("q", self.folder.uids)
        sort_values: array[int] = array("q")
        uids: array[int] = array("q")
        for sort_value, uid in zip(self.folder.sort_values, self.folder.uids, strict=True):
            message = self.folder.get(uid)
            if message is not None and self._predicate(message):
                sort_values.append(sort_value)
                uids.append(uid)
        return sort_values, uids

    async def page(self, after: tuple[int, int] | None, limit: int) -> Sequence[MemoryMessage]:
        """Keyset page: rows strictly after ``after`` in newest-first order."""
        self.folder.page_calls += 1
        start = (
            0 if after is None else _after_point(self.folder.sort_values, self.folder.uids, after)
        )
        rows: list[MemoryMessage] = []
        index = start
        while len(rows) < limit and index < len(self.folder.uids):
            message = self.folder.get(self.folder.uids[index])
            index += 1
            if message is not None and (self._predicate is None or self._predicate(message)):
                rows.append(message)
        return rows


def _key(sort_values: array[int], uids: array[int], index: int) -> tuple[int, int]:
    return sort_values[index], uids[index]


def _after_point(sort_values: array[int], uids: array[int], after: tuple[int, int]) -> int:
    """First index whose key is strictly below ``after`` (keys descend)."""
    lo, hi = 0, len(uids)
    while lo < hi:
        mid = (lo + hi) // 2
        if _key(sort_values, uids, mid) >= after:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _insertion_point(sort_values: array[int], uids: array[int], key: tuple[int, int]) -> int:
    return _after_point(sort_values, uids, key)


def _index(uids: array[int], sort_values: array[int], uid: int) -> int | None:
    # Synthetic uids keep their date, so a binary search finds them.
    key = (BASE_TIME + uid * 60, uid)
    point = _after_point(sort_values, uids, key) - 1
    if 0 <= point < len(uids) and uids[point] == uid:
        return point
    return None


@dataclass
class MemoryBackend:
    """A complete in-memory backend: one account, INBOX + special folders + any extra."""

    inbox_size: int = 50
    extra_folders: Sequence[str] = ()
    events: EventBus[BackendEvent] = field(default_factory=EventBus)
    compose_requests: list[tuple[str, int, int | None]] = field(default_factory=list)
    composing: bool = False
    """When set, `compose` hands out drafts and the compose flow runs."""
    sent_drafts: list[tuple[ComposeStart, Draft]] = field(default_factory=list)
    postponed_drafts: list[tuple[ComposeStart, Draft]] = field(default_factory=list)
    address_book: list[tuple[str, str]] = field(default_factory=list)
    performed: list[ActionRequest] = field(default_factory=list)
    account: AccountInfo = field(default_factory=lambda: AccountInfo(1, "work", "me@example.org"))
    state: list[BackendEvent] = field(default_factory=list)
    watched: list[int | None] = field(default_factory=list)
    queue: list[QueueItem] = field(default_factory=list)
    """The queue of changes and outgoing mail; tests fill it and publish `publish_queue`."""
    retried: list[QueueItem] = field(default_factory=list)
    discarded: list[QueueItem] = field(default_factory=list)
    server_hits: list[tuple[int, MemoryMessage]] = field(default_factory=list)
    """(folder id, message) pairs the pretend server finds for a global search."""
    server_offline: bool = False
    """When set, a global search's server phase says the server cannot be reached."""
    thread_calls: int = 0
    not_cached: set[tuple[int, int]] = field(default_factory=set)
    """(folder id, uid) of messages whose body is on the pretend server only."""
    downloads: list[tuple[int, int]] = field(default_factory=list)
    """(folder id, uid) of every body `body` had to download (one in `not_cached`)."""
    refusal: str | None = None
    """When set, retry and discard raise with this text (as the real one does in words)."""

    def __post_init__(self) -> None:
        names = ["INBOX", "Archive", "Drafts", "Sent", "Trash", *self.extra_folders]
        self.folders_by_id: dict[int, MemoryFolder] = {}
        self.ui_ready_calls = 0
        for number, name in enumerate(names, start=1):
            size = self.inbox_size if name == "INBOX" else 0
            self.folders_by_id[number] = MemoryFolder(number, name, synthetic=size)
        self._undo: list[Callable[[], str]] = []

    def folder_named(self, name: str) -> MemoryFolder:
        """The folder with this name."""
        return next(f for f in self.folders_by_id.values() if f.name == name)

    async def accounts(self) -> Sequence[AccountInfo]:
        """The one account."""
        return [self.account]

    def current_state(self) -> Sequence[BackendEvent]:
        """The state a new subscriber starts from (tests set it)."""
        return list(self.state)

    def ui_ready(self) -> None:
        self.ui_ready_calls += 1

    def watch(self, folder_id: int | None) -> None:
        """Remember which folder the app said it shows."""
        self.watched.append(folder_id)

    async def folders(self) -> Sequence[FolderInfo]:
        """Every folder with counts."""
        special = {
            "Archive": "\\Archive",
            "Drafts": "\\Drafts",
            "Sent": "\\Sent",
            "Trash": "\\Trash",
        }
        return [
            FolderInfo(
                id=f.folder_id,
                account_id=self.account.id,
                name=f.name,
                display_name=f.name,
                delimiter="/",
                special_use=special.get(f.name),
                unread=f.unread() if len(f.uids) <= 20_000 else 0,
                total=len(f.uids),
            )
            for f in self.folders_by_id.values()
        ]

    def source(self, folder_id: int) -> MessageSource:
        """The folder's list source."""
        return FolderSource(self.folders_by_id[folder_id])

    async def filtered_source(self, folder_id: int, query: str) -> MessageSource | None:
        """Messages of the folder matching the query language (words as case-insensitive
        substrings); raises ``QueryError`` as the real one does."""
        parsed = parse_query(query)
        folder = self.folders_by_id[folder_id]
        return FolderSource(folder, lambda message: memory_matches(parsed, message, folder.name))

    async def search_source(self, folder_id: int, query: str) -> MessageSource | None:
        """Every folder's matches, as a `SearchSource`; ``server_hits`` play the server."""
        parsed = parse_query(query)
        folders = list(self.folders_by_id.values())

        async def pager(after: tuple[int, int, int] | None, limit: int) -> list[SearchHit]:
            hits = [
                SearchHit(message.date, folder.folder_id, message)
                for folder in folders
                for uid in folder.uids
                if (message := folder.get(uid)) is not None
                and memory_matches(parsed, message, folder.name)
            ]
            hits.sort(key=lambda hit: hit.key, reverse=True)
            return [hit for hit in hits if after is None or hit.key < after][:limit]

        async def server_phase(shown: Collection[tuple[int, int]]) -> AsyncIterator[ServerNews]:
            if self.server_offline:
                yield ServerNews(unavailable=f"{self.account.name}: connection refused")
                return
            hits = [
                SearchHit(message.date, folder_id, message)
                for folder_id, message in self.server_hits
                if (folder_id, message.uid) not in shown
            ]
            yield ServerNews(hits=hits)

        wants_server = bool(self.server_hits) or self.server_offline
        return SearchSource(pager, folder_id, server_phase=server_phase if wants_server else None)

    async def thread_source(self, folder_id: int) -> MessageSource | None:
        """The folder as threads of messages with the same subject (minus Re:/Fwd:)."""
        folder = self.folders_by_id[folder_id]
        self.thread_calls += 1

        async def heads(after: tuple[int, int, int] | None, limit: int) -> list[MemoryThreadRow]:
            rows = [thread[0] for thread in memory_threads(folder)]
            return [row for row in rows if after is None or row.key < after][:limit]

        async def members(head: ThreadItem) -> list[MemoryThreadRow]:
            for thread in memory_threads(folder):
                if thread[0].key[:2] == head.key[:2]:
                    return thread
            return []

        return ThreadSource(folder_id, heads, members)

    async def message(self, folder_id: int, uid: int) -> MemoryMessage | None:
        """One message."""
        return self.folders_by_id[folder_id].get(uid)

    async def body(self, folder_id: int, uid: int) -> bytes | None:
        """Its raw bytes ("downloaded" when it is not cached: the download is recorded)."""
        if (folder_id, uid) in self.not_cached:
            self.downloads.append((folder_id, uid))
            self.not_cached.discard((folder_id, uid))  # kept, as the store keeps it
        message = self.folders_by_id[folder_id].get(uid)
        return message.body if message is not None else None

    async def whole_body(self, folder_id: int, uid: int) -> bytes | None:
        """As `body`: messages here are always whole."""
        return await self.body(folder_id, uid)

    async def cached_body(self, folder_id: int, uid: int) -> bytes | None:
        """Its raw bytes if "stored here": not for one in `not_cached`, nor when a subclass
        overrides `body` (there `body` stands for a download, e.g. a slow one)."""
        if (folder_id, uid) in self.not_cached or type(self).body is not MemoryBackend.body:
            return None
        message = self.folders_by_id[folder_id].get(uid)
        return message.body if message is not None else None

    def deliver(self, folder_id: int, message: MemoryMessage) -> None:
        """New mail arrives (as sync would store it) and the change is announced."""
        self.folders_by_id[folder_id].add(message)
        self._announce(folder_id, {message.uid})

    async def perform(self, request: ActionRequest) -> str:
        """Apply the operation; remember how to undo it."""
        self.performed.append(request)
        folder = self.folders_by_id[request.folder_id]
        match request:
            case Delete():
                verb, dest = "Deleted", self.folder_named("Trash")
            case Archive():
                verb, dest = "Archived", self.folder_named("Archive")
            case Move(dest_folder_id=dest_folder_id):
                verb, dest = "Moved", self.folders_by_id[dest_folder_id]
            case SetFlagged() | SetRead():
                return self._set_flag(folder, request)
            case _:
                assert_never(request)
        self._move(folder, dest, request.uids)
        return f"{verb} {len(request.uids)} to {dest.name}"

    def _set_flag(self, folder: MemoryFolder, request: SetFlagged | SetRead) -> str:
        """Set or clear the request's flag; remember how to undo it."""
        name = "flag" if isinstance(request, SetFlagged) else "toggle_read"
        flag = "\\Flagged" if isinstance(request, SetFlagged) else "\\Seen"
        before = {uid: folder.get(uid) for uid in request.uids}
        for message in before.values():
            if message is not None:
                flags = tuple(f for f in message.flags if f != flag)
                folder.replace(replace(message, flags=(*flags, flag) if request.value else flags))

        def undo() -> str:
            for original in before.values():
                if original is not None:
                    folder.replace(original)
            self._announce(folder.folder_id, set(before))
            return f"Undid {name}"

        self._undo.append(undo)
        self._announce(folder.folder_id, set(request.uids))
        return f"{name} {len(request.uids)}"

    def _move(self, source: MemoryFolder, dest: MemoryFolder, uids: Sequence[int]) -> None:
        moved = source.remove(uids)
        new_uids = []
        for message in moved:
            new = replace(message, uid=dest.next_uid)
            dest.add(new)
            new_uids.append((new.uid, message))

        def undo() -> str:
            dest.remove([uid for uid, _ in new_uids])
            for _, original in new_uids:
                source.add(original)
            self._announce(source.folder_id, {m.uid for _, m in new_uids})
            self._announce(dest.folder_id, None)
            return f"Undid move of {len(new_uids)}"

        self._undo.append(undo)
        self._announce(source.folder_id, set(uids))
        self._announce(dest.folder_id, None)

    async def undo(self) -> str | None:
        """Undo the last operation."""
        return self._undo.pop()() if self._undo else None

    async def compose(
        self, kind: ComposeKind, folder_id: int, uid: int | None
    ) -> ComposeStart | str:
        """Record the request; with ``composing`` on, a draft as sync.compose makes it from
        the message's body (else a summary, so the keys can be tested alone)."""
        self.compose_requests.append((kind, folder_id, uid))
        if not self.composing:
            return f"{kind} requested"
        sender = f"Me <{self.account.email}>"
        if kind == "compose":
            return ComposeStart(Draft(from_=sender), self.account.name)
        raw = await self.body(folder_id, uid) if uid is not None else None
        if raw is None or uid is None:
            return "That message has no body here"
        if kind == "resume":
            return ComposeStart(draft_from_raw(raw, self._config()), self.account.name, None, uid)
        if kind == "forward":
            draft = forward_draft(raw, self._config())
        else:
            draft = reply_draft(raw, self._config(), reply_all=kind == "reply_all")
        return ComposeStart(draft, self.account.name, (folder_id, uid, draft.reply_kind))

    def _config(self) -> AccountConfig:
        text = (
            f'[accounts.{self.account.name}]\nemail = "{self.account.email}"\n'
            'name = "Me"\nimap_host = "imap.example.org"\n'
            'password_command = "true"\n'
        )
        return parse_config(text, Path("memory.toml")).accounts[0]

    async def send_draft(self, start: ComposeStart, draft: Draft) -> str:
        """Record the message as sent (or refuse with ``refusal``)."""
        if self.refusal is not None:
            raise RuntimeError(self.refusal)
        self.sent_drafts.append((start, draft))
        return f"Queued {draft.subject!r}"

    async def postpone_draft(self, start: ComposeStart, draft: Draft) -> str:
        """Record the message as filed in Drafts."""
        self.postponed_drafts.append((start, draft))
        return f"Postponed {draft.subject!r}"

    async def address_pairs(self, account: str) -> Sequence[tuple[str, str]]:
        """The test's address book."""
        return list(self.address_book)

    async def queue_items(self) -> Sequence[QueueItem]:
        """The queue as tests set it."""
        return list(self.queue)

    async def retry(self, item: QueueItem) -> str:
        """Record it; a failed item waits again with no attempt made (as after a real retry)."""
        self.retried.append(item)
        if self.refusal is not None:
            raise RuntimeError(self.refusal)
        self.queue = [
            replace(queued, state="pending", attempts=0, next_attempt_at=None)
            if (queued.kind, queued.id) == (item.kind, item.id)
            else queued
            for queued in self.queue
        ]
        self.publish_queue()
        return f"Retrying {item.kind} {item.id}"

    async def discard(self, item: QueueItem) -> str:
        """Record it and drop it from the queue."""
        self.discarded.append(item)
        if self.refusal is not None:
            raise RuntimeError(self.refusal)
        self.queue = [q for q in self.queue if (q.kind, q.id) != (item.kind, item.id)]
        self.publish_queue()
        return f"Discarded {item.kind} {item.id}"

    def publish_queue(self) -> None:
        """Announce the queue's counts, as the real backend does after any change to it."""
        failed = sum(item.failed for item in self.queue)
        self.events.publish(OperationsState(len(self.queue) - failed, failed))

    def _announce(self, folder_id: int, uids: set[int] | None) -> None:
        self.events.publish(MessagesUpdated(folder_id, frozenset(uids) if uids else None))
        self.events.publish(CountsUpdated(frozenset({folder_id})))


def memory_matches(query: Query, message: MemoryMessage, folder: str) -> bool:
    """Whether a message matches a parsed query (words as case-insensitive substrings)."""
    if isinstance(query, Text):
        sender = f"{message.from_name or ''} {message.from_addr or ''}"
        body = (message.body or b"").decode("utf-8", "replace")
        fields = {
            "subject": message.subject or "",
            "from": sender,
            "to": f"{message.to or ''} {message.cc or ''}",
            "cc": message.cc or "",
            "body": body,
        }
        needle = query.value.casefold()
        chosen = fields.values() if query.field == "text" else (fields[query.field],)
        return any(needle in value.casefold() for value in chosen)
    if isinstance(query, FlagTest):
        return (f"\\{query.name}".lower() in {f.lower() for f in message.flags}) == query.present
    if isinstance(query, HasAttachment):
        return message.has_attachment
    if isinstance(query, DateBound):
        return True  # the memory messages' dates are not what these tests look at
    if isinstance(query, Folder):
        return folder_matches(query.name, folder, folder, "/")
    if isinstance(query, Not):
        return not memory_matches(query.operand, message, folder)
    if isinstance(query, And):
        if all(isinstance(q, Text) and q.field == "text" for q in query.operands):
            # Plain words: matched as one phrase (a simplification of this fake, which the
            # older filter tests rely on; the store matches each word anywhere).
            words = " ".join(q.value for q in query.operands if isinstance(q, Text))
            return memory_matches(Text("text", words, phrase=True), message, folder)
        return all(memory_matches(q, message, folder) for q in query.operands)
    assert isinstance(query, Or)
    return any(memory_matches(q, message, folder) for q in query.operands)


@dataclass(frozen=True, slots=True)
class MemoryThreadRow:
    """A thread-view row of the memory backend (the store's ``ThreadRow`` shape)."""

    message: MemoryMessage
    depth: int
    thread_size: int
    key: tuple[int, int, int]


def _base_subject(subject: str | None) -> str:
    text = (subject or "").strip()
    while text[:3].lower() in ("re:", "fw:") or text[:4].lower() == "fwd:":
        text = text.split(":", 1)[1].strip()
    return text.casefold()


def memory_threads(folder: MemoryFolder) -> list[list[MemoryThreadRow]]:
    """The folder's threads (same base subject), newest thread first, each oldest first."""
    groups: dict[str, list[MemoryMessage]] = {}
    for uid in folder.uids:
        message = folder.get(uid)
        if message is not None:
            groups.setdefault(_base_subject(message.subject), []).append(message)
    threads = []
    for messages in groups.values():
        messages.sort(key=lambda m: (m.date, m.uid))
        newest = max(m.date for m in messages)
        thread_id = messages[0].uid
        threads.append(
            [
                MemoryThreadRow(m, 0 if i == 0 else 1, len(messages), (newest, thread_id, -i))
                for i, m in enumerate(messages)
            ]
        )
    threads.sort(key=lambda rows: rows[0].key, reverse=True)
    return threads


def queue_items(now: float) -> list[QueueItem]:
    """What the queue view tests and the queue snapshot show: a refused move, a held flag
    change with its next attempt at ``now`` + 10 min, and a message to send."""
    return [
        QueueItem(
            "operation",
            7,
            "work",
            "move 2 messages from INBOX to Projects/2026",
            "failed",
            attempts=1,
            error="could not move messages in INBOX: the folder no longer exists"
            " (Mailbox doesn't exist: Projects/2026)",
        ),
        QueueItem(
            "operation",
            9,
            "work",
            "+\\Flagged on 1 message in INBOX",
            "pending",
            attempts=2,
            error="[UNAVAILABLE] Temporary server failure",
            next_attempt_at=now + 600,
        ),
        QueueItem(
            "outgoing",
            3,
            "work",
            'send "Lunch on Thursday?" to lea@example.org',
            "pending",
        ),
    ]


def queue_backend(now: float) -> MemoryBackend:
    """A small online in-memory account whose queue holds :func:`queue_items`."""
    backend = MemoryBackend(inbox_size=5)
    backend.queue = queue_items(now)
    backend.state = [ConnectionState("work", "online")]
    return backend
