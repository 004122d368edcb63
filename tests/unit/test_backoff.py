"""The one backoff helper: the curve, the cap, the jitter, on the installed tenacity."""

from __future__ import annotations

from unittest.mock import Mock

import pytest

from hub.backoff import backoff_delay, backoff_wait


def test_backoff_delay_doubles_and_caps() -> None:
    assert [backoff_delay(60, 3600, n) for n in range(8)] == [
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert backoff_delay(1, 10, 10_000) == 10  # no overflow however many rounds
    with pytest.raises(ValueError):
        backoff_delay(1, 10, -1)


def test_backoff_wait_is_exponential_with_bounded_jitter() -> None:
    wait = backoff_wait(0.5, 5.0)
    for number, base in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (9, 5.0)):
        state = Mock(attempt_number=number)
        samples = [wait(state) for _ in range(50)]
        assert all(base <= s <= base + 0.5 for s in samples), (number, min(samples), max(samples))
