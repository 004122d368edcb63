"""The default lease of a deliver job outlasts a round of tries on the slowest channel."""

from __future__ import annotations

import pytest

from adapters.platform.adapter import PlatformAdapter
from adapters.platform.config import PlatformConfig
from hub.core.decide import RetryPolicy
from hub.core.dispatch import Dispatcher
from hub.message import Channel
from tests.unit.core.conftest import Rig


@pytest.mark.parametrize(
    ("total_timeout", "lease", "expected"),
    [
        (10.0, None, 30 * 3 + 5 * 2 + 30),  # 15 s slot wait + 10 s: under the 30 s floor
        (120.0, None, (15 + 120) * 3 + 5 * 2 + 30),  # a slow platform endpoint: a longer lease
        (120.0, 45.0, 45.0),  # HUB_LEASE_SECONDS wins
    ],
)
def test_lease_from_channel_timeouts(
    rig: Rig, total_timeout: float, lease: float | None, expected: float
) -> None:
    platform = PlatformAdapter(PlatformConfig(total_timeout_s=total_timeout))
    dispatcher = Dispatcher(
        rig.db,
        rig.hub.router,
        {Channel.PLATFORM: platform},
        rig.clock,
        rig.hub.runner,
        RetryPolicy(lease_seconds=lease),
    )
    assert dispatcher.lease_seconds == expected
