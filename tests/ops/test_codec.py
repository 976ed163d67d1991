"""The payload codec: every kind survives encode -> decode; garbage is one typed error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.ops.codec import UnreadableOperation, decode, encode
from sync.ops.kinds import (
    Append,
    CreateFolder,
    DeleteFolder,
    Expunge,
    FlagChange,
    QueuedOperation,
    RenameFolder,
    Transfer,
)
from sync.store import MessageRecord

uids = st.integers(min_value=-(2**40), max_value=2**32)
texts = st.text(max_size=20)
maybe_text = st.none() | texts
maybe_int = st.none() | st.integers(min_value=0, max_value=2**32)
flag_lists = st.lists(texts, max_size=4).map(tuple)

records = st.builds(
    MessageRecord,
    uid=uids,
    message_id=maybe_text,
    subject=texts,
    from_name=texts,
    from_addr=texts,
    to=texts,
    cc=texts,
    date=st.integers(min_value=0, max_value=2**40),
    internaldate=st.integers(min_value=0, max_value=2**40),
    size=st.integers(min_value=0, max_value=2**40),
    flags=flag_lists,
    modseq=maybe_int,
    has_attachment=st.booleans(),
    in_reply_to=maybe_text,
    references=maybe_text,
)


@st.composite
def transfers(draw: st.DrawFn) -> Transfer:
    """A move or copy whose aligned tuples line up (copies keep no row snapshots)."""
    kind = draw(st.sampled_from(["move", "copy"]))
    count = draw(st.integers(min_value=0, max_value=4))
    source = tuple(draw(st.lists(uids, min_size=count, max_size=count)))
    snapshots = tuple(draw(st.lists(records, min_size=count, max_size=count)))
    return Transfer(
        kind="move" if kind == "move" else "copy",
        uids=source,
        provisional=tuple(draw(st.lists(uids, min_size=count, max_size=count))),
        message_ids=tuple(draw(st.lists(maybe_text, min_size=count, max_size=count))),
        dest_id=draw(st.integers(min_value=1, max_value=2**31)),
        dest=draw(texts),
        dest_uidnext=draw(maybe_int),
        rows=snapshots if kind == "move" else (),
    )


@st.composite
def expunges(draw: st.DrawFn) -> Expunge:
    """An expunge with one snapshot per UID."""
    snapshots = tuple(draw(st.lists(records, max_size=4)))
    return Expunge(uids=tuple(row.uid for row in snapshots), rows=snapshots)


changes: st.SearchStrategy[QueuedOperation] = st.one_of(
    st.builds(FlagChange, uids=st.lists(uids).map(tuple), add=flag_lists, remove=flag_lists),
    transfers(),
    expunges(),
    st.builds(
        Append,
        raw=st.binary(max_size=200),
        flags=flag_lists,
        internaldate=st.integers(min_value=0, max_value=2**40),
        provisional=uids,
        message_id=maybe_text,
        dest_uidnext=maybe_int,
    ),
    st.just(CreateFolder()),
    st.builds(RenameFolder, new=texts, new_display=texts, old_display=maybe_text),
    st.just(DeleteFolder()),
)


@given(changes)
def test_every_kind_survives_encode_then_decode(change: QueuedOperation) -> None:
    text = encode(change)
    assert json.loads(text)["v"] == 1
    assert decode(change.kind, text) == change


def test_version_0_payloads_read_with_their_defaults() -> None:
    # As the code before the codec wrote them: no "v", a copy without rows, and payloads
    # from before dest_uidnext / message_id / old_display were recorded.
    copy = '{"uids": [4], "provisional": [-2], "message_ids": [null], "dest_id": 2, "dest": "A"}'
    assert decode("copy", copy) == Transfer("copy", (4,), (-2,), (None,), 2, "A", None, ())
    append = '{"raw": "aGk=", "flags": [], "internaldate": 5, "provisional": -3}'
    assert decode("append", append) == Append(b"hi", (), 5, -3, None, None)
    rename = '{"new": "B", "new_display": "B"}'
    assert decode("rename_folder", rename) == RenameFolder("B", "B", None)
    assert decode("create_folder", "{}") == CreateFolder()


@pytest.mark.parametrize(
    ("kind", "payload", "words"),
    [
        ("teleport", "{}", "unknown operation kind 'teleport'"),
        ("flags", "not json", "flags payload is not JSON"),
        ("flags", "[1, 2]", "flags payload is not a JSON object"),
        ("flags", '{"uids": [1], "add": []}', "flags payload lacks remove"),
        ("flags", '{"uids": [true], "add": [], "remove": []}', "uids holds a non-integer"),
        ("flags", '{"v": 7, "uids": [1], "add": [], "remove": []}', "unknown version 7"),
        ("flags", '{"v": true, "uids": [1], "add": [], "remove": []}', "unknown version True"),
        (
            "move",
            '{"uids": [1, 2], "provisional": [-1], "message_ids": [null, null],'
            ' "dest_id": 2, "dest": "A"}',
            "provisional does not line up with uids",
        ),
        ("expunge", '{"uids": [1], "rows": [{"uid": 1}]}', "expunge payload lacks message_id"),
        (
            "append",
            '{"raw": "%%%", "flags": [], "internaldate": 5, "provisional": -3}',
            "raw is not base64",
        ),
        ("rename_folder", '{"new": 3, "new_display": "B"}', "new is not a string"),
    ],
)
def test_unreadable_payloads_raise_one_typed_error(kind: str, payload: str, words: str) -> None:
    with pytest.raises(UnreadableOperation, match=words):
        decode(kind, payload)
