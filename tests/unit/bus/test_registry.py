"""``create_bus``: URL scheme -> implementation, the "did you mean" error, ``HUB_BROKER_URL``.

Also the small pure parts of the bus package: the topology names and ``StubBus.join``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import kombu.transport
import pytest

from hub.bus import (
    BACKENDS,
    DEFAULT_URL,
    ENV_VAR,
    KOMBU_SCHEMES,
    Bus,
    BusConfigError,
    StubBus,
    backend_for,
    create_bus,
    topology,
)
from hub.bus.kombu_bus import KombuBus
from hub.errors import HubError

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _no_broker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.mark.parametrize(
    "url",
    [
        "memory://",
        "redis://127.0.0.1:6379/15",
        "rediss://:secret@redis.example:6380/0",
        "sqla+sqlite:///var/hub-bus.db",
        "pyamqp://guest:guest@127.0.0.1:5672//",
        "MEMORY://",
    ],
)
def test_kombu_schemes_map_to_the_kombu_bus(url: str) -> None:
    assert backend_for(url) == "hub.bus.kombu_bus:KombuBus"


@pytest.mark.parametrize("url", ["amqp://guest:guest@127.0.0.1:5672/%2F", "amqps://h:5671/"])
def test_amqp_schemes_map_to_the_pika_bus(url: str) -> None:
    assert backend_for(url) == "hub.bus.pika_bus:PikaBus"


def test_create_bus_builds_a_kombu_bus_without_connecting() -> None:
    # Redis on port 1 does not exist: creating a bus must not touch the network
    bus = create_bus("redis://127.0.0.1:1/0")
    assert isinstance(bus, KombuBus)
    assert isinstance(bus, Bus)
    assert bus.url == "redis://127.0.0.1:1/0"
    bus.close()


def test_create_bus_defaults_to_memory() -> None:
    bus = create_bus()
    assert isinstance(bus, KombuBus)
    assert bus.url == DEFAULT_URL == "memory://"


def test_create_bus_reads_hub_broker_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "redis://127.0.0.1:6379/15")
    bus = create_bus()
    assert isinstance(bus, KombuBus)
    assert bus.url == "redis://127.0.0.1:6379/15"


def test_an_explicit_url_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "reddis://nowhere")
    assert isinstance(create_bus("memory://"), KombuBus)


@pytest.mark.parametrize(
    ("url", "suggestion"),
    [("reddis://127.0.0.1", "redis"), ("memroy://", "memory"), ("amqq://h", "amqp")],
)
def test_an_unknown_scheme_says_what_was_meant(url: str, suggestion: str) -> None:
    with pytest.raises(BusConfigError) as raised:
        create_bus(url)
    assert raised.value.suggestion == suggestion
    assert f'(did you mean "{suggestion}"?)' in str(raised.value)
    assert "the broker URL" in str(raised.value)
    assert isinstance(raised.value, HubError)


def test_an_unknown_scheme_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_VAR, "memroy://")
    with pytest.raises(BusConfigError, match=rf'in {ENV_VAR} \(did you mean "memory"\?\)'):
        create_bus()


def test_a_scheme_like_nothing_known_gets_no_suggestion() -> None:
    with pytest.raises(BusConfigError) as raised:
        create_bus("zzzzzz://x")
    assert raised.value.suggestion is None
    assert "did you mean" not in str(raised.value)
    assert "known schemes: " in str(raised.value)


@pytest.mark.parametrize("url", ["localhost:6379", "redis", "", "://host"])
def test_a_url_without_a_scheme_is_refused(url: str) -> None:
    with pytest.raises(BusConfigError, match="SCHEME://"):
        create_bus(url)


def test_the_error_never_shows_the_password() -> None:
    with pytest.raises(BusConfigError) as raised:
        create_bus("reddis://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in str(raised.value)


def test_every_kombu_scheme_is_a_kombu_transport_alias() -> None:
    aliases = {alias.lower() for alias in kombu.transport.TRANSPORT_ALIASES}
    assert set(KOMBU_SCHEMES) <= aliases


def test_every_backend_path_resolves() -> None:
    for scheme, path in BACKENDS.items():
        module_name, _, attribute = path.partition(":")
        module = __import__(module_name, fromlist=[attribute])
        assert callable(getattr(module, attribute)), scheme


def test_importing_the_bus_package_does_not_import_kombu() -> None:
    code = "import sys, hub.bus; print('kombu' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "False"


def test_only_kombu_bus_imports_kombu() -> None:
    importers = [
        path.relative_to(ROOT).as_posix()
        for folder in ("hub", "adapters")
        for path in (ROOT / folder).rglob("*.py")
        if any(
            line.lstrip().startswith(("import kombu", "from kombu"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert importers == ["hub/bus/kombu_bus.py"]


# -- topology --------------------------------------------------------------------------------


def test_topology_names() -> None:
    assert topology.INGEST == "hub.ingest"
    assert topology.ROUTE == "hub.route"
    assert topology.TIMERS == "hub.timers"
    assert topology.DEAD == "hub.dead"
    assert [topology.deliver_queue(c) for c in ("platform", "email", "selfbuilt", "paper")] == [
        "hub.deliver.platform",
        "hub.deliver.email",
        "hub.deliver.selfbuilt",
        "hub.deliver.paper",
    ]
    assert len(topology.ALL_QUEUES) == len(set(topology.ALL_QUEUES)) == 8


def test_an_unknown_delivery_channel_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown delivery channel 'fax'"):
        topology.deliver_queue("fax")


# -- StubBus.join ----------------------------------------------------------------------------


def test_stub_join_waits_until_handlers_returned() -> None:
    bus = StubBus()
    handled: list[int] = []
    release = threading.Event()

    def slow(queue: str, body: dict[str, int]) -> None:
        release.wait(5.0)
        handled.append(body["n"])

    stop = threading.Event()
    bus.publish_many([("q", {"n": 1}), ("q", {"n": 2})])
    consumer = threading.Thread(target=bus.consume, args=(["q"], slow), kwargs={"stop": stop})
    consumer.start()
    try:
        # While a handler is still running, the queue is not joined
        assert bus.join("q", timeout=0.2) is False
        release.set()
        # Once both handlers returned, it is
        assert bus.join("q", timeout=5.0) is True
        assert handled == [1, 2]
    finally:
        stop.set()
        consumer.join(5.0)


def test_stub_join_on_an_empty_queue_returns_at_once() -> None:
    assert StubBus().join("nothing", timeout=0.0) is True
