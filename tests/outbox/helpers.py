"""Helpers for the outbox tests: a real SMTP server (aiosmtpd) on loopback, and an account
on the test Dovecot that sends through it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from sync.config import AccountConfig, Config, parse_config
from sync.dovecot import MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.ops import Replayer
from sync.outbox import OutboxSender
from sync.store import Store
from tests.engine.helpers import config_text
from tests.test_smtp import Handler, Received

__all__ = ["Handler", "Received", "account_for", "engine", "free_port", "smtp_on", "write_config"]


def free_port() -> int:
    """A loopback port nobody listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def smtp_on(
    port: int, user: MailUser, *, accept_login: bool = True
) -> AsyncIterator[Handler]:
    """An aiosmtpd submission server on ``port`` (clear text on loopback, AUTH offered) that
    accepts the rig user's login (or refuses every login); yields what it receives."""
    handler = Handler()

    def authenticator(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = accept_login and isinstance(data, LoginPassword)
        ok = ok and (data.login, data.password) == (
            f"{user.username}@example.org".encode(),
            user.password.encode(),
        )
        return AuthResult(success=ok, handled=False, auth_data=data)

    def factory() -> SMTPServer:
        return SMTPServer(
            handler,
            hostname="mx.test",
            authenticator=authenticator,
            auth_require_tls=False,  # loopback only
            enable_SMTPUTF8=True,
        )

    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", port)
    try:
        yield handler
    finally:
        server.close()
        await server.wait_closed()


def write_config(user: MailUser, data_dir: Path, smtp_port: int, extra: str = "") -> Path:
    """A config file for the rig user that submits through 127.0.0.1:``smtp_port``."""
    path = data_dir / "config.toml"
    smtp = (
        'smtp_host = "127.0.0.1"\n'
        f"smtp_port = {smtp_port}\n"
        'smtp_security = "none"\n'
        f'smtp_username = "{user.username}@example.org"\n'
        f"{extra}"
    )
    path.write_text(config_text(user, data_dir, account_extra=smtp), encoding="utf-8")
    return path


def account_for(config_file: Path) -> AccountConfig:
    """The one account of a config file."""
    config: Config = parse_config(config_file.read_text(encoding="utf-8"), config_file)
    return config.accounts[0]


def engine(account: AccountConfig, store: Store, sender: OutboxSender | None = None) -> AccountSync:
    """An ``AccountSync`` wired as ``sync.engine.runner`` wires it: replayer and outbox."""
    replayer = Replayer(store, account.name)
    sync = AccountSync(
        account,
        store,
        SyncSettings(prefetch="all", backoff_initial=0.1, backoff_max=0.5),
        operations=replayer,
        outbox=sender or OutboxSender(store, account),
    )
    replayer.refresh_folders = sync.sync_folder_list
    return sync
