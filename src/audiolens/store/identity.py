"""File identity: how the store names a file and tells whether it changed.

Paths are stored as the bytes the operating system uses (``os.fsencode`` of the absolute path),
so names with newlines, control characters or bytes that are not UTF-8 round-trip exactly. In
Python they are ``str`` with undecodable bytes as lone surrogates (``os.fsdecode``), the same
convention :mod:`os` uses.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["HASH_BLOCK", "content_hash", "decode_path", "encode_path"]

#: bytes read from each end of a file for :func:`content_hash`
HASH_BLOCK = 64 * 1024


def encode_path(path: str | bytes | os.PathLike) -> bytes:
    """The bytes stored for ``path`` (its absolute form, not resolving symlinks)."""
    raw = os.fsencode(path)
    return os.path.abspath(raw)


def decode_path(raw: bytes) -> str:
    """The ``str`` for stored path bytes (undecodable bytes become lone surrogates)."""
    return os.fsdecode(raw)


def content_hash(path: str | bytes | os.PathLike, size: int | None = None) -> str:
    """A cheap content fingerprint: blake2b of the size and the first and last 64 KiB.

    Parameters
    ----------
    path : the file
    size : its size in bytes, when already known from a stat

    Returns
    -------
    digest : 32 hex characters

    Raises
    ------
    OSError
        when the file cannot be opened or read.
    """
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        if size is None:
            size = os.fstat(fh.fileno()).st_size
        h.update(size.to_bytes(8, "little"))
        h.update(fh.read(HASH_BLOCK))
        if size > HASH_BLOCK:
            fh.seek(max(size - HASH_BLOCK, HASH_BLOCK))
            h.update(fh.read(HASH_BLOCK))
    return h.hexdigest()
