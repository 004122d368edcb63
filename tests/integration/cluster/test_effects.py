"""The effect counter the cluster and crash tests rely on, fed through a real department sink.

Each case posts callbacks (department, delivery, message, purpose, Idempotency-Key) over HTTP
to ``DepartmentEndpoint`` and states the problems ``Effects.check`` must report against the
expected targets, and the raw repeats it must count. The planted duplicates are the faults the
cluster's "dup effects" column exists to see: if the counter could not see them, the column
could never fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.servers import DepartmentEndpoint, ServerThread, Target


@dataclass(frozen=True)
class Call:
    department: str
    delivery: str
    message: str
    purpose: str = "push"
    key: str | None = None  # default: the hub's <delivery>:<purpose>:<about>
    about: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Idempotency-Key": self.key or f"{self.delivery}:{self.purpose}:{self.about or ''}"}

    def body(self) -> dict[str, object]:
        return {
            "delivery_id": self.delivery,
            "purpose": self.purpose,
            "about_department_id": self.about,
            "message": {"message_id": self.message},
        }


A = Call("scjg", "D1", "M1")
B = Call("scjg", "D2", "M2")
ESC_1 = Call("xzsp", "D1", "M1", "escalation", about="scjg")
ESC_2 = Call("zf", "D1", "M1", "escalation", about="scjg")  # next chain step, same key
PUSHES = [("scjg", "D1", "push"), ("scjg", "D2", "push")]

CASES: list[tuple[str, list[Call], list[Target], list[str], int]] = [
    # name, callbacks received, expected targets, problems (substrings, in order), raw repeats
    ("one effect each", [A, B], PUSHES, [], 0),
    ("a key received again is a raw repeat", [A, A, B, A], PUSHES, [], 2),
    (
        "planted: second key for the same delivery and purpose",
        [A, B, Call("scjg", "D1", "M1", key="D1:push:planted")],
        PUSHES,
        ["('scjg', 'D1', 'push'): 2 distinct Idempotency-Keys"],
        0,
    ),
    (
        "planted: second delivery of one message to one department",
        [A, Call("scjg", "D9", "M1")],
        [*PUSHES[:1], ("scjg", "D9", "push")],
        ["('scjg', 'M1/', 'push'): 2 deliveries ['D1', 'D9']"],
        0,
    ),
    ("an expected effect never came", [A], PUSHES, ["missing ('scjg', 'D2', 'push')"], 0),
    (
        "an effect nobody expected",
        [A, B, Call("zjj", "D3", "M3")],
        PUSHES,
        ["unexpected ('zjj', 'D3', 'push')"],
        0,
    ),
    (
        "one key at two departments is one effect at each",
        [A, ESC_1, ESC_2],
        [PUSHES[0], ("xzsp", "D1", "escalation"), ("zf", "D1", "escalation")],
        [],
        0,
    ),
]


@pytest.fixture
def sink() -> Iterator[tuple[DepartmentEndpoint, httpx.Client]]:
    departments = DepartmentEndpoint()
    with (
        ServerThread(departments.app()) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield departments, client


def _post(client: httpx.Client, call: Call) -> None:
    response = client.post(f"/dept/{call.department}", json=call.body(), headers=call.headers())
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("calls", "expected", "problems", "repeats"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_effects_check(
    sink: tuple[DepartmentEndpoint, httpx.Client],
    calls: list[Call],
    expected: list[Target],
    problems: list[str],
    repeats: int,
) -> None:
    departments, client = sink
    for call in calls:
        _post(client, call)
    effects = departments.effects()
    found = effects.check(expected, {t[2] for t in expected} | {c.purpose for c in calls})
    assert len(found) == len(problems), found
    for text, wanted in zip(found, problems, strict=True):
        assert wanted in text, (text, wanted)
    assert effects.raw_repeats() == repeats


def test_wait_for_counts_effects_not_raw_callbacks(
    sink: tuple[DepartmentEndpoint, httpx.Client],
) -> None:
    departments, client = sink
    _post(client, A)
    _post(client, A)  # a raw repeat must not pass for a second push
    with pytest.raises(AssertionError, match="2 'push' callbacks; got 1"):
        departments.wait_for("push", count=2, timeout=0.2)
    _post(client, B)
    assert [c["delivery_id"] for c in departments.wait_for("push", count=2)] == ["D1", "D2"]
    assert len(departments.of("push")) == 3
