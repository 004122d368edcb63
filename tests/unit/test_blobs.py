"""The attachment store keeps bytes under their sha256 and refuses mismatches."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hub.blobs import BlobError, BlobStore


def test_put_get_and_verification(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = "告知承诺书".encode()
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest() and store.has(digest)
    assert store.get(digest) == data
    assert store.get("0" * 64) is None
    with pytest.raises(BlobError):
        store.put(b"other", expect_sha256=digest)
    store.path(digest).write_bytes(b"tampered")
    with pytest.raises(BlobError, match="do not match"):
        store.get(digest)
