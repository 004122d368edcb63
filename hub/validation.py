"""Parse and validate message JSON; translate pydantic errors into bilingual ``FieldProblem``\\ s.

``parse_message`` is the one entry point for untrusted JSON. Every pydantic error becomes one
problem (a cross-field ``message_inconsistent`` error becomes one problem per issue) with:

* ``path``: the dotted field path, without the union tag pydantic inserts for bodies
  (``body.approval_decision.party.uscc`` → ``body.party.uscc``);
* ``zh``: Chinese text for operators, from ``_ZH`` or from the error's own ``ctx["zh"]``;
* ``en``: English text, pydantic's message or the error's own ``ctx["en"]``.

Input values are never echoed (they may be long or personal).

Validation has no clock: every date is checked against fixed bounds (``hub.message_dates``).
``future_problems`` is the clock's half: the fields that record what has already happened
(``HAPPENED_PATHS``) may not lie more than ``FUTURE_TOLERANCE`` after the hub's ``now``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from hub.errors import FieldProblem, MessageError, split_bilingual
from hub.message import BODY_BY_KIND, HAPPENED_PATHS, CanonicalMessage, MessageKind

_KIND_TAGS = frozenset(kind.value for kind in MessageKind)
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
FUTURE_TOLERANCE = dt.timedelta(days=1)
"""How far after the hub's clock an event may be dated (clock skew, time zones)."""
_LOCAL = ZoneInfo("Asia/Shanghai")  # a date without a time is a date in Beijing time

_DATETIME_HINT = "应为 ISO 8601 日期时间，如 2026-09-15T10:00:00+08:00"
_ZH: dict[str, str] = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段（模式中未定义）",
    "string_type": "必须是字符串",
    "string_too_short": "长度不能少于 {min_length} 个字符",
    "string_too_long": "长度不能超过 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符合要求（须匹配 {pattern}）",
    "int_type": "必须是整数（不接受字符串或小数）",
    "int_parsing": "必须是整数",
    "int_from_float": "必须是整数，不能带小数",
    "float_type": "必须是数字",
    "bool_type": "必须是布尔值 true 或 false",
    "greater_than": "必须大于 {gt}",
    "greater_than_equal": "必须大于或等于 {ge}",
    "less_than": "必须小于 {lt}",
    "less_than_equal": "必须小于或等于 {le}",
    "enum": "取值必须是 {expected} 之一",
    "literal_error": "取值必须是 {expected}",
    "date_type": "必须是日期，格式 YYYY-MM-DD",
    "date_parsing": "日期格式错误，应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式错误，应为 YYYY-MM-DD",
    "date_from_datetime_inexact": "必须是日期 YYYY-MM-DD，不能带时间",
    "datetime_type": "必须是日期时间，" + _DATETIME_HINT,
    "datetime_parsing": "日期时间格式错误，" + _DATETIME_HINT,
    "datetime_from_date_parsing": "日期时间格式错误，" + _DATETIME_HINT,
    "timezone_aware": "日期时间必须带时区，如 +08:00",
    "union_tag_invalid": "未知的消息类型 kind：{tag}，应为 {expected_tags} 之一",
    "union_tag_not_found": "body 缺少 kind 字段（消息类型）",
    "json_invalid": "不是合法的 JSON：{error}",
    "json_type": "输入必须是 JSON 文本",
    "model_type": "必须是 JSON 对象",
    "model_attributes_type": "必须是 JSON 对象",
    "dict_type": "必须是 JSON 对象",
    "tuple_type": "必须是 JSON 数组",
    "list_type": "必须是 JSON 数组",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "最多允许 {max_length} 项",
    "value_error": "取值无效：{error}",
}


class _Ctx(dict[str, Any]):
    """Format mapping that tolerates a context key missing from a pydantic error."""

    def __missing__(self, key: str) -> str:
        return "?"


def parse_message(raw: bytes | str, *, max_attachment_bytes: int | None = None) -> CanonicalMessage:
    """Validate message JSON strictly; raise ``MessageError`` listing every field problem.

    ``max_attachment_bytes`` overrides ``hub.message.MAX_ATTACHMENT_BYTES`` for this call.
    """
    context = (
        None if max_attachment_bytes is None else {"max_attachment_bytes": max_attachment_bytes}
    )
    try:
        return CanonicalMessage.model_validate_json(raw, context=context)
    except ValidationError as exc:
        raise MessageError(problems_from(exc)) from exc


def future_problems(message: CanonicalMessage, now: dt.datetime) -> list[FieldProblem]:
    """One problem per event field dated more than ``FUTURE_TOLERANCE`` after ``now`` (aware).

    Dates (no time) are compared with the day of ``now`` in Beijing time. Fields that may lie
    ahead (a meeting, an inspection, a validity) are not event fields and are never reported.
    """
    latest = now + FUTURE_TOLERANCE
    problems = []
    for path in sorted(HAPPENED_PATHS):
        value = message.field(path)
        if isinstance(value, dt.datetime):
            late = value > latest
        elif isinstance(value, dt.date):
            late = value > latest.astimezone(_LOCAL).date()
        else:
            continue
        if late:
            problems.append(_in_future(path, now))
    return problems


def _in_future(path: str, now: dt.datetime) -> FieldProblem:
    shown = now.astimezone(_LOCAL).strftime("%Y-%m-%d %H:%M")
    return FieldProblem(
        path,
        f"尚未发生的日期：比 Hub 当前时间（{shown}，北京时间）晚一天以上",
        f"not yet happened: more than a day after the hub's current time ({shown}, Beijing time)",
    )


def problems_from(exc: ValidationError) -> list[FieldProblem]:
    """One ``FieldProblem`` per pydantic error (or per issue of a cross-field error)."""
    problems: list[FieldProblem] = []
    for error in exc.errors(include_url=False, include_input=False):
        problems.extend(_problems(error))
    return problems


def _problems(error: ErrorDetails) -> list[FieldProblem]:
    issues = (error.get("ctx") or {}).get("issues")
    if issues:
        return [FieldProblem(i["path"], i["zh"], i["en"]) for i in issues]
    zh, en = translate_error(error)
    return [FieldProblem(error_path(error), zh, en)]


def translate_error(error: ErrorDetails) -> tuple[str, str]:
    """Chinese and English text for one pydantic error (any model, not only messages).

    Custom errors carry their own ``ctx["zh"]``/``ctx["en"]`` (or raise a ``ValueError`` with
    ``zh``/``en`` attributes); built-in ones are translated from ``_ZH`` with the error's
    context, and keep pydantic's English message.
    """
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if "zh" in ctx and "en" in ctx:
        return str(ctx["zh"]), str(ctx["en"])
    zh, en = getattr(ctx.get("error"), "zh", None), getattr(ctx.get("error"), "en", None)
    if isinstance(zh, str) and isinstance(en, str):
        return zh, en  # e.g. a UsccError raised in a plain validator
    for key in ("expected", "expected_tags"):
        if isinstance(ctx.get(key), str):
            ctx[key] = ctx[key].replace(" or ", "、").replace(", ", "、")
    if error["type"] == "value_error":
        split = split_bilingual(str(error["msg"]).removeprefix("Value error, "))
        if split is not None:
            return split
    template = _ZH.get(error["type"], "取值无效（{error_type}）")
    return template.format_map(_Ctx(ctx, error_type=error["type"])), error["msg"]


def error_path(error: ErrorDetails) -> str:
    """The dotted path of an error, without the body's union tag, plus any ``ctx["field"]``."""
    parts = [str(part) for part in error["loc"]]
    if len(parts) > 1 and parts[0] == "body" and parts[1] in _KIND_TAGS:
        del parts[1]
    ctx = error.get("ctx") or {}
    if "field" in ctx:
        parts.extend(str(ctx["field"]).split("."))
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        parts.append("kind")
    return ".".join(parts)


def message_json_schema(kind: MessageKind | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a canonical message, optionally for one kind only."""
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        **CanonicalMessage.model_json_schema(mode="validation"),
    }
    if kind is not None:
        _narrow_to_kind(schema, kind)
    return schema


def _narrow_to_kind(schema: dict[str, Any], kind: MessageKind) -> None:
    """Fix ``kind`` to one value, point ``body`` at that kind's model, drop unused ``$defs``."""
    properties = schema["properties"]
    properties["kind"] = {
        "const": kind.value,
        "type": "string",
        "description": f"消息类型 / message kind: {kind.value} ({kind.label})",
    }
    body_name = BODY_BY_KIND[kind].__name__
    properties["body"] = {
        "$ref": f"#/$defs/{body_name}",
        "description": properties["body"].get("description", ""),
    }
    schema["title"] = f"CanonicalMessage[{kind.value}]"
    used = _referenced_defs(schema)
    schema["$defs"] = {name: d for name, d in schema["$defs"].items() if name in used}


def _referenced_defs(schema: dict[str, Any]) -> set[str]:
    """Names of the ``$defs`` reachable from the schema's top level (not from ``$defs`` itself)."""
    defs: dict[str, Any] = schema.get("$defs", {})
    seen: set[str] = set()
    pending: list[Any] = [{k: v for k, v in schema.items() if k != "$defs"}]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name not in seen and name in defs:
                    seen.add(name)
                    pending.append(defs[name])
            pending.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            pending.extend(node)
    return seen
