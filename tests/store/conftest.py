"""Fixtures for the store tests: a fresh store in a temporary directory, always closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sync.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A new, migrated store; closed after the test (its aiosqlite threads are not daemons)."""
    opened = await Store.open(tmp_path / "store.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()
