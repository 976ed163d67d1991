"""`mailtui folder create|rename|delete`: the store at once, the server with the next sync."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from sync import paths
from sync.dovecot import MailUser
from sync.store import Store
from tests.engine.helpers import config_text, write_config
from tests.rig.corpus import make_message
from tests.rig.device import Device
from tui.cli import main

QUEUED = "(it reaches the server with the next sync)"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Private XDG dirs; the config and store go in the returned data dir."""
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var))
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv(paths.CONFIG_ENV, str(data / "config.toml"))
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    return data


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _sync(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "sync", "--once")
    assert status == 0, err


# -- against the rig ------------------------------------------------------------------------


def test_create_rename_delete_reach_the_other_device(
    mail_user: MailUser, device: Device, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(mail_user, env)
    _sync(capsys)

    status, out, err = _run(capsys, "folder", "create", "Projects/alpha")
    assert (status, err) == (0, "")
    assert out == f'queued: create folder "Projects/alpha" in test {QUEUED}\n'
    _sync(capsys)
    assert "Projects/alpha" in device.folders()
    device.append("Projects/alpha", make_message(1, subject="kept"))
    _sync(capsys)

    # A non-ASCII name: plain text here, modified UTF-7 on the server.
    status, out, err = _run(capsys, "folder", "rename", "Projects/alpha", "Projects/Été", "--json")
    assert (status, err) == (0, "")
    change = json.loads(out)
    assert change["kind"] == "rename_folder" and change["account"] == "test"
    assert (change["folder"], change["old_folder"]) == ("Projects/Été", "Projects/alpha")
    _sync(capsys)
    names = device.folders()
    assert "Projects/Été" in names and "Projects/alpha" not in names
    assert len(device.uids("Projects/Été")) == 1  # the message moved with the folder

    status, out, err = _run(capsys, "folder", "delete", "Projects/Été", "--yes")
    assert (status, err) == (0, "")
    assert out == f'queued: delete folder "Projects/Été" and its 1 message in test {QUEUED}\n'
    _sync(capsys)
    assert "Projects/Été" not in device.folders()
    status, out, _ = _run(capsys, "queue")
    assert out == "nothing waiting for the server\n"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_offline_create_waits_in_the_queue_then_goes_out(
    mail_user: MailUser, device: Device, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(mail_user, env)
    _sync(capsys)
    online = config.read_text(encoding="utf-8")
    config.write_text(config_text(mail_user, env, port=_closed_port()), encoding="utf-8")

    status, out, err = _run(capsys, "folder", "create", "Offline/made")
    assert (status, err) == (0, "")
    assert out.startswith('queued: create folder "Offline/made"')
    status, out, _ = _run(capsys, "queue", "--json")
    items = json.loads(out)
    assert [(i["kind"], i["state"], i["folder"]) for i in items] == [
        ("create_folder", "pending", "Offline/made")
    ]
    status, _, err = _run(capsys, "sync", "--once")  # the server is unreachable: kept
    assert status != 0
    assert "Offline/made" not in device.folders()
    status, out, _ = _run(capsys, "queue", "--json")
    assert [i["kind"] for i in json.loads(out)] == ["create_folder"]

    config.write_text(online, encoding="utf-8")
    _sync(capsys)
    assert "Offline/made" in device.folders()
    status, out, _ = _run(capsys, "queue", "--json")
    assert json.loads(out) == []


# -- errors, from the store only ------------------------------------------------------------


async def _fill(path: Path, *, second_account: bool = False) -> None:
    store = await Store.open(path)
    try:
        async with store.write() as unit:
            account = await unit.ensure_account("personal", "me@example.org")
            for name, shown in (("INBOX", "INBOX"), ("Work", "Work"), ("Bad&-\x1b[2J", "Bad")):
                await unit.upsert_folder(
                    account, name, display_name=shown, delimiter="/", special_use=None
                )
            if second_account:
                other = await unit.ensure_account("work", "me@example.com")
                await unit.upsert_folder(
                    other, "INBOX", display_name="INBOX", delimiter=".", special_use=None
                )
    finally:
        await store.close()


@pytest.fixture
def filled(env: Path) -> Path:
    asyncio.run(_fill(env / "mailtui.sqlite3"))
    return env


def test_without_a_store_says_so(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "folder", "create", "New") == (
        1,
        "",
        "mailtui: nothing synced yet; run 'mailtui sync'\n",
    )
    assert not (env / "mailtui.sqlite3").exists()


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["create", "New", "--account", "nope"], 1, "no account named 'nope' (accounts: personal)"),
        (["create", "Work"], 1, "a folder named 'Work' exists already"),
        (["create", "inbox"], 1, "INBOX is taken: choose another name"),
        (["create", "A//B"], 1, "every level of 'A//B' needs a name (the delimiter is '/')"),
        (["create", "Tab\there"], 1, "a folder name cannot hold control characters"),
        (["create", "  "], 1, "a folder name cannot be empty"),
        (["create", "Wild*"], 1, "a folder name cannot hold '*' or '%' (IMAP wildcards)"),
        (["rename", "Nope", "X"], 1, "no folder 'Nope'; 'mailtui folders' lists them"),
        (["rename", "Work", "INBOX"], 1, "INBOX is taken: choose another name"),
        (["rename", "INBOX", "Old"], 1, "INBOX cannot be renamed"),
        (["rename", "Work", "Bad"], 1, "a folder named 'Bad' exists already"),
        (["delete", "Work"], 2, "not deleting 'Work' without --yes: it deletes the messages in it"),
        (["delete", "inbox", "--yes"], 1, "INBOX cannot be deleted"),
        (["delete", "Nope", "--yes"], 1, "no folder 'Nope'; 'mailtui folders' lists them"),
        # A wrong folder would lose its mail: rename and delete match case exactly.
        (["delete", "work", "--yes"], 1, "no folder 'work'; did you mean 'Work'?"),
        (["rename", "WORK", "Job"], 1, "no folder 'WORK'; did you mean 'Work'?"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    filled: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, message: str
) -> None:
    assert _run(capsys, "folder", *argv) == (status, "", f"mailtui: {message}\n")
    status, out, _ = _run(capsys, "queue")
    assert out == "nothing waiting for the server\n"


def test_hostile_names_are_cleaned_for_the_terminal(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "Bad" is shown as Bad; its server name carries an escape that must never be printed.
    status, out, err = _run(capsys, "folder", "rename", "Bad&-\x1b[2J", "Fine")
    assert (status, err) == (0, "")
    assert out == f'queued: rename folder "Bad" to "Fine" in personal {QUEUED}\n'
    status, out, err = _run(capsys, "folder", "create", "\u202eevil")
    assert status == 1 and "\u202e" not in err and "\x1b" not in err


def test_several_accounts_need_account(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_fill(env / "mailtui.sqlite3", second_account=True))
    status, _, err = _run(capsys, "folder", "create", "New")
    assert (status, err) == (
        1,
        "mailtui: several accounts (personal, work); choose one with --account NAME\n",
    )
    status, out, err = _run(capsys, "folder", "create", "Lists.python", "--account", "work")
    assert (status, err) == (0, "")
    assert out == f'queued: create folder "Lists.python" in work {QUEUED}\n'


def test_create_nested_on_a_dot_server(
    dot_user: MailUser, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(dot_user, env)
    _sync(capsys)
    status, _, err = _run(capsys, "folder", "create", "Lists..python")
    assert err == "mailtui: every level of 'Lists..python' needs a name (the delimiter is '.')\n"
    status, out, err = _run(capsys, "folder", "create", "Lists.python")
    assert (status, err) == (0, "")
    assert out.startswith('queued: create folder "Lists.python" in test')
    _sync(capsys)
    other = Device.connect(dot_user)
    try:
        assert "Lists.python" in other.folders()
    finally:
        other.close()
