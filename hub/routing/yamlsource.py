"""Load YAML while remembering the line of every node, so config errors can name their line.

ruamel.yaml's round-trip loader keeps line/column marks; this module turns its tree into plain
Python values plus an index ``path tuple -> line`` and maps pydantic error locations onto it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from hub.errors import ConfigError, ConfigProblem

PathKey = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """Plain data of a YAML file and the 1-based line of every mapping key and sequence item."""

    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)
    file: str = ""

    def line_of(self, loc: Iterable[str | int]) -> int:
        """Line of the deepest node of ``loc`` present in the file (0 when nothing is)."""
        path = self.data_path(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1 if self.lines else 0

    def data_path(self, loc: Iterable[str | int]) -> PathKey:
        """Keep the parts of a pydantic ``loc`` that exist in the data (drops union tags)."""
        node: Any = self.data
        kept: list[str | int] = []
        for part in loc:
            if not _has(node, part):
                continue
            node = node[part]
            kept.append(part)
        return tuple(kept)

    def problem(self, loc: Iterable[str | int], zh: str, en: str) -> ConfigProblem:
        loc = tuple(loc)
        path = self.data_path(loc)
        return ConfigProblem(
            path=format_path(path), line=self.line_of(loc), zh=zh, en=en, file=self.file
        )


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def format_path(path: Iterable[str | int]) -> str:
    """``('route', 'routes', 1, 'to')`` -> ``route.routes[1].to``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml_text(text: str, *, file: str = "") -> YamlDocument:
    """Parse YAML text; syntax errors and duplicate keys become a ``ConfigError`` with the line."""
    yaml = YAML(typ="rt")
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        detail = " ".join(str(s) for s in (exc.context, exc.problem) if s)
        raise ConfigError(
            [
                ConfigProblem(
                    "", line, f"YAML 语法错误：{detail}", f"YAML syntax error: {detail}", file
                )
            ]
        ) from exc
    doc = YamlDocument(data=None, file=file)
    doc.data = _plain(root, (), doc.lines)
    return doc


def load_yaml_file(path: Path) -> YamlDocument:
    """Read and parse a YAML file; an unreadable file is a ``ConfigError`` too."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [ConfigProblem("", 0, f"无法读取文件：{exc}", f"cannot read file: {exc}", str(path))]
        ) from exc
    return load_yaml_text(text, file=str(path))


def _plain(node: Any, path: PathKey, lines: dict[PathKey, int]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key in node:
            line, _col = node.lc.key(key)
            lines[(*path, key)] = line + 1
            out[key] = _plain(node[key], (*path, key), lines)
        return out
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for index, item in enumerate(node):
            line, _col = node.lc.item(index)
            lines[(*path, index)] = line + 1
            items.append(_plain(item, (*path, index), lines))
        return items
    if isinstance(node, dt.datetime):  # ruamel's TimeStamp keeps its offset; make it plain
        return dt.datetime.fromisoformat(node.isoformat())
    if type(node).__name__ == "ScalarFloat":
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    return node
