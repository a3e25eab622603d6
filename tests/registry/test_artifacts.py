"""The artifact store: bytes named by their sha256, refused past the limit while streaming, formats told
by content."""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from tests._fixtures.registry import applicants, stored_files

from loopwise.errors import LimitError, ParameterError
from loopwise.registry import ArtifactStore, sniff


class Endless(io.RawIOBase):
    """A stream of zeros that never ends, counting what was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = len(buffer)
        buffer[:n] = b"\0" * n
        self.read_bytes += n
        return n


def test_the_same_bytes_are_stored_once_under_their_sha256(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    data = b"some model bytes" * 1000
    first = store.put(data)
    second = store.put(io.BytesIO(data))
    assert first.sha256 == second.sha256 == hashlib.sha256(data).hexdigest()
    assert first.size == len(data)
    files = stored_files(tmp_path / "a")
    assert files == [tmp_path / "a" / first.sha256[:2] / first.sha256]
    assert files[0].read_bytes() == data


def test_an_oversized_upload_is_refused_while_streaming_and_leaves_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a", max_bytes=3 * 2**20)
    stream = Endless()
    with pytest.raises(LimitError, match="larger than the limit of 3145728 bytes"):
        store.put(stream)  # type: ignore[arg-type]
    # Refused at the first chunk past the limit, not after reading everything (it never ends).
    assert stream.read_bytes <= 3 * 2**20 + 2**20
    assert stored_files(tmp_path / "a") == []
    # An upload of exactly the limit is accepted.
    assert store.put(b"x" * (3 * 2**20)).size == 3 * 2**20


def test_a_caller_cannot_name_a_path(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    for bad in ("../../etc/passwd", "/etc/passwd", "a" * 63 + "/", "A" * 64):
        with pytest.raises(ParameterError, match="64 lowercase hexadecimal digits"):
            store.path(bad)


def test_formats_are_told_by_content(tmp_path: Path) -> None:
    X, y = applicants(200, 3)
    est = LogisticRegression().fit(X, y)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert sniff(pickle.dumps(est, protocol=protocol)[:4096]) == "pickle", protocol
    for compress in (0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)):
        path = tmp_path / f"m{compress!s}.joblib"
        joblib.dump(est, path, compress=compress)
        assert sniff(path.read_bytes()[:4096]) in ("pickle",), compress
    assert sniff(sio.dumps(est)) == "skops"
    # A long skops file: the zip's directory is past the head, the store reads the whole file.
    wide = np.random.default_rng(4).normal(size=(200, 3000))
    big = sio.dumps(LogisticRegression().fit(wide, y))
    assert len(big) > 4096
    assert ArtifactStore(tmp_path / "s").put(big).format == "skops"
    assert sniff(b"a,b\n1,2\n") is None
