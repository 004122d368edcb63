"""One way to wait between tries, for every retry loop in the hub (dispatcher, buses, watcher).

``backoff_wait`` is a tenacity wait: exponential from ``initial`` (doubling each try), capped at
``most``, plus a random jitter in [0, ``jitter``] (default ``initial``). It is built from
``wait_exponential`` and ``wait_random``, whose arguments are the same in every tenacity release
the project allows (``wait_exponential_jitter`` renamed its first argument in 9.2).
``backoff_delay`` is the same curve without jitter as a plain number, for waits that are not
tenacity's (the dispatcher's durable retry rounds, the relay's republish interval).
"""

from __future__ import annotations

from tenacity import wait_exponential, wait_random
from tenacity.wait import wait_base


def backoff_wait(initial: float, most: float, *, jitter: float | None = None) -> wait_base:
    spread = initial if jitter is None else jitter
    return wait_exponential(multiplier=initial, max=most) + wait_random(0, spread)


def backoff_delay(initial: float, most: float, attempt: int) -> float:
    """``initial`` × 2**``attempt``, at most ``most`` (``attempt`` counts from 0)."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, not {attempt}")
    return float(min(initial * 2.0 ** min(attempt, 64), most))
