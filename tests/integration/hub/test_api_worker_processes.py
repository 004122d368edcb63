"""``hub api`` and ``hub worker`` as two real processes: a push through the API process is
routed and delivered by the worker process, then claimed through the API process.

On one SQLite ledger with the embedded ``memory://`` bus (not shared: the workers' relay
publishes what the API commits) and on PostgreSQL + RabbitMQ (shared: the API publishes after
commit; the relay runs too seldom here to deliver anything in time).

Every wait is on a condition (``tests/support/waits.py``), never a fixed sleep.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import text

import hub
from hub.ledger.db import Database
from tests.support.postgres import admin_host_port, temporary_database
from tests.support.rabbitmq import RABBIT_HOST, RABBIT_PORT, RabbitVhost
from tests.support.servers import DepartmentEndpoint, ServerThread, free_port
from tests.support.waits import scaled, wait_until

pytestmark = pytest.mark.slow
HUB = Path(sys.executable).with_name("hub")
ROOT = Path(hub.__file__).resolve().parents[1]
MINIMAL = (ROOT / "tests" / "data" / "routing" / "minimal.yaml").read_text(encoding="utf-8")
SAMPLE = ROOT / "hub" / "samples" / "liangshan" / "01-approval_decision-food-licence.json"


class Process:
    """One ``hub`` command running in the background, its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.file: IO[bytes] = log.open("wb")
        self.popen = subprocess.Popen(
            [str(HUB), *args], env=env, stdout=self.file, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """SIGTERM, then its exit status (it must stop cleanly)."""
        if self.popen.poll() is None:
            self.popen.terminate()
        try:
            return self.popen.wait(timeout=scaled(15))
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
            self.file.close()


@pytest.fixture
def departments() -> Iterator[tuple[DepartmentEndpoint, str]]:
    endpoint = DepartmentEndpoint()
    with ServerThread(endpoint.app()) as server:
        yield endpoint, server.url


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.rabbitmq]),
    ]
)
def stores(
    request: pytest.FixtureRequest, tmp_path: Path, require_server: Callable[[str, str, int], None]
) -> Iterator[dict[str, str]]:
    """The ledger and bus settings of both processes."""
    if request.param == "sqlite":
        # a job the API process published on its own memory:// bus (lost to the worker) would
        # come back only after HUB_REDELIVER_AFTER: the test fails on that mistake
        yield {
            "HUB_DATABASE_URL": f"sqlite:///{tmp_path}/hub.db",
            "HUB_BROKER_URL": "memory://",
            "HUB_RELAY_INTERVAL": "0.1",
            "HUB_REDELIVER_AFTER": "600",
        }
        return
    require_server("PostgreSQL", *admin_host_port())
    require_server("RabbitMQ", RABBIT_HOST, RABBIT_PORT)
    vhost = RabbitVhost.create()
    try:
        with temporary_database("hub_api_worker") as url:
            # the relay's first pass publishes what was pushed before the worker started; the
            # push made while it runs is delivered in time only if the API published it
            yield {
                "HUB_DATABASE_URL": url,
                "HUB_BROKER_URL": vhost.url,
                "HUB_RELAY_INTERVAL": "600",
            }
    finally:
        vhost.delete()


@pytest.fixture
def env(
    tmp_path: Path, departments: tuple[DepartmentEndpoint, str], stores: dict[str, str]
) -> dict[str, str]:
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        MINIMAL.replace("http://127.0.0.1:9/", f"{departments[1]}/dept/"), encoding="utf-8"
    )
    return {
        **os.environ,
        **stores,
        "HUB_ROUTING": str(routing),
        "HUB_API_PORT": str(free_port()),
        "HUB_PAPER_SPOOL": str(tmp_path / "paper"),
        "HUB_BLOB_DIR": str(tmp_path / "blobs"),
        "HUB_LOG_LEVEL": "ERROR",
    }


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=scaled(2)).status_code == 200
    except httpx.HTTPError:
        return False


def approval(source_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["source"]["source_id"] = source_id
    return data


def count(env: dict[str, str], table: str) -> int:
    db = Database(env["HUB_DATABASE_URL"])
    try:
        with db.engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        db.dispose()


def test_a_push_through_the_api_process_is_delivered_by_the_worker_process(
    tmp_path: Path, env: dict[str, str], departments: tuple[DepartmentEndpoint, str]
) -> None:
    endpoint, _ = departments
    # Given a migrated ledger with a token for xzsp, and the API process alone
    issued = subprocess.run(
        [str(HUB), "token", "issue", "xzsp"], env=env, capture_output=True, text=True, check=True
    )
    token = issued.stdout.strip()
    api = Process(["api"], env, tmp_path / "api.log")
    worker: Process | None = None
    url = f"http://127.0.0.1:{env['HUB_API_PORT']}"
    try:
        wait_until(lambda: healthy(url) or api.popen.poll() is not None, 30, "hub api up")
        assert api.popen.poll() is None, api.output()
        headers = {"Authorization": f"Bearer {token}"}
        # When xzsp pushes through the API process
        answer = httpx.post(f"{url}/messages", json=approval("two-1"), headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text
        # Then it is committed (perhaps routed at ingest), and not sent while no worker runs
        assert count(env, "messages") == 1 and endpoint.of("push") == []
        # When the worker process starts, it routes and delivers it to scjg
        worker = Process(["worker"], env, tmp_path / "worker.log")
        (callback,) = endpoint.wait_for("push", department="scjg", timeout=20)
        assert callback["message"]["message_id"] == answer.json()["message_id"]
        # And scjg claims it through the API process
        scjg = {"Authorization": f"Bearer {_token(env, 'scjg')}"}
        claimed = httpx.post(
            f"{url}/deliveries/{callback['delivery_id']}/claim", json={}, headers=scjg, timeout=10
        )
        assert (claimed.status_code, claimed.json()["state"]) == (200, "claimed"), claimed.text
        # And a push made while the worker runs is delivered too
        again = httpx.post(f"{url}/messages", json=approval("two-2"), headers=headers, timeout=10)
        assert again.status_code == 202, again.text
        endpoint.wait_for("push", count=2, department="scjg", timeout=20)
        assert "接口进程已启动" in api.output() and "工作进程已启动" in worker.output()
    finally:
        statuses = [p.stop() for p in (api, worker) if p is not None]
    # And both stop cleanly on SIGTERM (exit 0: uvicorn does not re-raise the signal)
    assert statuses == [0, 0], (api.output(), worker.output() if worker else "")


def _token(env: dict[str, str], department: str) -> str:
    issued = subprocess.run(
        [str(HUB), "token", "issue", department], env=env, capture_output=True, text=True
    )
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.strip()
