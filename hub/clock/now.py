"""Clocks. The hub owns time: code asks an injected :class:`Clock`, never ``datetime.now()``.

``SystemClock`` reads the wall clock in Asia/Shanghai (or a given zone); ``ManualClock`` is for
tests and simulations — it only moves when told to.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_TZ", "Clock", "ManualClock", "SystemClock"]

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


@runtime_checkable
class Clock(Protocol):
    """Something that tells the current time as an aware datetime."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    """The real wall clock, in ``tz`` (Asia/Shanghai by default)."""

    def __init__(self, tz: ZoneInfo = DEFAULT_TZ) -> None:
        self.tz = tz

    def now(self) -> datetime:
        """The current instant in ``tz``."""
        return datetime.now(self.tz)


def _require_aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"ManualClock needs an aware datetime, got naive {dt.isoformat()}")
    return dt


class ManualClock:
    """A clock for tests: starts at ``start`` and moves only by ``advance`` or ``set``."""

    def __init__(self, start: datetime) -> None:
        self._now = _require_aware(start)

    def now(self) -> datetime:
        """The clock's current instant."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward (or back, for a negative delta) by ``delta``; return the new time."""
        self._now = self._now + delta
        return self._now

    def set(self, dt: datetime) -> None:
        """Jump to ``dt`` (must be aware)."""
        self._now = _require_aware(dt)


class ScaledClock:
    """Starts at ``start`` and runs ``speed`` times faster than real time (demos, soak tests)."""

    def __init__(self, start: datetime, speed: float) -> None:
        self._start = _require_aware(start)
        self._speed = speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self._speed)
