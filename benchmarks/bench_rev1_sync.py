"""`mailtui sync` as a user runs it against a server of the oldest kind (IMAP4rev1 alone).

Run: ``python benchmarks/bench_rev1_sync.py [--seconds 60] [--poll 30]``.

A private Dovecot advertising only ``IMAP4rev1`` sits behind ``tests.rig.strict.StrictProxy``,
which refuses any command the server did not advertise and counts logins. ``mailtui sync``
(long-running) syncs a fresh store for ``--seconds``; another device (stdlib imaplib) appends
a message a third of the way in and sets a flag two thirds in, and the store is read until
each shows. Printed: logins, refused commands, and each change's delay against the bound
``poll_interval + 2 s`` (issue 15: at most 2 logins in 60 s, changes within that bound).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' rig

from sync.dovecot import REV1_CAPABILITY, DovecotServer
from tests.engine.helpers import config_text
from tests.rig.corpus import make_message
from tests.rig.device import Device
from tests.rig.strict import StrictProxy


def _subjects_and_flags(store: Path) -> dict[str, str]:
    """Subject -> flags text of every stored message (read-only: the sync writes meanwhile)."""
    if not store.exists():
        return {}
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
        try:
            rows = db.execute("SELECT subject, flags FROM messages").fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return {}
    return {str(subject): str(flags) for subject, flags in rows}


def _wait_for(check: object, limit: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if callable(check) and check():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def main() -> None:
    """Run the measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--poll", type=float, default=30.0, help="poll_interval (s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailtui-rev1-") as scratch:
        base = Path(scratch)
        base.chmod(0o755)
        server = DovecotServer.start(base / "dovecot", capability=REV1_CAPABILITY)
        try:
            user = server.add_user()
            device = Device.connect(user)
            device.append("INBOX", make_message(1, subject="seed"))
            data = base / "data"
            data.mkdir()
            with StrictProxy(server.host, server.imap_port, [REV1_CAPABILITY]) as strict:
                config = data / "config.toml"
                config.write_text(
                    config_text(
                        user,
                        data,
                        port=strict.port,
                        extra=f'prefetch = "none"\npoll_interval = {args.poll}',
                    )
                )
                env = {**os.environ, "MAILTUI_CONFIG": str(config)}
                started = time.monotonic()
                sync = subprocess.Popen(
                    [sys.executable, "-m", "tui.cli", "sync"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                store = data / "mailtui.sqlite3"
                try:
                    first = _wait_for(lambda: "seed" in _subjects_and_flags(store), 30)
                    time.sleep(max(0.0, args.seconds / 3 - (time.monotonic() - started)))
                    device.append("INBOX", make_message(2, subject="appended by the device"))
                    arrival = _wait_for(
                        lambda: "appended by the device" in _subjects_and_flags(store),
                        args.poll + 10,
                    )
                    time.sleep(max(0.0, 2 * args.seconds / 3 - (time.monotonic() - started)))
                    device.add_flags("INBOX", [1], "\\Flagged")
                    flagged = _wait_for(
                        lambda: "flagged" in _subjects_and_flags(store).get("seed", "").lower(),
                        args.poll + 10,
                    )
                    time.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
                finally:
                    sync.terminate()
                    _, errors = sync.communicate(timeout=30)
                elapsed = time.monotonic() - started
                bound = args.poll + 2
                print(f"mailtui sync on an IMAP4rev1-only server, {elapsed:.0f} s:")
                print(f"  first sync (seed stored)      {first:.2f} s" if first else "  first: -")
                print(f"  logins                        {strict.logins} (target <= 2)")
                print(f"  unadvertised commands refused {len(strict.refused)}")
                for what, delay in (("append", arrival), ("flag change", flagged)):
                    shown = f"{delay:.2f} s" if delay is not None else "not seen"
                    print(f"  {what:<12} in the store after {shown} (bound {bound:.0f} s)")
                tail = errors.decode("utf-8", "replace").strip().splitlines()[-3:]
                print("  last lines of mailtui sync:", *tail, sep="\n    ")
            device.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
