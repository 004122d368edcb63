"""Paper channel settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class PaperConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    spool_dir: Path = Path("var/paper")
