"""Real-world message shapes for the MIME tests, built by hand as bytes.

Messages are written out byte by byte (not through ``email.generator``) so the tests can
also build what real software sends wrong: missing boundaries, unterminated multiparts, bad
base64, mislabelled charsets, hostile file names and headers.
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CRLF = b"\r\n"

# Strings that must never reach the terminal as such: ESC sequences (retitle the window,
# clear the screen, OSC 8 links), a C1 CSI, NUL, DEL, bidi overrides, zero-width joiners.
HOSTILE = (
    "\x1b]0;pwned\x07\x1b[2J\x1b[31m\x9b1m\x00\x7f\u202egnp.exe\u200b"
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
)
# Textual markup that must stay literal text (the UI shows it with markup off).
MARKUP = "[@click=app.quit]x[/] [link=https://evil.example]y[/link] [bold]"


def header_block(headers: Iterable[tuple[str, str | bytes]]) -> bytes:
    """Header lines as bytes; a bytes value is written as is (raw 8-bit headers)."""
    out = bytearray()
    for name, value in headers:
        raw = value if isinstance(value, bytes) else value.encode("utf-8")
        out += name.encode("ascii") + b": " + raw + CRLF
    return bytes(out)


def encoded_word(text: str) -> str:
    """An RFC 2047 encoded-word (UTF-8, "B" encoding) holding ``text``."""
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def entity(headers: Iterable[tuple[str, str | bytes]], body: bytes) -> bytes:
    """A MIME entity (a message or a body part): headers, a blank line, the body."""
    return header_block(headers) + CRLF + body


def top_headers(
    subject: str | bytes = "Test message",
    *,
    sender: str | bytes = "Alice Example <alice@example.org>",
    to: str | bytes = "Bob Example <bob@example.net>",
    cc: str | bytes | None = None,
    date: str = "Tue, 03 Nov 2026 14:05:09 +0100",
    message_id: str = "<corpus-1@example.org>",
) -> list[tuple[str, str | bytes]]:
    """The usual top-level headers of a message."""
    headers: list[tuple[str, str | bytes]] = [
        ("From", sender),
        ("To", to),
    ]
    if cc is not None:
        headers.append(("Cc", cc))
    headers += [
        ("Subject", subject),
        ("Date", date),
        ("Message-ID", message_id),
        ("MIME-Version", "1.0"),
    ]
    return headers


def text_part(
    text: str | bytes,
    *,
    subtype: str = "plain",
    charset: str | None = "utf-8",
    encoding: str = "8bit",
    params: str = "",
    extra: Sequence[tuple[str, str | bytes]] = (),
    encode_with: str | None = None,
) -> bytes:
    """A text part: ``text`` is encoded with ``encode_with`` (default: ``charset``)."""
    data = text if isinstance(text, bytes) else text.encode(encode_with or charset or "ascii")
    content_type = f"text/{subtype}"
    if charset is not None:
        content_type += f'; charset="{charset}"'
    content_type += params
    return entity(
        [("Content-Type", content_type), ("Content-Transfer-Encoding", encoding), *extra],
        transfer_encode(data, encoding),
    )


def transfer_encode(data: bytes, encoding: str) -> bytes:
    """Encode ``data`` for a Content-Transfer-Encoding (RFC 2045 §6), CRLF line ends."""
    if encoding == "base64":
        return base64.encodebytes(data).replace(b"\n", CRLF)
    if encoding == "quoted-printable":
        return quopri.encodestring(data).replace(b"\n", CRLF)
    return data.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


def binary_part(
    data: bytes,
    content_type: str,
    *,
    filename: str | bytes | None = None,
    disposition: str | None = "attachment",
    content_id: str | None = None,
    encoding: str = "base64",
) -> bytes:
    """A non-text part (an attachment or an inline image)."""
    headers: list[tuple[str, str | bytes]] = []
    if filename is not None and isinstance(filename, str):
        headers.append(("Content-Type", f'{content_type}; name="{filename}"'))
    else:
        headers.append(("Content-Type", content_type))
    if disposition is not None:
        if filename is None:
            headers.append(("Content-Disposition", disposition))
        elif isinstance(filename, bytes):
            headers.append(
                ("Content-Disposition", disposition.encode() + b'; filename="' + filename + b'"')
            )
        else:
            headers.append(("Content-Disposition", f'{disposition}; filename="{filename}"'))
    if content_id is not None:
        headers.append(("Content-ID", f"<{content_id}>"))
    headers.append(("Content-Transfer-Encoding", encoding))
    return entity(headers, transfer_encode(data, encoding))


def multipart(
    subtype: str,
    parts: Sequence[bytes],
    *,
    boundary: str = "==b1==",
    params: str = "",
    terminated: bool = True,
    extra: Sequence[tuple[str, str | bytes]] = (),
) -> bytes:
    """A multipart entity (RFC 2046 §5.1.1) around ``parts``."""
    body = bytearray(b"This is a multi-part message in MIME format." + CRLF)
    for part in parts:
        body += b"--" + boundary.encode() + CRLF + part + CRLF
    if terminated:
        body += b"--" + boundary.encode() + b"--" + CRLF + b"epilogue" + CRLF
    return entity(
        [("Content-Type", f'multipart/{subtype}; boundary="{boundary}"{params}'), *extra],
        bytes(body),
    )


def message(top: Sequence[tuple[str, str | bytes]], content: bytes) -> bytes:
    """A whole message: top-level headers followed by an entity (its headers merge in)."""
    return header_block(top) + content


# --------------------------------------------------------------------------- named shapes


@dataclass(frozen=True)
class Sample:
    """A corpus message and what the reader must show for it."""

    name: str
    raw: bytes
    expect: tuple[str, ...] = ()  # substrings of the shown body text
    absent: tuple[str, ...] = ()  # substrings that must not be shown
    attachments: tuple[str, ...] = ()  # safe names of the listed attachments
    subject: str | None = None
    warnings: bool | None = None  # True: some warning expected; False: none
    extra: dict[str, object] = field(default_factory=dict)


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201a5e0b1e20000000049454e44ae426082"
)


def plain() -> Sample:
    """A plain UTF-8 message with a quote and a signature."""
    body = (
        "Hi Bob,\n\n> Are we still on for Friday?\n>> Yes, said Carol.\n\nSure. Grüße\n-- \nAlice\n"
    )
    raw = message(top_headers("Friday"), text_part(body, encoding="quoted-printable"))
    return Sample("plain", raw, expect=("Sure. Grüße", "> Are we still on"), subject="Friday")


def alternative() -> Sample:
    """multipart/alternative: plain and HTML versions."""
    html = (
        "<html><body><p>Hello from <b>HTML</b></p>"
        '<p><a href="https://example.com/offer">the offer</a></p></body></html>'
    )
    raw = message(
        top_headers("Alt"),
        multipart(
            "alternative",
            [text_part("Hello from PLAIN\n"), text_part(html, subtype="html")],
        ),
    )
    return Sample("alternative", raw, expect=("Hello from PLAIN",), absent=("Hello from HTML",))


def related_with_images() -> Sample:
    """multipart/related: HTML with cid: images inside an alternative, plus an attachment."""
    html = '<p>See the chart:</p><img src="cid:chart@x" alt="Chart"><p>Regards</p>'
    related = multipart(
        "related",
        [
            text_part(html, subtype="html"),
            binary_part(PNG, "image/png", filename="chart.png", disposition="inline",
                        content_id="chart@x"),
        ],
        boundary="rel-b",
    )  # fmt: skip
    alt = multipart(
        "alternative", [text_part("See the chart (plain)\n"), related], boundary="alt-b"
    )
    mixed = multipart(
        "mixed", [alt, binary_part(b"%PDF-1.4 fake", "application/pdf", filename="report.pdf")]
    )
    raw = message(top_headers("Chart"), mixed)
    # With the plain alternative shown, the chart belongs to the HTML that is not shown.
    return Sample(
        "related",
        raw,
        expect=("See the chart (plain)",),
        attachments=("report.pdf",),
        extra={"html_attachments": ("chart.png", "report.pdf"), "html_expect": "[Chart]"},
    )


def nested_forward(depth: int = 3) -> Sample:
    """A message forwarded inline ``depth`` times (message/rfc822 inside message/rfc822)."""
    inner = message(
        top_headers("Original", sender="Carol <carol@example.com>"),
        text_part("The original words.\n"),
    )
    for level in range(depth):
        inner = message(
            top_headers(f"Fwd {level}", sender=f"Fwd{level} <f{level}@example.com>"),
            multipart(
                "mixed",
                [
                    text_part(f"Forward note {level}\n"),
                    entity([("Content-Type", "message/rfc822"),
                            ("Content-Disposition", "inline")], inner),
                ],
                boundary=f"fw-{level}",
            ),
        )  # fmt: skip
    return Sample(
        f"forward-{depth}",
        inner,
        expect=("The original words.", "Forward note 0", "From: Carol <carol@example.com>"),
    )


def flowed(delsp: bool) -> Sample:
    """format=flowed (RFC 3676) with and without DelSp."""
    if delsp:
        body = "This paragr \naph is join \ned.\n> quo \n> ted\n"
        expect = ("This paragraph is joined.", "> quoted")
    else:
        body = "This paragraph \nis joined.\n>quoted \n>text\n -- \nnot sig\n"
        expect = ("This paragraph is joined.", "> quoted text")
    params = "; format=flowed" + ("; delsp=yes" if delsp else "")
    raw = message(top_headers("Flowed"), text_part(body, params=params))
    return Sample(f"flowed-delsp-{delsp}", raw, expect=expect)


# (label in the message, codec the text is really in, sample text)
CHARSET_CASES: tuple[tuple[str, str, str], ...] = (
    ("utf-8", "utf-8", "Grüße, 你好, こんにちは"),
    ("iso-8859-1", "cp1252", "Café “quoted” – €5"),
    ("us-ascii", "cp1252", "naïve résumé"),
    ("gb2312", "gb18030", "中文邮件测试，镕"),
    ("shift_jis", "cp932", "日本語のメール①"),
    ("ks_c_5601-1987", "cp949", "한국어 메일 똠방각하"),
    ("big5", "big5hkscs", "香港郵件測試"),
    ("iso-2022-jp", "iso-2022-jp", "日本語のメール"),
    ("koi8-r", "koi8-r", "Привет, мир"),
    ("windows-1251", "cp1251", "Привет, мир"),
)
# Wrong labels seen in the wild: (label, real codec, text).
WRONG_LABEL_CASES: tuple[tuple[str | None, str, str], ...] = (
    ("iso-8859-1", "utf-8", "Grüße aus Köln"),
    ("us-ascii", "utf-8", "naïve café"),
    ("x-unknown", "utf-8", "Grüße"),
    ("utf-8", "cp1252", "Café au lait, déjà vu"),
    (None, "cp1252", "Café au lait, déjà vu"),
    ("bogus-charset-42", "koi8-r", "Привет, как дела? Это тестовое письмо."),
)


def charset_message(label: str | None, codec: str, text: str, encoding: str = "8bit") -> bytes:
    """A text/plain message in ``codec`` labelled ``label``."""
    data = text.encode(codec)
    return message(
        top_headers("Charset"),
        text_part(data, charset=label, encoding=encoding),
    )


def broken_mime() -> list[Sample]:
    """Real breakage: no boundary, unterminated multipart, bad base64/QP, odd encodings."""
    samples = []
    no_boundary = message(
        top_headers("No boundary"),
        entity([("Content-Type", "multipart/mixed")], b"--guess\r\nContent-Type: text/plain\r\n"
               b"\r\nGuessed body\r\n--guess--\r\n"),
    )  # fmt: skip
    samples.append(Sample("no-boundary", no_boundary, expect=("Guessed body",), warnings=True))
    never = message(
        top_headers("Boundary never used"),
        entity([("Content-Type", 'multipart/mixed; boundary="nothere"')], b"Just text\r\n"),
    )
    samples.append(Sample("boundary-missing", never, expect=("Just text",), warnings=True))
    unterminated = message(
        top_headers("Unterminated"),
        multipart(
            "mixed",
            [
                text_part("First part\n"),
                binary_part(b"data" * 10, "application/octet-stream", filename="cut.bin"),
            ],
            terminated=False,
        ),
    )
    samples.append(
        Sample("unterminated", unterminated, expect=("First part",), attachments=("cut.bin",),
               warnings=True)
    )  # fmt: skip
    bad_b64 = message(
        top_headers("Bad base64"),
        entity(
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Transfer-Encoding", "base64"),
            ],
            b"SGVsbG8g!!d29y\r\nbGQ*=\r\nextra@@\r\n",
        ),
    )
    samples.append(Sample("bad-base64", bad_b64, expect=("Hello",), warnings=True))
    bad_qp = message(
        top_headers("Bad QP"),
        entity(
            [("Content-Type", "text/plain; charset=utf-8"),
             ("Content-Transfer-Encoding", "quoted-printable")],
            b"Price =3D 5 =ZZ =\r\nsoft =C3=A9t=C3=A9 =\r\n",
        ),
    )  # fmt: skip
    samples.append(Sample("bad-qp", bad_qp, expect=("Price = 5 =ZZ soft été",)))
    unknown_cte = message(
        top_headers("Unknown CTE"),
        entity(
            [("Content-Type", "text/plain; charset=utf-8"),
             ("Content-Transfer-Encoding", "x-rot13")],
            b"Uryyb raw text\r\n",
        ),
    )  # fmt: skip
    samples.append(Sample("unknown-cte", unknown_cte, expect=("Uryyb raw text",), warnings=True))
    no_separator = b"Subject: no blank line\r\nThis line has no colon\r\nmore\r\n"
    samples.append(Sample("no-separator", no_separator, expect=("This line has no colon",)))
    headers_only = b"Subject: only headers\r\nFrom: a@b.c\r\n"
    samples.append(Sample("headers-only", headers_only, subject="only headers"))
    bare_lf = (
        b"From: a@b.c\nSubject: LF only\nContent-Type: multipart/mixed; boundary=lf\n\n"
        b"--lf\nContent-Type: text/plain\n\nLF body\n--lf--\n"
    )
    samples.append(Sample("bare-lf", bare_lf, expect=("LF body",), subject="LF only"))
    uuencoded = message(
        top_headers("uuencode"),
        entity(
            [("Content-Type", "text/plain; charset=us-ascii"),
             ("Content-Transfer-Encoding", "x-uuencode")],
            b"begin 644 t.txt\r\n" + base64_to_uu(b"Hello uu world") + b"`\r\nend\r\n",
        ),
    )  # fmt: skip
    samples.append(Sample("uuencode", uuencoded, expect=("Hello uu world",)))
    return samples


def base64_to_uu(data: bytes) -> bytes:
    """uuencode ``data`` (used to build an x-uuencode body)."""
    import binascii

    return b"".join(binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45))


def deep_nesting(depth: int = 50) -> Sample:
    """``depth`` nested multipart/mixed levels with the text at the bottom."""
    content = text_part("Deep inside\n")
    for level in range(depth):
        content = multipart("mixed", [content], boundary=f"lvl{level}")
    raw = message(top_headers("Deep"), content)
    return Sample(f"nest-{depth}", raw, expect=("Deep inside",))


def long_line(size: int = 1024 * 1024) -> Sample:
    """A body that is one line of ``size`` characters."""
    text = ("word " * (size // 5 + 1))[:size]
    raw = message(top_headers("Long line"), text_part(text, charset="us-ascii", encoding="7bit"))
    return Sample("long-line", raw, expect=("word word",))


def big_attachment(size: int = 25 * 1024 * 1024, seed: int = 7) -> tuple[bytes, bytes]:
    """A message with a short text and a ``size``-byte attachment; returns (raw, payload)."""
    import random

    payload = random.Random(seed).randbytes(size)
    raw = message(
        top_headers("Big attachment"),
        multipart(
            "mixed",
            [
                text_part("The text before a big file.\n"),
                binary_part(payload, "application/octet-stream", filename="big.bin"),
            ],
        ),
    )
    return raw, payload


HOSTILE_FILENAMES: tuple[tuple[str | bytes, str], ...] = (
    ("../../.bashrc", "bashrc"),
    ("/etc/passwd", "passwd"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("COM1", "_COM1"),
    ("a" * 400 + ".pdf", "a" * 251 + ".pdf"),
    ("evil\nname.txt", "evil name.txt"),
    ("..\\..\\windows\\system32\\x.dll", "x.dll"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),
    (".hidden", "hidden"),
    ("\x1b[2Jclear.txt", "[2Jclear.txt"),
)


def hostile_filename_message() -> Sample:
    """Attachments whose names try path traversal, device names, length and controls."""
    parts: list[bytes] = [text_part("See attached\n")]
    for index, (name, _) in enumerate(HOSTILE_FILENAMES):
        if isinstance(name, str) and (not name.isascii() or not name.isprintable()):
            # Newlines, ESC and non-ASCII cannot be written raw: RFC 2231 percent-encodes them.
            encoded = "".join(f"%{byte:02X}" for byte in name.encode("utf-8"))
            parts.append(
                entity(
                    [("Content-Type", "application/octet-stream"),
                     ("Content-Disposition", f"attachment; filename*=utf-8''{encoded}"),
                     ("Content-Transfer-Encoding", "base64")],
                    transfer_encode(b"x%d" % index, "base64"),
                )
            )  # fmt: skip
        else:
            parts.append(binary_part(b"x%d" % index, "application/octet-stream", filename=name))
    raw = message(top_headers("Hostile names"), multipart("mixed", parts))
    return Sample(
        "hostile-filenames",
        raw,
        expect=("See attached",),
        attachments=tuple(expected for _, expected in HOSTILE_FILENAMES),
    )


def hostile_everywhere() -> Sample:
    """Escape sequences and markup in every header and in plain and HTML bodies."""
    bad = HOSTILE + MARKUP
    top: list[tuple[str, str | bytes]] = [
        ("From", f'"Eve {bad}" <eve@example.org>'),
        ("To", f'"Bob {bad}" <bob@example.net>'),
        ("Cc", f"{encoded_word(bad)} <c@example.net>"),
        ("Subject", f"Hi {bad}".encode()),
        ("Date", f"Tue, 03 Nov 2026 14:05:09 +0100 {bad}"),
        ("Message-ID", "<hostile@example.org>"),
        ("MIME-Version", "1.0"),
    ]  # fmt: skip
    html = f"<p>HTML {bad}</p><a href='https://evil.example/{bad}'>link {bad}</a>"
    raw = message(
        top,
        multipart(
            "mixed",
            [
                text_part(f"Plain {bad}\n"),
                text_part(html, subtype="html", extra=[("Content-Disposition", "inline")]),
            ],
        ),
    )
    return Sample("hostile", raw, expect=("Plain", "HTML", "[@click=app.quit]x[/]"))


def all_samples() -> list[Sample]:
    """Every named shape (not the 25 MB one, which a test builds once per module)."""
    samples = [
        plain(),
        alternative(),
        related_with_images(),
        nested_forward(1),
        nested_forward(3),
        flowed(True),
        flowed(False),
        deep_nesting(50),
        hostile_filename_message(),
        hostile_everywhere(),
    ]
    samples += broken_mime()
    for label, codec, text in CHARSET_CASES + WRONG_LABEL_CASES:
        samples.append(
            Sample(f"charset-{label}-{codec}", charset_message(label, codec, text), expect=(text,))
        )
    return samples
