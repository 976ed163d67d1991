"""The ``mailtui`` command line: the TUI, headless sync, and store queries for scripts.

Importing this module loads neither Textual nor the store: the headless commands (``sync``,
``folders``, ``list``, ``queue``, ``folder``, ``--version``, ``--help``) never load Textual,
and the TUI module is imported only when the TUI runs. docs/cli.md documents the commands,
the exit statuses and the JSON shapes (a stable scripting interface).

Exit statuses: 0 success (also a first start without a config file: the message says where
it goes), 1 the command could not do its work (unknown folder or account, nothing synced
yet, a command not built yet), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import shutil
import sqlite3
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TextIO

from sync.clean import clean_text
from sync.config import Config, ConfigError, ConfigNotFound, load_config, render_example
from sync.logsetup import configure_logging
from sync.paths import config_path, data_dir, log_dir, store_path

if TYPE_CHECKING:
    from sync.store import FolderRow, MessageRow, Store

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
# Rows per keyset page when streaming a folder: output starts at once, memory stays flat.
_PAGE: Final = 500


class _Exit(Exception):
    """Stop the command with ``status``, printing ``message`` (one line) to stderr."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _version() -> str:
    from importlib import metadata  # only for --version: reading metadata costs ~15 ms

    try:
        return metadata.version("mailtui")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "0+unknown"


class _VersionAction(argparse.Action):
    """``--version``: print ``mailtui X.Y.Z`` and exit, looking the version up only then."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"mailtui {_version()}")
        parser.exit()


def _add_global_options(parser: argparse.ArgumentParser, *, on_command: bool) -> None:
    """Add ``--config`` and ``--verbose`` (accepted before or after the command).

    Each parser gets its own actions: argparse's ``parents=`` shares action objects, and a
    default set on one would then leak into the others. On a command, the default is SUPPRESS,
    so an option not repeated there keeps the value given before the command.
    """
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS if on_command else None,
        help="config file (default: $MAILTUI_CONFIG, then the user config dir)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if on_command else False,
        help="log debug detail",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="mailtui",
        description="A keyboard-driven terminal mail client with a live, offline-first IMAP "
        "sync. Without a command, opens the full-screen interface.",
    )
    _add_global_options(parser, on_command=False)
    parser.add_argument(
        "--version", action=_VersionAction, nargs=0, help="print the version and exit"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _add_global_options(sub, on_command=True)
        return sub

    sync = command("sync", "sync with the server without the interface, until Ctrl-C")
    sync.add_argument("--once", action="store_true", help="sync every account once, then exit")

    folders = command("folders", "list synced folders with counts (no network)")
    folders.add_argument("--json", action="store_true", help="print a JSON array")
    folders.add_argument("--account", metavar="NAME", help="only this account")

    listing = command("list", "list a folder's messages, newest first (no network)")
    listing.add_argument("folder", metavar="FOLDER", help="folder name, as shown or as on server")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.add_argument("--account", metavar="NAME", help="the account holding FOLDER")

    queue = command("queue", "list changes and outgoing mail waiting for the server (no network)")
    queue.add_argument("--json", action="store_true", help="print a JSON array")
    queue.add_argument("--account", metavar="NAME", help="only this account")
    search = command("search", "search mail: the store at once, then the server for the rest")
    search.add_argument("query", metavar="QUERY", nargs="+", help="e.g. from:ann is:unread lunch")
    search.add_argument("--json", action="store_true", help="print a JSON array")
    search.add_argument("--account", metavar="NAME", help="only this account")
    search.add_argument("--local", action="store_true", help="the store only, no network")
    _add_folder_command(command("folder", "create, rename or delete a folder (queued; no network)"))
    command("demo", "try mailtui on a private local server with sample mail that keeps changing")
    return parser


def _add_folder_command(folder: argparse.ArgumentParser) -> None:
    actions = folder.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        _add_global_options(sub, on_command=True)
        return sub

    create = action("create", "create a folder; it reaches the server with the next sync")
    create.add_argument(
        "name", metavar="NAME", help="e.g. Projects/alpha (the account's delimiter)"
    )
    rename = action("rename", "rename a folder (and the folders under it)")
    rename.add_argument("old", metavar="OLD", help="folder name, as shown or as on server")
    rename.add_argument("new", metavar="NEW", help="the new name, as shown")
    delete = action("delete", "delete a folder and the messages in it")
    delete.add_argument("name", metavar="NAME", help="folder name, as shown or as on server")
    delete.add_argument("--yes", action="store_true", help="yes, delete it and its messages")
    for sub in (create, rename, delete):
        sub.add_argument("--account", metavar="NAME", help="the account holding the folder")
        sub.add_argument("--json", action="store_true", help="print a JSON object")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mailtui`` command with ``argv`` (default: ``sys.argv[1:]``); return its status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _dispatch(args)
    except _Exit as stop:
        print(f"mailtui: {stop.message}", file=sys.stderr)
        return stop.status
    except ConfigError as exc:
        print(f"mailtui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``mailtui list INBOX | head``): stop quietly, and keep Python
        # from complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE


def _dispatch(args: argparse.Namespace) -> int:
    command: str | None = args.command
    if command is None:
        return _run_tui(args)
    if command == "sync":
        return _run_sync(args)
    if command == "demo":
        return _run_demo(args)
    if command == "search":
        import asyncio

        return asyncio.run(_search(_optional_config(args), args))
    if command == "folder":
        import asyncio

        return asyncio.run(_folder_command(_optional_config(args), args))
    if command in ("folders", "list", "queue"):
        import asyncio  # here, not at the top: --version and --help start faster without it

        run = {"folders": _folders, "list": _list, "queue": _queue}[command]
        return asyncio.run(run(_optional_config(args), args))
    # Not built yet: say so in one line, fail, and do nothing else.
    raise _Exit(EXIT_FAILURE, f"'{command}' is not built yet")


def _run_tui(args: argparse.Namespace) -> int:
    path = config_path(args.config)
    try:
        config = load_config(path)
    except ConfigNotFound:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            # A first start is not an error: say where the config goes and how it looks.
            print(f"mailtui: no config file yet. Create {path}, for example:\n")
            print(render_example())
            print("Then run `mailtui sync` to fetch mail; `mailtui --help` lists the commands.")
            return EXIT_OK
        # On a terminal, the setup screen writes the config after a successful login test.
        from tui.screens.setup import run_setup  # Textual is loaded only here

        written = run_setup(path)
        if written is None:
            print(f"mailtui: setup cancelled; nothing was written to {path}")
            return EXIT_OK
        config = load_config(written)
    # No garbage collection until the first frame is on screen (tui.run turns it back on):
    # collecting among the objects the imports make costs 20-40 ms on the start-up path.
    gc.disable()
    try:
        # Textual is imported here and only here.
        run = _entry_point("tui.run", "run_app")  # run_app(config: Config) -> int
        if run is None:
            raise _Exit(
                EXIT_FAILURE,
                "the full-screen interface is not built yet; try 'mailtui folders' or "
                "'mailtui list FOLDER'",
            )
        # The TUI owns the terminal: logs go to the file only.
        configure_logging(log_dir(config), verbose=args.verbose, to_stderr=False)
        status = run(config)
    finally:
        gc.enable()
    return status if isinstance(status, int) else EXIT_OK


def _run_demo(args: argparse.Namespace) -> int:
    # run_demo(*, verbose: bool) -> int; it sets up logging (into the demo's own directory).
    run = _entry_point("tui.run", "run_demo")
    if run is None:
        raise _Exit(EXIT_FAILURE, "'demo' is not built yet")
    return int(run(verbose=args.verbose))


def _run_sync(args: argparse.Namespace) -> int:
    # run_sync_command(config: Config, *, once: bool, verbose: bool) -> int; it sets up logging.
    run = _entry_point("tui.sync_command", "run_sync_command")
    if run is None:
        raise _Exit(EXIT_FAILURE, "'sync' is not built yet")
    path = config_path(args.config)
    try:
        config = load_config(path)
    except ConfigNotFound:
        raise _Exit(
            EXIT_USAGE, f"no config file at {path}; run 'mailtui' to see an example"
        ) from None
    return int(run(config, once=args.once, verbose=args.verbose))


def _entry_point(module_name: str, attribute: str) -> Callable[..., Any] | None:
    """Import ``module_name`` lazily and return its ``attribute``; None while it is not built.

    Only the module's own absence counts as "not built": a missing dependency inside it is a
    real error and propagates.
    """
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
    entry = getattr(module, attribute, None)
    return entry if callable(entry) else None


def _optional_config(args: argparse.Namespace) -> Config | None:
    """The config if there is one: store queries need only the data dir, which has defaults."""
    try:
        return load_config(config_path(args.config))
    except ConfigNotFound:
        return None


async def _open_store(config: Config | None) -> Store:
    path = store_path(data_dir(config))
    # Store.open would create an empty database: a query must not leave one behind.
    if not path.is_file():
        raise _Exit(EXIT_FAILURE, "nothing synced yet; run 'mailtui sync'")
    from sync.store import Store, StoreError

    try:
        return await Store.open(path)
    except (StoreError, sqlite3.DatabaseError) as exc:  # newer schema, not a database...
        raise _Exit(EXIT_FAILURE, f"cannot open the store {path}: {exc}") from None


async def _folders(config: Config | None, args: argparse.Namespace) -> int:
    store = await _open_store(config)
    try:
        accounts = {account.id: account.name for account in await store.accounts()}
        if args.account is not None and args.account not in accounts.values():
            raise _Exit(EXIT_FAILURE, _unknown_account(args.account, accounts.values()))
        rows = [
            folder
            for folder in await store.folders()
            if args.account is None or accounts.get(folder.account_id) == args.account
        ]
    finally:
        await store.close()
    out = sys.stdout
    if args.json:
        _write_json_array(out, (_folder_json(accounts[row.account_id], row) for row in rows))
        return EXIT_OK
    table = [
        (
            clean_text(accounts[row.account_id]),
            clean_text(row.display_name),
            str(row.unread),
            str(row.total),
            clean_text(row.special_use or ""),
        )
        for row in rows
    ]
    header = ("ACCOUNT", "FOLDER", "UNREAD", "TOTAL", "ROLE")
    widths = [max(_cells(line[i]) for line in [header, *table]) for i in range(len(header))]
    for line in [header, *table]:
        cells = [
            cell.rjust(width) if i in (2, 3) else _fit(cell, width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")
    return EXIT_OK


def _folder_json(account: str, row: FolderRow) -> dict[str, Any]:
    return {
        "account": account,
        "name": row.name,
        "display_name": row.display_name,
        "special_use": row.special_use,
        "total": row.total,
        "unread": row.unread,
    }


async def _queue(config: Config | None, args: argparse.Namespace) -> int:
    """Pending and failed operations, then the outbox, of every account (or one)."""
    from sync.ops.describe import describe

    store = await _open_store(config)
    try:
        accounts = {account.id: account.name for account in await store.accounts()}
        if args.account is not None and args.account not in accounts.values():
            raise _Exit(EXIT_FAILURE, _unknown_account(args.account, accounts.values()))
        shown = {(f.account_id, f.name): f.display_name for f in await store.folders()}
        items: list[dict[str, Any]] = []
        for account_id, account in accounts.items():
            if args.account is not None and account != args.account:
                continue

            def folder_name(name: str | None, account_id: int = account_id) -> str:
                if name is None:
                    return "?"
                return shown.get((account_id, name), name)

            for op in await store.pending_operations(account_id, include_failed=True):
                items.append(
                    {
                        "account": account,
                        "type": "change",
                        "id": op.id,
                        "kind": op.kind,
                        "state": "failed" if op.failed else "pending",
                        "folder": folder_name(op.folder_name) if op.folder_name else None,
                        "description": describe(op, folder_name),
                        "attempts": op.attempts,
                        "error": op.last_error,
                        "queued": _iso(op.created_at),
                        "next_attempt": _iso(op.next_attempt_at),
                    }
                )
            for message in await store.outbox(account_id, include_failed=True):
                items.append(
                    {
                        "account": account,
                        "type": "outgoing",
                        "id": message.id,
                        "kind": "send",
                        "state": "failed" if message.failed else "pending",
                        "folder": None,
                        "description": "to " + ", ".join(message.recipients),
                        "attempts": message.attempts,
                        "error": message.last_error,
                        "queued": _iso(message.created_at),
                        "next_attempt": _iso(message.next_attempt_at),
                    }
                )
    finally:
        await store.close()
    out = sys.stdout
    if args.json:
        _write_json_array(out, items)
        return EXIT_OK
    if not items:
        out.write("nothing waiting for the server\n")
        return EXIT_OK
    header = ("ACCOUNT", "ID", "STATE", "WHAT", "ERROR")
    table = [
        (
            clean_text(item["account"]),
            ("" if item["type"] == "change" else "out ") + str(item["id"]),
            item["state"],
            clean_text(item["description"]),
            clean_text(item["error"] or ""),
        )
        for item in items
    ]
    widths = [max(_cells(line[i]) for line in [header, *table]) for i in range(len(header))]
    for line in [header, *table]:
        cells = [
            cell.rjust(width) if i == 1 else _fit(cell, width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")
    return EXIT_OK


async def _folder_command(config: Config | None, args: argparse.Namespace) -> int:
    """``folder create|rename|delete``: change the store at once and queue it for the server."""
    if args.action == "delete" and not args.yes:
        # Before anything else: the refusal must not depend on the store.
        raise _Exit(
            EXIT_USAGE,
            f"not deleting {clean_text(args.name)!r} without --yes: it deletes the messages in it",
        )
    from sync.ops import Operations, OperationsError

    store = await _open_store(config)
    try:
        accounts = {account.id: account.name for account in await store.accounts()}
        ops = Operations(store)
        try:
            if args.action == "create":
                account_id = _one_account(accounts, args.account)
                name = _new_folder_name(args.name, await _delimiter(store, account_id))
                await _not_shown_yet(store, account_id, name)
                queued = await ops.create_folder(account_id, name)
                item = {"kind": "create_folder", "folder": name}
                said = f"create folder {_quoted(name)}"
            elif args.action == "rename":
                folder = await _find_folder(store, args.old, args.account, exact=True)
                account_id = folder.account_id
                name = _new_folder_name(args.new, folder.delimiter or "/")
                await _not_shown_yet(store, account_id, name)
                queued = await ops.rename_folder(folder.id, name)
                item = {"kind": "rename_folder", "folder": name, "old_folder": folder.display_name}
                said = f"rename folder {_quoted(folder.display_name)} to {_quoted(name)}"
            else:
                folder = await _find_folder(store, args.name, args.account, exact=True)
                account_id = folder.account_id
                if folder.name.upper() == "INBOX":
                    raise _Exit(EXIT_FAILURE, "INBOX cannot be deleted")
                queued = await ops.delete_folder(folder.id)
                item = {"kind": "delete_folder", "folder": folder.display_name}
                count = f"{folder.total} message{'' if folder.total == 1 else 's'}"
                said = f"delete folder {_quoted(folder.display_name)} and its {count}"
        except OperationsError as exc:
            raise _Exit(EXIT_FAILURE, clean_text(str(exc))) from None
    finally:
        await store.close()
    account = accounts[account_id]
    if args.json:
        print(json.dumps({"account": account, "id": queued.operation_id, **item}))
    else:
        print(f"queued: {said} in {clean_text(account)} (it reaches the server with the next sync)")
    return EXIT_OK


def _quoted(name: str) -> str:
    return f'"{clean_text(name)}"'


def _one_account(accounts: dict[int, str], name: str | None) -> int:
    """The account called ``name``, or the only one when ``name`` is None."""
    if name is None:
        if len(accounts) == 1:
            return next(iter(accounts))
        if not accounts:
            raise _Exit(EXIT_FAILURE, "nothing synced yet; run 'mailtui sync'")
        names = ", ".join(sorted(clean_text(n) for n in accounts.values()))
        raise _Exit(EXIT_FAILURE, f"several accounts ({names}); choose one with --account NAME")
    for account_id, account in accounts.items():
        if account == name:
            return account_id
    raise _Exit(EXIT_FAILURE, _unknown_account(name, accounts.values()))


async def _delimiter(store: Store, account_id: int) -> str:
    folders = await store.folders(account_id)
    return next((f.delimiter for f in folders if f.delimiter), "/")


async def _not_shown_yet(store: Store, account_id: int, name: str) -> None:
    """Refuse a name another folder is shown as (its server spelling may differ)."""
    if any(folder.display_name == name for folder in await store.folders(account_id)):
        raise _Exit(EXIT_FAILURE, f"a folder named {clean_text(name)!r} exists already")


def _new_folder_name(name: str, delimiter: str) -> str:
    """``name`` checked as a new folder's shown name (plain text, ``delimiter`` for levels)."""
    name = unicodedata.normalize("NFC", name)
    problem = None
    if not name.strip():
        problem = "a folder name cannot be empty"
    elif not name.isprintable():
        problem = "a folder name cannot hold control characters"
    elif any(char in name for char in "*%"):
        problem = "a folder name cannot hold '*' or '%' (IMAP wildcards)"
    elif name.upper() == "INBOX":
        problem = "INBOX is taken: choose another name"
    elif any(not part.strip() for part in name.split(delimiter)):
        problem = f"every level of {name!r} needs a name (the delimiter is {delimiter!r})"
    if problem is not None:
        raise _Exit(EXIT_FAILURE, clean_text(problem))
    return name


def _iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _unknown_account(name: str, known: Iterable[str]) -> str:
    names = ", ".join(sorted(known)) or "none synced yet"
    return f"no account named {clean_text(name)!r} (accounts: {names})"


async def _find_folder(
    store: Store, name: str, account: str | None, *, exact: bool = False
) -> FolderRow:
    """Resolve ``name`` as the server spells it, or as shown; INBOX in any case (RFC 3501 §5.1).

    Otherwise case does not matter for reading; ``exact`` (rename, delete: a wrong folder
    would lose mail) only suggests the folder that differs in case.
    """
    accounts = {row.id: row.name for row in await store.accounts()}
    if account is not None and account not in accounts.values():
        raise _Exit(EXIT_FAILURE, _unknown_account(account, accounts.values()))
    folders = [
        folder
        for folder in await store.folders()
        if account is None or accounts.get(folder.account_id) == account
    ]
    tiers: tuple[Callable[[FolderRow], bool], ...] = (
        lambda f: f.name == name,
        lambda f: f.display_name == name,
        lambda f: name.upper() == "INBOX" and f.name.upper() == "INBOX",
        lambda f: f.display_name.casefold() == name.casefold(),
    )
    for number, matches_tier in enumerate(tiers):
        found = [folder for folder in folders if matches_tier(folder)]
        if exact and number == len(tiers) - 1 and found:
            shown = ", ".join(repr(clean_text(f.display_name)) for f in found)
            raise _Exit(EXIT_FAILURE, f"no folder {clean_text(name)!r}; did you mean {shown}?")
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            where = ", ".join(sorted({accounts[f.account_id] for f in found}))
            raise _Exit(
                EXIT_FAILURE,
                f"folder {clean_text(name)!r} is in several accounts ({where}); "
                "choose one with --account NAME",
            )
    scope = f" in account {clean_text(account)!r}" if account else ""
    raise _Exit(
        EXIT_FAILURE, f"no folder {clean_text(name)!r}{scope}; 'mailtui folders' lists them"
    )


async def _list(config: Config | None, args: argparse.Namespace) -> int:
    store = await _open_store(config)
    try:
        folder = await _find_folder(store, args.folder, args.account)
        out = sys.stdout
        if args.json:
            out.write("[")
        width = shutil.get_terminal_size((100, 24)).columns if out.isatty() else None
        first = True
        after = None
        while True:
            # Keyset paging, newest first; only one page is ever held.
            rows = await store.page(folder.id, after=after, limit=_PAGE)
            for row in rows:
                if args.json:
                    out.write(("\n" if first else ",\n") + json.dumps(_message_json(row)))
                else:
                    if first:
                        out.write(_row_line(None, width))
                    out.write(_row_line(row, width))
                first = False
            out.flush()
            if len(rows) < _PAGE:
                break
            after = rows[-1].sort_key
        if args.json:
            out.write("]\n" if first else "\n]\n")
        out.flush()
    finally:
        await store.close()
    return EXIT_OK


async def _search(config: Config | None, args: argparse.Namespace) -> int:
    """Local results (streamed, newest first), then the server's for uncached bodies."""
    import time

    from sync.search import QueryError, parse_query
    from sync.store.search import (
        SearchKey,
        folders_needing_server,
        index_pending_bodies,
        search_messages,
        unknown_folders,
    )

    try:
        query = parse_query(" ".join(args.query))
    except QueryError as exc:
        raise _Exit(EXIT_USAGE, f"bad query: {exc}") from None
    store = await _open_store(config)
    try:
        accounts = {account.id: account.name for account in await store.accounts()}
        if args.account is not None and args.account not in accounts.values():
            raise _Exit(EXIT_FAILURE, _unknown_account(args.account, accounts.values()))
        folders = {folder.id: folder for folder in await store.folders()}
        scope = None
        if args.account is not None:
            scope = [f.id for f in folders.values() if accounts[f.account_id] == args.account]
        for name in unknown_folders(query, list(folders.values())):
            print(
                f"mailtui: no folder {clean_text(name)!r}; 'mailtui folders' lists them",
                file=sys.stderr,
            )
        # Bodies stored but not indexed yet (e.g. by a sync without the indexing step): a
        # short catch-up, so that a search right after a sync sees them.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and await index_pending_bodies(store, 200):
            pass
        out = sys.stdout
        width = shutil.get_terminal_size((100, 24)).columns if out.isatty() else None
        first = True

        def emit(row: MessageRow, source: str) -> None:
            nonlocal first
            folder = folders[row.folder_id]
            if args.json:
                item = _message_json(row)
                item.update(account=accounts[folder.account_id], folder=folder.name, source=source)
                out.write(("[\n" if first else ",\n") + json.dumps(item))
            else:
                if first:
                    out.write(f"{_fit('FOLDER', 18)}  " + _row_line(None, width and width - 20))
                mark = "*" if source == "server" else " "
                where = mark + _fit(clean_text(folder.display_name), 17)
                out.write(f"{where}  " + _row_line(row, width and width - 20))
            first = False

        shown: set[tuple[int, int]] = set()
        after = None
        while True:
            rows = await search_messages(store, query, after=after, limit=_PAGE, folder_ids=scope)
            for row in rows:
                emit(row, "local")
                shown.add((row.folder_id, row.uid))
            out.flush()
            if len(rows) < _PAGE:
                break
            after = SearchKey.of(rows[-1])
        from_server = not_synced = 0
        if not args.local and config is None:
            if await folders_needing_server(store, query, folder_ids=scope):
                print(
                    "mailtui: no config file, so no server to ask: local results only",
                    file=sys.stderr,
                )
        elif not args.local and config is not None:
            from sync.engine.search_phases import ServerHits, search_servers

            chosen = [a for a in config.accounts if args.account in (None, a.name)]
            async for result in search_servers(store, query, chosen, shown=shown, folder_ids=scope):
                if isinstance(result, ServerHits):
                    for row in result.rows:
                        emit(row, "server")
                        from_server += 1
                    not_synced += result.not_synced
                    out.flush()
                else:
                    print(
                        f"mailtui: {clean_text(result.account)} is offline"
                        f" ({clean_text(result.reason)}): local results only",
                        file=sys.stderr,
                    )
        if args.json:
            out.write("[]\n" if first else "\n]\n")
        elif from_server:
            print(
                f"mailtui: * {from_server} found on the server (body not downloaded yet)",
                file=sys.stderr,
            )
        if not_synced:
            print(
                f"mailtui: {not_synced} more found on the server are not synced yet;"
                " run 'mailtui sync'",
                file=sys.stderr,
            )
        out.flush()
    finally:
        await store.close()
    return EXIT_OK


def _iso_date(epoch: int) -> str | None:
    try:
        return datetime.fromtimestamp(epoch, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def _message_json(row: MessageRow) -> dict[str, Any]:
    return {
        "uid": row.uid,
        "message_id": row.message_id,
        "subject": row.subject,
        "from": {"name": row.from_name or None, "email": row.from_addr or None},
        "date": _iso_date(row.date),
        "flags": list(row.flags),
        "size": row.size,
    }


def _row_line(row: MessageRow | None, width: int | None) -> str:
    """One human table line (the header when ``row`` is None); text cleaned for the terminal."""
    if row is None:
        uid, date, marks, sender, subject = "UID", "DATE", "FLAG", "FROM", "SUBJECT"
    else:
        uid = str(row.uid)
        try:
            date = datetime.fromtimestamp(row.date).strftime("%Y-%m-%d %H:%M")
        except (OverflowError, OSError, ValueError):
            date = "?"
        marks = (
            ("N" if not row.seen else " ")
            + ("!" if row.flagged else " ")
            + ("r" if row.answered else " ")
            + ("@" if row.has_attachment else " ")
        )
        sender = clean_text(row.from_name or row.from_addr)
        subject = clean_text(row.subject) or "(no subject)"
    line = f"{uid:>8}  {date:<16}  {marks:<4}  {_fit(sender, 24)}  "
    if width is not None:
        subject = _fit(subject, max(width - _cells(line) - 1, 10)).rstrip()
    return (line + subject).rstrip() + "\n"


def _char_cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _cells(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK, emoji) characters take two."""
    return sum(_char_cells(char) for char in text)


def _fit(text: str, cells: int) -> str:
    """``text`` cut (with an ellipsis) or padded to exactly ``cells`` terminal columns."""
    if _cells(text) > cells:
        kept, used = [], 0
        for char in text:
            width = _char_cells(char)
            if used + width > cells - 1:
                break
            kept.append(char)
            used += width
        text = "".join(kept) + "…"
    return text + " " * (cells - _cells(text))


def _write_json_array(out: TextIO, items: Any) -> None:
    # ASCII-only JSON: a script gets every character back, a terminal gets no raw controls.
    out.write("[")
    first = True
    for item in items:
        out.write(("\n" if first else ",\n") + json.dumps(item))
        first = False
    out.write("]\n" if first else "\n]\n")


if __name__ == "__main__":
    sys.exit(main())
