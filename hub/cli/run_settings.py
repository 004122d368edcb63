"""What ``hub run`` and its demo share: the settings from the environment, the demo's start and
its scratch folder. Kept apart so that ``run_cmd`` and ``demo_run`` do not import each other."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.service import Settings

DEMO_START = dt.datetime(2026, 10, 8, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def settings_with(port: int | None, **changes: object) -> Settings:
    """``Settings()`` from the environment, with ``port`` (when given) and ``changes``."""
    settings = Settings()
    values: dict[str, object] = {"api_port": port or settings.api_port, **changes}
    return Settings(**{**settings.__dict__, **values})


def fresh_demo_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
