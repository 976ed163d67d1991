"""Full-text search and the thread cache: their queries (issue 9; the DDL and triggers are in
``sync.store.search_schema``).

Two FTS5 indexes, both kept current inside the transactions that change the data:

- ``search_headers``: one row per message (subject, sender, To, Cc). ``messages`` is WITHOUT
  ROWID, so the FTS rowid is computed from its key: ``folder_id * 2**33 + 2**32 + uid`` (UIDs
  are 32-bit, RFC 3501 §2.3.1.1; provisional UIDs are small negative numbers), which maps
  back with one division. No mapping table. Since schema version 6 the index is built in
  bulk, off the sync's path: triggers on ``messages`` put new and changed rows in
  ``search_header_queue`` (and take a changed or deleted row out of the index), and
  :func:`index_pending_headers` indexes the queue, many rows per statement. Every row is
  either indexed or queued, never both; :func:`search_messages` indexes what is queued
  before it answers, so a search never misses a row. (Indexing in the insert trigger cost a
  first sync of 100k messages about 9 us per row inside its commits; see
  docs/decisions/0002-sync-engine.md.)
- ``search_body_fts``: one row per *body* (bodies are shared by content, so a copy or a move
  costs nothing to re-index), contentless (the text is not stored twice). The text is
  extracted in Python (``sync.mime``), so it cannot come from a trigger: a trigger on
  ``bodies`` queues each new body, and :func:`index_pending_bodies` indexes the queue in
  small batches (the sync engine calls it after fetching bodies). Body documents get their
  own never-reused ids (``search_bodies``), because a deleted body's text cannot be removed
  from a contentless index on this SQLite (3.40 has no ``contentless_delete``): its id is
  simply forgotten and the stale postings match nothing. :func:`compact_body_index`
  rebuilds the index when they pile up.

Flag changes touch no index: flags, dates and attachments are columns of ``messages``.

The thread cache (``search_threads``) holds each folder's threaded order; triggers bump the
folder's generation in ``search_thread_state`` whenever a row is added, removed, or changes
what threading reads, and :func:`thread_page` rebuilds a folder lazily when its cached
generation is stale.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from datetime import time as clock_time
from typing import TYPE_CHECKING, Final

from sync.store.records import message_row
from sync.store.search_schema import FTS_KEY, HEADER_COLUMNS, header_values

if TYPE_CHECKING:
    from sync.search.query import Query, Text
    from sync.store.records import FolderRow, MessageRow
    from sync.store.store import Store

__all__ = [
    "BODY_TEXT_LIMIT",
    "SearchKey",
    "ThreadRow",
    "compact_body_index",
    "folders_needing_server",
    "index_all_headers",
    "index_pending_bodies",
    "index_pending_headers",
    "pending_body_count",
    "pending_header_count",
    "search_messages",
    "thread_page",
    "thread_rows",
]

# Characters of body text indexed per message: the start of a long message is what people
# search for, and it bounds the index (a 30 MB mailing-list digest is not indexed whole).
BODY_TEXT_LIMIT: Final = 64 * 1024
# Bytes of a raw body read to extract its text: enough for the text parts of nearly all mail;
# attachments beyond it are never decoded (sync.mime tolerates the cut).
_RAW_READ_LIMIT: Final = 2 * 1024 * 1024
# Raw bytes read per indexing batch.
_BATCH_BYTES: Final = 16 * 1024 * 1024

# Queued rows indexed per unit of work by default: about 50 ms of work, so other writers
# (the UI's flag changes) never wait long behind the indexer.
HEADER_INDEX_STEP: Final = 5000


async def pending_header_count(store: Store) -> int:
    """How many messages wait to be put in the header index."""
    row = await store.fetch_one("SELECT count(*) FROM search_header_queue")
    return int(row[0])


async def index_pending_headers(store: Store, limit: int = HEADER_INDEX_STEP) -> int:
    """Index up to ``limit`` queued messages (oldest key first) in one unit of work, with one
    statement; return how many were indexed (0: nothing was queued)."""
    async with store.write() as unit:
        last = await unit.fetch_one(
            "SELECT folder_id, uid FROM search_header_queue ORDER BY folder_id, uid"
            " LIMIT 1 OFFSET ?",
            (max(limit, 1) - 1,),
        )
        # Everything up to the limit-th key (row values compare in key order), or all.
        bound = "" if last is None else "WHERE (q.folder_id, q.uid) <= (?, ?)"
        params: tuple[object, ...] = () if last is None else (last[0], last[1])
        await unit.fetch_all(
            f"INSERT INTO search_headers (rowid, {HEADER_COLUMNS})"
            f" SELECT {FTS_KEY.format(m='m')}, {header_values('m')}"
            " FROM search_header_queue AS q JOIN messages AS m"
            f" ON m.folder_id = q.folder_id AND m.uid = q.uid {bound}"
            " ORDER BY q.folder_id, q.uid",
            params,
        )
        removed = await unit.fetch_all(
            f"DELETE FROM search_header_queue AS q {bound} RETURNING 1",
            params,
        )
    return len(removed)


async def index_all_headers(store: Store) -> int:
    """Index every queued message, a step at a time; return how many were indexed."""
    total = 0
    while indexed := await index_pending_headers(store):
        total += indexed
    return total


# -------------------------------------------------------------------------- compiling queries


@dataclass(frozen=True, slots=True)
class SearchKey:
    """A position in search results (newest first): pass the last row's key as ``after``."""

    sort_value: int
    folder_id: int
    uid: int

    @classmethod
    def of(cls, row: MessageRow) -> SearchKey:
        """The key of a result row."""
        return cls(row.internaldate, row.folder_id, row.uid)


_HEADER_FILTER: Final[dict[str, str]] = {
    "subject": "{subject} : ",
    "from": "{sender} : ",
    "to": "{to_addrs cc_addrs} : ",
    "cc": "{cc_addrs} : ",
}


def _fts_string(term: Text) -> str:
    """The FTS5 expression for one term: always a quoted string, so user input is never FTS5
    syntax; FTS5 tokenizes it (a multi-word string is a phrase)."""
    quoted = '"' + term.value.replace('"', '""') + '"'
    return quoted + ("*" if term.prefix else "")


# Per-row tests ("probes"): the FTS5 hits are materialised once per query (a list subquery)
# and each candidate row is looked up in them. Integer keys only: a row-value IN is not
# materialised under NOT, and hashing every hit's body would cost more than the search.
_HEADER_PROBE = (
    f"{FTS_KEY.format(m='m')} IN (SELECT rowid FROM search_headers WHERE search_headers MATCH ?)"
)
_BODY_PROBE = (
    "EXISTS (SELECT 1 FROM search_bodies AS d WHERE d.hash = m.body_hash AND d.doc IN"
    " (SELECT rowid FROM search_body_fts WHERE search_body_fts MATCH ?))"
)
# The (folder_id, uid) of the messages a term finds, to drive a query from a rare term.
_HEADER_ROWS = (
    "SELECT rowid / 8589934592 AS folder_id, rowid % 8589934592 - 4294967296 AS uid"
    " FROM search_headers WHERE search_headers MATCH ?"
)
_BODY_ROWS = (
    "SELECT b.folder_id, b.uid FROM search_body_fts AS f"
    " JOIN search_bodies AS d ON d.doc = f.rowid"
    " JOIN messages AS b ON b.body_hash = d.hash WHERE search_body_fts MATCH ?"
)
_WORD = re.compile(r"[^\W_]+")
_BODY_PREFIX_MIN: Final = 3

# A required term with fewer hits than this (at most) drives the query: its hits are looked
# up and sorted; otherwise the rows are walked newest first and tested until the page is full.
_DRIVE_LIMIT: Final = 15_000


def _drive_limit(total: int, page: int, filtered: bool) -> int:
    """Below how many hits a required term should drive the query.

    Walking tests about ``page * total / hits`` rows; driving looks up ``hits`` rows, each
    costing some five row tests: they break even near ``sqrt(page * total) / 2`` hits (measured
    on 100k messages). Other conditions (flags, dates) let fewer rows pass, which lengthens
    the walk, so they favour driving.
    """
    even = math.isqrt(page * max(total, 1)) // 2
    return min(_DRIVE_LIMIT, max(500, even * (4 if filtered else 1)))


def _term_sources(term: Text) -> tuple[str | None, str | None]:
    """The header and body FTS5 expressions for ``term`` (None: that index is not asked).

    A word typed so far (``prefix``) of one or two letters is looked up in the headers only:
    in bodies it stands for thousands of words, each in most messages (hundreds of ms on
    100k messages), and people typing a name want the sender first. ``body:x*`` still
    searches bodies.
    """
    expression = _fts_string(term)
    if term.field == "body":
        return None, expression
    if term.field == "text":
        words = _WORD.findall(term.value)
        if term.prefix and (not words or len(words[-1]) < _BODY_PREFIX_MIN):
            return expression, None
        return expression, expression
    return _HEADER_FILTER[term.field] + expression, None


class _Compiler:
    def __init__(self, folders: Sequence[FolderRow], zone: tzinfo | None) -> None:
        self.folders = folders
        self.zone = zone
        self.params: list[object] = []
        self.unknown_folders: list[str] = []

    def compile(self, query: Query) -> str:
        from sync.search import query as q

        # Iterative post-order: a query is bounded (sync.search.query.MAX_DEPTH), but the
        # compiler does not rely on it.
        done: dict[int, str] = {}
        stack: list[tuple[Query, bool]] = [(query, False)]
        while stack:
            node, expanded = stack.pop()
            children: tuple[Query, ...] = ()
            if isinstance(node, q.Not):
                children = (node.operand,)
            elif isinstance(node, q.And | q.Or):
                children = node.operands
            if children and not expanded:
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(children))
                continue
            done[id(node)] = self.node(node, [done[id(child)] for child in children])
        return done[id(query)]

    def node(self, node: Query, parts: list[str]) -> str:
        from sync.search import query as q

        if isinstance(node, q.Not):
            return f"NOT {parts[0]}"
        if isinstance(node, q.And):
            return "(" + " AND ".join(parts) + ")"
        if isinstance(node, q.Or):
            return "(" + " OR ".join(parts) + ")"
        if isinstance(node, q.Text):
            header, body = _term_sources(node)
            probes = []
            if header is not None:
                self.params.append(header)
                probes.append(_HEADER_PROBE)
            if body is not None:
                self.params.append(body)
                probes.append(_BODY_PROBE)
            return probes[0] if len(probes) == 1 else f"({probes[0]} OR {probes[1]})"
        if isinstance(node, q.FlagTest):
            if node.name in ("seen", "flagged"):
                return f"m.{node.name} = {int(node.present)}"
            # Flags are stored space-separated; LIKE ignores ASCII case (RFC 3501 §2.3.2).
            self.params.append(f"% \\{node.name} %")
            test = "(' ' || m.flags || ' ') LIKE ?"
            return test if node.present else f"NOT {test}"
        if isinstance(node, q.HasAttachment):
            return "m.has_attachment = 1"
        if isinstance(node, q.DateBound):
            self.params.append(_epoch(node.day, self.zone))
            return "m.date < ?" if node.before else "m.date >= ?"
        if isinstance(node, q.Folder):
            ids = [
                f.id
                for f in self.folders
                if q.folder_matches(node.name, f.name, f.display_name, f.delimiter)
            ]
            if not ids:
                self.unknown_folders.append(node.name)
            self.params.append(json.dumps(ids))
            return "m.folder_id IN (SELECT value FROM json_each(?))"
        raise TypeError(f"not a query node: {node!r}")  # pragma: no cover


def _epoch(day: date, zone: tzinfo | None) -> int:
    """The epoch second at which ``day`` starts in ``zone`` (None: the local time zone)."""
    start = datetime.combine(day, clock_time())
    moment = start.replace(tzinfo=zone) if zone is not None else start.astimezone()
    return int(moment.timestamp())


def compile_query(
    query: Query, folders: Sequence[FolderRow], *, zone: tzinfo | None = None
) -> tuple[str, list[object], list[str]]:
    """The SQL condition (over ``messages AS m``) for ``query``, its parameters, and the
    ``folder:`` names that matched no folder."""
    compiler = _Compiler(folders, zone)
    sql = compiler.compile(query)
    return sql, compiler.params, compiler.unknown_folders


_RESULT_COLUMNS = (
    "m.folder_id, m.uid, m.message_id, m.subject, m.from_name, m.from_addr, m.to_addrs,"
    " m.cc_addrs, m.date, m.internaldate, m.size, m.flags, m.modseq, m.has_attachment,"
    " m.in_reply_to, m.refs, m.seen, m.flagged, m.body_hash IS NOT NULL"
)


async def _hit_count(store: Store, term: Text, cap: int) -> int:
    """How many messages ``term`` finds, counting no further than ``cap`` (cheap: FTS5
    produces hits lazily)."""
    header, body = _term_sources(term)
    total = 0
    for sql, expression in ((_HEADER_ROWS, header), (_BODY_ROWS, body)):
        if expression is not None:
            row = await store.fetch_one(
                f"SELECT count(*) FROM ({sql} LIMIT ?)", (expression, cap - total)
            )
            total += int(row[0])
            if total >= cap:
                break
    return total


def _required_terms(query: Query) -> list[Text]:
    """Text terms every result must match (top-level, not negated)."""
    from sync.search import query as q

    operands = query.operands if isinstance(query, q.And) else (query,)
    return [operand for operand in operands if isinstance(operand, q.Text)]


async def search_messages(
    store: Store,
    query: Query,
    *,
    after: SearchKey | None = None,
    limit: int = 200,
    folder_ids: Sequence[int] | None = None,
    zone: tzinfo | None = None,
) -> list[MessageRow]:
    """Local results of ``query``, newest arrival first, ``limit`` at a time (keyset paging:
    pass ``SearchKey.of(last_row)`` as ``after`` for the next page).

    ``folder_ids`` narrows the search to those folders (the one on screen, say). Body text is
    searched where bodies are cached and indexed (see :func:`folders_needing_server`).

    Plan: when a term every result must contain is rare, its hits are looked up and sorted;
    otherwise the rows are walked newest first (``search_messages_by_time``) and each is
    tested until the page is full, which ends early exactly when matches are common.
    """
    from sync.search import query as q

    # Rows not in the header index yet are indexed first: a search never misses one.
    if await store.fetch_one("SELECT 1 FROM search_header_queue LIMIT 1") is not None:
        await index_all_headers(store)
    folders = await store.folders()
    condition, params, _ = compile_query(query, folders, zone=zone)
    scope = set(folder_ids) if folder_ids is not None else None
    total = sum(f.total for f in folders if scope is None or f.id in scope)
    required = _required_terms(query)
    filtered = len(query.operands if isinstance(query, q.And) else (query,)) > len(required)
    driver: Text | None = None
    fewest = _drive_limit(total, limit, filtered or len(required) > 1)
    for term in required:
        hits = await _hit_count(store, term, fewest)
        if hits < fewest:
            driver, fewest = term, hits
    prefix: list[object] = []
    if driver is not None:
        header, body = _term_sources(driver)
        sources = []
        for sql, expression in ((_HEADER_ROWS, header), (_BODY_ROWS, body)):
            if expression is not None:
                sources.append(sql)
                prefix.append(expression)
        sql = (
            f"WITH hits (folder_id, uid) AS ({' UNION '.join(sources)})"
            f" SELECT {_RESULT_COLUMNS} FROM hits"
            " JOIN messages AS m ON m.folder_id = hits.folder_id AND m.uid = hits.uid"
            f" WHERE {condition}"
        )
    elif folder_ids is not None and len(folder_ids) == 1:
        # One folder (the one on screen): walk its own newest-first index.
        sql = (
            f"SELECT {_RESULT_COLUMNS} FROM messages AS m INDEXED BY messages_by_sort"
            f" WHERE m.folder_id = {int(folder_ids[0])} AND {condition}"
        )
    else:
        sql = (
            f"SELECT {_RESULT_COLUMNS} FROM messages AS m INDEXED BY search_messages_by_time"
            f" WHERE {condition}"
        )
    params = prefix + params
    if folder_ids is not None:
        sql += " AND m.folder_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(list(folder_ids)))
    if after is not None:
        sql += " AND (m.sort_value, m.folder_id, m.uid) < (?, ?, ?)"
        params += [after.sort_value, after.folder_id, after.uid]
    sql += " ORDER BY m.sort_value DESC, m.folder_id DESC, m.uid DESC LIMIT ?"
    params.append(limit)
    return [message_row(row) for row in await store.fetch_all(sql, params)]


def unknown_folders(query: Query, folders: Sequence[FolderRow]) -> list[str]:
    """The ``folder:`` names in ``query`` that match none of ``folders``."""
    from sync.search import query as q

    return [
        node.name
        for node in q.walk(query)
        if isinstance(node, q.Folder)
        and not any(
            q.folder_matches(node.name, f.name, f.display_name, f.delimiter) for f in folders
        )
    ]


def searches_bodies(query: Query) -> bool:
    """Whether some term of ``query`` looks into message bodies."""
    from sync.search import query as q

    return any(
        isinstance(node, q.Text) and _term_sources(node)[1] is not None for node in q.walk(query)
    )


async def folders_needing_server(
    store: Store, query: Query, *, folder_ids: Sequence[int] | None = None
) -> list[int]:
    """Folders (ids, in scope) where local results may miss matches: the query searches body
    text, and some message there has no cached body or one not indexed yet."""
    if not searches_bodies(query):
        return []
    rows = await store.fetch_all(
        # Bodiless messages: a range of the partial index. Unindexed bodies: the queue.
        "SELECT DISTINCT folder_id FROM messages WHERE body_hash IS NULL"
        " UNION SELECT m.folder_id FROM search_body_queue AS q"
        " JOIN bodies AS b ON b.id = q.body_id JOIN messages AS m ON m.body_hash = b.hash"
    )
    found = sorted(int(row[0]) for row in rows)
    if folder_ids is not None:
        scope = set(folder_ids)
        found = [folder_id for folder_id in found if folder_id in scope]
    return found


# ---------------------------------------------------------------------------- body indexing


def body_text(raw: bytes) -> str:
    """The searchable text of a raw message: its body text and attachment names, capped."""
    from sync.mime import parse_message

    parsed = parse_message(raw)
    names = " ".join(attachment.filename for attachment in parsed.attachments)
    text = parsed.body.text
    if names:
        text = f"{text}\n{names}"
    return text[:BODY_TEXT_LIMIT]


def _extract(rows: list[tuple[int, bytes, bytes]]) -> list[tuple[int, bytes, str]]:
    return [(body_id, digest, body_text(raw)) for body_id, digest, raw in rows]


async def pending_body_count(store: Store) -> int:
    """How many stored bodies are waiting to be indexed."""
    row = await store.fetch_one("SELECT count(*) FROM search_body_queue")
    return int(row[0])


async def index_pending_bodies(store: Store, limit: int = 100) -> int:
    """Index up to ``limit`` queued bodies; return how many were indexed (0: queue empty).

    Text is extracted off the event loop and outside the write lock; the index rows go in one
    short unit of work. Call it after storing bodies (the engine does, after each prefetch
    step), or in a loop until it returns 0 to catch up.
    """
    sizes = await store.fetch_all(
        "SELECT q.body_id, min(length(b.raw), ?) FROM search_body_queue AS q"
        " JOIN bodies AS b ON b.id = q.body_id ORDER BY q.body_id LIMIT ?",
        (_RAW_READ_LIMIT, limit),
    )
    # Bounded memory: no more than _BATCH_BYTES of raw mail is read at once (at least one).
    chosen: list[int] = []
    total = 0
    for body_id, size in sizes:
        if chosen and total + size > _BATCH_BYTES:
            break
        chosen.append(int(body_id))
        total += int(size)
    rows = await store.fetch_all(
        # coalesce: substr() of an empty blob is NULL, and a 0-byte message does arrive.
        "SELECT id, hash, coalesce(substr(raw, 1, ?), x'') FROM bodies"
        " WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (_RAW_READ_LIMIT, json.dumps(chosen)),
    )
    if not rows:
        # Queued ids whose body is gone are dropped by the bodies trigger; nothing else waits.
        return 0
    extracted = await asyncio.to_thread(
        _extract, [(int(r[0]), bytes(r[1]), bytes(r[2])) for r in rows]
    )
    async with store.write() as unit:
        for body_id, digest, text in extracted:
            # The body may have been deleted (or already indexed) since it was read.
            queued = await unit.fetch_one(
                "DELETE FROM search_body_queue WHERE body_id = ?"
                " AND EXISTS (SELECT 1 FROM bodies WHERE id = ?1 AND hash = ?2)"
                " RETURNING body_id",
                (body_id, digest),
            )
            if queued is None:
                continue
            doc = await unit.fetch_one(
                "INSERT INTO search_bodies (hash) VALUES (?) ON CONFLICT (hash) DO NOTHING"
                " RETURNING doc",
                (digest,),
            )
            if doc is not None:
                await unit.fetch_all(
                    "INSERT INTO search_body_fts (rowid, body) VALUES (?, ?)", (doc[0], text)
                )
    return len(extracted)


async def compact_body_index(store: Store, *, threshold: float = 0.25) -> bool:
    """Rebuild the body index from scratch when forgotten documents exceed ``threshold`` of
    the live ones; return whether it did. Bodies are then re-queued for
    :func:`index_pending_bodies` (until they are indexed again, searches ask the server)."""
    row = await store.fetch_one(
        "SELECT (SELECT stale_body_docs FROM search_stats), (SELECT count(*) FROM search_bodies)"
    )
    stale, live = int(row[0]), int(row[1])
    if stale == 0 or stale < threshold * max(live, 1):
        return False
    async with store.write() as unit:
        await unit.fetch_all("INSERT INTO search_body_fts (search_body_fts) VALUES ('delete-all')")
        await unit.fetch_all("DELETE FROM search_bodies")
        await unit.fetch_all("UPDATE search_stats SET stale_body_docs = 0")
        await unit.fetch_all(
            "INSERT OR IGNORE INTO search_body_queue (body_id) SELECT id FROM bodies"
        )
    return True


# ------------------------------------------------------------------------------ thread cache


@dataclass(frozen=True, slots=True)
class ThreadRow:
    """One row of a folder's thread view: the message, its depth, and its thread's size."""

    message: MessageRow
    depth: int
    thread_size: int
    thread_id: int
    thread_sort: int
    rank: int

    @property
    def key(self) -> tuple[int, int, int]:
        """This row's position (pass it as ``after`` for the next page)."""
        return (self.thread_sort, self.thread_id, self.rank)


async def _ensure_threads(store: Store, folder_id: int) -> bool:
    """Rebuild the folder's thread cache if it is stale; return whether it was rebuilt."""
    row = await store.fetch_one(
        "SELECT generation, built FROM search_thread_state WHERE folder_id = ?", (folder_id,)
    )
    if row is not None and row[1] is not None and row[0] == row[1]:
        return False
    generation = 0 if row is None else int(row[0])
    rows = await store.fetch_all(
        "SELECT uid, message_id, in_reply_to, refs, subject, sort_value FROM messages"
        " WHERE folder_id = ?",
        (folder_id,),
    )
    from sync.search.threads import thread_order

    threaded = await asyncio.to_thread(thread_order, rows)
    async with store.write() as unit:
        # Another unit may have changed the folder since we read it: then build again later.
        current = await unit.fetch_one(
            "SELECT generation FROM search_thread_state WHERE folder_id = ?", (folder_id,)
        )
        if current is not None and int(current[0]) != generation:
            return False
        await unit.fetch_all("DELETE FROM search_threads WHERE folder_id = ?", (folder_id,))
        await unit._check().executemany(
            "INSERT INTO search_threads (folder_id, thread_sort, thread_id, rank, uid, depth,"
            " size) VALUES (?, ?, ?, ?, ?, ?, ?)",
            # thread_order rows: (uid, thread_id, thread_sort, position, depth, size); written
            # in ascending key order (appends: b-tree pages fill up, never split).
            [(folder_id, t[2], t[1], -t[3], t[0], t[4], t[5]) for t in reversed(threaded)],
        )
        if await unit.fetch_one("SELECT 1 FROM folders WHERE id = ?", (folder_id,)) is not None:
            await unit.fetch_all(
                "INSERT INTO search_thread_state (folder_id, generation, built) VALUES (?, ?, ?)"
                " ON CONFLICT (folder_id) DO UPDATE SET built = excluded.built",
                (folder_id, generation, generation),
            )
    return True


async def thread_page(
    store: Store,
    folder_id: int,
    *,
    after: tuple[int, int, int] | None = None,
    limit: int = 200,
    collapsed: bool = False,
) -> list[ThreadRow]:
    """A page of the folder's thread view: threads by newest message, each depth-first.

    ``collapsed`` gives one row per thread (its first message, with ``thread_size``). The
    cache is rebuilt first when messages were added, removed or re-threaded since it was
    built (about a second for 100k messages); otherwise this is one indexed range read.
    """
    for _ in range(3):  # a concurrent writer can make a build stale; it is rare
        if not await _ensure_threads(store, folder_id):
            break
    sql = (
        f"SELECT {_RESULT_COLUMNS}, t.depth, t.size, t.thread_id, t.thread_sort, t.rank"
        " FROM search_threads AS t JOIN messages AS m ON m.folder_id = t.folder_id"
        " AND m.uid = t.uid WHERE t.folder_id = ?"
    )
    params: list[object] = [folder_id]
    if collapsed:
        sql += " AND t.rank = 0"
    if after is not None:
        sql += " AND (t.thread_sort, t.thread_id, t.rank) < (?, ?, ?)"
        params += list(after)
    sql += " ORDER BY t.thread_sort DESC, t.thread_id DESC, t.rank DESC LIMIT ?"
    params.append(limit)
    return [
        ThreadRow(message_row(r), r[19], r[20], r[21], r[22], r[23])
        for r in await store.fetch_all(sql, params)
    ]


async def thread_rows(store: Store, head: ThreadRow) -> list[ThreadRow]:
    """Every row of the thread that ``head`` (a row of it, e.g. a collapsed one) belongs to,
    in display order: what expanding it shows."""
    rows = await store.fetch_all(
        f"SELECT {_RESULT_COLUMNS}, t.depth, t.size, t.thread_id, t.thread_sort, t.rank"
        " FROM search_threads AS t JOIN messages AS m ON m.folder_id = t.folder_id"
        " AND m.uid = t.uid WHERE t.folder_id = ? AND t.thread_sort = ? AND t.thread_id = ?"
        " ORDER BY t.rank DESC",
        (head.message.folder_id, head.thread_sort, head.thread_id),
    )
    return [ThreadRow(message_row(r), r[19], r[20], r[21], r[22], r[23]) for r in rows]
