"""The HTTP API's shapes: request and answer models, error answers, exception handlers.

Every error answer is ``{"error": <stable code>, "zh": …, "en": …}``, plus ``problems`` (each
``{"path", "zh", "en"}``), ``quarantine_id`` and ``request_id`` when they apply.
:func:`install_error_handlers` maps the hub's ``ActionError``\\ s (404, 403, 409), request
validation (400 for bad JSON, else 422 listing every problem) and Starlette's own errors (unknown
path, wrong method) to that shape. :class:`RequestIdMiddleware` gives every request an id
(``X-Request-ID``: the client's own when it is sane) and answers anything unexpected (a database
gone, a bug) with 503 ``service_unavailable`` in the same shape, logged as ``api.error``.
"""

from __future__ import annotations

import re
import traceback
import uuid
from typing import Annotated, Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import ErrorDetails
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import ActionError, ForbiddenError, NotFoundError, StateConflictError
from hub.validation import translate_error

log = structlog.get_logger(__name__)
REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def _text(max_length: int) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


class ProblemOut(BaseModel):
    path: str = Field(description="字段路径 / field path")
    zh: str
    en: str


class ErrorOut(BaseModel):
    error: str = Field(description="错误代码 / error code")
    zh: str
    en: str
    problems: list[ProblemOut] | None = None
    quarantine_id: int | None = Field(default=None, description="隔离登记号 / quarantine id")
    request_id: str | None = Field(
        default=None, description="请求编号（亦见响应头 X-Request-ID） / request id, for 503"
    )


class AcceptedOut(BaseModel):
    message_id: str
    duplicate: bool = Field(description="同一来源编号此前已受理 / accepted before")


class BatchItemOut(BaseModel):
    """One message of a batch: what ``POST /messages`` would have answered for it."""

    index: int = Field(description="在 messages 中的序号（从 0 起） / position in messages")
    status: int = Field(description="202 受理 / 200 重复 / 403 / 413 / 422")
    message_id: str | None = None
    duplicate: bool | None = None
    error: str | None = Field(default=None, description="错误代码 / error code")
    zh: str | None = None
    en: str | None = None
    problems: list[ProblemOut] | None = None
    quarantine_id: int | None = Field(default=None, description="隔离登记号 / quarantine id")


class BatchOut(BaseModel):
    results: list[BatchItemOut] = Field(description="逐条结果，顺序同请求 / one per message")
    accepted: int = Field(description="新受理条数（202） / newly accepted")
    duplicates: int = Field(description="重复条数（200） / accepted before")
    rejected: int = Field(description="未受理条数 / refused")


class ActionOut(BaseModel):
    delivery_id: str
    state: str = Field(description="操作后的状态 / state after the action")
    at: str = Field(description="记录时间（ISO 8601） / when it was recorded")
    late: bool = Field(description="是否逾期 / after the deadline")
    note_zh: str = Field(description="说明 / note")


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: Annotated[str, _text(100)] | None = Field(default=None, description="认领人 / who")


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, _text(2000)] = Field(description="异议理由 / reason")
    actor: Annotated[str, _text(100)] | None = None


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, _text(4000)] = Field(description="答复内容 / reply text")
    actor: Annotated[str, _text(100)] | None = None


FIXED: dict[str, tuple[int, str, str]] = {
    "unauthorized": (
        401,
        "缺少或无效的部门令牌（Authorization: Bearer …）",
        "missing or unknown department token (Authorization: Bearer …)",
    ),
    "unsupported_media_type": (
        415,
        "请求体须为 UTF-8 编码的 JSON（application/json）",
        "the body must be UTF-8 JSON (Content-Type: application/json)",
    ),
    "invalid_encoding": (400, "请求体不是 UTF-8 编码", "the body is not UTF-8"),
    "invalid_json": (400, "请求体不是合法的 JSON", "the body is not valid JSON"),
    "classified_online": (
        422,
        "涉密信息只能纸质推送，不得经线上接口提交",
        "classified content may only travel on paper, never by the online API",
    ),
}


class ApiError(Exception):
    """An HTTP error answer: status, stable error code, Chinese and English text, extras."""

    def __init__(self, status: int, error: str, zh: str, en: str, **extra: Any) -> None:
        super().__init__(en)
        self.status = status
        self.headers: dict[str, str] | None = extra.pop("headers", None)
        self.content: dict[str, Any] = {"error": error, "zh": zh, "en": en, **extra}

    @classmethod
    def fixed(cls, error: str, **extra: Any) -> ApiError:
        """One of the errors whose text never changes (``FIXED``)."""
        status, zh, en = FIXED[error]
        return cls(status, error, zh, en, **extra)

    def response(self) -> JSONResponse:
        return JSONResponse(self.content, status_code=self.status, headers=self.headers)


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


PUSH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": AcceptedOut, "description": "重复推送，此前已受理 / duplicate, accepted before"},
    400: _doc("不是 UTF-8 JSON（已隔离） / not UTF-8 JSON (quarantined)"),
    401: _doc("未认证 / not authenticated"),
    403: _doc("以其他部门名义推送 / pushing in another department's name"),
    413: _doc("请求体过大 / body too large"),
    415: _doc("不是 JSON / not JSON"),
    422: _doc("校验未通过或无法路由（已隔离） / invalid or unroutable (quarantined)"),
    503: _doc("服务暂时不可用，请稍后重试 / unexpected error, try again later"),
}
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _doc("未认证 / not authenticated"),
    403: _doc("不是本部门的推送 / not your delivery"),
    404: _doc("推送不存在 / no such delivery"),
    409: _doc("当前状态不允许 / state forbids it"),
    422: _doc("请求参数有误 / invalid request (every problem listed)"),
    503: _doc("服务暂时不可用，请稍后重试 / unexpected error, try again later"),
}
ACTION_OK: dict[int | str, dict[str, Any]] = {
    200: {"model": ActionOut, "description": "已记录 / recorded"}
}
CANONICAL_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CanonicalMessage"}}
        },
    }
}
PLATFORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "审管信息互动平台推送格式，字段见 adapters.platform.normalize"
                    " / the platform's flat format (xxlx, ywlsh, tssj, tsbm, jsbm, sxmc …)",
                }
            }
        },
    }
}

BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["messages"],
                    "properties": {
                        "messages": {
                            "type": "array",
                            "maxItems": 500,
                            "items": {"$ref": "#/components/schemas/CanonicalMessage"},
                        }
                    },
                }
            }
        },
    }
}
BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": BatchOut, "description": "逐条结果 / a result per message"},
    400: _doc("不是 UTF-8 JSON（已隔离） / not UTF-8 JSON (quarantined)"),
    413: _doc("请求体过大或超过 500 条 / body too large or more than 500 messages"),
    422: _doc('不是 {"messages": [...]}（已隔离） / not {"messages": [...]} (quarantined)'),
}

_ACTION_STATUS: tuple[tuple[type[ActionError], int, str], ...] = (
    (NotFoundError, 404, "not_found"),
    (ForbiddenError, 403, "forbidden"),
    (StateConflictError, 409, "state_conflict"),
)
_HTTP_ZH = {404: "接口不存在", 405: "不支持该请求方法"}


def on_error(request: Request, exc: Exception) -> JSONResponse:
    """ApiError as is; ActionError by subclass: 404, 403, 409 (else 422)."""
    if isinstance(exc, ApiError):
        return exc.response()
    assert isinstance(exc, ActionError)
    found = [(s, e) for cls, s, e in _ACTION_STATUS if isinstance(exc, cls)]
    status, error = found[0] if found else (422, "action_rejected")
    return ApiError(status, error, exc.zh, exc.en).response()


def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Request parameters and bodies: every problem in Chinese and English; bad JSON is 400."""
    assert isinstance(exc, RequestValidationError)
    errors: list[ErrorDetails] = list(exc.errors())
    if any(e["type"] == "json_invalid" for e in errors):
        return ApiError.fixed("invalid_json").response()
    problems = []
    for error in errors:
        zh, en = translate_error(error)
        problems.append({"path": ".".join(str(p) for p in error["loc"][1:]), "zh": zh, "en": en})
    zh, en = "请求参数有误", "the request is invalid"
    return ApiError(422, "invalid_request", zh, en, problems=problems).response()


def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (unknown path, wrong method) in the same JSON shape."""
    assert isinstance(exc, HTTPException)
    zh = _HTTP_ZH.get(exc.status_code, "请求无法处理")
    headers = dict(exc.headers) if exc.headers else None
    error = ApiError(exc.status_code, f"http_{exc.status_code}", zh, str(exc.detail))
    error.headers = headers
    return error.response()


def install_error_handlers(app: FastAPI) -> None:
    """Answer ApiError, ActionError, validation and Starlette errors in the common JSON shape."""
    app.add_exception_handler(ApiError, on_error)
    app.add_exception_handler(ActionError, on_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)


def request_id_from(value: str | None) -> str:
    """The client's request id when it is sane (1–128 of ``A-Za-z0-9._:-``), else a new one."""
    if value is not None and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def service_unavailable(request_id: str) -> ApiError:
    """The answer to an unexpected error: 503, with the request id to quote to the operators."""
    return ApiError(
        503,
        "service_unavailable",
        f"服务暂时不可用，请稍后重试；如持续失败，请向运维人员提供请求编号 {request_id}",
        "the service is temporarily unavailable; try again later, and if it keeps failing "
        f"give the operators request id {request_id}",
        request_id=request_id,
    )


class RequestIdMiddleware:
    """Request id in, on every answer and in every log line; unexpected errors as JSON 503.

    Sits outside the exception handlers, so only what no handler answers reaches it. An error
    after the answer has started cannot be answered again and is raised on.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope).get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                _log_unexpected(scope, request_id, exc)
                if started:
                    raise
                await service_unavailable(request_id).response()(scope, receive, send_with_id)


def _log_unexpected(scope: Scope, request_id: str, exc: Exception) -> None:
    """``api.error`` with where it failed; not the error's text (SQL errors carry parameters)."""
    error_type = type(exc)
    log.error(
        "api.error",
        request_id=request_id,
        method=scope.get("method"),
        path=scope.get("path"),
        error_type=f"{error_type.__module__}.{error_type.__qualname__}",
        traceback="".join(traceback.format_tb(exc.__traceback__)),
    )
