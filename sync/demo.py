"""``mailtui demo``: a private Dovecot with a sample mailbox, and a phone that keeps using it.

Everything lives in one directory the caller owns (a temp dir): the server, its mail, the
config pointing at it and the store. ``OtherDevice`` changes something every few seconds,
through its own IMAP connection, so the live sync is visible on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sync.config import Config, load_config
from sync.dovecot import DovecotError, DovecotServer, MailUser, find_dovecot
from sync.imap import ImapClient, ImapError
from sync.sample_mail import make_message, seed_maildir

__all__ = ["Demo", "DemoUnavailable", "OtherDevice", "start_demo"]

log = logging.getLogger(__name__)

INSTALL_HINT = "install it with: sudo apt-get install dovecot-imapd (Debian, Ubuntu)"
_FOLDERS = {"INBOX": 1200, "Archive": 400, "Sent": 120, "Lists/python-dev": 250}


class DemoUnavailable(Exception):
    """The demo cannot run here (no Dovecot, or it would not start); the message says why."""


@dataclass(frozen=True, slots=True)
class Demo:
    """A running demo: stop it with ``stop()``."""

    server: DovecotServer
    user: MailUser
    config_path: Path
    config: Config

    def stop(self) -> None:
        """Stop the demo's Dovecot (the caller removes the directory)."""
        self.server.stop()


def _flags_for(position: int) -> str:
    # Most older mail is read, a few are flagged or answered; the newest 15 are unread.
    flags = ""
    if position % 17 == 3:
        flags += "F"
    if position % 9 == 4:
        flags += "R"
    return flags


def _flags_reading(read_below: int) -> Callable[[int], str]:
    def flags(position: int) -> str:
        return _flags_for(position) + ("S" if position < read_below else "")

    return flags


def start_demo(directory: Path, *, scale: float = 1.0) -> Demo:
    """Start Dovecot in ``directory``, seed a sample mailbox, write a config for it.

    Raises ``DemoUnavailable`` when Dovecot is not installed or does not start.
    """
    try:
        find_dovecot()
    except DovecotError:
        raise DemoUnavailable(
            f"mailtui demo needs Dovecot, which is not installed; {INSTALL_HINT}"
        ) from None
    directory.chmod(0o755)  # Dovecot's mail processes run as another user and must get in
    try:
        server = DovecotServer.start(directory / "server")
    except DovecotError as exc:
        raise DemoUnavailable(f"the demo's Dovecot did not start: {exc}") from None
    try:
        user = server.add_user("demo", password="demo")
        index = 0
        now = datetime.now(UTC)
        for folder, count in _FOLDERS.items():
            count = max(1, int(count * scale))
            # Spread over the last months, oldest first, so UIDs rise with the date.
            messages = [
                make_message(index + n, date=now - timedelta(hours=6 * (count - n)))
                for n in range(count)
            ]
            if folder not in ("INBOX", "Archive", "Sent"):
                server.create_mailbox(user.username, folder, subscribe=True)
            read_below = count - 15 if folder == "INBOX" else count
            seed_maildir(server, user.username, folder, messages, _flags_reading(read_below))
            index += count
        data = directory / "data"
        data.mkdir(mode=0o700, exist_ok=True)
        config_path = directory / "config.toml"
        config_path.write_text(
            f"""# mailtui demo: a private Dovecot on this machine, gone when the demo ends.
data_dir = "{data}"
prefetch = "recent"

[accounts.demo]
email = "demo@example.org"
name = "Demo User"
imap_host = "{server.host}"
imap_port = {server.imap_port}
imap_security = "none"
username = "{user.username}"
password = "{user.password}"
""",
            encoding="utf-8",
        )
        config = load_config(config_path)
    except BaseException:
        server.stop()
        raise
    return Demo(server, user, config_path, config)


class OtherDevice:
    """A phone: every ``interval`` seconds it reads, flags, files or receives a message."""

    def __init__(self, demo: Demo, *, interval: float = 4.0, seed: int = 7) -> None:
        self.demo = demo
        self.interval = interval
        self._random = random.Random(seed)
        self._next_index = 100_000

    async def run(self) -> None:
        """Make changes until cancelled; reconnect quietly if the server goes away."""
        while True:
            try:
                await self._session()
            except (ImapError, OSError) as exc:
                log.info("demo device: %s; reconnecting", exc)
                await asyncio.sleep(self.interval)

    async def _session(self) -> None:
        server, user = self.demo.server, self.demo.user
        client = await ImapClient.connect(server.host, server.imap_port, security="none")
        try:
            await client.login(user.username, user.password)
            while True:
                await asyncio.sleep(self.interval)
                await self.change_something(client)
        finally:
            with contextlib.suppress(ImapError, OSError):
                await client.logout()

    async def change_something(self, client: ImapClient) -> str:
        """Make one random change, as a phone would; return what it did, in words."""
        action = self._random.choice(["new", "new", "read", "flag", "archive", "unread"])
        if action == "new":
            self._next_index += 1
            raw = make_message(self._next_index, date=datetime.now(UTC))
            await client.append("INBOX", raw)
            return "new message in INBOX"
        await client.select("INBOX")
        uids = await client.uid_search("ALL")
        if not uids:
            return "nothing to change"
        uid = self._random.choice(uids[-40:])
        if action == "read":
            await client.uid_store([uid], "+", ["\\Seen"])
        elif action == "unread":
            await client.uid_store([uid], "-", ["\\Seen"])
        elif action == "flag":
            await client.uid_store([uid], "+", ["\\Flagged"])
        else:
            await client.uid_move([uid], "Archive")
        return f"{action} INBOX/{uid}"
