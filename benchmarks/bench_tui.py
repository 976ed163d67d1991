"""Benchmark the message list headless: time to first paint, per-key latency, memory.

Run from the repository root: ``python benchmarks/bench_tui.py [--messages 100000]
[--source memory|store|both] [--keys 200]``. ``memory`` runs the whole app (folder pane,
status bar, footer) over the in-memory test backend; ``store`` runs the list alone over a real
SQLite store seeded with the same number of messages (seeding is timed separately).

Figures printed:
- first paint: from starting the app to the newest rows being rendered, and to the whole
  order (sort keys of every message) being loaded, after which any position can be reached;
- per key: CPU time of one key press until the app is idle again (headless Pilot), median and
  95th percentile, for j (cursor), PgDn, G and g alternating (a full repaint and a page
  fetch each); "none" is an unbound key: the floor of Textual's key handling plus Pilot's
  own idle-detection loop;
- render: CPU time to render every visible line of the list once (no page fetch);
- RSS: resident memory growth while the folder is open (Linux /proc), and the peak.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from sync.store import MessageRecord, Store
from tests.tui.memory import MemoryBackend
from tui.app import MailApp
from tui.backend import StoreSource
from tui.widgets.message_list import MessageList

SIZE = (160, 50)
BASE_TIME = 1_700_000_000


def rss_mib() -> float:
    """Current resident set size in MiB (Linux)."""
    with Path("/proc/self/statm").open() as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def wait_rows(pilot: Pilot[Any], ml: MessageList) -> None:
    """Wait until the visible rows are loaded."""
    while True:
        await pilot.pause()
        top = ml.scroll_offset.y
        if ml.keys_loaded and ml.page_loads_pending == 0 and ml.row_at(top) is not None:
            return


async def time_keys(
    pilot: Pilot[Any], ml: MessageList, keys: str, count: int
) -> tuple[list[float], list[float]]:
    """Per key press (``count`` presses cycling through the space-separated ``keys``, rows
    loaded after each): CPU ms and wall ms.

    The CPU time is the work the key caused (handling, page fetch, repaint): the process is
    otherwise idle. The wall time includes Pilot's idle detection, which sleeps in steps of
    ~20 ms, so it is an upper bound, not what a person waits.
    """
    cpu, wall = [], []
    cycle = keys.split()
    for number in range(count):
        started, started_cpu = time.perf_counter(), time.process_time()
        await pilot.press(cycle[number % len(cycle)])
        await wait_rows(pilot, ml)
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return cpu, wall


def summary(name: str, samples: tuple[list[float], list[float]]) -> str:
    """Median and 95th percentile of CPU time, and the median Pilot round trip."""
    cpu = sorted(samples[0])
    p95 = cpu[min(len(cpu) - 1, int(len(cpu) * 0.95))]
    return (
        f"  {name:<5} CPU median {statistics.median(cpu):6.2f} ms  p95 {p95:6.2f} ms"
        f"   (Pilot round trip median {statistics.median(samples[1]):5.1f} ms)"
    )


async def measure(
    label: str,
    make_app: Callable[[], App[Any]],
    find_list: Callable[[App[Any]], MessageList],
    keys: int,
    before: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Open the app, time first paint, keys and rendering, print the figures."""
    if before is not None:
        await before()
    rss_before = rss_mib()
    started = time.perf_counter()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        ml = find_list(app)
        for _ in range(100_000):  # poll finely: Pilot's idle detection sleeps ~20 ms
            if ml.row_at(0) is not None:
                break
            await asyncio.sleep(0.001)
        first_paint = (time.perf_counter() - started) * 1000
        await wait_rows(pilot, ml)
        whole_order = (time.perf_counter() - started) * 1000
        rss_open = rss_mib()
        print(f"{label}: {ml.row_count} messages")
        print(
            f"  first rows on screen {first_paint:.0f} ms; whole order loaded {whole_order:.0f} ms;"
            f" RSS +{rss_open - rss_before:.1f} MiB on open"
        )
        results = [
            summary("none", await time_keys(pilot, ml, "x", keys)),
            summary("j", await time_keys(pilot, ml, "j", keys)),
            summary("PgDn", await time_keys(pilot, ml, "pagedown", keys)),
            summary("G/g", await time_keys(pilot, ml, "G g", max(keys // 4, 10))),
        ]
        print("\n".join(results))
        height = ml.scrollable_content_region.height
        rounds = 200
        started = time.perf_counter()
        for _ in range(rounds):
            for y in range(height):
                ml.render_line(y)
        render_ms = (time.perf_counter() - started) * 1000 / rounds
        print(f"  render {height} lines: {render_ms:.2f} ms")
        grown = rss_mib() - rss_before
        print(f"  RSS after scrolling +{grown:.1f} MiB; peak {peak_rss_mib():.0f} MiB")


class StoreListApp(App[None]):
    """The list alone over a store folder."""

    def __init__(self, store: Store, folder_id: int) -> None:
        super().__init__()
        self._source = StoreSource(store, folder_id)

    def compose(self) -> ComposeResult:
        """Just the list."""
        yield MessageList(self._source, id="messages")

    def on_mount(self) -> None:
        """Keys go to the list."""
        self.query_one(MessageList).focus()


def record(uid: int) -> MessageRecord:
    """A realistic list row."""
    return MessageRecord(
        uid=uid,
        message_id=f"<{uid}.bench@example.org>",
        subject=f"Quarterly report draft number {uid} for review",
        from_name=f"Sender {uid % 500}",
        from_addr=f"sender{uid % 500}@example.org",
        to="Reader <reader@example.org>",
        cc="",
        date=BASE_TIME + uid * 60,
        internaldate=BASE_TIME + uid * 60,
        size=2_000,
        flags=("\\Seen",) if uid % 4 else (),
        modseq=uid,
        has_attachment=uid % 10 == 0,
        in_reply_to=None,
        references=None,
    )


async def run_store(messages: int, keys: int) -> None:
    """Seed a store and measure the list over it."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.sqlite3")
        try:
            started = time.perf_counter()
            async with store.write() as w:
                account = await w.ensure_account("bench", "bench@example.org")
                folder = await w.upsert_folder(
                    account, "INBOX", display_name="INBOX", delimiter="/", special_use=None
                )
            for start in range(1, messages + 1, 5000):
                async with store.write() as w:
                    batch = [record(u) for u in range(start, min(start + 5000, messages + 1))]
                    await w.upsert_messages(folder, batch)
            print(
                f"(store seeded with {messages} messages in {time.perf_counter() - started:.1f} s)"
            )
            started = time.perf_counter()
            await store.sort_keys(folder)
            print(f"(store.sort_keys alone: {(time.perf_counter() - started) * 1000:.0f} ms)")
            await measure(
                "store-backed list",
                lambda: StoreListApp(store, folder),
                lambda app: app.query_one(MessageList),
                keys,
            )
        finally:
            await store.close()


async def run_memory(messages: int, keys: int) -> None:
    """Measure the whole app over the in-memory backend."""
    await measure(
        "full app, in-memory backend",
        lambda: MailApp(MemoryBackend(inbox_size=messages)),
        lambda app: app.query_one(MessageList),
        keys,
    )


def main() -> None:
    """Parse arguments and run the chosen benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--source", choices=("memory", "store", "both"), default="both")
    args = parser.parse_args()
    print(f"terminal {SIZE[0]}x{SIZE[1]}, headless; Python {sys.version.split()[0]}")
    if args.source in ("memory", "both"):
        asyncio.run(run_memory(args.messages, args.keys))
    if args.source in ("store", "both"):
        asyncio.run(run_store(args.messages, args.keys))


if __name__ == "__main__":
    main()
