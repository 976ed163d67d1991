"""kill -9 during a first sync, at every commit point and at random moments: resuming always
ends with the store equal to the server, nothing lost, nothing duplicated."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sync.dovecot import MailUser
from sync.store import Store
from tests.engine.helpers import server_state, store_state, write_config
from tests.rig.corpus import make_message, seed_maildir
from tests.rig.device import Device

ROOT = Path(__file__).resolve().parents[2]


def _child(config: Path, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.engine.crash_child",
            "--config",
            str(config),
            "sync",
            "--once",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _seed(user: MailUser, device: Device) -> None:
    seed_maildir(user.server, user.username, "INBOX", (make_message(i) for i in range(2600)))
    seed_maildir(
        user.server, user.username, "Archive", (make_message(i) for i in range(3000, 3400))
    )
    device.add_flags("INBOX", [5, 6, 7], ["\\Flagged"])


async def _assert_store_equals_server(data_dir: Path, device: Device) -> None:
    store = await Store.open(data_dir / "mailtui.sqlite3")
    try:
        state = await store_state(store)
        assert state == server_state(device)
        for folder in await store.folders():
            # Counts kept by the store agree with the rows (no duplicate or missing row).
            assert folder.total == await store.message_count(folder.id)
    finally:
        await store.close()


@pytest.mark.parametrize("when", ["before", "after"])
async def test_crash_at_every_commit_point(
    mail_user: MailUser, device: Device, tmp_path: Path, when: str
) -> None:
    _seed(mail_user, device)
    config = write_config(mail_user, tmp_path)
    crashes = 0
    for commit in range(1, 200):
        child = _child(config, CRASH_AT=str(commit), CRASH_WHEN=when)
        _, err = child.communicate(timeout=60)
        if child.returncode == 0:
            break
        assert child.returncode == -signal.SIGKILL, err.decode(errors="replace")
        crashes += 1
    else:
        pytest.fail("the sync never finished")
    assert crashes >= 5, "the first sync should commit in several batches"
    await _assert_store_equals_server(tmp_path, device)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_kill_at_random_moments(
    mail_user: MailUser, device: Device, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    _seed(mail_user, device)
    config = write_config(mail_user, tmp_path)
    for _ in range(6):
        child = _child(config)
        await asyncio.sleep(rng.uniform(0.2, 1.2))  # a random moment of the sync to kill
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=60)
        # Remote churn between crashes, as a phone would make it.
        uids = device.uids("INBOX")
        device.add_flags("INBOX", rng.sample(uids, 3), ["\\Seen"])
        device.expunge("INBOX", rng.sample(uids, 2))
        device.append("INBOX", make_message(rng.randint(10_000, 20_000)))
    final = _child(config)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode(errors="replace")
    await _assert_store_equals_server(tmp_path, device)
