"""Large-message benchmark: Enter on an uncached 25 MB message to its text on screen (issue 7).

Run from the repository root: ``python benchmarks/bench_large_message.py [--repeat 3]``.

Starts a private Dovecot (``sync.dovecot``) in a temporary directory and appends one message:
a short text part and a 25 MiB attachment (about 34 MB base64). The whole app runs headless
(``App.run_test``, Pilot) on the real ``StoreBackend`` with ``prefetch = "none"``, talking to
the server through the test rig's loopback proxy (``tests.rig.proxy``), which counts the
bytes the server sends. Each run uses a fresh store (so the body is never cached), waits
until the engine is live and idle, then presses Enter and measures, with
``time.perf_counter``, until the text is in the reader, and how many bytes came from the
server meanwhile (on the on-demand connection and any other).

Two modes:

- partial: as shipped (BODYSTRUCTURE and header first, then the text part; the attachment
  stays on the server);
- whole: ``PARTIAL_THRESHOLD`` raised out of reach, as before issue 7 (``BODY.PEEK[]``).

In partial mode it also measures ``s`` on the attachment to the save prompt (the deferred
download of the whole message, and its layout). Loopback Dovecot moves ~1 GB/s, so the time
saved here is the floor of what a real link saves; the bytes are what a real link pays.

``--typical`` measures instead the issue's two typical messages uncached (their cached
figures come from ``bench_reader_ui.py``): the 60 KB HTML-only newsletter and the 1 MB plain
discussion, each in its own mailbox, from Enter to the body shown, on a fresh store each run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from textual.pilot import Pilot

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sync.config import parse_config
from sync.dovecot import DovecotServer, MailUser
from sync.engine import bodies
from sync.engine.account import SyncSettings
from sync.paths import store_path
from sync.store import Store
from tests.engine.helpers import config_text
from tests.rig.device import Device
from tests.rig.proxy import FaultProxy
from tui.app import MailApp
from tui.backend import StoreBackend
from tui.screens.reader_dialogs import PromptScreen

SIZE = (120, 40)
TEXT = "Here are the photos from the trip."


def big_message(size: int) -> bytes:
    """A text part and a ``size``-byte attachment, base64 on 76-character lines."""
    encoded = base64.encodebytes(os.urandom(size)).replace(b"\n", b"\r\n")
    head = (
        "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: Holiday photos\r\n"
        "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{TEXT}\r\n"
        '--b\r\nContent-Type: application/zip; name="photos.zip"\r\n'
        'Content-Disposition: attachment; filename="photos.zip"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode() + encoded + b"--b--\r\n"


@dataclass
class Run:
    """One open: seconds from Enter to the text, bytes sent by the server meanwhile, and
    (partial mode) seconds from ``s`` to the save prompt and the bytes of that download."""

    text_seconds: float
    text_bytes: int
    save_seconds: float | None = None
    save_bytes: int | None = None


@contextlib.asynccontextmanager
async def app_on(
    user: MailUser, port: int, data_dir: Path
) -> AsyncIterator[tuple[MailApp, Pilot[None]]]:
    """The app on a fresh store, its account reached through the relay's ``port``."""
    config = parse_config(config_text(user, data_dir, port=port), data_dir / "config.toml")
    store = await Store.open(store_path(data_dir))
    try:
        settings = SyncSettings(prefetch="none")
        async with StoreBackend(
            config, store, lock_dir=data_dir / "locks", settings=settings
        ) as backend:
            app = MailApp(backend)
            async with app.run_test(size=SIZE) as pilot:
                async with asyncio.timeout(60):
                    await backend.wait_live()
                    while app.message_list.row_at(0) is None:
                        await pilot.pause(0.01)
                await pilot.pause(0.3)  # the engine settles into IDLE
                yield app, pilot
    finally:
        await store.close()


async def one_run(user: MailUser, relay: FaultProxy, data_dir: Path, partial: bool) -> Run:
    """Open the message once on a fresh store; with ``partial``, then ask to save."""
    async with app_on(user, relay.port, data_dir) as (app, pilot):
        reader = app.reader
        before = relay.bytes_down
        start = time.perf_counter()
        await pilot.press("enter")
        while TEXT not in reader.body_text:
            await pilot.pause(0.001)
        run = Run(time.perf_counter() - start, relay.bytes_down - before)
        if partial:
            before = relay.bytes_down
            start = time.perf_counter()
            await pilot.press("s")
            while not isinstance(app.screen, PromptScreen):
                await pilot.pause(0.001)
            run.save_seconds = time.perf_counter() - start
            run.save_bytes = relay.bytes_down - before
            await pilot.press("escape")
    return run


async def open_uncached(user: MailUser, relay: FaultProxy, data_dir: Path) -> Run:
    """Open the newest message of ``user`` once on a fresh store: Enter to the body shown."""
    async with app_on(user, relay.port, data_dir) as (app, pilot):
        before = relay.bytes_down
        start = time.perf_counter()
        await pilot.press("enter")
        while not app.reader.body_shown:
            await pilot.pause(0.001)
        return Run(time.perf_counter() - start, relay.bytes_down - before)


async def measure_typical(
    server: DovecotServer, cases: list[tuple[str, MailUser]], base: Path, repeat: int
) -> dict[str, list[Run]]:
    """Open each case's message ``repeat`` times, uncached, the cases taking turns."""
    runs: dict[str, list[Run]] = {name: [] for name, _ in cases}
    with FaultProxy(server.host, server.imap_port) as relay:
        for index in range(repeat):
            for name, user in cases:
                data_dir = base / f"typical-{user.username}-{index}"
                data_dir.mkdir()
                runs[name].append(await open_uncached(user, relay, data_dir))
    return runs


def typical(server: DovecotServer, base: Path, repeat: int) -> None:
    """Print Enter -> body shown for the issue's two typical messages, uncached."""
    from benchmarks.bench_reader import discussion_message
    from benchmarks.bench_reader_ui import html_only_newsletter

    cases: list[tuple[str, MailUser]] = []
    for name, raw in (
        ("60 KB HTML newsletter", html_only_newsletter()),
        ("1 MB plain discussion", discussion_message()),
    ):
        user = server.add_user()
        device = Device.connect(user)
        try:
            device.append("INBOX", raw)
        finally:
            device.close()
        cases.append((f"{name} ({len(raw):,} bytes)", user))
    for name, runs in asyncio.run(measure_typical(server, cases, base, repeat)).items():
        print(f"{name}: Enter -> body, uncached: {_seconds([run.text_seconds for run in runs])}")
        moved = statistics.median(run.text_bytes for run in runs)
        print(f"{'':4}bytes from the server meanwhile: {moved:,.0f}")


async def measure(server: DovecotServer, user: MailUser, data_dirs: list[Path]) -> list[Run]:
    """Open the message once per data directory, alternating partial and whole."""
    threshold = bodies.PARTIAL_THRESHOLD
    runs: list[Run] = []
    try:
        with FaultProxy(server.host, server.imap_port) as relay:
            for index, data_dir in enumerate(data_dirs):
                partial = index % 2 == 0
                bodies.PARTIAL_THRESHOLD = threshold if partial else sys.maxsize
                runs.append(await one_run(user, relay, data_dir, partial))
    finally:
        bodies.PARTIAL_THRESHOLD = threshold
    return runs


def _seconds(values: list[float]) -> str:
    ms = sorted(value * 1000 for value in values)
    return f"best {ms[0]:8.1f} ms   median {statistics.median(ms):8.1f} ms   worst {ms[-1]:8.1f} ms"


def main() -> None:
    """Print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="opens per mode")
    parser.add_argument("--mib", type=int, default=25, help="attachment size in MiB")
    parser.add_argument(
        "--typical",
        action="store_true",
        help="the 60 KB HTML newsletter and 1 MB plain message uncached, instead",
    )
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    base = Path(tempfile.mkdtemp(prefix="mailtui-bench-large-"))
    base.chmod(0o755)  # Dovecot's mail processes must traverse it
    server = DovecotServer.start(base / "dovecot")
    if args.typical:
        try:
            typical(server, base, args.repeat)
        finally:
            server.stop()
            shutil.rmtree(base, ignore_errors=True)
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
        return
    try:
        user = server.add_user()
        raw = big_message(args.mib * 1024 * 1024)
        device = Device.connect(user)
        try:
            device.append("INBOX", raw)
        finally:
            device.close()
        print(f"message: {len(raw):,} bytes; partial above {bodies.PARTIAL_THRESHOLD:,}")
        data_dirs = [base / f"run-{index}" for index in range(2 * args.repeat)]
        for data_dir in data_dirs:
            data_dir.mkdir()
        runs = asyncio.run(measure(server, user, data_dirs))
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    results = {"partial": runs[0::2], "whole": runs[1::2]}
    for mode, mode_runs in results.items():
        text_bytes = statistics.median(run.text_bytes for run in mode_runs)
        print(f"{mode:8} Enter -> text: {_seconds([run.text_seconds for run in mode_runs])}")
        print(f"{'':8} bytes from the server meanwhile: {text_bytes:,.0f}")
        saves = [run.save_seconds for run in mode_runs if run.save_seconds is not None]
        if saves:
            save_bytes = statistics.median(run.save_bytes or 0 for run in mode_runs)
            print(f"{'':8} s -> save prompt (whole download): {_seconds(saves)}")
            print(f"{'':8} bytes from the server meanwhile: {save_bytes:,.0f}")
    whole = statistics.median(run.text_seconds for run in results["whole"])
    partial = statistics.median(run.text_seconds for run in results["partial"])
    print(f"median Enter -> text, whole / partial: {whole / partial:.1f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
