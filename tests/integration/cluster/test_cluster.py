"""Three ``hub run`` processes on one PostgreSQL ledger and one RabbitMQ vhost: pushes sent
round-robin over their APIs are delivered exactly once (counted at the receiving end), the
deadline engines racing on the same timers fire each once, and the cluster loses nothing and
comes back by itself after kill -9, a broker stop, a database restart and a failing endpoint.

Run with ``-s`` to see the result tables.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.cluster.harness import (
    FAULT_TABLE,
    FAULT_TABLE_HEADER,
    Cluster,
    Sender,
    delivered,
    raw_repeats,
    wait_until,
)
from tests.integration.hub.conftest import MINIMAL
from tests.integration.hub.test_end_to_end import approval
from tests.support.postgres import admin_host_port, temporary_database
from tests.support.rabbitmq import RABBIT_HOST, RABBIT_PORT, RabbitVhost, rabbitmqctl
from tests.support.servers import DepartmentEndpoint, ServerThread

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow]

PUSHES = 300
BURST = 200
FAULT_AT = 60  # the fault starts after this many pushes of the burst


@dataclass
class Setup:
    cluster: Cluster
    departments: DepartmentEndpoint
    sender: Sender


@pytest.fixture
def setup(tmp_path: Path, require_server: Callable[[str, str, int], None]) -> Iterator[Setup]:
    require_server("PostgreSQL", *admin_host_port())
    require_server("RabbitMQ", RABBIT_HOST, RABBIT_PORT)
    vhost = RabbitVhost.create()
    departments = DepartmentEndpoint()
    try:
        with temporary_database("hub_cluster") as url, ServerThread(departments.app()) as endpoint:
            routing = tmp_path / "routing.yaml"
            routing.write_text(
                MINIMAL.replace("http://127.0.0.1:9/", f"{endpoint.url}/dept/"), encoding="utf-8"
            )
            cluster = Cluster(tmp_path, url, vhost.url, routing)
            sender = Sender(cluster)
            try:
                cluster.start()
                yield Setup(cluster, departments, sender)
            finally:
                sender.close()
                cluster.stop()
    finally:
        vhost.delete()


def _wait_delivered(s: Setup, expected: set[str], timeout: float) -> None:
    try:
        wait_until(lambda: delivered(s.departments) >= expected, timeout, "every push delivered")
    except AssertionError:
        missing = expected - delivered(s.departments)
        raise AssertionError(
            f"{len(missing)} acknowledged pushes never delivered: {sorted(missing)[:5]}\n"
            + s.cluster.logs()
        ) from None


def _header() -> None:
    print(f"\n{FAULT_TABLE_HEADER}")


def _row(text: str) -> None:
    print(text)
    FAULT_TABLE.append(text)


def test_round_robin_delivers_once_and_timers_fire_once(setup: Setup) -> None:
    s = setup
    bodies = [approval(f"rr-{i:04d}") for i in range(PUSHES)]
    s.sender.burst(bodies)
    s.sender.resend_until_acknowledged(bodies, timeout=30)
    acknowledged = set(s.sender.acknowledged.values())
    assert len(acknowledged) == PUSHES
    _wait_delivered(s, acknowledged, timeout=60)

    pushes = s.departments.of("push")
    unique = {c["message"]["message_id"] for c in pushes}
    repeats = raw_repeats(s.departments)
    assert unique == acknowledged
    assert len({c["delivery_id"] for c in pushes}) == PUSHES

    # the three deadline engines race on every open timer at once
    timers = s.cluster.sql("SELECT count(*) FROM timers WHERE action = 'claim_timeout'")[0][0]
    assert timers == PUSHES
    s.cluster.sql(
        "UPDATE timers SET due_at = now() WHERE fired_at IS NULL AND cancelled_at IS NULL"
    )
    s.departments.wait_for("auto_claimed", count=PUSHES, timeout=60)
    wait_until(
        lambda: (
            s.cluster.sql(
                "SELECT count(*) FROM timers WHERE action = 'claim_timeout' AND fired_at IS NULL"
            )[0][0]
            == 0
        ),
        30,
        "every claim_timeout timer fired",
    )
    auto_events = s.cluster.sql("SELECT count(*) FROM events WHERE type = 'claim.auto'")[0][0]
    auto_claims = s.cluster.sql("SELECT count(*) FROM claims WHERE kind = 'auto_claimed'")[0][0]
    per_delivery: dict[str, int] = {}
    for n in s.departments.of("auto_claimed"):
        per_delivery[n["delivery_id"]] = per_delivery.get(n["delivery_id"], 0) + 1
    total_repeats = raw_repeats(s.departments)
    _header()
    _row(
        f"{'3 processes, round-robin pushes':<34}{PUSHES:>7}{len(unique):>10}"
        f"{len(acknowledged - unique):>6}{len(pushes) - len(unique):>12}{repeats:>12}{'-':>11}"
    )
    _row(
        f"{'3 deadline engines racing timers':<34}{timers:>7}{len(per_delivery):>10}"
        f"{PUSHES - len(per_delivery):>6}{auto_events - PUSHES:>12}"
        f"{total_repeats - repeats:>12}{'-':>11}"
    )
    assert repeats <= 2
    assert auto_events == PUSHES  # claim.auto once per delivery: no double firing
    assert auto_claims == PUSHES
    assert len(per_delivery) == PUSHES  # one auto-claim notice per delivery (unique by key)


def _kill_one(s: Setup) -> None:
    s.cluster.kill(1)
    time.sleep(1)
    s.cluster.restart(1)


def _broker_stop(s: Setup) -> None:
    try:
        rabbitmqctl("stop_app")
        time.sleep(3)
    finally:
        rabbitmqctl("start_app")


def _database_restart(s: Setup) -> None:
    cluster = subprocess.run(["ls", "/etc/postgresql"], capture_output=True, text=True).stdout
    subprocess.run(
        [
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            cluster.split()[0],
            "main",
            "restart",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _endpoint_503(s: Setup) -> None:
    s.departments.fail_status = 503
    try:
        time.sleep(5)
    finally:
        s.departments.fail_status = None


FAULTS: dict[str, tuple[str, Callable[[Setup], None]]] = {
    "kill9": ("kill -9 one of three, restart", _kill_one),
    "rabbitmq": ("RabbitMQ stop_app 3 s, start_app", _broker_stop),
    "postgres": ("PostgreSQL restart", _database_restart),
    "endpoint503": ("endpoint answers 503 for 5 s", _endpoint_503),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_mid_burst_loses_nothing_and_recovers(setup: Setup, fault: str) -> None:
    s = setup
    label, inject = FAULTS[fault]
    bodies = [approval(f"{fault}-{i:04d}") for i in range(BURST)]
    s.sender.burst(bodies[:FAULT_AT])
    failure: list[BaseException] = []

    def run_fault() -> None:
        try:
            inject(s)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failure.append(exc)

    injector = threading.Thread(target=run_fault)
    injector.start()
    for i in range(FAULT_AT, BURST):
        s.sender.push(i, bodies[i])
        time.sleep(0.02)  # spread the rest of the burst over the fault window
    injector.join(timeout=90)
    assert not injector.is_alive(), "fault injection hung"
    if failure:
        raise failure[0]
    fault_over = time.monotonic()

    # back to normal by itself: a push sent now is delivered within 20 s
    probe = approval(f"{fault}-after")
    wait_until(lambda: s.sender.push(BURST, probe) is not None, 20, "a push accepted")
    probe_id = s.sender.acknowledged.pop(BURST)
    _wait_delivered(s, {probe_id}, timeout=20)
    recovery = time.monotonic() - fault_over

    s.sender.resend_until_acknowledged(bodies, timeout=60)
    acknowledged = set(s.sender.acknowledged.values())
    assert len(acknowledged) == BURST

    # a delivery whose round of tries failed comes back in its next durable round
    # (HUB_RETRY_ROUND_WAIT=2 s for the cluster, 60 s by default), by itself
    _wait_delivered(s, acknowledged, timeout=60)
    pushes = s.departments.of("push")
    unique = {c["message"]["message_id"] for c in pushes}
    lost = len(acknowledged - unique)
    duplicates = len({c["delivery_id"] for c in pushes}) - len(unique)
    repeats = raw_repeats(s.departments)
    _header()
    _row(
        f"{label:<34}{BURST:>7}{len(unique & acknowledged):>10}{lost:>6}{duplicates:>12}"
        f"{repeats:>12}{recovery:>11.1f}"
        f"   (sender saw {s.sender.errors} HTTP errors)"
    )
    assert lost == 0
    assert unique == acknowledged | {probe_id}
    assert duplicates == 0  # one delivery per message: no duplicate effect
    assert len(s.departments.keys) == len(unique)  # unique Idempotency-Keys == pushes
    assert recovery <= 40  # push accepted within 20 s, then delivered within 20 s
