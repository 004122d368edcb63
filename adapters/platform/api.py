"""The hub's HTTP API (platform channel): departments push messages and act on their deliveries.

Every call but ``/healthz`` needs ``Authorization: Bearer <department token>``; the token names
the department (``HubApi.authenticate``). A department pushes only in its own name and sees and
acts on only its own deliveries. Errors are JSON ``{"error", "zh", "en", …}``; input that cannot
be accepted is quarantined in the hub (``quarantine_id`` in the answer), never dropped.

    POST /messages                       canonical message JSON        202 / 200 duplicate
    POST /platform/messages              审管信息互动平台 push format   202 / 200 duplicate
    GET  /deliveries/{id}                the delivery's state and deadlines
    POST /deliveries/{id}/claim          认领   {"actor"?}
    POST /deliveries/{id}/objection      异议   {"reason", "actor"?}
    POST /deliveries/{id}/reply          答复   {"text", "actor"?}
    GET  /healthz

Push answers: 400 not UTF-8 JSON, 401 no token, 403 sender is not the token's department,
413 body too large, 415 not ``application/json``, 422 invalid (every problem listed) or
unroutable. Delivery answers: 401, 403 not yours, 404 unknown, 409 state does not allow it.
Anything unexpected (the ledger unreachable, a bug) is 503 ``service_unavailable``, logged as
``api.error``; every answer carries ``X-Request-ID`` (the client's own when it is sane).
Endpoints are plain ``def``: the hub is synchronous and FastAPI runs them in its thread pool.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Depends, FastAPI, Path, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.platform.api_schema import (
    ACTION_OK,
    ACTION_RESPONSES,
    CANONICAL_BODY,
    FIXED,
    PLATFORM_BODY,
    PUSH_RESPONSES,
    AcceptedOut,
    ApiError,
    ClaimIn,
    ObjectionIn,
    ReplyIn,
    RequestIdMiddleware,
    install_error_handlers,
)
from adapters.platform.config import PlatformConfig
from adapters.platform.normalize import normalize_platform
from hub.clock.now import Clock, SystemClock
from hub.core.api import HubApi
from hub.errors import FieldProblem, MessageError, RoutingError
from hub.message import CanonicalMessage, Channel, ClassificationLevel
from hub.validation import parse_message

log = structlog.get_logger(__name__)
PLATFORM = Channel.PLATFORM
_CLASSIFIED = {level.value for level in ClassificationLevel if level.is_classified} | {
    level.label for level in ClassificationLevel if level.is_classified
}

DESCRIPTION = """审管互动 Hub 接口：部门推送消息（审批信息、监管信息等），并对收到的推送认领、
提出异议或答复。除 /healthz 外须携带部门令牌 `Authorization: Bearer <token>`；部门只能以
本部门名义推送，只能查看和处理本部门的推送。无法受理的内容会被隔离登记（quarantine_id），不会丢失。

The 审管互动 Hub API: departments push messages (approval decisions, supervision information …)
and claim, object to or reply to what was pushed to them. Every call except /healthz needs a
department token. Input that cannot be accepted is quarantined (quarantine_id), never lost."""

TAGS = [
    {"name": "messages", "description": "推送消息 / push messages"},
    {"name": "deliveries", "description": "认领、异议、答复 / claim, object, reply"},
    {"name": "health", "description": "健康检查 / health check"},
]


@dataclass(frozen=True)
class Upload:
    """A request body read within the size limit, from an authenticated department."""

    department: str
    raw: bytes


@dataclass(frozen=True)
class _Format:
    """How one endpoint's body becomes a canonical message, and where its sender is named."""

    parse: Callable[[bytes], CanonicalMessage]
    sender_key: str
    source_id_path: tuple[str, ...]


def _hub(request: Request) -> HubApi:
    hub: HubApi = request.app.state.hub
    return hub


_bearer = HTTPBearer(auto_error=False, description="部门令牌 / department token")


def _department(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The department of the bearer token; 401 (with WWW-Authenticate) when absent or unknown."""
    department = _hub(request).authenticate(credentials.credentials) if credentials else None
    if department is None:
        log.info("auth.failed", path=request.url.path, token_given=credentials is not None)
        raise ApiError.fixed("unauthorized", headers={"WWW-Authenticate": "Bearer"})
    return department


Department = Annotated[str, Depends(_department)]
DeliveryId = Annotated[str, Path(min_length=1, max_length=128, description="推送编号 / id")]


async def _upload(request: Request, department: Department) -> Upload:
    """The raw JSON body: content type checked, read up to ``max_body_bytes`` (else 413)."""
    _check_content_type(request.headers.get("content-type", ""))
    config: PlatformConfig = request.app.state.platform_config
    limit = config.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return Upload(department, b"".join(chunks))


def _check_content_type(value: str) -> None:
    """415 unless ``application/json`` (or ``…+json``), UTF-8 when a charset is named."""
    media, *params = (part.strip().lower() for part in value.split(";"))
    charsets = [p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")]
    json_type = media == "application/json" or media.endswith("+json")
    if json_type and all(c in ("utf-8", "utf8") for c in charsets):
        return
    raise ApiError.fixed("unsupported_media_type")


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"请求体超过上限 {limit} 字节；附件请以引用（sha256、大小、类型）提交，不要内嵌文件内容",
        f"the body exceeds {limit} bytes; send attachments as references (sha256, size, type)",
    )


messages = APIRouter(tags=["messages"], responses=PUSH_RESPONSES)
deliveries = APIRouter(
    prefix="/deliveries/{delivery_id}", tags=["deliveries"], responses=ACTION_RESPONSES
)
health = APIRouter(tags=["health"])
Uploaded = Annotated[Upload, Depends(_upload)]


@messages.post(
    "/messages",
    status_code=202,
    response_model=AcceptedOut,
    openapi_extra=CANONICAL_BODY,
    summary="推送统一格式消息 / push a canonical message",
)
def post_message(request: Request, upload: Uploaded) -> JSONResponse:
    canonical = _Format(parse_message, "sender.department_id", ("source", "source_id"))
    return _ingest(_hub(request), upload, canonical)


@messages.post(
    "/platform/messages",
    status_code=202,
    response_model=AcceptedOut,
    openapi_extra=PLATFORM_BODY,
    summary="推送平台格式消息 / push in the platform format",
)
def post_platform_message(request: Request, upload: Uploaded) -> JSONResponse:
    clock: Clock = request.app.state.clock
    parse = _Format(lambda b: normalize_platform(b, received_at=clock.now()), "tsbm", ("ywlsh",))
    return _ingest(_hub(request), upload, parse)


def _ingest(hub: HubApi, upload: Upload, fmt: _Format) -> JSONResponse:
    """Parse, check the sender, accept; quarantine whatever cannot be accepted."""
    _require_json(hub, upload, fmt)
    try:
        message = fmt.parse(upload.raw)
    except MessageError as exc:
        _alarm_if_classified(upload)
        raise _invalid(hub, upload, fmt, exc.problems) from exc
    _check_sender(message, upload.department, fmt)
    if message.classification.is_classified:
        _alarm_if_classified(upload)
        _, zh, en = FIXED["classified_online"]
        raise _invalid(hub, upload, fmt, [FieldProblem("classification.level", zh, en)])
    try:
        accepted = hub.accept(message)
    except RoutingError as exc:
        qid = _quarantine(hub, upload, fmt, [FieldProblem(exc.path, exc.zh, exc.en)], "unroutable")
        raise ApiError(422, "unroutable", exc.zh, exc.en, quarantine_id=qid) from exc
    except MessageError as exc:
        raise _invalid(hub, upload, fmt, exc.problems) from exc
    body = {"message_id": accepted.message_id, "duplicate": accepted.duplicate}
    return JSONResponse(body, status_code=200 if accepted.duplicate else 202)


def _require_json(hub: HubApi, upload: Upload, fmt: _Format) -> None:
    """400 (quarantined unless empty) for a body that is not UTF-8 or not JSON."""
    try:
        json.loads(upload.raw.decode("utf-8"))
        return
    except UnicodeDecodeError:
        error = "invalid_encoding"
    except (ValueError, RecursionError):
        error = "invalid_json"
    _, zh, en = FIXED[error]
    qid = _quarantine(hub, upload, fmt, [FieldProblem("", zh, en)], error) if upload.raw else None
    raise ApiError.fixed(error, quarantine_id=qid)


def _check_sender(message: CanonicalMessage, department: str, fmt: _Format) -> None:
    """403 when the token's department is not the message's sender (spoofing)."""
    claimed = message.sender.department_id
    if claimed == department:
        return
    log.warning(
        "security.sender_spoofed",
        message_id=message.message_id,
        department=department,
        claimed_sender=claimed,
    )
    raise ApiError(
        403,
        "sender_mismatch",
        f"令牌属于部门 {department}，不能以部门 {claimed} 的名义推送（{fmt.sender_key}）",
        f"the token belongs to {department}; it cannot push as {claimed} ({fmt.sender_key})",
    )


def _invalid(hub: HubApi, upload: Upload, fmt: _Format, problems: list[FieldProblem]) -> ApiError:
    qid = _quarantine(hub, upload, fmt, problems, "invalid_message")
    return ApiError(
        422,
        "invalid_message",
        f"消息校验未通过，共 {len(problems)} 处问题，已隔离登记",
        f"the message failed validation with {len(problems)} problem(s); it was quarantined",
        problems=[{"path": p.path, "zh": p.zh, "en": p.en} for p in problems],
        quarantine_id=qid,
    )


def _quarantine(
    hub: HubApi, upload: Upload, fmt: _Format, problems: list[FieldProblem], reason: str
) -> int:
    source_id = _dig(upload.raw, *fmt.source_id_path)
    qid = hub.quarantine_input(
        channel=PLATFORM,
        raw=upload.raw,
        problems=problems,
        source_id=source_id[:200] if isinstance(source_id, str) else "",
    )
    log.warning(
        "message.rejected",
        reason=reason,
        quarantine_id=qid,
        problems=len(problems),
        department=upload.department,
        channel=PLATFORM.value,
    )
    return qid


def _dig(raw: bytes, *path: str) -> object:
    """The value at ``path`` in a JSON body, or None (for quarantine records and alarms)."""
    try:
        node: Any = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _alarm_if_classified(upload: Upload) -> None:
    """Log a security event when a refused body says it is classified (涉密) content."""
    level = _dig(upload.raw, "mj") or _dig(upload.raw, "classification", "level")
    if isinstance(level, str) and level in _CLASSIFIED:
        log.error("security.classified_online", department=upload.department, level=level)


@deliveries.get("", summary="查看推送 / view a delivery")
def get_delivery(
    request: Request, delivery_id: DeliveryId, department: Department
) -> dict[str, Any]:
    return _hub(request).delivery_view(delivery_id, department_id=department).to_json()


@deliveries.post("/claim", summary="认领 / claim", responses=ACTION_OK)
def claim(
    request: Request,
    delivery_id: DeliveryId,
    department: Department,
    body: Annotated[ClaimIn | None, Body()] = None,
) -> dict[str, Any]:
    actor = _actor(body.actor if body else None, department)
    hub = _hub(request)
    result = hub.claim(delivery_id, department_id=department, actor=actor, channel=PLATFORM)
    return result.to_json()


@deliveries.post("/objection", summary="提出异议 / object", responses=ACTION_OK)
def objection(
    request: Request, delivery_id: DeliveryId, department: Department, body: ObjectionIn
) -> dict[str, Any]:
    actor, hub = _actor(body.actor, department), _hub(request)
    result = hub.object(
        delivery_id, department_id=department, reason=body.reason, actor=actor, channel=PLATFORM
    )
    return result.to_json()


@deliveries.post("/reply", summary="答复 / reply", responses=ACTION_OK)
def reply(
    request: Request, delivery_id: DeliveryId, department: Department, body: ReplyIn
) -> dict[str, Any]:
    actor, hub = _actor(body.actor, department), _hub(request)
    result = hub.reply(
        delivery_id, department_id=department, text=body.text, actor=actor, channel=PLATFORM
    )
    return result.to_json()


def _actor(actor: str | None, department: str) -> str:
    return actor or f"api:{department}"


@health.get("/healthz", summary="健康检查 / health check")
def healthz() -> dict[str, bool]:
    return {"ok": True}


def create_app(
    hub: HubApi, *, config: PlatformConfig | None = None, clock: Clock | None = None
) -> FastAPI:
    """The HTTP API over ``hub`` (``clock`` stamps the receipt time of platform-format pushes)."""
    app = FastAPI(
        title="审管互动 Hub API", version="0.1.0", description=DESCRIPTION, openapi_tags=TAGS
    )
    app.state.hub = hub
    app.state.platform_config = config or PlatformConfig()
    app.state.clock = clock or SystemClock()
    for router in (messages, deliveries, health):
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the canonical message schema under ``components.schemas``."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        message = CanonicalMessage.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(message.pop("$defs", {}))
        components["CanonicalMessage"] = message
        app.openapi_schema = schema
    return app.openapi_schema
