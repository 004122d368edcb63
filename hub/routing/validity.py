"""Whether the measures a routing profile encodes are in force on a given day."""

from __future__ import annotations

import datetime as dt

from hub.routing.model import Measures


def validity_warnings(measures: Measures, day: dt.date) -> list[str]:
    """Warn when the measures have expired or are not yet in force on ``day``."""
    if measures.effective_until is not None and day > measures.effective_until:
        return [
            f"《{measures.title}》有效期至 {measures.effective_until}，已过期，请核实现行规定 "
            f"(the measures expired on {measures.effective_until}: check the rules in force)"
        ]
    if day < measures.effective_from:
        return [
            f"《{measures.title}》自 {measures.effective_from} 起施行，尚未生效 "
            f"(the measures take effect on {measures.effective_from})"
        ]
    return []
