"""Dotted field paths over pydantic models: resolve one on an instance, list all for a class.

Used by ``CanonicalMessage.field`` (the router's field matchers) and ``message_field_paths``
(so routing config can reject a path no message can have). Only declared fields, computed
fields and public properties are reachable; methods and private attributes never are.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel


def resolve_path(root: BaseModel, path: str) -> object | None:
    """Return the value at ``path`` ("body.party.uscc"), or None when any step is absent.

    Steps go through model attributes, dict keys and tuple indexes ("attachments.0.name").
    """
    value: object = root
    for step in path.split("."):
        value = _step(value, step)
        if value is None:
            return None
    return value


def _step(value: object, step: str) -> object | None:
    if isinstance(value, BaseModel):
        return getattr(value, step) if step in public_attributes(type(value)) else None
    if isinstance(value, dict):
        return value.get(step)
    if isinstance(value, tuple) and step.isdigit():
        index = int(step)
        return value[index] if index < len(value) else None
    return None


def public_attributes(model: type[BaseModel]) -> frozenset[str]:
    """Fields, computed fields and public properties of ``model`` (not BaseModel's own)."""
    names = set(model.model_fields) | set(model.model_computed_fields)
    for klass in model.__mro__:
        if klass is BaseModel:
            break
        names |= {
            name
            for name, attr in vars(klass).items()
            if isinstance(attr, property) and not name.startswith("_")
        }
    return frozenset(names)


def model_paths(model: type[BaseModel], prefix: str = "") -> frozenset[str]:
    """Every dotted path reachable in ``model``, recursing into nested (optional/union) models."""
    paths: set[str] = set()
    for name in public_attributes(model):
        paths.add(prefix + name)
        info = model.model_fields.get(name)
        if info is None:
            continue
        for nested in model_types(info.annotation):
            paths |= model_paths(nested, f"{prefix}{name}.")
    return frozenset(paths)


def model_types(annotation: Any) -> list[type[BaseModel]]:
    """The model classes inside an annotation such as ``Party | None`` or a body union."""
    origin = get_origin(annotation)
    candidates = get_args(annotation) if origin in (Union, types.UnionType) else (annotation,)
    return [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
