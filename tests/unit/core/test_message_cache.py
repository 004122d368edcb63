"""The parsed messages the dispatcher delivers from (issue 10): what a department receives is the
message as the ledger holds it, whether it comes from the cache or from the ledger."""

from __future__ import annotations

from sqlalchemy import func, select

from hub.core.codec import message_from_json
from hub.core.message_cache import MessageCache
from hub.ledger.schema import MessageRow
from hub.message import Channel
from tests.unit.core.conftest import Rig, message

APPROVAL = "guanxian/01*.json"


def ledger_subject(rig: Rig, message_id: str) -> str:
    with rig.db.read() as s:
        row = s.get(MessageRow, message_id)
        assert row is not None
        return message_from_json(row.payload).subject


def test_a_message_is_delivered_from_the_cache_without_reading_the_ledger(rig: Rig) -> None:
    m = message(APPROVAL, recipients=["scjg"], source__source_id="mc-1")
    rig.hub.accept(m)
    cache = rig.hub.dispatcher.messages
    with rig.db.read() as s:
        assert cache.load(s, [m.message_id]) == {m.message_id: m}
    rig.drain()
    (note,) = rig.channels[Channel.PLATFORM].notes
    assert note.message == m


def test_a_message_not_cached_is_read_from_the_ledger_and_remembered(rig: Rig) -> None:
    m = message(APPROVAL, recipients=["scjg"], source__source_id="mc-2")
    rig.hub.accept(m)
    rig.hub.dispatcher.messages = MessageCache()  # another process, or after a restart
    rig.drain()
    (note,) = rig.channels[Channel.PLATFORM].notes
    assert note.message.message_id == m.message_id
    assert note.message.subject == ledger_subject(rig, m.message_id)
    assert m.message_id in rig.hub.dispatcher.messages._entries


def test_the_cache_is_bounded_least_recently_remembered_first_out() -> None:
    cache = MessageCache(size=2)
    a, b, c = (message(APPROVAL, source__source_id=f"mc-lru-{i}") for i in range(3))
    cache.remember([a, b])
    cache.remember([a])  # remembered again: now the most recent
    cache.remember([c])
    assert list(cache._entries) == [a.message_id, c.message_id]


def test_a_duplicate_push_with_other_content_does_not_change_what_is_delivered(
    rig: Rig,
) -> None:
    first = message(APPROVAL, recipients=["scjg"], source__source_id="mc-dup")
    again = message(
        APPROVAL, recipients=["scjg"], source__source_id="mc-dup", subject="改过的标题（重推）"
    )
    assert first.message_id == again.message_id and first.subject != again.subject
    assert rig.hub.accept(first).duplicate is False
    assert rig.hub.accept(again).duplicate is True  # answered as a duplicate: not recorded
    with rig.db.read() as s:
        assert s.scalar(select(func.count()).select_from(MessageRow)) == 1
    assert ledger_subject(rig, first.message_id) == first.subject
    rig.drain()
    (note,) = rig.channels[Channel.PLATFORM].notes
    assert note.message.subject == first.subject  # what the ledger holds, not the re-push


def test_load_reads_what_it_does_not_hold_from_any_iterable(rig: Rig) -> None:
    m = message(APPROVAL, recipients=["scjg"], source__source_id="mc-iter")
    rig.hub.accept(m)
    cache = MessageCache()
    with rig.db.read() as s:
        found = cache.load(s, iter([m.message_id]))
    assert found == {m.message_id: m}
