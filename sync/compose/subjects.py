"""Reply and forward subjects without stacked prefixes ("Re: Re: AW: Fwd: ...").

The prefixes recognised (case-insensitive, each optionally counted as ``Re[2]:``, ``Re(2):``
or ``Re^2:``, followed by an ASCII or full-width colon):

- reply: ``Re``, ``Aw`` (German), ``Antw`` (Dutch), ``Sv`` (Danish, Norwegian, Swedish),
  ``Vs`` (Finnish), ``Odp`` (Polish), ``Res`` (Portuguese), ``Rif`` (Italian), ``Atb``
  (Latvian), ``Ynt`` (Turkish), ``Vá`` (Hungarian), ``Odg`` (Croatian), ``Απ`` (Greek),
  ``Отв`` (Russian), ``回复``/``回覆``/``答复`` (Chinese), ``返信`` (Japanese), ``답장`` (Korean);
- forward: ``Fwd``, ``Fw``, ``WG`` (German), ``Doorst`` (Dutch), ``TR`` (French), ``RV``
  (Spanish), ``Enc`` (Portuguese), ``PD`` (Polish), ``转发``/``轉寄`` (Chinese), ``転送``
  (Japanese), ``전달`` (Korean).

One-letter prefixes (Italian Outlook's ``I:``) are left alone: they are too often real
text. A reply strips every leading reply prefix and writes one ``Re:``; a forward strips
every leading forward prefix and writes one ``Fwd:``. A prefix of the other kind stays, as
Thunderbird and mutt do (``Re: Fwd: x`` says the thread went through a forward). A leading
mailing-list tag (``[list] Re: x``) moves behind the new prefix (``Re: [list] x``), which
list servers recognise and do not tag again.
"""

from __future__ import annotations

import re

__all__ = ["base_subject", "forward_subject", "reply_subject"]

_REPLY_WORDS = (
    "re",
    "aw",
    "antw",
    "sv",
    "vs",
    "odp",
    "res",
    "rif",
    "atb",
    "ynt",
    "vá",
    "odg",
    "απ",
    "отв",
    "回复",
    "回覆",
    "答复",
    "返信",
    "답장",
)
_FORWARD_WORDS = (
    "fwd",
    "fw",
    "wg",
    "doorst",
    "tr",
    "rv",
    "enc",
    "pd",
    "转发",
    "轉寄",
    "転送",
    "전달",
)


def _prefixes(words: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first so "fwd" is not read as "fw" + "d".
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    counter = r"(?:\[\d{1,4}\]|\(\d{1,4}\)|\^\d{1,4})?"
    return re.compile(rf"^\s*(?:(?:{alternatives})\s*{counter}\s*[:：]\s*)+", re.IGNORECASE)


_REPLY = _prefixes(_REPLY_WORDS)
_FORWARD = _prefixes(_FORWARD_WORDS)
_ANY = _prefixes(_REPLY_WORDS + _FORWARD_WORDS)
_LIST_TAG = re.compile(r"^\s*(\[[^\[\]]{1,60}\])\s*")


def _strip(subject: str, prefixes: re.Pattern[str]) -> str:
    subject = " ".join(subject.split())
    tag = ""
    match = _LIST_TAG.match(subject)
    if match and prefixes.match(subject[match.end() :]):
        tag, subject = match.group(1) + " ", subject[match.end() :]
    return tag + prefixes.sub("", subject, count=1)


def base_subject(subject: str) -> str:
    """The subject without any leading reply or forward prefixes (for threading by subject)."""
    return _strip(subject, _ANY)


def reply_subject(subject: str) -> str:
    """``Re: `` plus the subject without its leading reply prefixes."""
    rest = _strip(subject, _REPLY)
    return f"Re: {rest}" if rest else "Re:"


def forward_subject(subject: str) -> str:
    """``Fwd: `` plus the subject without its leading forward prefixes."""
    rest = _strip(subject, _FORWARD)
    return f"Fwd: {rest}" if rest else "Fwd:"
