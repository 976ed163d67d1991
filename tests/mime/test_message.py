"""parse_message over the corpus of real-world shapes, big messages and hostile content."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.mime import parse_message, raw_source, save_attachment
from sync.mime.charsets import lenient_b64decode
from sync.mime.message import MAX_DEPTH, MAX_PARTS, _iter_base64
from tests.mime import corpus
from tests.mime.checks import assert_displayable

SAMPLES = corpus.all_samples()


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.name for sample in SAMPLES])
def test_corpus_shows_the_expected_text(sample: corpus.Sample) -> None:
    parsed = parse_message(sample.raw)
    text = parsed.body.text
    for expected in sample.expect:
        assert expected in text
    for unexpected in sample.absent:
        assert unexpected not in text
    if sample.attachments:
        assert tuple(a.safe_name for a in parsed.attachments) == sample.attachments
    if sample.subject is not None:
        assert parsed.headers.subject == sample.subject
    if sample.warnings is not None:
        assert bool(parsed.body.warnings) is sample.warnings, parsed.body.warnings
    assert_displayable(parsed)


def test_plain_message_headers_and_quote_levels() -> None:
    parsed = parse_message(corpus.plain().raw)
    headers = parsed.headers
    assert headers.from_ == "Alice Example <alice@example.org>"
    assert headers.from_addresses[0].email == "alice@example.org"
    assert headers.to_addresses[0].name == "Bob Example"
    assert headers.message_id == "<corpus-1@example.org>"
    levels = {line.text: line.quote_level for line in parsed.body.lines}
    assert levels["> Are we still on for Friday?"] == 1
    assert levels[">> Yes, said Carol."] == 2
    assert levels["Sure. Grüße"] == 0
    assert parsed.body.source == "text/plain"


def test_alternative_prefers_plain_and_can_prefer_html() -> None:
    raw = corpus.alternative().raw
    plain = parse_message(raw)
    assert plain.has_html_alternative and plain.has_plain_alternative
    assert [part.role for part in plain.parts] == ["container", "body", "alternative"]
    html = parse_message(raw, prefer_html=True)
    assert "Hello from HTML" in html.body.text and "PLAIN" not in html.body.text
    assert html.body.source == "text/html"
    assert "the offer[1]" in html.body.text
    assert "[1] https://example.com/offer" in html.body.text
    assert html.body.links[0].url == "https://example.com/offer"


def test_related_html_lists_inline_images() -> None:
    sample = corpus.related_with_images()
    parsed = parse_message(sample.raw, prefer_html=True)
    assert str(sample.extra["html_expect"]) in parsed.body.text
    assert tuple(a.safe_name for a in parsed.attachments) == sample.extra["html_attachments"]
    chart = parsed.attachments[0]
    assert chart.inline and chart.content_id == "chart@x" and chart.content_type == "image/png"
    assert chart.payload() == corpus.PNG
    assert not parsed.attachments[1].inline
    assert [p.path for p in parsed.parts] == ["", "1", "1.1", "1.2", "1.2.1", "1.2.2", "2"]


def test_forwarded_messages_show_their_headers_and_text_in_order() -> None:
    parsed = parse_message(corpus.nested_forward(3).raw)
    text = parsed.body.text
    order = [text.index(f"Forward note {level}") for level in (2, 1, 0)]
    assert order == sorted(order)
    assert text.index("Forward note 0") < text.index("The original words.")
    assert text.count("---------- Forwarded message ----------") == 3
    assert "Subject: Original" in text
    assert parsed.parts[0].role == "container"
    assert any(part.role == "message" for part in parsed.parts)


def test_an_attached_message_is_saved_as_eml() -> None:
    inner = corpus.message(corpus.top_headers("Inner subject"), corpus.text_part("inner text\n"))
    raw = corpus.message(
        corpus.top_headers("Outer"),
        corpus.multipart(
            "mixed",
            [
                corpus.text_part("outer text\n"),
                corpus.entity(
                    [("Content-Type", "message/rfc822"), ("Content-Disposition", "attachment")],
                    inner,
                ),
            ],
        ),
    )
    parsed = parse_message(raw)
    assert "outer text" in parsed.body.text and "inner text" not in parsed.body.text
    (attachment,) = parsed.attachments
    assert attachment.safe_name == "Inner subject.eml"
    assert attachment.content_type == "message/rfc822"
    assert attachment.payload() == inner


def test_a_base64_encoded_message_rfc822_is_still_read() -> None:
    inner = corpus.message(corpus.top_headers("Inner"), corpus.text_part("encoded inner\n"))
    raw = corpus.message(
        corpus.top_headers("Outer"),
        corpus.entity(
            [("Content-Type", "message/rfc822"), ("Content-Transfer-Encoding", "base64")],
            corpus.transfer_encode(inner, "base64"),
        ),
    )
    assert "encoded inner" in parse_message(raw).body.text


def test_fifty_levels_of_nesting_show_the_text() -> None:
    parsed = parse_message(corpus.deep_nesting(50).raw)
    assert parsed.body.text == "Deep inside"
    assert len(parsed.parts) == 51
    assert parsed.parts[-1].depth == 50 and parsed.parts[-1].role == "body"
    assert parsed.parts[-1].path == ".".join(["1"] * 50)
    assert not parsed.body.warnings


def test_nesting_beyond_the_limit_is_cut_with_a_warning() -> None:
    parsed = parse_message(corpus.deep_nesting(MAX_DEPTH + 20).raw)
    assert any("nests deeper" in warning for warning in parsed.body.warnings)
    assert max(part.depth for part in parsed.parts) == MAX_DEPTH
    assert_displayable(parsed)


def test_too_many_parts_are_cut_with_a_warning() -> None:
    parts = [corpus.text_part(f"p{index}\n") for index in range(MAX_PARTS + 50)]
    raw = corpus.message(corpus.top_headers("Many"), corpus.multipart("mixed", parts))
    parsed = parse_message(raw)
    assert len(parsed.parts) == MAX_PARTS
    assert any("more than" in warning for warning in parsed.body.warnings)


def test_a_one_megabyte_single_line_is_one_line() -> None:
    parsed = parse_message(corpus.long_line().raw)
    assert len(parsed.body.lines) == 1
    assert len(parsed.body.lines[0].text) == 1024 * 1024


def test_signed_and_encrypted_multiparts() -> None:
    signed = corpus.message(
        corpus.top_headers("Signed"),
        corpus.multipart(
            "signed",
            [
                corpus.text_part("signed text\n"),
                corpus.binary_part(b"-----BEGIN PGP SIGNATURE-----", "application/pgp-signature",
                                   filename="signature.asc"),
            ],
            params='; protocol="application/pgp-signature"',
        ),
    )  # fmt: skip
    parsed = parse_message(signed)
    assert parsed.body.text == "signed text"
    assert [a.safe_name for a in parsed.attachments] == ["signature.asc"]
    encrypted = corpus.message(
        corpus.top_headers("Encrypted"),
        corpus.multipart(
            "encrypted",
            [
                corpus.binary_part(b"Version: 1", "application/pgp-encrypted", disposition=None),
                corpus.binary_part(b"-----BEGIN PGP MESSAGE-----", "application/octet-stream",
                                   filename="encrypted.asc"),
            ],
        ),
    )  # fmt: skip
    parsed = parse_message(encrypted)
    assert any("encrypted" in warning for warning in parsed.body.warnings)
    assert len(parsed.attachments) == 2


def test_digest_parts_default_to_message_rfc822() -> None:
    inner = corpus.message(corpus.top_headers("In digest"), corpus.text_part("digest entry\n"))
    raw = corpus.message(
        corpus.top_headers("Digest"), corpus.multipart("digest", [b"\r\n" + inner])
    )
    parsed = parse_message(raw)
    assert "digest entry" in parsed.body.text
    assert parsed.parts[1].content_type == "message/rfc822"


def test_text_attachments_are_not_shown_inline() -> None:
    raw = corpus.message(
        corpus.top_headers("Log"),
        corpus.multipart(
            "mixed",
            [
                corpus.text_part("see log\n"),
                corpus.text_part("SECRET LOG LINE\n", extra=[("Content-Disposition",
                                                               'attachment; filename="x.log"')]),
                corpus.text_part("BEGIN:VCALENDAR\n", subtype="calendar"),
            ],
        ),
    )  # fmt: skip
    parsed = parse_message(raw)
    assert parsed.body.text == "see log"
    assert [a.safe_name for a in parsed.attachments] == ["x.log", "attachment.ics"]


def test_html_only_message_with_meta_charset() -> None:
    html = '<html><head><meta charset="windows-1251"></head><body><p>Привет</p></body></html>'
    raw = corpus.message(
        corpus.top_headers("Meta"),
        corpus.text_part(html.encode("cp1251"), subtype="html", charset=None),
    )
    parsed = parse_message(raw)
    assert parsed.body.text == "Привет"
    assert parsed.body.source == "text/html"


# --------------------------------------------------------------------------- headers


def test_rfc2047_and_raw_8bit_headers() -> None:
    top = corpus.top_headers(
        "=?utf-8?q?caf=C3=A9?= =?iso-8859-1?b?6XTp?= plain",
        sender="=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jm@example.de>",
        to="Grüße Team <team@example.de>".encode(),
        cc="Ren\xe9 <rene@example.fr>".encode("latin-1"),
    )
    raw = corpus.message(top, corpus.text_part("x\n", charset="iso-8859-1"))
    headers = parse_message(raw).headers
    assert headers.subject == "caféété plain"
    assert headers.from_ == "Jörg Müller <jm@example.de>"
    assert headers.to == "Grüße Team <team@example.de>"
    assert headers.cc == "René <rene@example.fr>"


def test_8bit_subject_in_the_message_charset_never_shows_surrogates() -> None:
    raw = corpus.message(
        corpus.top_headers("Привет мир".encode("koi8-r")),
        corpus.text_part("x\n", charset="koi8-r"),
    )
    subject = parse_message(raw).headers.subject
    assert subject == "Привет мир"


def test_groups_and_broken_addresses() -> None:
    raw = corpus.message(
        corpus.top_headers(to="undisclosed-recipients:;", cc="<<<broken@@, ,"),
        corpus.text_part("x\n"),
    )
    headers = parse_message(raw).headers
    assert headers.to == "undisclosed-recipients: ;"
    assert headers.cc  # something readable, no exception


@pytest.fixture
def tokyo_time() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "JST-9"  # a POSIX rule: needs no time zone database
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.usefixtures("tokyo_time")
def test_date_is_shown_in_local_time() -> None:
    raw = corpus.message(
        corpus.top_headers(date="Tue, 03 Nov 2026 14:05:09 +0100"), corpus.text_part("x\n")
    )
    headers = parse_message(raw).headers
    assert headers.date is not None
    assert headers.date.hour == 22 and headers.date.utcoffset() is not None
    assert headers.date_text == "Tue, 03 Nov 2026 22:05 JST"


def test_bad_date_is_shown_as_written() -> None:
    raw = corpus.message(corpus.top_headers(date="someday \x1b[2J soon"), corpus.text_part("x\n"))
    headers = parse_message(raw).headers
    assert headers.date is None
    assert headers.date_text == "someday [2J soon"


# --------------------------------------------------------------------------- hostile content


def test_hostile_content_is_cleaned_everywhere() -> None:
    parsed = parse_message(corpus.hostile_everywhere().raw)
    assert_displayable(parsed)
    everything = "\n".join(
        [parsed.body.text, parsed.headers.subject, parsed.headers.from_, parsed.headers.to,
         parsed.headers.cc, parsed.headers.date_text, *(link.url for link in parsed.body.links)]
    )  # fmt: skip
    for char in ("\x1b", "\x9b", "\x00", "\x7f", "\x07", "\u202e", "\u200b"):
        assert char not in everything
    # Markup is text: it stays as written (the UI shows it with markup off).
    assert corpus.MARKUP in parsed.headers.subject
    assert corpus.MARKUP in parsed.body.text


def test_raw_source_is_safe_text() -> None:
    raw = corpus.hostile_everywhere().raw + b"\r\nlatin1 \xe9 tail\r\n"
    text = raw_source(raw)
    assert "\x1b" not in text and "\r" not in text
    assert "latin1 é tail" in text
    short = raw_source(raw, max_bytes=100)
    assert short.endswith(f"[… {len(raw) - 100:,} more bytes not shown]")


# --------------------------------------------------------------------------- the 25 MB case


@pytest.fixture(scope="module")
def big_message() -> tuple[bytes, bytes]:
    return corpus.big_attachment()


def test_big_attachment_text_shows_without_decoding_it(big_message: tuple[bytes, bytes]) -> None:
    raw, payload = big_message
    tracemalloc.start()
    try:
        parsed = parse_message(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed.body.text == "The text before a big file."
    (attachment,) = parsed.attachments
    assert attachment.size == len(payload)
    assert attachment.safe_name == "big.bin"
    # Decoding the attachment would allocate 25 MiB (and the base64 text again).
    assert peak < 4 * 1024 * 1024, f"parse allocated {peak / 2**20:.1f} MiB"


def test_big_attachment_is_decoded_in_chunks_when_saved(
    big_message: tuple[bytes, bytes], tmp_path: Path
) -> None:
    raw, payload = big_message
    (attachment,) = parse_message(raw).attachments
    tracemalloc.start()
    try:
        path = save_attachment(attachment, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert peak < 8 * 1024 * 1024, f"save allocated {peak / 2**20:.1f} MiB"


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=3000),
    line_length=st.integers(min_value=1, max_value=120),
    chunk=st.integers(min_value=1, max_value=500),
    junk=st.sampled_from([b"", b"!", b"=", b"==\r\n", b" "]),
)
def test_chunked_base64_matches_decoding_at_once(
    data: bytes, line_length: int, chunk: int, junk: bytes
) -> None:
    text = base64.b64encode(data)
    lines = b"\r\n".join(text[i : i + line_length] for i in range(0, len(text), line_length))
    lines = lines[: len(lines) // 2] + junk + lines[len(lines) // 2 :]
    chunked = b"".join(_iter_base64(lines, 0, len(lines), chunk))
    assert chunked == lenient_b64decode(lines)
    if not junk.strip(b" "):
        assert chunked == data


def test_an_empty_plain_alternative_gives_way_to_html() -> None:
    raw = corpus.message(
        corpus.top_headers("Empty plain"),
        corpus.multipart(
            "alternative",
            [corpus.text_part(" \n\n"), corpus.text_part("<p>Real text</p>", subtype="html")],
        ),
    )
    assert parse_message(raw).body.text == "Real text"


def test_a_single_text_part_named_as_a_file_is_still_read() -> None:
    raw = corpus.message(
        corpus.top_headers("Named"),
        corpus.text_part(
            "the whole message\n",
            params='; name="notes.txt"',
            extra=[("Content-Disposition", 'attachment; filename="notes.txt"')],
        ),
    )
    assert parse_message(raw).body.text == "the whole message"
