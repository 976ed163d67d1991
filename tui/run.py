"""Starting the interface for real: ``mailtui`` (``run_app``) and ``mailtui demo`` (``run_demo``).

Order of events, and why:
1. the config's keymap and theme are checked first: a typo ends with one line and status 2,
   before anything is opened;
2. the store is opened (the data dir created, private), then the backend: it locks the
   accounts it can sync here and starts the engine, the event pumps and the change watcher;
3. the app runs on the terminal (``mouse`` from the config: off helps over slow SSH);
4. on quit (or SIGTERM/SIGHUP, as when an SSH session drops) the app's workers are waited
   for, the backend cancels its tasks and logs out, and the store is closed last: aiosqlite's
   threads are not daemons, so an open store would keep the process alive.

Logs go to the log file only; the terminal belongs to the interface. An unexpected error ends
the app with one line naming the log file, never a traceback over the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from textual.theme import BUILTIN_THEMES

from sync.config import Config
from sync.logsetup import LOG_FILENAME, configure_logging
from sync.paths import data_dir, log_dir, store_path
from sync.store import Store, StoreError
from tui.app import BackgroundJob, MailApp
from tui.backend import StoreBackend
from tui.errors import describe_error
from tui.keys import KeymapError, validate_keymap

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "run_app", "run_demo", "run_interface"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
# Long enough for a clean IMAP LOGOUT; a hung worker must not keep the process from ending.
_WORKER_GRACE = 5.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _fail(message: str) -> None:
    print(f"mailtui: {message}", file=sys.stderr)


def check_interface_config(config: Config) -> str | None:
    """What is wrong with the config's interface settings (keys, theme), or None."""
    where = f"config file {config.path}" if config.path is not None else "config"
    try:
        validate_keymap(config.keys)
    except KeymapError as error:
        return f"{where}: keys: {error}"
    if config.theme is not None and config.theme not in BUILTIN_THEMES:
        known = ", ".join(sorted(BUILTIN_THEMES))
        return f"{where}: theme: {config.theme!r} is not a theme; known themes: {known}"
    return None


def run_app(
    config: Config, *, directory: Path | None = None, background: Sequence[BackgroundJob] = ()
) -> int:
    """Run the interface on ``config`` until the user quits; return the exit status.

    ``directory`` replaces the data dir (the demo keeps everything in its own); logging is
    the caller's (``mailtui``'s command line sets it up, to the file only).
    """
    problem = check_interface_config(config)
    if problem is not None:
        _fail(problem)
        return EXIT_USAGE
    return asyncio.run(run_interface(config, directory=directory, background=background))


async def run_interface(
    config: Config,
    *,
    directory: Path | None = None,
    background: Sequence[BackgroundJob] = (),
    headless: bool = False,
) -> int:
    """Open the store and backend, run the app, shut everything down in order.

    SIGTERM and SIGHUP (an SSH session that drops) quit like ``q`` once the app runs, and
    cancel the start-up before: either way the store is closed and the locks released.
    """
    home = directory if directory is not None else data_dir(config)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    main = asyncio.current_task()
    started: list[MailApp] = []

    def stop() -> None:
        if started and started[0].is_running:
            started[0].exit()
        elif main is not None:
            main.cancel()

    loop = asyncio.get_running_loop()
    previous = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop)
    try:
        return await _open_and_run(config, home, directory, background, headless, started)
    except asyncio.CancelledError:
        return EXIT_OK  # a signal during start-up: everything opened has been closed
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)  # this resets to the default: put back ours
            signal.signal(signum, handler)


async def _open_and_run(
    config: Config,
    home: Path,
    directory: Path | None,
    background: Sequence[BackgroundJob],
    headless: bool,
    started: list[MailApp],
) -> int:
    try:
        store = await Store.open(store_path(home))
    except (StoreError, sqlite3.DatabaseError, OSError) as error:
        _fail(f"cannot open the store {store_path(home)}: {describe_error(error)}")
        return EXIT_FAILURE
    try:
        backend = StoreBackend(config, store, lock_dir=home / "locks")
        app = MailApp(
            backend,
            keymap=config.keys,
            bell_on_new_mail=config.notify.bell,
            background=background,
            on_first_frame=settle_startup_memory,
        )
        if config.theme is not None:
            app.theme = config.theme
        try:
            await backend.start()
            # The first frame's data (folders, the newest rows), so it is drawn once.
            await app.prepare()
        except (StoreError, sqlite3.DatabaseError, OSError) as error:
            _fail(f"cannot start: {describe_error(error)}")
            return EXIT_FAILURE
        try:
            started.append(app)
            await app.run_async(mouse=config.mouse, headless=headless)
            await _wait_for_workers(app)
        finally:
            await backend.aclose()
    finally:
        await store.close()
        gc.enable()  # if the first frame never came
    if app.internal_error is not None:
        logs = (home / "logs" if directory is not None else log_dir(config)) / LOG_FILENAME
        _fail(f"internal error: {describe_error(app.internal_error)} (details in {logs})")
        return EXIT_FAILURE
    return app.return_code or EXIT_OK


def settle_startup_memory() -> None:
    """After the first frame: keep what start-up made out of the garbage collector's way.

    ``mailtui`` starts with the collector off (``tui.cli``): the imports and the first frame
    make ~70k long-lived container objects, and each full collection among them took 15-35
    ms, on the start-up path and later in the middle of a key press (a PgDn of 23 ms took
    56). Frozen (``gc.freeze``), they are never traversed again; what comes later is still
    collected.
    """
    gc.freeze()
    gc.enable()


def _stop_by_exception(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _cleanup_on_signals() -> Iterator[None]:
    # Outside the app (starting or stopping the demo's server), SIGTERM/SIGHUP unwind the
    # stack, so the ``finally`` blocks stop the server and remove the temp dir.
    previous = {signum: signal.signal(signum, _stop_by_exception) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


async def _wait_for_workers(app: MailApp) -> None:
    """Textual cancels the app's workers at exit without waiting: wait for them here."""
    for worker in list(app.workers):
        worker.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker.wait(), _WORKER_GRACE)


def run_demo(*, verbose: bool = False) -> int:
    """``mailtui demo``: a private Dovecot with sample mail, a phone changing it, the TUI on it.

    Everything lives in a temp dir removed at exit. Without Dovecot it prints how to install
    it and exits 0: nothing is wrong with mailtui or the user's setup.
    """
    with _cleanup_on_signals():
        return _demo(verbose=verbose)


def _demo(*, verbose: bool) -> int:
    from sync.demo import DemoUnavailable, OtherDevice, start_demo

    directory = Path(tempfile.mkdtemp(prefix="mailtui-demo-"))
    try:
        print("mailtui demo: starting a private mail server with sample mail…", file=sys.stderr)
        try:
            demo = start_demo(directory)
        except DemoUnavailable as error:
            _fail(str(error))
            return EXIT_OK
        try:
            home = demo.config.data_dir or directory / "data"
            configure_logging(home / "logs", verbose=verbose, to_stderr=False)
            phone = OtherDevice(demo)
            return run_app(demo.config, directory=home, background=[("The demo phone", phone.run)])
        finally:
            demo.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
