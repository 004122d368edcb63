"""Every file in tests/data/routing/bad/ must fail with its expected message at its expected line.

Each bad file starts with ``# expect: line N: TEXT`` naming the line and a part of the error.
Each file in tests/data/routing/warn/ loads, with a warning (``# warn: line N: TEXT``) that
``hub routing check`` and ``hub run`` show.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.errors import ConfigError
from hub.routing import LoadedRouting, load_routing

DATA = Path(__file__).resolve().parents[2] / "data" / "routing"
BAD = sorted((DATA / "bad").glob("*.yaml"))
WARN = sorted((DATA / "warn").glob("*.yaml"))


def _expectation(path: Path, word: str = "expect") -> tuple[int, str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    found = re.fullmatch(rf"# {word}: line (\d+): (.+)", first)
    assert found, f"{path.name} lacks its '# {word}: line N: TEXT' header"
    return int(found.group(1)), found.group(2)


def test_the_minimal_config_is_valid() -> None:
    loaded = load_routing(DATA / "minimal.yaml")
    assert loaded.config.jurisdiction.name == "测试县"
    assert [r.id for r in loaded.router.tree.walk()] == [
        "root",
        "approval",
        "to-bureau",
        "addressed",
    ]


def test_there_are_bad_configs() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_fails_with_its_message_and_line(path: Path) -> None:
    line, text = _expectation(path)
    with pytest.raises(ConfigError) as caught:
        load_routing(path)
    problems = caught.value.problems
    rendered = [f"{p.line}: {p.zh} | {p.en} | {p.path}" for p in problems]
    assert any(
        p.line == line and (text in p.en or text in p.zh or text in p.path) for p in problems
    ), rendered
    assert all(p.file == str(path) for p in problems)
    assert all(p.zh and p.en for p in problems)


def test_there_are_warning_configs() -> None:
    assert len(WARN) >= 3


@pytest.mark.parametrize("path", WARN, ids=[p.stem for p in WARN])
def test_warning_config_loads_with_its_warning_and_line(path: Path) -> None:
    line, text = _expectation(path, "warn")
    loaded = load_routing(path)
    notices = [f"{p.line}: {p.zh} | {p.en} | {p.path}" for p in loaded.notices]
    assert any(p.line == line and (text in p.en or text in p.zh) for p in loaded.notices), notices
    assert any(text in w and f"{path}:{line}:" in w for w in loaded.warnings), loaded.warnings
    assert all(p.zh and p.en and p.file == str(path) for p in loaded.notices)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = (DATA / "minimal.yaml").read_text(encoding="utf-8")
    text = text.replace("to: [scjg]", "to: [scjg, wsjk]").replace(
        "{to: xzsp, action: remind}", "{to: lxhy, action: remind}"
    )
    path = tmp_path / "two.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_routing(path)
    messages = " ".join(p.en for p in caught.value.problems)
    assert "'wsjk'" in messages and "'lxhy'" in messages


def test_an_override_that_escalates_to_a_department_without_a_chain_is_refused(
    load_variant: Callable[..., LoadedRouting],
) -> None:
    # Given the approval route sending to zjj (no chain) and escalating through its overrides
    with pytest.raises(ConfigError) as caught:
        load_variant(
            (
                "      to: [scjg]\n",
                "      to: [zjj]\n      overrides: {claim: {on_timeout: escalate}}\n",
            )
        )
    (problem,) = caught.value.problems
    assert problem.path == "departments[2].id"
    assert "department 'zjj' has no escalation chain but route approval escalates" in problem.en


def test_a_route_with_only_paper_channels_for_classified_content_is_fine(
    load_variant: Callable[..., LoadedRouting],
) -> None:
    loaded = load_variant(
        (
            '    - id: addressed\n      to: ["@recipients"]\n',
            "    - id: secret\n      match: {classified: true}\n      channels: [paper]\n"
            '      to: ["@recipients"]\n    - id: addressed\n      to: ["@recipients"]\n',
        )
    )
    assert "secret" in [r.id for r in loaded.router.tree.walk()]
