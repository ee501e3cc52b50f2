"""Sealed rows: a value pickled, compressed and signed with an HMAC keyed from the app's secret key.

Loading a pickle can run code, so ``open`` unpickles nothing whose HMAC does not verify: someone who
can write the database without holding the key can have a row refused, never loaded. ``context``
binds a seal to what the row is (its key, its data version), so a sealed value cannot be moved to
another row.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import pickle
import zlib
from typing import Any

from sicdoc.errors import SicdocError

_FORMAT = b"\x01"
_MAC_BYTES = 32


class Tampered(SicdocError):
    """A sealed row whose signature does not verify (altered, or sealed under another key); callers
    treat the row as missing."""

    def __init__(self) -> None:
        super().__init__("A stored analytics row does not verify with this server's key", code="security")


class Seal:
    def __init__(self, secret: str):
        self._key = hashlib.sha256(b"sicdoc analytics results\0" + secret.encode()).digest()

    def _mac(self, context: bytes) -> hmac.HMAC:
        """The HMAC of a row of ``context``, to be fed its compressed body."""
        return hmac.new(self._key, context + b"\0", hashlib.sha256)

    def seal(self, context: bytes, value: Any) -> bytes:
        # Pickled straight into the compressor: a million patients' worklist was 21 MB pickled and
        # 8 MB compressed as one DataFrame, and only the compressed pieces are held. Level 1: 0.6 s
        # where level 3 took 1.1 s for 8 MB, and that is on the way from a write to the clinician's page.
        sink = _Deflating(self._mac(context))
        pickle.dump(value, sink, protocol=pickle.HIGHEST_PROTOCOL)
        return b"".join([_FORMAT, *sink.finish()])

    def open(self, context: bytes, blob: bytes | memoryview) -> Any:
        view = memoryview(blob)
        mac, body = view[1 : 1 + _MAC_BYTES], view[1 + _MAC_BYTES :]
        check = self._mac(context)
        check.update(body)
        if view[:1] != _FORMAT or not hmac.compare_digest(mac, check.digest()):
            raise Tampered
        # Unpickled as it is inflated, so the whole pickle is never in memory beside what it builds.
        return pickle.load(io.BufferedReader(_Inflating(body), _PIECE))  # noqa: S301 - HMAC verified


_PIECE = 1 << 16


class _Deflating:
    """A file-like sink that compresses what is written and signs the compressed bytes."""

    def __init__(self, mac: hmac.HMAC) -> None:
        self._mac = mac
        self._compressor = zlib.compressobj(1)
        self._parts: list[bytes] = []

    def write(self, data: Any) -> int:
        # ``data`` may be a pickle.PickleBuffer: a large array is written straight from its memory.
        self._add(self._compressor.compress(data))
        return memoryview(data).nbytes

    def _add(self, part: bytes) -> None:
        if part:
            self._mac.update(part)
            self._parts.append(part)

    def finish(self) -> list[bytes]:
        """The HMAC, then the compressed body in pieces."""
        self._add(self._compressor.flush())
        return [self._mac.digest(), *self._parts]


class _Inflating(io.RawIOBase):
    """A compressed body read as a file, inflated only as far as each read asks."""

    def __init__(self, body: memoryview) -> None:
        self._body = body
        self._at = 0
        self._inflater = zlib.decompressobj()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # Read until zlib reports the end of its stream, not until the input runs out.
        while not self._inflater.eof:
            piece: bytes | memoryview = self._inflater.unconsumed_tail
            if not piece:
                piece = self._body[self._at : self._at + _PIECE]
                self._at += len(piece)
            out = self._inflater.decompress(piece, len(buffer))
            if out:
                buffer[: len(out)] = out
                return len(out)
            if not piece:
                raise EOFError("the compressed body ends before its stream does")
        return 0
