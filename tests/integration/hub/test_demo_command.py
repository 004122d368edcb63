"""The README's first command runs the demo: the hub starts on its embedded default, takes the
sample pushes over HTTP, and shows claims, auto-claims and rejected bad input."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.hub.test_crash import _free_port

ROOT = Path(__file__).resolve().parents[3]
HUB = Path(sys.executable).with_name("hub")


@pytest.mark.slow
def test_hub_run_demo(tmp_path: Path) -> None:
    env = {**os.environ, "HUB_ROUTING": str(ROOT / "routing.yaml"), "COLUMNS": "200"}
    env.pop("HUB_DATABASE_URL", None)
    result = subprocess.run(
        [str(HUB), "run", "--demo", "--for", "0", "--speed", "86400", "--port", str(_free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "var" / "demo" / "hub.db").exists()
    for text in (
        "已受理",
        "重复推送",
        "统一社会信用代码",
        "涉密：只走纸质渠道",
        "已认领",
        "超时自动认领",
        "部门汇总",
    ):
        assert text in out, text
    at = result.stderr.find("Traceback")
    assert at < 0, result.stderr[max(0, at - 1500) : at + 3000]


def test_hub_run_stops_when_its_api_port_is_taken(tmp_path: Path) -> None:
    # Given something already listens on the API port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "HUB_ROUTING": str(ROOT / "routing.yaml"),
            "HUB_DATABASE_URL": f"sqlite:///{tmp_path}/hub.db",
            "HUB_API_PORT": str(port),
        }
        # When the hub starts (asked to serve for 10 minutes)
        result = subprocess.run(
            [str(HUB), "run", "--for", "600"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    # Then it stops at once with a non-zero status and says why, instead of running headless
    assert result.returncode == 1, result.stderr[-2000:]
    assert "端口被占用" in result.stderr and "the API could not start" in result.stderr
