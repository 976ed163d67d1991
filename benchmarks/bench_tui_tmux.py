"""mailtui as a person meets it, in tmux, beside neomutt and aerc on the same mailbox.

Seeds a private Dovecot with N messages in INBOX, fills mailtui's store with
``mailtui sync --once``, then launches each client in a 160x50 tmux pane and reads the screen
with ``capture-pane`` until the newest message's subject is painted. Prints time to first
painted list (from just before the process starts), time for ``j`` and PgDn to change the
screen, and RSS, side by side.

    python benchmarks/bench_tui_tmux.py --count 100000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sync.dovecot import DovecotServer, MailUser  # noqa: E402
from sync.sample_mail import make_message, seed_maildir, subject_for  # noqa: E402

WIDTH, HEIGHT = 160, 50
SESSION = "mailtui-bench"


def tmux(*args: str) -> str:
    """Run a tmux command on the benchmark's own server socket; return its stdout."""
    result = subprocess.run(
        ["tmux", "-L", SESSION, *args], capture_output=True, text=True, check=False
    )
    return result.stdout


def screen(*, styled: bool = False) -> str:
    """The pane's text as a person sees it; ``styled`` keeps colours and attributes (a
    cursor that moves changes only those)."""
    return tmux("capture-pane", "-p", *(["-e"] if styled else []), "-t", SESSION)


def wait_for(check: Callable[[str], bool], limit: float) -> float | None:
    """Seconds until ``check(screen)`` holds, polling every 5 ms; None after ``limit``."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if check(screen()):
            return time.perf_counter() - start
        time.sleep(0.005)
    return None


def pane_rss_mib() -> float | None:
    """Resident memory of the pane's process (and its children), MiB."""
    pid = tmux("display", "-p", "-t", SESSION, "#{pane_pid}").strip()
    if not pid:
        return None
    total = 0
    pids = [
        pid,
        *subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split(),
    ]
    for each in pids:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def launch(
    command: str, newest_subject: str, limit: float = 60.0
) -> tuple[float | None, float | None]:
    """Start ``command`` in a fresh pane; return (seconds to first paint, RSS MiB)."""
    tmux("kill-server")
    started = time.perf_counter()
    tmux("new-session", "-d", "-s", SESSION, "-x", str(WIDTH), "-y", str(HEIGHT), command)
    seen = wait_for(lambda text: newest_subject[:30] in text, limit)
    painted = None if seen is None else time.perf_counter() - started
    if seen is None:
        print(f"-- {command.split()[0]}: the newest subject never showed; the screen was:")
        print("\n".join(screen().splitlines()[:8]))
    time.sleep(0.5)
    return painted, pane_rss_mib()


def key_latency(key: str, repeats: int = 20) -> list[float]:
    """Seconds from send-keys until the screen changes, for each of ``repeats`` presses."""
    times: list[float] = []
    for _ in range(repeats):
        before = screen(styled=True)
        started = time.perf_counter()
        tmux("send-keys", "-t", SESSION, key)
        while screen(styled=True) == before and time.perf_counter() - started < 2.0:
            time.sleep(0.002)
        times.append(time.perf_counter() - started)
        time.sleep(0.05)
    return times


def fmt(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "n/a"
    return f"{value * 1000:.0f} ms" if unit == "s" and value < 10 else f"{value:.2f} {unit}"


def mailtui_config(user: MailUser, data_dir: Path) -> Path:
    path = data_dir / "config.toml"
    path.write_text(
        f"""data_dir = "{data_dir}"
prefetch = "none"
mouse = false

[accounts.bench]
email = "{user.username}@example.org"
imap_host = "{user.server.host}"
imap_port = {user.server.imap_port}
imap_security = "none"
username = "{user.username}"
password = "{user.password}"
""",
        encoding="utf-8",
    )
    return path


def neomutt_command(user: MailUser, work: Path) -> str:
    cache = work / "neomutt-cache"
    cache.mkdir(exist_ok=True)
    rc = work / "neomuttrc"
    rc.write_text(
        f"""set imap_user = "{user.username}"
set imap_pass = "{user.password}"
set folder = "imap://{user.server.host}:{user.server.imap_port}/"
set spoolfile = "+INBOX"
set header_cache = "{cache}/"
set sort = reverse-date-received
set ssl_starttls = no
set ssl_force_tls = no
set mail_check_stats = no
""",
        encoding="utf-8",
    )
    return f"neomutt -n -F {rc}"


def aerc_command(user: MailUser, work: Path) -> str:
    conf = work / "aerc"
    conf.mkdir(exist_ok=True)
    accounts = conf / "accounts.conf"
    accounts.write_text(
        f"""[bench]
source = imap+insecure://{user.username}:{user.password}@{user.server.host}:{user.server.imap_port}
outgoing = /bin/true
default = INBOX
from = Bench <bench@example.org>
""",
        encoding="utf-8",
    )
    accounts.chmod(0o600)
    (conf / "aerc.conf").write_text("[ui]\nsort = -r date\n", encoding="utf-8")
    return f"XDG_CONFIG_HOME={work} aerc"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--skip-peers", action="store_true", help="mailtui only")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed: apt-get install tmux")
        return 1
    work = Path(tempfile.mkdtemp(prefix="mailtui-bench-tui-"))
    work.chmod(0o755)
    server = DovecotServer.start(work / "server")
    try:
        user = server.add_user("bench", password="bench")
        started = time.perf_counter()
        seed_maildir(server, user.username, "INBOX", (make_message(i) for i in range(args.count)))
        print(f"seeded {args.count} messages in {time.perf_counter() - started:.1f} s")
        newest = subject_for(args.count - 1)
        data = work / "data"
        data.mkdir()
        config = mailtui_config(user, data)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tui.cli", "--config", str(config), "sync", "--once"],
            cwd=ROOT,
            check=True,
            stderr=subprocess.DEVNULL,
        )
        print(f"mailtui sync --once (store filled) in {time.perf_counter() - started:.1f} s")

        rows: list[tuple[str, str, str, str, str]] = []
        command = f"cd {ROOT} && {sys.executable} -m tui.cli --config {config}"
        painted, rss = launch(command, newest)
        j = key_latency("j")
        pgdn = key_latency("NPage")
        rows.append(
            (
                "mailtui (store synced)",
                fmt(painted),
                f"{fmt(statistics.median(j))} / {fmt(max(j))}",
                f"{fmt(statistics.median(pgdn))} / {fmt(max(pgdn))}",
                fmt(rss, "MiB"),
            )
        )
        if not args.skip_peers:
            if shutil.which("neomutt"):
                neomutt = neomutt_command(user, work)
                for label in ("neomutt cold", "neomutt header cache"):
                    painted, rss = launch(neomutt, newest, limit=120)
                    rows.append((label, fmt(painted), "", "", fmt(rss, "MiB")))
            if shutil.which("aerc"):
                painted, rss = launch(aerc_command(user, work), newest, limit=120)
                rows.append(("aerc", fmt(painted), "", "", fmt(rss, "MiB")))
        tmux("kill-server")
        print(f"\n{args.count} messages in INBOX, {WIDTH}x{HEIGHT} tmux pane")
        header = ("client", "first painted list", "j median / max", "PgDn median / max", "RSS")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
        for row in [header, *rows]:
            print(
                "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
            )
        print("targets: first paint <= 600 ms, keys <= 50 ms, RSS <= 80 MiB")
    finally:
        tmux("kill-server")
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TERM", "xterm-256color")
    sys.exit(main())
