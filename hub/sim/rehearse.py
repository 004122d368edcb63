"""One rehearsal from files: routing config, message folder, behaviour file → :class:`Report`."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from hub.routing import LoadedRouting, load_routing
from hub.sim.behaviour import Behaviour, BehaviourError, load_behaviour
from hub.sim.engine import SimInput, simulate
from hub.sim.report import Report, build_report


def load_messages(folder: Path) -> tuple[tuple[str, bytes], ...]:
    """Every ``*.json`` in ``folder``, by name."""
    if not folder.is_dir():
        raise BehaviourError(f"消息目录不存在：{folder}", f"no such message folder: {folder}")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise BehaviourError(f"消息目录中没有 .json 文件：{folder}", f"no .json files in {folder}")
    return tuple((f.name, f.read_bytes()) for f in files)


def check(behaviour: Behaviour, routing: LoadedRouting, files: set[str]) -> None:
    """Every department and file the behaviour names must exist."""
    known = {d.id for d in routing.config.departments}
    for name in sorted(set(behaviour.departments) - known):
        raise BehaviourError(
            f"行为文件中的部门 {name} 不在路由配置中", f"unknown department {name!r}"
        )
    for entry in behaviour.schedule:
        if entry.file not in files:
            raise BehaviourError(
                f"schedule 中的文件 {entry.file} 不在消息目录中", f"unknown file {entry.file!r}"
            )


def rehearse(
    config: Path, messages: Path, start: dt.datetime, days: float, behaviour_file: Path
) -> Report:
    """Load everything, run the rehearsal in a temp dir, and report per push."""
    routing = load_routing(config)
    found = load_messages(messages)
    behaviour = load_behaviour(behaviour_file)
    check(behaviour, routing, {name for name, _ in found})
    sim = SimInput(routing, found, start, days, behaviour)
    with tempfile.TemporaryDirectory(prefix="hub-sim-") as tmp, simulate(sim, Path(tmp)) as out:
        return build_report(out)
