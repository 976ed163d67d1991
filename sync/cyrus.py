"""Start a private Cyrus IMAP 3.x server for the tests, from binaries unpacked, not installed.

Debian's ``cyrus-imapd`` conflicts with ``dovecot-imapd`` (installing it removes Dovecot, which
the rest of the rig needs), so ``scripts/get-cyrus`` downloads the ``cyrus-imapd`` and
``cyrus-common`` packages and unpacks them with ``dpkg -x`` into a cache directory; only their
shared libraries are installed normally. :func:`find_cyrus` locates that tree (or the one named
by ``$MAILTUI_CYRUS_ROOT``) and raises :class:`CyrusUnavailable` saying what is missing.

The server runs Cyrus' ``master`` with an ``imapd.conf`` and a ``cyrus.conf`` written into a
base directory of its own (configuration directory, spool, sasldb, certificate), listens on
127.0.0.1 only, on free ports. Facts this module is built around (Cyrus 3.6.1, Debian 12):

- Cyrus refuses to run as root: as root its processes become Debian's ``mail`` user.
- Users live in a private sasldb (``saslpasswd2 -f``); their mailboxes are made at their first
  login (``autocreate_*``), the special-use folders with their RFC 6154 flags (``xlist-*``),
  which Cyrus then reports in lower case (``\\archive``).
- ``unixhierarchysep: no`` gives "." as the hierarchy separator (the Cyrus tradition) and
  ``altnamespace: yes`` shows a user's folders beside INBOX rather than under it.
- IMAP IDLE is answered from ``idled`` (started by ``master``), so changes arrive at once.
- A session whose selected mailbox another session DELETEs is dropped at its next command
  (EOF, no BYE): a client must reconnect, and a test device must not keep such a folder
  selected.
"""

from __future__ import annotations

import contextlib
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
import threading
import time
import weakref
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
    "CYRUS_FOLDERS",
    "CyrusError",
    "CyrusInstall",
    "CyrusServer",
    "CyrusUnavailable",
    "CyrusUser",
    "default_cyrus_root",
    "find_cyrus",
]

#: The folders every user gets at the first login, with their RFC 6154 special-use flags.
CYRUS_FOLDERS: dict[str, str] = {
    "Archive": "\\Archive",
    "Drafts": "\\Drafts",
    "Junk": "\\Junk",
    "Sent": "\\Sent",
    "Trash": "\\Trash",
}

#: Where ``scripts/get-cyrus`` unpacks the packages when ``$MAILTUI_CYRUS_ROOT`` is unset.
ROOT_ENV = "MAILTUI_CYRUS_ROOT"

_HOST = HOST
_ADMIN = "cyrus-admin"
_REALM = "localhost"  # servername: saslpasswd2 must file users under the same realm
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0
_PID_FILE = "master.pid"
_user_counter = itertools.count(1)
# Letters, digits, "-" and "_": "." is the hierarchy separator, so it cannot be in a user name.
_USERNAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


class CyrusError(RuntimeError):
    """Cyrus could not be configured or started; the message carries what it said."""


class CyrusUnavailable(CyrusError):
    """The Cyrus binaries (or a library or tool they need) cannot be had on this machine."""


def default_cyrus_root() -> Path:
    """The unpacked tree: ``$MAILTUI_CYRUS_ROOT``, else ``/var/cache/mailtui/cyrus/root`` as
    root (Cyrus' processes run as ``mail``, which cannot enter root's home), else
    ``~/.cache/mailtui/cyrus/root``. ``scripts/get-cyrus`` uses the same rule."""
    configured = os.environ.get(ROOT_ENV)
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/cache/mailtui/cyrus/root")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mailtui" / "cyrus" / "root"


@dataclass(frozen=True)
class CyrusInstall:
    """Where the unpacked Cyrus lives: its server binaries and its private libraries."""

    root: Path
    bin_dir: Path
    lib_dir: Path
    saslpasswd2: Path

    def binary(self, name: str) -> Path:
        """One of Cyrus' server programs (``master``, ``imapd``, ``idled``...)."""
        return self.bin_dir / name

    def environment(self) -> dict[str, str]:
        """The environment for Cyrus' programs: its own libraries are not on the linker path."""
        env = dict(os.environ)
        paths = [str(self.lib_dir), *filter(None, env.get("LD_LIBRARY_PATH", "").split(":"))]
        env["LD_LIBRARY_PATH"] = ":".join(paths)
        return env


def find_cyrus(root: Path | None = None) -> CyrusInstall:
    """Locate an unpacked Cyrus and check that its programs can run; raise CyrusUnavailable."""
    root = default_cyrus_root() if root is None else Path(root)
    hint = "run scripts/get-cyrus (as root) or set " + ROOT_ENV
    bin_dir = root / "usr" / "lib" / "cyrus" / "bin"
    lib_dir = root / "usr" / "lib" / "x86_64-linux-gnu"
    if not lib_dir.is_dir():
        found = sorted(root.glob("usr/lib/*/libcyrus_imap.so.0"))
        lib_dir = found[0].parent if found else lib_dir
    for name in ("master", "imapd", "idled"):
        if not os.access(bin_dir / name, os.X_OK):
            raise CyrusUnavailable(f"no Cyrus {name} under {root} ({hint})")
    saslpasswd2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
    if not os.access(saslpasswd2, os.X_OK):
        raise CyrusUnavailable("saslpasswd2 is missing (on Debian: apt-get install sasl2-bin)")
    install = CyrusInstall(root, bin_dir, lib_dir, Path(saslpasswd2))
    ldd = shutil.which("ldd")
    if ldd is not None:
        for name in ("master", "imapd"):
            result = subprocess.run(
                [ldd, str(install.binary(name))],
                capture_output=True,
                text=True,
                env=install.environment(),
                check=False,
            )
            missing = sorted(
                {line.split()[0] for line in result.stdout.splitlines() if "not found" in line}
            )
            if missing:
                raise CyrusUnavailable(
                    f"Cyrus {name} needs libraries that are not installed: "
                    f"{', '.join(missing)} ({hint})"
                )
    return install


@dataclass(frozen=True)
class CyrusUser:
    """A user with a mailbox on a private Cyrus (the counterpart of ``sync.dovecot.MailUser``:
    the tests' Device and configs take either)."""

    username: str
    password: str
    server: CyrusServer = field(repr=False, compare=False)


@dataclass(frozen=True)
class _Identity:
    user: str
    group: str
    uid: int
    gid: int
    as_root: bool


def _identity() -> _Identity:
    if os.geteuid() == 0:
        mail = pwd.getpwnam("mail")
        return _Identity("mail", grp.getgrgid(mail.pw_gid).gr_name, mail.pw_uid, mail.pw_gid, True)
    me = pwd.getpwuid(os.geteuid())
    return _Identity(me.pw_name, grp.getgrgid(os.getegid()).gr_name, me.pw_uid, me.pw_gid, False)


def _imapd_conf(base: Path, identity: _Identity, cert: Path, key: Path) -> str:
    folders = " | ".join(CYRUS_FOLDERS)
    special = "\n".join(
        f"xlist-{flag.removeprefix(chr(92)).lower()}: {name}"
        for name, flag in CYRUS_FOLDERS.items()
    )
    return f"""\
# Written by mailtui's sync/cyrus.py for a private test server; not for production.
configdirectory: {base / "config"}
partition-default: {base / "spool"}
servername: {_REALM}
admins: {_ADMIN}
cyrus_user: {identity.user}
cyrus_group: {identity.group}
syslog_prefix: mailtui-cyrus
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {base / "sasldb2"}
sasl_mech_list: PLAIN LOGIN
allowplaintext: yes
# "." as the hierarchy separator, a user's folders beside INBOX.
unixhierarchysep: no
altnamespace: yes
# A user's mailboxes are made at the first login, the special-use ones with their flags.
autocreate_quota: 0
autocreate_inbox_folders: {folders}
autocreate_subscribe_folders: {folders}
{special}
# DELETE removes a folder at once (not kept as DELETED.*), EXPUNGE removes the message.
delete_mode: immediate
expunge_mode: immediate
imapidlepoll: 1
tls_server_cert: {cert}
tls_server_key: {key}
"""


def _cyrus_conf(install: CyrusInstall, config: Path, imap_port: int, imaps_port: int) -> str:
    imapd = install.binary("imapd")
    return f"""\
# Written by mailtui's sync/cyrus.py for a private test server; not for production.
START {{
  recover cmd="{install.binary("ctl_cyrusdb")} -C {config} -r"
}}
SERVICES {{
  imap cmd="{imapd} -C {config}" listen="{_HOST}:{imap_port}" prefork=2
  imaps cmd="{imapd} -s -C {config}" listen="{_HOST}:{imaps_port}" prefork=0
}}
EVENTS {{
}}
DAEMON {{
  idled cmd="{install.binary("idled")} -C {config}"
}}
"""


class CyrusServer:
    """A running private Cyrus. Make one with :meth:`start`; end it with :meth:`stop`."""

    host: str
    imap_port: int
    imaps_port: int
    ca_file: Path
    base_dir: Path
    separator: str
    folders: dict[str, str]

    def __init__(
        self, *, base_dir: Path, install: CyrusInstall, identity: _Identity, cert: Path, key: Path
    ) -> None:
        self.host = _HOST
        self.imap_port = 0
        self.imaps_port = 0
        self.ca_file = cert
        self.base_dir = base_dir
        self.separator = "."
        self.folders = dict(CYRUS_FOLDERS)
        self.admin_password = secrets.token_hex(12)
        self._key = key
        self._install = install
        self._identity = identity
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: (
            weakref.finalize[[subprocess.Popen[bytes], float, Path | None], CyrusServer] | None
        ) = None
        self._users_lock = threading.Lock()
        self._users: dict[str, str] = {}
        self._stopped = True

    @classmethod
    def start(cls, base_dir: Path, *, root: Path | None = None) -> CyrusServer:
        """Start Cyrus with its configuration and mail under ``base_dir`` (created if absent).

        ``root`` is the unpacked tree (default :func:`default_cyrus_root`). Waits until the IMAP
        port greets. Raises CyrusUnavailable when the binaries cannot be had, CyrusError with
        what Cyrus said when it does not start.
        """
        install = find_cyrus(root)
        base_dir = Path(base_dir).absolute()
        base_dir.mkdir(parents=True, exist_ok=True)
        identity = _identity()
        if identity.as_root:
            # Cyrus' processes run as ``mail``: they must reach the spool.
            for directory in [base_dir, *base_dir.parents]:
                mode = directory.stat().st_mode
                if mode & 0o001 == 0:
                    directory.chmod((mode & 0o7777) | 0o001)
        for sub in ("config", "spool", "tls"):
            (base_dir / sub).mkdir(exist_ok=True)
        cert, key = make_certificate(base_dir / "tls", missing=CyrusUnavailable, failed=CyrusError)
        server = cls(base_dir=base_dir, install=install, identity=identity, cert=cert, key=key)
        for path in (base_dir / "config", base_dir / "spool", base_dir / "tls", key):
            os.chown(path, identity.uid, identity.gid)
        server._saslpasswd(_ADMIN, server.admin_password)
        server._launch(free_port(), free_port())
        return server

    def _saslpasswd(self, username: str, password: str) -> None:
        sasldb = self.base_dir / "sasldb2"
        command = [str(self._install.saslpasswd2), "-f", str(sasldb), "-p", "-c", "-u", _REALM]
        result = subprocess.run(
            [*command, username], input=password, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise CyrusError(f"saslpasswd2 failed for {username!r}: {result.stderr.strip()}")
        os.chown(sasldb, self._identity.uid, self._identity.gid)
        sasldb.chmod(0o640)

    def _launch(self, imap_port: int, imaps_port: int) -> None:
        while imaps_port == imap_port:
            imaps_port = free_port()
        self.imap_port, self.imaps_port = imap_port, imaps_port
        imapd_conf = self.base_dir / "imapd.conf"
        imapd_conf.write_text(_imapd_conf(self.base_dir, self._identity, self.ca_file, self._key))
        cyrus_conf = self.base_dir / "cyrus.conf"
        cyrus_conf.write_text(_cyrus_conf(self._install, imapd_conf, imap_port, imaps_port))
        output_path = self.base_dir / "master.out"
        command = [
            str(self._install.binary("master")),
            "-C",
            str(imapd_conf),
            "-M",
            str(cyrus_conf),
            "-p",
            str(self.base_dir / _PID_FILE),
        ]
        with output_path.open("wb") as output:
            # Its own process group, so that stop() also ends every service it forked.
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                env=self._install.environment(),
                cwd=self.base_dir,
                start_new_session=True,
            )
        self._process = process
        self._stopped = False
        self._finalizer = weakref.finalize(self, kill_leftovers, process, _STOP_TIMEOUT, None)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if greets(imap_port):
                return
            time.sleep(0.01)
        state = (
            f"exited with status {process.returncode}"
            if process.poll() is not None
            else f"did not greet within {_START_TIMEOUT:.0f} s"
        )
        self.stop()
        raise CyrusError(f"Cyrus master {state} (config {imapd_conf}):\n{self.log_text()}")

    def restart(self) -> None:
        """Stop Cyrus and start it again on the same ports, with the same users and mail."""
        self.stop()
        self._launch(self.imap_port, self.imaps_port)

    def stop(self) -> None:
        """Stop Cyrus and every process it started; idempotent. Mail and users stay."""
        if self._stopped or self._process is None:
            return
        self._stopped = True
        if self._finalizer is not None:
            self._finalizer.detach()
        process = self._process
        signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(_STOP_TIMEOUT)
        signal_group(process.pid, signal.SIGKILL)
        process.wait()
        (self.base_dir / _PID_FILE).unlink(missing_ok=True)

    @property
    def reduced(self) -> bool:
        """Always False: this server advertises what Cyrus offers."""
        return False

    @property
    def running(self) -> bool:
        """True while the master process is alive."""
        return not self._stopped and self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts this server's self-signed certificate only."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def log_text(self) -> str:
        """What master printed (Cyrus logs to syslog; that is not captured here)."""
        try:
            return (self.base_dir / "master.out").read_text(errors="replace")[-8000:]
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return ""
            raise

    def add_user(self, username: str | None = None, password: str = "secret") -> CyrusUser:
        """Add a user, log in once so that Cyrus makes INBOX and the special-use folders, and
        return it; a name is made up if None."""
        import imaplib

        if any(c in password for c in "\n\r\0"):
            raise ValueError("the password must not contain NULs or line breaks")
        with self._users_lock:
            if username is None:
                username = f"user{next(_user_counter)}-{secrets.token_hex(3)}"
            elif not _USERNAME_RE.fullmatch(username):
                raise ValueError(f"{username!r} is not a valid Cyrus user name here")
            elif username in self._users:
                raise ValueError(f"user {username!r} exists")
            self._saslpasswd(username, password)
            self._users[username] = password
        conn = imaplib.IMAP4(self.host, self.imap_port, timeout=30)
        try:
            conn.login(username, password)  # autocreate_*: INBOX and the folders, now
        finally:
            conn.logout()
        return CyrusUser(username=username, password=password, server=self)
