"""parse_message: bilingual problems with clean field paths; message_json_schema."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import ValidationError

import hub
from hub.errors import FieldProblem, MessageError
from hub.message import BODY_BY_KIND, CanonicalMessage, MessageKind
from hub.validation import message_json_schema, parse_message, translate_error

SAMPLES_DIR = Path(hub.__file__).parent / "samples"
SAMPLE_FILES = sorted(SAMPLES_DIR.glob("*/*.json"))
INVALID_FILES = sorted((Path(__file__).parents[2] / "data/messages/invalid").glob("*.json"))
Dumps = Callable[[dict[str, Any]], str]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _problems(raw: bytes | str) -> list[FieldProblem]:
    with pytest.raises(MessageError) as caught:
        parse_message(raw)
    assert caught.value.problems
    return caught.value.problems


def _assert_bilingual(problem: FieldProblem) -> None:
    assert CJK.search(problem.zh), problem
    assert problem.en and not CJK.search(problem.en.split(":")[0]), problem


# --- the invalid payloads in tests/data/messages/invalid ------------------------------------


def test_there_are_invalid_payloads() -> None:
    assert len(INVALID_FILES) >= 7


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.stem)
def test_invalid_payload_names_the_field(path: Path) -> None:
    expected = path.with_suffix(".expect").read_text(encoding="utf-8").split()
    problems = _problems(path.read_bytes())
    paths = {p.path for p in problems}
    for field_path in expected:
        assert field_path in paths, f"{field_path} not in {paths}"
    for problem in problems:
        _assert_bilingual(problem)


# --- paths and translations -----------------------------------------------------------------

TRANSLATIONS = [
    # (mutation, expected path, fragment of the Chinese text)
    (lambda m: m["body"]["licence"].pop("number"), "body.licence.number", "缺少必填字段"),
    (lambda m: m["body"]["party"].update(nickname="x"), "body.party.nickname", "不允许的字段"),
    (lambda m: m.update(subject="题" * 201), "subject", "不能超过 200 个字符"),
    (lambda m: m["sender"].update(department_id="X"), "sender.department_id", "格式不符合要求"),
    (lambda m: m.update(direction="up"), "direction", "取值必须是"),
    (lambda m: m.update(occurred_at="2026-09-15T10:12:00"), "occurred_at", "必须带时区"),
    (lambda m: m.update(occurred_at="昨天"), "occurred_at", "日期时间"),
    (
        lambda m: m["body"]["licence"].update(decision_date="2026-13-01"),
        "body.licence.decision_date",
        "日期",
    ),
    (lambda m: m["body"].update(kind="nope"), "body.kind", "未知的消息类型"),
    (lambda m: m["body"].pop("kind"), "body.kind", "缺少 kind"),
    (lambda m: m.update(recipients="scjg"), "recipients", "数组"),
    (lambda m: m.update(sender="xzsp"), "sender", "JSON 对象"),
    (lambda m: m["body"].update(commitment="yes"), "body.commitment", "布尔值"),
    (lambda m: m["body"]["party"].update(uscc="9137083"), "body.party.uscc", "18"),
    (lambda m: m["body"].update(risk_points=["风险"] * 51), "body.risk_points", "最多允许 50 项"),
]


@pytest.mark.parametrize(("mutate", "path", "zh"), TRANSLATIONS)
def test_problem_path_and_translation(
    food: dict[str, Any], dumps: Dumps, mutate: Callable[[dict[str, Any]], Any], path: str, zh: str
) -> None:
    mutate(food)
    problems = {p.path: p for p in _problems(dumps(food))}
    assert path in problems, list(problems)
    assert zh in problems[path].zh
    _assert_bilingual(problems[path])


def test_union_tag_is_dropped_from_paths(food: dict[str, Any], dumps: Dumps) -> None:
    food["body"]["party"]["uscc"] = "91370832MA3C4R7K0A"
    with pytest.raises(ValidationError) as raw_error:
        CanonicalMessage.model_validate_json(dumps(food))
    assert raw_error.value.errors()[0]["loc"][:2] == ("body", "approval_decision")
    (problem,) = _problems(dumps(food))
    assert problem.path == "body.party.uscc"
    assert "校验码" in problem.zh and "check character" in problem.en


def test_every_problem_is_reported(food: dict[str, Any], dumps: Dumps) -> None:
    food["subject"] = ""
    food["sender"]["department_id"] = "XZSP"
    food["body"]["licence"].pop("number")
    food["extra"] = 1
    paths = {p.path for p in _problems(dumps(food))}
    assert paths == {"subject", "sender.department_id", "body.licence.number", "extra"}


@pytest.mark.parametrize(
    ("raw", "zh"),
    [("{", "不是合法的 JSON"), ("[]", "JSON 对象"), ("", "不是合法的 JSON"), (b"\xff", "JSON")],
)
def test_not_a_json_object(raw: str | bytes, zh: str) -> None:
    (problem,) = _problems(raw)
    assert problem.path == ""
    assert zh in problem.zh
    assert str(problem).startswith("<root>: ")


def test_bytes_input_in_utf8(food: dict[str, Any], dumps: Dumps) -> None:
    message = parse_message(dumps(food).encode("utf-8"))
    assert message.field("body.party.name") == "梁山县水泊人家餐饮管理有限公司"


def test_input_values_are_not_echoed(food: dict[str, Any], dumps: Dumps) -> None:
    food["body"]["party"]["contact"]["phone"] = "secret-phone-13800000000"
    for problem in _problems(dumps(food)):
        assert "13800000000" not in problem.zh + problem.en


def test_translate_error_works_for_any_model() -> None:
    # The routing loader uses it for its own config models.
    from pydantic import BaseModel, ConfigDict

    class Other(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        count: int

    with pytest.raises(ValidationError) as caught:
        Other.model_validate({"count": "3", "x": 1})
    texts = [translate_error(e) for e in caught.value.errors()]
    assert texts[0][0].startswith("必须是整数") and "integer" in texts[0][1]
    assert texts[1][0].startswith("不允许的字段") and "not permitted" in texts[1][1]


def test_value_error_with_its_own_texts() -> None:
    from pydantic import AfterValidator, TypeAdapter

    from hub.uscc import validate_uscc

    adapter = TypeAdapter(Annotated[str, AfterValidator(validate_uscc)])
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python("91350100M000100Y44")
    zh, en = translate_error(caught.value.errors()[0])
    assert zh.startswith("统一社会信用代码校验码错误") and en.startswith("check character")


def test_unknown_error_type_still_has_chinese() -> None:
    error: Any = {"type": "some_new_type", "loc": ("x",), "msg": "Something", "input": 1}
    zh, en = translate_error(error)
    assert "some_new_type" in zh and en == "Something"


# --- JSON Schema ----------------------------------------------------------------------------


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_schema_covers_every_kind() -> None:
    schema = message_json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    mapping = schema["properties"]["body"]["discriminator"]["mapping"]
    assert set(mapping) == {k.value for k in MessageKind}
    for kind in MessageKind:
        body = schema["$defs"][BODY_BY_KIND[kind].__name__]
        assert body["additionalProperties"] is False
        assert body["required"][0] == "kind"
    assert schema["additionalProperties"] is False
    assert {"message_id", "idempotency_key"} <= set(schema["properties"])
    assert "message_id" not in schema["required"]


def test_schema_has_bilingual_descriptions() -> None:
    text = json.dumps(message_json_schema(), ensure_ascii=False)
    assert "统一社会信用代码" in text and "unified social credit code" in text
    assert "踏勘地址" in text and "site address" in text


@pytest.mark.parametrize("kind", list(MessageKind))
def test_schema_for_one_kind(kind: MessageKind) -> None:
    schema = message_json_schema(kind)
    assert schema["properties"]["kind"]["const"] == kind.value
    body_def = BODY_BY_KIND[kind].__name__
    assert schema["properties"]["body"]["$ref"] == f"#/$defs/{body_def}"
    others = {m.__name__ for k, m in BODY_BY_KIND.items() if k is not kind}
    assert not others & set(schema["$defs"])
    for ref in _refs(schema):
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref


def test_samples_validate_against_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = message_json_schema()
    for path in SAMPLE_FILES:
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema)
