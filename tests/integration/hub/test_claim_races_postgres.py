"""Claims racing the deadline engine and the recompute on PostgreSQL (issue 9, finding 3).

Before the hub took its locks in one order (delivery, then timers) the engine locked timers and
waited on the delivery while a claim held the delivery and waited on the timers: PostgreSQL
killed one as a deadlock victim and the department got a bare 500. Here hundreds of claims race
two engines and a recompute pass: no error reaches anyone, each delivery ends with exactly one
claim, and the claim that committed first is the one on record.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from hub.core.hub import Hub
from hub.errors import StateConflictError
from hub.ledger.db import Database
from hub.ledger.schema import ClaimRow, DeliveryRow, EventRow
from hub.message import Channel
from tests.support.postgres import admin_host_port, temporary_database
from tests.unit.core.conftest import TZ, make_rig, message

pytestmark = pytest.mark.postgres
DELIVERIES = 240


@pytest.fixture
def pg_url(require_server: Callable[[str, str, int], None]) -> Iterator[str]:
    require_server("PostgreSQL", *admin_host_port())
    with temporary_database("hub_race") as url:
        yield url


def test_claims_racing_engines_and_recompute_have_one_outcome_each(
    pg_url: str, tmp_path: Path
) -> None:
    rig = make_rig(tmp_path, url=pg_url)
    for i in range(DELIVERIES):
        rig.hub.accept(message("guanxian/01*.json", recipients=["scjg"], source__source_id=f"r{i}"))
    rig.drain()
    with rig.db.transaction() as s:
        ids = list(s.scalars(select(DeliveryRow.delivery_id)))
        # every delivery needs recomputing too: the recompute pass locks them all
        s.execute(update(DeliveryRow).values(provisional=True, calendar_version="old"))
    assert len(ids) == DELIVERIES
    rig.clock.set(dt.datetime(2026, 10, 10, 0, 0, 1, tzinfo=TZ))  # every claim deadline passed
    other = Hub(rig.db, rig.hub.router, rig.bus, clock=rig.clock, adapters=rig.channels)
    race = Race(ids)
    race.run(
        [lambda: race.claim(rig.hub, 1), lambda: race.claim(other, 2)]
        + [lambda: race.tick(rig.hub), lambda: race.tick(other)]  # two processes' engines
        + [rig.hub.recompute_provisional]
    )
    assert race.errors == [], race.errors[:3]
    outcomes = race.outcomes
    claims, states, first, counts = _ledger(rig.db)
    assert set(claims) == set(ids)  # exactly one claim row each (the table's key), none missing
    assert counts == dict.fromkeys(ids, 1)  # one claim event each, whoever won
    for delivery_id in ids:
        kind, said = claims[delivery_id], outcomes[delivery_id]
        assert states[delivery_id] == kind and first[delivery_id] == kind
        if kind == "auto_claimed":  # the engine committed first: both claimers refused
            assert said == ["refused", "refused"], (delivery_id, said)
        else:  # a claimer committed first (late): the other was answered the same result
            assert kind == "claimed_late" and said == ["claimed_late", "claimed_late"]
    kinds = list(claims.values())
    print(
        f"races won: engine {kinds.count('auto_claimed')}, claimers {kinds.count('claimed_late')}"
    )
    other.close()
    rig.hub.close()


def _ledger(db: Database) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, int]]:
    """Per delivery: the claim row's kind, the claim state, the first claim event's state and
    how many claim events there are."""
    with db.read() as s:
        claims = {c.delivery_id: c.kind for c in s.scalars(select(ClaimRow))}
        states = {d.delivery_id: d.claim_state for d in s.scalars(select(DeliveryRow))}
        first: dict[str, str] = {}
        counts: dict[str, int] = {}
        claim_events = (
            select(EventRow)
            .where(EventRow.type.in_(["claim.recorded", "claim.auto"]))
            .order_by(EventRow.seq)
        )
        for e in s.scalars(claim_events):
            assert e.delivery_id is not None
            first.setdefault(e.delivery_id, str(e.data["state"]))
            counts[e.delivery_id] = counts.get(e.delivery_id, 0) + 1
    return claims, states, first, counts


class Race:
    """Runs racers from one barrier; records what each claim was answered and any error."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.outcomes: dict[str, list[str]] = {d: [] for d in ids}
        self.errors: list[BaseException] = []
        self.claims_done = threading.Event()
        self._claimers_left = 2
        self._lock = threading.Lock()

    def run(self, racers: list[Callable[[], object]]) -> None:
        start = threading.Barrier(len(racers))

        def guarded(work: Callable[[], object]) -> None:
            start.wait()
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - the test's assertion names it
                self.errors.append(exc)

        threads = [threading.Thread(target=guarded, args=(r,)) for r in racers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert not [t for t in threads if t.is_alive()], "a racer hung"

    def claim(self, hub: Hub, seed: int) -> None:
        order = self.ids[:]
        random.Random(seed).shuffle(order)
        try:
            for delivery_id in order:
                try:
                    result = hub.claim(
                        delivery_id,
                        department_id="scjg",
                        actor=f"c{seed}",
                        channel=Channel.PLATFORM,
                    )
                    self.outcomes[delivery_id].append(str(result.state))
                except StateConflictError:
                    self.outcomes[delivery_id].append("refused")
        finally:
            with self._lock:
                self._claimers_left -= 1
                if not self._claimers_left:
                    self.claims_done.set()

    def tick(self, hub: Hub) -> None:
        """Tick until the claimers are done (a tick that found every delivery locked by a claim
        fires nothing, and the next one tries again)."""
        while not self.claims_done.is_set():
            hub.tick(limit=20)
