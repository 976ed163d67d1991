"""Assertions shared by the MIME tests: nothing hostile reaches what the reader displays."""

from __future__ import annotations

import re

from sync.mime.message import ParsedMessage

# What sync.clean.clean_text removes, spelled out independently so a regression shows:
# C0 controls (TAB and LF allowed in bodies only), DEL, C1, bidi controls, zero-width
# characters, BOM, tag characters, and lone surrogates (undecodable bytes).
_FORBIDDEN_ANYWHERE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\U000e0000-\U000e007f\ud800-\udfff]"
)
_FORBIDDEN_IN_ONE_LINE = re.compile("[\t\n\u2028\u2029]")


def assert_one_line(value: str, what: str) -> None:
    """A header-like value: no controls, no line breaks."""
    assert not _FORBIDDEN_ANYWHERE.search(value), f"{what}: {value!r}"
    assert not _FORBIDDEN_IN_ONE_LINE.search(value), f"{what}: {value!r}"


def assert_displayable(parsed: ParsedMessage) -> None:
    """Every string meant for display is clean (single-line where it is a header)."""
    headers = parsed.headers
    for name in ("subject", "from_", "to", "cc", "reply_to", "date_text", "message_id",
                 "in_reply_to", "references"):  # fmt: skip
        assert_one_line(getattr(headers, name), name)
    for addresses in (headers.from_addresses, headers.to_addresses, headers.cc_addresses,
                      headers.reply_to_addresses):  # fmt: skip
        for address in addresses:
            assert_one_line(address.name, "address name")
            assert_one_line(address.email, "address")
    for line in parsed.body.lines:
        assert "\n" not in line.text, "a body line holds a line break"
        assert not _FORBIDDEN_ANYWHERE.search(line.text), f"body line: {line.text!r}"
        assert line.quote_level >= 0
    for link in parsed.body.links:
        assert_one_line(link.url, "link url")
        assert_one_line(link.text, "link text")
        if link.warning:
            assert_one_line(link.warning, "link warning")
    for warning in parsed.body.warnings:
        assert_one_line(warning, "warning")
    for part in parsed.parts:
        assert_one_line(part.content_type, "content type")
        if part.filename is not None:
            assert_one_line(part.filename, "part filename")
        if part.charset is not None:
            assert_one_line(part.charset, "charset")
    for attachment in parsed.attachments:
        assert_one_line(attachment.filename, "attachment filename")
        assert_one_line(attachment.safe_name, "safe name")
        assert "/" not in attachment.safe_name and "\\" not in attachment.safe_name
        assert not attachment.safe_name.startswith(".")
        assert attachment.size >= 0
