"""A short-lived cache of valid API tokens, so a request does not read the ledger for its token.

Only tokens found valid are kept (for ``seconds``, at most ``size`` of them): an unknown token
always asks the ledger, and a revoked token stops working within ``seconds`` in every process.
Keys are the tokens' sha256, never the tokens.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict


class TokenCache:
    def __init__(self, seconds: float = 10.0, size: int = 10_000) -> None:
        self.seconds, self.size = seconds, size
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> str | None:
        if self.seconds <= 0:
            return None
        key = _key(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, token: str, department_id: str) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            self._entries[_key(token)] = (time.monotonic() + self.seconds, department_id)
            self._entries.move_to_end(_key(token))
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self) -> None:
        """Drop every entry (a revocation in this process takes effect at once)."""
        with self._lock:
            self._entries.clear()


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
