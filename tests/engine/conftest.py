"""Fixtures for engine tests: a store in a temp dir, users on the full and reduced servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sync.dovecot import DovecotServer, MailUser
from sync.store import Store
from tests.rig.device import Device


@pytest.fixture(params=["full", "reduced"])
def any_server(request: pytest.FixtureRequest) -> DovecotServer:
    """Each test runs against the full Dovecot and the reduced-capability one."""
    name = "dovecot" if request.param == "full" else "dovecot_reduced"
    server: DovecotServer = request.getfixturevalue(name)
    return server


@pytest.fixture
def any_user(any_server: DovecotServer) -> MailUser:
    """A fresh user on ``any_server``."""
    return any_server.add_user()


@pytest.fixture
def any_device(any_user: MailUser) -> Iterator[Device]:
    """'Another device' for ``any_user``."""
    device = Device.connect(any_user)
    try:
        yield device
    finally:
        device.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where the store and locks of a test live."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
async def store(data_dir: Path) -> AsyncIterator[Store]:
    """An open store, closed at the end."""
    opened = await Store.open(data_dir / "mailtui.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()
