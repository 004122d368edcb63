"""PlatformAdapter.deliver against a real HTTP server: payload, headers, signature, failures."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import socket
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.platform import PlatformAdapter, PlatformConfig, create_app
from hub.channels import OutboundNote, Purpose, Receipt
from hub.errors import DeliveryError
from hub.routing.model import PlatformAddress
from hub.validation import parse_message
from tests.integration.platform.conftest import Receiver
from tests.support.servers import ServerThread
from tests.unit.platform.conftest import APPROVAL, NOW, FakeHub, sample

pytestmark = pytest.mark.anyio
SECRET = "integration-secret"


def note(endpoint: str, **changes: Any) -> OutboundNote:
    message = parse_message(json.dumps(sample(APPROVAL), ensure_ascii=False))
    fields: dict[str, Any] = {
        "delivery_id": "D1", "purpose": Purpose.PUSH, "message": message,
        "department_id": "scjg", "department_name": "梁山县市场监督管理局",
        "address": PlatformAddress(endpoint=endpoint), "claim_due": NOW + dt.timedelta(hours=14),
        "deadlines_zh": {"认领期限": "2026-09-15 24:00"}, "summary_zh": "请当日认领",
    }  # fmt: skip
    fields.update(changes)
    return OutboundNote(**fields)


@pytest.fixture
async def adapter(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[PlatformAdapter]:
    monkeypatch.setenv("HUB_PLATFORM_SECRET", SECRET)
    config = PlatformConfig(
        signing_secret_env="HUB_PLATFORM_SECRET", total_timeout_s=0.5, connect_timeout_s=0.5
    )
    adapter = PlatformAdapter(config)
    yield adapter
    await adapter.aclose()


async def test_callback_payload_headers_and_signature(
    adapter: PlatformAdapter, fresh: Receiver
) -> None:
    outbound = note(f"{fresh.base_url}/cb/ok")
    receipt = await adapter.deliver(outbound)
    assert (receipt.reference, receipt.detail) == ("R-1", "HTTP 200")
    (received,) = fresh.received
    payload = json.loads(received.raw)
    assert payload["delivery_id"] == "D1" and payload["purpose"] == "push"
    assert payload["message"]["message_id"] == outbound.message.message_id
    assert payload["message"]["body"]["party"]["uscc"] == "91370832MA3C4R7K7J"
    assert payload["deadlines"]["claim_due"] == "2026-09-16T00:30:00+08:00"
    assert payload["deadlines_zh"] == {"认领期限": "2026-09-15 24:00"}
    assert payload["actions"]["claim"] == "/deliveries/D1/claim"
    headers = received.headers
    assert headers["idempotency-key"] == "D1:push:"
    assert (headers["x-hub-delivery"], headers["x-hub-purpose"]) == ("D1", "push")
    assert headers["content-type"] == "application/json; charset=utf-8"
    signature = hmac.new(SECRET.encode(), received.raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-hub-signature"], f"sha256={signature}")


async def test_retries_of_one_note_carry_the_same_idempotency_key(
    adapter: PlatformAdapter, fresh: Receiver
) -> None:
    await adapter.deliver(note(f"{fresh.base_url}/cb/ok", attempt=1))
    await adapter.deliver(note(f"{fresh.base_url}/cb/ok", attempt=2))
    keys = {r.headers["idempotency-key"] for r in fresh.received}
    assert keys == {"D1:push:"}


@pytest.mark.parametrize(("mode", "retryable"), [("unavailable", True), ("missing", False)])
async def test_http_errors(
    adapter: PlatformAdapter, fresh: Receiver, mode: str, retryable: bool
) -> None:
    with pytest.raises(DeliveryError) as caught:
        await adapter.deliver(note(f"{fresh.base_url}/cb/{mode}"))
    assert caught.value.retryable is retryable
    assert caught.value.details["status"] == {"unavailable": "503", "missing": "404"}[mode]
    assert mode in caught.value.details["body"]


async def test_connection_refused_is_retryable(adapter: PlatformAdapter) -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DeliveryError) as caught:
        await adapter.deliver(note(f"http://127.0.0.1:{port}/cb/ok"))
    assert (caught.value.retryable, caught.value.reason) == (True, "connect failed")


async def test_slow_server_times_out_retryably(adapter: PlatformAdapter, fresh: Receiver) -> None:
    with pytest.raises(DeliveryError) as caught:
        await adapter.deliver(note(f"{fresh.base_url}/cb/slow"))
    assert (caught.value.retryable, caught.value.reason) == (True, "timeout")
    assert len(fresh.received) == 1  # it arrived; the answer came too late


async def test_classified_is_refused_without_any_request(
    adapter: PlatformAdapter, fresh: Receiver
) -> None:
    data = sample(APPROVAL)
    data["classification"] = {"level": "confidential"}
    data["source"]["channel"] = "paper"
    secret = parse_message(json.dumps(data, ensure_ascii=False))
    with pytest.raises(DeliveryError) as caught:
        await adapter.deliver(note(f"{fresh.base_url}/cb/ok", message=secret))
    assert caught.value.retryable is False
    assert fresh.received == []


async def test_round_trip_the_department_claims_through_the_action_link(
    monkeypatch: pytest.MonkeyPatch, fresh: Receiver
) -> None:
    # Given the hub API served for real, and an adapter whose action links point at it
    hub = FakeHub()
    with ServerThread(create_app(hub)) as api:
        monkeypatch.delenv("HUB_PLATFORM_SECRET", raising=False)
        adapter = PlatformAdapter(PlatformConfig(public_base_url=api.url))
        # When the push reaches the department and it follows the claim link with its token
        await adapter.deliver(note(f"{fresh.base_url}/cb/ok"))
        await adapter.aclose()
        link = json.loads(fresh.received[0].raw)["actions"]["claim"]
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                link, json={"actor": "赵明"}, headers={"Authorization": "Bearer tok-scjg"}
            )
    # Then the hub records the claim, by the platform channel
    assert (answer.status_code, answer.json()["state"]) == (200, "claimed")
    assert hub.actions[0][:4] == ("claim", "D1", "scjg", "赵明")


@dataclass
class Counting:
    """A slow department endpoint: holds each callback ``hold_s`` and counts what is in flight,
    per department and in all, and the connections the requests came on."""

    hold_s: float = 0.2
    now: Counter[str] = field(default_factory=Counter)
    most: Counter[str] = field(default_factory=Counter)
    connections: set[tuple[str, int]] = field(default_factory=set)
    requests: int = 0

    def app(self) -> Starlette:
        async def callback(request: Request) -> JSONResponse:
            department = request.path_params["department"]
            self.requests += 1
            assert request.client is not None
            self.connections.add((request.client.host, request.client.port))
            for key in (department, ALL):
                self.now[key] += 1
                self.most[key] = max(self.most[key], self.now[key])
            try:
                await asyncio.sleep(self.hold_s)  # the department's slowness, not a test wait
            finally:
                for key in (department, ALL):
                    self.now[key] -= 1
            return JSONResponse({"receipt": f"{department}-{self.requests}"})

        return Starlette(routes=[Route("/dept/{department}", callback, methods=["POST"])])


ALL = "*"


async def deliver_all(
    adapter: PlatformAdapter, base_url: str, per_department: Mapping[str, int]
) -> list[Receipt | BaseException]:
    notes = [
        note(f"{base_url}/dept/{d}", department_id=d, delivery_id=f"{d}-{i}")
        for d, count in per_department.items()
        for i in range(count)
    ]
    return await asyncio.gather(*(adapter.deliver(n) for n in notes), return_exceptions=True)


@pytest.mark.parametrize(
    ("per_department", "total", "sent", "expected"),
    [
        (4, 64, {"scjg": 12, "wjj": 12}, {"scjg": 4, "wjj": 4, ALL: 8}),  # the department's bound
        (4, 6, {"scjg": 8, "wjj": 8, "xzsp": 8}, {ALL: 6}),  # the bound in all
    ],
)
async def test_callbacks_in_flight_are_bounded(
    per_department: int, total: int, sent: dict[str, int], expected: dict[str, int]
) -> None:
    # Given a slow department endpoint and an adapter with in-flight bounds
    counting = Counting()
    config = PlatformConfig(
        max_in_flight=total, max_in_flight_per_department=per_department, total_timeout_s=5
    )
    adapter = PlatformAdapter(config)
    with ServerThread(counting.app()) as server:
        # When many callbacks to several departments are delivered at once
        results = await deliver_all(adapter, server.url, sent)
        await adapter.aclose()
    # Then all arrive, and no more than the bounds were ever in flight (and the bounds were met)
    assert [r for r in results if not isinstance(r, Receipt)] == []
    assert {key: counting.most[key] for key in expected} == expected
    assert max(counting.most[d] for d in sent) <= per_department
    # and connections were kept alive and reused: no more than were ever in flight
    assert counting.requests == sum(sent.values())
    assert len(counting.connections) <= counting.most[ALL] < counting.requests


async def test_waiting_for_a_slot_is_not_part_of_the_request_timeout() -> None:
    # Given one callback at a time per department, each taking 0.3 s of a 0.5 s request limit
    counting = Counting(hold_s=0.3)
    config = PlatformConfig(max_in_flight_per_department=1, total_timeout_s=0.5, queue_timeout_s=5)
    adapter = PlatformAdapter(config)
    with ServerThread(counting.app()) as server:
        # When three go to one department at once (the third waits 0.6 s for its slot)
        results = await deliver_all(adapter, server.url, {"scjg": 3})
        await adapter.aclose()
    # Then all three are delivered: the wait did not eat into the request's own limit
    assert [type(r) for r in results] == [Receipt] * 3
    assert counting.most["scjg"] == 1


async def test_a_callback_that_gets_no_slot_in_time_fails_retryably_unsent() -> None:
    counting = Counting(hold_s=1.0)
    config = PlatformConfig(max_in_flight_per_department=1, total_timeout_s=5, queue_timeout_s=0.2)
    adapter = PlatformAdapter(config)
    assert adapter.send_timeout == 5.2  # the slot wait and the request: one deliver's bound
    with ServerThread(counting.app()) as server:
        first, second = await deliver_all(adapter, server.url, {"scjg": 2})
        await adapter.aclose()
    assert isinstance(first, Receipt)
    assert isinstance(second, DeliveryError) and second.retryable
    assert second.details == {"department_id": "scjg", "waited_s": "0.2"}
    assert counting.requests == 1  # the second was never sent
