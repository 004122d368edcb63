"""kill -9 of the hub during a burst of pushes: after a restart every accepted push is
delivered exactly once per recipient and none is lost, counted at the receiving end.

The hub runs as a real process (``hub run``) on a SQLite ledger with the embedded bus; the
sender re-sends what it never saw acknowledged (same source id: the hub treats it as a
duplicate if it had committed it), as a real sender would. Effects are counted at the
department: exactly one per delivery the ledger holds (deduplicated by Idempotency-Key); raw
repeats are reported, allowed. Every wait is on a condition, within limits scaled by
``HUB_TEST_TIMEOUT_SCALE``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.integration.hub.conftest import MINIMAL
from tests.integration.hub.test_end_to_end import approval
from tests.support.servers import (
    DepartmentEndpoint,
    ServerThread,
    Target,
    bind_failed,
    free_port,
)
from tests.support.waits import scaled, wait_until

HUB = Path(sys.executable).with_name("hub")
BURST = 300
KILL_AFTER = 120


_free_port = free_port  # a port outside the ephemeral range (test_demo_command uses it)


@pytest.fixture
def hub_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], DepartmentEndpoint]]:
    departments = DepartmentEndpoint()
    with ServerThread(departments.app()) as endpoint:
        routing = tmp_path / "routing.yaml"
        routing.write_text(
            MINIMAL.replace("http://127.0.0.1:9/", f"{endpoint.url}/dept/"), encoding="utf-8"
        )
        env = {
            **os.environ,
            "HUB_DATABASE_URL": f"sqlite:///{tmp_path}/hub.db",
            "HUB_ROUTING": str(routing),
            "HUB_API_PORT": str(_free_port()),
            "HUB_PAPER_SPOOL": str(tmp_path / "paper"),
            "HUB_LEASE_SECONDS": "3",
            "HUB_REDELIVER_AFTER": "2",
            "HUB_LOG_LEVEL": "ERROR",
        }
        yield env, departments


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    offset = log.stat().st_size if log.exists() else 0
    process = subprocess.Popen(
        [str(HUB), "run"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{env['HUB_API_PORT']}/healthz"

    def output() -> str:
        return log.read_bytes()[offset:].decode(errors="replace")

    def up_or_failed() -> bool:
        if process.poll() is not None or bind_failed(output()):
            return True  # exited, or its API lost the port: stop waiting, report below
        try:  # a loaded machine answers slowly: a short client timeout would never see it up
            return httpx.get(url, timeout=scaled(2)).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up_or_failed, 60, "the hub to answer /healthz")
        assert process.poll() is None and not bind_failed(output()), "exited or port taken"
    except AssertionError as exc:
        process.kill()
        process.wait()
        raise AssertionError(f"hub did not start ({exc}): {output()[-2000:]}") from None
    return process


def _push(client: httpx.Client, body: bytes, token: str) -> str | None:
    try:
        response = client.post(
            "/messages",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    except httpx.HTTPError:
        return None
    return str(response.json()["message_id"]) if response.status_code in (200, 202) else None


def _deliveries(db: Path) -> set[Target]:
    """(department, delivery_id, "push") for every delivery in the SQLite ledger."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT department_id, delivery_id FROM deliveries").fetchall()
    return {(str(dept), str(delivery), "push") for dept, delivery in rows}


@pytest.mark.slow
@pytest.mark.timeout(scaled(300))
def test_kill_9_mid_burst_loses_nothing_and_delivers_once(
    hub_env: tuple[dict[str, str], DepartmentEndpoint], tmp_path: Path
) -> None:
    env, departments = hub_env
    token = subprocess.run(
        [str(HUB), "token", "issue", "xzsp"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    bodies = [approval(f"crash-{i:04d}") for i in range(BURST)]
    log = tmp_path / "hub.log"
    base = f"http://127.0.0.1:{env['HUB_API_PORT']}"
    started: list[subprocess.Popen[bytes]] = []
    try:
        with httpx.Client(base_url=base, timeout=scaled(5)) as client:
            started.append(_start(env, log))
            acknowledged = _burst_with_kill(client, started[0], bodies, token, log)
            started.append(_start(env, log))
            _resend_until_acknowledged(client, bodies, token, acknowledged)
            received = _wait_for_all(departments, set(acknowledged.values()))
            _wait_settled(tmp_path / "hub.db")
    finally:
        _stop(started)
    assert received == set(acknowledged.values())  # none lost, none invented
    effects = departments.effects()
    expected = _deliveries(tmp_path / "hub.db")
    print(
        f"\ncrash test: {BURST} pushes, {effects.count('push')} deliveries with an effect at "
        f"the department (by Idempotency-Key), {len(effects.duplicates())} with more than one; "
        f"raw repeated callbacks: {effects.raw_repeats('push')} (allowed: at-least-once)"
    )
    assert len(expected) == BURST
    assert effects.check(expected, ["push"]) == []  # exactly one effect per delivery


def _burst_with_kill(
    client: httpx.Client, hub: subprocess.Popen[bytes], bodies: list[bytes], token: str, log: Path
) -> dict[int, str]:
    """Push every body once, killing the hub (-9) before push ``KILL_AFTER``; what was acked."""
    acknowledged: dict[int, str] = {}
    for i, body in enumerate(bodies):
        if i == KILL_AFTER:
            os.kill(hub.pid, signal.SIGKILL)  # mid-burst: routing and callbacks in flight
            hub.wait()
            assert acknowledged, "nothing was accepted before the kill"
        message_id = _push(client, body, token)
        if message_id is not None:
            acknowledged[i] = message_id
        if i == 20 and not acknowledged:  # fail now, not after 120 client timeouts
            raise AssertionError(f"hub accepts no push: {log.read_text(errors='replace')}")
    assert max(acknowledged) < KILL_AFTER  # nothing answered while the hub was dead
    return acknowledged


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM whatever still runs (a failed test must not leave a hub behind); -9 if ignored."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=scaled(20))
            except subprocess.TimeoutExpired:
                print(f"hub {process.pid} ignored SIGTERM for {scaled(20):.0f} s: killed")
                process.kill()
                process.wait()


def _resend_until_acknowledged(
    client: httpx.Client, bodies: list[bytes], token: str, acknowledged: dict[int, str]
) -> None:
    """The sender re-sends what was not acknowledged (a slow answer is re-sent, too)."""

    def all_acknowledged() -> bool:
        for i, body in enumerate(bodies):
            if i not in acknowledged and (message_id := _push(client, body, token)):
                acknowledged[i] = message_id
        return len(acknowledged) == len(bodies)

    wait_until(all_acknowledged, 60, "every push acknowledged", interval=0.5)


def _wait_for_all(
    departments: DepartmentEndpoint, expected: set[str], timeout: float = 90.0
) -> set[str]:
    def received() -> set[str]:
        return {c["message"]["message_id"] for c in departments.of("push")}

    try:
        wait_until(lambda: received() >= expected, timeout, "every accepted push delivered", 0.2)
    except AssertionError as exc:
        missing = expected - received()
        raise AssertionError(f"{exc}: {len(missing)} missing: {sorted(missing)[:5]}") from None
    return received()


def _wait_settled(db: Path) -> None:
    """Every job in the ledger's outbox is done: whatever would be sent again has been."""

    def pending() -> int:
        with closing(sqlite3.connect(db, timeout=scaled(5))) as conn:
            row = conn.execute("SELECT count(*) FROM outbox WHERE done_at IS NULL").fetchone()
        return int(row[0])

    wait_until(lambda: pending() == 0, 60, "the outbox to drain", interval=0.2)
