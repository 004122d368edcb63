"""The spool folder: the only place the paper channel writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_spool(folder: Path, name: str, text: str, record: dict[str, Any]) -> Path:
    """Write ``name``.txt and ``name``.json atomically (temp file + rename); returns the .txt."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.txt"
    for path, content in (
        (folder / f"{name}.json", json.dumps(record, ensure_ascii=False, indent=2)),
        (target, text),
    ):
        temp = path.with_suffix(path.suffix + ".tmp")
        temp.write_text(content, encoding="utf-8")
        os.replace(temp, path)
    return target
