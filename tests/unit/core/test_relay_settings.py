"""``HUB_MAX_JOB_ATTEMPTS`` and ``HUB_REDELIVER_AFTER`` reach the relay of a running hub."""

from __future__ import annotations

import pytest

from hub.core.relay import RelayPolicy
from hub.core.runtime import HubRuntime
from hub.service import SettingError, Settings


class PolicyCatcher:
    def __init__(self) -> None:
        self.policies: list[RelayPolicy | None] = []

    def relay(self, policy: RelayPolicy | None = None) -> int:
        self.policies.append(policy)
        return 0


@pytest.mark.parametrize(
    ("env", "attempts", "redeliver_after"),
    [({}, 10, 30.0), ({"HUB_MAX_JOB_ATTEMPTS": "3", "HUB_REDELIVER_AFTER": "5"}, 3, 5.0)],
)
def test_the_relay_of_a_running_hub_gets_its_settings(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], attempts: int, redeliver_after: float
) -> None:
    for name in ("HUB_MAX_JOB_ATTEMPTS", "HUB_REDELIVER_AFTER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    hub = PolicyCatcher()
    runtime = HubRuntime(hub, lambda: None, Settings().runtime)  # type: ignore[arg-type,return-value]
    runtime._relay()
    (policy,) = hub.policies
    assert policy is not None
    assert (policy.max_attempts, policy.redeliver_after) == (attempts, redeliver_after)


@pytest.mark.parametrize("value", ["0", "-1", "ten"])
def test_a_bad_max_job_attempts_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HUB_MAX_JOB_ATTEMPTS", value)
    with pytest.raises(SettingError, match="HUB_MAX_JOB_ATTEMPTS"):
        Settings()
