"""The sample-mail corpus lives in ``sync.sample_mail`` (``mailtui demo`` uses it too)."""

from sync.sample_mail import (
    DEFAULT_TO,
    folder_path,
    make_message,
    message_id_for,
    seed_maildir,
    subject_for,
)

__all__ = [
    "DEFAULT_TO",
    "folder_path",
    "make_message",
    "message_id_for",
    "seed_maildir",
    "subject_for",
]
