"""kill -9 between queueing and delivery, at each commit of queue + send: the message is
never lost, and sent twice only in the window documented in docs/decisions/0004-outbox.md
(the SMTP server said 250, the commit recording it died)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sync.dovecot import MailUser
from sync.outbox import OutboxSender
from sync.store import Store
from tests.outbox.helpers import Received, account_for, engine, free_port, smtp_on, write_config
from tests.rig.device import Device

ROOT = Path(__file__).resolve().parents[2]

# The child's commits: 1 queue_message, 2 the sender's account, 3 marking the message
# "sending", (SMTP), 4 marking it sent with its follow-ups.
# (commit, when) -> how many times the SMTP server receives the message in the end.
CASES = {
    (1, "before"): 0,  # never queued: queue_message did not return, the user was not told
    (1, "after"): 1,  # queued, not sent: sent once after the restart
    (3, "before"): 1,  # not marked sending: sent once
    (3, "after"): 1,  # marked sending, killed before the first SMTP byte: sent once
    (4, "before"): 2,  # accepted by the server, not recorded: sent again (never lost)
    (4, "after"): 1,  # sent and recorded
}
# What the kill leaves in the outbox.
STATES = {
    (1, "before"): [],
    (1, "after"): ["queued"],
    (3, "before"): ["queued"],
    (3, "after"): ["sending"],
    (4, "before"): ["sending"],
    (4, "after"): [],
}


async def _child(config: Path, store_file: Path, subject: str, commit: int, when: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.outbox.crash_child",
        str(config),
        str(store_file),
        subject,
        cwd=ROOT,
        env={**os.environ, "CRASH_AT": str(commit), "CRASH_WHEN": when},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    assert process.returncode in (0, -signal.SIGKILL), err.decode(errors="replace")
    return process.returncode


def _count(received: list[Received], subject: str) -> int:
    return sum(f"Subject: {subject}\r\n".encode() in r.content for r in received)


async def test_kill_9_at_every_commit_of_queue_and_send(
    mail_user: MailUser, device: Device, tmp_path: Path
) -> None:
    port = free_port()
    config = write_config(mail_user, tmp_path, port)
    account = account_for(config)
    store_file = tmp_path / "mailtui.sqlite3"
    store = await Store.open(store_file)
    try:
        sync = engine(account, store)
        await sync.run_once()
        async with smtp_on(port, mail_user) as smtp:
            for (commit, when), expected in CASES.items():
                subject = f"crash-{commit}-{when}"
                code = await _child(config, store_file, subject, commit, when)
                assert code == -signal.SIGKILL, f"{subject}: the child did not crash"
                left = [item.state for item in await store.outbox(1, include_failed=True)]
                assert left == STATES[commit, when], subject
                # The next run of the outbox (this process) picks up where it died.
                await OutboxSender(store, account).send_due()
                assert _count(smtp.received, subject) == expected, subject
                assert await store.outbox(1, include_failed=True) == [], subject
            await sync.run_once()  # replays every Sent copy
        sent = device.subjects("Sent").values()
        for (commit, when), expected in CASES.items():
            # One Sent copy per message that went out, even the one sent twice.
            assert list(sent).count(f"crash-{commit}-{when}") == min(expected, 1)
    finally:
        await store.close()
