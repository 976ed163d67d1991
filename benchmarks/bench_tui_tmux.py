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


def stop_tmux() -> None:
    """End the benchmark's tmux server and wait until it is gone: a session started while
    the old server is still exiting dies with it (the pane then stays blank for good)."""
    tmux("kill-server")
    # The server removes its socket as it exits.
    socket = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / SESSION
    deadline = time.perf_counter() + 5.0
    while socket.exists() and time.perf_counter() < deadline:
        time.sleep(0.01)


def launch(
    command: str, newest_subject: str, limit: float = 60.0
) -> tuple[float | None, float | None]:
    """Start ``command`` in a fresh pane; return (seconds to first paint, RSS MiB)."""
    stop_tmux()
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
    parser.add_argument("--runs", type=int, default=1, help="mailtui launches (first paint)")
    parser.add_argument("--cache", type=Path, help="keep the seeded server and store here")
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="the mailtui checkout to sync and launch (default: this one), to compare two"
        " versions (each with its own --cache)",
    )
    parser.add_argument(
        "--compile-each-start",
        action="store_true",
        help="with PYTHONDONTWRITEBYTECODE set, let every launch compile mailtui's modules",
    )
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed: apt-get install tmux")
        return 1
    if args.cache is not None:
        work = args.cache.absolute()
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="mailtui-bench-tui-"))
    work.chmod(0o755)
    # The cache is good for one --count: a marker says which, written once the store is full.
    marker = work / "synced-count"
    cached = marker.exists() and marker.read_text().strip() == str(args.count)
    if not cached:
        shutil.rmtree(work / "server", ignore_errors=True)
        shutil.rmtree(work / "data", ignore_errors=True)
        marker.unlink(missing_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    root = args.root.absolute()
    server = DovecotServer.start(work / "server")
    try:
        data = work / "data"
        if cached:
            user = server.user("bench")
            config = mailtui_config(user, data)  # the server's port is new each start
            print(f"reusing the seeded server and synced store in {work}")
        else:
            user = server.add_user("bench", password="bench")
            started = time.perf_counter()
            messages = (make_message(i) for i in range(args.count))
            seed_maildir(server, user.username, "INBOX", messages)
            print(f"seeded {args.count} messages in {time.perf_counter() - started:.1f} s")
            data.mkdir()
            config = mailtui_config(user, data)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "tui.cli", "--config", str(config), "sync", "--once"],
                cwd=root,  # the store is made by the version measured (schemas differ)
                check=True,
                stderr=subprocess.DEVNULL,
            )
            print(f"mailtui sync --once (store filled) in {time.perf_counter() - started:.1f} s")
            if args.cache is not None:
                marker.write_text(f"{args.count}\n")
        newest = subject_for(args.count - 1)

        rows: list[tuple[str, str, str, str, str]] = []
        command = f"cd {root} && {sys.executable} -m tui.cli --config {config}"
        if os.environ.get("PYTHONDONTWRITEBYTECODE") and not args.compile_each_start:
            # An installed mailtui starts from compiled bytecode (pip compiles it); a checkout
            # run with PYTHONDONTWRITEBYTECODE would compile every module at each start.
            # Bytecode goes to a cache of the benchmark's own, filled by an uncounted launch.
            cache = work / "pycache" / root.name
            command = (
                f"cd {root} && env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX={cache} "
                f"{sys.executable} -m tui.cli --config {config}"
            )
            if not cache.exists():
                launch(command, newest)
        paints: list[float] = []
        for _ in range(max(1, args.runs)):
            painted, rss = launch(command, newest)
            if painted is not None:
                paints.append(painted)
        if args.runs > 1 and paints:
            each = ", ".join(f"{p * 1000:.0f}" for p in paints)
            print(
                f"first paint over {len(paints)} launches: median "
                f"{fmt(statistics.median(paints))}, best {fmt(min(paints))} ({each} ms)"
            )
        painted = statistics.median(paints) if paints else None
        j = key_latency("j")
        pgdn = key_latency("NPage")
        for name, times in (("j", j), ("PgDn", pgdn)):
            print(f"{name} each (ms, in order): " + " ".join(f"{t * 1000:.0f}" for t in times))
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
        stop_tmux()
        print(f"\n{args.count} messages in INBOX, {WIDTH}x{HEIGHT} tmux pane")
        header = ("client", "first painted list", "j median / max", "PgDn median / max", "RSS")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
        for row in [header, *rows]:
            print(
                "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
            )
        print("targets: first paint <= 600 ms, keys <= 50 ms, RSS <= 80 MiB")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        stop_tmux()
        server.stop()
        if args.cache is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TERM", "xterm-256color")
    sys.exit(main())
