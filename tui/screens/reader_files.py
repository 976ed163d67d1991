"""The reader's files and programs: where attachments are saved, private temporary copies for
opening them, and the system opener (``$MAILTUI_OPENER`` or ``xdg-open``).

Everything here treats the mail as hostile: names come from `sync.mime.safe_filename`
(through `sync.mime.save_attachment`), copies to open live in a private directory (0700,
files 0600) removed when the reader goes away, and the opener runs without a shell with the
file or URL as one argument, so nothing a sender wrote is ever parsed as a command.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # sync.mime loads when the first message opens, not at start
    from sync.mime.filenames import SavablePart

__all__ = [
    "OPENABLE_SCHEMES",
    "Opener",
    "OpenerError",
    "PrivateCopies",
    "default_save_directory",
    "opener_command",
    "url_refusal",
]

# Schemes a link may have to be handed to the opener: web pages and new mail. javascript:,
# data:, file: and the rest either run code or reach local files (sync.mime.html warns).
OPENABLE_SCHEMES = frozenset({"http", "https", "mailto"})


def default_save_directory(home: Path | None = None) -> Path:
    """Where the save prompt starts: ``~/Downloads`` when it exists, else the home directory."""
    base = home if home is not None else Path.home()
    downloads = base / "Downloads"
    return downloads if downloads.is_dir() else base


class OpenerError(Exception):
    """The opener could not be started, or said it failed; the message says why in words."""


def opener_command(environ: Mapping[str, str] | None = None) -> list[str]:
    """The opener's argv without the target: ``$MAILTUI_OPENER`` split like a shell would
    (but never run by one), else ``xdg-open``. Raises `OpenerError` on an unusable value."""
    env = os.environ if environ is None else environ
    value = env.get("MAILTUI_OPENER", "").strip()
    if not value:
        return ["xdg-open"]
    try:
        argv = shlex.split(value)
    except ValueError as error:
        raise OpenerError(f"MAILTUI_OPENER cannot be split into words: {error}") from None
    if not argv:
        raise OpenerError("MAILTUI_OPENER names no program")
    return argv


def url_refusal(url: str) -> str | None:
    """Why a link must not be opened (None: it may be, after the user confirms)."""
    scheme = urlsplit(url.strip()).scheme.lower()
    if not scheme:
        return "the link has no scheme (http, https or mailto), so mailtui does not open it"
    if scheme not in OPENABLE_SCHEMES:
        return f"mailtui opens only http, https and mailto links, not {scheme}: links"
    return None


class Opener:
    """One started opener: a detached process whose exit status is watched for a while."""

    def __init__(self, argv: Sequence[str], target: str) -> None:
        """Start ``argv + [target]`` without a shell, in its own session (a terminal hangup
        or the app quitting does not stop it), with no terminal input or output (the app
        owns the terminal). Raises `OpenerError` in words."""
        self.program = argv[0] if argv else ""
        # Kept open past this call: the opener writes to it until it exits.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.process = subprocess.Popen(  # no shell; the target is one argument
                [*argv, target],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=True,
                close_fds=True,
            )
        except FileNotFoundError:
            self._stderr.close()
            raise OpenerError(
                f"the opener {self.program} is not installed (set MAILTUI_OPENER to another)"
            ) from None
        except OSError as error:
            self._stderr.close()
            raise OpenerError(f"cannot run {self.program}: {error.strerror or error}") from None

    async def failure(self, within: float = 30.0) -> str | None:
        """Wait up to ``within`` seconds for the opener to finish; return its failure in
        words, or None (it succeeded, or still runs: a viewer may stay open for hours)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        try:
            while (status := self.process.poll()) is None:
                if loop.time() >= deadline:
                    return None
                await asyncio.sleep(0.05)
            if status == 0:
                return None
            self._stderr.seek(0)
            said = self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
            last = said.splitlines()[-1] if said else ""
            how = f"exit status {status}" if status > 0 else f"signal {-status}"
            return f"{self.program} failed ({how})" + (f": {last}" if last else "")
        finally:
            if self.process.poll() is not None:
                self._stderr.close()


class PrivateCopies:
    """Temporary copies of attachments for the opener, in a directory only we can read.

    The directory (0700, from `tempfile.mkdtemp`) is created on first use and removed by
    `close` (the reader calls it when the app exits; `TemporaryDirectory` also removes it at
    interpreter exit). Each copy gets a subdirectory of its own, so two attachments with
    the same name never collide, and is written 0600.
    """

    def __init__(self) -> None:
        self._root: tempfile.TemporaryDirectory[str] | None = None

    @property
    def directory(self) -> Path | None:
        """The private directory, once created."""
        return Path(self._root.name) if self._root is not None else None

    def copy(self, part: SavablePart) -> Path:
        """Write ``part`` under its safe name into a fresh private directory; return the path."""
        from sync.mime import save_attachment

        if self._root is None:
            self._root = tempfile.TemporaryDirectory(prefix="mailtui-")
        where = Path(tempfile.mkdtemp(dir=self._root.name))
        path = save_attachment(part, where)
        path.chmod(0o600)
        return path

    def close(self) -> None:
        """Remove the directory and every copy in it."""
        if self._root is not None:
            self._root.cleanup()
            self._root = None
