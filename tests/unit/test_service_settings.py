"""Settings read from the environment: worker counts, retry-round wait, and bad values named."""

from __future__ import annotations

import pytest

from hub.service import SettingError, Settings


def test_defaults_one_route_and_two_deliver_workers_and_a_minute_between_rounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HUB_ROUTE_WORKERS", "HUB_DELIVER_WORKERS", "HUB_RETRY_ROUND_WAIT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.runtime.route_workers, settings.runtime.deliver_workers) == (1, 2)
    assert settings.retry.round_wait_initial == 60.0


def test_the_environment_sets_workers_relay_interval_and_retry_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_ROUTE_WORKERS", "3")
    monkeypatch.setenv("HUB_DELIVER_WORKERS", "4")
    monkeypatch.setenv("HUB_RELAY_INTERVAL", "0.1")
    monkeypatch.setenv("HUB_RETRY_ROUND_WAIT", "2.5")
    settings = Settings()
    assert (settings.runtime.route_workers, settings.runtime.deliver_workers) == (3, 4)
    assert settings.runtime.relay_interval == 0.1
    assert settings.retry.round_wait_initial == 2.5


def test_the_token_cache_and_the_callback_bounds_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HUB_TOKEN_CACHE_SECONDS", "HUB_CALLBACKS_IN_FLIGHT"):
        monkeypatch.delenv(name, raising=False)
    defaults = Settings()
    assert defaults.token_cache_seconds == 10.0
    assert (defaults.platform.max_in_flight, defaults.platform.max_in_flight_per_department) == (
        64,
        4,
    )
    monkeypatch.setenv("HUB_TOKEN_CACHE_SECONDS", "0")  # off
    monkeypatch.setenv("HUB_CALLBACKS_IN_FLIGHT", "16")
    monkeypatch.setenv("HUB_CALLBACKS_PER_DEPARTMENT", "2")
    settings = Settings()
    assert settings.token_cache_seconds == 0.0
    assert (settings.platform.max_in_flight, settings.platform.max_in_flight_per_department) == (
        16,
        2,
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HUB_DELIVER_WORKERS", "0", "HUB_DELIVER_WORKERS=0: 须至少为 1"),
        ("HUB_ROUTE_WORKERS", "-2", "HUB_ROUTE_WORKERS=-2: 须至少为 1"),
        ("HUB_RETRY_ROUND_WAIT", "0", "HUB_RETRY_ROUND_WAIT=0.0: 须为正数"),
        ("HUB_RELAY_INTERVAL", "-1", "HUB_RELAY_INTERVAL=-1.0: 须为正数"),
        ("HUB_DELIVER_WORKERS", "many", "HUB_DELIVER_WORKERS='many': 须为整数"),
        ("HUB_LEASE_SECONDS", "2m", "HUB_LEASE_SECONDS='2m': 须为秒数"),
        ("HUB_TOKEN_CACHE_SECONDS", "-1", "HUB_TOKEN_CACHE_SECONDS=-1.0: 须为正数"),
        ("HUB_CALLBACKS_IN_FLIGHT", "0", "HUB_CALLBACKS_IN_FLIGHT=0: 须至少为 1"),
        ("HUB_CALLBACKS_PER_DEPARTMENT", "x", "HUB_CALLBACKS_PER_DEPARTMENT='x': 须为整数"),
    ],
)
def test_a_value_that_cannot_work_is_refused_with_its_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingError, match=expected):
        Settings()


def test_hub_run_reports_a_bad_setting_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from hub.cli import app

    monkeypatch.setenv("HUB_DELIVER_WORKERS", "0")
    result = CliRunner().invoke(app, ["run", "--for", "0"])
    assert result.exit_code == 1
    assert "无法启动" in result.output and "HUB_DELIVER_WORKERS=0" in result.output
    assert "Traceback" not in result.output
