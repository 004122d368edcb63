"""Fixtures for the platform channel: an in-memory HubApi, the API client, sample messages."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

import hub
from adapters.platform import PlatformConfig, create_app
from hub.clock.now import ManualClock
from hub.core.api import Accepted, ActionResult, DeliveryView
from hub.errors import (
    FieldProblem,
    ForbiddenError,
    NotFoundError,
    RoutingError,
    StateConflictError,
)
from hub.message import CanonicalMessage, Channel

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 9, 15, 10, 30, tzinfo=TZ)
SAMPLES = Path(hub.__file__).parent / "samples"
TOKENS = {"tok-xzsp": "xzsp", "tok-scjg": "scjg", "tok-wjj": "wjj"}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def sample(relative: str) -> dict[str, Any]:
    """A shipped sample message as a fresh dict."""
    data: dict[str, Any] = json.loads((SAMPLES / relative).read_text(encoding="utf-8"))
    return data


APPROVAL = "liangshan/01-approval_decision-food-licence.json"  # xzsp → scjg
SUSPENSION = "liangshan/02-supervision_info-suspension.json"  # scjg → xzsp


@dataclass
class Quarantined:
    channel: Channel
    raw: bytes
    problems: list[FieldProblem]
    source_id: str


@dataclass
class FakeDelivery:
    department_id: str
    claim: str = "pending"
    objection: str = "open"
    reply: str = "open"


def _off_the_loop() -> None:
    """Fail when a synchronous hub method is called on a running event loop (the API must use
    the async twins, or hop to a thread for the rare paths)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise AssertionError("a synchronous hub method was called on the event loop")


@dataclass
class FakeHub:
    """An in-memory ``HubApi``: tokens, known departments, deliveries, what was accepted.

    Its async twins run the synchronous methods in a thread, like the real hub's; a synchronous
    method called on the event loop fails the test. ``batches`` records each ``accept_many``
    call's size (a batch push must be one call)."""

    departments: set[str] = field(default_factory=lambda: {"xzsp", "scjg", "wjj"})
    accepted: dict[str, CanonicalMessage] = field(default_factory=dict)
    quarantined: list[Quarantined] = field(default_factory=list)
    actions: list[tuple[str, str, str, str, Channel]] = field(default_factory=list)
    deliveries: dict[str, FakeDelivery] = field(
        default_factory=lambda: {"D1": FakeDelivery("scjg"), "D2": FakeDelivery("wjj")}
    )

    batches: list[int] = field(default_factory=list)

    def accept(self, message: CanonicalMessage) -> Accepted:
        _off_the_loop()
        for dept in (message.sender.department_id, *message.recipients):
            if dept not in self.departments:
                raise RoutingError(f"未知的部门 {dept!r} (unknown department {dept!r})")
        duplicate = message.message_id in self.accepted
        self.accepted[message.message_id] = message
        return Accepted(message.message_id, duplicate=duplicate)

    def quarantine_input(
        self, *, channel: Channel, raw: bytes, problems: list[FieldProblem], source_id: str = ""
    ) -> int:
        _off_the_loop()
        self.quarantined.append(Quarantined(channel, raw, list(problems), source_id))
        return 100 + len(self.quarantined)

    def authenticate(self, token: str) -> str | None:
        _off_the_loop()
        return TOKENS.get(token)

    def accept_many(self, messages: Sequence[CanonicalMessage]) -> list[Accepted | RoutingError]:
        self.batches.append(len(messages))
        results: list[Accepted | RoutingError] = []
        for message in messages:
            try:
                results.append(self.accept(message))
            except RoutingError as exc:
                results.append(exc)
        return results

    async def accept_async(self, message: CanonicalMessage) -> Accepted:
        return await asyncio.to_thread(self.accept, message)

    async def accept_many_async(
        self, messages: Sequence[CanonicalMessage]
    ) -> list[Accepted | RoutingError]:
        return await asyncio.to_thread(self.accept_many, messages)

    async def authenticate_async(self, token: str) -> str | None:
        return await asyncio.to_thread(self.authenticate, token)

    async def claim_async(self, delivery_id: str, *, department_id: str, actor: str,
                          channel: Channel,
                          at: dt.datetime | None = None) -> ActionResult:  # fmt: skip
        call = functools.partial(self.claim, delivery_id, department_id=department_id)
        return await asyncio.to_thread(call, actor=actor, channel=channel)

    async def object_async(self, delivery_id: str, *, department_id: str, reason: str,
                           actor: str, channel: Channel,
                           at: dt.datetime | None = None) -> ActionResult:  # fmt: skip
        call = functools.partial(self.object, delivery_id, department_id=department_id)
        return await asyncio.to_thread(call, reason=reason, actor=actor, channel=channel)

    async def reply_async(self, delivery_id: str, *, department_id: str, text: str, actor: str,
                          channel: Channel,
                          at: dt.datetime | None = None) -> ActionResult:  # fmt: skip
        call = functools.partial(self.reply, delivery_id, department_id=department_id)
        return await asyncio.to_thread(call, text=text, actor=actor, channel=channel)

    async def delivery_view_async(
        self, delivery_id: str, *, department_id: str | None = None
    ) -> DeliveryView:
        call = functools.partial(self.delivery_view, delivery_id, department_id=department_id)
        return await asyncio.to_thread(call)

    def _own(self, delivery_id: str, department_id: str | None) -> FakeDelivery:
        delivery = self.deliveries.get(delivery_id)
        if delivery is None:
            raise NotFoundError(f"推送 {delivery_id} 不存在", f"no delivery {delivery_id}")
        if department_id is not None and delivery.department_id != department_id:
            raise ForbiddenError("不是本部门的推送", "not your delivery")
        return delivery

    def _act(self, what: str, delivery_id: str, department_id: str, actor: str,
             channel: Channel) -> ActionResult:  # fmt: skip
        _off_the_loop()
        delivery = self._own(delivery_id, department_id)
        done = {"claim": "claimed", "objection": "objected", "reply": "replied"}[what]
        if getattr(delivery, what) == done:
            raise StateConflictError(f"已{done}", f"already {done}")
        setattr(delivery, what, done)
        self.actions.append((what, delivery_id, department_id, actor, channel))
        return ActionResult(delivery_id, done, at=NOW, note_zh="已记录")

    def claim(self, delivery_id: str, *, department_id: str, actor: str, channel: Channel,
              at: dt.datetime | None = None) -> ActionResult:  # fmt: skip
        return self._act("claim", delivery_id, department_id, actor, channel)

    def object(self, delivery_id: str, *, department_id: str, reason: str, actor: str,
               channel: Channel, at: dt.datetime | None = None) -> ActionResult:  # fmt: skip
        return self._act("objection", delivery_id, department_id, actor, channel)

    def reply(self, delivery_id: str, *, department_id: str, text: str, actor: str,
              channel: Channel, at: dt.datetime | None = None) -> ActionResult:  # fmt: skip
        return self._act("reply", delivery_id, department_id, actor, channel)

    def report_bounce(self, delivery_id: str, *, channel: Channel, reason: str) -> None:
        raise AssertionError("the API never reports bounces")

    def delivery_view(self, delivery_id: str, *, department_id: str | None = None) -> DeliveryView:
        _off_the_loop()
        delivery = self._own(delivery_id, department_id)
        return DeliveryView(
            delivery_id=delivery_id, message_id="M" + "a" * 25,
            department_id=delivery.department_id, route_id="approval",
            channels=("platform", "email"), transport_state="delivered",
            delivered_channel="platform", claim_state=delivery.claim,
            claim_due=NOW + dt.timedelta(days=1), on_timeout="auto_claim",
            objection_state=delivery.objection, objection_due=None,
            reply_state=delivery.reply, reply_due=None, provisional=False,
        )  # fmt: skip


@pytest.fixture
def fake_hub() -> FakeHub:
    return FakeHub()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def api(fake_hub: FakeHub, clock: ManualClock) -> Iterator[TestClient]:
    """The API over the fake hub, with a 4 KiB body limit."""
    app = create_app(fake_hub, config=PlatformConfig(max_body_bytes=4096), clock=clock)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


def auth(department: str) -> dict[str, str]:
    token = {v: k for k, v in TOKENS.items()}[department]
    return {"Authorization": f"Bearer {token}"}


def body(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def changed(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``data`` with top-level keys set (``None`` deletes the key)."""
    result = copy.deepcopy(data)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


APPROVAL_PUSH: dict[str, Any] = {
    "xxlx": "审批信息", "ywlsh": "SGHD-370832-20260915-0031", "tssj": "2026-09-15 10:12:41",
    "tsbm": "xzsp", "tsbm_mc": "梁山县行政审批服务局", "tsr": "李静", "tsr_lxdh": "0537-7321056",
    "jsbm": ["scjg"], "sxmc": "食品经营许可（新办）", "sxbm": "370832-SPJY-XK-001",
    "xdr_mc": "梁山县水泊人家餐饮管理有限公司", "xdr_tyshxydm": "91370832MA3C4R7K7J",
    "xdr_lxr": "王建国", "xdr_lxdh": "13953712345", "xdr_dz": "梁山县水泊街道水泊中路168号",
    "xkwh": "JY13708320012345", "xkzmc": "食品经营许可证", "xkrq": "2026-09-15",
    "yxqz": "2031-09-14", "xknr": "热食类食品制售",
}  # fmt: skip
"""A valid 审批信息 push in the platform format."""

SUPERVISION_PUSH: dict[str, Any] = {
    "xxlx": "监管信息", "ywlsh": "JGXX-370832-20260922-0007", "tssj": "2026-09-22 09:05:12",
    "tsbm": "scjg", "jsbm": "xzsp", "jglb": "责令停产停业", "xdr_mc": "梁山县宏达烧烤店",
    "xdr_tyshxydm": "92370832MA3D2N5P4C", "xkwh": "JY23708320009876",
    "cfjdswh": "梁市监处罚〔2026〕118号", "cfjdrq": "20260921", "jgnr": "责令停业整顿十五日。",
}  # fmt: skip
"""A valid 监管信息 (责令停产停业) push in the platform format."""
