"""Shared CLI output: a rich console for people, plain JSON on stdout for machines."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console


def _width() -> int | None:
    """Wide tables when output is not a terminal (CI logs, pipes); the terminal's own otherwise."""
    return None if sys.stdout.isatty() else 140


console = Console(highlight=False, width=_width())
err_console = Console(stderr=True, highlight=False, width=_width())


def emit_json(payload: Any) -> None:
    """Print one JSON document on stdout (UTF-8, Chinese kept readable)."""
    print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
