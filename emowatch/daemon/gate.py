"""Does this photo need work? The one place that decides, for events and backfill alike.

In order of cost:
1. the file's stamp equals its row's (one stat, one lookup): done or failed before -> nothing
   to do, unless the model changed and re-tagging on model change is on (or failures are
   being retried). This is also how the daemon's own writes trigger nothing: the events
   they fire lead here, and the row already holds the stamp of the file as we left it.
2. the fingerprint equals its row's (the file was touched or copied over by its twin):
   remember the new stamp, same verdict as 1. Or, for a done photo, its picture digest is
   the same as when it was tagged: another program (Lightroom saving keywords or a rating)
   edited its metadata only. Remember the file as it is now; nothing to classify again (and
   an emotion keyword the user took out stays out).
3. some *done* row has this fingerprint: the photo was moved or renamed (the old path is gone:
   its row follows) or copied (both exist: the copy gets a row of its own). Either way the
   file already holds our keywords; nothing to do - unless they were written to an .xmp
   sidecar (raw files; other formats without exiftool), which a copy or move of the photo
   alone leaves behind: then only a sidecar beside the new name makes it done.
4. some *failed* row has this fingerprint and its file is gone: the failed photo was renamed;
   its row follows, and it stays failed (tried again when it changes, or with --retry-failed).
5. otherwise: work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import EmowatchError
from ..formats import RAW_EXTENSIONS, Format, written_as
from ..xmp import sidecar
from .fingerprint import Stamp, fingerprint
from .picture import image_digest
from .ledger import DONE, FAILED, Entry, Ledger


@dataclass(frozen=True)
class Verdict:
    work: bool
    reason: str  # new | changed | model | retry-failed | done | failed | moved | copied | metadata | vanished
    stamp: Stamp | None = None
    fingerprint: str | None = None
    entry: Entry | None = None


class Gate:
    def __init__(self, ledger: Ledger, model_id: str, *, retag_on_model_change: bool = False,
                 retry_failed: bool = False, on_moved: Callable[[str, str], None] | None = None):
        """`on_moved(old, new)`: called after a tagged photo's row followed it to a new path."""
        self.ledger = ledger
        self.model_id = model_id
        self.retag_on_model_change = retag_on_model_change
        self.retry_failed = retry_failed
        self.on_moved = on_moved
        self._folder: tuple[str | None, dict] = (None, {})  # `quick`'s rows of the folder in hand

    def quick(self, path: str, stamp: Stamp) -> bool:
        """Backfill's cheap pre-check: True when the ledger already settles this file by stamp."""
        folder = os.path.dirname(path)
        if folder != self._folder[0]:  # the scan goes folder by folder: one query for each
            self._folder = (folder, self.ledger.settled_in(folder))
        row = self._folder[1].get(path)
        if row is None:  # new, or a name the folder's query cannot hold
            entry = self.ledger.get(path)
            row = None if entry is None else (entry.stamp, entry.status, entry.model)
        # a row read a moment ago that has changed since: a wrong "no" only hands the photo on
        # to `check`; a wrong "yes" cannot be, the row's stamp is the file's as it is now
        return row is not None and row[0] == stamp and self._settles(row[1], row[2]) is not None

    def check(self, path: str) -> Verdict:
        try:
            stamp = Stamp.of(path)
        except OSError:
            return Verdict(False, "vanished")
        entry = self.ledger.get(path)
        if entry is not None and entry.stamp == stamp:
            return self._verdict(entry, stamp, entry.fingerprint)
        try:
            fp = fingerprint(path)
        except FileNotFoundError:
            return Verdict(False, "vanished")
        except OSError:  # unreadable: tagging fails too, and records why
            return Verdict(True, "changed" if entry is not None else "new", stamp, None, entry)
        if entry is not None and entry.fingerprint == fp:
            self.ledger.restamp(path, stamp)
            return self._verdict(entry, stamp, fp)
        if entry is not None and self._same_picture(entry, path):
            self.ledger.refingerprint(path, stamp, fp)
            return Verdict(False, "metadata", stamp, fp, entry)
        # a twin whose file is gone first: with an identical copy elsewhere, a rename is still a move
        for twin in sorted(self.ledger.with_fingerprint(fp, DONE), key=lambda t: os.path.lexists(t.path)):
            if self._settled(twin) is None:
                continue  # tagged by an older model and we re-tag on model change
            if _tagged_in_a_sidecar(twin) and not _has_sidecar(path):
                break  # the keywords stayed with the other file: this one needs its own
            if os.path.lexists(twin.path):
                self.ledger.copy(twin, path, stamp)
                return Verdict(False, "copied", stamp, fp, twin)
            self.ledger.move(twin.path, path, stamp)
            if self.on_moved is not None:
                self.on_moved(twin.path, path)
            return Verdict(False, "moved", stamp, fp, twin)
        for twin in self.ledger.with_fingerprint(fp, FAILED):
            # a photo that failed, renamed: still the same failure, recorded once
            if self._settled(twin) is not None and not os.path.lexists(twin.path):
                self.ledger.move(twin.path, path, stamp)
                return Verdict(False, FAILED, stamp, fp, twin)
        return Verdict(True, "changed" if entry is not None else "new", stamp, fp, entry)

    def _same_picture(self, entry: Entry, path: str) -> bool:
        """A done photo whose image data is what it was when tagged (its metadata edited)."""
        return entry.image is not None and self._settled(entry) == DONE and image_digest(path) == entry.image

    def _verdict(self, entry: Entry, stamp: Stamp, fp: str) -> Verdict:
        settled = self._settled(entry)
        if settled is None:
            return Verdict(True, "model" if entry.status == DONE else "retry-failed", stamp, fp, entry)
        return Verdict(False, settled, stamp, fp, entry)

    def _settled(self, entry: Entry) -> str | None:
        """Why this row needs no work ("done"/"failed"), or None if it does."""
        return self._settles(entry.status, entry.model)

    def _settles(self, status: str, model: str) -> str | None:
        if status == DONE:
            if self.retag_on_model_change and model != self.model_id:
                return None
            return DONE
        if status == FAILED and not self.retry_failed:
            return FAILED
        return None


def _tagged_in_a_sidecar(entry: Entry) -> bool:
    """Whether the row's photo holds its keywords in a sidecar: always for raw files; for the
    other formats emowatch does not splice itself, when a sidecar is there (also after a
    re-tag that found it already right: action "unchanged")."""
    fmt = _format(entry.path)
    if entry.action == "sidecar" or fmt is Format.RAW:
        return True
    return fmt is not None and not fmt.embeds_xmp_natively and _has_sidecar(entry.path, fmt)


def _has_sidecar(path: str, fmt: Format | None = None) -> bool:
    fmt = fmt or _format(path)
    return fmt is not None and sidecar.find(Path(path), fmt) is not None


def _format(path: str) -> Format | None:
    """The format by name where the file is gone (a moved twin), by content otherwise."""
    try:
        return written_as(Path(path))
    except EmowatchError:
        return Format.RAW if Path(path).suffix.lower() in RAW_EXTENSIONS else None
