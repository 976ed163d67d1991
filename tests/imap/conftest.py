"""Fixtures for the IMAP client tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.imap.scripted import StartScript, scripted_servers


@pytest.fixture
async def scripted() -> AsyncIterator[StartScript]:
    """``await scripted(script)`` starts a scripted server and gives its port (see
    tests/imap/scripted.py); every server is closed after the test."""
    async with scripted_servers() as start:
        yield start
