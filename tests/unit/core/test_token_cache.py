"""API tokens cached for a short while (issue 10): a valid token is answered without reading the
ledger, an unknown one always asks it, a revoked one stops working once its entry expires, and
a TTL of 0 turns the cache off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from hub.core import tokens as tokens_module
from hub.core.hub import Hub
from hub.core.tokens import TokenCache
from hub.ops.tokens import revoke
from tests.support.waits import wait_until
from tests.unit.core.conftest import Rig


class FakeMonotonic:
    """Stands in for ``time`` in ``hub.core.tokens``: a monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    monkeypatch.setattr(tokens_module, "time", fake)
    return fake


def test_a_cached_token_expires_after_its_seconds(ticks: FakeMonotonic) -> None:
    cache = TokenCache(seconds=10)
    cache.put("secret", "scjg")
    ticks.now += 9.99
    assert cache.get("secret") == "scjg"
    ticks.now += 0.01
    assert cache.get("secret") is None
    assert cache.get("secret") is None  # the expired entry is gone, not revived


def test_the_cache_holds_at_most_size_tokens_least_recently_put_first_out() -> None:
    cache = TokenCache(seconds=60, size=2)
    cache.put("a", "xzsp")
    cache.put("b", "scjg")
    cache.put("a", "xzsp")  # put again: now the most recent
    cache.put("c", "zjj")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("xzsp", None, "zjj")


def test_the_cache_keys_are_digests_not_tokens() -> None:
    cache = TokenCache(seconds=60)
    cache.put("plain-secret", "scjg")
    assert "plain-secret" not in repr(cache._entries)


def test_zero_seconds_disables_the_cache() -> None:
    cache = TokenCache(seconds=0)
    cache.put("secret", "scjg")
    assert cache.get("secret") is None


def test_forget_drops_every_entry() -> None:
    cache = TokenCache(seconds=60)
    cache.put("secret", "scjg")
    cache.forget()
    assert cache.get("secret") is None


# -- Hub.authenticate ------------------------------------------------------------------------


@pytest.fixture
def token_reads(rig: Rig) -> Iterator[list[str]]:
    """The statements that read the api_tokens table, as they run."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_tokens" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(rig.db.engine, "before_cursor_execute", before)
    yield seen
    event.remove(rig.db.engine, "before_cursor_execute", before)


def _revoke(rig: Rig, department_id: str) -> None:
    with rig.db.transaction() as session:
        assert revoke(session, department_id, None, now=rig.clock.now(), actor="ops")


def test_a_valid_token_is_answered_from_the_cache(rig: Rig, token_reads: list[str]) -> None:
    token = rig.hub.issue_token("scjg", "test")
    assert rig.hub.authenticate(token) == "scjg"
    assert len(token_reads) == 1
    for _ in range(5):
        assert rig.hub.authenticate(token) == "scjg"
    assert len(token_reads) == 1  # the ledger was read once


def test_an_unknown_token_is_never_cached(rig: Rig, token_reads: list[str]) -> None:
    for _ in range(3):
        assert rig.hub.authenticate("not-a-token") is None
    assert len(token_reads) == 3  # every time from the ledger
    assert rig.hub.tokens.get("not-a-token") is None


def test_a_revoked_token_is_never_cached(rig: Rig, token_reads: list[str]) -> None:
    token = rig.hub.issue_token("scjg", "test")
    _revoke(rig, "scjg")
    token_reads.clear()
    assert rig.hub.authenticate(token) is None
    assert rig.hub.authenticate(token) is None
    assert len(token_reads) == 2


def test_a_revoked_token_stops_working_after_the_ttl(rig: Rig) -> None:
    rig.hub.tokens = TokenCache(seconds=0.05)
    token = rig.hub.issue_token("scjg", "test")
    assert rig.hub.authenticate(token) == "scjg"
    _revoke(rig, "scjg")
    wait_until(
        lambda: rig.hub.authenticate(token) is None, 2, "the revoked token refused", interval=0.01
    )
    assert rig.hub.authenticate(token) is None  # and it stays refused


@pytest.mark.anyio
async def test_authenticate_async_answers_a_cached_token_without_the_ledger(
    rig: Rig, token_reads: list[str]
) -> None:
    token = rig.hub.issue_token("zjj", "test")
    assert await rig.hub.authenticate_async(token) == "zjj"
    assert await rig.hub.authenticate_async(token) == "zjj"
    assert await rig.hub.authenticate_async("unknown") is None
    assert len(token_reads) == 2  # the first look-up and the unknown token


def test_token_cache_seconds_zero_reads_the_ledger_every_time(
    rig: Rig, token_reads: list[str]
) -> None:
    rig.hub.tokens = TokenCache(seconds=0)
    token = rig.hub.issue_token("scjg", "test")
    for _ in range(3):
        assert rig.hub.authenticate(token) == "scjg"
    assert len(token_reads) == 3
    _revoke(rig, "scjg")
    assert rig.hub.authenticate(token) is None  # at once


def test_the_hub_takes_its_ttl_from_token_cache_seconds(rig: Rig) -> None:
    hub = Hub(rig.db, rig.hub.router, rig.bus, clock=rig.clock, token_cache_seconds=0)  # type: ignore[arg-type]
    try:
        token = hub.issue_token("scjg", "test")
        assert hub.authenticate(token) == "scjg"
        _revoke(rig, "scjg")
        assert hub.authenticate(token) is None
    finally:
        hub.close()
