"""A message read back from the ledger is not re-checked for what it passed on entry (the
统一社会信用代码 checksum), while every entrance still checks it."""

from __future__ import annotations

import json

import pytest

from hub.core.codec import message_from_json, message_to_json
from hub.errors import MessageError
from hub.validation import parse_message
from tests.unit.core.conftest import message


def _with_bad_uscc() -> dict[str, object]:
    stored = message_to_json(message("guanxian/01*.json"))
    body = stored["body"]
    assert isinstance(body, dict) and isinstance(body.get("party"), dict)
    uscc = body["party"]["uscc"]
    body["party"]["uscc"] = uscc[:-1] + ("0" if uscc[-1] != "0" else "1")  # checksum broken
    return stored


def test_a_stored_message_is_read_without_recomputing_the_checksum() -> None:
    stored = _with_bad_uscc()
    assert message_from_json(stored).body.party.uscc == stored["body"]["party"]["uscc"]  # type: ignore[union-attr, index, call-overload]


def test_an_entrance_still_refuses_the_bad_checksum() -> None:
    with pytest.raises(MessageError) as refused:
        parse_message(json.dumps(_with_bad_uscc(), ensure_ascii=False))
    assert any(p.path == "body.party.uscc" for p in refused.value.problems)
