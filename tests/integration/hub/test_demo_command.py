"""The README's first command runs the demo: the hub starts on its embedded default, takes the
sample pushes over HTTP, and shows claims, auto-claims and rejected bad input."""

from __future__ import annotations

import os
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
