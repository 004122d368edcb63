"""Unexpected errors on the API: JSON 503 in the common shape, logged with the request id.

Every answer carries ``X-Request-ID``: the client's own when it is sane, else a fresh one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from tests.unit.platform.conftest import APPROVAL, FakeHub, auth, body, sample

JSON = {"Content-Type": "application/json"}
SECRET = "梁山县水泊人家餐饮管理有限公司"  # a party name, as in an SQL statement's parameters


def _db_down(*args: object, **kwargs: object) -> Any:
    raise OperationalError(
        "INSERT INTO messages (subject) VALUES (%(subject)s)",
        {"subject": SECRET},
        Exception("connection to server at 127.0.0.1 port 5432 failed"),
    )


def _bug(*args: object, **kwargs: object) -> Any:
    raise RuntimeError(f"bug while handling {SECRET}")


CALLS: list[tuple[str, str, str, Callable[..., Any]]] = [
    # (hub method that fails, HTTP method, path, the failure)
    ("accept", "POST", "/messages", _db_down),
    ("accept", "POST", "/messages", _bug),
    ("claim", "POST", "/deliveries/D1/claim", _db_down),
    ("delivery_view", "GET", "/deliveries/D1", _bug),
    ("authenticate", "GET", "/deliveries/D1", _db_down),
]


def _request(api: TestClient, method: str, path: str, **headers: str) -> Any:
    department = "xzsp" if path == "/messages" else "scjg"
    content = body(sample(APPROVAL)) if path == "/messages" else None
    all_headers = {**JSON, **auth(department), **headers}
    return api.request(method, path, content=content, headers=all_headers)


@pytest.mark.parametrize(
    ("broken", "method", "path", "failure"),
    CALLS,
    ids=[f"{b}-{f.__name__.strip('_')}" for b, _, _, f in CALLS],
)
def test_an_unexpected_error_is_json_503_logged_with_the_request_id(
    api: TestClient,
    fake_hub: FakeHub,
    monkeypatch: pytest.MonkeyPatch,
    broken: str,
    method: str,
    path: str,
    failure: Callable[..., Any],
) -> None:
    # Given a hub whose method fails unexpectedly
    monkeypatch.setattr(fake_hub, broken, failure)
    # When a department calls the API
    with capture_logs() as logs:
        answer = _request(api, method, path)
    # Then it gets JSON 503 in the common shape, with the request id in body and header
    assert answer.status_code == 503
    payload = answer.json()
    assert set(payload) == {"error", "zh", "en", "request_id"}
    assert payload["error"] == "service_unavailable"
    request_id = answer.headers["X-Request-ID"]
    assert payload["request_id"] == request_id and request_id in payload["zh"]
    # And the error is logged once as api.error with that id, without the error's text
    (logged,) = [e for e in logs if e["event"] == "api.error"]
    assert logged["request_id"] == request_id and logged["log_level"] == "error"
    assert (logged["method"], logged["path"]) == (method, path)
    assert SECRET not in answer.text and SECRET not in repr(logs)
    assert not fake_hub.quarantined  # our failure, not the sender's: nothing quarantined


@pytest.mark.parametrize(
    ("failure", "error_type"),
    [(_db_down, "sqlalchemy.exc.OperationalError"), (_bug, "builtins.RuntimeError")],
)
def test_the_log_names_the_error_type_and_where_it_happened(
    api: TestClient,
    fake_hub: FakeHub,
    monkeypatch: pytest.MonkeyPatch,
    failure: Callable[..., Any],
    error_type: str,
) -> None:
    monkeypatch.setattr(fake_hub, "accept", failure)
    with capture_logs() as logs:
        _request(api, "POST", "/messages")
    (logged,) = [e for e in logs if e["event"] == "api.error"]
    assert logged["error_type"] == error_type
    assert failure.__name__ in logged["traceback"]


def test_a_sane_client_request_id_is_kept(
    api: TestClient, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_hub, "accept", _bug)
    with capture_logs() as logs:
        answer = _request(api, "POST", "/messages", **{"X-Request-ID": "sghd-2026.09:15_0031"})
    assert answer.headers["X-Request-ID"] == "sghd-2026.09:15_0031"
    assert answer.json()["request_id"] == "sghd-2026.09:15_0031"
    assert [e["request_id"] for e in logs if e["event"] == "api.error"] == ["sghd-2026.09:15_0031"]


@pytest.mark.parametrize(
    "given", ["", "has space", "x" * 129, "-leading-dash", "a;b", "<script>", "%0d%0a"]
)
def test_an_insane_client_request_id_is_replaced(api: TestClient, given: str) -> None:
    answer = _request(api, "GET", "/deliveries/D1", **{"X-Request-ID": given})
    assert answer.status_code == 200
    assert answer.headers["X-Request-ID"] != given
    assert len(answer.headers["X-Request-ID"]) == 32  # a fresh uuid4, hex


@pytest.mark.parametrize(
    ("method", "path", "department", "status"),
    [
        ("POST", "/messages", "xzsp", 202),
        ("GET", "/deliveries/D1", "scjg", 200),
        ("GET", "/deliveries/NOPE", "scjg", 404),
        ("GET", "/deliveries/D2", "scjg", 403),
        ("GET", "/nowhere", "scjg", 404),
    ],
)
def test_every_answer_carries_a_request_id_and_keeps_its_shape(
    api: TestClient, method: str, path: str, department: str, status: int
) -> None:
    content = body(sample(APPROVAL)) if method == "POST" else None
    headers = {**JSON, **auth(department)}
    first = api.request(method, path, content=content, headers=headers)
    second = api.request(method, path, content=content, headers=headers)
    assert first.status_code == status
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    if status >= 400:
        assert set(first.json()) == {"error", "zh", "en"}


def test_unauthenticated_answers_carry_a_request_id_too(api: TestClient) -> None:
    answer = api.get("/deliveries/D1")
    assert answer.status_code == 401 and answer.headers["X-Request-ID"]
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_log_lines_during_a_request_carry_its_id(api: TestClient) -> None:
    # auth.failed is logged by the endpoint's dependency, in FastAPI's thread pool
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        answer = api.get("/deliveries/D1", headers={"X-Request-ID": "trace-me-1"})
    assert answer.status_code == 401
    assert [(e["event"], e["request_id"]) for e in logs] == [("auth.failed", "trace-me-1")]


def test_openapi_documents_the_503(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert "503" in paths["/messages"]["post"]["responses"]
    assert "503" in paths["/deliveries/{delivery_id}/claim"]["post"]["responses"]
