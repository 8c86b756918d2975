"""Bounded reads from a photo file for the picture digests: never past its end, never unbounded.

A photo can be gigabytes; its structure (IFDs, boxes, chunks) is read a few bytes at a time and
its image data is hashed in blocks, never more of it than a few times the file's size. Anything
that points outside the file, or asks for more than a sane amount of structure or work, is
`Malformed`: the digest is then None and the daemon classifies the photo again, the safe answer.
"""

from __future__ import annotations

from typing import BinaryIO

BLOCK = 1 << 20
MAX_VALUE = 64 << 20  # one structure value (a TIFF tag, a box read whole) larger than this: malformed
# image data hashed, as a multiple of the file's size: strips, tiles or extents that point at the
# same bytes over and over (a few kilobytes of offsets can ask for terabytes) are malformed
MAX_FED = 4


class Malformed(ValueError):
    """The file's structure does not hold together (or is beyond what is read here)."""


class Source:
    def __init__(self, f: BinaryIO, size: int):
        self.f = f
        self.size = size
        self.fed = 0

    def read(self, offset: int, n: int) -> bytes:
        """Exactly `n` bytes at `offset`."""
        self.check(offset, n)
        if n > MAX_VALUE:
            raise Malformed(f"{n} bytes of structure at {offset}")
        self.f.seek(offset)
        data = self.f.read(n)
        if len(data) != n:
            raise Malformed(f"short read at {offset}")
        return data

    def check(self, offset: int, n: int) -> None:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise Malformed(f"{n} bytes at {offset} lie outside the file ({self.size} bytes)")

    def feed(self, h, offset: int, n: int) -> None:
        """Hash `n` bytes at `offset` (their length first), in blocks."""
        self.check(offset, n)
        self.fed += n
        if self.fed > MAX_FED * self.size:
            raise Malformed("the same image data is pointed at over and over")
        h.update(n.to_bytes(8, "little"))
        self.f.seek(offset)
        while n:
            block = self.f.read(min(n, BLOCK))
            if not block:
                raise Malformed(f"short read at {offset}")
            h.update(block)
            n -= len(block)
