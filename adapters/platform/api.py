"""The hub's HTTP API (platform channel): departments push messages and act on their deliveries.

Every call but ``/healthz`` needs ``Authorization: Bearer <department token>``; the token names
the department (``HubApi.authenticate_async``). A department pushes only in its own name and sees
and acts on only its own deliveries. Errors are JSON ``{"error", "zh", "en", …}``; input that
cannot be accepted is quarantined in the hub (``quarantine_id`` in the answer), never dropped.

    POST /messages                       canonical message JSON        202 / 200 duplicate
    POST /messages:batch                 {"messages": [canonical, …]}  200, a result per message
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

The batch push takes at most ``max_batch`` messages (:data:`MAX_BATCH`, 500; more is 413
``too_many_messages``) in a body of at most ``max_body_bytes × max_batch``, capped at
:data:`BATCH_BODY_CAP` (32 MiB); each message on its own is held to ``max_body_bytes``. Each is
checked like ``POST /messages`` and answered in ``results`` (same order, with its ``index``) with
the status and body that endpoint would give; the valid ones are accepted in one
``accept_many_async`` call (one transaction). ``accepted`` counts the 202s, ``duplicates``
the 200s, ``rejected`` the rest. A body that is not a JSON object with a ``messages`` list is
400/422 and quarantined whole.

``POST /messages`` and a body-less ``POST /deliveries/{id}/claim`` are answered by
:class:`adapters.platform.api_hot.HotPaths` with the same functions, without FastAPI's
routing and dependency solving (~0.3 ms of CPU a request); everything else goes through the
FastAPI routes below. Endpoints and the token dependency are ``async def`` and call only the
hub's async twins (``accept_async``, ``accept_many_async``, ``claim_async`` …), which commit
concurrent requests together; the rare paths (quarantine) and a batch's validation (CPU, up
to 500 messages) hop to a thread. No sync hub call runs on the event loop.
What a push must pass (``screen``) and how refused bodies are quarantined: ``api_ingest.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Depends, FastAPI, Path, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.platform.api_hot import HotPaths, Route, always, without_body
from adapters.platform.api_ingest import (
    CANONICAL,
    PLATFORM,
    Format,
    Refusal,
    invalid,
    not_json,
    quarantine,
    screen,
    unroutable,
)
from adapters.platform.api_schema import (
    ACTION_OK,
    ACTION_RESPONSES,
    BATCH_BODY,
    BATCH_RESPONSES,
    CANONICAL_BODY,
    PLATFORM_BODY,
    PUSH_RESPONSES,
    AcceptedOut,
    ApiError,
    BatchOut,
    ClaimIn,
    ObjectionIn,
    ReplyIn,
    RequestIdMiddleware,
    install_error_handlers,
)
from adapters.platform.config import MIB, PlatformConfig
from adapters.platform.normalize import normalize_platform
from hub.clock.now import Clock, SystemClock
from hub.core.api import Accepted, HubApi
from hub.errors import FieldProblem, MessageError, RoutingError
from hub.message import CanonicalMessage

log = structlog.get_logger(__name__)
MAX_BATCH = 500
BATCH_BODY_CAP = 32 * MIB

DESCRIPTION = """审管互动 Hub 接口：部门推送消息（审批信息、监管信息等），并对收到的推送认领、
提出异议或答复。除 /healthz 外须携带部门令牌 `Authorization: Bearer <token>`；部门只能以
本部门名义推送，只能查看和处理本部门的推送。无法受理的内容会被隔离登记（quarantine_id），不会丢失。
批量推送（/messages:batch）一次最多 500 条，逐条给出结果。

The 审管互动 Hub API: departments push messages (approval decisions, supervision information …)
and claim, object to or reply to what was pushed to them. Every call except /healthz needs a
department token. Input that cannot be accepted is quarantined (quarantine_id), never lost.
A batch push (/messages:batch) takes up to 500 messages and answers each."""

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


def _hub(request: Request) -> HubApi:
    hub: HubApi = request.app.state.hub
    return hub


_bearer = HTTPBearer(auto_error=False, description="部门令牌 / department token")


async def _department(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    return await _authenticated(request, credentials)


async def _authenticated(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    """The department of the bearer token; 401 (with WWW-Authenticate) when absent or unknown."""
    token = credentials.credentials if credentials else None
    department = await _hub(request).authenticate_async(token) if token else None
    if department is None:
        log.info("auth.failed", path=request.url.path, token_given=credentials is not None)
        raise ApiError.fixed("unauthorized", headers={"WWW-Authenticate": "Bearer"})
    return department


Department = Annotated[str, Depends(_department)]
DeliveryId = Annotated[str, Path(min_length=1, max_length=128, description="推送编号 / id")]


async def _upload(request: Request, department: Department) -> Upload:
    """The raw JSON body: content type checked, read up to ``max_body_bytes`` (else 413)."""
    config: PlatformConfig = request.app.state.platform_config
    return Upload(department, await _read_body(request, config.max_body_bytes))


async def _batch_upload(request: Request, department: Department) -> Upload:
    """The batch body, read up to :func:`batch_body_limit`."""
    return Upload(department, await _read_body(request, batch_body_limit(request.app)))


def batch_body_limit(app: FastAPI) -> int:
    """``max_body_bytes × max_batch``, capped at :data:`BATCH_BODY_CAP` (never below one)."""
    config: PlatformConfig = app.state.platform_config
    max_batch: int = app.state.max_batch
    scaled = config.max_body_bytes * max_batch
    return max(config.max_body_bytes, min(scaled, BATCH_BODY_CAP))


async def _read_body(request: Request, limit: int) -> bytes:
    _check_content_type(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _check_content_type(value: str) -> None:
    """415 unless ``application/json`` (or ``…+json``), UTF-8 when a charset is named."""
    media, *params = (part.strip().lower() for part in value.split(";"))
    charsets = [p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")]
    json_type = media == "application/json" or media.endswith("+json")
    if json_type and all(c in ("utf-8", "utf8") for c in charsets):
        return
    raise ApiError.fixed("unsupported_media_type")


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", *_too_large_text(limit))


def _too_large_text(limit: int) -> tuple[str, str]:
    return (
        f"请求体超过上限 {limit} 字节；附件请以引用（sha256、大小、类型）提交，不要内嵌文件内容",
        f"the body exceeds {limit} bytes; send attachments as references (sha256, size, type)",
    )


messages = APIRouter(tags=["messages"], responses=PUSH_RESPONSES)
deliveries = APIRouter(
    prefix="/deliveries/{delivery_id}", tags=["deliveries"], responses=ACTION_RESPONSES
)
health = APIRouter(tags=["health"])
Uploaded = Annotated[Upload, Depends(_upload)]
BatchUploaded = Annotated[Upload, Depends(_batch_upload)]


@messages.post(
    "/messages",
    status_code=202,
    response_model=AcceptedOut,
    openapi_extra=CANONICAL_BODY,
    summary="推送统一格式消息 / push a canonical message",
)
async def post_message(request: Request, upload: Uploaded) -> JSONResponse:
    return await _ingest(_hub(request), upload, CANONICAL)


@messages.post(
    "/platform/messages",
    status_code=202,
    response_model=AcceptedOut,
    openapi_extra=PLATFORM_BODY,
    summary="推送平台格式消息 / push in the platform format",
)
async def post_platform_message(request: Request, upload: Uploaded) -> JSONResponse:
    clock: Clock = request.app.state.clock
    parse = Format(lambda b: normalize_platform(b, received_at=clock.now()), "tsbm", ("ywlsh",))
    return await _ingest(_hub(request), upload, parse)


async def _ingest(hub: HubApi, upload: Upload, fmt: Format) -> JSONResponse:
    """Screen, accept; quarantine whatever cannot be accepted."""
    outcome: CanonicalMessage | Accepted | Refusal = screen(upload.raw, upload.department, fmt)
    if isinstance(outcome, CanonicalMessage):
        try:
            outcome = await hub.accept_async(outcome)
        except RoutingError as exc:
            outcome = unroutable(exc)
        except MessageError as exc:
            outcome = invalid(exc.problems)
    if isinstance(outcome, Refusal):
        (qid,) = await quarantine(hub, upload.department, fmt, [(upload.raw, outcome)])
        raise ApiError(outcome.status, **outcome.content(qid))
    assert isinstance(outcome, Accepted)
    body = {"message_id": outcome.message_id, "duplicate": outcome.duplicate}
    return JSONResponse(body, status_code=200 if outcome.duplicate else 202)


# --- batch ---------------------------------------------------------------------------------------


@messages.post(
    "/messages:batch",
    response_model=BatchOut,
    responses=BATCH_RESPONSES,
    openapi_extra=BATCH_BODY,
    summary="批量推送统一格式消息 / push canonical messages in a batch",
)
async def post_batch(request: Request, upload: BatchUploaded) -> JSONResponse:
    """Every message screened like ``POST /messages``; the valid ones accepted together."""
    hub = _hub(request)
    raws = await _batch_items(hub, upload, request.app.state.max_batch)
    limit = request.app.state.platform_config.max_body_bytes
    # up to 500 validations: in a thread, so that other requests are served meanwhile
    outcomes: list[CanonicalMessage | Accepted | Refusal] = await asyncio.to_thread(
        lambda: [_screen_item(raw, upload.department, limit) for raw in raws]
    )
    valid = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, CanonicalMessage)]
    if valid:
        results = await hub.accept_many_async([message for _, message in valid])
        for (i, _), result in zip(valid, results, strict=True):
            outcomes[i] = unroutable(result) if isinstance(result, RoutingError) else result
    refused = [(raws[i], o) for i, o in enumerate(outcomes) if isinstance(o, Refusal)]
    qids = iter(await quarantine(hub, upload.department, CANONICAL, refused))
    answers = [_item_result(i, o, qids) for i, o in enumerate(outcomes)]
    statuses = [a["status"] for a in answers]
    accepted, duplicates = statuses.count(202), statuses.count(200)
    rejected = len(answers) - accepted - duplicates
    body = {"results": answers, "accepted": accepted, "duplicates": duplicates}
    return JSONResponse({**body, "rejected": rejected})


async def _batch_items(hub: HubApi, upload: Upload, max_batch: int) -> list[bytes]:
    """Each message of ``{"messages": [...]}`` as JSON bytes; 400/422 (quarantined) for another
    shape, 413 for more than ``max_batch`` messages."""
    refusal = not_json(upload.raw)
    if refusal is None:
        envelope = json.loads(upload.raw)
        items = envelope.get("messages") if isinstance(envelope, dict) else None
        if isinstance(items, list):
            if len(items) > max_batch:
                raise _too_many(len(items), max_batch)
            return [json.dumps(item, ensure_ascii=False).encode("utf-8") for item in items]
        zh = '请求体须为 JSON 对象 {"messages": [消息, …]}'
        en = 'the body must be a JSON object {"messages": [message, …]}'
        refusal = Refusal(422, "invalid_batch", zh, en, [FieldProblem("messages", zh, en)])
    (qid,) = await quarantine(hub, upload.department, CANONICAL, [(upload.raw, refusal)])
    raise ApiError(refusal.status, **refusal.content(qid))


def _too_many(count: int, max_batch: int) -> ApiError:
    return ApiError(
        413,
        "too_many_messages",
        f"一次批量推送最多 {max_batch} 条消息，本次 {count} 条；请分批提交",
        f"a batch takes at most {max_batch} messages, this one has {count}; split it",
    )


def _screen_item(raw: bytes, department: str, limit: int) -> CanonicalMessage | Refusal:
    if len(raw) > limit:
        return Refusal(413, "payload_too_large", *_too_large_text(limit), quarantine=False)
    return screen(raw, department, CANONICAL)


def _item_result(
    index: int, outcome: CanonicalMessage | Accepted | Refusal, qids: Iterator[int | None]
) -> dict[str, Any]:
    """One message's entry in ``results`` (``qids``: the refused ones' quarantine ids, in order)."""
    if isinstance(outcome, Refusal):
        return {"index": index, "status": outcome.status, **outcome.content(next(qids))}
    assert isinstance(outcome, Accepted)  # every screened message went to accept_many
    status = 200 if outcome.duplicate else 202
    return {"index": index, "status": status, "message_id": outcome.message_id,
            "duplicate": outcome.duplicate}  # fmt: skip


# --- deliveries ----------------------------------------------------------------------------------


@deliveries.get("", summary="查看推送 / view a delivery")
async def get_delivery(
    request: Request, delivery_id: DeliveryId, department: Department
) -> dict[str, Any]:
    view = await _hub(request).delivery_view_async(delivery_id, department_id=department)
    return view.to_json()


@deliveries.post("/claim", summary="认领 / claim", responses=ACTION_OK)
async def claim(
    request: Request,
    delivery_id: DeliveryId,
    department: Department,
    body: Annotated[ClaimIn | None, Body()] = None,
) -> JSONResponse:
    actor = _actor(body.actor if body else None, department)
    result = await _hub(request).claim_async(
        delivery_id, department_id=department, actor=actor, channel=PLATFORM
    )
    return JSONResponse(result.to_json())


@deliveries.post("/objection", summary="提出异议 / object", responses=ACTION_OK)
async def objection(
    request: Request, delivery_id: DeliveryId, department: Department, body: ObjectionIn
) -> dict[str, Any]:
    actor, hub = _actor(body.actor, department), _hub(request)
    result = await hub.object_async(
        delivery_id, department_id=department, reason=body.reason, actor=actor, channel=PLATFORM
    )
    return result.to_json()


@deliveries.post("/reply", summary="答复 / reply", responses=ACTION_OK)
async def reply(
    request: Request, delivery_id: DeliveryId, department: Department, body: ReplyIn
) -> dict[str, Any]:
    actor, hub = _actor(body.actor, department), _hub(request)
    result = await hub.reply_async(
        delivery_id, department_id=department, text=body.text, actor=actor, channel=PLATFORM
    )
    return result.to_json()


# --- the hot requests, without FastAPI's machinery (api_hot.py) -------------------------------


async def _hot_push(request: Request, _match: re.Match[str]) -> Response:
    """``POST /messages`` as :func:`post_message` answers it."""
    department = await _authenticated(request, await _bearer(request))
    config: PlatformConfig = request.app.state.platform_config
    upload = Upload(department, await _read_body(request, config.max_body_bytes))
    return await _ingest(_hub(request), upload, CANONICAL)


async def _hot_claim(request: Request, match: re.Match[str]) -> Response:
    """A body-less ``POST /deliveries/{id}/claim`` as :func:`claim` answers it."""
    department = await _authenticated(request, await _bearer(request))
    delivery_id = match.group(1)
    result = await _hub(request).claim_async(
        delivery_id, department_id=department, actor=_actor(None, department), channel=PLATFORM
    )
    return JSONResponse(result.to_json())


HOT_ROUTES: list[Route] = [
    ("POST", re.compile(r"/messages"), always, _hot_push),
    ("POST", re.compile(r"/deliveries/([^/]{1,128})/claim"), without_body, _hot_claim),
]


def _actor(actor: str | None, department: str) -> str:
    return actor or f"api:{department}"


@health.get("/healthz", summary="健康检查 / health check")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


def create_app(
    hub: HubApi,
    *,
    config: PlatformConfig | None = None,
    clock: Clock | None = None,
    max_batch: int = MAX_BATCH,
) -> FastAPI:
    """The HTTP API over ``hub`` (``clock`` stamps the receipt time of platform-format pushes;
    ``max_batch``: the most messages one ``POST /messages:batch`` takes)."""
    app = FastAPI(
        title="审管互动 Hub API", version="0.1.0", description=DESCRIPTION, openapi_tags=TAGS
    )
    app.state.hub = hub
    app.state.platform_config = config or PlatformConfig()
    app.state.clock = clock or SystemClock()
    app.state.max_batch = max_batch
    for router in (messages, deliveries, health):
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(HotPaths, routes=HOT_ROUTES)
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
