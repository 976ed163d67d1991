"""parse_message never raises and never shows anything hostile, whatever the bytes (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.mime import decode_encoded_words, decode_header_bytes, decode_text, parse_message
from sync.mime.message import ParsedMessage, _Parser, raw_source
from tests.mime import corpus
from tests.mime.checks import assert_displayable

_SEEDS = [sample.raw for sample in corpus.all_samples() if len(sample.raw) < 200_000]
_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes that matter to MIME parsers: line ends, boundary dashes, header colons, "=" of QP
# and encoded-words, 8-bit and control bytes.
_INTERESTING = st.sampled_from(
    [b"\r\n", b"\n", b"\r", b"--", b"==b1==", b":", b"=", b"=?", b"?=", b"\x00", b"\x1b", b"\xff",
     b"\xc3", b"Content-Type: multipart/mixed; boundary=x\r\n", b"--x\r\n", b"\r\n\r\n",
     b"Content-Transfer-Encoding: base64\r\n", b"charset=", b"<a href='x'>", b"\xe2\x80\xae"]
)  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        if not data:
            break
        position = draw(st.integers(min_value=0, max_value=len(data) - 1))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "flip"]))
        if action == "insert":
            data[position:position] = draw(_INTERESTING | st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=64))]
        elif action == "replace":
            data[position : position + 1] = draw(_INTERESTING)
        elif action == "truncate":
            del data[position:]
        else:
            data[position] ^= 1 << draw(st.integers(min_value=0, max_value=7))
    return bytes(data)


def _parse(raw: bytes, prefer_html: bool = False) -> ParsedMessage:
    """Parse without parse_message's last-resort fallback, so an internal error fails the test."""
    parsed = _Parser(raw, prefer_html).run()
    assert parsed == parse_message(raw, prefer_html=prefer_html)  # deterministic, no fallback
    return parsed


@_FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(raw: bytes) -> None:
    assert_displayable(_parse(raw))
    assert isinstance(raw_source(raw), str)


@_FUZZ
@given(_mutated(), st.booleans())
def test_mutated_real_messages(raw: bytes, prefer_html: bool) -> None:
    assert_displayable(_parse(raw, prefer_html))


@_FUZZ
@given(st.lists(st.tuples(st.sampled_from(["From", "To", "Cc", "Subject", "Date", "Reply-To",
                                           "Content-Type", "Content-Disposition",
                                           "Content-Transfer-Encoding"]),
                          st.text(max_size=80)), max_size=8),
       st.binary(max_size=300))  # fmt: skip
def test_random_header_values(headers: list[tuple[str, str]], body: bytes) -> None:
    raw = b"".join(
        name.encode() + b": " + value.encode("utf-8", "surrogatepass") + b"\r\n"
        for name, value in headers
    )
    assert_displayable(_parse(raw + b"\r\n" + body))


@_FUZZ
@given(
    st.binary(max_size=512),
    st.sampled_from(
        [None, "utf-8", "gb2312", "iso-2022-jp", "utf-16", "x-bogus", "utf-7", "shift_jis", "big5"]
    ),
)
def test_charset_functions_never_raise(data: bytes, label: str | None) -> None:
    for text in (decode_text(data, label), decode_header_bytes(data, label)):
        assert not any("\ud800" <= char <= "\udfff" for char in text)
    decode_encoded_words(data.decode("latin-1"), label)
    decode_encoded_words(f"=?{label}?b?{data.hex()}?= =?{label}?q?{data.decode('latin-1')}?=")
