"""RabbitMQ on this machine for tests: ``rabbitmqctl`` and throw-away vhosts (guest/guest)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from tests.conftest import in_ci

RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672


def rabbitmqctl(*args: str, timeout: float = 60.0) -> str:
    """Run ``rabbitmqctl ARGS`` on this machine; its stdout. Raises when it fails or hangs."""
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


@dataclass
class RabbitVhost:
    """A RabbitMQ vhost of its own for a test (session) (guest has every permission in it)."""

    name: str

    @classmethod
    def create(cls) -> RabbitVhost:
        if shutil.which("rabbitmqctl") is None:
            message = "rabbitmqctl is not installed: cannot make a test vhost"
            if in_ci():
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        vhost = cls(f"hub_test_{uuid.uuid4().hex[:10]}")
        rabbitmqctl("add_vhost", vhost.name)
        rabbitmqctl("set_permissions", "-p", vhost.name, "guest", ".*", ".*", ".*")
        return vhost

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{quote(self.name, safe='')}"

    def close_connections(self) -> None:
        rabbitmqctl("close_all_connections", "--vhost", self.name, "hub test: drop connections")

    def delete(self) -> None:
        rabbitmqctl("delete_vhost", self.name)
