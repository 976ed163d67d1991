"""MIME for the reader: charsets, parsing to a part structure, HTML to text, safe file names.

No UI here: the TUI renders what :func:`parse_message` returns. Importing the package is
cheap; lxml, inscriptis and charset-normalizer are imported when first needed.
"""

from __future__ import annotations

from sync.mime.charsets import decode_encoded_words, decode_header_bytes, decode_text
from sync.mime.filenames import (
    AttachmentExistsError,
    AttachmentSaveError,
    display_filename,
    safe_filename,
    save_attachment,
)
from sync.mime.html import Link
from sync.mime.message import (
    PLACEHOLDER_HEADER,
    AttachmentInfo,
    BodyLine,
    BodyText,
    DisplayHeaders,
    MailAddress,
    NotDownloadedError,
    ParsedMessage,
    PartialMessage,
    PartInfo,
    parse_message,
    raw_source,
)

__all__ = [
    "PLACEHOLDER_HEADER",
    "AttachmentExistsError",
    "AttachmentInfo",
    "AttachmentSaveError",
    "BodyLine",
    "BodyText",
    "DisplayHeaders",
    "Link",
    "MailAddress",
    "NotDownloadedError",
    "ParsedMessage",
    "PartInfo",
    "PartialMessage",
    "decode_encoded_words",
    "decode_header_bytes",
    "decode_text",
    "display_filename",
    "parse_message",
    "raw_source",
    "safe_filename",
    "save_attachment",
]
