"""structlog set-up: JSON lines on stderr, ISO timestamps, level filtering by ``HUB_LOG_LEVEL``."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog


def configure_logging(level: str | None = None) -> None:
    """Configure structlog once for the process. Logs go to stderr so stdout stays for output."""
    name = (level or os.environ.get("HUB_LOG_LEVEL", "WARNING")).upper()
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # it logs tracebacks on every reset;
    # the bus logs its own bus.reconnect events with the error
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=False),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[name]),
        logger_factory=_StderrLoggerFactory(),
        cache_logger_on_first_use=False,
    )


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is *now* (it may be swapped, e.g. in tests)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


class _StderrLoggerFactory:
    def __call__(self, *args: Any) -> _StderrLogger:
        return _StderrLogger()
