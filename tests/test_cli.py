"""The ``mailtui`` command line: exit statuses, messages, and the store queries' output."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import types
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from sync import paths
from sync.config import Config, load_config
from sync.store import MessageRecord, Store
from tui.cli import main

REPO = Path(__file__).resolve().parents[1]
CONFIG = """\
[accounts.personal]
email = "me@example.org"
imap_host = "imap.example.org"
password = "cli-secret-pw-42"
"""
HOSTILE_SUBJECT = "pay now\x1b]0;owned\x07 \u202egnp.exe\u202c [bold]x[/]"
INBOX_COUNT = 1203  # more than two of the CLI's 500-row pages


@dataclass
class Env:
    config: Path
    data: Path

    @property
    def store(self) -> Path:
        return paths.store_path(self.data)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """A private config path and data dir through the env, platform dirs pointed away too."""
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var))
    config = tmp_path / "config.toml"
    data = tmp_path / "data"
    monkeypatch.setenv(paths.CONFIG_ENV, str(config))
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(data))
    return Env(config, data)


def record(uid: int, **fields: object) -> MessageRecord:
    values: dict[str, object] = {
        "uid": uid,
        "message_id": f"<m{uid}@example.org>",
        "subject": f"Subject {uid}",
        "from_name": f"Sender {uid % 7}",
        "from_addr": f"s{uid % 7}@example.org",
        "to": "me@example.org",
        "cc": "",
        "date": 1_700_000_000 + uid * 60,
        # Arrival order differs from UID order for a few, to show list order is by arrival.
        "internaldate": 1_700_000_000 + (uid if uid % 100 else uid + 1_000) * 60,
        "size": 1000 + uid,
        "flags": ("\\Seen",) if uid % 3 else (),
        "modseq": None,
        "has_attachment": uid % 11 == 0,
        "in_reply_to": None,
        "references": None,
    }
    values.update(fields)
    return MessageRecord(**values)  # type: ignore[arg-type]


async def fill_store(path: Path) -> None:
    """Two accounts, both with an INBOX; a non-ASCII folder; a hostile subject."""
    path.parent.mkdir(parents=True, exist_ok=True)
    store = await Store.open(path)
    try:
        async with store.write() as w:
            personal = await w.ensure_account("personal", "me@example.org")
            work = await w.ensure_account("work", "me@work.example")
            inbox = await w.upsert_folder(
                personal, "INBOX", display_name="Inbox", delimiter="/", special_use=None
            )
            sent = await w.upsert_folder(
                personal, "Sent", display_name="Sent", delimiter="/", special_use="\\Sent"
            )
            ete = await w.upsert_folder(
                personal, "&AMk-t&AOk-", display_name="Été", delimiter="/", special_use=None
            )
            work_inbox = await w.upsert_folder(
                work, "INBOX", display_name="Inbox", delimiter="/", special_use=None
            )
            await w.upsert_messages(inbox, [record(uid) for uid in range(1, INBOX_COUNT + 1)])
            await w.upsert_messages(sent, [record(1, flags=("\\Seen", "\\Answered", "$Forwarded"))])
            await w.upsert_messages(
                ete, [record(5, subject=HOSTILE_SUBJECT, from_name="Evil\x1b[2J", flags=())]
            )
            await w.upsert_messages(work_inbox, [record(9), record(10)])
    finally:
        await store.close()


@pytest.fixture
def filled(env: Env) -> Env:
    env.config.write_text(CONFIG)
    asyncio.run(fill_store(env.store))
    return env


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


# -- version, help, first start, bad config ----------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["--version"], capsys)
    assert status == 0
    name, version = out.split()
    assert name == "mailtui" and version[0].isdigit()


@pytest.mark.parametrize(
    "argv", [["--help"], ["list", "--help"], ["folders", "-h"], ["sync", "--help"]]
)
def test_help_everywhere(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(argv, capsys)
    assert status == 0 and out.startswith("usage: mailtui")


def test_top_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["--help"], capsys)
    for command in ("sync", "folders", "list", "queue", "search", "demo", "--config"):
        assert command in out


@pytest.mark.parametrize("argv", [["frobnicate"], ["list"], ["folders", "--nope"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(argv, capsys)
    assert status == 2 and "usage:" in err


def test_first_start_says_where_the_config_goes(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = run([], capsys)
    assert status == 0 and err == ""
    assert str(env.config) in out
    # The example printed is itself a valid config.
    example = out[out.index("for example:") + len("for example:") : out.index("Then run")]
    (tmp_path / "example.toml").write_text(example)
    assert load_config(tmp_path / "example.toml").accounts[0].name == "personal"
    assert not env.config.exists() and not env.data.exists()  # nothing written for the user


def test_config_option_beats_env(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = run(["--config", str(tmp_path / "other.toml")], capsys)
    assert status == 0 and str(tmp_path / "other.toml") in out


def test_bad_config_is_one_message_exit_2(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.config.write_text(CONFIG + "imap_port = 99999\n")
    for argv in ([], ["folders"], ["list", "INBOX"]):
        status, out, err = run(argv, capsys)
        assert status == 2 and out == ""
        assert str(env.config) in err and "accounts.personal.imap_port" in err
        assert "Traceback" not in err and "cli-secret-pw-42" not in err


@pytest.mark.parametrize("module", [None, types.ModuleType("tui.run")])
def test_tui_not_built_yet(
    env: Env,
    module: types.ModuleType | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import fail as a missing module; an empty module has no
    # run_app().
    monkeypatch.setitem(sys.modules, "tui.run", module)
    env.config.write_text(CONFIG)
    status, out, err = run([], capsys)
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "not built yet" in err


def test_tui_gets_the_config_and_logs_to_a_file(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[Config] = []

    def fake_run(config: Config) -> int:
        received.append(config)
        return 7

    fake = types.ModuleType("tui.run")
    fake.run_app = fake_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tui.run", fake)
    env.config.write_text(CONFIG)
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        status, _, err = run(["-v"], capsys)
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
    assert status == 7 and err == ""
    assert [account.name for account in received[0].accounts] == ["personal"]
    assert (env.data / "logs" / "mailtui.log").is_file()


@pytest.mark.parametrize("argv", [["sync"], ["sync", "--once"]])
def test_stubs_say_so_and_fail(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tui.sync_command", None)  # as before sync was built
    status, out, err = run(argv, capsys)
    assert status == 1 and out == ""
    assert err == f"mailtui: '{argv[0]}' is not built yet\n"


@pytest.fixture
def fake_sync(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Config, bool, bool]]:
    calls: list[tuple[Config, bool, bool]] = []

    def run_sync_command(config: Config, *, once: bool, verbose: bool = False) -> int:
        calls.append((config, once, verbose))
        return 3

    fake = types.ModuleType("tui.sync_command")
    fake.run_sync_command = run_sync_command  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tui.sync_command", fake)
    return calls


@pytest.mark.parametrize(
    ("argv", "once", "verbose"),
    [
        (["sync"], False, False),
        (["sync", "--once"], True, False),
        (["-v", "sync", "--once"], True, True),
    ],
)
def test_sync_runs_the_sync_command(
    env: Env,
    fake_sync: list[tuple[Config, bool, bool]],
    argv: list[str],
    once: bool,
    verbose: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env.config.write_text(CONFIG)
    status, _, _ = run(argv, capsys)
    assert status == 3
    ((config, got_once, got_verbose),) = fake_sync
    assert (config.accounts[0].name, got_once, got_verbose) == ("personal", once, verbose)


def test_sync_without_config(
    env: Env, fake_sync: list[tuple[Config, bool, bool]], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["sync"], capsys)
    assert (status, out, fake_sync) == (2, "", [])
    assert err == f"mailtui: no config file at {env.config}; run 'mailtui' to see an example\n"


# -- folders and list --------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["folders"], ["folders", "--json"], ["list", "INBOX", "--json"]])
def test_nothing_synced_creates_nothing(
    env: Env, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    env.config.write_text(CONFIG)
    status, out, err = run(argv, capsys)
    assert (status, out) == (1, "")
    assert err == "mailtui: nothing synced yet; run 'mailtui sync'\n"
    assert not env.data.exists()


def test_folders_json(filled: Env, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["folders", "--json"], capsys)
    assert status == 0
    folders = json.loads(out)
    unread_inbox = sum(1 for uid in range(1, INBOX_COUNT + 1) if uid % 3 == 0)
    assert folders == [
        {
            "account": "personal",
            "name": "&AMk-t&AOk-",
            "display_name": "Été",
            "special_use": None,
            "total": 1,
            "unread": 1,
        },
        {
            "account": "personal",
            "name": "INBOX",
            "display_name": "Inbox",
            "special_use": None,
            "total": INBOX_COUNT,
            "unread": unread_inbox,
        },
        {
            "account": "personal",
            "name": "Sent",
            "display_name": "Sent",
            "special_use": "\\Sent",
            "total": 1,
            "unread": 0,
        },
        {
            "account": "work",
            "name": "INBOX",
            "display_name": "Inbox",
            "special_use": None,
            "total": 2,
            "unread": 1,
        },
    ]
    status, out, _ = run(["folders", "--json", "--account", "work"], capsys)
    assert [f["account"] for f in json.loads(out)] == ["work"]


def test_folders_table(filled: Env, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["folders"], capsys)
    lines = out.splitlines()
    assert status == 0 and lines[0].split() == ["ACCOUNT", "FOLDER", "UNREAD", "TOTAL", "ROLE"]
    assert lines[2].split() == ["personal", "Inbox", "401", str(INBOX_COUNT)]
    assert lines[3].split() == ["personal", "Sent", "0", "1", "\\Sent"]


def test_list_json_streams_the_whole_folder_newest_first(
    filled: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["list", "INBOX", "--account", "personal", "--json"], capsys)
    assert status == 0
    messages = json.loads(out)
    assert len(messages) == INBOX_COUNT
    assert len({m["uid"] for m in messages}) == INBOX_COUNT
    expected_order = sorted(
        range(1, INBOX_COUNT + 1), key=lambda uid: (record(uid).internaldate, uid), reverse=True
    )
    assert [m["uid"] for m in messages] == expected_order
    first = next(m for m in messages if m["uid"] == 33)
    assert first == {
        "uid": 33,
        "message_id": "<m33@example.org>",
        "subject": "Subject 33",
        "from": {"name": "Sender 5", "email": "s5@example.org"},
        "date": "2023-11-14T22:46:20+00:00",  # ISO 8601, UTC
        "flags": [],
        "size": 1033,
    }
    assert datetime.fromisoformat(first["date"]).timestamp() == record(33).date


def test_list_flags_as_imap_spells_them(filled: Env, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["list", "Sent", "--json"], capsys)
    assert status == 0
    assert sorted(json.loads(out)[0]["flags"]) == ["$Forwarded", "\\Answered", "\\Seen"]


@pytest.mark.parametrize("name", ["Été", "&AMk-t&AOk-", "été"])
def test_list_by_display_or_server_name(
    filled: Env, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["list", name, "--json"], capsys)
    assert status == 0 and [m["uid"] for m in json.loads(out)] == [5]


def test_inbox_any_case_and_ambiguity(filled: Env, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["list", "inbox"], capsys)
    assert status == 1 and "several accounts (personal, work)" in err and "--account" in err
    status, out, _ = run(["list", "inbox", "--account", "work", "--json"], capsys)
    assert status == 0 and [m["uid"] for m in json.loads(out)] == [10, 9]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["list", "Nope"], "mailtui: no folder 'Nope'; 'mailtui folders' lists them\n"),
        (
            ["list", "Sent", "--account", "work"],
            "mailtui: no folder 'Sent' in account 'work'; 'mailtui folders' lists them\n",
        ),
        (
            ["list", "INBOX", "--account", "nobody"],
            "mailtui: no account named 'nobody' (accounts: personal, work)\n",
        ),
        (
            ["folders", "--account", "nobody"],
            "mailtui: no account named 'nobody' (accounts: personal, work)\n",
        ),
    ],
)
def test_unknown_folder_or_account_exit_1(
    filled: Env, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(argv, capsys)
    assert (status, out, err) == (1, "", message)


def test_hostile_strings_cleaned_in_table_kept_in_json(
    filled: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["list", "Été"], capsys)
    assert status == 0
    header, row = out.splitlines()
    assert header.split() == ["UID", "DATE", "FLAG", "FROM", "SUBJECT"]
    for bad in ("\x1b", "\x07", "\u202e", "\u202c"):
        assert bad not in out
    assert "pay now" in row and "[bold]x[/]" in row and row.split()[3] == "N"
    status, out, _ = run(["list", "Été", "--json"], capsys)
    assert out.isascii()  # escaped: a terminal sees no raw control; a parser gets it all back
    (message,) = json.loads(out)
    assert message["subject"] == HOSTILE_SUBJECT
    assert message["from"] == {"name": "Evil\x1b[2J", "email": "s5@example.org"}


def test_table_aligns_wide_characters() -> None:
    from tui.cli import _fit

    assert _fit("山田 太郎", 12) == "山田 太郎   "  # 9 columns + 3 spaces
    assert _fit("山田太郎山田太郎", 7) == "山田太…"  # 6 columns + the ellipsis
    assert _fit("e\u0301te\u0301", 5) == "e\u0301te\u0301  "  # combining accents take none
    assert _fit("abcdef", 4) == "abc…"


@pytest.mark.parametrize("before", [True, False])
def test_config_option_before_or_after_the_command(
    filled: Env, before: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(paths.CONFIG_ENV)
    monkeypatch.delenv(paths.DATA_DIR_ENV)
    filled.config.write_text(f'data_dir = "{filled.data}"\n' + CONFIG)
    option = ["--config", str(filled.config)]
    argv = [*option, "folders", "--json"] if before else ["folders", "--json", *option]
    status, out, _ = run(argv, capsys)
    assert status == 0 and len(json.loads(out)) == 4


def test_unreadable_store_is_one_line(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.data.mkdir()
    env.store.write_bytes(b"this is not a database, just bytes" * 100)
    status, _, err = run(["folders"], capsys)
    assert status == 1 and err.startswith("mailtui: cannot open the store") and err.count("\n") == 1


# -- through a real process --------------------------------------------------------------------


def run_process(argv: list[str], env: Env) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        paths.CONFIG_ENV: str(env.config),
        paths.DATA_DIR_ENV: str(env.data),
    }
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *argv],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_process_exit_statuses(filled: Env) -> None:
    done = run_process(["--version"], filled)
    assert done.returncode == 0 and done.stdout.startswith("mailtui ")
    done = run_process(["list", "Sent", "--json"], filled)
    assert done.returncode == 0 and json.loads(done.stdout)[0]["uid"] == 1
    done = run_process(["list", "Nope"], filled)
    assert done.returncode == 1 and done.stderr.startswith("mailtui: no folder")
    filled.config.write_text(CONFIG + "bogus = 1\n")
    done = run_process(["folders"], filled)
    assert done.returncode == 2 and "accounts.personal.bogus" in done.stderr
    assert "Traceback" not in done.stderr


def test_broken_pipe_is_quiet(filled: Env) -> None:
    environ = {**os.environ, "PYTHONPATH": str(REPO), paths.DATA_DIR_ENV: str(filled.data)}
    environ[paths.CONFIG_ENV] = str(filled.config)
    done = subprocess.run(
        f"'{sys.executable}' -m tui.cli list INBOX --account personal | head -n 2",
        shell=True,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert len(done.stdout.splitlines()) == 2 and done.stderr == ""
