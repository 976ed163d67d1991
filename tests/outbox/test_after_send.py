"""The follow-ups recorded with a queued message are typed, and every stored form reads back:
the JSON written before they were typed, a partial one, and one that cannot be read (which
must not fail a message that already went out)."""

from __future__ import annotations

import json

import pytest

from sync.outbox import AfterSend, MessageRef

# What queue_message stored before the follow-ups were a dataclass (schema version 5 on).
STORED_BEFORE = json.dumps(
    {
        "original": {"folder_id": 3, "uid": 17, "message_id": "<a@x>", "flag": "\\Answered"},
        "draft": {"folder_id": 5, "uid": 2, "message_id": None},
    }
)


def test_the_stored_form_of_before_reads_back_typed() -> None:
    after = AfterSend.from_json(STORED_BEFORE)
    assert after == AfterSend(MessageRef(3, 17, "<a@x>"), "\\Answered", MessageRef(5, 2, None))
    # And is written the same way again: old and new rows are one format.
    assert json.loads(after.to_json()) == json.loads(STORED_BEFORE)


def test_a_resumed_draft_names_its_original_by_message_id_only() -> None:
    after = AfterSend(MessageRef(None, None, "<b@x>"), "$Forwarded")
    assert AfterSend.from_json(after.to_json()) == after
    assert json.loads(after.to_json()) == {
        "original": {"folder_id": None, "uid": None, "message_id": "<b@x>", "flag": "$Forwarded"}
    }


@pytest.mark.parametrize(
    "stored",
    [None, "", "{}", "not json", "[1, 2]", '{"original": 7}', '{"draft": {"uid": "x"}}'],
)
def test_an_empty_or_unreadable_form_means_no_follow_up(stored: str | None) -> None:
    assert AfterSend.from_json(stored) == AfterSend()
