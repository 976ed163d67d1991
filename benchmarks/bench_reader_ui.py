"""Reader UI benchmark: from Enter on a message to its body on screen (issue 7).

Run from the repository root: ``python benchmarks/bench_reader_ui.py [--repeat 15]``.

The whole app runs headless (``App.run_test`` and Pilot) over the in-memory test backend,
whose bodies are all "cached" (no download). For each case the message is opened ``repeat``
times (Enter, then ``q`` back to the list), in four modes (the pre-rendered messages are
forgotten before each run):

- straight: the cursor steps onto the message (``up`` from a small one below it) and Enter
  follows at once. A step (not a key held down) lays a small message out at once
  (``tui.controllers.reader.PRERENDER_AT_ONCE_MAX``), so Enter may find it ready or being
  laid out;
- rest: the cursor arrives and rests 200 ms before Enter, as a person reading does, so the
  app has laid the message out ahead (``tui.controllers.reader`` pre-renders after
  ``PRERENDER_DELAY``);
- released: the cursor arrives as a held key's last repeat and Enter follows 100 ms later,
  a quick reaction after letting go of ``j`` (``tui.controllers.reader.KEY_RELEASE_WAIT``);
- cold: as straight, with pre-rendering off: Enter's own path, all of it after the key (a
  message reached some other way, or a big one).

Each run measures, with ``time.perf_counter``:

- shown: from just before Enter is pressed to `Reader.show_message` being called (the
  headers from the list row, the store read, the parse and layout in a thread, and the
  event-loop hops between them);
- painted: to the first screen refresh after that (the body laid out and rendered into the
  headless screen);
- from step: from just before ``up`` is pressed to the same refresh (the step and Enter
  together: what a pre-render done during the step leaves to wait for);

and prints the best, the median and the worst of each. The first (cold) run is reported
apart: it includes importing `sync.mime`, lxml and inscriptis.

Cases (messages from benchmarks/bench_reader.py):
- the 60 KB HTML newsletter with its plain alternative (the reader shows the plain one);
- the same newsletter HTML-only (laid out as text: the target case, 50 ms);
- a 1 MB plain-text message of quoted discussion (target: 200 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_reader import discussion_message, newsletter_html, newsletter_message
from tests.mime import corpus
from tests.tui.memory import MemoryBackend, MemoryMessage
from tui.app import MailApp
from tui.controllers import reader as controller
from tui.controllers.reader import KEY_RELEASE_WAIT, KEY_REPEAT_GAP, PRERENDER_DELAY
from tui.widgets.reader import RenderedMessage

SIZE = (120, 40)


def html_only_newsletter() -> bytes:
    """The newsletter with no plain alternative: the reader lays the HTML out."""
    return corpus.message(
        corpus.top_headers("Weekly digest", sender="Example News <news@example.com>"),
        corpus.text_part(newsletter_html(), subtype="html", encoding="quoted-printable"),
    )


REST = 0.2
"""How long the cursor rests on the message before Enter in the "rest" mode (s)."""
RELEASED = 0.1
"""How long after the last move of a held key Enter comes in the "released" mode (s): a
quick reaction after letting go of ``j`` on the wanted message."""


async def measure(
    raw: bytes, repeat: int, mode: str
) -> tuple[float, list[float], list[float], list[float], int]:
    """Open the message ``repeat + 1`` times; return the first run, the warm runs (shown,
    painted, from step), in seconds, and how many opened from the pre-rendered cache."""
    controller.PRERENDER_DELAY, controller.KEY_REPEAT_GAP = PRERENDER_DELAY, KEY_REPEAT_GAP
    controller.KEY_RELEASE_WAIT = KEY_RELEASE_WAIT
    if mode == "cold":  # nothing is ever laid out ahead
        controller.PRERENDER_DELAY = controller.KEY_RELEASE_WAIT = 3600.0
        controller.KEY_REPEAT_GAP = 3600.0
    elif mode == "released":  # every move counts as a held key's repeat
        controller.KEY_REPEAT_GAP = 3600.0
    backend = MemoryBackend(inbox_size=0)
    # Already read: opening it sends no \\Seen change (a separate, measured-elsewhere cost).
    # It is the newest, so the list shows it first and a small one under it.
    backend.deliver(1, MemoryMessage(uid=2, date=2, flags=("\\Seen",), body=raw))
    small = b"Subject: small\r\n\r\nA small message.\r\n"
    backend.deliver(1, MemoryMessage(uid=1, date=1, flags=("\\Seen",), body=small))
    app = MailApp(backend)
    shown: list[float] = []
    painted: list[float] = []
    from_step: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        reader = app.reader
        original = reader.show_message
        start = step = 0.0
        done = asyncio.Event()

        def on_painted() -> None:
            painted.append(time.perf_counter() - start)
            from_step.append(time.perf_counter() - step)
            done.set()

        def timed_show(rendered: RenderedMessage) -> None:
            shown.append(time.perf_counter() - start)
            original(rendered)
            reader.call_after_refresh(on_painted)

        reader.show_message = timed_show  # type: ignore[method-assign]
        while app.message_list.row_at(1) is None:
            await pilot.pause(0.01)
        for _ in range(repeat + 1):
            await pilot.press("down")
            await pilot.pause(0.05)  # let the list settle
            app._prerendered.clear()  # each run starts with nothing laid out
            step = time.perf_counter()
            await pilot.press("up")
            if mode == "rest":
                await pilot.pause(REST)
            elif mode == "released":
                await pilot.pause(RELEASED)
            start = time.perf_counter()
            await pilot.press("enter")
            await done.wait()
            done.clear()
            await pilot.press("q")
    return painted[0], shown[1:], painted[1:], from_step[1:], app.prerender_hits


def _row(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return (
        f"  {name:<9} best {ms[0]:7.1f} ms   median {statistics.median(ms):7.1f} ms"
        f"   worst {ms[-1]:7.1f} ms"
    )


def main() -> None:
    """Print the figures for each case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="warm runs per case")
    parser.add_argument(
        "--mode",
        choices=("straight", "rest", "released", "cold", "all"),
        default="all",
        help="Enter right after a step, after the cursor rests 200 ms, 100 ms after a held"
        " key's last move, with pre-rendering off, or all four (default)",
    )
    args = parser.parse_args()
    cases = [
        ("60 KB newsletter, plain alternative shown", newsletter_message(), ""),
        ("60 KB newsletter, HTML only (laid out)", html_only_newsletter(), "50 ms"),
        ("1 MB plain discussion", discussion_message(), "200 ms"),
    ]
    # Other jobs on a shared 2-core box inflate every figure: say how busy it was.
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    modes = ("straight", "rest", "released", "cold") if args.mode == "all" else (args.mode,)
    for name, raw, target in cases:
        label = f"{name} ({len(raw) / 1024:.0f} KB raw)"
        print(label + (f", target {target}" if target else ""))
        for mode in modes:
            cold, shown, painted, stepped, hits = asyncio.run(measure(raw, args.repeat, mode))
            print(f" {mode}: {hits} of {args.repeat + 1} opened pre-rendered")
            print(_row("shown", shown))
            print(_row("painted", painted))
            print(_row("from step", stepped))
            print(f"  cold (first open, imports included): painted {cold * 1000:.1f} ms")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
