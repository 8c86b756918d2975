"""The keyword lists outside XMP: IPTC:Keywords and XPKeywords, as exiftool reads and writes them.

IPTC keywords are kept consistent with dc:subject only in files that already carry them
(a photo without IPTC does not get an IPTC block). Adobe's IPTC digest (Photoshop:IPTCDigest)
tells XMP-aware readers whether the IPTC still matches the XMP: when it did before our edit,
it is recomputed after it, so a reader keeps trusting both. XPKeywords (what Windows shows,
UCS-2 text joined by ';') is written into an existing EXIF IFD0 when the settings ask; in a
JPEG without IPTC emowatch reads and writes it itself (xp_keywords), into the same Stores.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import MetadataError
from .emotion import IPTC, XP

@dataclass(frozen=True)
class Stores:
    iptc: tuple[str, ...]  # the file's IPTC keywords ((): none)
    xp: str | None  # XPKeywords as stored, None when absent
    has_ifd0: bool  # an EXIF IFD0 exists that XPKeywords can go into
    digest_in_sync: bool  # Photoshop:IPTCDigest exists and matches the IPTC
    has_iptc: bool = False  # any IPTC block at all (exiftool's CurrentIPTCDigest)
    iptc_utf8: bool = False  # the IPTC declares UTF-8 (else exiftool writes its text as cp1252)
    iptc_version: str | None = None  # IPTC:ApplicationRecordVersion, as exiftool lists it

    def current(self, *, xp: bool) -> dict[str, list[str]]:
        """The lists emowatch manages in this file; XPKeywords only when `xp`."""
        out: dict[str, list[str]] = {}
        if self.iptc:
            out[IPTC] = list(self.iptc)
        if xp and self.has_ifd0:
            out[XP] = xp_words(self.xp)
        return out


def parse(info: dict[str, Any]) -> Stores:
    """The lists in exiftool's full `-j -G1 -a` listing of a file."""
    iptc = info.get("IPTC:Keywords", [])
    if not isinstance(iptc, list):
        iptc = [iptc]
    xp = info.get("IFD0:XPKeywords")
    digest = info.get("Photoshop:IPTCDigest")
    return Stores(
        iptc=tuple(str(k) for k in iptc),
        xp=None if xp is None else str(xp),
        has_ifd0=any(k.startswith("IFD0:") for k in info),
        digest_in_sync=digest is not None and digest == info.get("File:CurrentIPTCDigest"),
        has_iptc="File:CurrentIPTCDigest" in info,
        iptc_utf8=info.get("IPTC:CodedCharacterSet") == "UTF8",
        iptc_version=None if info.get("IPTC:ApplicationRecordVersion") is None
        else str(info["IPTC:ApplicationRecordVersion"]),
    )


def same_words(a: Iterable[str], b: Iterable[str]) -> bool:
    """The same IPTC keywords, in any order: exiftool puts a word added in the command that
    removes another where the removed one was, and IPTC keywords are a set to every reader."""
    return Counter(a) == Counter(b)


def xp_words(xp: str | None) -> list[str]:
    return [w.strip() for w in (xp or "").split(";") if w.strip()]


def xp_text(old: str | None, words: list[str]) -> str:
    """XPKeywords holding `words`, keeping the user's own pieces as they were written."""
    remaining = list(words)
    out = []
    for piece in (old or "").split(";"):
        if piece.strip() in remaining:
            remaining.remove(piece.strip())
            out.append(piece)
    return ";".join(out + remaining)


# IPTC IIM: a keyword is at most 64 bytes
IPTC_KEYWORD_BYTES = 64


def args(before: Stores, new: dict[str, list[str]], path: Path) -> list[str]:
    """exiftool assignments taking the file from `before` to the `new` lists. MetadataError
    for a keyword the file's IPTC cannot hold as it is (exiftool would mangle it)."""
    out: list[str] = []
    if IPTC in new and not same_words(before.iptc, new[IPTC]):
        old = list(before.iptc)
        for w in old:
            if w not in new[IPTC]:
                out.append(f"-IPTC:Keywords-={w}")
        for w in new[IPTC]:
            if w not in old:
                _check_iptc_keyword(w, before.iptc_utf8, path)
                out.append(f"-IPTC:Keywords+={w}")
        if not new[IPTC] and before.iptc_version is not None:
            # exiftool drops an IPTC record left with nothing but its version: the version was
            # the user's (emowatch adds IPTC keywords only where there were some), so it stays
            out.append(f"-IPTC:ApplicationRecordVersion={before.iptc_version}")
    if XP in new and xp_words(before.xp) != new[XP]:
        out.append(f"-IFD0:XPKeywords={xp_text(before.xp, new[XP])}")
    return out


def digest_args(before: Stores, edits: list[str]) -> list[str]:
    """A second exiftool pass after `edits`: recompute Adobe's IPTC digest when it was in sync
    and the IPTC changed. Not in the same command: there exiftool 12.57 digests a TIFF's IPTC
    as it was before the edit (a JPEG's right), and the digest would no longer match."""
    if before.digest_in_sync and any(e.startswith("-IPTC:") for e in edits):
        return ["-Photoshop:IPTCDigest=new"]
    return []


def _check_iptc_keyword(word: str, utf8: bool, path: Path) -> None:
    try:
        size = len(word.encode("utf-8" if utf8 else "cp1252"))
    except UnicodeEncodeError:
        raise MetadataError(f"keyword {word!r} cannot be written to this photo's IPTC keywords, "
                            "which hold Windows Latin-1 (cp1252) text (no UTF-8 declared); nothing was written",
                            path) from None
    if size > IPTC_KEYWORD_BYTES:
        raise MetadataError(f"keyword {word!r} is longer than IPTC's {IPTC_KEYWORD_BYTES} bytes "
                            "and this photo has IPTC keywords; nothing was written", path)


def check(after: Stores, before: Stores, new: dict[str, list[str]], path: Path) -> None:
    """Raise unless the rewritten file holds exactly the planned lists (and a true digest)."""
    if IPTC in new and not same_words(after.iptc, new[IPTC]):
        raise MetadataError("IPTC keywords did not come out as planned; nothing was written", path)
    if XP in new and xp_words(after.xp) != new[XP]:
        raise MetadataError("XPKeywords did not come out as planned; nothing was written", path)
    if before.digest_in_sync and after.has_iptc and not after.digest_in_sync:
        raise MetadataError("Adobe's IPTC digest would no longer match; nothing was written", path)
