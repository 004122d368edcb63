"""PlatformAdapter.deliver against a real HTTP server: payload, headers, signature, failures."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.platform import PlatformAdapter, PlatformConfig, create_app
from hub.channels import OutboundNote, Purpose
from hub.errors import DeliveryError
from hub.routing.model import PlatformAddress
from hub.validation import parse_message
from tests.integration.platform.conftest import Receiver, ServerThread
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
