"""Clocks: the injected time source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.clock.now import Clock, ManualClock, SystemClock

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_system_clock_is_aware_and_in_shanghai() -> None:
    now = SystemClock().now()
    assert now.tzinfo == SHANGHAI
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=1)


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI))
    assert clock.now() == datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    assert clock.advance(timedelta(hours=8)) == datetime(2026, 10, 1, 0, 0, tzinfo=SHANGHAI)
    assert clock.now() == datetime(2026, 10, 1, 0, 0, tzinfo=SHANGHAI)
    clock.set(datetime(2027, 1, 1, tzinfo=SHANGHAI))
    assert clock.now() == datetime(2027, 1, 1, tzinfo=SHANGHAI)


@pytest.mark.parametrize("use_set", [False, True], ids=["constructor", "set"])
def test_manual_clock_refuses_naive_datetimes(use_set: bool) -> None:
    naive = datetime(2026, 9, 30, 16, 0)
    with pytest.raises(ValueError, match="naive"):
        if use_set:
            ManualClock(datetime(2026, 1, 1, tzinfo=SHANGHAI)).set(naive)
        else:
            ManualClock(naive)


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(ManualClock(datetime(2026, 1, 1, tzinfo=SHANGHAI)), Clock)
