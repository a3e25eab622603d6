"""The frame of loopwise's small binary objects (co-moments, fitted drift tests): four magic bytes, a
format version, a JSON head, then a body the object reads itself; a newer version or damaged bytes are
one ``ProfileFormatError`` naming the object."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from loopwise.errors import ProfileFormatError

_PREFIX = struct.Struct("<4sHI")


def frame(magic: bytes, version: int, head: dict[str, Any], body: bytes = b"") -> bytes:
    """``head`` and ``body`` behind the magic bytes and version.

    Example:
        >>> head, body = unframe(frame(b"LWXX", 1, {"n": 2}, b"ab"), b"LWXX", 1, "a test object")
        >>> head, body
        ({'n': 2}, b'ab')
    """
    raw = json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return _PREFIX.pack(magic, version, len(raw)) + raw + body


def unframe(data: bytes, magic: bytes, newest: int, what: str) -> tuple[dict[str, Any], bytes]:
    """The head and body of ``data``, checked to be ``what`` (its ``magic``) at a version up to ``newest``."""
    if len(data) < _PREFIX.size or data[:4] != magic:
        raise ProfileFormatError(f"not {what} (the bytes do not start with {magic.decode()})")
    _magic, version, head_len = _PREFIX.unpack_from(data)
    if version > newest:
        raise ProfileFormatError(
            f"{what}: format version {version} was written by a newer loopwise; "
            f"this version reads formats up to {newest}"
        )
    with damaged(what):
        head = json.loads(data[_PREFIX.size : _PREFIX.size + head_len].decode("utf-8"))
    return head, data[_PREFIX.size + head_len :]


@contextmanager
def damaged(what: str) -> Iterator[None]:
    """Any failure while reading ``what`` becomes one ``ProfileFormatError`` (the bytes are damaged)."""
    try:
        yield
    except ProfileFormatError:
        raise
    except Exception as exc:
        raise ProfileFormatError(f"{what} is corrupt ({type(exc).__name__}: {exc})") from None


__all__ = ["damaged", "frame", "unframe"]
