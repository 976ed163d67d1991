"""Shared helpers for engine tests: configs for rig users, and store-vs-server comparisons."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from sync.config import AccountConfig, Config, parse_config
from sync.cyrus import CyrusUser
from sync.dovecot import MailUser
from sync.engine.account import AccountSync
from sync.imap import decode_mailbox
from sync.store import Store
from tests.rig.device import Device

ROOT = Path(__file__).resolve().parents[2]


def config_text(
    user: MailUser | CyrusUser,
    data_dir: Path,
    *,
    port: int | None = None,
    security: str = "none",
    extra: str = "",
    account_extra: str = "",
) -> str:
    """The text of a config file for one account of a rig user, as a person would write it."""
    server = user.server
    if port is None:
        port = server.imaps_port if security == "tls" else server.imap_port
    return f"""
data_dir = "{data_dir}"
{extra}

[accounts.test]
email = "{user.username}@example.org"
name = "Test User"
imap_host = "{server.host}"
imap_port = {port}
imap_security = "{security}"
username = "{user.username}"
password = "{user.password}"
ca_file = "{server.ca_file}"
{account_extra}
"""


def config_for(user: MailUser | CyrusUser, data_dir: Path, *, port: int | None = None) -> Config:
    """A real config (through the config parser) pointing at a rig user."""
    return parse_config(config_text(user, data_dir, port=port), data_dir / "config.toml")


def write_config(user: MailUser, data_dir: Path, extra: str = "") -> Path:
    """Write ``config.toml`` into ``data_dir`` for a rig user; return its path."""
    path = data_dir / "config.toml"
    path.write_text(config_text(user, data_dir, extra=extra), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def running_live(account_sync: AccountSync) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``account_sync.run_live()`` in the background for the block; stop it after."""
    task = asyncio.create_task(account_sync.run_live())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def account_of(config: Config) -> AccountConfig:
    """The one account of a test config."""
    return config.accounts[0]


async def store_state(store: Store) -> dict[str, dict[int, tuple[frozenset[str], str]]]:
    """Every folder of the store: UID -> (flags lower-cased without \\Recent, subject)."""
    state: dict[str, dict[int, tuple[frozenset[str], str]]] = {}
    for folder in await store.folders():
        if not _selectable(folder.attributes):
            continue
        rows: dict[int, tuple[frozenset[str], str]] = {}
        after = None
        while True:
            page = await store.page(folder.id, after=after, limit=500)
            if not page:
                break
            for row in page:
                rows[row.uid] = (_norm(row.flags), row.subject)
            after = page[-1].sort_key
        state[decode_mailbox(folder.name)] = rows
    return state


def server_state(
    device: Device, folders: list[str] | None = None
) -> dict[str, dict[int, tuple[frozenset[str], str]]]:
    """The same shape as ``store_state``, read by the other device."""
    state: dict[str, dict[int, tuple[frozenset[str], str]]] = {}
    if folders is None:
        folders = [name for name, attrs in device.list_entries().items() if _selectable(attrs)]
    for folder in folders:
        flags = device.flags(folder)
        subjects = device.subjects(folder)
        state[folder] = {uid: (_norm(flags[uid]), subjects.get(uid, "")) for uid in flags}
    return state


def _norm(flags: object) -> frozenset[str]:
    assert isinstance(flags, tuple | frozenset | set | list)
    return frozenset(str(f).lower() for f in flags)


def _selectable(attributes: object) -> bool:
    assert isinstance(attributes, tuple | frozenset | set | list)
    lowered = {str(a).lower() for a in attributes}
    return "\\noselect" not in lowered and "\\nonexistent" not in lowered


async def converge(store: Store, device: Device, limit: float = 20.0) -> float:
    """Wait until the store equals the server; return the seconds it took.

    Raises ``TimeoutError`` after ``limit`` seconds.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(limit):
        while await store_state(store) != server_state(device):  # noqa: ASYNC110 - polls a server
            await asyncio.sleep(0.05)
    return loop.time() - started


async def open_when_created(path: Path, within: float = 20.0) -> Store:
    """Open the store another process (``mailtui sync``) creates, once it can be opened.

    Until that process has created and migrated it, opening fails; retried until ``within``
    seconds have passed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await Store.open(path)
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)  # the other process is still creating it


async def start_mailtui_sync(config: Path) -> asyncio.subprocess.Process:
    """Start ``mailtui sync`` (live) in a subprocess, as a user would run it beside a TUI."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui.cli",
        "--config",
        str(config),
        "sync",
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
