"""The 审管信息互动平台's own push format, mapped to the canonical message (pure, no I/O).

The platform's format is not public; this is the hub's definition of it, in the style of the
Shandong 审管信息互动平台: one flat JSON object with pinyin-initial keys, dates as
``YYYY-MM-DD`` (``YYYYMMDD`` accepted), times as ``YYYY-MM-DD HH:MM:SS`` in Beijing time (an
ISO 8601 offset is accepted), and ``""`` meaning "not given".

Keys (✱ required; the canonical field each one fills in brackets):

    xxlx ✱      信息类型: 审批信息 | 监管信息                          [kind, direction]
    ywlsh ✱     业务流水号                                             [source.source_id]
    tssj ✱      推送时间                       [source.received_at, unless the hub passes its own]
    xtbs        系统标识, default ``sd-sghd``                          [source.system]
    tsbm ✱      推送部门编码 (the hub's department id)                 [sender.department_id]
    tsbm_mc     推送部门名称; tsr 推送人 (联络员); tsr_lxdh 联系电话    [sender.name/contact]
    jsbm        接收部门编码: a list, or one string split at , ， ; or blanks  [recipients]
    bt          标题, default "<jglb or sxmc>：<xdr_mc>"               [subject]
    fssj        发生时间, default the decision date (xkrq/cfjdrq) 00:00, else tssj [occurred_at]
    mj          密级: 非涉密 | 秘密 | 机密 | 绝密 (classified is refused online) [classification]
    fj          附件: [{wjmc 文件名, wjdx 字节数, wjlx 媒体类型, sha256, fjlx 附件类型?}]
    xdr_mc      行政相对人名称 (✱ for 审批信息); xdr_tyshxydm 统一社会信用代码; xdr_lxr 联系人;
                xdr_lxdh 联系电话 (审批信息: xdr_lxr or xdr_lxdh ✱); xdr_dz 地址  [body.party]
  审批信息 only:
    sxmc ✱ 事项名称; sxbm 事项编码; xkwh ✱ 许可文号; xkzmc 证照名称; xkrq ✱ 许可日期;
    yxqq 有效期起; yxqz 有效期至 (``长期`` = no expiry); xknr 许可内容;
    gzcn 告知承诺 (是/否; 是 needs an ``fj`` entry with ``fjlx: 告知承诺书``); fxd 风险点 [list]
  监管信息 only:
    jglb ✱ 监管类别 (责令停产停业, 吊销许可证件, 其他影响许可的行政处罚, 经营异常, 失信名单,
    业务培训, 法规标准调整); xkwh 涉及许可证号; cfjdswh 处罚决定书文号; cfjdrq 处罚决定日期;
    gsrq 公示日期; jgnr ✱ 内容摘要

Unknown keys are refused. Every problem names the platform key (``xdr_tyshxydm``, ``fj.0.wjdx``).

Example 审批信息::

    {
      "xxlx": "审批信息", "ywlsh": "SGHD-370832-20260915-0031", "tssj": "2026-09-15 10:12:41",
      "tsbm": "xzsp", "tsbm_mc": "梁山县行政审批服务局", "tsr": "李静", "tsr_lxdh": "0537-7321056",
      "jsbm": ["scjg"],
      "sxmc": "食品经营许可（新办）", "sxbm": "370832-SPJY-XK-001",
      "xdr_mc": "梁山县水泊人家餐饮管理有限公司", "xdr_tyshxydm": "91370832MA3C4R7K7J",
      "xdr_lxr": "王建国", "xdr_lxdh": "13953712345", "xdr_dz": "梁山县水泊街道水泊中路168号",
      "xkwh": "JY13708320012345", "xkzmc": "食品经营许可证", "xkrq": "2026-09-15",
      "yxqz": "2031-09-14", "xknr": "餐饮服务经营者（中型餐馆）：热食类食品制售",
      "gzcn": "否", "fxd": ["后厨排烟设施需复查"]
    }

Example 监管信息 (责令停产停业)::

    {
      "xxlx": "监管信息", "ywlsh": "JGXX-370832-20260922-0007", "tssj": "2026-09-22 09:05:12",
      "tsbm": "scjg", "tsbm_mc": "梁山县市场监督管理局", "jsbm": "xzsp",
      "jglb": "责令停产停业", "xdr_mc": "梁山县宏达烧烤店", "xdr_tyshxydm": "92370832MA3D2N5P4C",
      "xkwh": "JY23708320009876", "cfjdswh": "梁市监处罚〔2026〕118号", "cfjdrq": "20260921",
      "jgnr": "使用超过保质期的食品原料加工制作食品，责令停业整顿十五日。",
      "fj": [{"wjmc": "行政处罚决定书.pdf", "wjdx": 482133, "wjlx": "application/pdf",
              "sha256": "0852a83d231b5c5521dae94285ef039a5b45b1216370c6485f86f335eb8f7c72"}]
    }
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from hub.errors import FieldProblem, MessageError, NormalizeError
from hub.message import (
    ALLOWED_DIRECTIONS,
    CanonicalMessage,
    Channel,
    ClassificationLevel,
    MessageKind,
    SupervisionCategory,
)
from hub.validation import parse_message

__all__ = ["PLATFORM_SYSTEM", "normalize_platform", "platform_path"]

PLATFORM_SYSTEM = "sd-sghd"
"""``source.system`` of platform pushes that do not name their system (``xtbs``)."""

BEIJING = ZoneInfo("Asia/Shanghai")
_T = TypeVar("_T")

_KINDS = {k.label: k for k in (MessageKind.APPROVAL_DECISION, MessageKind.SUPERVISION_INFO)}
# fmt: off
_S = SupervisionCategory
_CATEGORIES: dict[str, SupervisionCategory] = {c.label: c for c in SupervisionCategory} | {
    "责令停业": _S.SUSPENSION, "停产停业": _S.SUSPENSION, "吊销许可证": _S.LICENCE_REVOKED,
    "其他行政处罚": _S.OTHER_PENALTY, "列入经营异常名录": _S.ABNORMAL_OPERATION,
    "严重失信主体名单": _S.DISHONEST_LIST,
}
_LEVELS: dict[str, ClassificationLevel] = {level.label: level for level in ClassificationLevel}
_YES_NO: dict[str, bool] = {"是": True, "否": False, "1": True, "0": False}
_COMMITMENT_LETTER = "告知承诺书"
_NO_EXPIRY = frozenset({"长期", "永久", "长期有效"})

_PARTY_KEYS = ("xdr_mc", "xdr_tyshxydm", "xdr_lxr", "xdr_lxdh", "xdr_dz")
_COMMON_KEYS = frozenset({"xxlx", "ywlsh", "tssj", "xtbs", "tsbm", "tsbm_mc", "tsr", "tsr_lxdh",
                          "jsbm", "bt", "fssj", "mj", "fj", *_PARTY_KEYS})
_KIND_KEYS: dict[MessageKind, frozenset[str]] = {
    MessageKind.APPROVAL_DECISION: frozenset({"sxmc", "sxbm", "xkwh", "xkzmc", "xkrq", "yxqq",
                                              "yxqz", "xknr", "gzcn", "fxd"}),
    MessageKind.SUPERVISION_INFO: frozenset({"jglb", "xkwh", "cfjdswh", "cfjdrq", "gsrq", "jgnr"}),
}
_PLATFORM_KEY: dict[str, str] = {  # canonical path -> the platform key that fills it
    "kind": "xxlx", "direction": "xxlx", "body.kind": "xxlx", "sender": "tsbm",
    "sender.name": "tsbm_mc", "sender.contact": "tsr", "sender.contact.phone": "tsr_lxdh",
    "recipients": "jsbm", "subject": "bt", "occurred_at": "fssj", "classification": "mj",
    "source": "ywlsh", "source.channel": "mj", "source.system": "xtbs",
    "source.received_at": "tssj", "attachments": "fj", "body.item": "sxmc",
    "body.item.code": "sxbm", "body.party": "xdr_mc", "body.party.uscc": "xdr_tyshxydm",
    "body.party.contact": "xdr_lxdh", "body.party.contact.name": "xdr_lxr",
    "body.party.address": "xdr_dz", "body.licence": "xkwh", "body.licence.name": "xkzmc",
    "body.licence.decision_date": "xkrq", "body.licence.valid_from": "yxqq",
    "body.licence.valid_until": "yxqz", "body.licence.content": "xknr",
    "body.commitment": "gzcn", "body.commitment_letter_sha256": "fj", "body.risk_points": "fxd",
    "body.category": "jglb", "body.licence_number": "xkwh", "body.summary": "jgnr",
    "body.decision": "cfjdswh", "body.decision.decision_date": "cfjdrq",
    "body.decision.published_date": "gsrq",
}
# fmt: on
_ATTACHMENT_KEYS = {"name": "wjmc", "size": "wjdx", "media_type": "wjlx", "sha256": "sha256"}
_PLATFORM_ATTACHMENT_KEYS = {v: k for k, v in _ATTACHMENT_KEYS.items()}
_LIST_KEYS = frozenset({"fj", "jsbm", "fxd"})


def normalize_platform(raw: bytes, *, received_at: dt.datetime | None = None) -> CanonicalMessage:
    """Map one platform push to a canonical message; NormalizeError names the platform keys.

    ``received_at``: when the hub received the push (aware); defaults to ``tssj``.
    """
    data = _load_object(raw)
    kind = _kind(data)
    problems = _unknown_keys(data, kind)
    if not isinstance(_datetime(data.get("tssj")), dt.datetime):
        problems.append(_TSSJ_PROBLEM)
    draft = _Draft(data)
    canonical = draft.message(kind, received_at)
    problems += draft.problems
    try:
        message = parse_message(json.dumps(canonical, ensure_ascii=False))
    except MessageError as exc:
        seen = {p.path for p in problems}  # a key already reported is not reported twice
        mapped = [FieldProblem(platform_path(p.path), p.zh, p.en) for p in exc.problems]
        raise NormalizeError(problems + [p for p in mapped if p.path not in seen]) from exc
    if problems:
        raise NormalizeError(problems)
    return message


def platform_path(canonical_path: str) -> str:
    """The platform key behind a canonical field path (``body.party.uscc`` → ``xdr_tyshxydm``)."""
    parts = canonical_path.split(".") if canonical_path else []
    for end in range(len(parts), 0, -1):
        key = _PLATFORM_KEY.get(".".join(parts[:end]))
        if key is not None:
            rest = parts[end:] if key in _LIST_KEYS else []  # under a scalar key: the key
            return ".".join([key, *(_ATTACHMENT_KEYS.get(p, p) for p in rest)])
    return canonical_path


def _problem(path: str, zh: str, en: str) -> NormalizeError:
    return NormalizeError([FieldProblem(path, zh, en)])


def _load_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _problem("", "请求体不是 UTF-8 编码", "the payload is not UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise _problem("", "不是合法的 JSON", "the payload is not valid JSON") from exc
    if not isinstance(data, dict):
        raise _problem("", "平台推送须为 JSON 对象", "a platform push must be a JSON object")
    return data


def _kind(data: dict[str, Any]) -> MessageKind:
    value = data.get("xxlx")
    if value in (None, ""):
        raise _problem("xxlx", "缺少信息类型 xxlx", "xxlx (message type) is missing")
    kind = _KINDS.get(value) if isinstance(value, str) else None
    if kind is None:
        raise _problem(
            "xxlx",
            f"平台格式暂只支持信息类型 {'、'.join(_KINDS)}；"
            "其他类型请按统一消息格式推送（POST /messages）",
            f"the platform format supports xxlx {', '.join(_KINDS)} only;"
            " push other kinds as canonical messages (POST /messages)",
        )
    return kind


def _unknown_keys(data: dict[str, Any], kind: MessageKind) -> list[FieldProblem]:
    allowed = _COMMON_KEYS | _KIND_KEYS[kind]
    return [
        FieldProblem(
            key, f"不认识的字段（{kind.label}不使用此字段）", f"unknown key for {kind.value}"
        )
        for key in sorted(set(data) - allowed)
    ]


_TSSJ_PROBLEM = FieldProblem(
    "tssj",
    "推送时间 tssj 缺失或格式错误，应为 YYYY-MM-DD HH:MM:SS（北京时间）",
    "tssj (push time) is missing or malformed; expected YYYY-MM-DD HH:MM:SS (Beijing time)",
)


def _given(value: object) -> bool:
    return value is not None and value != ""


def _compact(**fields: object) -> dict[str, object]:
    """The fields that were given (neither None nor the empty string)."""
    return {name: value for name, value in fields.items() if _given(value)}


def _date(value: object) -> object:
    """ISO date text for a recognised date (``YYYY-MM-DD``, ``YYYYMMDD``, with a time or not)."""
    parsed = _datetime(value)
    return parsed.date().isoformat() if isinstance(parsed, dt.datetime) else value


def _datetime(value: object) -> object:
    """An aware datetime for a recognised time (naive = Beijing); others left for validation."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) == 14 and text.isdigit():  # YYYYMMDDHHMMSS
        text = f"{text[:8]}T{text[8:]}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=BEIJING)


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.datetime) else value


class _Draft:
    """Builds the canonical JSON object from a platform push, collecting mapping problems."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.problems: list[FieldProblem] = []

    def get(self, key: str) -> Any:
        value = self.data.get(key)
        return value if _given(value) else None

    def message(self, kind: MessageKind, received_at: dt.datetime | None) -> dict[str, object]:
        body = self.approval() if kind is MessageKind.APPROVAL_DECISION else self.supervision()
        return _compact(
            kind=kind.value,
            direction=next(iter(ALLOWED_DIRECTIONS[kind])).value,
            sender=_compact(
                department_id=self.get("tsbm"),
                name=self.get("tsbm_mc"),
                contact=self.contact("tsr", "tsr_lxdh"),
            ),
            recipients=self.recipients(),
            subject=self.get("bt") or self.subject(kind),
            occurred_at=_iso(self.occurred_at(kind)),
            classification=self.classification(),
            attachments=self.attachments(),
            source=_compact(
                channel=Channel.PLATFORM.value,
                system=self.get("xtbs") or PLATFORM_SYSTEM,
                source_id=self.get("ywlsh"),
                received_at=_iso(received_at or _datetime(self.get("tssj"))),
            ),
            body=body,
        )

    def contact(self, name_key: str, phone_key: str) -> dict[str, object] | None:
        return _compact(name=self.get(name_key), phone=self.get(phone_key)) or None

    def subject(self, kind: MessageKind) -> str:
        what = self.get("sxmc") if kind is MessageKind.APPROVAL_DECISION else self.get("jglb")
        head, who = str(what or kind.label), self.get("xdr_mc")
        return (f"{head}：{who}" if isinstance(who, str) else head)[:200]

    def occurred_at(self, kind: MessageKind) -> object:
        if self.get("fssj") is not None:
            return _datetime(self.get("fssj"))
        date_key = "xkrq" if kind is MessageKind.APPROVAL_DECISION else "cfjdrq"
        midnight = _datetime(_date(self.get(date_key)))
        return midnight if isinstance(midnight, dt.datetime) else _datetime(self.get("tssj"))

    def recipients(self) -> object:
        value = self.get("jsbm")
        if isinstance(value, str):
            return [part for part in re.split(r"[,，;；\s]+", value) if part]
        return value

    def classification(self) -> dict[str, object] | None:
        level = self.choice("mj", _LEVELS)
        return None if level is None else {"level": level.value}

    def choice(self, key: str, table: Mapping[str, _T]) -> _T | None:
        """The table entry for the value at ``key``; a problem when the value is not in it."""
        value = self.get(key)
        found = table.get(value) if isinstance(value, str) else None
        if value is not None and found is None:
            self.problems.append(
                FieldProblem(
                    key,
                    f"{key} 取值须为 {'、'.join(table)} 之一",
                    f"{key} must be one of {', '.join(table)}",
                )
            )
        return found

    def attachments(self) -> object:
        value = self.get("fj")
        if not isinstance(value, list):
            return value
        return [_attachment(item) for item in value]

    def party(self) -> dict[str, object] | None:
        if not any(self.get(key) is not None for key in _PARTY_KEYS):
            return None
        return _compact(
            name=self.get("xdr_mc"),
            uscc=self.get("xdr_tyshxydm"),
            contact=self.contact("xdr_lxr", "xdr_lxdh"),
            address=self.get("xdr_dz"),
        )

    def approval(self) -> dict[str, object]:
        commitment = self.commitment()
        return _compact(
            kind=MessageKind.APPROVAL_DECISION.value,
            item=_compact(name=self.get("sxmc"), code=self.get("sxbm")),
            party=self.party(),
            licence=_compact(
                number=self.get("xkwh"),
                name=self.get("xkzmc"),
                decision_date=_date(self.get("xkrq")),
                valid_from=_date(self.get("yxqq")),
                valid_until=self.valid_until(),
                content=self.get("xknr"),
            ),
            commitment=commitment or None,
            commitment_letter_sha256=self.commitment_letter() if commitment else None,
            risk_points=self.get("fxd"),
        )

    def valid_until(self) -> object:
        value = self.get("yxqz")
        return None if isinstance(value, str) and value in _NO_EXPIRY else _date(value)

    def commitment(self) -> bool:
        value = self.get("gzcn")
        return value if isinstance(value, bool) else bool(self.choice("gzcn", _YES_NO))

    def commitment_letter(self) -> object:
        for item in self.get("fj") or []:
            if isinstance(item, dict) and item.get("fjlx") == _COMMITMENT_LETTER:
                return item.get("sha256")
        return None  # canonical validation says the commitment letter is missing

    def supervision(self) -> dict[str, object]:
        category = self.choice("jglb", _CATEGORIES)
        decision = _compact(
            document_number=self.get("cfjdswh"),
            decision_date=_date(self.get("cfjdrq")),
            published_date=_date(self.get("gsrq")),
        )
        return _compact(
            kind=MessageKind.SUPERVISION_INFO.value,
            category=category.value if category is not None else None,
            party=self.party(),
            licence_number=self.get("xkwh"),
            decision=decision or None,
            summary=self.get("jgnr"),
        )


def _attachment(item: object) -> object:
    """One ``fj`` entry as an attachment reference; ``fjlx`` is the platform's own label."""
    if not isinstance(item, dict):
        return item
    return {
        _PLATFORM_ATTACHMENT_KEYS.get(key, key): value
        for key, value in item.items()
        if key != "fjlx"
    }
