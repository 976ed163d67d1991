"""Local search against a reference: hundreds of random query trees, each evaluated by the
store (both plans) and by a plain-Python model of the query language over the corpus."""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import UTC, date, datetime

import pytest

import sync.store.search as search_module
from sync.search import (
    And,
    DateBound,
    FlagTest,
    Folder,
    HasAttachment,
    Not,
    Or,
    Query,
    Text,
    folder_matches,
)
from sync.search.query import Field, FlagName
from sync.store import Store
from sync.store.search import body_text, search_messages
from tests.search.corpus import CORPUS, Mail, build, epoch, raw_of

WORDS = [
    "lunch", "ramen", "quarterly", "report", "budget", "maria", "schmidt", "example", "alex",
    "priya", "python", "drop", "photos", "uberweisung", "contract", "the", "build", "main",
    "shall", "attached", "repository", "bank", "sam", "de", "org", "nothing",
]  # fmt: skip
FIELDS: list[Field] = ["text", "text", "text", "subject", "from", "to", "cc", "body"]
FLAGS: list[FlagName] = ["seen", "flagged", "answered", "draft"]
PHRASES = ["quarterly report", "quarterly budget", "lunch on", "example de", "drop python"]


def tokens(text: str) -> list[str]:
    """Words as FTS5's unicode61 tokenizer (remove_diacritics 2) sees them."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.findall(r"[^\W_]+", folded.lower())


def _has(field: list[str], words: list[str], prefix: bool) -> bool:
    n = len(words)
    for i in range(len(field) - n + 1):
        window = field[i : i + n]
        if window[:-1] == words[:-1] and (
            window[-1].startswith(words[-1]) if prefix else window[-1] == words[-1]
        ):
            return True
    return False


def matches(query: Query, mail: Mail) -> bool:
    """The reference meaning of ``query`` for one corpus message."""
    if isinstance(query, Not):
        return not matches(query.operand, mail)
    if isinstance(query, And):
        return all(matches(operand, mail) for operand in query.operands)
    if isinstance(query, Or):
        return any(matches(operand, mail) for operand in query.operands)
    if isinstance(query, FlagTest):
        return any(f.lower() == "\\" + query.name for f in mail.flags) == query.present
    if isinstance(query, HasAttachment):
        return mail.attachment
    if isinstance(query, DateBound):
        start = int(datetime.combine(query.day, datetime.min.time(), UTC).timestamp())
        return epoch(mail.day) < start if query.before else epoch(mail.day) >= start
    if isinstance(query, Folder):
        return folder_matches(query.name, mail.folder, mail.folder, "/")
    assert isinstance(query, Text)
    words = tokens(query.value)
    fields = {
        "subject": [mail.subject],
        "from": [f"{mail.sender[0]} {mail.sender[1]}"],
        "to": [mail.to, mail.cc],
        "cc": [mail.cc],
    }
    body = [body_text(raw_of(mail))] if mail.body is not None else []
    if query.field == "body":
        texts = body
    elif query.field == "text":
        texts = [text for values in fields.values() for text in values]
        if not (query.prefix and len(words[-1]) < 3):  # short prefixes: headers only
            texts += body
    else:
        texts = fields[query.field]
    return any(_has(tokens(text), words, query.prefix) for text in texts)


def random_query(rng: random.Random, depth: int = 0) -> Query:
    """A random query tree over the corpus's words, flags, dates and folders."""
    roll = rng.random()
    if depth < 3 and roll < 0.3:
        operands = tuple(random_query(rng, depth + 1) for _ in range(rng.randint(2, 3)))
        return And(operands) if rng.random() < 0.5 else Or(operands)
    if depth < 3 and roll < 0.4:
        return Not(random_query(rng, depth + 1))
    kind = rng.random()
    if kind < 0.55:
        field = rng.choice(FIELDS)
        if rng.random() < 0.2:
            return Text(field, rng.choice(PHRASES), phrase=True)
        word = rng.choice(WORDS)
        if rng.random() < 0.2:
            return Text(field, word[: rng.randint(1, len(word))], prefix=True)
        return Text(field, word)
    if kind < 0.75:
        return FlagTest(
            rng.choice(FLAGS),
            rng.random() < 0.5,
        )
    if kind < 0.82:
        return HasAttachment()
    if kind < 0.92:
        day = (
            date(2024, 12, 15 + rng.randint(0, 16))
            if rng.random() < 0.3
            else date(2025, 1, rng.randint(1, 25))
        )
        return DateBound(rng.random() < 0.5, day)
    return Folder(rng.choice(["INBOX", "archive", "python", "Lists/python", "nowhere"]))


@pytest.mark.parametrize("drive_limit", [1_000_000, 0])
async def test_store_agrees_with_the_reference(
    store: Store, drive_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_module, "_DRIVE_LIMIT", drive_limit)
    where = await build(store)
    names = {key: name for name, key in where.items()}
    rng = random.Random(20261129 + drive_limit)
    nonempty = 0
    for _ in range(300):
        query = random_query(rng)
        rows = await search_messages(store, query, zone=UTC, limit=100)
        got = {names[(row.folder_id, row.uid)] for row in rows}
        expected = {mail.name for mail in CORPUS if matches(query, mail)}
        assert got == expected, query
        nonempty += bool(expected) and len(expected) < len(CORPUS)
    assert nonempty > 50  # the generator exercises real distinctions
