"""Message bodies: fetched on demand when a message is opened, and prefetched by policy.

Headers come first (the list needs nothing else); bodies follow in the background so that
mail can be read offline later. ``prefetch = "recent"`` (the default) fetches the last 30 days,
``"all"`` everything, ``"none"`` nothing. Prefetching runs only while the worker has nothing
else to do, a small batch at a time, so live changes never wait behind it. ``BODY.PEEK[]``
leaves ``\\Seen`` alone (RFC 3501 §6.4.5).

Opening a large message that is not stored yet downloads its text first and leaves its
attachments on the server (see ``sync.engine.partial``); the attachments come with the whole
message when the user asks for one (``BodyFetcher.fetch(..., whole=True)``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from sync.imap import ImapClient, ImapDisconnected, ImapError, decode_mailbox
from sync.store import FolderRow, SortKey, Store

if TYPE_CHECKING:  # sync.mime loads when a large message is first opened, not at start
    from sync.mime.message import PartialMessage

__all__ = ["PARTIAL_THRESHOLD", "BodyFetcher", "BodyPrefetcher", "fetch_partial"]

log = logging.getLogger(__name__)

Prefetch = Literal["none", "recent", "all"]
_BODY = "BODY.PEEK[]"
_RECENT_DAYS = 30
_PREFETCH_BATCH = 100
_PREFETCH_BATCH_BYTES = 4 * 1024 * 1024
_NEWEST_PAGE = 200
_PREFETCH_MAX_SIZE = 5 * 1024 * 1024  # larger messages wait until they are opened
# Messages above this size (RFC822.SIZE) are opened text first. Below it the whole message
# takes about as long as the two extra round trips a partial download costs (a 1 MiB body
# is ~0.1 s at 100 Mbit/s, ~1 s at 10 Mbit/s), and it can be kept for offline reading.
PARTIAL_THRESHOLD = 1024 * 1024
# Partial messages kept in memory (never in the store, which holds whole messages only), so
# going back to one just read does not download it again.
_PARTIALS_KEPT = 8


class BodyPrefetcher:
    """Walks kept folders newest first and fetches bodies the policy asks for, in steps."""

    def __init__(self, store: Store, policy: Prefetch, *, now: Callable[[], float] = time.time):
        self.store = store
        self.policy = policy
        self._now = now
        self._pending: list[int] = []
        self._cursor: dict[int, SortKey | None] = {}
        self._tried: set[tuple[int, int]] = set()
        self._scan_limit: dict[int, int | None] = {}

    def schedule(self, folder_ids: list[int], *, newest_only: bool = False) -> None:
        """Queue folders to walk (again) from their newest message; ``newest_only`` looks
        at the newest page alone (after a live sync, where only new mail lacks bodies)."""
        if self.policy == "none":
            return
        for folder_id in folder_ids:
            if folder_id in self._pending and self._scan_limit.get(folder_id) is None:
                continue  # a full walk is already under way; it will reach the new mail
            self._cursor[folder_id] = None
            self._scan_limit[folder_id] = _NEWEST_PAGE if newest_only else None
            if folder_id not in self._pending:
                self._pending.append(folder_id)

    @property
    def idle(self) -> bool:
        """True when nothing is left to prefetch."""
        return not self._pending

    async def step(self, client: ImapClient) -> None:
        """Fetch one small batch of bodies for the first pending folder."""
        while self._pending:
            folder_id = self._pending[0]
            folder = await self.store.folder(folder_id)
            wanted = await self._wanted(folder_id) if folder is not None else []
            if folder is None or not wanted:
                self._pending.pop(0)
                self._cursor.pop(folder_id, None)
                continue
            await fetch_bodies(client, self.store, folder, wanted)
            return

    async def _wanted(self, folder_id: int) -> list[int]:
        """The next UIDs to fetch, newest first, up to a batch's count and bytes.

        The cursor moves past every row looked at, so each step reads only new rows.
        """
        cutoff = self._now() - _RECENT_DAYS * 86400 if self.policy == "recent" else None
        wanted: list[int] = []
        batch_bytes = 0
        after = self._cursor.get(folder_id)
        limit = self._scan_limit.get(folder_id)
        scanned = 0
        while limit is None or scanned < limit:
            page = await self.store.page(folder_id, after=after, limit=_NEWEST_PAGE)
            if not page:
                return wanted
            scanned += len(page)
            for row in page:
                if cutoff is not None and row.internaldate < cutoff:
                    return wanted
                after = self._cursor[folder_id] = row.sort_key
                key = (folder_id, row.uid)
                if row.has_body or row.size > _PREFETCH_MAX_SIZE or key in self._tried:
                    continue
                # Tried once per run: a message that vanished meanwhile is not asked for again.
                self._tried.add(key)
                wanted.append(row.uid)
                batch_bytes += row.size
                if len(wanted) >= _PREFETCH_BATCH or batch_bytes >= _PREFETCH_BATCH_BYTES:
                    return wanted
        return wanted


async def fetch_bodies(
    client: ImapClient, store: Store, folder: FolderRow, uids: list[int]
) -> dict[int, bytes]:
    """Fetch and keep the raw bodies of ``uids`` in ``folder``; return what arrived."""
    mailbox = decode_mailbox(folder.name)
    if client.selected != mailbox:
        await client.select(mailbox, readonly=True)
    fetched = await client.uid_fetch(uids, ["UID", _BODY])
    bodies = {
        item.uid: raw
        for item in fetched
        if item.uid is not None and (raw := item.section("BODY[]")) is not None
    }
    if bodies:
        async with store.write() as unit:
            for uid, raw in bodies.items():
                await unit.store_body(folder.id, uid, raw)
    return bodies


async def fetch_partial(client: ImapClient, folder: FolderRow, uid: int) -> PartialMessage | None:
    """A large message's headers and text parts, its other parts left as placeholders
    (``sync.engine.partial``); None when that cannot be done or is not worth it (the
    caller then fetches the whole message). Nothing is stored.

    Two round trips: ``BODYSTRUCTURE`` and the header (RFC 3501 §7.4.2), then the chosen
    sections (§6.4.5), all with ``BODY.PEEK`` so that ``\\Seen`` stays as it is.
    """
    from sync.engine.partial import assemble, plan_partial

    mailbox = decode_mailbox(folder.name)
    if client.selected != mailbox:
        await client.select(mailbox, readonly=True)
    try:
        first = await client.uid_fetch([uid], ["UID", "BODYSTRUCTURE", "BODY.PEEK[HEADER]"])
        answer = next((item for item in first if item.uid == uid), None)
        if answer is None:
            return None
        plan = plan_partial(answer.bodystructure, answer.section("BODY[HEADER]"))
        if plan is None:
            return None
        sections: dict[str, bytes | None] = {}
        for item in await client.uid_fetch([uid], ["UID", *plan.items]):
            if item.uid == uid:
                sections.update(item.sections)
    except ImapDisconnected:
        raise
    except ImapError as error:  # a server refusing a section: the whole message will do
        log.info("partial fetch of %s/%s refused: %s", folder.name, uid, error)
        return None
    return assemble(plan, sections)


class BodyFetcher:
    """Fetches one message's body on demand over its own connection (opened lazily).

    Its own connection, so opening a message never waits behind a long first sync; usable
    by a TUI whose account is synced by another process (reading needs no sync lock).
    Large messages come text first, as a :class:`~sync.mime.message.PartialMessage` kept
    in memory here (a small LRU), until the whole message is asked for.
    """

    def __init__(
        self, store: Store, connect: Callable[[], Awaitable[tuple[ImapClient, object]]]
    ) -> None:
        self.store = store
        self._connect = connect
        self._client: ImapClient | None = None
        self._lock = asyncio.Lock()
        self._partials: OrderedDict[tuple[int, int | None, int], PartialMessage] = OrderedDict()

    async def fetch(self, folder: FolderRow, uid: int, *, whole: bool = False) -> bytes | None:
        """The body of ``uid``, from the store when cached, else from the server (then kept).

        A message larger than :data:`PARTIAL_THRESHOLD` comes as a
        :class:`~sync.mime.message.PartialMessage` (text only, not stored) unless ``whole``.
        Returns None when the server no longer has the message. Connection errors propagate
        (the caller shows them); one reconnect is tried for a connection that went stale.
        """
        key = (folder.id, folder.marks.uidvalidity, uid)
        kept = await self._kept(key, whole)
        if kept is not None:
            return kept
        row = None if whole else await self.store.message(folder.id, uid)
        text_first = row is not None and row.size > PARTIAL_THRESHOLD
        async with self._lock:
            # Asked twice in a row (Enter, then s at once): the first call may have it now.
            kept = await self._kept(key, whole)
            if kept is not None:
                return kept
            for attempt in range(2):
                client = await self._ensure_client()
                try:
                    if text_first:
                        partial = await fetch_partial(client, folder, uid)
                        if partial is not None:
                            self._keep(key, partial)
                            return partial
                    raw = (await fetch_bodies(client, self.store, folder, [uid])).get(uid)
                    self._partials.pop(key, None)  # the store has the whole message now
                    return raw
                except ImapDisconnected:
                    self._client = None
                    if attempt:
                        raise
        return None

    async def _kept(self, key: tuple[int, int | None, int], whole: bool) -> bytes | None:
        """The message from the store, or (unless ``whole``) the partial one kept here."""
        folder_id, _, uid = key
        cached = await self.store.body(folder_id, uid)
        if cached is not None:
            return cached
        if not whole and (partial := self._partials.get(key)) is not None:
            self._partials.move_to_end(key)
            return partial
        return None

    def _keep(self, key: tuple[int, int | None, int], partial: PartialMessage) -> None:
        self._partials[key] = partial
        self._partials.move_to_end(key)
        while len(self._partials) > _PARTIALS_KEPT:
            self._partials.popitem(last=False)

    async def _ensure_client(self) -> ImapClient:
        if self._client is None or self._client.closed:
            self._client, _ = await self._connect()
        return self._client

    async def close(self) -> None:
        """Log out of the on-demand connection, if one is open."""
        client, self._client = self._client, None
        if client is not None:
            await client.logout()
