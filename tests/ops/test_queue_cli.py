"""`mailtui queue [--json]`: pending and failed changes and the outbox, from the store only."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sync import paths
from sync.ops import Operations
from sync.store import Store
from tests.store.helpers import record
from tui.cli import main


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var))
    monkeypatch.setenv(paths.CONFIG_ENV, str(tmp_path / "absent.toml"))
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "data"))
    return tmp_path / "data"


async def _fill(path: Path) -> None:
    store = await Store.open(path)
    try:
        async with store.write() as unit:
            account = await unit.ensure_account("personal", "me@example.org")
            inbox = await unit.upsert_folder(
                account, "INBOX", display_name="INBOX", delimiter="/", special_use=None
            )
            await unit.upsert_folder(
                account, "&AMk-t&AOk-", display_name="Été", delimiter="/", special_use=None
            )
            await unit.upsert_messages(inbox, [record(1), record(2)])
            await unit.queue_outgoing(account, b"x", "me@example.org", ["ann@example.org"])
        ops = Operations(store)
        summer = await store.folder_by_name(account, "&AMk-t&AOk-")
        assert summer is not None
        await ops.mark_read(inbox, [1, 2])
        moved = await ops.move(inbox, [2], summer.id)
        assert moved.operation_id is not None
        async with store.write() as unit:
            await unit.fail_operation(moved.operation_id, "NO \x1b[31mgone", give_up=True)
    finally:
        await store.close()


async def test_queue_lists_changes_and_outgoing_mail(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await asyncio.to_thread(data.mkdir)
    await _fill(data / "mailtui.sqlite3")
    assert await _main(["queue", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert [(i["type"], i["kind"], i["state"]) for i in items] == [
        ("change", "flags", "pending"),
        ("change", "move", "failed"),
        ("outgoing", "send", "pending"),
    ]
    assert items[0]["description"] == "+\\Seen on 2 messages in INBOX"
    assert items[1]["description"] == "move 1 message from INBOX to Été"
    assert items[1]["error"] == "NO \x1b[31mgone"  # JSON is data: exact, and escaped
    assert await _main(["queue"]) == 0
    out = capsys.readouterr().out
    assert "move 1 message from INBOX to Été" in out and "failed" in out
    assert "\x1b" not in out  # cleaned for the terminal


def test_queue_without_a_store_says_so(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue"]) == 1
    assert capsys.readouterr().err == "mailtui: nothing synced yet; run 'mailtui sync'\n"
    assert not data.exists()


async def _main(argv: list[str]) -> int:
    # main() runs its own event loop: keep it off this test's loop.
    return await asyncio.to_thread(main, argv)
