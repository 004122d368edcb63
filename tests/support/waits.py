"""Waiting in tests: on a condition, never for a fixed time, within a limit that scales.

Every harness limit is a base number of seconds multiplied by :func:`timeout_scale`:
``HUB_TEST_TIMEOUT_SCALE`` when set (a positive number), else 4 when ``CI`` is set and 2 on a
developer's machine. A wait ends as soon as its condition holds, so a generous limit costs
nothing when the test passes; it only decides how long a real failure takes to be reported.
A shared, busy machine (two cores, several test runs, PostgreSQL and RabbitMQ on the same
cores) needs several times the limits an idle one does: raise the scale there, not the bases.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

SCALE_VARIABLE = "HUB_TEST_TIMEOUT_SCALE"
DEFAULT_SCALE = 2.0
DEFAULT_SCALE_CI = 4.0
_FALSE = {"", "0", "false", "no", "off"}


def timeout_scale() -> float:
    """The factor applied to every harness limit (see the module docstring)."""
    raw = os.environ.get(SCALE_VARIABLE, "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{SCALE_VARIABLE}={raw!r}: expected a positive number") from None
        if not value > 0:
            raise ValueError(f"{SCALE_VARIABLE}={raw!r}: expected a positive number")
        return value
    in_ci = os.environ.get("CI", "").strip().lower() not in _FALSE
    return DEFAULT_SCALE_CI if in_ci else DEFAULT_SCALE


def scaled(seconds: float) -> float:
    """``seconds`` times :func:`timeout_scale`."""
    return seconds * timeout_scale()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> float:
    """Poll ``condition`` until true; the seconds it took.

    ``timeout`` is a base limit, scaled by :func:`timeout_scale`; AssertionError past it.
    """
    limit = scaled(timeout)
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit:
            raise AssertionError(
                f"waited {limit:.0f} s ({timeout:g} s × {SCALE_VARIABLE} {timeout_scale():g}) "
                f"for {what}"
            )
        time.sleep(interval)  # poll interval, not a wait for something to happen
    return time.monotonic() - start
