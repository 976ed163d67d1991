"""Benchmark the local store: bulk upserts, keyset paging, whole-folder sort keys.

Run: ``python benchmarks/bench_store.py [--messages 100000] [--batch 5000]``. Prints figures;
targets (from the store issue): 100k upserts < 2 s, a 200-row page at the end < 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from sync.store import MessageRecord, SortKey, Store

BASE_TIME = 1_700_000_000


def make_record(uid: int) -> MessageRecord:
    """A realistic list row; some arrival times collide so ties on sort value are exercised."""
    return MessageRecord(
        uid=uid,
        message_id=f"<{uid}.bench@example.org>",
        subject=f"Quarterly report draft number {uid} for review",
        from_name=f"Sender {uid % 500}",
        from_addr=f"sender{uid % 500}@example.org",
        to="Reader <reader@example.org>",
        cc="" if uid % 3 else "Team <team@example.org>, Boss <boss@example.org>",
        date=BASE_TIME + uid * 60,
        internaldate=BASE_TIME + (uid // 2) * 60,
        size=2_000 + uid % 10_000,
        flags=("\\Seen",) if uid % 4 else (),
        modseq=uid,
        has_attachment=uid % 10 == 0,
        in_reply_to=None if uid % 5 else f"<{uid - 1}.bench@example.org>",
        references=None if uid % 5 else f"<{uid - 1}.bench@example.org>",
    )


def timed_ms(samples: list[float]) -> str:
    """Median and best of some timings in milliseconds."""
    return f"median {statistics.median(samples) * 1000:.2f} ms, best {min(samples) * 1000:.2f} ms"


async def run(messages: int, batch: int) -> None:
    """Seed one folder with ``messages`` rows and print the measured figures."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.sqlite3")
        try:
            async with store.write() as w:
                account = await w.ensure_account("bench", "bench@example.org")
                folder = await w.upsert_folder(
                    account, "INBOX", display_name="Inbox", delimiter="/", special_use=None
                )
            records = [make_record(uid) for uid in range(1, messages + 1)]

            start, cpu_start = time.perf_counter(), time.process_time()
            for offset in range(0, messages, batch):
                async with store.write() as w:
                    await w.upsert_messages(folder, records[offset : offset + batch])
            insert_s = time.perf_counter() - start
            print(
                f"upsert {messages:,} new rows ({batch:,} per transaction): {insert_s:.3f} s"
                f" wall, {time.process_time() - cpu_start:.3f} s CPU"
                f" ({messages / insert_s:,.0f} rows/s; target < 2 s)"
            )

            start = time.perf_counter()
            for offset in range(0, messages, batch):
                async with store.write() as w:
                    await w.upsert_messages(folder, records[offset : offset + batch])
            print(
                f"upsert {messages:,} unchanged rows (resync): {time.perf_counter() - start:.3f} s"
            )

            start = time.perf_counter()
            async with store.write() as w:
                await w.set_flags(
                    folder,
                    [(uid, ("\\Seen", "\\Flagged"), None) for uid in range(1, messages + 1, 2)],
                )
            print(f"set_flags on {messages // 2:,} rows: {time.perf_counter() - start:.3f} s")

            samples = []
            for uid in range(1, 41):
                start = time.perf_counter()
                async with store.write() as w:
                    await w.set_flags(folder, [(uid, ("\\Answered",), None)])
                samples.append(time.perf_counter() - start)
            print(
                f"one-message commit in the {messages:,} folder (flags + counts):"
                f" {timed_ms(samples)}"
            )

            samples = []
            for _ in range(20):
                start = time.perf_counter()
                sort_values, uids = await store.sort_keys(folder)
                samples.append(time.perf_counter() - start)
            print(f"sort_keys of {len(uids):,}: {timed_ms(samples)}")

            position = len(uids) - 200
            after = SortKey(sort_values[position - 1], uids[position - 1])
            samples = []
            for _ in range(50):
                start = time.perf_counter()
                rows = await store.page(folder, after=after, limit=200)
                samples.append(time.perf_counter() - start)
            assert len(rows) == 200 and rows[-1].uid == uids[-1]
            print(f"200-row page at row {position:,} (keyset): {timed_ms(samples)} (target < 5 ms)")

            samples = []
            for _ in range(50):
                start = time.perf_counter()
                await store.page(folder, after=None, limit=200)
                samples.append(time.perf_counter() - start)
            print(f"200-row first page: {timed_ms(samples)}")

            samples = []
            for _ in range(20):
                start = time.perf_counter()
                folders = await store.folders(account)
                samples.append(time.perf_counter() - start)
            print(
                f"folders() with counts (total {folders[0].total:,},"
                f" unread {folders[0].unread:,}): {timed_ms(samples)}"
            )
        finally:
            await store.close()


def load_average() -> str:
    """The 1-minute load average, to judge figures taken on a shared machine."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    print(f"load average before: {load_average()} on {os.cpu_count()} CPUs")
    asyncio.run(run(args.messages, args.batch))
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
