"""RoutingError carries zh, en and path like ActionError; str() keeps the house form."""

from __future__ import annotations

import pickle

import pytest

from hub.errors import ClassifiedRoutingError, RoutingError
from hub.routing import LoadedRouting
from tests.unit.routing.conftest import build, sample


@pytest.mark.parametrize(
    ("args", "kwargs", "zh", "en", "path", "text"),
    [
        (
            ("未知的收件部门 'x'", "unknown department 'x'"),
            {"path": "recipients"},
            "未知的收件部门 'x'",
            "unknown department 'x'",
            "recipients",
            "未知的收件部门 'x' (unknown department 'x')",
        ),
        (
            ("没有匹配的路由 (no route delivers M1 (fan-out))",),
            {},
            "没有匹配的路由",
            "no route delivers M1 (fan-out)",
            "",
            "没有匹配的路由 (no route delivers M1 (fan-out))",
        ),
        (("只有中文",), {}, "只有中文", "只有中文", "", "只有中文"),
    ],
    ids=["fields", "one-string-split", "unsplittable"],
)
def test_fields_and_text(
    args: tuple[str, ...], kwargs: dict[str, str], zh: str, en: str, path: str, text: str
) -> None:
    exc = RoutingError(*args, **kwargs)
    assert (exc.zh, exc.en, exc.path, str(exc)) == (zh, en, path, text)


def test_survives_pickling_and_subclasses_keep_the_fields() -> None:
    exc = ClassifiedRoutingError("涉密消息不得线上推送", "classified content online")
    again = pickle.loads(pickle.dumps(exc))
    assert isinstance(again, ClassifiedRoutingError)
    assert (again.zh, again.en, str(again)) == (exc.zh, exc.en, str(exc))


def test_the_router_raises_with_zh_and_en(minimal: LoadedRouting) -> None:
    message = build(sample("guanxian", "01"), sender__department_id="nosuch")
    with pytest.raises(RoutingError) as caught:
        minimal.router.resolve(message)
    assert caught.value.zh.startswith("未知的发送部门")
    assert caught.value.en.startswith("unknown sender department")
