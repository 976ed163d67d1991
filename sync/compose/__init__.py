"""Composing mail without a UI: drafts, replies, forwards, MIME building, address completion.

The TUI editor, the outbox and the Sent/Drafts copies call into this package; sending is
:mod:`sync.smtp`. Nothing here does network I/O.
"""

from __future__ import annotations

from sync.compose.addresses import (
    AddressCompletion,
    AddressError,
    complete_address,
    format_address,
    format_addresses,
    is_own_address,
    parse_address_list,
    unique_addresses,
)
from sync.compose.build import (
    ComposeError,
    build_message,
    envelope,
    make_message_id,
    message_bytes,
    wire_bytes,
)
from sync.compose.draft import (
    CarriedPart,
    Draft,
    DraftSyntaxError,
    ReplyKind,
    draft_to_text,
    text_to_draft,
)
from sync.compose.reply import (
    account_address,
    attribution_line,
    forward_draft,
    quote_lines,
    reply_draft,
)
from sync.compose.subjects import base_subject, forward_subject, reply_subject

__all__ = [
    "AddressCompletion",
    "AddressError",
    "CarriedPart",
    "ComposeError",
    "Draft",
    "DraftSyntaxError",
    "ReplyKind",
    "account_address",
    "attribution_line",
    "base_subject",
    "build_message",
    "complete_address",
    "draft_to_text",
    "envelope",
    "format_address",
    "format_addresses",
    "forward_draft",
    "forward_subject",
    "is_own_address",
    "make_message_id",
    "message_bytes",
    "parse_address_list",
    "quote_lines",
    "reply_draft",
    "reply_subject",
    "text_to_draft",
    "unique_addresses",
    "wire_bytes",
]
