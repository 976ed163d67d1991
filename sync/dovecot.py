"""Start a private Dovecot IMAP server: for the tests, the benchmarks and ``mailtui demo``.

The server runs from the installed ``dovecot`` binary with a config written into a base directory
of its own (sockets, state, logs, certificate, users and mail all live there), listens on
127.0.0.1 only, on free ports, and never touches a system Dovecot or another run.

Facts this module is built around (Dovecot 2.3, Debian 12):

- Dovecot refuses to give mail access to uid 0, so when we run as root the mail belongs to
  Debian's ``mail`` user (uid 8) and every directory above the mail is made world-traversable.
- Users live in passwd-files, one per user (``users/<name>``): Dovecot stats a passwd-file at
  most once a second, so a line appended to a shared file can stay invisible for up to a
  second, while a new file is read at the first login.
- ``imap_capability`` replaces the post-login CAPABILITY list; that is how the reduced server is
  made. It changes what Dovecot *advertises*, not what it accepts: the reduced server still
  runs MOVE, UID EXPUNGE, ENABLE CONDSTORE/QRESYNC, ESEARCH, LIST-STATUS, NOTIFY and UNSELECT,
  and still sends APPENDUID/COPYUID. Clients must go by CAPABILITY, and tests check that.
"""

from __future__ import annotations

import errno
import grp
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from sync.server_rig import (
    HOST,
    free_port,
    greets,
    kill_leftovers,
    make_certificate,
    signal_group,
)

__all__ = [
    "GMAIL_CAPABILITY",
    "GMAIL_FOLDERS",
    "SEPARATORS",
    "SPECIAL_USE_FOLDERS",
    "DovecotError",
    "DovecotServer",
    "MailUser",
    "find_dovecot",
]

#: The folders every user has from the first login, with their RFC 6154 special-use flags.
SPECIAL_USE_FOLDERS: dict[str, str] = {
    "Archive": "\\Archive",
    "Drafts": "\\Drafts",
    "Junk": "\\Junk",
    "Sent": "\\Sent",
    "Trash": "\\Trash",
}

#: What the reduced server advertises after login: enough for a plain IMAP4rev1 client.
REDUCED_CAPABILITY = "IMAP4rev1 LITERAL+ SASL-IR IDLE"
#: A server of the oldest kind still met: IMAP4rev1 and nothing else (no IDLE, no NOTIFY).
REV1_CAPABILITY = "IMAP4rev1"
#: What Gmail advertises that Dovecot can honour (Gmail has no QRESYNC and no NOTIFY);
#: X-GM-EXT-1 is only advertised here: mailtui must decide by it, never send X-GM commands.
GMAIL_CAPABILITY = (
    "IMAP4rev1 UNSELECT IDLE NAMESPACE ID CHILDREN X-GM-EXT-1 UIDPLUS ENABLE MOVE CONDSTORE"
    " ESEARCH LIST-EXTENDED LIST-STATUS SPECIAL-USE"
)
#: Gmail's folders: All Mail, Starred and Important are views of mail kept under labels.
GMAIL_FOLDERS: dict[str, str] = {
    "[Gmail]/All Mail": "\\All",
    "[Gmail]/Drafts": "\\Drafts",
    "[Gmail]/Important": "\\Important",
    "[Gmail]/Sent Mail": "\\Sent",
    "[Gmail]/Spam": "\\Junk",
    "[Gmail]/Starred": "\\Flagged",
    "[Gmail]/Trash": "\\Trash",
}
#: The hierarchy separators a private server can have (``DovecotServer.start(separator=...)``).
SEPARATORS = ("/", ".")

_HOST = HOST
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0
# Unix socket paths are limited to 108 bytes; Dovecot's longest socket name under base_dir is
# about 30 bytes, so longer base paths get their runtime directory elsewhere.
_MAX_RUNTIME_DIR = 70
_PID_FILE = "dovecot.pid"  # our record of the master's PID, beside the config
_user_counter = itertools.count(1)
# Dovecot's default auth_username_chars, minus a leading dot (our temporary files start so).
_USERNAME_RE = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9._@-]*")


class DovecotError(RuntimeError):
    """Dovecot could not be found, configured or started; the message carries its own log."""


def find_dovecot() -> Path:
    """Return the path of the installed ``dovecot`` binary, or raise DovecotError."""
    found = shutil.which("dovecot")
    candidates = [found] if found else []
    candidates += ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise DovecotError("dovecot is not installed (on Debian: apt-get install dovecot-imapd)")


@dataclass(frozen=True)
class MailUser:
    """A user with a mailbox on a private Dovecot."""

    username: str
    password: str
    server: DovecotServer = field(repr=False, compare=False)


@dataclass(frozen=True)
class _Identity:
    """Who owns the mail (uid/gid) and which users Dovecot's own processes run as."""

    mail_uid: int
    mail_gid: int
    internal_user: str
    internal_group: str
    login_user: str
    as_root: bool


def _identity() -> _Identity:
    if os.geteuid() == 0:
        mail = pwd.getpwnam("mail")
        internal = "dovecot"
        login = "dovenull"
        for name in (internal, login):
            try:
                pwd.getpwnam(name)
            except KeyError as exc:
                raise DovecotError(
                    f"system user {name!r} is missing (it comes with Debian's dovecot-core)"
                ) from exc
        return _Identity(mail.pw_uid, mail.pw_gid, internal, internal, login, as_root=True)
    # Unprivileged: every Dovecot process runs as us (and our group owns its sockets), which
    # Dovecot allows once the chroots are off.
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    return _Identity(os.getuid(), os.getgid(), me, group, me, as_root=False)


def _make_traversable(path: Path) -> None:
    """Give every directory from ``path`` up to / the x bit for others (pytest's are 0700)."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if mode & 0o001 == 0:
            directory.chmod((mode & 0o7777) | 0o001)


def _config_quote(name: str) -> str:
    """A mailbox name as a Dovecot config section name (quoted when it has spaces or more)."""
    if name.replace("_", "").isalnum():
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _layout_text(separator: str) -> str:
    """``mail_location`` for a hierarchy separator: the layout decides what names may hold."""
    if separator == "/":
        return (
            '# LAYOUT=fs: the hierarchy separator is "/" and names may contain ".".\n'
            "mail_location = maildir:~/Maildir:LAYOUT=fs"
        )
    # Maildir++ (Courier's layout, the one most "." servers run): every folder is a directory
    # ".Parent.Child" beside INBOX's cur/new/tmp, so a name cannot hold a "." of its own.
    return (
        '# Maildir++: the hierarchy separator is "." and names may not contain it.\n'
        "mail_location = maildir:~/Maildir"
    )


def _config_text(
    *,
    base: Path,
    runtime_dir: Path,
    identity: _Identity,
    imap_port: int,
    imaps_port: int,
    cert: Path,
    key: Path,
    capability: str | None,
    folders: Mapping[str, str],
    separator: str,
) -> str:
    mailboxes = "\n".join(
        f"  mailbox {_config_quote(name)} {{\n    auto = subscribe\n    special_use = {flag}\n  }}"
        for name, flag in folders.items()
    )
    capability = f"  imap_capability = {capability}\n" if capability else ""
    chroot = "" if identity.as_root else "  chroot =\n"
    return f"""\
# Written by mailtui's sync/dovecot.py for a private test server; not for production.
protocols = imap
listen = {_HOST}
base_dir = {runtime_dir}
state_dir = {base / "state"}
instance_name = mailtui-{secrets.token_hex(4)}
log_path = {base / "dovecot.log"}
info_log_path = {base / "dovecot.log"}
debug_log_path = {base / "dovecot.log"}
default_internal_user = {identity.internal_user}
default_internal_group = {identity.internal_group}
default_login_user = {identity.login_user}
first_valid_uid = {identity.mail_uid}
last_valid_uid = 0
first_valid_gid = {identity.mail_gid}
mail_uid = {identity.mail_uid}
mail_gid = {identity.mail_gid}

ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
# Dovecot 2.3.19 still answers a failed login after its 0.5 s failure check; 2.3.20+ at once.
auth_failure_delay = 0
auth_cache_size = 0
# Names exactly as given (the default, %Lu, would lowercase them).
auth_username_format = %u

# One passwd-file per user: Dovecot stats a passwd-file at most once a second, so a user
# appended to a shared file could stay unknown for up to a second. A new file is read at once.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base / "users"}/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {base / "users"}/%u
}}

{_layout_text(separator)}
mail_plugins =
mail_fsync = never
mailbox_list_index = yes
mailbox_idle_check_interval = 1 secs
mail_max_userip_connections = 1000

namespace inbox {{
  inbox = yes
  separator = {separator}
{mailboxes}
}}

protocol imap {{
  mail_plugins =
  imap_idle_notify_interval = 1 secs
  mail_max_userip_connections = 1000
{capability}}}

service imap-login {{
{chroot}  inet_listener imap {{
    address = {_HOST}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {_HOST}
    port = {imaps_port}
    ssl = yes
  }}
  # One long-lived login process (Dovecot's "high-performance mode"): no fork+exec per
  # connection, which otherwise costs ~10-20 ms in every test that connects.
  service_count = 0
  process_min_avail = 1
  client_limit = 1000
}}
service imap {{
  process_limit = 1024
  # Pre-started mail processes: a login does not wait for an exec.
  process_min_avail = 2
}}
service anvil {{
{chroot}  # No auth penalty: a test that fails a login must not slow the next test's login.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


class DovecotServer:
    """A running private Dovecot. Make one with :meth:`start`; end it with :meth:`stop`."""

    host: str
    imap_port: int
    imaps_port: int
    ca_file: Path
    capability: str | None
    folders: Mapping[str, str]
    base_dir: Path
    separator: str

    def __init__(
        self,
        *,
        base_dir: Path,
        cert: Path,
        key: Path,
        capability: str | None,
        identity: _Identity,
        folders: Mapping[str, str] | None = None,
        separator: str = "/",
    ) -> None:
        self.host = _HOST
        self.separator = separator
        self.base_dir = base_dir
        self.imap_port = 0
        self.imaps_port = 0
        self.ca_file = cert
        self.capability = capability
        self.folders = dict(SPECIAL_USE_FOLDERS if folders is None else folders)
        self._key = key
        self._identity = identity
        self._process: subprocess.Popen[bytes] | None = None
        self._runtime_dir = base_dir / "run"
        self._own_runtime_dir = False
        self._finalizer: (
            weakref.finalize[[subprocess.Popen[bytes], float, Path | None], DovecotServer] | None
        )
        self._finalizer = None
        self._users_lock = threading.Lock()
        self._stopped = True

    # ----------------------------------------------------------------------------- lifecycle

    @classmethod
    def start(
        cls,
        base_dir: Path,
        *,
        reduced: bool = False,
        capability: str | None = None,
        folders: Mapping[str, str] | None = None,
        separator: str = "/",
    ) -> DovecotServer:
        """Start Dovecot with its config, state and mail under ``base_dir`` (created if absent).

        ``reduced`` advertises :data:`REDUCED_CAPABILITY`; ``capability`` any other list (e.g.
        :data:`REV1_CAPABILITY`); ``folders`` the special-use folders every user has (default
        :data:`SPECIAL_USE_FOLDERS`; :data:`GMAIL_FOLDERS` for a Gmail-like layout).
        ``separator`` is the hierarchy separator (RFC 3501 §5.1.1): ``"/"`` (Maildir
        LAYOUT=fs, names may hold ".") or ``"."`` (Maildir++, the layout of Courier and of
        many hosted Dovecots; names may not hold "."). Waits until both ports greet. Raises
        DovecotError with Dovecot's log if it does not start.
        As root, every directory above ``base_dir`` gets the x bit for others (the mail processes
        run as the ``mail`` user and must reach the mail).
        """
        if separator not in SEPARATORS:
            raise ValueError(f"separator must be one of {SEPARATORS}, not {separator!r}")
        base_dir = Path(base_dir).absolute()
        base_dir.mkdir(parents=True, exist_ok=True)
        _refuse_if_running(base_dir)  # before anything here is rewritten
        identity = _identity()
        if identity.as_root:
            _make_traversable(base_dir)
        for sub in ("state", "mail", "tls"):
            (base_dir / sub).mkdir(exist_ok=True)
        mail_root = base_dir / "mail"
        os.chown(mail_root, identity.mail_uid, identity.mail_gid)
        mail_root.chmod(0o755)
        users = base_dir / "users"
        users.mkdir(exist_ok=True)
        users.chmod(0o755)
        cert, key = make_certificate(base_dir / "tls", missing=DovecotError, failed=DovecotError)
        server = cls(
            base_dir=base_dir,
            cert=cert,
            key=key,
            capability=capability or (REDUCED_CAPABILITY if reduced else None),
            identity=identity,
            folders=folders,
            separator=separator,
        )
        for attempt in range(3):
            try:
                server._launch(free_port(), free_port())
                break
            except _PortTaken:
                if attempt == 2:
                    raise  # a racing process took a port three times: give up
        return server

    def restart(self) -> None:
        """Stop Dovecot and start it again on the same ports, with the same users and mail.

        For tests of a server that goes away and comes back.
        """
        self.stop()
        self._launch(self.imap_port, self.imaps_port)

    def _launch(self, imap_port: int, imaps_port: int) -> None:
        while imaps_port == imap_port:
            imaps_port = free_port()
        self.imap_port, self.imaps_port = imap_port, imaps_port
        self._runtime_dir = self.base_dir / "run"
        self._own_runtime_dir = len(str(self._runtime_dir)) > _MAX_RUNTIME_DIR
        if self._own_runtime_dir:
            self._runtime_dir = Path(tempfile.mkdtemp(prefix="mailtui-dovecot-run-"))
        else:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
        config = self.base_dir / "dovecot.conf"
        config.write_text(
            _config_text(
                base=self.base_dir,
                runtime_dir=self._runtime_dir,
                identity=self._identity,
                imap_port=imap_port,
                imaps_port=imaps_port,
                cert=self.ca_file,
                key=self._key,
                capability=self.capability,
                folders=self.folders,
                separator=self.separator,
            )
        )
        log = self.base_dir / "dovecot.log"
        log_offset = log.stat().st_size if log.exists() else 0
        stderr_path = self.base_dir / "dovecot.stderr"
        with stderr_path.open("wb") as stderr:
            # Its own process group, so that stop() can also end children left by a crash.
            process = subprocess.Popen(
                [*_death_signal_wrapper(), str(find_dovecot()), "-F", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        self._process = process
        self._stopped = False
        (self.base_dir / _PID_FILE).write_text(f"{process.pid}\n")
        # If nobody calls stop() (a crashed benchmark), the group still dies with us.
        self._finalizer = weakref.finalize(
            self,
            kill_leftovers,
            process,
            _STOP_TIMEOUT,
            self._runtime_dir if self._own_runtime_dir else None,
        )
        try:
            self._wait_until_ready(log, log_offset, stderr_path)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, log: Path, log_offset: int, stderr_path: Path) -> None:
        process = self._require_process()
        context = self.ssl_context()
        deadline = time.monotonic() + _START_TIMEOUT
        plain_ok = tls_ok = False
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            plain_ok = plain_ok or greets(self.imap_port, None)
            tls_ok = tls_ok or greets(self.imaps_port, context)
            if plain_ok and tls_ok:
                return
            time.sleep(0.01)
        output = _read_tail(stderr_path, 0) + _read_tail(log, log_offset)
        if "Address already in use" in output:
            raise _PortTaken(f"a port was taken while Dovecot started:\n{output}")
        state = (
            f"exited with status {process.returncode}"
            if process.poll() is not None
            else f"did not greet on both ports within {_START_TIMEOUT:.0f} s"
        )
        raise DovecotError(f"Dovecot {state} (config {self.base_dir / 'dovecot.conf'}):\n{output}")

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise DovecotError("Dovecot was never started")
        return self._process

    def stop(self) -> None:
        """Stop Dovecot and every process it started; idempotent. Mail and users stay."""
        if self._stopped or self._process is None:
            return
        self._stopped = True
        if self._finalizer is not None:
            self._finalizer.detach()
        process = self._process
        # SIGTERM to the whole group: the master alone waits about a second for its children,
        # the group goes down in milliseconds.
        signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_TIMEOUT
        # Wait for the master without reaping it, so its PID (our process group id) cannot be
        # reused before the leftovers are killed.
        while not _exited_unreaped(process) and time.monotonic() < deadline:
            time.sleep(0.005)
        signal_group(process.pid, signal.SIGKILL)
        process.wait()
        (self.base_dir / _PID_FILE).unlink(missing_ok=True)
        if self._own_runtime_dir:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)

    @property
    def reduced(self) -> bool:
        """Whether this server advertises less than Dovecot offers (``imap_capability``)."""
        return self.capability is not None

    @property
    def pid(self) -> int:
        """The PID of Dovecot's master process (also its process group id)."""
        return self._require_process().pid

    @property
    def running(self) -> bool:
        """True while the master process is alive."""
        return not self._stopped and self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------------------- using it

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts this server's self-signed certificate only."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def log_text(self) -> str:
        """Dovecot's log so far (for failure messages)."""
        return _read_tail(self.base_dir / "dovecot.log", 0)

    def add_user(self, username: str | None = None, password: str = "secret") -> MailUser:
        """Add a user with a fresh, empty mailbox, usable at once; a name is made up if None.

        Names use Dovecot's default username characters (letters, digits, ``.-_@``).
        """
        if any(c in password for c in ":\n\r\t\0"):
            raise ValueError("the password must not contain ':', tabs, NULs or line breaks")
        users = self.base_dir / "users"
        with self._users_lock:
            if username is None:
                username = f"user{next(_user_counter)}-{secrets.token_hex(3)}"
                while (users / username).exists():
                    username = f"user{next(_user_counter)}-{secrets.token_hex(3)}"
            elif not _USERNAME_RE.fullmatch(username):
                raise ValueError(f"{username!r} is not a valid user name")
            elif (users / username).exists():
                raise ValueError(f"user {username!r} exists")
            home = self.home(username)
            if home.exists():  # left from a user whose entry is gone
                shutil.rmtree(home)
            uid, gid = self._identity.mail_uid, self._identity.mail_gid
            # passwd-file line: user:password:uid:gid:(gecos):home:(shell):extra fields
            line = f"{username}:{{PLAIN}}{password}:{uid}:{gid}::{home}::\n"
            # Written whole and renamed into place: Dovecot never reads half a file.
            partial = users / f".{username}.tmp"
            partial.write_text(line, encoding="utf-8")
            partial.chmod(0o644)
            partial.rename(users / username)
        return MailUser(username=username, password=password, server=self)

    def user(self, username: str) -> MailUser:
        """The existing user ``username`` (e.g. on a base directory reused across runs)."""
        if not _USERNAME_RE.fullmatch(username):
            raise KeyError(username)
        try:
            line = (self.base_dir / "users" / username).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyError(username) from None
        password = line.split(":")[1].removeprefix("{PLAIN}")
        return MailUser(username=username, password=password, server=self)

    def doveadm(self, *args: str, timeout: float = 30.0) -> str:
        """Run ``doveadm`` against this server (e.g. ``"mailbox", "create", "-u", user, name``).

        Returns its standard output; raises DovecotError with its message when it fails.
        """
        binary = find_dovecot().with_name("doveadm")
        if not os.access(binary, os.X_OK):
            found = shutil.which("doveadm")
            if found is None:
                raise DovecotError("doveadm is not installed (it comes with dovecot-core)")
            binary = Path(found)
        command = [str(binary), "-c", str(self.base_dir / "dovecot.conf"), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise DovecotError(
                f"doveadm {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    def create_mailbox(self, username: str, name: str, *, subscribe: bool = True) -> None:
        """Create a folder through Dovecot itself (so its mailbox list index knows it)."""
        self.doveadm("mailbox", "create", *(["-s"] if subscribe else []), "-u", username, name)

    def home(self, username: str) -> Path:
        """The user's home directory (created on first login or by :meth:`ensure_maildir`)."""
        return self.base_dir / "mail" / username

    def maildir(self, username: str) -> Path:
        """The root of the user's Maildir: INBOX; other folders are subdirectories (LAYOUT=fs)
        or ``.Parent.Child`` directories beside INBOX's (Maildir++, the "." server)."""
        return self.home(username) / "Maildir"

    def ensure_maildir(self, username: str) -> Path:
        """Create the user's Maildir root (cur/new/tmp) owned by the mail user; return it."""
        root = self.maildir(username)
        self.ensure_owned_dir(root)
        for sub in ("cur", "new", "tmp"):
            self.ensure_owned_dir(root / sub)
        return root

    def ensure_owned_dir(self, path: Path) -> None:
        """Create ``path`` and missing parents under ``mail/`` owned by the mail user."""
        mail_root = self.base_dir / "mail"
        missing = [p for p in [path, *path.parents] if not p.exists()]
        for directory in reversed(missing):
            if mail_root not in directory.parents:
                raise ValueError(f"{path} is outside the mail directory")
            directory.mkdir(mode=0o700)
            os.chown(directory, self._identity.mail_uid, self._identity.mail_gid)

    @property
    def mail_owner(self) -> tuple[int, int]:
        """(uid, gid) that owns the mail files."""
        return self._identity.mail_uid, self._identity.mail_gid


class _PortTaken(DovecotError):
    pass


def _read_tail(path: Path, offset: int, limit: int = 8000) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return ""
        return f"(cannot read {path.name}: {exc})"
    return data[-limit:].decode("utf-8", "replace")


def _refuse_if_running(base_dir: Path) -> None:
    """Raise if a Dovecot from an earlier start still serves this base directory."""
    try:
        pid = int((base_dir / _PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    except PermissionError:
        pass  # alive, owned by someone else
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"dovecot" not in cmdline.read_bytes():
        return  # the PID was reused by something else
    raise DovecotError(f"a Dovecot (PID {pid}) still runs on {base_dir}; stop it first")


def _death_signal_wrapper() -> list[str]:
    """``setpriv --pdeathsig TERM`` when available: Dovecot then ends even if we are SIGKILLed.

    The death signal fires when the *thread* that started the process ends, so it is only used
    from the main thread (whose end is the end of the process).
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, "--pdeathsig", "TERM", "--"]


def _exited_unreaped(process: subprocess.Popen[bytes]) -> bool:
    """True once the process has exited (or was reaped already); leaves it a zombie."""
    if process.returncode is not None:
        return True
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None
