"""Load a routing.yaml in three passes, like Alertmanager: nodes, cross-references, compile.

``load_routing`` returns a ready ``Router`` or raises ``ConfigError`` listing every problem with
its YAML path and line. After the cross-reference pass come the checks over the whole tree
(:mod:`hub.routing.treecheck`) and over the channels this deployment has adapters for
(:mod:`hub.routing.channels`; default: every channel this build implements). Warnings (measures
expired, channels without an adapter, ...) do not stop loading.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from hub.errors import ConfigError, ConfigProblem
from hub.message import Channel
from hub.routing.channels import IMPLEMENTED_CHANNELS, check_channels
from hub.routing.crossref import cross_check
from hub.routing.model import RoutingConfig
from hub.routing.patches import check_patches
from hub.routing.router import Router
from hub.routing.treecheck import check_tree
from hub.routing.validity import validity_warnings
from hub.routing.yamlsource import YamlDocument, load_yaml_file, load_yaml_text
from hub.validation import translate_error

DEFAULT_ROUTING_FILE = "routing.yaml"


@dataclass(frozen=True)
class LoadedRouting:
    """A compiled config; ``warnings`` as operators read them, ``notices`` the located ones."""

    config: RoutingConfig
    router: Router
    warnings: tuple[str, ...]
    file: str
    channels: frozenset[Channel] = IMPLEMENTED_CHANNELS  # the channels it was checked against
    notices: tuple[ConfigProblem, ...] = ()


def default_routing_path() -> Path:
    """``$HUB_ROUTING`` or ``./routing.yaml``."""
    return Path(os.environ.get("HUB_ROUTING", DEFAULT_ROUTING_FILE))


def load_routing(
    path: Path | None = None,
    *,
    today: dt.date | None = None,
    channels: Iterable[Channel] | None = None,
) -> LoadedRouting:
    """Load, validate and compile a routing file, checking routes against ``channels``."""
    path = path or default_routing_path()
    return _build(load_yaml_file(path), today, channels)


def load_routing_text(
    text: str,
    *,
    file: str = "<text>",
    today: dt.date | None = None,
    channels: Iterable[Channel] | None = None,
) -> LoadedRouting:
    return _build(load_yaml_text(text, file=file), today, channels)


def _build(
    doc: YamlDocument, today: dt.date | None, channels: Iterable[Channel] | None
) -> LoadedRouting:
    config = validate_nodes(doc)
    problems = cross_check(config, doc) + check_patches(config, doc)
    if problems:
        raise ConfigError(problems)
    enabled = IMPLEMENTED_CHANNELS if channels is None else frozenset(channels)
    found = check_tree(config, doc)
    found.extend(check_channels(config, doc, enabled))
    if found.errors:
        raise ConfigError(found.errors)
    expired = validity_warnings(config.jurisdiction.measures, today or dt.date.today())
    warnings = (*expired, *(str(p) for p in found.warnings))
    return LoadedRouting(config, Router(config), warnings, doc.file, enabled, tuple(found.warnings))


def validate_nodes(doc: YamlDocument) -> RoutingConfig:
    """Pass 1: every node validates itself; all problems are reported at once."""
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [
                doc.problem(
                    (),
                    "文件内容必须是一个映射（mapping）",
                    "the file must contain a mapping at the top",
                )
            ]
        )
    try:
        return RoutingConfig.model_validate(doc.data)
    except ValidationError as exc:
        problems: list[ConfigProblem] = []
        for error in exc.errors(include_url=False):
            zh, en = translate_error(error)
            problems.append(doc.problem(error["loc"], zh, en))
        raise ConfigError(problems) from exc
