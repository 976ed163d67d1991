"""``mailtui search``: the same JSON as ``list --json`` (plus where each message is), local
results first, the server's after them, clear errors, and offline said out loud."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sync import paths
from sync.dovecot import MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.store import Store
from tests.engine.helpers import config_for, write_config
from tests.rig.device import Device
from tests.search.corpus import build
from tests.search.test_server import raw
from tui.cli import main


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir (returned) with the corpus in its store, and no config file."""
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var))
    data = tmp_path / "data"
    monkeypatch.setenv(paths.CONFIG_ENV, str(tmp_path / "missing.toml"))
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))

    async def fill() -> None:
        async with await Store.open(paths.store_path(data)) as store:
            await build(store)

    asyncio.run(fill())
    return data


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_json_has_the_list_shape_and_says_where(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["search", "--json", "--local", "lunch"], capsys)
    assert status == 0 and err == ""
    found = json.loads(out)
    assert [(m["folder"], m["uid"]) for m in found] == [("INBOX", 3), ("INBOX", 1), ("Archive", 1)]
    status, listed, _ = run(["list", "INBOX", "--json"], capsys)
    shape = json.loads(listed)[0].keys()
    assert set(found[0]) == set(shape) | {"account", "folder", "source"}
    first = next(m for m in found if m["uid"] == 1)
    assert first["subject"] == "Lunch on Thursday?"
    assert first["from"] == {"name": "Maria Schmidt", "email": "maria.schmidt@example.de"}
    assert (first["account"], first["source"], first["flags"]) == ("acct", "local", [])


def test_words_are_joined_and_the_table_is_for_people(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["search", "--local", "--", "is:unread", "-folder:inbox"], capsys)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["FOLDER", "UID", "DATE"]
    assert len(lines) == 2 and "Lists/python" in lines[1] and "[python-dev]" in lines[1]


def test_empty_results_are_an_empty_array(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["search", "--json", "--local", "nothing-like-this"], capsys)
    assert status == 0 and json.loads(out) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "from:"], "mailtui: bad query: from: needs a value"),
        (["search", "(lunch"], "mailtui: bad query: '(' without a matching ')' (at column 1)"),
        (["search", "is:maybe"], "mailtui: bad query: is:maybe is not known"),
    ],
)
def test_bad_queries_are_usage_errors(
    env: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(argv, capsys)
    assert status == 2 and out == "" and err.startswith(message) and err.count("\n") == 1


def test_unknown_folder_and_account(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["search", "--json", "--local", "folder:Nope"], capsys)
    assert status == 0 and json.loads(out) == []
    assert "no folder 'Nope'" in err
    status, _, err = run(["search", "--account", "nobody", "lunch"], capsys)
    assert status == 1 and "no account named 'nobody'" in err


def test_without_config_local_only_and_says_so(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A5 has no cached body: a text query could match it on a server we cannot reach.
    status, out, err = run(["search", "--json", "lunch"], capsys)
    assert status == 0 and len(json.loads(out)) == 3
    assert "local results only" in err
    status, _, err = run(["search", "--json", "subject:lunch"], capsys)
    assert status == 0 and err == ""  # nothing the server could add


def test_server_results_follow_local_ones(
    mail_user: MailUser,
    device: Device,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv(paths.CONFIG_ENV, str(write_config(mail_user, data)))
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    subject_hit = device.append("INBOX", raw("Zanzibar trip", "Ann <ann@example.org>", "x", 3))
    body_hit = device.append("INBOX", raw("Plans", "Bob <bob@example.org>", "to zanzibar", 4))
    device.append("INBOX", raw("Other", "Cy <cy@example.org>", "nothing", 5))

    async def sync() -> None:
        async with await Store.open(paths.store_path(data)) as store:
            account = config_for(mail_user, data).accounts[0]
            await AccountSync(account, store, SyncSettings(prefetch="none")).run_once()

    asyncio.run(sync())
    status, out, err = run(["search", "--json", "zanzibar"], capsys)
    assert status == 0, err
    found = [(m["uid"], m["source"]) for m in json.loads(out)]
    assert found == [(subject_hit, "local"), (body_hit, "server")]
    status, out, err = run(["search", "zanzibar"], capsys)
    assert "* 1 found on the server" in err and "not synced" not in err
    assert [line[0] for line in out.splitlines()[1:]] == [" ", "*"]
    # Mail that arrived after the last sync: counted, not shown (no row to show yet).
    device.append("INBOX", raw("Later", "Dee <dee@example.org>", "zanzibar again", 6))
    status, out, err = run(["search", "--json", "zanzibar"], capsys)
    assert status == 0 and len(json.loads(out)) == 2
    assert "1 more found on the server are not synced yet; run 'mailtui sync'" in err
