"""Content-addressed attachment store: bytes kept under their sha256, checked on the way in.

The canonical message refers to attachments by sha256 (with size, type and name); the bytes
live here, so a channel that carries files (mail, paper print-outs) can attach them, and an
inbound channel that receives files stores them before the message refers to them.
``HUB_BLOB_DIR`` (default ``var/blobs``) is the folder; files are ``ab/cd/abcd…``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from hub.errors import HubError


class BlobError(HubError):
    """Bytes do not match the sha256 they are stored or asked for under."""


class BlobStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(os.environ.get("HUB_BLOB_DIR", "var/blobs"))

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes, *, expect_sha256: str | None = None) -> str:
        """Store ``data``; returns its sha256 (BlobError if it is not ``expect_sha256``)."""
        digest = hashlib.sha256(data).hexdigest()
        if expect_sha256 is not None and digest != expect_sha256:
            raise BlobError(f"附件内容与 sha256 不符 (content does not match {expect_sha256})")
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as temp:
                temp.write(data)
            os.replace(temp.name, target)
        return digest

    def get(self, sha256: str) -> bytes | None:
        """The bytes stored under ``sha256``, verified; None when not stored here."""
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobError(f"附件 {sha256} 已损坏 (stored bytes do not match their sha256)")
        return data

    def has(self, sha256: str) -> bool:
        return self.path(sha256).exists()
