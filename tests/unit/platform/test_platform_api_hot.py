"""The hot requests (``POST /messages``, a body-less claim) skip FastAPI's routing and
dependency solving and answer exactly as the FastAPI routes do; everything else goes on to
FastAPI. (Every other API test exercises the hot path too: they go through the same app.)"""

from __future__ import annotations

from typing import Any

import fastapi.routing
import pytest
from fastapi.testclient import TestClient

from tests.unit.platform.conftest import APPROVAL, FakeHub, auth, body, sample


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths FastAPI solved dependencies for (its routing and endpoint machinery ran)."""
    calls: list[str] = []
    real = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["request"].url.path)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return calls


def test_a_push_and_a_bare_claim_skip_fastapi(api: TestClient, solved: list[str]) -> None:
    push = sample(APPROVAL)
    answer = api.post(
        "/messages",
        content=body(push),
        headers={**auth(push["sender"]["department_id"]), "Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.text
    assert "X-Request-ID" in answer.headers
    claimed = api.post("/deliveries/D1/claim", headers=auth("scjg"))
    assert claimed.status_code == 200
    assert solved == []


def test_a_claim_with_a_body_and_other_paths_go_through_fastapi(
    api: TestClient, solved: list[str], fake_hub: FakeHub
) -> None:
    answer = api.post("/deliveries/D1/claim", json={"actor": "张三"}, headers=auth("scjg"))
    assert answer.status_code == 200
    assert fake_hub.actions[-1][3] == "张三"
    assert api.get("/deliveries/D1", headers=auth("scjg")).status_code in (200, 404)
    assert solved == ["/deliveries/D1/claim", "/deliveries/D1"]


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, 401, "unauthorized"),
        ({**auth("scjg"), "Content-Type": "text/plain"}, 415, "unsupported_media_type"),
    ],
)
def test_refusals_on_the_hot_path_are_fastapis(
    api: TestClient, solved: list[str], headers: dict[str, str], status: int, error: str
) -> None:
    answer = api.post("/messages", content=b"{}", headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    if status == 401:
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert solved == []
