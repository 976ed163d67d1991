"""`mailtui sync` as a user runs it: a subprocess, then `mailtui list --json` against the server."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

from sync.dovecot import MailUser
from sync.store import Store
from tests.engine.helpers import (
    converge,
    open_when_created,
    server_state,
    start_mailtui_sync,
    write_config,
)
from tests.engine.test_sync_once import HOSTILE_SUBJECTS
from tests.rig.corpus import make_message, seed_maildir
from tests.rig.device import Device

ROOT = Path(__file__).resolve().parents[2]


def _mailtui(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "--config", str(config), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sync_once_then_list_json_equals_server(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    seed_maildir(
        mail_user.server,
        mail_user.username,
        "INBOX",
        (make_message(i, size=3000) for i in range(5000)),
        flags_for=lambda i: "S" if i % 3 else ("F" if i % 7 == 0 else ""),
    )
    device.create_folder("Hostile")
    for index, subject in enumerate(HOSTILE_SUBJECTS):
        device.append("Hostile", make_message(9000 + index, subject=subject), flags=["$Junk"])
    config = write_config(mail_user, tmp_path)

    synced = _mailtui(config, "sync", "--once")
    assert synced.returncode == 0, synced.stderr

    expected = server_state(device)
    for folder in ("INBOX", "Hostile", "Archive", "Sent"):
        listed = _mailtui(config, "list", folder, "--json")
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        got = {
            row["uid"]: (frozenset(f.lower() for f in row["flags"]), row["subject"]) for row in rows
        }
        assert got == expected[folder], folder
        uids = [row["uid"] for row in rows]
        assert len(uids) == len(set(uids))
    assert len(expected["INBOX"]) == 5000


def test_sync_once_reports_refused_login_in_one_line(mail_user: MailUser, tmp_path: Path) -> None:
    config = write_config(mail_user, tmp_path)
    config.write_text(config.read_text().replace('password = "', 'password = "wrong'))
    result = _mailtui(config, "sync", "--once")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "refused the login" in lines[0]
    assert "Traceback" not in result.stderr
    assert "wrong" not in result.stderr  # the password never shows


async def test_live_subprocess_changes_reach_the_store_and_sigterm_stops_it(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    device.append("INBOX", make_message(1))
    config = write_config(mail_user, tmp_path)
    process = await start_mailtui_sync(config)
    store: Store | None = None
    try:
        # Another process reads the same store, as the TUI does while `mailtui sync` runs.
        store = await open_when_created(tmp_path / "mailtui.sqlite3")
        await converge(store, device)
        # No wait for IDLE here: the watcher subscribes (NOTIFY) before the first pass, so a
        # change made the moment the pass ends is heard as soon as one made later.
        device.append("Archive", make_message(2, subject="from the phone"))
        device.add_flags("INBOX", device.uids("INBOX"), ["\\Seen"])
        assert await converge(store, device, limit=5) < 1.5
    finally:
        if store is not None:
            await store.close()
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0, err.decode(errors="replace")
    assert b"Traceback" not in err
