"""Dataclasses to JSON-ready dicts: instants as ISO 8601, bytes left out, tuples as lists."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` with every dataclass, instant, tuple and dict made JSON-ready (recursively)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not isinstance(getattr(value, f.name), bytes)
        }
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
