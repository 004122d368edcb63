"""Print the cluster's fault table at the end of the run (pytest captures the tests' output)."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.integration.cluster.harness import FAULT_TABLE, FAULT_TABLE_HEADER

    if FAULT_TABLE:
        terminalreporter.section("cluster: what was tried, what survived")
        terminalreporter.write_line(FAULT_TABLE_HEADER)
        for row in FAULT_TABLE:
            terminalreporter.write_line(row)
