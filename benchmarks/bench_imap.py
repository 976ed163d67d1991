"""Benchmark the IMAP core against stdlib imaplib and aioimaplib on the same private Dovecot.

Run: ``python benchmarks/bench_imap.py [--count 100000] [--aio-count 2000]``.

Seeds ``--count`` messages into a private Dovecot (sync.dovecot) with the test corpus, warms
Dovecot's cache once, then times ``UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE
ENVELOPE)``:

- imaplib: raw receive only (imaplib splits lines and literals, parses nothing) — the floor;
- ours: :class:`sync.imap.ImapClient` with every response parsed into typed results;
- aioimaplib (benchmark-only extra, GPL): its time grows with the square of the response, so
  it runs on the first ``--aio-count`` messages only, under ``--aio-timeout``, next to
  imaplib and ours on that same subset.

Each figure is the best of ``--repeat`` runs. The issue's target: ours within 3x of imaplib.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import imaplib
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' corpus

from sync.dovecot import DovecotServer, MailUser
from sync.imap import ImapClient
from tests.rig.corpus import make_message, seed_maildir

ITEMS = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"


def _fetch_line(item: object) -> bool:
    """Is this imaplib data item the start of a FETCH response (``n (UID ...``)?"""
    line = item[0] if isinstance(item, tuple) else item
    return isinstance(line, bytes) and re.match(rb"\d+ \(", line) is not None


def imaplib_fetch(user: MailUser, last: str) -> tuple[float, int]:
    """stdlib imaplib: time to receive the whole response (no parsing of its contents)."""
    server = user.server
    imap = imaplib.IMAP4(server.host, server.imap_port)
    try:
        imap.login(user.username, user.password)
        imap.select("INBOX", readonly=True)
        start = time.perf_counter()
        status, data = imap.uid("FETCH", f"1:{last}", ITEMS)
        elapsed = time.perf_counter() - start
        assert status == "OK", status
        return elapsed, sum(1 for item in data if _fetch_line(item))
    finally:
        imap.logout()


async def ours_fetch(user: MailUser, last: str) -> tuple[float, int]:
    """Our client: receive and parse everything into FetchResult objects."""
    server = user.server
    client = await ImapClient.connect(server.host, server.imap_port, security="none")
    try:
        await client.login(user.username, user.password)
        await client.select("INBOX", readonly=True)
        kept = []
        start = time.perf_counter()
        async for batch in client.uid_fetch_iter(
            f"1:{last}", ["UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]
        ):
            kept.append(batch)  # keep the results alive, as a caller would until it commits
        elapsed = time.perf_counter() - start
        count = sum(map(len, kept))
        assert all(result.envelope is not None for batch in kept for result in batch)
        return elapsed, count
    finally:
        await client.logout()


async def aioimaplib_fetch(user: MailUser, last: str, limit: float) -> tuple[float, int] | None:
    """aioimaplib 2.x, if installed; None when it is missing or exceeds ``limit`` seconds."""
    try:
        import aioimaplib
    except ImportError:
        return None
    server = user.server
    imap = aioimaplib.IMAP4(host=server.host, port=server.imap_port, timeout=limit)
    await imap.wait_hello_from_server()
    try:
        await imap.login(user.username, user.password)
        await imap.select("INBOX")
        start = time.perf_counter()
        try:
            response = await asyncio.wait_for(imap.uid("fetch", f"1:{last}", ITEMS), limit)
        except (TimeoutError, RecursionError, aioimaplib.Abort):
            return None
        elapsed = time.perf_counter() - start
        count = sum(1 for line in response.lines if b" FETCH " in bytes(line))
        return elapsed, count
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(imap.logout(), 5)


def best(runs: int, measure: Callable[[], tuple[float, int]]) -> tuple[float, int]:
    """The fastest of ``runs`` measurements (the machine is shared; noise only adds)."""
    results = []
    for _ in range(runs):
        gc.collect()
        results.append(measure())
    return min(results)


def run_async(factory: Callable[[], Coroutine[Any, Any, tuple[float, int]]]) -> tuple[float, int]:
    """Run one async measurement in a fresh event loop."""
    return asyncio.run(factory())


def main() -> None:
    """Seed, warm up, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="messages to seed and fetch")
    parser.add_argument("--aio-count", type=int, default=2_000, help="subset for aioimaplib")
    parser.add_argument("--aio-timeout", type=float, default=120.0, help="aioimaplib limit (s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="mailtui-bench-imap-"))
    base.chmod(0o755)
    server = DovecotServer.start(base)
    try:
        user = server.add_user()
        start = time.perf_counter()
        seed_maildir(
            server,
            user.username,
            "INBOX",
            (make_message(index) for index in range(args.count)),
            flags_for=lambda index: "S" if index % 3 else "",
        )
        print(f"seeded {args.count} messages in {time.perf_counter() - start:.1f} s")
        cold, _ = imaplib_fetch(user, "*")
        print(f"cold cache (imaplib, Dovecot parses every message once): {cold:.2f} s\n")

        rows: list[tuple[str, int, float | None]] = []
        floor, got = best(args.repeat, lambda: imaplib_fetch(user, "*"))
        rows.append(("imaplib raw receive", got, floor))
        ours, got = best(args.repeat, lambda: run_async(lambda: ours_fetch(user, "*")))
        rows.append(("ours, parse included", got, ours))

        subset = str(min(args.aio_count, args.count))
        small_floor, small_got = best(args.repeat, lambda: imaplib_fetch(user, subset))
        small_ours, _ = best(args.repeat, lambda: run_async(lambda: ours_fetch(user, subset)))
        aio = asyncio.run(aioimaplib_fetch(user, subset, args.aio_timeout))

        print(f"UID FETCH 1:* {ITEMS}")
        print(f"{'client':<24}{'messages':>10}{'seconds':>10}{'x imaplib':>11}")
        for name, messages, seconds in rows:
            assert seconds is not None
            print(f"{name:<24}{messages:>10}{seconds:>10.2f}{seconds / floor:>11.2f}")
        print(f"\nfirst {subset} messages (aioimaplib is quadratic: a subset only)")
        print(f"{'imaplib raw receive':<24}{small_got:>10}{small_floor:>10.3f}{1.0:>11.2f}")
        print(
            f"{'ours, parse included':<24}{small_got:>10}{small_ours:>10.3f}"
            f"{small_ours / small_floor:>11.2f}"
        )
        if aio is None:
            print(f"{'aioimaplib':<24}{'-':>10}{'> ' + str(args.aio_timeout):>10}  (or failed)")
        else:
            print(f"{'aioimaplib':<24}{aio[1]:>10}{aio[0]:>10.3f}{aio[0] / small_floor:>11.2f}")
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
