"""A fast-path publish that fails after commit leaves the jobs for the relay's next pass, not
for the lost-job pass ``HUB_REDELIVER_AFTER`` later."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from hub.ledger.schema import OutboxRow
from tests.unit.core.conftest import Rig, message


def test_jobs_whose_publish_failed_go_out_on_the_next_relay_pass(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broker_gone(items: list[tuple[str, dict[str, Any]]]) -> None:
        raise ConnectionError("broker gone")

    monkeypatch.setattr(rig.bus, "publish_many", broker_gone)
    accepted = rig.hub.accept(message("guanxian/01*.json", recipients=["scjg"]))
    with rig.db.read() as s:
        (job,) = s.scalars(select(OutboxRow).where(OutboxRow.queue.like("hub.deliver.%")))
        assert (job.published_at, job.publishes) == (None, 0)
        job_id = job.id
    monkeypatch.undo()
    assert rig.hub.relay() == 1  # at once: the clock has not moved
    ((queue, body),) = rig.bus.take("hub.deliver.")
    assert body["outbox_id"] == job_id and queue == "hub.deliver.platform" and accepted.message_id
    with rig.db.read() as s:
        again = s.get(OutboxRow, job_id)
        assert again is not None and again.publishes == 1 and again.published_at is not None
