"""The load generator counts what it sees, against a trivial hub on loopback.

``bench/loadgen.py`` runs as a child process, so does the trivial hub (it answers every push and
claim at once and calls back at once); ``--skip-callback`` plants a hub that loses one callback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import e2e  # noqa: E402
import loadgen  # noqa: E402

from tests.support.waits import scaled  # noqa: E402

PUSHES = 120


@pytest.fixture(scope="module")
def generator() -> Iterator[loadgen.Loadgen]:
    with loadgen.loadgen() as lg:
        yield lg


def run(lg: loadgen.Loadgen, url: str, **extra: Any) -> dict[str, Any]:
    spec = loadgen.Spec(
        targets=[url],
        sender_token="t",
        dept_tokens={"scjg": "d"},
        departments=["scjg"],
        template=e2e.TEMPLATE,
        pushes=PUSHES,
        inflight=16,
        # how long a run waits without progress before it reports what is missing
        idle_timeout=scaled(1.5),
        **extra,
    )
    return lg.run(spec)


def test_counts_every_push_callback_and_claim(generator: loadgen.Loadgen) -> None:
    with loadgen.trivial_hub(generator.sink, ["scjg"]) as (url, _pid):
        result = run(generator, url)
    assert (result["accepted"], result["delivered"], result["claimed"]) == (PUSHES,) * 3
    assert result["never_claimed"] == 0 and result["errors"] == {}
    assert result["claimed_per_s"] > 0
    p = result["push_claim_ms"]
    assert 0 < p["p50"] <= p["p90"] <= p["p99"]
    case = e2e.Case("trivial", [result])
    assert case.complete and case.claimed_per_s == result["claimed_per_s"]


def test_a_lost_callback_is_never_claimed_and_refuses_a_rate(
    generator: loadgen.Loadgen,
) -> None:
    with loadgen.trivial_hub(generator.sink, ["scjg"], skip_callback=7) as (url, _pid):
        result = run(generator, url)
    assert result["accepted"] == PUSHES
    assert (result["delivered"], result["claimed"]) == (PUSHES - 1,) * 2
    assert result["never_claimed"] == 1
    case = e2e.Case("planted", [result])
    assert not case.complete and case.claimed_per_s == 0.0
    assert case.missing() == f"未全部认领 not all claimed: {PUSHES - 1}/{PUSHES}"
    assert "未全部认领 not all claimed: 119/120" in e2e.row(case)
    floor = e2e.Case("floor", [{**result, "never_claimed": 0, "claimed": PUSHES}])
    assert "–" in (e2e.ratio("hub", case, floor) or "")


def test_batch_pushes_and_paced_runs(generator: loadgen.Loadgen) -> None:
    with loadgen.trivial_hub(generator.sink, ["scjg"]) as (url, _pid):
        batched = run(generator, url, batch=50, claim=False)
        paced = run(generator, url, rate=400.0)
    assert batched["accepted"] == batched["delivered"] == PUSHES
    assert not batched["batch_fallback"] and batched["never_claimed"] is None
    assert paced["claimed"] == PUSHES
    assert paced["push_seconds"] >= (PUSHES - 1) / 400.0 - 0.002  # a timer may fire ~1 ms early


def test_percentiles_nearest_rank() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert loadgen.percentiles(values) == {"p50": 50.0, "p90": 90.0, "p99": 99.0}
    assert loadgen.percentiles([]) == {"p50": None, "p90": None, "p99": None}
