"""Fixtures for the canonical-message tests: fresh sample messages as dicts to mutate."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hub

SAMPLES_DIR = Path(hub.__file__).parent / "samples"


def _sample(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES_DIR / relative).read_text(encoding="utf-8"))
    return data


FOOD = "liangshan/01-approval_decision-food-licence.json"
SUSPENSION = "liangshan/02-supervision_info-suspension.json"


@pytest.fixture
def food() -> dict[str, Any]:
    """A valid approval decision (梁山 food business licence) to mutate."""
    return _sample(FOOD)


@pytest.fixture
def suspension() -> dict[str, Any]:
    """A valid supervision info (梁山 责令停产停业) with one attachment, to mutate."""
    return _sample(SUSPENSION)


@pytest.fixture
def dumps() -> Callable[[dict[str, Any]], str]:
    """JSON text of a message dict."""
    return lambda data: json.dumps(data, ensure_ascii=False)
