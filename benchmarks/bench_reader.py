"""Reader benchmark: parse + render time of typical messages (issue 7).

Run: ``python benchmarks/bench_reader.py [--repeat N]``. Prints, for each case, the best and
median wall time of ``parse_message`` (MIME structure, header decoding, text decoding,
HTML layout to numbered-link text, quote levels, cleaning: everything the reader pane gets)
the median CPU time, and the peak Python memory of one run (tracemalloc, measured on a
separate run; lxml's C allocations are not seen).

Cases:
- a typical 60 KB HTML newsletter (nested layout tables, inline styles, hidden preheader,
  images, ~120 links) with its plain alternative, shown as HTML (target: 50 ms);
- a 1 MB plain-text message of quoted discussion (target: 200 ms);
- a 1 MB single-line plain body;
- a message with a 25 MB attachment: the text shows without decoding it; saving decodes.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sync.mime import parse_message, save_attachment
from tests.mime import corpus

_VOCABULARY = (
    "the of and to in is you that it he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would make "
    "like him into time has look two more write go see number no way could people my than"
)
_WORDS = _VOCABULARY.split()


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def newsletter_html(target_size: int = 60 * 1024, seed: int = 1) -> str:
    """A newsletter shaped like the ones mail services send: tables within tables."""
    rng = random.Random(seed)
    head = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Weekly digest</title>"
        "<style>body{margin:0} .btn{background:#06c;color:#fff} td{font-family:Arial}</style>"
        "</head><body style='margin:0;padding:0;background:#f4f4f4'>"
        "<div style='display:none;max-height:0;overflow:hidden'>This week: hidden preheader</div>"
        "<table role='presentation' width='100%' cellpadding='0' cellspacing='0'><tr><td "
        "align='center'><table width='600' style='background:#ffffff'>"
        "<tr><td style='padding:20px'><a href='https://news.example.com/?utm_source=mail'>"
        "<img src='https://cdn.example.com/logo.png' alt='Example News' width='120'></a>"
        "</td></tr>"
    )
    parts = [head]
    size = len(head)
    article = 0
    while size < target_size - 1500:
        article += 1
        url = f"https://click.example.com/ls/click?upn=abc{article:04d}&utm_campaign=weekly"
        block = (
            f"<tr><td style='padding:10px 20px'><table width='100%'><tr>"
            f"<td width='160' valign='top'><a href='{url}'><img src='https://cdn.example.com/"
            f"img{article}.jpg' alt='Picture {article}' width='150' style='display:block'></a>"
            f"</td><td valign='top' style='font-size:14px;line-height:20px;color:#333'>"
            f"<h2 style='font-size:18px;margin:0 0 8px'><a href='{url}' style='color:#06c;"
            f"text-decoration:none'>{_sentence(rng, 6)}</a></h2>"
            f"<p style='margin:0 0 8px'>{_sentence(rng, 40)} {_sentence(rng, 25)}</p>"
            f"<table><tr><td class='btn' style='border-radius:4px;padding:6px 12px'>"
            f"<a href='{url}&cta=1' style='color:#fff'>Read more</a></td>"
            f"<td style='padding-left:10px'><a href='https://share.example.com/?a={article}'>"
            f"Share</a></td></tr></table></td></tr></table></td></tr>"
        )
        parts.append(block)
        size += len(block)
    footer = (
        "<tr><td style='padding:20px;font-size:11px;color:#999'><p>You receive this because "
        "you subscribed at news.example.com.</p><p><a href='https://news.example.com/unsub?"
        "u=123'>Unsubscribe</a> | <a href='https://news.example.com/prefs'>Preferences</a> |"
        " <a href='https://evil.example.net/track'>www.example.com</a></p>"
        "<p>Example News, 1 Main Street, Springfield</p></td></tr></table></td></tr></table>"
        "</body></html>"
    )
    parts.append(footer)
    return "".join(parts)


def newsletter_message() -> bytes:
    """The newsletter as multipart/alternative (plain + HTML, quoted-printable)."""
    html = newsletter_html()
    return corpus.message(
        corpus.top_headers("Weekly digest", sender="Example News <news@example.com>"),
        corpus.multipart(
            "alternative",
            [
                corpus.text_part(
                    "View this newsletter in a browser.\n", encoding="quoted-printable"
                ),
                corpus.text_part(html, subtype="html", encoding="quoted-printable"),
            ],
        ),
    )


def discussion_message(size: int = 1024 * 1024, seed: int = 2) -> bytes:
    """A 1 MB plain message: a long quoted discussion with ~72-character lines."""
    rng = random.Random(seed)
    lines: list[str] = []
    total = 0
    while total < size:
        depth = rng.choice([0, 0, 0, 1, 1, 2, 3])
        prefix = "> " * depth
        line = prefix + " ".join(rng.choice(_WORDS) for _ in range(12))[:72]
        lines.append(line)
        total += len(line) + 2
    body = "\n".join(lines) + "\n"
    return corpus.message(
        corpus.top_headers("Re: Re: Re: the long thread"),
        corpus.text_part(body, encoding="quoted-printable"),
    )


def _time(function: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Best and median wall time, and median CPU time (less disturbed on a busy machine)."""
    function()  # warm-up: imports (lxml, inscriptis) and caches
    wall = []
    cpu = []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), statistics.median(wall), statistics.median(cpu)


def _peak(function: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    """Run every case and print a table of figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    newsletter = newsletter_message()
    discussion = discussion_message()
    single_line = corpus.long_line().raw
    big, payload = corpus.big_attachment()

    rows: list[tuple[str, int, float, float, float, float, str]] = []

    def case(name: str, raw: bytes, target: str, **options: bool) -> None:
        best, median, cpu = _time(lambda: parse_message(raw, **options), args.repeat)
        peak = _peak(lambda: parse_message(raw, **options))
        rows.append((name, len(raw), best, median, cpu, peak, target))

    case("HTML newsletter (shown as HTML)", newsletter, "50 ms", prefer_html=True)
    case("HTML newsletter (plain alternative)", newsletter, "")
    case("1 MB plain, quoted discussion", discussion, "200 ms")
    case("1 MB plain, single line", single_line, "200 ms")
    case("25 MB attachment, show text", big, "")

    print(
        f"{'case':38} {'size':>10} {'best':>9} {'median':>9} {'cpu med':>9} {'py peak':>9}  target"
    )
    for name, size, best, median, cpu, peak, target in rows:
        print(
            f"{name:38} {size / 1024:>8.0f}KB {best * 1000:>7.1f}ms {median * 1000:>7.1f}ms "
            f"{cpu * 1000:>7.1f}ms {peak:>7.1f}MB  {target}"
        )
    print("(wall best/median, median CPU time; py peak = tracemalloc, C allocations excluded)")

    parsed = parse_message(big)
    (attachment,) = parsed.attachments
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        path = save_attachment(attachment, Path(directory))
        elapsed = time.perf_counter() - start
        assert path.stat().st_size == len(payload)
    print(f"save the 25 MB attachment (decode + write + fsync): {elapsed * 1000:.0f} ms")
    rendered = parse_message(newsletter, prefer_html=True)
    print(
        f"newsletter: {len(newsletter_html()) / 1024:.0f} KB of HTML -> "
        f"{len(rendered.body.lines)} lines, {len(rendered.body.links)} links, "
        f"{len(rendered.body.warnings)} warnings"
    )


if __name__ == "__main__":
    main()
