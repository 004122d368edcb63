"""The HTTP API over an in-memory hub: every status code path, quarantine, spoofing, limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from hub.message import Channel
from tests.unit.platform.conftest import (
    APPROVAL,
    APPROVAL_PUSH,
    NOW,
    SUSPENSION,
    FakeHub,
    auth,
    body,
    changed,
    sample,
)

JSON = {"Content-Type": "application/json"}


def post(api: TestClient, path: str, content: bytes, department: str | None = "xzsp",
         **headers: str) -> Any:  # fmt: skip
    all_headers = {**JSON, **(auth(department) if department else {}), **headers}
    return api.post(path, content=content, headers=all_headers)


# --- health and authentication -----------------------------------------------------------------


def test_healthz_needs_no_token(api: TestClient) -> None:
    answer = api.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"ok": True})


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}, {"Authorization": ""}],
    ids=["missing", "unknown", "not bearer", "empty"],
)
def test_push_without_a_valid_token_is_401(
    api: TestClient, fake_hub: FakeHub, headers: dict[str, str]
) -> None:
    answer = api.post("/messages", content=body(sample(APPROVAL)), headers={**JSON, **headers})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["error"] == "unauthorized"
    assert "nope" not in answer.text  # the token is never echoed
    assert not fake_hub.accepted and not fake_hub.quarantined  # strangers fill no quarantine


def test_failed_authentication_is_logged_without_the_token(api: TestClient) -> None:
    with capture_logs() as logs:
        api.get("/deliveries/D1", headers={"Authorization": "Bearer secret-token-123"})
    assert [e["event"] for e in logs] == ["auth.failed"]
    assert "secret-token-123" not in json.dumps(logs, default=str)


# --- POST /messages ------------------------------------------------------------------------------


def test_valid_push_is_accepted_202_then_duplicate_200(api: TestClient, fake_hub: FakeHub) -> None:
    first = post(api, "/messages", body(sample(APPROVAL)))
    assert first.status_code == 202
    assert first.json()["duplicate"] is False
    (message,) = fake_hub.accepted.values()
    assert first.json()["message_id"] == message.message_id
    again = post(api, "/messages", body(sample(APPROVAL)))
    assert (again.status_code, again.json()["duplicate"]) == (200, True)


def test_supervision_push_by_its_sender(api: TestClient) -> None:
    assert post(api, "/messages", body(sample(SUSPENSION)), department="scjg").status_code == 202


def test_pushing_in_another_departments_name_is_403(api: TestClient, fake_hub: FakeHub) -> None:
    # Given a message from xzsp, When scjg pushes it with its own token
    with capture_logs() as logs:
        answer = post(api, "/messages", body(sample(APPROVAL)), department="scjg")
    # Then it is refused as spoofing, not accepted, and logged as a security event
    assert answer.status_code == 403
    assert answer.json()["error"] == "sender_mismatch"
    assert "sender.department_id" in answer.json()["en"]
    assert not fake_hub.accepted
    assert any(e["event"] == "security.sender_spoofed" for e in logs)


def test_invalid_message_lists_every_problem_and_is_quarantined(
    api: TestClient, fake_hub: FakeHub
) -> None:
    data = sample(APPROVAL)
    data["subject"] = ""
    data["body"]["party"]["uscc"] = "91370832MA3C4R7K7X"
    data["occurred_at"] = "2026-09-15 10:12"
    data["extra"] = 1
    answer = post(api, "/messages", body(data))
    assert answer.status_code == 422
    payload = answer.json()
    assert payload["error"] == "invalid_message"
    paths = {p["path"] for p in payload["problems"]}
    assert paths == {"subject", "body.party.uscc", "occurred_at", "extra"}
    assert all(p["zh"] and p["en"] for p in payload["problems"])
    (quarantined,) = fake_hub.quarantined
    assert payload["quarantine_id"] == 101
    assert quarantined.channel is Channel.PLATFORM
    assert quarantined.raw == body(data)
    assert {p.path for p in quarantined.problems} == paths
    assert quarantined.source_id == "SGHD-370832-20260915-0031"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("occurred_at",), "0001-01-01T00:00:00Z"),
        (("occurred_at",), "9999-12-31T23:59:59-10:00"),
        (("source", "received_at"), "0001-01-01T00:00:00+08:00"),
        (("body", "licence", "decision_date"), "0001-01-01"),
        (("body", "licence", "valid_until"), "9999-12-31"),
    ],
)
def test_implausible_dates_are_refused_at_ingest_and_quarantined(
    api: TestClient, fake_hub: FakeHub, path: tuple[str, ...], value: str
) -> None:
    # Given a push dated with a placeholder (accepted with 202 before, then unroutable forever)
    data = sample(APPROVAL)
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    # When it is pushed, Then it is refused with the field named, and quarantined
    answer = post(api, "/messages", body(data))
    assert answer.status_code == 422
    assert [p["path"] for p in answer.json()["problems"]] == [".".join(path)]
    assert not fake_hub.accepted
    (quarantined,) = fake_hub.quarantined
    assert answer.json()["quarantine_id"] == 101 and quarantined.raw == body(data)


def test_unroutable_message_is_422_and_quarantined(api: TestClient, fake_hub: FakeHub) -> None:
    data = sample(APPROVAL)
    data["recipients"] = ["nobody"]
    answer = post(api, "/messages", body(data))
    assert answer.status_code == 422
    payload = answer.json()
    assert payload["error"] == "unroutable"
    assert "nobody" in payload["zh"] and payload["en"] == "unknown department 'nobody'"
    assert payload["quarantine_id"] == 101
    (quarantined,) = fake_hub.quarantined
    assert quarantined.problems[0].en == "unknown department 'nobody'"


def test_classified_content_is_refused_even_when_it_claims_to_be_paper(
    api: TestClient, fake_hub: FakeHub
) -> None:
    data = sample(APPROVAL)
    data["classification"] = {"level": "secret"}
    data["source"]["channel"] = "paper"
    with capture_logs() as logs:
        answer = post(api, "/messages", body(data))
    assert answer.status_code == 422
    assert [p["path"] for p in answer.json()["problems"]] == ["classification.level"]
    assert not fake_hub.accepted and len(fake_hub.quarantined) == 1
    assert any(e["event"] == "security.classified_online" for e in logs)


@pytest.mark.parametrize(
    ("raw", "error", "quarantined"),
    [
        (b'{"kind": "approval_decision",', "invalid_json", True),
        ('{"subject": "审批"}'.encode("gbk"), "invalid_encoding", True),
        (b"", "invalid_json", False),
        (b"[" * 100_000 + b"]" * 100_000, "payload_too_large", False),
    ],
    ids=["malformed", "gbk", "empty", "too large"],
)
def test_bodies_that_are_not_json(
    api: TestClient, fake_hub: FakeHub, raw: bytes, error: str, quarantined: bool
) -> None:
    answer = post(api, "/messages", raw)
    assert answer.status_code == (413 if error == "payload_too_large" else 400)
    assert answer.json()["error"] == error
    assert answer.json()["zh"] and answer.json()["en"]
    assert bool(fake_hub.quarantined) is quarantined


def test_deeply_nested_json_within_the_limit_is_400_not_500(api: TestClient) -> None:
    answer = post(api, "/messages", b"[" * 2000 + b"]" * 2000)
    assert answer.status_code in (400, 422)


@pytest.mark.parametrize("raw", [b"[]", b"42", b'"text"', b"null"])
def test_json_that_is_not_an_object_is_422(api: TestClient, raw: bytes) -> None:
    answer = post(api, "/messages", raw)
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid_message")


def test_oversized_body_is_413_with_a_clear_message(api: TestClient, fake_hub: FakeHub) -> None:
    data = sample(APPROVAL)
    data["body"]["licence"]["content"] = "经营项目" * 2000  # ~24 KB, limit 4 KiB
    answer = post(api, "/messages", body(data))
    assert answer.status_code == 413
    assert "4096" in answer.json()["zh"] and "references" in answer.json()["en"]
    assert not fake_hub.quarantined


def test_oversized_chunked_body_without_content_length_is_413(api: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    answer = api.post("/messages", content=chunks(), headers={**JSON, **auth("xzsp")})
    assert answer.status_code == 413


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=gbk",
        "",
        "application/jsonx",
    ],
)
def test_wrong_content_type_is_415(api: TestClient, content_type: str) -> None:
    headers = {**auth("xzsp"), "Content-Type": content_type}
    answer = api.post("/messages", content=body(sample(APPROVAL)), headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON;charset=UTF-8", "application/json; v=1"],
)
def test_json_with_utf8_charset_is_fine(api: TestClient, content_type: str) -> None:
    headers = {**auth("xzsp"), "Content-Type": content_type}
    answer = api.post("/messages", content=body(sample(APPROVAL)), headers=headers)
    assert answer.status_code == 202


# --- POST /platform/messages ----------------------------------------------------------------------


def test_platform_push_is_normalized_and_accepted(api: TestClient, fake_hub: FakeHub) -> None:
    answer = post(api, "/platform/messages", body(APPROVAL_PUSH))
    assert answer.status_code == 202
    (message,) = fake_hub.accepted.values()
    assert message.source.channel is Channel.PLATFORM
    assert message.source.received_at == NOW  # the hub's clock, not the platform's tssj
    assert message.source.source_id == APPROVAL_PUSH["ywlsh"]


def test_invalid_platform_push_names_platform_keys(api: TestClient, fake_hub: FakeHub) -> None:
    data = changed(APPROVAL_PUSH, xdr_tyshxydm="bad", sxmc=None, foo="x")
    answer = post(api, "/platform/messages", body(data))
    assert answer.status_code == 422
    assert {p["path"] for p in answer.json()["problems"]} == {"xdr_tyshxydm", "sxmc", "foo"}
    assert fake_hub.quarantined[0].source_id == APPROVAL_PUSH["ywlsh"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("xkrq", "0001-01-01"), ("yxqz", "9999-12-31"), ("fssj", "0001-01-01 00:00:00")],
)
def test_implausible_platform_dates_name_the_platform_key(
    api: TestClient, fake_hub: FakeHub, key: str, value: str
) -> None:
    answer = post(api, "/platform/messages", body(changed(APPROVAL_PUSH, **{key: value})))
    assert answer.status_code == 422
    assert key in {p["path"] for p in answer.json()["problems"]}
    assert not fake_hub.accepted and len(fake_hub.quarantined) == 1


def test_platform_push_in_another_departments_name_is_403(api: TestClient) -> None:
    answer = post(api, "/platform/messages", body(APPROVAL_PUSH), department="wjj")
    assert answer.status_code == 403
    assert "tsbm" in answer.json()["zh"]


def test_unroutable_platform_push(api: TestClient) -> None:
    answer = post(api, "/platform/messages", body(changed(APPROVAL_PUSH, jsbm=["nobody"])))
    assert (answer.status_code, answer.json()["error"]) == (422, "unroutable")


# --- deliveries ---------------------------------------------------------------------------------


def test_department_sees_its_own_delivery(api: TestClient) -> None:
    answer = api.get("/deliveries/D1", headers=auth("scjg"))
    assert answer.status_code == 200
    assert answer.json()["claim_state"] == "pending"
    assert answer.json()["claim_due"] == "2026-09-16T10:30:00+08:00"


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", "/deliveries/D2", None),
        ("POST", "/deliveries/D2/claim", None),
        ("POST", "/deliveries/D2/objection", {"reason": "不属于本部门职责"}),
        ("POST", "/deliveries/D2/reply", {"text": "已处理"}),
    ],
)
def test_another_departments_delivery_is_403(
    api: TestClient, fake_hub: FakeHub, method: str, path: str, payload: Any
) -> None:
    answer = api.request(method, path, json=payload, headers=auth("scjg"))
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")
    assert answer.json()["zh"] == "不是本部门的推送"
    assert not fake_hub.actions


@pytest.mark.parametrize("path", ["/deliveries/NOPE", "/deliveries/NOPE/claim"])
def test_unknown_delivery_is_404(api: TestClient, path: str) -> None:
    method = "GET" if path.count("/") == 2 else "POST"
    answer = api.request(method, path, headers=auth("scjg"))
    assert (answer.status_code, answer.json()["error"]) == (404, "not_found")


@pytest.mark.parametrize("path", ["/deliveries/D1", "/deliveries/D1/claim"])
def test_deliveries_need_a_token(api: TestClient, path: str) -> None:
    method = "GET" if path.count("/") == 2 else "POST"
    answer = api.request(method, path)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_claim_without_body_then_again_is_409(api: TestClient, fake_hub: FakeHub) -> None:
    first = api.post("/deliveries/D1/claim", headers=auth("scjg"))
    assert first.status_code == 200
    assert first.json() == {"delivery_id": "D1", "state": "claimed", "at": NOW.isoformat(),
                            "late": False, "note_zh": "已记录"}  # fmt: skip
    assert fake_hub.actions == [("claim", "D1", "scjg", "api:scjg", Channel.PLATFORM)]
    again = api.post("/deliveries/D1/claim", headers=auth("scjg"))
    assert (again.status_code, again.json()["error"]) == (409, "state_conflict")


def test_claim_with_actor(api: TestClient, fake_hub: FakeHub) -> None:
    answer = api.post("/deliveries/D1/claim", json={"actor": " 赵明 "}, headers=auth("scjg"))
    assert answer.status_code == 200
    assert fake_hub.actions[0][3] == "赵明"


def test_objection_and_reply(api: TestClient, fake_hub: FakeHub) -> None:
    objection = {"reason": "该事项不属于本部门监管范围", "actor": "赵明"}
    assert (
        api.post("/deliveries/D1/objection", json=objection, headers=auth("scjg")).status_code
        == 200
    )
    reply = api.post("/deliveries/D1/reply", json={"text": "已核实"}, headers=auth("scjg"))
    assert (reply.status_code, reply.json()["state"]) == (200, "replied")
    assert [a[0] for a in fake_hub.actions] == ["objection", "reply"]


@pytest.mark.parametrize(
    ("path", "payload", "paths"),
    [
        ("/deliveries/D1/objection", {}, ["reason"]),
        ("/deliveries/D1/objection", {"reason": "   "}, ["reason"]),
        ("/deliveries/D1/objection", {"reason": "理" * 2001}, ["reason"]),
        ("/deliveries/D1/objection", {"reason": 5, "actor": ""}, ["reason", "actor"]),
        ("/deliveries/D1/reply", {"answer": "x"}, ["text", "answer"]),
        ("/deliveries/D1/claim", {"who": "x"}, ["who"]),
        ("/deliveries/D1/claim", [1], [""]),
    ],
)
def test_invalid_action_bodies_are_422_with_every_problem(
    api: TestClient, fake_hub: FakeHub, path: str, payload: Any, paths: list[str]
) -> None:
    answer = api.post(path, json=payload, headers=auth("scjg"))
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")
    assert sorted(p["path"] for p in answer.json()["problems"]) == sorted(paths)
    assert all(p["zh"] and p["en"] for p in answer.json()["problems"])
    assert not fake_hub.actions


def test_malformed_action_json_is_400(api: TestClient) -> None:
    headers = {**auth("scjg"), **JSON}
    answer = api.post("/deliveries/D1/objection", content=b'{"reason": ', headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_json")


def test_unknown_path_and_wrong_method_answer_in_the_same_shape(api: TestClient) -> None:
    missing = api.get("/nothing-here")
    assert (missing.status_code, missing.json()["error"]) == (404, "http_404")
    assert missing.json()["zh"] == "接口不存在"
    wrong = api.get("/messages", headers=auth("xzsp"))
    assert (wrong.status_code, wrong.json()["error"]) == (405, "http_405")


# --- OpenAPI -------------------------------------------------------------------------------------


def test_openapi_documents_every_endpoint_and_the_canonical_message(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    assert schema["info"]["title"] == "审管互动 Hub API"
    assert "quarantine" in schema["info"]["description"]
    assert set(schema["paths"]) == {
        "/messages", "/messages:batch", "/platform/messages", "/deliveries/{delivery_id}",
        "/deliveries/{delivery_id}/claim", "/deliveries/{delivery_id}/objection",
        "/deliveries/{delivery_id}/reply", "/healthz",
    }  # fmt: skip
    components = schema["components"]
    assert "CanonicalMessage" in components["schemas"]
    assert "ApprovalDecisionBody" in components["schemas"]
    assert components["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    push = schema["paths"]["/messages"]["post"]
    assert set(push["responses"]) >= {"200", "202", "400", "401", "403", "413", "415", "422"}
    ref = push["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/CanonicalMessage"
    assert api.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("path", "raw", "problem"),
    [
        ("/messages", body({**sample(APPROVAL), "classification": {"level": "top_secret"}}),
         "source.channel"),
        ("/platform/messages", body(changed(APPROVAL_PUSH, mj="机密")), "mj"),
    ],
)  # fmt: skip
def test_classified_content_arriving_online_raises_a_security_alarm(
    api: TestClient, fake_hub: FakeHub, path: str, raw: bytes, problem: str
) -> None:
    with capture_logs() as logs:
        answer = post(api, path, raw)
    assert answer.status_code == 422
    assert problem in {p["path"] for p in answer.json()["problems"]}
    alarms = [e for e in logs if e["event"] == "security.classified_online"]
    assert len(alarms) == 1 and alarms[0]["log_level"] == "error"
    assert len(fake_hub.quarantined) == 1 and not fake_hub.accepted
