"""Config file validation, paths and their overrides, credentials and log redaction."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync import logsetup, paths
from sync.config import (
    Config,
    ConfigError,
    ConfigNotFound,
    PasswordSource,
    Secret,
    load_config,
    render_example,
)
from sync.credentials import CredentialError, resolve_secret
from sync.engine.account import SyncSettings
from sync.logsetup import configure_logging, redact, register_secret

REPO = Path(__file__).resolve().parents[1]
SECRET = "hunter2-Zq9!secret"

MINIMAL = """\
[accounts.personal]
email = "me@example.org"
imap_host = "imap.example.org"
password_command = "pass show mail/personal"
"""

FULL = (
    """\
data_dir = "state"
prefetch = "all"
poll_interval = 30
viewed_poll_interval = 5
show_all_folders = true
sync_virtual_folders = true
theme = "nord"
mouse = false

[keys]
archive = "a"
delete = "d,delete"

[notify]
bell = true
new_mail_command = "notify-send mail"

[accounts.personal]
email = "me@example.org"
name = "Me"
imap_host = "imap.example.org"
imap_port = 10993
imap_security = "tls"
username = "me"
password_command = "pass show mail/personal"
ca_file = "ca.pem"
fingerprint = "SHA256:"""
    + "AB:CD:EF:01:23:45:67:89:" * 3
    + """AB:CD:EF:01:23:45:67:89"
smtp_host = "smtp.example.org"
smtp_port = 2525
smtp_security = "starttls"
smtp_username = "me-smtp"
archive_folder = "Archives/2026"
save_sent = false

[accounts.work]
email = "me@work.example"
imap_host = "127.0.0.1"
imap_security = "none"
keyring = true
"""
)


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str) -> Config:
    return load_config(write(tmp_path, text))


# -- valid files -------------------------------------------------------------------------------


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_text(tmp_path, MINIMAL)
    (account,) = config.accounts
    assert account.name == "personal"
    assert account.imap_port == 993 and account.imap_security == "tls"
    assert account.username == "me@example.org" and account.smtp_username == "me@example.org"
    assert account.smtp_host is None and account.smtp_port == 465
    assert account.save_sent is True and account.allow_insecure is False
    assert account.password_source == PasswordSource(
        "command", account="personal", command="pass show mail/personal"
    )
    assert config.prefetch == "recent" and config.poll_interval == 60.0
    assert config.show_all_folders is False and config.mouse is True
    assert config.viewed_poll_interval == 15.0 and config.sync_virtual_folders is False
    assert dict(config.keys) == {} and config.theme is None and config.data_dir is None
    assert config.notify.bell is False and config.path == tmp_path / "config.toml"


def test_full_config(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("cert")
    config = load_text(tmp_path, FULL)
    personal = config.account("personal")
    work = config.account("work")
    assert personal is not None and work is not None and config.account("nope") is None
    assert config.data_dir == tmp_path / "state"  # relative to the config file
    assert (config.prefetch, config.poll_interval) == ("all", 30.0)
    assert (config.show_all_folders, config.theme, config.mouse) == (True, "nord", False)
    assert (config.viewed_poll_interval, config.sync_virtual_folders) == (5.0, True)
    settings = SyncSettings.from_config(config)
    assert (settings.viewed_poll_interval, settings.sync_virtual_folders) == (5.0, True)
    assert dict(config.keys) == {"archive": "a", "delete": "d,delete"}
    assert config.notify.bell and config.notify.new_mail_command == "notify-send mail"
    assert personal.display_name == "Me" and personal.imap_port == 10993
    assert personal.username == "me" and personal.smtp_username == "me-smtp"
    assert personal.ca_file == tmp_path / "ca.pem"
    assert personal.fingerprint == "abcdef0123456789" * 4
    assert (personal.smtp_host, personal.smtp_port, personal.smtp_security) == (
        "smtp.example.org",
        2525,
        "starttls",
    )
    assert personal.archive_folder == "Archives/2026" and personal.save_sent is False
    # "none" is fine on loopback; ports default from security.
    assert (work.imap_security, work.imap_port) == ("none", 143)
    assert work.password_source.kind == "keyring"
    assert work.password_source.keyring_user == "work"


@pytest.mark.parametrize(
    ("security", "imap_port", "smtp_port"),
    [("tls", 993, 465), ("starttls", 143, 587), ("none", 143, 25)],
)
def test_ports_default_from_security(
    tmp_path: Path, security: str, imap_port: int, smtp_port: int
) -> None:
    text = MINIMAL.replace('"imap.example.org"', '"localhost"') + (
        f'imap_security = "{security}"\nsmtp_host = "localhost"\nsmtp_security = "{security}"\n'
    )
    (account,) = load_text(tmp_path, text).accounts
    assert (account.imap_port, account.smtp_port) == (imap_port, smtp_port)


def test_insecure_allowed_when_asked(tmp_path: Path) -> None:
    text = MINIMAL + 'imap_security = "none"\nallow_insecure = true\n'
    (account,) = load_text(tmp_path, text).accounts
    assert account.imap_security == "none" and account.allow_insecure


def test_rendered_example_is_valid(tmp_path: Path) -> None:
    config = load_text(tmp_path, render_example())
    assert [a.name for a in config.accounts] == ["personal"]


def test_oauth2_source(tmp_path: Path) -> None:
    text = MINIMAL.replace("password_command", "oauth2_token_command")
    (account,) = load_text(tmp_path, text).accounts
    assert account.password_source.is_oauth2
    assert account.password_source.command == "pass show mail/personal"


# -- invalid files: one message naming file and key, with an example ---------------------------

# (description, config text, the key named, a fragment of the problem)
BAD = [
    (
        "unknown top key",
        "pol_interval = 5\n" + MINIMAL,
        "pol_interval",
        'did you mean "poll_interval"',
    ),
    (
        "unknown account key",
        MINIMAL + "imap_prot = 993\n",
        "accounts.personal.imap_prot",
        'did you mean "imap_port"',
    ),
    (
        "account at top level",
        MINIMAL.replace("[accounts.personal]", "[personal]"),
        "personal",
        "[accounts.personal]",
    ),
    ("singular accounts", MINIMAL.replace("[accounts.", "[account."), "account", '"accounts"'),
    ("no accounts", "prefetch = 'all'\n", "accounts", "no account"),
    ("accounts not tables", 'accounts = "x"\n', "accounts", "one [accounts.NAME]"),
    ("port as string", MINIMAL + 'imap_port = "993"\n', "accounts.personal.imap_port", "port"),
    ("port as bool", MINIMAL + "imap_port = true\n", "accounts.personal.imap_port", "port"),
    ("port too big", MINIMAL + "smtp_port = 70000\n", "accounts.personal.smtp_port", "70000"),
    (
        "bad security",
        MINIMAL + 'imap_security = "ssl"\n',
        "accounts.personal.imap_security",
        "'ssl'",
    ),
    (
        "plain text to a remote host",
        MINIMAL + 'imap_security = "none"\n',
        "accounts.personal.imap_security",
        "allow_insecure",
    ),
    (
        "plain smtp to a remote host",
        MINIMAL + 'smtp_host = "smtp.example.org"\nsmtp_security = "none"\n',
        "accounts.personal.smtp_security",
        "loopback",
    ),
    (
        "missing host",
        MINIMAL.replace('imap_host = "imap.example.org"\n', ""),
        "accounts.personal.imap_host",
        "required",
    ),
    (
        "host with scheme",
        MINIMAL.replace('"imap.example.org"', '"imaps://imap.example.org"'),
        "accounts.personal.imap_host",
        "host name only",
    ),
    (
        "host with port",
        MINIMAL.replace('"imap.example.org"', '"imap.example.org:993"'),
        "accounts.personal.imap_host",
        "host name only",
    ),
    (
        "missing email",
        MINIMAL.replace('email = "me@example.org"\n', ""),
        "accounts.personal.email",
        "required",
    ),
    (
        "email without @",
        MINIMAL.replace("me@example.org", "me"),
        "accounts.personal.email",
        "not an address",
    ),
    (
        "no password source",
        MINIMAL.replace('password_command = "pass show mail/personal"\n', ""),
        "accounts.personal",
        "no password source",
    ),
    (
        "keyring = false is no source",
        MINIMAL.replace('password_command = "pass show mail/personal"', "keyring = false"),
        "accounts.personal",
        "no password source",
    ),
    (
        "two password sources",
        MINIMAL + "keyring = true\n",
        "accounts.personal.keyring",
        "only one password source",
    ),
    (
        "keyring not bool",
        MINIMAL + 'keyring = "yes"\n',
        "accounts.personal.keyring",
        "true or false",
    ),
    (
        "empty command",
        MINIMAL.replace("pass show mail/personal", " "),
        "accounts.personal.password_command",
        "empty",
    ),
    ("bad prefetch", 'prefetch = "some"\n' + MINIMAL, "prefetch", '"none" | "recent" | "all"'),
    ("zero poll", "poll_interval = 0\n" + MINIMAL, "poll_interval", "above 0"),
    ("string poll", 'poll_interval = "60"\n' + MINIMAL, "poll_interval", "seconds"),
    (
        "viewed poll too long",
        "viewed_poll_interval = 90000\n" + MINIMAL,
        "viewed_poll_interval",
        "at most 86400",
    ),
    ("mouse not bool", 'mouse = "yes"\n' + MINIMAL, "mouse", "true or false"),
    ("keys not table", 'keys = "a"\n' + MINIMAL, "keys", "must be a table"),
    ("key binding not string", "[keys]\narchive = 1\n" + MINIMAL, "keys.archive", "string"),
    ("notify typo", "[notify]\nbel = true\n" + MINIMAL, "notify.bel", 'did you mean "bell"'),
    (
        "missing ca file",
        MINIMAL + 'ca_file = "nope.pem"\n',
        "accounts.personal.ca_file",
        "no such file",
    ),
    (
        "bad fingerprint",
        MINIMAL + 'fingerprint = "abc"\n',
        "accounts.personal.fingerprint",
        "64 hex",
    ),
    (
        "bad account name",
        MINIMAL.replace("[accounts.personal]", '[accounts."my account"]'),
        "accounts.my account",
        "account name",
    ),
    ("control character", MINIMAL + 'name = "Me\\u001b[2J"\n', "accounts.personal.name", "control"),
    ("not toml", MINIMAL + "imap_port = \n", None, "not valid TOML"),
]


@pytest.mark.parametrize(
    ("text", "key", "problem"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_config_names_file_and_key(
    tmp_path: Path, text: str, key: str | None, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    message = str(error)
    assert error.key == key
    assert message.startswith(f"config file {path}")
    if key is not None:
        assert f"{path}: {key}:" in message
        assert "for example:" in message  # an example of right
    assert problem in message
    assert "Traceback" not in message


def test_unknown_key_without_close_match_lists_known_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(
            tmp_path,
            MINIMAL.replace("[accounts.personal]", "[notify]\nzzz = 1\n[accounts.personal]"),
        )
    assert caught.value.key == "notify.zzz"
    assert "unknown key (known here: bell, new_mail_command)" in str(caught.value)


def test_missing_file_is_config_not_found(tmp_path: Path) -> None:
    with pytest.raises(ConfigNotFound) as caught:
        load_config(tmp_path / "absent.toml")
    assert str(tmp_path / "absent.toml") in str(caught.value)


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "dir.toml")
    (tmp_path / "bin.toml").write_bytes(b"email = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path / "bin.toml")


# -- secrets never shown -----------------------------------------------------------------------

SECRET_CASES = [
    # another error in the same account
    MINIMAL.replace('password_command = "pass show mail/personal"', f'password = "{SECRET}"')
    + "imap_port = 0\n",
    # two sources
    MINIMAL + f'password = "{SECRET}"\n',
    # a typo'd key holding the secret
    MINIMAL.replace('password_command = "pass show mail/personal"', f'pasword = "{SECRET}"'),
    # a TOML syntax error on the secret's line
    MINIMAL.replace('password_command = "pass show mail/personal"', f'password = "{SECRET}'),
    MINIMAL.replace('password_command = "pass show mail/personal"', f"password = {SECRET}"),
]


@pytest.mark.parametrize("text", SECRET_CASES)
def test_errors_never_show_the_password(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    for shown in (str(caught.value), repr(caught.value), repr(caught.value.args)):
        assert SECRET not in shown
        assert "hunter2" not in shown


def test_config_repr_hides_the_password(tmp_path: Path) -> None:
    text = MINIMAL.replace('password_command = "pass show mail/personal"', f'password = "{SECRET}"')
    config = load_text(tmp_path, text)
    (account,) = config.accounts
    for shown in (repr(config), str(config), repr(account), f"{account.password_source}"):
        assert SECRET not in shown
        assert "***" in shown
    assert account.password_source.secret == Secret(SECRET)
    assert account.password_source.secret is not None
    assert account.password_source.secret.reveal() == SECRET
    assert f"{account.password_source.secret}" == "***"


# -- paths -------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point every platform dir into ``tmp_path/home`` and clear our overrides."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", "cfg"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv(paths.CONFIG_ENV, raising=False)
    monkeypatch.delenv(paths.DATA_DIR_ENV, raising=False)
    return home


def test_default_paths_follow_platformdirs(clean_env: Path) -> None:
    assert paths.config_path() == clean_env / "cfg" / "mailtui" / "config.toml"
    assert paths.data_dir(None) == clean_env / "data" / "mailtui"
    assert (
        paths.store_path(paths.data_dir(None)) == clean_env / "data" / "mailtui" / "mailtui.sqlite3"
    )
    assert paths.log_dir(None).is_relative_to(clean_env / "state" / "mailtui")
    assert not clean_env.exists()  # computing paths creates nothing


def test_overrides_in_order(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(paths.CONFIG_ENV, str(tmp_path / "env.toml"))
    assert paths.config_path() == tmp_path / "env.toml"
    assert paths.config_path(str(tmp_path / "arg.toml")) == tmp_path / "arg.toml"

    config = load_text(tmp_path, 'data_dir = "~/maildata"\n' + MINIMAL)
    assert paths.data_dir(config) == clean_env / "maildata"  # ~ expanded
    assert paths.log_dir(config) == clean_env / "maildata" / "logs"
    assert paths.cache_dir(config) == clean_env / "maildata" / "cache"

    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path / "envdata"))
    assert paths.data_dir(config) == tmp_path / "envdata"  # env beats the file
    assert paths.data_dir(None) == tmp_path / "envdata"
    assert paths.log_dir(None) == tmp_path / "envdata" / "logs"


def test_importing_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO)}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env.pop(var, None)
    code = "import sync.paths, sync.config, sync.credentials, sync.logsetup, tui.cli"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path)
    assert not home.exists()


# -- credentials -------------------------------------------------------------------------------


def command_source(command: str, kind: str = "command") -> PasswordSource:
    return PasswordSource(kind, account="personal", command=command)  # type: ignore[arg-type]


async def test_literal_password_is_registered_for_redaction() -> None:
    source = PasswordSource("password", account="a", secret=Secret("lit-" + SECRET))
    assert await resolve_secret(source) == "lit-" + SECRET
    assert redact(f"sent lit-{SECRET} to server") == "sent *** to server"


async def test_command_first_line_is_the_secret() -> None:
    source = command_source(f"printf '%s\\r\\nsecond line\\n' 'cmd-{SECRET}'")
    assert await resolve_secret(source) == f"cmd-{SECRET}"
    token = command_source("echo tok-abc.def", kind="oauth2_command")
    assert await resolve_secret(token) == "tok-abc.def"


async def test_failing_command_reports_status_and_stderr_not_secret() -> None:
    source = command_source(
        f"echo 'fail-{SECRET}'; echo 'gpg: decryption failed fail-{SECRET}' >&2; "
        "echo 'second stderr line' >&2; exit 3"
    )
    with pytest.raises(CredentialError) as caught:
        await resolve_secret(source)
    message = str(caught.value)
    assert "exit status 3" in message
    assert "gpg: decryption failed" in message
    assert "second stderr line" not in message
    assert SECRET not in message
    assert "'personal'" in message


@pytest.mark.parametrize(
    ("command", "problem"),
    [("true", "printed nothing"), ("printf '\\n'", "printed nothing"), ("exit 7", "exit status 7")],
)
async def test_command_problems(command: str, problem: str) -> None:
    with pytest.raises(CredentialError, match=problem):
        await resolve_secret(command_source(command))


async def test_command_timeout_kills_the_pipeline() -> None:
    started = time.monotonic()
    with pytest.raises(CredentialError, match=r"timed out after 0\.3 s"):
        # `cat` keeps stdout open after the shell is gone: only a group kill ends it.
        await resolve_secret(command_source("sleep 30 | cat"), time_limit=0.3)
    assert time.monotonic() - started < 5


# -- logging -----------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    levels = {name: logging.getLogger(name).level for name in ("sync", "tui")}
    yield
    for handler in list(root.handlers):
        if handler not in saved[0]:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(saved[1])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)


async def test_log_file_is_private_rotating_and_redacted(
    tmp_path: Path, restore_logging: None
) -> None:
    log_file = configure_logging(tmp_path / "logs", verbose=False, to_stderr=False)
    assert log_file == tmp_path / "logs" / logsetup.LOG_FILENAME
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    resolved = await resolve_secret(command_source(f"echo 'log-{SECRET}'"))
    log = logging.getLogger("sync.test")
    log.info("resolved %s for account", resolved)
    log.info('C: a1 LOGIN me@example.org "quoted-pw"')
    log.info("C: a2 AUTHENTICATE PLAIN AG1lAHBsYWluLXB3")
    log.info("connecting with password=plain-pw and token: tok-xyz")
    log.debug("debug is off")
    try:
        raise ValueError(f"server said no to {resolved}")
    except ValueError:
        log.exception("login failed")
    configure_logging(tmp_path / "logs", verbose=True, to_stderr=False)  # replaces, no duplicate
    log.debug("debug is on")
    text = log_file.read_text()
    for leaked in (SECRET, "quoted-pw", "AG1lAHBsYWluLXB3", "plain-pw", "tok-xyz"):
        assert leaked not in text
    assert "resolved *** for account" in text
    assert "ValueError: server said no to ***" in text
    assert "debug is off" not in text
    assert text.count("debug is on") == 1
    file_handlers = [h for h in logging.getLogger().handlers if getattr(h, "_mailtui", False)]
    assert len(file_handlers) == 1


def test_rotated_logs_stay_private(tmp_path: Path, restore_logging: None) -> None:
    log_file = configure_logging(tmp_path, verbose=False, to_stderr=False, max_bytes=2000)
    for number in range(100):
        logging.getLogger("sync.rotate").info("line %d %s", number, "x" * 50)
    files = sorted(tmp_path.glob(logsetup.LOG_FILENAME + "*"))
    assert [f.name for f in files] == [
        "mailtui.log",
        "mailtui.log.1",
        "mailtui.log.2",
        "mailtui.log.3",
    ]
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    assert "line 99 " in log_file.read_text()


def test_register_secret_ignores_empty() -> None:
    register_secret("")
    assert redact("nothing to hide") == "nothing to hide"
    register_secret(f"xx-{SECRET}")
    assert redact(f"a xx-{SECRET} b") == "a *** b"


def test_stderr_handler_only_when_asked(
    tmp_path: Path, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(tmp_path, verbose=False, to_stderr=True)
    logging.getLogger("sync.x").warning("careful: password=%s", "pw-123")
    logging.getLogger("sync.x").info("quiet on the terminal")
    err = capsys.readouterr().err
    assert "careful: password=***" in err and "pw-123" not in err
    assert "quiet on the terminal" not in err
