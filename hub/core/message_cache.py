"""The messages a process accepted lately, parsed, so that delivering them needs no re-read.

Ingest remembers every message it commits; the dispatcher asks here first and reads (and
validates again) from the ledger only what it does not hold: a message accepted by another
process, or before a restart. Bounded (least recently used go first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.codec import message_from_json
from hub.ledger.batch import among
from hub.ledger.schema import MessageRow
from hub.message import CanonicalMessage


class MessageCache:
    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: OrderedDict[str, CanonicalMessage] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, messages: Iterable[CanonicalMessage]) -> None:
        with self._lock:
            for message in messages:
                self._entries[message.message_id] = message
                self._entries.move_to_end(message.message_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def load(self, session: Session, message_ids: Iterable[str]) -> dict[str, CanonicalMessage]:
        """The messages of ``message_ids`` (those in the ledger): held ones at once, the
        others read in one query and remembered."""
        wanted = set(message_ids)  # an iterator is read once
        found: dict[str, CanonicalMessage] = {}
        with self._lock:
            for message_id in wanted:
                message = self._entries.get(message_id)
                if message is not None:
                    found[message_id] = message
        missing = wanted - set(found)
        if missing:
            rows = session.execute(
                select(MessageRow.message_id, MessageRow.payload).where(
                    among(session, MessageRow.message_id, missing)
                )
            )
            loaded = {row.message_id: message_from_json(row.payload) for row in rows}
            self.remember(loaded.values())
            found |= loaded
        return found
