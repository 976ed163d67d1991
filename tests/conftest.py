"""Fixtures shared by every test: a private Dovecot, its users, 'another device', a fault proxy.

The session servers are lazy: a Dovecot starts only when a test first asks for it, and each test
gets a fresh user, so tests never see each other's mail.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import pytest

from sync.cyrus import CyrusError, CyrusServer, CyrusUnavailable, CyrusUser
from sync.dovecot import (
    GMAIL_CAPABILITY,
    GMAIL_FOLDERS,
    REV1_CAPABILITY,
    DovecotServer,
    MailUser,
)
from sync.store import Store
from tests.rig.device import Device
from tests.rig.proxy import FaultProxy


def pytest_configure(config: pytest.Config) -> None:
    """Keep pytest-textual-snapshot's failure report out of the tree (a run writes nothing
    there): its default is ``snapshot_report.html`` in the working directory."""
    if getattr(config.option, "snapshot_report", None) == "snapshot_report.html":
        config.option.snapshot_report = str(
            Path(tempfile.gettempdir()) / "mailtui-snapshot-report.html"
        )


def _start_server(
    reduced: bool,
    capability: str | None = None,
    folders: Mapping[str, str] | None = None,
    separator: str = "/",
) -> Iterator[DovecotServer]:
    # mkdtemp is 0700; Dovecot's mail processes (uid 8 when we are root) must traverse it.
    base = Path(tempfile.mkdtemp(prefix="mailtui-dovecot-"))
    base.chmod(0o755)
    try:
        server = DovecotServer.start(
            base, reduced=reduced, capability=capability, folders=folders, separator=separator
        )
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A full-capability private Dovecot for the whole session."""
    yield from _start_server(reduced=False)


@pytest.fixture(scope="session")
def dovecot_reduced() -> Iterator[DovecotServer]:
    """A private Dovecot advertising only IMAP4rev1 LITERAL+ SASL-IR IDLE."""
    yield from _start_server(reduced=True)


_Server = TypeVar("_Server", bound=DovecotServer | CyrusServer)


def _device_of(user: MailUser | CyrusUser) -> Iterator[Device]:
    """'Another device' logged in as ``user`` for a fixture's lifetime."""
    device = Device.connect(user)
    try:
        yield device
    finally:
        device.close()


def _alive(server: _Server) -> _Server:
    # A test that stopped or killed the shared server must not fail every test after it:
    # bring it back on the same ports, with its users and mail.
    if not server.running:
        server.restart()
    return server


@pytest.fixture(scope="session")
def dovecot_rev1() -> Iterator[DovecotServer]:
    """A private Dovecot advertising IMAP4rev1 alone: no IDLE, no NOTIFY, no extensions."""
    yield from _start_server(reduced=False, capability=REV1_CAPABILITY)


@pytest.fixture(scope="session")
def dovecot_gmail() -> Iterator[DovecotServer]:
    """A private Dovecot laid out like Gmail: [Gmail]/All Mail (\\All), Starred (\\Flagged),
    Important (\\Important) and the rest, advertising Gmail's capabilities (X-GM-EXT-1, no
    QRESYNC, no NOTIFY)."""
    yield from _start_server(reduced=False, capability=GMAIL_CAPABILITY, folders=GMAIL_FOLDERS)


@pytest.fixture
def gmail_user(dovecot_gmail: DovecotServer) -> MailUser:
    """A fresh user with an empty mailbox on the Gmail-like server."""
    return _alive(dovecot_gmail).add_user()


@pytest.fixture(scope="session")
def dovecot_dot() -> Iterator[DovecotServer]:
    """A full-capability private Dovecot whose hierarchy separator is "." (Maildir++)."""
    yield from _start_server(reduced=False, separator=".")


@pytest.fixture(scope="session")
def cyrus() -> Iterator[CyrusServer]:
    """A private Cyrus IMAP 3.x (unpacked by scripts/get-cyrus); skips when it cannot be had."""
    base = Path(tempfile.mkdtemp(prefix="mailtui-cyrus-"))
    base.chmod(0o755)
    try:
        try:
            server = CyrusServer.start(base)
        except CyrusUnavailable as exc:
            pytest.skip(f"Cyrus unavailable: {exc}")
        except CyrusError as exc:
            pytest.skip(f"Cyrus unavailable: it did not start: {exc}")
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def cyrus_user(cyrus: CyrusServer) -> CyrusUser:
    """A fresh user on the Cyrus server: INBOX and the special-use folders, empty."""
    return _alive(cyrus).add_user()


@pytest.fixture
def cyrus_device(cyrus_user: CyrusUser) -> Iterator[Device]:
    """'Another device' (stdlib imaplib) logged in as ``cyrus_user``."""
    yield from _device_of(cyrus_user)


@pytest.fixture
def mail_user(dovecot: DovecotServer) -> MailUser:
    """A fresh user with an empty mailbox on the full server."""
    return _alive(dovecot).add_user()


@pytest.fixture
def reduced_user(dovecot_reduced: DovecotServer) -> MailUser:
    """A fresh user with an empty mailbox on the reduced server."""
    return _alive(dovecot_reduced).add_user()


@pytest.fixture
def rev1_user(dovecot_rev1: DovecotServer) -> MailUser:
    """A fresh user with an empty mailbox on the IMAP4rev1-only server."""
    return _alive(dovecot_rev1).add_user()


@pytest.fixture
def dot_user(dovecot_dot: DovecotServer) -> MailUser:
    """A fresh user with an empty mailbox on the "." separator server."""
    return _alive(dovecot_dot).add_user()


@pytest.fixture
def device(mail_user: MailUser) -> Iterator[Device]:
    """'Another device' (stdlib imaplib) logged in as ``mail_user``."""
    yield from _device_of(mail_user)


@pytest.fixture
def proxy(dovecot: DovecotServer) -> Iterator[FaultProxy]:
    """A fault-injecting TCP proxy in front of ``dovecot``'s plain IMAP port."""
    fault_proxy = FaultProxy(dovecot.host, _alive(dovecot).imap_port)
    try:
        yield fault_proxy
    finally:
        fault_proxy.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where a test's store, config and locks live."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
async def store(data_dir: Path) -> AsyncIterator[Store]:
    """A new, migrated store; closed after the test (aiosqlite threads are not daemons)."""
    opened = await Store.open(data_dir / "mailtui.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


# The server matrix of the sync correctness tests (issue 15): the full Dovecot, one without
# MOVE/UIDPLUS/CONDSTORE/QRESYNC/NOTIFY, one with IMAP4rev1 alone (no IDLE: the poll), one
# with "." as hierarchy separator (Maildir++), and Cyrus (skipped where it cannot be had).
_MATRIX = {
    "full": "dovecot",
    "reduced": "dovecot_reduced",
    "rev1": "dovecot_rev1",
    "dot": "dovecot_dot",
    "cyrus": "cyrus",
}


@pytest.fixture(params=list(_MATRIX))
def any_server(request: pytest.FixtureRequest) -> DovecotServer | CyrusServer:
    """Each test runs against every server of the matrix."""
    server: DovecotServer | CyrusServer = request.getfixturevalue(_MATRIX[request.param])
    return _alive(server)


@pytest.fixture
def any_user(any_server: DovecotServer | CyrusServer) -> MailUser | CyrusUser:
    """A fresh user on ``any_server``."""
    return any_server.add_user()


@pytest.fixture
def any_device(any_user: MailUser | CyrusUser) -> Iterator[Device]:
    """'Another device' for ``any_user``."""
    yield from _device_of(any_user)
