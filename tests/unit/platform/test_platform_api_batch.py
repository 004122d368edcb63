"""``POST /messages:batch``: each message screened like ``POST /messages``, the valid ones
accepted in one ``accept_many`` call, a result per message in order."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from adapters.platform import PlatformConfig, create_app
from hub.clock.now import ManualClock
from tests.unit.platform.conftest import (
    APPROVAL,
    SUSPENSION,
    FakeHub,
    auth,
    body,
    sample,
)

JSON = {"Content-Type": "application/json"}


def batch(api: TestClient, payload: Any, department: str = "xzsp") -> Any:
    raw = payload if isinstance(payload, bytes) else body(payload)
    return api.post("/messages:batch", content=raw, headers={**JSON, **auth(department)})


def approval(source_id: str, **changes: Any) -> dict[str, Any]:
    data = sample(APPROVAL)
    data["source"]["source_id"] = source_id
    data.update(changes)
    return data


def test_a_mixed_batch_gets_a_result_per_message_in_order(
    api: TestClient, fake_hub: FakeHub
) -> None:
    # Given a batch: new, the same again, invalid, another department's, unknown recipient
    invalid = approval("b-bad", subject="")
    messages = [
        approval("b-1"),
        approval("b-1"),
        invalid,
        sample(SUSPENSION),  # scjg → xzsp, pushed with xzsp's token
        approval("b-nobody", recipients=["nobody"]),
        approval("b-2"),
    ]
    # When xzsp pushes it
    answer = batch(api, {"messages": messages})
    # Then every message has its own result, in order
    assert answer.status_code == 200
    payload = answer.json()
    results = payload["results"]
    assert [r["index"] for r in results] == list(range(6))
    assert [r["status"] for r in results] == [202, 200, 422, 403, 422, 202]
    assert (payload["accepted"], payload["duplicates"], payload["rejected"]) == (2, 1, 3)
    first, again = results[0], results[1]
    assert first["message_id"] == again["message_id"] and again["duplicate"] is True
    assert first["duplicate"] is False and results[5]["message_id"] != first["message_id"]
    assert results[2]["error"] == "invalid_message"
    assert [p["path"] for p in results[2]["problems"]] == ["subject"]
    assert results[3]["error"] == "sender_mismatch" and "quarantine_id" not in results[3]
    assert results[4]["error"] == "unroutable" and "nobody" in results[4]["zh"]
    # And the valid ones went to the hub in one call; the invalid and unroutable are quarantined
    assert fake_hub.batches == [4]
    bad, nobody = fake_hub.quarantined
    assert [results[2]["quarantine_id"], results[4]["quarantine_id"]] == [101, 102]
    assert bad.raw == body(invalid) and bad.source_id == "b-bad"
    assert [p.path for p in bad.problems] == ["subject"]
    assert nobody.source_id == "b-nobody" and "nobody" in nobody.problems[0].en


def test_items_that_are_not_objects_or_are_classified_are_refused_and_quarantined(
    api: TestClient, fake_hub: FakeHub
) -> None:
    secret = approval("b-secret", classification={"level": "secret"})
    with capture_logs() as logs:
        answer = batch(api, {"messages": [42, secret]})
    results = answer.json()["results"]
    assert [(r["status"], r["error"]) for r in results] == [(422, "invalid_message")] * 2
    assert "source.channel" in {p["path"] for p in results[1]["problems"]}
    alarms = [e for e in logs if e["event"] == "security.classified_online"]
    assert len(alarms) == 1 and alarms[0]["department"] == "xzsp"
    assert len(fake_hub.quarantined) == 2 and not fake_hub.accepted
    assert fake_hub.batches == []  # nothing valid: the hub is not called


def test_a_message_over_the_single_push_limit_is_413_in_its_result(
    api: TestClient, fake_hub: FakeHub
) -> None:
    big = approval("b-big")
    big["body"]["licence"]["content"] = "经营项目" * 2000  # ~24 KB, single limit 4 KiB
    results = batch(api, {"messages": [big, approval("b-small")]}).json()["results"]
    assert [r["status"] for r in results] == [413, 202]
    assert results[0]["error"] == "payload_too_large" and "4096" in results[0]["zh"]
    assert not fake_hub.quarantined


def test_more_than_max_batch_messages_is_413_and_nothing_is_accepted(
    fake_hub: FakeHub, clock: ManualClock
) -> None:
    app = create_app(fake_hub, config=PlatformConfig(max_body_bytes=4096), clock=clock, max_batch=3)
    with TestClient(app) as api:
        answer = batch(api, {"messages": [approval(f"b-{i}") for i in range(4)]})
        assert answer.status_code == 413
        assert answer.json()["error"] == "too_many_messages"
        assert "3" in answer.json()["zh"] and "at most 3" in answer.json()["en"]
        assert batch(api, {"messages": [approval(f"b-{i}") for i in range(3)]}).status_code == 200
    assert fake_hub.batches == [3] and not fake_hub.quarantined


def test_the_default_batch_takes_500(api: TestClient, fake_hub: FakeHub) -> None:
    # 501 tiny items: refused before any is screened (the limit is on the count, not the bytes)
    assert batch(api, {"messages": [{}] * 501}).json()["error"] == "too_many_messages"
    answer = batch(api, {"messages": [{}] * 500})
    assert answer.status_code == 200 and answer.json()["rejected"] == 500


def test_the_batch_body_limit_scales_with_the_single_limit(api: TestClient) -> None:
    # 4 KiB × 500 = 2,048,000 bytes for the test app
    answer = batch(api, b'{"messages": ["' + b"x" * 2_100_000 + b'"]}')
    assert answer.status_code == 413 and "2048000" in answer.json()["zh"]


def test_a_body_of_another_shape_is_refused_and_quarantined(
    api: TestClient, fake_hub: FakeHub
) -> None:
    for payload, status in ((approval("b-x"), 422), ([approval("b-y")], 422), (b"{", 400)):
        answer = batch(api, payload)
        assert answer.status_code == status
        assert answer.json()["quarantine_id"] == 100 + len(fake_hub.quarantined)
    assert not fake_hub.accepted and fake_hub.batches == []


def test_an_empty_batch_is_fine(api: TestClient) -> None:
    answer = batch(api, {"messages": []})
    assert answer.json() == {"results": [], "accepted": 0, "duplicates": 0, "rejected": 0}


def test_the_batch_needs_a_token(api: TestClient, fake_hub: FakeHub) -> None:
    answer = api.post("/messages:batch", content=body({"messages": []}), headers=JSON)
    assert answer.status_code == 401 and not fake_hub.quarantined


def test_openapi_documents_the_batch_answer(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    batch_op = schema["paths"]["/messages:batch"]["post"]
    ok = batch_op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"] == "#/components/schemas/BatchOut"
    item = schema["components"]["schemas"]["BatchItemOut"]["properties"]
    assert {"index", "status", "message_id", "quarantine_id", "problems"} <= set(item)
    body_schema = batch_op["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["properties"]["messages"]["maxItems"] == 500
    assert {"413", "422"} <= set(batch_op["responses"])
