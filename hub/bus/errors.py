"""The bus's exceptions, all under ``hub.errors.HubError``.

HubError
└── BusError                 anything the bus raises on purpose
    ├── BusConfigError       the broker URL is unusable (unknown scheme: "did you mean …")
    ├── BusUnavailable       the broker cannot be reached now; retryable (the outbox relay
    │                        republishes whatever a caller could not publish)
    └── BusMessageError      a body is not a JSON object of JSON values; not retryable

Backend libraries' errors are translated into these at the boundary (``raise … from exc``);
nothing from kombu or pika leaks to callers.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from hub.errors import HubError


class BusError(HubError):
    """Root of the bus's errors."""


class BusConfigError(BusError):
    """The broker URL cannot be used; ``suggestion`` is the nearest known scheme, if any."""

    def __init__(self, message: str, *, suggestion: str | None = None) -> None:
        self.suggestion = suggestion
        super().__init__(message)

    @classmethod
    def unknown_scheme(cls, scheme: str, known: Iterable[str], *, source: str) -> BusConfigError:
        """Build the error for an unknown URL scheme, with a difflib "did you mean" hint."""
        names = sorted(known)
        close = difflib.get_close_matches(scheme, names, n=1, cutoff=0.6)
        suggestion = close[0] if close else None
        hint = f' (did you mean "{suggestion}"?)' if suggestion else ""
        return cls(
            f'unknown broker URL scheme "{scheme}" in {source}{hint}; '
            f"known schemes: {', '.join(names)}",
            suggestion=suggestion,
        )


class BusUnavailable(BusError):
    """The broker cannot be reached (connection lost, refused, timed out). Retrying may help."""

    retryable = True


class BusMessageError(BusError):
    """A message body cannot be encoded as JSON. Retrying the same body cannot help."""

    retryable = False
