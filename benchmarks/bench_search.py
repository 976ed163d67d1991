"""Benchmark search and threads on a big folder (issue 9).

Run: ``python benchmarks/bench_search.py [--messages 100000] [--db PATH]``. Builds (or reuses,
with ``--db``) a store holding ``--messages`` messages of ``sync.sample_mail`` in one folder,
every body stored and indexed, through the store's real write paths. Prints:

- the cost of the search triggers on bulk upserts (the same rows into a store without them);
- body indexing throughput (text extraction with ``sync.mime`` + FTS5 insert);
- index size (FTS5 tables and the thread cache, from ``dbstat``) against the whole database;
- local query latency, first page of 200 (what "results as you type" shows), over a mix of
  queries typed in full and as prefixes: p50 / p95 / max (targets: p95 <= 100 ms);
- thread view: cold build (JWZ + cache write) and warm first page (targets: <= 1 s, instant).
"""

from __future__ import annotations

import argparse
import asyncio
import email.header
import email.parser
import email.policy
import email.utils
import statistics
import tempfile
import time
from pathlib import Path

from sync.sample_mail import make_message
from sync.search import parse_query
from sync.search.threads import ThreadInput, build_threads
from sync.store import MessageRecord, Store
from sync.store.schema import MIGRATIONS
from sync.store.search import (
    SEARCH_SCHEMA,
    folders_needing_server,
    index_pending_bodies,
    search_messages,
    thread_page,
)

BATCH = 5000

# Queries people type, in full and (marked with *) as the prefix typed so far. Counts vary
# from a handful of matches to most of the folder.
QUERIES = [
    "invoice",
    "dentist",
    "maria",
    "from:maria",
    "from:github",
    "to:alex",
    "subject:meeting",
    '"quarterly report"',
    "1234",
    "report-Q12.pdf",
    "budget migration",
    "schedule -from:github",
    "deadline OR invoice",
    "zoe",
    "überweisung",
    "security alert",
    "has:attachment is:unread",
    "is:flagged",
    "is:unread",
    "after:2026-06-01 before:2026-07-01",
    "folder:INBOX lunch",
    "lunch is:unread has:attachment",
    "-is:read -from:github",
    "inv*",
    "dent*",
    "qu*",
    "rep*",
    "m*",
]

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def _decoded(value: object) -> str:
    if value is None:
        return ""
    parts = email.header.decode_header(str(value))
    return "".join(
        text.decode(charset or "utf-8", "replace") if isinstance(text, bytes) else text
        for text, charset in parts
    )


def record_for(index: int, raw: bytes) -> MessageRecord:
    """The list row sync would write for ``raw`` (headers parsed the cheap way)."""
    headers = _HEADERS.parsebytes(raw)
    name, addr = email.utils.parseaddr(_decoded(headers["From"]))
    when = int(email.utils.parsedate_to_datetime(str(headers["Date"])).timestamp())
    return MessageRecord(
        uid=index + 1,
        message_id=str(headers["Message-ID"]),
        subject=" ".join(_decoded(headers["Subject"]).split()),
        from_name=name,
        from_addr=addr,
        to=_decoded(headers["To"]),
        cc="",
        date=when,
        internaldate=when,
        size=len(raw),
        flags=("\\Seen",) if index % 4 else (),
        modseq=None,
        has_attachment=b"multipart/mixed" in raw[:4000],
        in_reply_to=str(headers["In-Reply-To"]) if headers["In-Reply-To"] else None,
        references=" ".join(str(headers["References"]).split()) if headers["References"] else None,
    )


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``samples``, in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] * 1000


async def _folder(store: Store) -> int:
    async with store.write() as unit:
        account = await unit.ensure_account("bench", "alex@example.org")
        return await unit.upsert_folder(
            account, "INBOX", display_name="INBOX", delimiter="/", special_use=None
        )


async def upsert_cost(records: list[MessageRecord]) -> tuple[float, float]:
    """Seconds to upsert ``records`` without and with the search triggers (fresh stores)."""
    search_version = next(m.version for m in MIGRATIONS if m.step is SEARCH_SCHEMA)
    times = []
    for target in (search_version - 1, None):
        with tempfile.TemporaryDirectory() as tmp:
            store = await Store.open(Path(tmp) / "s.sqlite3", target_version=target)
            try:
                folder = await _folder(store)
                start = time.perf_counter()
                for i in range(0, len(records), BATCH):
                    async with store.write() as unit:
                        await unit.upsert_messages(folder, records[i : i + BATCH])
                times.append(time.perf_counter() - start)
            finally:
                await store.close()
    return times[0], times[1]


async def build(store: Store, messages: int) -> None:
    """Fill the store: rows, bodies, body index (timed and printed)."""
    folder = await _folder(store)
    start = time.perf_counter()
    for first in range(0, messages, BATCH):
        raws = [make_message(i) for i in range(first, min(first + BATCH, messages))]
        records = [record_for(first + n, raw) for n, raw in enumerate(raws)]
        async with store.write() as unit:
            await unit.upsert_messages(folder, records)
            for record, raw in zip(records, raws, strict=True):
                await unit.store_body(folder, record.uid, raw)
    print(f"stored {messages} rows and bodies in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    indexed = 0
    while count := await index_pending_bodies(store, 500):
        indexed += count
    took = time.perf_counter() - start
    print(
        f"indexed {indexed} bodies in {took:.1f} s ({took / max(indexed, 1) * 1e6:.0f} us each,"
        " text extraction included)"
    )


async def sizes(store: Store) -> None:
    """Print the search tables' share of the database."""
    rows = await store.fetch_all("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
    by_name = {str(name): int(size) for name, size in rows}
    total = sum(by_name.values())

    def part(prefix: str) -> int:
        return sum(size for name, size in by_name.items() if name.startswith(prefix))

    mib = 1024 * 1024
    bodies = part("bodies")
    print(f"database {total / mib:.0f} MiB, of which raw bodies {bodies / mib:.0f} MiB")
    print(f"  header index (search_headers*): {part('search_headers') / mib:.1f} MiB")
    print(f"  body index (search_body*):      {part('search_body') / mib:.1f} MiB")
    print(f"  thread cache (search_threads*): {part('search_threads') / mib:.1f} MiB")
    print(f"  messages table + indexes:       {part('messages') / mib:.1f} MiB")


async def queries(store: Store, repeats: int) -> None:
    """Time the first page of each query ``repeats`` times; print per query and overall."""
    samples: list[float] = []
    print(f"{'query':<38} {'matches':>8} {'median ms':>10} {'max ms':>8}")
    for text in QUERIES:
        query = parse_query(text)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            await search_messages(store, query, limit=200)
            times.append(time.perf_counter() - start)
        samples += times
        matches = 0
        after = None
        while page := await search_messages(store, query, limit=5000, after=after):
            matches += len(page)
            from sync.store.search import SearchKey

            after = SearchKey.of(page[-1])
        print(
            f"{text:<38} {matches:>8} {statistics.median(times) * 1000:>10.1f}"
            f" {max(times) * 1000:>8.1f}"
        )
    print(
        f"local first page over {len(samples)} runs: p50 {percentile(samples, 0.5):.1f} ms,"
        f" p95 {percentile(samples, 0.95):.1f} ms, max {max(samples) * 1000:.1f} ms"
    )
    start = time.perf_counter()
    await folders_needing_server(store, parse_query("lunch"))
    print(f"folders_needing_server: {(time.perf_counter() - start) * 1000:.1f} ms")


async def threads(store: Store) -> None:
    """Thread view: pure JWZ, cold (build + cache), warm, and after one new message."""
    rows = await store.fetch_all(
        "SELECT uid, message_id, in_reply_to, refs, subject, sort_value FROM messages"
    )
    start = time.perf_counter()
    threaded = build_threads([ThreadInput(*row) for row in rows])
    jwz = time.perf_counter() - start
    threads_count = sum(1 for t in threaded if t.position == 0)
    print(f"JWZ over {len(rows)} messages: {jwz:.2f} s, {threads_count} threads")
    folder = (await store.folders())[0].id
    async with store.write() as unit:  # make the cache stale, as new mail would
        await unit.fetch_all("UPDATE search_thread_state SET built = NULL")
    start = time.perf_counter()
    await thread_page(store, folder, limit=200)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(20):
        start = time.perf_counter()
        await thread_page(store, folder, limit=200, collapsed=True)
        warm.append(time.perf_counter() - start)
    print(
        f"thread view: cold {cold:.2f} s (read + JWZ + cache write),"
        f" warm first page median {statistics.median(warm) * 1000:.1f} ms"
    )


async def main(messages: int, db: Path | None, repeats: int) -> None:
    """Run every measurement."""
    sample = [make_message(i) for i in range(min(messages, 20_000))]
    records = [record_for(i, raw) for i, raw in enumerate(sample)]
    without, with_triggers = await upsert_cost(records)
    print(
        f"upsert {len(records)} rows: {without:.2f} s without search triggers,"
        f" {with_triggers:.2f} s with ({with_triggers / without:.1f}x)"
    )
    del sample, records
    with tempfile.TemporaryDirectory() as tmp:
        path = db or Path(tmp) / "bench.sqlite3"
        store = await Store.open(path)
        try:
            if await store.fetch_one("SELECT count(*) FROM messages") != (messages,):
                await build(store, messages)
            await sizes(store)
            await queries(store, repeats)
            await threads(store)
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="keep the built store here, reuse it next time")
    parser.add_argument("--repeats", type=int, default=15)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.messages, arguments.db, arguments.repeats))
