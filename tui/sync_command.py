"""``mailtui sync``: the engine without the interface, once or live until SIGINT/SIGTERM.

Headless: this module never imports Textual. Progress goes to stderr, as a rewritten status
line when stderr is a terminal and as plain lines otherwise; details go to the log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from sync.clean import clean_text
from sync.config import Config
from sync.engine.account import AccountFatalError, AccountSync
from sync.engine.events import (
    ConnectionPhase,
    ConnectionStateChanged,
    EngineEvent,
    FolderSynced,
    NewMail,
    SyncProgress,
)
from sync.engine.runner import open_account_syncs
from sync.events import EventBus, Subscription
from sync.imap import ImapError
from sync.logsetup import configure_logging
from sync.paths import data_dir, log_dir, store_path

__all__ = ["run_sync_command"]

EXIT_OK = 0
EXIT_FAILURE = 1


def run_sync_command(config: Config, *, once: bool, verbose: bool = False) -> int:
    """Run ``mailtui sync [--once]``; return the process exit status."""
    configure_logging(log_dir(config), verbose=verbose, to_stderr=True)
    return asyncio.run(_main(config, once=once, out=sys.stderr))


class _Reporter:
    """Turns engine events into what a person watching stderr wants to see."""

    def __init__(self, out: TextIO, *, once: bool) -> None:
        self.out = out
        # With --once, a failure ends the command with its own final line: no state lines.
        self.once = once
        self.tty = out.isatty()
        self._status_shown = False

    def _line(self, text: str) -> None:
        if self._status_shown:
            self.out.write("\r\x1b[K")
            self._status_shown = False
        self.out.write(text + "\n")
        self.out.flush()

    def _status(self, text: str) -> None:
        self.out.write("\r\x1b[K" + text)
        self.out.flush()
        self._status_shown = True

    def show(self, event: EngineEvent) -> None:
        if isinstance(event, SyncProgress):
            if self.tty:
                width = 30
                filled = width * event.done // max(event.total, 1)
                bar = "#" * filled + "-" * (width - filled)
                folder = clean_text(event.folder, max_length=40)
                self._status(f"{event.account} {folder} [{bar}] {event.done}/{event.total}")
        elif isinstance(event, FolderSynced):
            if event.added or event.removed or event.changed:
                folder = clean_text(event.folder, max_length=60)
                self._line(
                    f"{event.account}: {folder}: {event.added} new, {event.removed} removed,"
                    f" {event.changed} changed"
                )
        elif isinstance(event, ConnectionStateChanged):
            if self.once:
                return
            if event.phase in (ConnectionPhase.OFFLINE, ConnectionPhase.FAILED):
                retry = f"; retrying in {event.retry_in:.0f} s" if event.retry_in else ""
                self._line(f"{event.account}: {event.phase.value}: {event.detail}{retry}")
            elif event.phase == ConnectionPhase.ONLINE:
                self._line(f"{event.account}: online")
        elif isinstance(event, NewMail):
            sender = clean_text(event.sender, max_length=40)
            subject = clean_text(event.subject, max_length=80)
            self._line(f"{event.account}: new in {clean_text(event.folder)}: {sender}: {subject}")

    def finish(self) -> None:
        if self._status_shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._status_shown = False

    async def consume(self, events: Subscription[EngineEvent]) -> None:
        async for event in events:
            self.show(event)


async def _main(config: Config, *, once: bool, out: TextIO) -> int:
    from sync.store import Store

    if not config.accounts:
        out.write("mailtui: the config has no [accounts.NAME] table; nothing to sync\n")
        return EXIT_FAILURE
    directory = data_dir(config)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = await Store.open(store_path(directory))
    reporter = _Reporter(out, once=once)
    bus: EventBus[EngineEvent] = EventBus()
    status = EXIT_OK
    try:
        with open_account_syncs(config, store, directory / "locks", events=bus) as run:
            for name in run.locked_elsewhere:
                out.write(f"mailtui: {name} is being synced by another mailtui process; skipped\n")
            if not run.syncs:
                return EXIT_FAILURE
            events = bus.subscribe()
            main = asyncio.current_task()
            loop = asyncio.get_running_loop()
            stop_signals = (signal.SIGINT, signal.SIGTERM)
            for signum in stop_signals:
                loop.add_signal_handler(signum, _cancel, main)
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(reporter.consume(events))
                    try:
                        if once:
                            status = await _run_each_once(run.syncs, out, reporter)
                        else:
                            # Another process (a TUI) may queue operations in this store.
                            watcher = tasks.create_task(store.watch_external())
                            try:
                                await run.run_live()
                            finally:
                                watcher.cancel()
                    finally:
                        events.close()
            except asyncio.CancelledError:
                status = EXIT_OK  # SIGINT/SIGTERM: a clean stop
            finally:
                for signum in stop_signals:
                    loop.remove_signal_handler(signum)
        return status
    finally:
        reporter.finish()
        await store.close()


def _cancel(task: asyncio.Task[object] | None) -> None:
    if task is not None:
        task.cancel()


async def _run_each_once(syncs: Sequence[AccountSync], out: TextIO, reporter: _Reporter) -> int:
    status = EXIT_OK
    for account_sync in syncs:
        name = account_sync.account.name
        try:
            await account_sync.run_once()
        except AccountFatalError as exc:
            reporter.finish()
            out.write(f"mailtui: {name}: {clean_text(str(exc))}\n")
            status = EXIT_FAILURE
        except (ImapError, OSError) as exc:
            reporter.finish()
            out.write(f"mailtui: {name}: cannot sync: {clean_text(str(exc))}\n")
            status = EXIT_FAILURE
    with contextlib.suppress(Exception):
        out.flush()
    return status
