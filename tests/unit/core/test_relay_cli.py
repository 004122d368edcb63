"""``hub status`` and ``hub quarantine list|show`` show the jobs the relay gave up on;
``hub quarantine replay`` hands the job over to the running hub again."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.ledger.db import Database
from hub.ledger.outbox import enqueue
from hub.ledger.schema import OutboxRow
from tests.unit.core.test_relay_quarantine import deliver_row, failing_handler_ends_quarantined
from tests.unit.test_cli_ops import run, use_ledger


def test_status_and_quarantine_show_a_job_given_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/hub.db"
    rig = use_ledger(monkeypatch, tmp_path, url)
    failing_handler_ends_quarantined(rig)
    given_up = deliver_row(rig)
    with rig.db.transaction() as s:  # and a job whose bus message went missing 5 minutes ago
        published = rig.clock.now()
        stale = enqueue(s, "hub.route", {"message_id": "M-lost"}, now=published, published=True)
        s.flush()
        stale_id = stale.id
    at = (published + dt.timedelta(minutes=5)).isoformat()
    rig.hub.close()
    rig.db.dispose()

    people = run("status", "--at", at)
    assert people.exit_code == 0, people.output
    assert "转发：已隔离任务 hub.deliver.platform 1 条" in people.stdout
    assert f"最久滞留任务 #{stale_id} hub.route，距上次发布 5 分钟" in people.stdout
    machine = run("status", "--at", at, "--json")
    relay = json.loads(machine.stdout)["relay"]
    assert relay["quarantined"] == {"hub.deliver.platform": 1}
    assert relay["oldest_stale"]["outbox_id"] == stale_id

    listed = run("quarantine", "list", "--json")
    (entry,) = json.loads(listed.stdout)
    assert (entry["id"], entry["stage"], entry["source_id"]) == (
        given_up.quarantine_id,
        "relay",
        f"outbox:{given_up.id}",
    )
    shown = run("quarantine", "show", str(entry["id"]))
    assert shown.exit_code == 0, shown.output
    assert "阶段 转发" in shown.stdout and "已被领取处理 3 次" in shown.stdout
    assert '"queue": "hub.deliver.platform"' in shown.stdout  # the job, as kept for a replay
    replayed = run("quarantine", "replay", str(entry["id"]), "--json")
    assert replayed.exit_code == 0, replayed.output
    result = json.loads(replayed.stdout)
    assert (result["stage"], result["state"], result["handed_over"]) == ("relay", "replayed", 1)
    db = Database(url)
    with db.read() as s:
        again = s.scalars(select(OutboxRow).where(OutboxRow.id > stale_id)).one()
        # a new row for the same job, left for the running hub's relay to publish
        assert (again.queue, again.payload, again.published_at) == (
            "hub.deliver.platform",
            given_up.payload,
            None,
        )
    db.dispose()
