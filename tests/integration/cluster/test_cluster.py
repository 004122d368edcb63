"""Three ``hub run`` processes on one PostgreSQL ledger and one RabbitMQ vhost: pushes sent
round-robin over their APIs are delivered exactly once (counted at the receiving end), the
deadline engines racing on the same timers fire each once, and the cluster loses nothing and
comes back by itself after kill -9, a broker stop, a database restart and a failing endpoint.

Duplicate effects are counted where they would happen: at the department's sink, one effect
per distinct ``Idempotency-Key`` for each (department, delivery, purpose), checked against the
deliveries the ledger holds; raw repeats (a key received again: at-least-once) are reported, not
failed. The fault table is printed in the run's terminal summary. Every wait is on a condition
(unique counts, never totals) within limits scaled by ``HUB_TEST_TIMEOUT_SCALE``.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.cluster.harness import (
    FAULT_TABLE,
    FAULT_TABLE_HEADER,
    Cluster,
    Sender,
    delivered,
    effect_row,
    ledger_targets,
)
from tests.integration.hub.conftest import MINIMAL
from tests.integration.hub.test_end_to_end import approval
from tests.support.postgres import admin_host_port, temporary_database
from tests.support.rabbitmq import RABBIT_HOST, RABBIT_PORT, RabbitVhost, rabbitmqctl
from tests.support.servers import KEY, DepartmentEndpoint, ServerThread, Target
from tests.support.waits import scaled, wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.timeout(scaled(300)),
]

PUSHES = 300
BURST = 200
FAULT_AT = 60  # the fault starts after this many pushes of the burst


@dataclass
class Setup:
    cluster: Cluster
    departments: DepartmentEndpoint
    sender: Sender
    endpoint: str  # the departments' sink, http://127.0.0.1:port


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
                yield Setup(cluster, departments, sender, endpoint.url)
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


def _count(s: Setup, statement: str) -> int:
    return int(str(s.cluster.sql(statement)[0][0]))


def test_round_robin_delivers_once_and_timers_fire_once(setup: Setup) -> None:
    s = setup
    bodies = [approval(f"rr-{i:04d}") for i in range(PUSHES)]
    s.sender.burst(bodies)
    s.sender.resend_until_acknowledged(bodies, timeout=30)
    acknowledged = set(s.sender.acknowledged.values())
    assert len(acknowledged) == PUSHES
    _wait_delivered(s, acknowledged, timeout=60)
    pushed = s.departments.effects()

    # the three deadline engines race on every open timer at once (the claim timers may be
    # written when the delivery is made, just after its callback: wait for all of them)
    open_timeouts = "FROM timers WHERE action = 'claim_timeout' AND fired_at IS NULL"
    wait_until(lambda: _count(s, f"SELECT count(*) {open_timeouts}") == PUSHES, 30, "timers")
    s.cluster.sql(
        "UPDATE timers SET due_at = now() WHERE fired_at IS NULL AND cancelled_at IS NULL"
    )
    # one notice per delivery, counted by Idempotency-Key: a repeat must not end the wait
    s.departments.wait_for("auto_claimed", count=PUSHES, timeout=60)
    wait_until(lambda: _count(s, f"SELECT count(*) {open_timeouts}") == 0, 30, "timers fired")
    auto_events = _count(s, "SELECT count(*) FROM events WHERE type = 'claim.auto'")
    auto_claims = _count(s, "SELECT count(*) FROM claims WHERE kind = 'auto_claimed'")
    _wait_settled(s)
    effects = s.departments.effects()
    _header()
    _row(effect_row("3 processes, round-robin pushes", PUSHES, pushed, "push", 0) + f"{'-':>11}")
    _row(
        effect_row("3 deadline engines racing timers", PUSHES, effects, "auto_claimed", 0)
        + f"{'-':>11}"
    )
    expected = ledger_targets(s.cluster, "push") | ledger_targets(s.cluster, "auto_claimed")
    assert len(expected) == 2 * PUSHES
    assert effects.check(expected, ["push", "auto_claimed"]) == []  # one effect each, no other
    assert delivered(s.departments) == acknowledged
    assert auto_events == PUSHES  # claim.auto once per delivery: no double firing
    assert auto_claims == PUSHES
    _planted_duplicate_is_caught(s, expected)


def _wait_settled(s: Setup) -> None:
    """Every job the cluster holds is done: whatever it would send again has been sent."""
    wait_until(
        lambda: _count(s, "SELECT count(*) FROM outbox WHERE done_at IS NULL") == 0,
        60,
        "the outbox to drain",
    )


def _planted_duplicate_is_caught(s: Setup, expected: set[Target]) -> None:
    """A second effect planted at the receiving end (same delivery and purpose, another key)
    and a raw repeat (same key): the check must report the first and allow the second."""
    (first, *_) = s.departments.unique("auto_claimed")
    target: Target = (first["department"], first["delivery_id"], "auto_claimed")
    body = {k: v for k, v in first.items() if k not in ("department", KEY)}
    url = f"{s.endpoint}/dept/{first['department']}"
    for key in (first[KEY], first[KEY] + ":planted"):
        httpx.post(url, json=body, headers={"Idempotency-Key": key}, timeout=scaled(5))
    effects = s.departments.effects()
    problems = effects.check(expected, ["push", "auto_claimed"])
    label = "planted: 2nd key, same delivery"
    _row(effect_row(label, PUSHES, effects, "auto_claimed", 0) + f"{'-':>11}")
    assert len(problems) == 1 and str(target) in problems[0], problems


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
    s.sender.burst(bodies[FAULT_AT:], pace=0.02, start=FAULT_AT)  # over the fault window
    injector.join(timeout=scaled(90))
    assert not injector.is_alive(), "fault injection hung"
    if failure:
        raise failure[0]
    recovery, probe_id = _probe_recovery(s, fault)

    s.sender.resend_until_acknowledged(bodies, timeout=60)
    acknowledged = set(s.sender.acknowledged.values())
    assert len(acknowledged) == BURST

    # a delivery whose round of tries failed comes back in its next durable round
    # (HUB_RETRY_ROUND_WAIT=2 s for the cluster, 60 s by default), by itself
    _wait_delivered(s, acknowledged, timeout=60)
    _wait_settled(s)
    effects = s.departments.effects()
    lost = len(acknowledged - delivered(s.departments))
    _header()
    _row(
        effect_row(label, BURST + 1, effects, "push", lost)  # the burst and the probe
        + f"{recovery:>11.1f}   (sender saw {s.sender.errors} HTTP errors)"
    )
    assert lost == 0
    assert delivered(s.departments) == acknowledged | {probe_id}
    expected = ledger_targets(s.cluster, "push")
    assert len(expected) == BURST + 1
    assert effects.check(expected, ["push"]) == []  # one effect per delivery, no other
    assert recovery <= scaled(40)  # accepted within 20 s, then delivered within 20 s (scaled)


def _probe_recovery(s: Setup, fault: str) -> tuple[float, str]:
    """Back to normal by itself: seconds until a push sent after the fault is delivered."""
    fault_over = time.monotonic()
    probe = approval(f"{fault}-after")
    wait_until(lambda: s.sender.push(BURST, probe) is not None, 20, "a push accepted")
    probe_id = s.sender.acknowledged.pop(BURST)
    _wait_delivered(s, {probe_id}, timeout=20)
    return time.monotonic() - fault_over, probe_id
