"""The config file: TOML, validated strictly into frozen dataclasses.

The file format is a stable interface (other tools and tests write it); docs/config.md is its
reference. Every problem becomes one ``ConfigError`` that names the file, the key with its
place (``accounts.personal.imap_port``), what is wrong and an example of right. Unknown keys
are errors (a typo must not silently fall back to a default), with a "did you mean" when close.

Secrets never leave this module in a printable form: a literal ``password`` is wrapped in
``Secret`` (whose repr and str are ``***``) and error messages never quote a secret's value.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, cast, get_args

__all__ = [
    "AccountConfig",
    "Config",
    "ConfigError",
    "ConfigNotFound",
    "NotifyConfig",
    "PasswordSource",
    "Prefetch",
    "Secret",
    "Security",
    "default_imap_port",
    "default_smtp_port",
    "load_config",
    "parse_config",
    "render_example",
]

Security = Literal["tls", "starttls", "none"]
Prefetch = Literal["none", "recent", "all"]
PasswordKind = Literal["password", "command", "keyring", "oauth2_command"]

SECURITIES: Final = get_args(Security)
PREFETCHES: Final = get_args(Prefetch)
KEYRING_SERVICE: Final = "mailtui"

_TOP_KEYS: Final = (
    "accounts",
    "data_dir",
    "prefetch",
    "poll_interval",
    "viewed_poll_interval",
    "show_all_folders",
    "sync_virtual_folders",
    "theme",
    "mouse",
    "keys",
    "notify",
)
_ACCOUNT_KEYS: Final = (
    "email",
    "name",
    "imap_host",
    "imap_port",
    "imap_security",
    "username",
    "password",
    "password_command",
    "keyring",
    "oauth2_token_command",
    "ca_file",
    "fingerprint",
    "allow_insecure",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "archive_folder",
    "save_sent",
)
_PASSWORD_KEYS: Final = ("password", "password_command", "keyring", "oauth2_token_command")
_NOTIFY_KEYS: Final = ("bell", "new_mail_command")
# Keys whose values are never quoted back in a message.
_SECRET_KEYS: Final = frozenset({"password"})

_EXAMPLES: Final[Mapping[str, str]] = {
    "accounts": '[accounts.personal]\nemail = "me@example.org"\nimap_host = "imap.example.org"',
    "data_dir": 'data_dir = "~/mail/mailtui"',
    "prefetch": 'prefetch = "recent"   # "none" | "recent" | "all"',
    "poll_interval": "poll_interval = 60",
    "viewed_poll_interval": "viewed_poll_interval = 15",
    "show_all_folders": "show_all_folders = false",
    "sync_virtual_folders": "sync_virtual_folders = false",
    "theme": 'theme = "textual-dark"',
    "mouse": "mouse = true",
    "keys": '[keys]\narchive = "a"',
    "notify": "[notify]\nbell = true",
    "bell": "bell = true",
    "new_mail_command": 'new_mail_command = "notify-send mailtui \\"new mail\\""',
    "email": 'email = "me@example.org"',
    "name": 'name = "Me"',
    "imap_host": 'imap_host = "imap.example.org"',
    "imap_port": "imap_port = 993",
    "imap_security": 'imap_security = "tls"   # "tls" | "starttls" | "none"',
    "username": 'username = "me@example.org"',
    "password": 'password_command = "pass show mail/personal"   # better than password = "..."',
    "password_command": 'password_command = "pass show mail/personal"',
    "keyring": "keyring = true",
    "oauth2_token_command": 'oauth2_token_command = "oauth2-token --account personal"',
    "ca_file": 'ca_file = "~/.config/mailtui/server-ca.pem"',
    "fingerprint": 'fingerprint = "sha256:3B:4F:...:9A"   # 32 bytes in hex, colons optional',
    "allow_insecure": "allow_insecure = true",
    "smtp_host": 'smtp_host = "smtp.example.org"',
    "smtp_port": "smtp_port = 465",
    "smtp_security": 'smtp_security = "tls"   # "tls" | "starttls" | "none"',
    "smtp_username": 'smtp_username = "me@example.org"',
    "archive_folder": 'archive_folder = "Archive"',
    "save_sent": "save_sent = true",
}

_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")
_HEX_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


class Secret:
    """A secret string that hides itself from repr, str, format and logs; ``reveal()`` reads it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself: only for handing it to the server."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, format_spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True, slots=True)
class PasswordSource:
    """Where an account's secret comes from; ``sync.credentials.resolve_secret`` reads it.

    ``kind`` is ``password`` (``secret`` set), ``command`` or ``oauth2_command`` (``command``
    set: a shell command whose first stdout line is the secret, an OAuth2 access token for
    ``oauth2_command``), or ``keyring`` (``keyring_service``/``keyring_user`` set).
    """

    kind: PasswordKind
    account: str = ""
    secret: Secret | None = None
    command: str | None = None
    keyring_service: str | None = None
    keyring_user: str | None = None

    @property
    def is_oauth2(self) -> bool:
        """True when the secret is an OAuth2 access token (XOAUTH2/OAUTHBEARER), not a password."""
        return self.kind == "oauth2_command"


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One ``[accounts.NAME]`` table, validated, with every default filled in."""

    name: str
    email: str
    display_name: str | None
    imap_host: str
    imap_port: int
    imap_security: Security
    username: str
    password_source: PasswordSource
    ca_file: Path | None
    fingerprint: str | None  # lowercase hex SHA-256 of the server certificate (DER)
    smtp_host: str | None
    smtp_port: int
    smtp_security: Security
    smtp_username: str
    allow_insecure: bool
    archive_folder: str | None
    save_sent: bool


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """The ``[notify]`` table: what happens when new mail arrives."""

    bell: bool = False
    new_mail_command: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """The whole config file, validated. ``path`` is the file it came from."""

    accounts: tuple[AccountConfig, ...]
    data_dir: Path | None = None
    prefetch: Prefetch = "recent"
    poll_interval: float = 60.0
    viewed_poll_interval: float = 15.0
    show_all_folders: bool = False
    sync_virtual_folders: bool = False
    keys: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    theme: str | None = None
    mouse: bool = True
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    path: Path | None = None

    def account(self, name: str) -> AccountConfig | None:
        """Return the account called ``name``, or None."""
        for account in self.accounts:
            if account.name == name:
                return account
        return None


class ConfigError(Exception):
    """A bad config file. ``str()`` is one message: file, key and place, problem, example."""

    def __init__(
        self, path: Path, key: str | None, problem: str, example: str | None = None
    ) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.example = example
        super().__init__(path, key, problem, example)

    def __str__(self) -> str:
        where = f"{self.path}: {self.key}" if self.key else str(self.path)
        message = f"config file {where}: {self.problem}"
        if self.example:
            indented = self.example.replace("\n", "\n    ")
            message += f"\n  for example:\n    {indented}"
        return message


class ConfigNotFound(ConfigError):
    """The config file does not exist (not an error for a first start: show where it goes)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, None, "no such file", None)


def default_imap_port(security: Security) -> int:
    """Return the IMAP port for ``security``: 993 for implicit TLS (RFC 8314 §3.3), else 143."""
    return 993 if security == "tls" else 143


def default_smtp_port(security: Security) -> int:
    """Return the submission port: 465 implicit TLS (RFC 8314 §3.3), 587 STARTTLS, else 25."""
    return {"tls": 465, "starttls": 587, "none": 25}[security]


def render_example() -> str:
    """Return a minimal valid config file (what to write on a first start)."""
    return (
        "# mailtui config: one [accounts.NAME] table per account. Reference: docs/config.md\n"
        "[accounts.personal]\n"
        'email = "me@example.org"\n'
        'imap_host = "imap.example.org"\n'
        'password_command = "pass show mail/personal"\n'
        'smtp_host = "smtp.example.org"\n'
    )


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path``.

    Raises ``ConfigNotFound`` when the file does not exist and ``ConfigError`` for anything
    else wrong with it (unreadable, not TOML, unknown key, wrong type, missing key...).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigNotFound(path) from None
    except OSError as exc:
        raise ConfigError(path, None, f"cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path, None, f"is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    """Validate TOML ``text`` as a config file; ``path`` names it in errors and anchors paths."""
    try:
        # tomllib's messages give a position and at most one character, never a whole value.
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            path, None, f"is not valid TOML: {exc}", 'key = "value"   # strings in double quotes'
        ) from None
    return _Validator(path).config(table)


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date/time"


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Validator:
    """Walks the parsed TOML table; every check raises ``ConfigError`` naming its key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base_dir = path.parent

    def fail(self, key: str | None, problem: str, example_for: str | None = None) -> ConfigError:
        example = _EXAMPLES.get(example_for) if example_for else None
        return ConfigError(self.path, key, problem, example)

    def check_known(self, table: Mapping[str, Any], place: str, known: Iterable[str]) -> None:
        known = tuple(known)
        for key in table:
            if key in known:
                continue
            where = f"{place}.{key}" if place else key
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
            if close:
                hint, example = f'; did you mean "{close[0]}"?', _EXAMPLES.get(close[0])
            elif not place and isinstance(table[key], dict) and "email" in table[key]:
                hint, example = f"; accounts go in [accounts.{key}]", _EXAMPLES["accounts"]
            else:
                hint, example = f" (known here: {', '.join(known)})", None
            raise ConfigError(self.path, where, f"unknown key{hint}", example)

    # Typed getters: ``place`` is the dotted table path, ``key`` the key inside it.

    def get_str(self, table: Mapping[str, Any], place: str, key: str) -> str | None:
        if key not in table:
            return None
        value = table[key]
        where = f"{place}.{key}" if place else key
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string, not {_type_name(value)}", key)
        if not value.strip():
            raise self.fail(where, "must not be empty", key)
        if key not in _SECRET_KEYS and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise self.fail(where, "must not contain control characters", key)
        return value

    def require_str(self, table: Mapping[str, Any], place: str, key: str) -> str:
        value = self.get_str(table, place, key)
        if value is None:
            raise self.fail(f"{place}.{key}" if place else key, "is required", key)
        return value

    def get_bool(self, table: Mapping[str, Any], place: str, key: str, default: bool) -> bool:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            where = f"{place}.{key}" if place else key
            shown = f" ({value!r})" if isinstance(value, str) and key not in _SECRET_KEYS else ""
            raise self.fail(
                where, f"must be true or false (no quotes), not {_type_name(value)}{shown}", key
            )
        return value

    def get_port(self, table: Mapping[str, Any], place: str, key: str, default: int) -> int:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            where = f"{place}.{key}" if place else key
            got = str(value) if isinstance(value, int) else _type_name(value)
            raise self.fail(where, f"must be a port number from 1 to 65535, not {got}", key)
        return value

    def get_choice(
        self, table: Mapping[str, Any], place: str, key: str, choices: tuple[str, ...], default: str
    ) -> str:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str) or value not in choices:
            where = f"{place}.{key}" if place else key
            got = repr(value) if isinstance(value, str) else _type_name(value)
            options = " | ".join(f'"{c}"' for c in choices)
            raise self.fail(where, f"must be one of {options}, not {got}", key)
        return value

    def get_path(
        self, table: Mapping[str, Any], place: str, key: str, *, must_be_file: bool
    ) -> Path | None:
        value = self.get_str(table, place, key)
        if value is None:
            return None
        # Relative paths are relative to the config file, so the file means the same anywhere.
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        if must_be_file and not path.is_file():
            raise self.fail(f"{place}.{key}" if place else key, f"no such file: {path}", key)
        return path

    # The tables.

    def config(self, table: Mapping[str, Any]) -> Config:
        self.check_known(table, "", _TOP_KEYS)
        accounts_table = table.get("accounts")
        if accounts_table is None:
            raise self.fail("accounts", "no account configured", "accounts")
        if not isinstance(accounts_table, dict) or not accounts_table:
            raise self.fail("accounts", "must hold one [accounts.NAME] table", "accounts")
        accounts = tuple(
            self.account(name, value)
            for name, value in cast(dict[str, Any], accounts_table).items()
        )
        poll_interval = self.get_seconds(table, "poll_interval", 60)
        viewed_poll_interval = self.get_seconds(table, "viewed_poll_interval", 15)
        return Config(
            accounts=accounts,
            data_dir=self.get_path(table, "", "data_dir", must_be_file=False),
            prefetch=cast(Prefetch, self.get_choice(table, "", "prefetch", PREFETCHES, "recent")),
            poll_interval=poll_interval,
            viewed_poll_interval=viewed_poll_interval,
            show_all_folders=self.get_bool(table, "", "show_all_folders", False),
            sync_virtual_folders=self.get_bool(table, "", "sync_virtual_folders", False),
            keys=self.keys(table.get("keys", {})),
            theme=self.get_str(table, "", "theme"),
            mouse=self.get_bool(table, "", "mouse", True),
            notify=self.notify(table.get("notify", {})),
            path=self.path,
        )

    def get_seconds(self, table: Mapping[str, Any], key: str, default: float) -> float:
        """A top-level number of seconds above 0 and at most a day."""
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
            got = str(value) if isinstance(value, int | float) else "that"
            raise self.fail(
                key, f"must be a number of seconds above 0 and at most 86400, not {got}", key
            )
        return float(value)

    def keys(self, value: object) -> Mapping[str, str]:
        if not isinstance(value, dict):
            raise self.fail("keys", f"must be a table, not {_type_name(value)}", "keys")
        keys: dict[str, str] = {}
        for action, key in cast(dict[str, Any], value).items():
            if not isinstance(key, str) or not key.strip():
                got = "empty" if isinstance(key, str) else f"not {_type_name(key)}"
                raise ConfigError(
                    self.path,
                    f"keys.{action}",
                    f"must be a key name in a string (several separated by commas), {got}",
                    f'{action} = "ctrl+a,a"',
                )
            keys[action] = key
        return MappingProxyType(keys)

    def notify(self, value: object) -> NotifyConfig:
        if not isinstance(value, dict):
            raise self.fail("notify", f"must be a table, not {_type_name(value)}", "notify")
        table = cast(dict[str, Any], value)
        self.check_known(table, "notify", _NOTIFY_KEYS)
        return NotifyConfig(
            bell=self.get_bool(table, "notify", "bell", False),
            new_mail_command=self.get_str(table, "notify", "new_mail_command"),
        )

    def get_host(self, table: Mapping[str, Any], place: str, key: str) -> str | None:
        host = self.get_str(table, place, key)
        if host is None:
            return None
        # One colon means "host:port"; IPv6 literals have several.
        if "://" in host or "/" in host or host.count(":") == 1:
            raise self.fail(
                f"{place}.{key}", "must be a host name only (no scheme, port or path)", key
            )
        if any(c.isspace() for c in host):
            raise self.fail(f"{place}.{key}", "must not contain spaces", key)
        return host

    def account(self, name: str, value: object) -> AccountConfig:
        place = f"accounts.{name}"
        if not isinstance(value, dict):
            raise self.fail(
                place, f"must be a table [accounts.{name}], not {_type_name(value)}", "accounts"
            )
        if not _ACCOUNT_NAME.fullmatch(name):
            raise self.fail(
                place,
                "an account name is 1 to 64 letters, digits or _ . @ + - (starting with a letter "
                "or digit)",
                "accounts",
            )
        table = cast(dict[str, Any], value)
        self.check_known(table, place, _ACCOUNT_KEYS)

        email = self.require_str(table, place, "email")
        if "@" not in email or any(c.isspace() for c in email):
            raise self.fail(f"{place}.email", f"is not an address: {email!r}", "email")
        imap_host = self.get_host(table, place, "imap_host")
        if imap_host is None:
            raise self.fail(f"{place}.imap_host", "is required", "imap_host")
        imap_security = cast(
            Security, self.get_choice(table, place, "imap_security", SECURITIES, "tls")
        )
        imap_port = self.get_port(table, place, "imap_port", default_imap_port(imap_security))
        allow_insecure = self.get_bool(table, place, "allow_insecure", False)
        if imap_security == "none" and not allow_insecure and not _is_loopback(imap_host):
            raise self.fail(
                f"{place}.imap_security",
                '"none" sends the password in clear; it is allowed only for a loopback host '
                "or with allow_insecure = true",
                "imap_security",
            )
        username = self.get_str(table, place, "username") or email

        smtp_host = self.get_host(table, place, "smtp_host")
        smtp_security = cast(
            Security, self.get_choice(table, place, "smtp_security", SECURITIES, "tls")
        )
        smtp_port = self.get_port(table, place, "smtp_port", default_smtp_port(smtp_security))
        if (
            smtp_host is not None
            and smtp_security == "none"
            and not allow_insecure
            and not _is_loopback(smtp_host)
        ):
            raise self.fail(
                f"{place}.smtp_security",
                '"none" sends the password in clear; it is allowed only for a loopback host '
                "or with allow_insecure = true",
                "smtp_security",
            )

        return AccountConfig(
            name=name,
            email=email,
            display_name=self.get_str(table, place, "name"),
            imap_host=imap_host,
            imap_port=imap_port,
            imap_security=imap_security,
            username=username,
            password_source=self.password_source(name, table, place),
            ca_file=self.get_path(table, place, "ca_file", must_be_file=True),
            fingerprint=self.fingerprint(table, place),
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            smtp_security=smtp_security,
            smtp_username=self.get_str(table, place, "smtp_username") or username,
            allow_insecure=allow_insecure,
            archive_folder=self.get_str(table, place, "archive_folder"),
            save_sent=self.get_bool(table, place, "save_sent", True),
        )

    def password_source(self, name: str, table: Mapping[str, Any], place: str) -> PasswordSource:
        use_keyring = self.get_bool(table, place, "keyring", False)
        given = [k for k in _PASSWORD_KEYS if k in table and (k != "keyring" or use_keyring)]
        if not given:
            raise self.fail(
                place,
                "no password source: set one of password_command, keyring = true, "
                "oauth2_token_command or password",
                "password_command",
            )
        if len(given) > 1:
            raise self.fail(
                f"{place}.{given[1]}",
                f"only one password source may be set, but {' and '.join(given)} are",
                "password_command",
            )
        kind = given[0]
        if kind == "password":
            secret = self.require_str(table, place, "password")
            return PasswordSource("password", account=name, secret=Secret(secret))
        if kind == "keyring":
            return PasswordSource(
                "keyring", account=name, keyring_service=KEYRING_SERVICE, keyring_user=name
            )
        command = self.require_str(table, place, kind)
        return PasswordSource(
            "command" if kind == "password_command" else "oauth2_command",
            account=name,
            command=command,
        )

    def fingerprint(self, table: Mapping[str, Any], place: str) -> str | None:
        value = self.get_str(table, place, "fingerprint")
        if value is None:
            return None
        text = value.strip().lower()
        text = text.removeprefix("sha256:").removeprefix("sha256 ").replace(":", "")
        text = "".join(text.split())
        if not _HEX_FINGERPRINT.fullmatch(text):
            raise self.fail(
                f"{place}.fingerprint",
                "must be a SHA-256 certificate fingerprint: 64 hex digits, colons allowed "
                "(openssl x509 -noout -fingerprint -sha256 -in cert.pem)",
                "fingerprint",
            )
        return text
