"""One process syncs an account at a time: an advisory file lock per account.

A TUI that finds the lock held by ``mailtui sync`` reads the same store and leaves its own
changes in the queue for that process to carry out. ``flock`` locks vanish with the process,
so a kill -9 never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from types import TracebackType

__all__ = ["AccountLock", "AccountLocked"]


class AccountLocked(Exception):
    """Another process is already syncing this account."""


class AccountLock:
    """An exclusive, non-blocking lock on ``<lock_dir>/<account>.lock``."""

    def __init__(self, lock_dir: Path, account: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", account) or "_"
        self.path = lock_dir / f"{safe}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``AccountLocked`` at once (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AccountLocked(
                f"account {self.path.stem!r} is being synced by another process"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (closing the descriptor releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> AccountLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
