"""PlatformAdapter with a fake HTTP client: normalize, callback payload, headers, refusals, logs."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.platform import PlatformAdapter, PlatformConfig
from adapters.platform.adapter import action_links, callback_payload, idempotency_key
from hub.channels import ChannelAdapter, OutboundNote, Purpose
from hub.clock.now import ManualClock
from hub.errors import ConfigError, DeliveryError, MessageError, NormalizeError
from hub.message import CanonicalMessage, Channel
from hub.routing.model import EmailAddress, PlatformAddress
from hub.validation import parse_message
from tests.unit.platform.conftest import APPROVAL, APPROVAL_PUSH, NOW, TZ, body, sample

pytestmark = pytest.mark.anyio
ENDPOINT = "https://scjg.example.gov.cn/hub/callback"
DUE = dt.datetime(2026, 9, 16, 0, 0, tzinfo=TZ)


@dataclass
class FakeClient:
    answer: tuple[int, bytes] = (200, b'{"receipt": "SCJG-2026-0001"}')
    error: DeliveryError | None = None
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    closed: bool = False

    async def post_json(
        self, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        self.calls.append((url, payload, dict(headers)))
        if self.error is not None:
            raise self.error
        return self.answer

    async def aclose(self) -> None:
        self.closed = True


def message(**changes: Any) -> CanonicalMessage:
    data = sample(APPROVAL)
    data.update(changes)
    return parse_message(json.dumps(data, ensure_ascii=False))


def note(msg: CanonicalMessage | None = None, **changes: Any) -> OutboundNote:
    fields: dict[str, Any] = {
        "delivery_id": "D1", "purpose": Purpose.PUSH, "message": msg or message(),
        "department_id": "scjg", "department_name": "梁山县市场监督管理局",
        "address": PlatformAddress(endpoint=ENDPOINT), "claim_due": DUE,
        "deadlines_zh": {"认领期限": "2026-09-15 24:00"}, "summary_zh": "请于当日认领",
    }  # fmt: skip
    fields.update(changes)
    return OutboundNote(**fields)


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


@pytest.fixture
def adapter(fake: FakeClient) -> PlatformAdapter:
    return PlatformAdapter(PlatformConfig(), clock=ManualClock(NOW), client=fake)


def test_it_is_a_channel_adapter(adapter: PlatformAdapter) -> None:
    typed: ChannelAdapter = adapter
    assert typed.channel is Channel.PLATFORM


def test_normalize_canonical_json(adapter: PlatformAdapter) -> None:
    assert adapter.normalize(body(sample(APPROVAL))) == message()


def test_normalize_platform_format_stamps_the_hub_clock(adapter: PlatformAdapter) -> None:
    normalized = adapter.normalize(body(APPROVAL_PUSH))
    assert normalized.source.received_at == NOW


@pytest.mark.parametrize(
    "raw", [body({**sample(APPROVAL), "subject": ""}), b"not json", body({"xxlx": "?"})]
)
def test_normalize_raises_normalize_error(adapter: PlatformAdapter, raw: bytes) -> None:
    with pytest.raises(NormalizeError) as caught:
        adapter.normalize(raw)
    assert isinstance(caught.value, MessageError) and caught.value.problems


async def test_deliver_posts_the_callback(adapter: PlatformAdapter, fake: FakeClient) -> None:
    receipt = await adapter.deliver(note())
    assert (receipt.channel, receipt.reference, receipt.detail) == (
        Channel.PLATFORM, "SCJG-2026-0001", "HTTP 200",
    )  # fmt: skip
    ((url, payload, headers),) = fake.calls
    assert url == ENDPOINT
    sent = json.loads(payload)
    assert sent["message"] == message().model_dump(mode="json")
    assert sent["deadlines"] == {"claim_due": DUE.isoformat(), "objection_due": None,
                                 "reply_due": None}  # fmt: skip
    assert sent["deadlines_zh"] == {"认领期限": "2026-09-15 24:00"}
    assert (sent["purpose"], sent["purpose_zh"], sent["summary_zh"]) == (
        "push",
        "推送",
        "请于当日认领",
    )
    assert sent["actions"] == {
        "claim": "/deliveries/D1/claim", "objection": "/deliveries/D1/objection",
        "reply": "/deliveries/D1/reply",
    }  # fmt: skip
    assert headers == {
        "Idempotency-Key": "D1:push:", "X-Hub-Delivery": "D1",
        "X-Hub-Message": message().message_id, "X-Hub-Purpose": "push",
    }  # fmt: skip


async def test_signature_when_a_secret_is_configured(
    fake: FakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_PLATFORM_SECRET", "s3cret")
    config = PlatformConfig(signing_secret_env="HUB_PLATFORM_SECRET")
    await PlatformAdapter(config, client=fake).deliver(note())
    ((_, payload, headers),) = fake.calls
    expected = hmac.new(b"s3cret", payload, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature"] == f"sha256={expected}"


def test_a_named_but_missing_secret_fails_at_start(
    fake: FakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUB_PLATFORM_SECRET", raising=False)
    with pytest.raises(ConfigError) as caught:
        PlatformAdapter(PlatformConfig(signing_secret_env="HUB_PLATFORM_SECRET"), client=fake)
    assert caught.value.problems[0].path == "signing_secret_env"


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match="extra"):
        PlatformConfig.model_validate({"timeout": 3})
    with pytest.raises(ValueError):
        PlatformConfig.model_validate({"signing_secret_env": "not-an-env name"})
    assert PlatformConfig().max_body_bytes == 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("changes", "key", "links"),
    [
        ({"purpose": Purpose.REMINDER}, "D1:reminder:", {"claim", "objection", "reply"}),
        ({"purpose": Purpose.AUTO_CLAIMED}, "D1:auto_claimed:", {"objection", "reply"}),
        ({"purpose": Purpose.NOTICE}, "D1:notice:", set()),
        ({"purpose": Purpose.ESCALATION, "about_department_id": "scjg", "department_id": "xzsp"},
         "D1:escalation:scjg", set()),
    ],
)  # fmt: skip
def test_idempotency_key_and_actions_per_purpose(
    changes: dict[str, Any], key: str, links: set[str]
) -> None:
    outbound = note(**changes)
    assert idempotency_key(outbound) == key
    assert set(action_links(outbound)) == links


def test_absolute_action_links_with_a_public_base_url() -> None:
    payload = callback_payload(note(delivery_id="D/1"), "https://hub.example.gov.cn")
    assert payload["actions"]["claim"] == "https://hub.example.gov.cn/deliveries/D%2F1/claim"


@pytest.mark.parametrize(
    ("answer", "reference"),
    [((200, b'{"receipt": 42}'), "42"), ((202, b""), "202"), ((200, b"[1]"), "200"),
     ((200, b'{"receipt": ""}'), "200")],
)  # fmt: skip
async def test_receipt_reference(
    fake: FakeClient, adapter: PlatformAdapter, answer: tuple[int, bytes], reference: str
) -> None:
    fake.answer = answer
    assert (await adapter.deliver(note())).reference == reference


async def test_classified_is_refused_without_any_request(
    adapter: PlatformAdapter, fake: FakeClient
) -> None:
    secret = message(classification={"level": "secret"}, source={
        **sample(APPROVAL)["source"], "channel": "paper"})  # fmt: skip
    with capture_logs() as logs, pytest.raises(DeliveryError) as caught:
        await adapter.deliver(note(secret))
    assert caught.value.retryable is False
    assert not fake.calls
    (event,) = logs
    assert (event["event"], event["log_level"]) == ("security.classified_online", "error")
    assert (event["delivery_id"], event["channel"]) == ("D1", "platform")
    assert event["message_id"] == secret.message_id


async def test_offline_only_is_refused(adapter: PlatformAdapter, fake: FakeClient) -> None:
    offline = message(classification={"offline_only": True})
    with pytest.raises(DeliveryError) as caught:
        await adapter.deliver(note(offline))
    assert caught.value.retryable is False and not fake.calls


async def test_an_address_of_another_channel_is_permanent(adapter: PlatformAdapter) -> None:
    with pytest.raises(DeliveryError) as caught:
        await adapter.deliver(note(address=EmailAddress(addresses=("a@b.cn",))))
    assert caught.value.retryable is False
    assert caught.value.details["address"] == "EmailAddress"


async def test_logs_bind_ids_and_never_the_body(adapter: PlatformAdapter, fake: FakeClient) -> None:
    with capture_logs() as logs:
        await adapter.deliver(note())
        fake.error = DeliveryError("HTTP 503", retryable=True, details={"status": "503"})
        with pytest.raises(DeliveryError):
            await adapter.deliver(note(attempt=2))
    sent, failed = logs
    assert sent["event"] == "delivery.sent" and sent["reference"] == "SCJG-2026-0001"
    assert failed["event"] == "delivery.failed"
    assert (failed["retryable"], failed["status"], failed["attempt"]) == (True, "503", 2)
    for event in logs:
        assert (event["delivery_id"], event["channel"]) == ("D1", "platform")
        assert event["message_id"] == message().message_id
    text = json.dumps(logs, ensure_ascii=False, default=str)
    assert "水泊人家" not in text and "13953712345" not in text


async def test_aclose_closes_the_client(adapter: PlatformAdapter, fake: FakeClient) -> None:
    await adapter.aclose()
    assert fake.closed
