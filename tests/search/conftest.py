"""Fixtures for the search tests: a migrated store in a temp dir, always closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sync.store import Store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where a test's store (and config) live."""
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
