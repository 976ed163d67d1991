"""Benchmark the sync engine on a private Dovecot, with raw imaplib as the floor and mbsync beside.

Run: ``python benchmarks/bench_sync.py [--count 100000] [--folders 10] [--changes 50]
[--repeat 5] [--skip-mbsync] [--profile DIR] [--first-only] [--server-dir DIR]``.

``--first-only`` measures the INBOX user's floor and first syncs only (quick iterations);
``--server-dir DIR`` keeps the private Dovecot there and seeds the INBOX user once per
``--count``, so later runs skip the seeding (the spread user, changed by the live phase, is
seeded afresh each run and removed after).

Two users are seeded with the test corpus (``tests.rig.corpus``: realistic messages, median
~4.7 KB, mean ~13 KB, a few with large attachments):

- *first*: ``--count`` messages in INBOX. Measured: the floor (stdlib imaplib, raw receive of
  ``UID FETCH 1:*`` with exactly the items the engine fetches, TCP_NODELAY, cold then warm),
  and the engine's first sync into a fresh store: time until the newest 200 rows are in the
  store (as a UI subscribed to ``store.events`` sees them) and time to completion; then,
  reported apart, the time to build the header search index of those rows, which the first
  sync leaves to live mode's idle steps (or to the first search).
- *spread*: ``--count`` messages over ``--folders`` subscribed folders. Measured: floor and
  engine first sync of the whole account, the no-change resync (``run_once`` on the synced
  store) with QRESYNC, with CONDSTORE only, and with neither; then live latency: another
  device (stdlib imaplib) makes ``--changes`` changes (flags in INBOX and in Archive, appends
  to both) while ``run_live`` runs, each timed from the device's command returning to the
  store event that reflects it; finally mbsync (isync) full pull and no-change resync of the
  same account into a Maildir.

Targets (issue 4): newest 200 <= 1 s; first sync <= 3x the floor; QRESYNC no-change resync
<= 0.3 s; live p95 <= 1 s. The floor and mbsync run in child processes so the peak RSS
figures of this process are the engine's (plus the store's SQLite cache).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import imaplib
import multiprocessing
import os
import pstats
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' corpus and rig

from sync.dovecot import DovecotServer, MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.engine.folder_sync import header_items
from sync.imap import ServerFeatures
from sync.store import Store
from sync.store.events import MessagesChanged, StoreEvent
from sync.store.search import index_all_headers
from tests.engine.helpers import config_for
from tests.rig.corpus import make_message, seed_maildir
from tests.rig.device import Device

T = TypeVar("T")

FIRST_ROWS = 200  # what the first screen of a folder shows
LIVE_TIMEOUT = 10.0  # a change not in the store by then counts as lost
OTHER_FOLDER = "Archive"  # the non-INBOX folder of the live changes
# The spread account's folders: INBOX and the special-use ones every rig user has, then more.
BASE_FOLDERS = ("INBOX", "Archive", "Sent", "Drafts", "Junk", "Trash")

TARGET_NEWEST = 1.0
TARGET_FIRST_SYNC_RATIO = 3.0
TARGET_QRESYNC = 0.3
TARGET_LIVE_P95 = 1.0


# ------------------------------------------------------------------------------ measurement


def reset_peak_rss() -> None:
    """Restart the kernel's peak-RSS counter (VmHWM) of this process, where Linux allows it."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mib() -> float:
    """Peak RSS of this process since the last reset (VmHWM), else since it started."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def lifetime_peak_rss_mib() -> float:
    """Peak RSS of this process over its whole life (getrusage is never reset)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: Sequence[float]) -> float:
    """The median of some timings."""
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: with 50 samples p95 is the 48th value)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil without floats drifting
    return ordered[int(rank) - 1]


@dataclass
class Profiler:
    """Optional cProfile of engine phases (event-loop thread only, not aiosqlite's thread)."""

    directory: Path | None
    reports: list[str] = field(default_factory=list)

    async def run(self, name: str, work: Awaitable[T]) -> T:
        """Await ``work``, profiled when a directory was given; keep a short report."""
        if self.directory is None:
            return await work
        profile = cProfile.Profile()
        profile.enable()
        try:
            return await work
        finally:
            profile.disable()
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{name}.prof"
            profile.dump_stats(path)
            self.reports.append(_profile_summary(name, path))


def _profile_summary(name: str, path: Path) -> str:
    import io

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(15)
    return f"--- {name}: top functions by own time ({path.name}) ---\n{out.getvalue()}"


# ------------------------------------------------------------------------------ seeding


def flags_for(index: int) -> str:
    """Seeded Maildir flags: two thirds read, never flagged (live changes add \\Flagged)."""
    return "S" if index % 3 else ""


def spread_folders(count: int) -> list[str]:
    """The spread account's ``count`` folder names."""
    names = list(BASE_FOLDERS[:count])
    names += [f"Lists/project-{n}" for n in range(1, count - len(names) + 1)]
    return names


def seed_first(server: DovecotServer, first: MailUser, count: int) -> None:
    """Write the INBOX user's ``count`` messages straight into its Maildir."""
    start = time.perf_counter()
    seed_maildir(
        server,
        first.username,
        "INBOX",
        (make_message(index) for index in range(count)),
        flags_for=flags_for,
    )
    print(f"seeded {count} messages in INBOX in {time.perf_counter() - start:.1f} s", flush=True)


def seed_spread(server: DovecotServer, spread: MailUser, args: argparse.Namespace) -> None:
    """Write the spread user's mail over its folders straight into its Maildirs."""
    start = time.perf_counter()
    folders = spread_folders(args.folders)
    per_folder = args.count // len(folders)
    # Log in once first: Dovecot creates (and subscribes) the special-use folders then.
    Device.connect(spread).close()
    offset = args.count  # other messages than the first user's, so Message-IDs differ
    for position, folder in enumerate(folders):
        if folder not in BASE_FOLDERS:
            server.create_mailbox(spread.username, folder, subscribe=True)
        size = per_folder if position < len(folders) - 1 else args.count - per_folder * position
        seed_maildir(
            server,
            spread.username,
            folder,
            (make_message(offset + index) for index in range(size)),
            flags_for=flags_for,
        )
        offset += size
    print(
        f"seeded {args.count} messages in {len(folders)} folders"
        f" in {time.perf_counter() - start:.1f} s",
        flush=True,
    )


def first_user(server: DovecotServer, count: int, cached: bool) -> MailUser:
    """The INBOX user: seeded once per ``count`` and kept when the server directory is kept
    (no phase changes its mail: the floor and the engine's first syncs only read)."""
    name = f"first{count}"
    marker = server.base_dir / f"{name}.seeded"
    if cached and marker.exists():
        user = server.user(name)
        print(f"reusing {count} seeded messages in INBOX ({server.base_dir})", flush=True)
        return user
    if (server.base_dir / "users" / name).exists():  # a seeding cut short: start again
        (server.base_dir / "users" / name).unlink()
    user = server.add_user(name)
    seed_first(server, user, count)
    marker.touch()
    return user


# ------------------------------------------------------------------------------ the floor


@dataclass(frozen=True)
class FloorResult:
    """Raw imaplib receive times of every folder's ``UID FETCH 1:*`` summed, per run."""

    runs: list[float]
    messages: int
    peak_rss_mib: float


_FETCH_START = re.compile(rb"\d+ \(")


def _fetch_responses(data: list[object]) -> int:
    """How many FETCH responses imaplib collected (a literal splits one into tuples)."""
    count = 0
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if isinstance(line, bytes) and _FETCH_START.match(line):
            count += 1
    return count


def floor_fetch(
    host: str, port: int, username: str, password: str, folders: list[str], items: str, runs: int
) -> FloorResult:
    """In a child process: time raw receive of ``UID FETCH 1:* items`` over ``folders``.

    imaplib splits lines and literals and parses nothing else: the least any client can do.
    """
    imap = imaplib.IMAP4(host, port)
    # Without TCP_NODELAY, Nagle + delayed ACK can stall a command by ~40 ms.
    imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times: list[float] = []
    messages = 0
    try:
        imap.login(username, password)
        for _ in range(runs):
            total = 0.0
            messages = 0
            for folder in folders:
                imap.select(f'"{folder}"', readonly=True)
                gc.collect()
                start = time.perf_counter()
                status, data = imap.uid("FETCH", "1:*", items)
                total += time.perf_counter() - start
                if status != "OK":
                    raise RuntimeError(f"UID FETCH in {folder}: {status} {data!r}")
                messages += _fetch_responses(data)
                del data
                imap.untagged_responses.clear()
            times.append(total)
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()
    return FloorResult(times, messages, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def run_floor(user: MailUser, folders: list[str], items: str, runs: int) -> FloorResult:
    """The floor in a fresh child process (its memory stays out of this process's peak)."""
    server = user.server
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(
            floor_fetch,
            (server.host, server.imap_port, user.username, user.password, folders, items, runs),
        )


# ------------------------------------------------------------------------------ the engine


@dataclass
class Timeline:
    """Every ``MessagesChanged`` the store published, stamped when a subscriber received it."""

    events: list[tuple[float, MessagesChanged]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def collect(self, store: Store) -> None:
        """Record events until cancelled (subscribe first, so nothing is missed)."""
        with store.events.subscribe() as subscription:
            self.arrived.set()  # subscribed
            async for event in subscription:
                self._note(event)

    def _note(self, event: StoreEvent) -> None:
        if isinstance(event, MessagesChanged):
            self.events.append((time.perf_counter(), event))
            self.arrived.set()


@contextlib.asynccontextmanager
async def watched(store: Store) -> AsyncIterator[Timeline]:
    """A timeline collecting the store's events for the duration of the block."""
    timeline = Timeline()
    task = asyncio.create_task(timeline.collect(store))
    await timeline.arrived.wait()
    timeline.arrived.clear()
    try:
        yield timeline
    finally:
        await asyncio.sleep(0)  # let the collector take what was published last
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def folder_ids(store: Store) -> dict[str, int]:
    """Store folder ids by display name."""
    return {folder.display_name: folder.id for folder in await store.folders()}


def fresh_directory(path: Path) -> None:
    """Make ``path`` an empty directory."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


@dataclass(frozen=True)
class FirstSync:
    """One engine first sync into a fresh store."""

    newest: float  # seconds until the newest FIRST_ROWS INBOX rows were in the store
    newest_ok: bool  # the first FIRST_ROWS rows in were the newest UIDs
    complete: float  # seconds until run_once returned
    rows: int  # rows in the store afterwards (all folders)
    peak_rss_mib: float
    # Seconds to index the rows run_once left for the header search index (live mode does it
    # in idle steps, a search before answering): the work the first sync no longer waits for.
    indexing: float = 0.0


async def engine_first_sync(
    user: MailUser, data_dir: Path, profiler: Profiler, name: str
) -> FirstSync:
    """Sync ``user`` into a fresh store with the default settings (QRESYNC when offered)."""
    await asyncio.to_thread(fresh_directory, data_dir)
    config = config_for(user, data_dir)
    store = await Store.open(data_dir / "mailtui.sqlite3")
    try:
        # Headers only: bodies are a separate, policy-driven background job (sync.engine.bodies)
        # and the floor fetches headers only.
        account = AccountSync(config.accounts[0], store, SyncSettings(prefetch="none"))
        gc.collect()
        reset_peak_rss()
        async with watched(store) as timeline:
            start = time.perf_counter()
            await profiler.run(name, account.run_once())
            complete = time.perf_counter() - start
        peak = peak_rss_mib()
        ids = await folder_ids(store)
        inbox = ids["INBOX"]
        seen: set[int] = set()
        newest = float("nan")
        for stamp, event in timeline.events:
            if event.folder_id == inbox:
                seen.update(event.added)
                if len(seen) >= FIRST_ROWS:
                    newest = stamp - start
                    break
        uids = await store.folder_uids(inbox)
        newest_ok = set(uids[-FIRST_ROWS:]) <= seen
        rows = sum([await store.message_count(folder_id) for folder_id in ids.values()])
        start = time.perf_counter()
        await index_all_headers(store)
        indexing = time.perf_counter() - start
        return FirstSync(newest, newest_ok, complete, rows, peak, indexing)
    finally:
        await store.close()


@dataclass(frozen=True)
class Resync:
    """No-change resync timings of one mode."""

    mode: str
    runs: list[float]
    changed_events: int  # MessagesChanged seen during the runs (a no-change resync has none)
    sample: list[str]  # the first few of them, for the report


async def engine_resync(
    user: MailUser,
    data_dir: Path,
    mode: str,
    disabled: frozenset[str],
    runs: int,
    profiler: Profiler,
) -> Resync:
    """``run_once`` on the synced store, ``runs`` times, with some extensions left unused."""
    config = config_for(user, data_dir)
    store = await Store.open(data_dir / "mailtui.sqlite3")
    times: list[float] = []
    changed = 0
    sample: list[str] = []
    try:
        for run in range(runs):
            account = AccountSync(
                config.accounts[0],
                store,
                SyncSettings(disabled_extensions=disabled, prefetch="none"),
            )
            async with watched(store) as timeline:
                start = time.perf_counter()
                work = account.run_once()
                if run == runs - 1:
                    await profiler.run(f"resync-{mode}", work)
                else:
                    await work
                times.append(time.perf_counter() - start)
            changed += len(timeline.events)
            sample += [_describe(event) for _, event in timeline.events[: 3 - len(sample)]]
    finally:
        await store.close()
    return Resync(mode, times, changed, sample)


def _describe(event: MessagesChanged) -> str:
    def some(uids: tuple[int, ...]) -> str:
        return f"{len(uids)} {list(uids[:5])}{'...' if len(uids) > 5 else ''}"

    return (
        f"folder {event.folder_id}: added {some(event.added)}, removed {some(event.removed)},"
        f" updated {some(event.updated)}"
    )


@dataclass(frozen=True)
class Live:
    """Another device's changes to the store, one at a time."""

    settings: SyncSettings
    latencies: dict[str, list[float]]  # by kind of change
    lost: dict[str, int]  # by kind of change
    planned: int
    peak_rss_mib: float

    @property
    def all_latencies(self) -> list[float]:
        """Every measured latency, whatever the kind."""
        return [value for values in self.latencies.values() for value in values]


@dataclass(frozen=True)
class Change:
    """One change the device made: where, which UID, and when its command returned."""

    kind: str
    folder: str
    uid: int
    done: float  # perf_counter when the device's command returned


LIVE_KINDS = ("flag-inbox", "flag-other", "append-inbox", "append-other")
GIVE_UP_AFTER = 5  # consecutive lost changes: the engine is not listening, stop waiting


def make_change(device: Device, kind: str, uid: int, index: int) -> Change:
    """Run one change on the device (in a worker thread); stamp when its command returns."""
    folder = "INBOX" if kind.endswith("inbox") else OTHER_FOLDER
    if kind.startswith("flag"):
        device.add_flags(folder, [uid], ["\\Flagged"])
    else:
        uid = device.append(folder, make_message(index, subject=f"live change {index}"))
    return Change(kind, folder, uid, time.perf_counter())


def _reflects(event: MessagesChanged, folder_id: int, change: Change) -> bool:
    wanted = event.updated if change.kind.startswith("flag") else event.added
    return event.folder_id == folder_id and change.uid in wanted


async def _arrival(timeline: Timeline, mark: int, folder_id: int, change: Change) -> float | None:
    """When the store event reflecting ``change`` was received (events from ``mark`` on)."""
    deadline = change.done + LIVE_TIMEOUT
    while True:
        for stamp, event in timeline.events[mark:]:
            if _reflects(event, folder_id, change):
                return stamp
        mark = len(timeline.events)
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return None
        timeline.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(timeline.arrived.wait(), remaining)


async def engine_live(
    user: MailUser, data_dir: Path, args: argparse.Namespace, settings: SyncSettings
) -> Live:
    """Run the engine live on the synced store while a device makes changes one by one."""
    config = config_for(user, data_dir)
    store = await Store.open(data_dir / "mailtui.sqlite3")
    device = await asyncio.to_thread(Device.connect, user)
    rng = random.Random(4)
    plan = [LIVE_KINDS[index % len(LIVE_KINDS)] for index in range(args.changes)]
    rng.shuffle(plan)
    per_folder = args.count // args.folders
    # Distinct seeded messages, never flagged before: every flag change is a real change.
    candidates = rng.sample(range(1, per_folder + 1), k=min(per_folder, args.changes))
    latencies: dict[str, list[float]] = {kind: [] for kind in LIVE_KINDS}
    lost = dict.fromkeys(LIVE_KINDS, 0)
    streak = 0
    try:
        account = AccountSync(config.accounts[0], store, settings)
        reset_peak_rss()
        async with watched(store) as timeline, asyncio.TaskGroup() as tasks:
            live = tasks.create_task(account.run_live())
            await asyncio.wait_for(account.wait_live(), 120)
            ids = await folder_ids(store)
            await asyncio.sleep(0.5)  # let the first pass's last events settle
            for number, kind in enumerate(plan):
                mark = len(timeline.events)
                change = await asyncio.to_thread(
                    make_change, device, kind, candidates[number], 2 * args.count + number
                )
                found = await _arrival(timeline, mark, ids[change.folder], change)
                if found is None:
                    lost[kind] += 1
                    streak += 1
                    if streak >= GIVE_UP_AFTER:
                        print(f"  live: {streak} changes in a row never reached the store; stop")
                        break
                else:
                    streak = 0
                    latencies[kind].append(max(0.0, found - change.done))
                await asyncio.sleep(0.1 + rng.random() * 0.1)  # a human pace, not a burst
            live.cancel()
        peak = peak_rss_mib()
    finally:
        await asyncio.to_thread(device.close)
        await store.close()
    return Live(settings, latencies, lost, len(plan), peak)


# ------------------------------------------------------------------------------ mbsync


@dataclass(frozen=True)
class MbsyncResult:
    """mbsync full pull and no-change resyncs of one account."""

    pull: float
    resyncs: list[float]
    messages: int
    peak_rss_mib: float


def mbsync_config(user: MailUser, base: Path) -> Path:
    """Write an mbsyncrc pulling every folder of ``user`` into a Maildir under ``base``."""
    local = base / "maildir"
    local.mkdir(parents=True, exist_ok=True)
    server = user.server
    rc = base / "mbsyncrc"
    rc.write_text(
        f"""IMAPAccount bench
Host {server.host}
Port {server.imap_port}
User {user.username}
Pass {user.password}
SSLType None
# Plain LOGIN over loopback without TLS: mbsync wants that spelled out.
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns *
Create Near
SyncState *
""",
        encoding="utf-8",
    )
    rc.chmod(0o600)
    return rc


def run_mbsync(rc: Path) -> tuple[float, float]:
    """Run ``mbsync -c rc -a``; return its wall time and its peak RSS in MiB.

    The peak is mbsync's VmHWM sampled every 20 ms while it runs: getrusage of a child would
    count this process's memory too, copied into the child at fork before the exec.
    """
    log = rc.with_suffix(".log")
    peak_kib = [0]

    def sample(pid: int, done: threading.Event) -> None:
        status = Path(f"/proc/{pid}/status")
        while not done.wait(0.02):
            with contextlib.suppress(OSError, ValueError):
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kib[0] = max(peak_kib[0], int(line.split()[1]))

    with log.open("wb") as output:
        start = time.perf_counter()
        process = subprocess.Popen(
            ["mbsync", "-c", str(rc), "-a"], stdout=output, stderr=subprocess.STDOUT
        )
        done = threading.Event()
        sampler = threading.Thread(target=sample, args=(process.pid, done), daemon=True)
        sampler.start()
        process.wait()  # timed here, not by the sampler's 20 ms steps
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"mbsync failed ({process.returncode}):\n{tail}")
    return elapsed, peak_kib[0] / 1024


def count_maildir(root: Path) -> int:
    """Messages in every cur/ and new/ below ``root``."""
    return sum(
        1
        for directory in root.rglob("*")
        if directory.name in ("cur", "new") and directory.is_dir()
        for _ in os.scandir(directory)
    )


def mbsync(user: MailUser, base: Path, runs: int) -> MbsyncResult:
    """Full pull into an empty Maildir, then ``runs`` no-change resyncs."""
    if shutil.which("mbsync") is None:
        raise RuntimeError("mbsync is not installed (Debian: apt-get install isync)")
    rc = mbsync_config(user, base)
    pull, peak = run_mbsync(rc)
    resyncs = []
    for _ in range(runs):
        elapsed, rss = run_mbsync(rc)
        resyncs.append(elapsed)
        peak = max(peak, rss)
    return MbsyncResult(pull, resyncs, count_maildir(base / "maildir"), peak)


# ------------------------------------------------------------------------------ report


@dataclass
class Table:
    """Rows of figure, measured, reference, ratio, target, verdict."""

    rows: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)

    def add(
        self,
        name: str,
        seconds: float,
        *,
        reference: float | None = None,
        target: str = "",
        ok: bool | None = None,
        note: str = "",
    ) -> None:
        """Add a timing row; the ratio is ``seconds / reference``."""
        ratio = f"{seconds / reference:.2f}x" if reference else ""
        ref = f"{reference:.3f} s" if reference is not None else ""
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        if note:
            verdict = f"{verdict} {note}".strip()
        self.rows.append((name, f"{seconds:.3f} s", ref, ratio, target, verdict))

    def text(self) -> str:
        """The table, aligned."""
        header = ("figure", "measured", "floor/ref", "ratio", "target", "")
        rows = [header, *self.rows]
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        lines = []
        for index, row in enumerate(rows):
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(width) for cell, width in zip(row[1:5], widths[1:5], strict=True)]
            cells.append(row[5])
            lines.append("  ".join(cells).rstrip())
            if index == 0:
                lines.append("-" * len(lines[0]))
        return "\n".join(lines)


def fetch_items() -> str:
    """The engine's header FETCH items on a CONDSTORE/QRESYNC server, as one IMAP list."""
    return "(" + " ".join(header_items(ServerFeatures(condstore=True, qresync=True))) + ")"


async def engine_first_syncs(
    first: MailUser, base: Path, args: argparse.Namespace, profiler: Profiler
) -> list[FirstSync]:
    """The INBOX user's first syncs, each into a fresh store."""
    first_runs = []
    for run in range(args.first_sync_runs):
        result = await engine_first_sync(
            first, base / "store-first", profiler if run == 0 else Profiler(None), "first-sync"
        )
        print(
            f"  engine first sync #{run + 1}: newest {FIRST_ROWS} {result.newest:.3f} s,"
            f" complete {result.complete:.2f} s, {result.rows} rows;"
            f" header search index afterwards {result.indexing:.2f} s",
            flush=True,
        )
        first_runs.append(result)
    return first_runs


async def engine_phases(
    first: MailUser,
    spread: MailUser,
    base: Path,
    args: argparse.Namespace,
    profiler: Profiler,
) -> tuple[list[FirstSync], FirstSync, list[Resync], Live]:
    """Every engine measurement, in one event loop."""
    first_runs = await engine_first_syncs(first, base, args, profiler)
    spread_sync = await engine_first_sync(
        spread, base / "store-spread", profiler, "first-sync-spread"
    )
    print(f"  engine first sync (spread): {spread_sync.complete:.2f} s", flush=True)
    resyncs = []
    # QRESYNC first: a plain resync records no HIGHESTMODSEQ, which QRESYNC needs.
    for mode, disabled in (
        ("QRESYNC", frozenset[str]()),
        ("CONDSTORE", frozenset({"QRESYNC"})),
        ("plain", frozenset({"QRESYNC", "CONDSTORE"})),
    ):
        resync = await engine_resync(
            spread, base / "store-spread", mode, disabled, args.repeat, profiler
        )
        print(f"  resync {mode}: median {median(resync.runs):.3f} s", flush=True)
        resyncs.append(resync)
    live_settings = SyncSettings(
        poll_interval=args.live_poll,
        disabled_extensions=frozenset(args.live_disable),
        prefetch=args.live_prefetch,
    )
    live = await engine_live(spread, base / "store-spread", args, live_settings)
    return first_runs, spread_sync, resyncs, live


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    """Seed, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="messages per account")
    parser.add_argument("--folders", type=int, default=10, help="folders of the spread account")
    parser.add_argument("--changes", type=int, default=50, help="live changes by the device")
    parser.add_argument("--repeat", type=int, default=5, help="floor, resync and mbsync runs")
    parser.add_argument("--first-sync-runs", type=int, default=3, help="engine first syncs")
    parser.add_argument(
        "--live-disable",
        action="append",
        default=[],
        metavar="EXT",
        help="leave this extension unused in the live phase (e.g. NOTIFY); repeatable",
    )
    parser.add_argument(
        "--live-poll", type=float, default=60.0, help="poll interval of the live phase (s)"
    )
    parser.add_argument(
        "--live-prefetch",
        choices=("none", "recent", "all"),
        default=SyncSettings().prefetch,
        help="body prefetch policy while live (default: the engine's default)",
    )
    parser.add_argument("--skip-mbsync", action="store_true", help="leave mbsync out")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of engine phases here")
    parser.add_argument(
        "--first-only",
        action="store_true",
        help="only the INBOX user's floor and first syncs (quick iterations)",
    )
    parser.add_argument(
        "--server-dir",
        type=Path,
        help="keep the private Dovecot (and the INBOX user's seeded mail) in this directory"
        " and reuse it in later runs, instead of seeding into a temporary one",
    )
    args = parser.parse_args()
    if args.count < FIRST_ROWS * args.folders or args.folders < 2:
        parser.error(f"need --folders >= 2 and --count >= {FIRST_ROWS} x --folders")

    profiler = Profiler(args.profile)
    print(f"load average at start: {_load()}", flush=True)
    base = Path(tempfile.mkdtemp(prefix="mailtui-bench-sync-"))
    base.chmod(0o755)  # Dovecot's mail user must traverse it
    server_dir = args.server_dir if args.server_dir is not None else base / "dovecot"
    server = DovecotServer.start(server_dir)
    spread: MailUser | None = None
    try:
        first = first_user(server, args.count, cached=args.server_dir is not None)
        if not args.first_only:
            # Changed by the live phase: a fresh user every run.
            spread = server.add_user()
            seed_spread(server, spread, args)
        items = fetch_items()
        folders = spread_folders(args.folders)
        print(f"floor: UID FETCH 1:* {items}", flush=True)
        # The first run is cold (Dovecot parses and caches every message once); the rest warm.
        floor_first = run_floor(first, ["INBOX"], items, 1 + args.repeat)
        floor_spread = None
        if spread is not None:
            floor_spread = run_floor(spread, folders, items, 1 + args.repeat)
        print(
            f"  floor warm: {min(floor_first.runs[1:]):.2f} s (first)"
            + (f", {min(floor_spread.runs[1:]):.2f} s (spread)" if floor_spread else ""),
            flush=True,
        )
        if spread is None:
            first_runs = asyncio.run(engine_first_syncs(first, base, args, profiler))
            report_first_sync(args, floor_first, None, first_runs, None)
            print(f"load average at the end: {_load()} ({os.cpu_count()} CPUs)")
            for line in profiler.reports:
                print("\n" + line)
            return
        first_runs, spread_sync, resyncs, live = asyncio.run(
            engine_phases(first, spread, base, args, profiler)
        )
        engine_peak = lifetime_peak_rss_mib()
        mbsync_result = None
        if not args.skip_mbsync:
            print("mbsync ...", flush=True)
            mbsync_result = mbsync(spread, base / "mbsync", args.repeat)
        assert floor_spread is not None
        report_first_sync(args, floor_first, floor_spread, first_runs, spread_sync)
        report_rest(args, mbsync_result, spread_sync, resyncs, live)
        print(f"\npeak RSS of this process (engine, store, seeding): {engine_peak:.0f} MiB")
        print(f"load average at the end: {_load()} ({os.cpu_count()} CPUs; others' load skews)")
        for line in profiler.reports:
            print("\n" + line)
    finally:
        server.stop()
        if spread is not None and args.server_dir is not None:
            shutil.rmtree(server.home(spread.username), ignore_errors=True)
            (server.base_dir / "users" / spread.username).unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def report_first_sync(
    args: argparse.Namespace,
    floor_first: FloorResult,
    floor_spread: FloorResult | None,
    first_runs: list[FirstSync],
    spread_sync: FirstSync | None,
) -> None:
    """Print the first-sync figures beside the floor and the targets (the spread account's
    too, when it was measured)."""
    table = Table()
    warm = min(floor_first.runs[1:])
    table.add(f"floor cold, INBOX {floor_first.messages} msgs", floor_first.runs[0])
    table.add(f"floor warm (best of {args.repeat})", warm)
    newest = median([run.newest for run in first_runs])
    complete = median([run.complete for run in first_runs])
    table.add(
        f"engine: newest {FIRST_ROWS} in store (median)",
        newest,
        target=f"<= {TARGET_NEWEST} s",
        ok=newest <= TARGET_NEWEST and all(run.newest_ok for run in first_runs),
        note="" if all(run.newest_ok for run in first_runs) else "(not the newest UIDs!)",
    )
    table.add(
        "engine: first sync, headers (median)",
        complete,
        reference=warm,
        target=f"<= {TARGET_FIRST_SYNC_RATIO:.0f}x",
        ok=complete <= TARGET_FIRST_SYNC_RATIO * warm,
    )
    indexing = median([run.indexing for run in first_runs])
    table.add("  then: header search index (median)", indexing, note="deferred, not in the above")
    table.add("  first sync + search index", complete + indexing, reference=warm)
    if floor_spread is not None and spread_sync is not None:
        spread_warm = min(floor_spread.runs[1:])
        table.add(f"floor cold, {args.folders} folders", floor_spread.runs[0])
        table.add(f"floor warm, {args.folders} folders", spread_warm)
        table.add(
            f"engine: first sync, {args.folders} folders",
            spread_sync.complete,
            reference=spread_warm,
            target=f"<= {TARGET_FIRST_SYNC_RATIO:.0f}x",
            ok=spread_sync.complete <= TARGET_FIRST_SYNC_RATIO * spread_warm,
        )
    print(f"\n== first sync: {args.count} messages, engine items {fetch_items()}")
    print(table.text())
    rows = {run.rows for run in first_runs}
    spread_rows = f"{spread_sync.rows} (spread user)" if spread_sync else "spread user skipped"
    spread_peak = f", {spread_sync.peak_rss_mib:.0f} MiB (spread)" if spread_sync else ""
    print(
        f"rows in the store after each first sync: {sorted(rows)} (INBOX user),"
        f" {spread_rows}; engine peak RSS during first sync:"
        f" {max(run.peak_rss_mib for run in first_runs):.0f} MiB (INBOX){spread_peak};"
        f" floor child peak RSS: {floor_first.peak_rss_mib:.0f} MiB"
    )


def report_rest(
    args: argparse.Namespace,
    mbsync_result: MbsyncResult | None,
    spread_sync: FirstSync,
    resyncs: list[Resync],
    live: Live,
) -> None:
    """Print resync, live and mbsync figures."""
    table = Table()
    for resync in resyncs:
        value = median(resync.runs)
        target = f"<= {TARGET_QRESYNC} s" if resync.mode == "QRESYNC" else "(report)"
        ok = value <= TARGET_QRESYNC if resync.mode == "QRESYNC" else None
        note = f"best {min(resync.runs):.3f} s"
        if resync.changed_events:
            note += f", {resync.changed_events} change events! e.g. {'; '.join(resync.sample)}"
        table.add(f"engine resync, {resync.mode} (median)", value, target=target, ok=ok, note=note)
    if mbsync_result is not None:
        table.add(
            "mbsync no-change resync (median)",
            median(mbsync_result.resyncs),
            note=f"best {min(mbsync_result.resyncs):.3f} s",
        )
    print(f"\n== no-change resync: {args.count} messages in {args.folders} folders")
    print(table.text())

    table = Table()
    every = live.all_latencies
    if every:
        p95 = percentile(every, 0.95)
        table.add("live p50, all changes", percentile(every, 0.5))
        table.add(
            "live p95, all changes",
            p95,
            target=f"<= {TARGET_LIVE_P95} s",
            ok=p95 <= TARGET_LIVE_P95 and not sum(live.lost.values()),
            note=f"{sum(live.lost.values())} lost" if sum(live.lost.values()) else "",
        )
        table.add("live max", max(every))
        for kind, values in live.latencies.items():
            if values:
                table.add(
                    f"  {kind}: p50 of {len(values)}",
                    percentile(values, 0.5),
                    note=f"max {max(values):.3f} s, {live.lost[kind]} lost",
                )
    disabled = ", ".join(sorted(live.settings.disabled_extensions)) or "none"
    print(
        f"\n== live: device change -> store event, {live.planned} changes"
        f" (flags in INBOX and {OTHER_FOLDER}, appends to both; extensions left unused:"
        f" {disabled}; poll interval {live.settings.poll_interval:g} s;"
        f" body prefetch {live.settings.prefetch!r})"
    )
    print(table.text())
    print(
        f"lost (not in the store within {LIVE_TIMEOUT:.0f} s): {sum(live.lost.values())}"
        f" of {len(every) + sum(live.lost.values())} tried"
        f" ({', '.join(f'{kind} {count}' for kind, count in live.lost.items())});"
        f" engine peak RSS while live: {live.peak_rss_mib:.0f} MiB"
    )

    if mbsync_result is not None:
        table = Table()
        table.add(
            "engine first sync (headers only)",
            spread_sync.complete,
        )
        table.add(
            "mbsync full pull (whole messages)",
            mbsync_result.pull,
            reference=spread_sync.complete,
            note="ratio = mbsync / engine",
        )
        print(f"\n== mbsync (isync) on the same {args.folders}-folder account")
        print(table.text())
        print(
            f"mbsync pulled {mbsync_result.messages} messages;"
            f" its peak RSS: {mbsync_result.peak_rss_mib:.0f} MiB"
        )


if __name__ == "__main__":
    main()
