"""The artifact store: files named by their sha256, streamed in under a size limit (decision 0025).

A caller hands over bytes (a stream, a file it opened, an estimator the client serialised); the store picks
every part of the path itself: ``<directory>/<first two hex digits>/<sha256>``. The same bytes are stored
once. An upload is read in chunks into a temporary file in the store's own ``tmp`` folder, hashed as it
goes and refused as soon as it passes the limit; the temporary file is removed on every path out, and a
finished one is moved into place with one atomic rename.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickletools
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from loopwise.errors import DataError, LimitError, ParameterError

#: Bytes read from an upload at a time.
CHUNK_BYTES = 1 << 20
#: Leading bytes kept to decide the format.
HEAD_BYTES = 4096
#: Largest artifact accepted by default (``RegistrySettings.max_artifact_bytes``).
DEFAULT_MAX_BYTES = 512 * 2**20

#: What a file holds, decided from its bytes (``sniff``), never from its name.
SKOPS, ONNX, PICKLE = "skops", "onnx", "pickle"

# joblib writes its compressed files as the compressor's own stream, pickle inside.
_COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x5d\x00\x00": "lzma",
    b"\x04\x22\x4d\x18": "lz4",
    b"\x28\xb5\x2f\xfd": "zstd",
}
_ZLIB_SECOND_BYTES = (0x01, 0x5E, 0x9C, 0xDA)


@dataclass(frozen=True)
class StoredArtifact:
    sha256: str
    size: int
    #: ``skops`` or ``pickle`` as ``sniff`` found it, else None (ONNX, or bytes nothing can read).
    format: str | None


def sniff(head: bytes) -> str | None:
    """The artifact format the leading bytes show: ``skops`` (a zip holding ``schema.json``), ``pickle``
    (a pickle of any protocol, or a joblib file: a pickle in a compressed stream), else None (ONNX, a
    protobuf message, has no magic number: onnxruntime decides when it parses it).

    Example:
        >>> import pickle
        >>> sniff(pickle.dumps({"a": 1}, protocol=0)), sniff(pickle.dumps([1.5])), sniff(b"\\x08\\x07")
        ('pickle', 'pickle', None)
    """
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(head)) as z:
                return SKOPS if "schema.json" in z.namelist() else None
        except zipfile.BadZipFile:
            return None  # truncated head: the full file is checked by skops when it is read
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # PROTO opcode, protocols 2-5
        return PICKLE
    if any(head.startswith(magic) for magic in _COMPRESSED) or (
        len(head) >= 2 and head[0] == 0x78 and head[1] in _ZLIB_SECOND_BYTES
    ):
        return PICKLE
    return PICKLE if _parses_as_old_pickle(head) else None


def _parses_as_old_pickle(head: bytes) -> bool:
    """Protocols 0 and 1 have no header: parse the opcodes (``genops`` reads them, it runs nothing)."""
    parsed = 0
    try:
        for opcode, _arg, _pos in pickletools.genops(io.BytesIO(head)):
            if opcode.name == "STOP":
                return True
            parsed += 1
    except Exception:  # any bytes that are not opcodes end the parse; the question is how far it got
        pass
    # A long pickle's STOP lies past the head; many valid opcodes in a row are not chance.
    return parsed >= 16


class ArtifactStore:
    """Content-addressed files under ``directory``, each at most ``max_bytes``."""

    def __init__(self, directory: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ParameterError("max_bytes", max_bytes, "a positive number of bytes")
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        """Where the artifact with this digest lives (the digest is checked to be 64 hex digits)."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ParameterError("sha256", sha256, "64 lowercase hexadecimal digits")
        return self.directory / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def digest(self, sha256: str) -> str:
        """The sha256 of the bytes stored under ``sha256`` now, read in chunks as ``receive`` hashes an
        upload: what a load compares with the recorded digest (a file overwritten in place differs)."""
        digest = hashlib.sha256()
        with self.path(sha256).open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                digest.update(chunk)
        return digest.hexdigest()

    def put(self, source: BinaryIO | bytes) -> StoredArtifact:
        """Store a stream's bytes (or bytes) at once; see ``receive`` to look at them before they stay."""
        with self.receive(source) as incoming:
            incoming.keep()
            return incoming.artifact

    @contextmanager
    def receive(self, source: BinaryIO | bytes) -> Iterator[Incoming]:
        """Read an upload into a temporary file (refused past ``max_bytes``, hashed as it goes).

        Inside the block the caller checks it (``incoming.path``, ``incoming.artifact``) and calls
        ``incoming.keep()`` to move it into place; whatever happens, no temporary file outlives the block.
        """
        stream: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else source
        tmpdir = self.directory / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmpdir, prefix="upload-")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                artifact = self._copy(stream, out, tmp)
            yield Incoming(self, tmp, artifact)
        finally:
            tmp.unlink(missing_ok=True)  # moved into place, or refused: either way it goes

    def _copy(self, stream: BinaryIO, out: BinaryIO, tmp: Path) -> StoredArtifact:
        digest = hashlib.sha256()
        size = 0
        head = b""
        while chunk := stream.read(CHUNK_BYTES):
            size += len(chunk)
            if size > self.max_bytes:
                raise LimitError(
                    f"the artifact is larger than the limit of {self.max_bytes} bytes "
                    "(the registry's max_artifact_bytes)"
                )
            digest.update(chunk)
            if len(head) < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - len(head)]
            out.write(chunk)
        if size == 0:
            raise DataError("the artifact is empty")
        out.flush()
        os.fsync(out.fileno())
        return StoredArtifact(digest.hexdigest(), size, _format_of(tmp, head))


@dataclass
class Incoming:
    """An upload read in full and not yet kept (``ArtifactStore.receive``)."""

    store: ArtifactStore
    path: Path
    artifact: StoredArtifact

    def keep(self) -> Path:
        """Move the file to its content address (the same bytes stored before: the old file stays)."""
        final = self.store.path(self.artifact.sha256)
        if not final.is_file():
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path, final)
        return final


def _format_of(path: Path, head: bytes) -> str | None:
    found = sniff(head)
    if found is None and head.startswith(b"PK\x03\x04"):
        # A zip longer than the head: its directory is at the end, so look at the whole file.
        try:
            with zipfile.ZipFile(path) as z:
                found = SKOPS if "schema.json" in z.namelist() else None
        except zipfile.BadZipFile:
            found = None
    return found
