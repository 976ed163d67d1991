"""Search results and threads as ordinary `MessageSource`s, so the normal message list shows them.

- `SearchSource` lists the results of a query, in one folder or across all of them, by keyset
  pages (``sync.store.search.search_messages``), and merges in what the server phase finds
  for messages whose bodies are not cached. Results span folders, so each row carries a *row
  id* that packs its folder and UID (`row_id`); the list hands those to `locate` to act on
  the right folder (`tui.widgets.message_list.SpansFolders`).
- `ThreadSource` lists one folder as threads (``thread_page`` over the store's thread cache):
  one row per thread with its size, and the messages of the threads the user expanded.

Both keep only compact arrays for the whole result, like the folder list does; rows are read
a page at a time. Nothing here knows SQL: the backends pass small async functions in.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from tui.protocol import ListRow

__all__ = [
    "RESULT_CAP",
    "SearchHit",
    "SearchPager",
    "SearchSource",
    "ServerNews",
    "ServerPhase",
    "ThreadItem",
    "ThreadSource",
    "row_id",
    "split_row_id",
]

RESULT_CAP = 10_000
"""Results listed at most: the newest ones (a search is for finding, not for browsing 100k)."""

_KEYS_CHUNK = 2_000  # rows per read while the whole order is collected
_UID_BITS = 32  # RFC 3501 2.3.1.1: a UID is a 32-bit value


def row_id(folder_id: int, uid: int) -> int:
    """One integer naming a message in any folder (folder id in the high bits)."""
    return (folder_id << _UID_BITS) | uid


def split_row_id(value: int) -> tuple[int, int]:
    """The (folder id, UID) a `row_id` names."""
    return value >> _UID_BITS, value & ((1 << _UID_BITS) - 1)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: its sort value (arrival time), its folder, and the row to show."""

    sort_value: int
    folder_id: int
    row: ListRow

    @property
    def key(self) -> tuple[int, int, int]:
        """Its position in the results, newest first: (sort value, folder id, UID)."""
        return (self.sort_value, self.folder_id, self.row.uid)


SearchPager = Callable[[tuple[int, int, int] | None, int], Awaitable[Sequence[SearchHit]]]
"""Local results strictly after a (sort value, folder id, UID) key, newest first."""


@dataclass(frozen=True, slots=True)
class ServerNews:
    """What one step of the server phase brought: new hits, or why a server was not asked."""

    hits: Sequence[SearchHit] = ()
    not_synced: int = 0
    unavailable: str | None = None


ServerPhase = Callable[[Collection[tuple[int, int]]], AsyncIterator[ServerNews]]
"""Runs the query on the servers, given the (folder id, UID) pairs already listed."""


@dataclass(frozen=True, slots=True)
class _ShownRow:
    """A row as the list sees it: a row id instead of the UID, and a marked subject."""

    uid: int
    date: int
    subject: str | None
    from_name: str | None
    from_addr: str | None
    flags: Sequence[str]
    seen: bool
    flagged: bool
    has_attachment: bool


def _shown(row: ListRow, uid: int, prefix: str = "") -> _ShownRow:
    return _ShownRow(
        uid=uid,
        date=row.date,
        subject=prefix + (row.subject or "(no subject)") if prefix else row.subject,
        from_name=row.from_name,
        from_addr=row.from_addr,
        flags=row.flags,
        seen=row.seen,
        flagged=row.flagged,
        has_attachment=row.has_attachment,
    )


SERVER_MARK = "[server] "
"""Marks, in the subject column, a result only the server found (its body is not cached)."""


class SearchSource:
    """A `MessageSource` of search results, across folders, with the server's hits merged in.

    ``folder_id`` is the folder the search started from (where leaving it returns); each row's
    own folder comes from `locate`.
    """

    def __init__(
        self,
        pager: SearchPager,
        home_folder_id: int,
        *,
        server_phase: ServerPhase | None = None,
        cap: int = RESULT_CAP,
    ) -> None:
        self._pager = pager
        self._home = home_folder_id
        self._server_phase = server_phase
        self._cap = cap
        self._server_hits: list[tuple[tuple[int, int, int], SearchHit]] = []  # ascending keys
        self.local_count = 0
        """Local results found by the last `keys` (at most the cap)."""
        self.truncated = False
        """True when there were more local results than the cap."""
        self._shown: set[tuple[int, int]] = set()

    @property
    def folder_id(self) -> int:
        """The folder the search started from."""
        return self._home

    @property
    def server_count(self) -> int:
        """Results only the server found, merged in so far."""
        return len(self._server_hits)

    @property
    def has_server_phase(self) -> bool:
        """Whether the servers are worth asking (the query looks into uncached bodies)."""
        return self._server_phase is not None

    def locate(self, value: int) -> tuple[int, int]:
        """The (folder id, UID) of a listed row id."""
        return split_row_id(value)

    async def keys(self) -> tuple[array[int], array[int]]:
        """Sort values and row ids of every result (up to the cap), newest first."""
        sort_values: array[int] = array("q")
        ids: array[int] = array("q")
        shown: set[tuple[int, int]] = set()
        after: tuple[int, int, int] | None = None
        truncated = False
        while True:
            hits = await self._pager(after, _KEYS_CHUNK)
            for hit in hits:
                if len(ids) >= self._cap:
                    truncated = True
                    break
                sort_values.append(hit.sort_value)
                ids.append(row_id(hit.folder_id, hit.row.uid))
                shown.add((hit.folder_id, hit.row.uid))
            if truncated or len(hits) < _KEYS_CHUNK:
                break
            after = hits[-1].key
        self.local_count = len(ids)
        self.truncated = truncated
        self._shown = shown
        if not self._server_hits:
            return sort_values, ids
        # Merge the server's hits (few) into the local order.
        merged = [(s, *split_row_id(i)) for s, i in zip(sort_values, ids, strict=True)] + [
            key for key, _ in self._server_hits if (key[1], key[2]) not in shown
        ]
        merged.sort(reverse=True)
        return (
            array("q", (key[0] for key in merged)),
            array("q", (row_id(key[1], key[2]) for key in merged)),
        )

    async def page(self, after: tuple[int, int] | None, limit: int) -> Sequence[ListRow]:
        """Up to ``limit`` results strictly after the (sort value, row id) key."""
        key = (after[0], *split_row_id(after[1])) if after is not None else None
        local = list(await self._pager(key, limit))
        rows: list[tuple[tuple[int, int, int], ListRow]] = [
            (hit.key, _shown(hit.row, row_id(hit.folder_id, hit.row.uid))) for hit in local
        ]
        if self._server_hits:
            # Server hits below the key, newest first, merged with the local page.
            end = (
                len(self._server_hits)
                if key is None
                else bisect.bisect_left(self._server_hits, key, key=lambda item: item[0])
            )
            for hit_key, hit in reversed(self._server_hits[max(end - limit, 0) : end]):
                if (hit.folder_id, hit.row.uid) in self._shown:
                    continue
                marked = _shown(hit.row, row_id(hit.folder_id, hit.row.uid), SERVER_MARK)
                rows.append((hit_key, marked))
            rows.sort(key=lambda item: item[0], reverse=True)
        return [row for _, row in rows[:limit]]

    async def server_results(self) -> AsyncIterator[ServerNews]:
        """Run the server phase; each step's hits are merged in before it is yielded (the
        caller reloads the list)."""
        if self._server_phase is None:
            return
        async for news in self._server_phase(frozenset(self._shown)):
            for hit in news.hits:
                bisect.insort(self._server_hits, (hit.key, hit), key=lambda item: item[0])
            yield news


class ThreadItem(Protocol):
    """One row of a thread view (``sync.store.search.ThreadRow`` fits)."""

    @property
    def message(self) -> ListRow: ...
    @property
    def depth(self) -> int: ...
    @property
    def thread_size(self) -> int: ...
    @property
    def key(self) -> tuple[int, int, int]: ...


ThreadHeads = Callable[[tuple[int, int, int] | None, int], Awaitable[Sequence[ThreadItem]]]
"""One row per thread (its first message), newest thread first, after a (sort, id, rank) key."""

ThreadMembers = Callable[[ThreadItem], Awaitable[Sequence[ThreadItem]]]
"""Every row of the thread a row belongs to, in display order."""


def _thread_row(item: ThreadItem, expanded: bool) -> _ShownRow:
    message = item.message
    if item.depth > 0:
        prefix = "  " * min(item.depth - 1, 8) + "└ "
    elif item.thread_size > 1:
        prefix = f"{'▾' if expanded else '▸'} ({item.thread_size}) "
    else:
        prefix = ""
    return _shown(message, message.uid, prefix)


class ThreadSource:
    """A `MessageSource` of one folder as threads: collapsed, except those expanded.

    Its whole order is kept as compact arrays of thread keys (no row objects); a page after a
    position is read as the rest of a partly shown expanded thread, then thread heads by
    keyset, each followed by its members when expanded.
    """

    def __init__(self, folder_id: int, heads: ThreadHeads, members: ThreadMembers) -> None:
        self._folder_id = folder_id
        self._heads = heads
        self._members = members
        self._expanded: dict[tuple[int, int], ThreadItem] = {}
        self._sorts: array[int] = array("q")
        self._ids: array[int] = array("q")
        self._ranks: array[int] = array("q")
        self._uids: array[int] = array("q")
        self._sizes: array[int] = array("q")

    @property
    def folder_id(self) -> int:
        """The folder threaded."""
        return self._folder_id

    @property
    def expanded_count(self) -> int:
        """Threads shown expanded."""
        return len(self._expanded)

    async def keys(self) -> tuple[array[int], array[int]]:
        """Thread sort values and UIDs of every shown row, in display order."""
        sorts: array[int] = array("q")
        ids: array[int] = array("q")
        ranks: array[int] = array("q")
        uids: array[int] = array("q")
        sizes: array[int] = array("q")
        after: tuple[int, int, int] | None = None
        while True:
            heads = await self._heads(after, _KEYS_CHUNK)
            for head in heads:
                thread = (head.key[0], head.key[1])
                items: Sequence[ThreadItem] = (head,)
                if thread in self._expanded:
                    items = await self._members(head)
                for item in items:
                    sort, thread_id, rank = item.key
                    sorts.append(sort)
                    ids.append(thread_id)
                    ranks.append(rank)
                    uids.append(item.message.uid)
                    sizes.append(item.thread_size)
            if len(heads) < _KEYS_CHUNK:
                break
            after = heads[-1].key
        self._sorts, self._ids, self._ranks, self._uids = sorts, ids, ranks, uids
        self._sizes = sizes
        return array("q", sorts), array("q", uids)

    async def page(self, after: tuple[int, int] | None, limit: int) -> Sequence[ListRow]:
        """Up to ``limit`` rows after the row with this (sort value, UID) key."""
        rows: list[ListRow] = []
        head_after: tuple[int, int, int] | None = None
        if after is not None:
            position = _find(self._uids, after[1])
            if position is None:
                return []  # the order changed under the list; its reload asks again
            sort, thread_id, rank = (
                self._sorts[position],
                self._ids[position],
                self._ranks[position],
            )
            head_after = (sort, thread_id, rank)
            head = self._expanded.get((sort, thread_id))
            if head is not None:
                # The rest of an expanded thread whose start is on an earlier page.
                for item in await self._members(head):
                    if item.key[2] < rank and len(rows) < limit:
                        rows.append(_thread_row(item, True))
        while len(rows) < limit:
            heads = await self._heads(head_after, limit - len(rows))
            for head in heads:
                thread = (head.key[0], head.key[1])
                if thread in self._expanded:
                    for item in await self._members(head):
                        if len(rows) < limit:
                            rows.append(_thread_row(item, True))
                else:
                    rows.append(_thread_row(head, False))
                if len(rows) >= limit:
                    break
            if len(heads) < limit or not heads:
                break
            head_after = heads[-1].key
        return rows[:limit]

    async def toggle(self, uid: int) -> bool:
        """Expand or collapse the thread of the row with this UID; False when it has no
        other messages (or the row is not listed). The caller reloads the list."""
        position = _find(self._uids, uid)
        if position is None:
            return False
        thread = (self._sorts[position], self._ids[position])
        if thread in self._expanded:
            del self._expanded[thread]
            return True
        # The head is the first row after the key just above it (ranks are <= 0).
        found = await self._heads((thread[0], thread[1], 1), 1)
        if not found or (found[0].key[0], found[0].key[1]) != thread:
            return False
        if found[0].thread_size <= 1:
            return False
        self._expanded[thread] = found[0]
        return True

    def is_collapsed_thread(self, uid: int) -> bool:
        """Whether this row stands for a collapsed thread of several messages."""
        position = _find(self._uids, uid)
        if position is None:
            return False
        thread = (self._sorts[position], self._ids[position])
        if thread in self._expanded:
            return False
        return self._sizes[position] > 1

    def head_uid(self, uid: int) -> int | None:
        """The UID of the first row of this row's thread, as listed."""
        position = _find(self._uids, uid)
        if position is None:
            return None
        while position > 0 and self._ranks[position] != 0:
            position -= 1
        return self._uids[position]


def _find(values: array[int], value: int) -> int | None:
    try:
        return values.index(value)
    except ValueError:
        return None
