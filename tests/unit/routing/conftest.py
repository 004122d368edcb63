"""Fixtures for router tests: the minimal config and messages built from the shipped samples."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.message import CanonicalMessage
from hub.routing import LoadedRouting, load_routing, load_routing_text
from hub.validation import parse_message

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "hub" / "samples"
MINIMAL = ROOT / "tests" / "data" / "routing" / "minimal.yaml"

MessageFactory = Callable[..., CanonicalMessage]


def sample(county: str, prefix: str) -> dict[str, Any]:
    """A sample message as a dict (the first file in ``county`` starting with ``prefix``)."""
    path = next(iter(sorted((SAMPLES / county).glob(f"{prefix}*.json"))))
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def build(data: dict[str, Any], **changes: Any) -> CanonicalMessage:
    """Parse ``data`` after applying dotted-path changes (``sender__department_id="scjg"``)."""
    data = copy.deepcopy(data)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return parse_message(json.dumps(data, ensure_ascii=False))


@pytest.fixture(scope="session")
def minimal() -> LoadedRouting:
    return load_routing(MINIMAL)


@pytest.fixture(scope="session")
def minimal_text() -> str:
    return MINIMAL.read_text(encoding="utf-8")


@pytest.fixture
def load_variant(minimal_text: str) -> Callable[..., LoadedRouting]:
    """The minimal config with text replacements applied, loaded."""

    def _load(*pairs: tuple[str, str]) -> LoadedRouting:
        text = minimal_text
        for old, new in pairs:
            assert old in text, old
            text = text.replace(old, new, 1)
        return load_routing_text(text, file="variant.yaml")

    return _load
