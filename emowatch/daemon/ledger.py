"""The daemon's memory: one SQLite row per photo, in WAL mode, in the state folder.

A row says what the daemon last concluded about the file at `path`:
- `done`: tagged; `fingerprint` and the stamp (size, mtime_ns, inode) are the file's *after*
  our own metadata write, so the next look at an unchanged file is one stat() and one lookup;
- `failed`: a permanent error (or a transient one that outlasted its retries); the stamp and
  fingerprint are the file's as it was, so it is retried only once the file changes.
Plus the model (`name@version`), the result, the error, the attempts and the times, and for a
photo that is done the digest of its picture alone (`image`, `picture.image_digest`: JPEG,
PNG, TIFF, DNG, WebP, HEIC, AVIF), so a later edit of its metadata only (Lightroom saving a
rating) is not mistaken for a new picture.

Each outcome is committed on its own before the daemon moves on (WAL, synchronous=NORMAL:
a killed process loses nothing that was committed, and the file is never left half-written).
Every connection is used under one lock, so the pipeline's threads can share it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import LedgerError
from .clock import SYSTEM_CLOCK, Clock
from .fingerprint import Stamp
from .lock import StateLock

LEDGER_NAME = "ledger.sqlite3"
SCHEMA_VERSION = 2  # 2: the image column
DONE, FAILED = "done", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    path        TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    inode       INTEGER NOT NULL,
    model       TEXT NOT NULL,
    label       TEXT,
    confidence  REAL,
    uncertain   INTEGER NOT NULL DEFAULT 0,
    keywords    TEXT NOT NULL DEFAULT '[]',
    action      TEXT,
    error       TEXT,
    error_type  TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    seconds     REAL,
    first_seen  REAL NOT NULL,
    updated     REAL NOT NULL,
    image       TEXT
);
CREATE INDEX IF NOT EXISTS photos_fingerprint ON photos(fingerprint);
CREATE INDEX IF NOT EXISTS photos_status ON photos(status, updated);
"""
_COLUMNS = ("path", "status", "fingerprint", "size", "mtime_ns", "inode", "model", "label",
            "confidence", "uncertain", "keywords", "action", "error", "error_type", "attempts",
            "seconds", "first_seen", "updated", "image")


@dataclass(frozen=True)
class Entry:
    path: str
    status: str
    fingerprint: str
    size: int
    mtime_ns: int
    inode: int
    model: str
    label: str | None = None
    confidence: float | None = None
    uncertain: bool = False
    keywords: tuple[str, ...] = ()
    action: str | None = None
    error: str | None = None
    error_type: str | None = None
    attempts: int = 0
    seconds: float | None = None
    first_seen: float = 0.0
    updated: float = 0.0
    image: str | None = None  # the digest of a done JPEG's or PNG's image data

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.size, self.mtime_ns, self.inode)

    @classmethod
    def _from_row(cls, row: tuple) -> "Entry":
        d = dict(zip(_COLUMNS, row))
        d["path"] = _loaded(d["path"])
        d["uncertain"] = bool(d["uncertain"])
        d["keywords"] = tuple(json.loads(d["keywords"] or "[]"))
        return cls(**d)


# A file name that is not UTF-8 (Latin-1 names from an old card or a Samba share) reaches us
# with os.fsdecode's surrogates, which SQLite text cannot hold: such a path is stored as its
# bytes in hex behind this prefix (ledger paths are absolute, so no real one starts with it).
_RAW = "bytes:"


def _stored(path: str) -> str:
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return _RAW + os.fsencode(path).hex()


def _loaded(text: str) -> str:
    return os.fsdecode(bytes.fromhex(text[len(_RAW):])) if text.startswith(_RAW) else text


def ledger_path(state_dir: Path) -> Path:
    return Path(state_dir) / LEDGER_NAME


def has_ledger(state_dir: Path) -> bool:
    """Whether `emowatch run` has ever run with this state folder. LedgerError for one that
    cannot be looked into (no permission, a name too long)."""
    path = ledger_path(Path(state_dir).expanduser().absolute())
    try:
        return path.is_file()
    except OSError as e:  # Path.is_file lets EACCES and ENAMETOOLONG out
        raise LedgerError(f"cannot read the state folder: {e.strerror or e}", state_dir) from None


class Ledger:
    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock = SYSTEM_CLOCK,
                 lock: StateLock | None = None):
        self._conn = conn
        self.path = path
        self.clock = clock
        self._state_lock = lock
        self._mutex = threading.Lock()

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, state_dir: Path, clock: Clock = SYSTEM_CLOCK) -> "Ledger":
        """The daemon's read-write ledger; LedgerError if another daemon holds the folder."""
        state_dir = Path(state_dir).expanduser().absolute()
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LedgerError(f"cannot create the state folder: {e.strerror or e}", state_dir) from None
        lock = StateLock(state_dir).acquire()
        path = ledger_path(state_dir)
        try:
            conn = sqlite3.connect(path, check_same_thread=False, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise LedgerError(f"the ledger was written by a newer emowatch (schema {version})", path)
            with conn:
                conn.executescript(_SCHEMA)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(photos)")}
                if "image" not in columns:  # a ledger of schema 1: its rows simply have none
                    conn.execute("ALTER TABLE photos ADD COLUMN image TEXT")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            lock.release()
            raise LedgerError(f"cannot open the ledger: {e}", path) from None
        except LedgerError:
            lock.release()
            raise
        return cls(conn, path, clock, lock)

    @classmethod
    def open_readonly(cls, state_dir: Path) -> "Ledger":
        """For `emowatch status`: reads while a daemon writes (WAL), takes no lock."""
        path = ledger_path(Path(state_dir).expanduser().absolute())
        if not path.is_file():
            raise LedgerError("no ledger here yet: `emowatch run` has not run with this state folder",
                              path.parent)
        try:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("SELECT count(*) FROM photos").fetchone()
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"cannot read the ledger: {e}", path) from None
        return cls(conn, path)

    def close(self) -> None:
        with self._mutex:
            try:
                if self._state_lock is not None:
                    # fold the WAL back so the folder holds one tidy file after a clean stop
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError:
                pass
            self._conn.close()
        if self._state_lock is not None:
            self._state_lock.release()
            self._state_lock = None

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------
    def get(self, path: str) -> Entry | None:
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM photos WHERE path = ?", (_stored(path),))
        return Entry._from_row(rows[0]) if rows else None

    def settled_in(self, folder: str) -> dict[str, tuple[Stamp, str, str]]:
        """path -> (stamp, status, model) of the photos directly in `folder`: what the start-up
        scan needs to know of each photo, one query per folder rather than per photo, without
        building entries. Names that are not UTF-8 are not in it (ask `get`)."""
        prefix = folder.rstrip(os.sep) + os.sep
        try:
            prefix.encode("utf-8")
        except UnicodeEncodeError:
            return {}
        # the range of paths that start with the prefix (os.sep + 1 is the next character)
        rows = self._query("SELECT path, size, mtime_ns, inode, status, model FROM photos "
                           "WHERE path > ? AND path < ? AND instr(substr(path, ?), ?) = 0",
                           (prefix, prefix[:-1] + chr(ord(os.sep) + 1), len(prefix) + 1, os.sep))
        return {path: (Stamp(size, mtime_ns, inode), status, model)
                for path, size, mtime_ns, inode, status, model in rows}

    def with_fingerprint(self, fingerprint: str, status: str = DONE) -> list[Entry]:
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM photos WHERE fingerprint = ? AND status = ?",
                           (fingerprint, status))
        return [Entry._from_row(r) for r in rows]

    def entries(self, status: str | None = None, limit: int | None = None) -> list[Entry]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM photos"
        args: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        sql += " ORDER BY updated DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Entry._from_row(r) for r in self._query(sql, args)]

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Read-only aggregate queries for the status summary."""
        return self._query(sql, args)

    def paths(self) -> list[str]:
        """Every recorded photo's path, without building its entry."""
        return [_loaded(p) for (p,) in self._query("SELECT path FROM photos")]

    def integrity_ok(self) -> bool:
        return self._query("PRAGMA integrity_check")[0][0] == "ok"

    # -- writing: one transaction each ------------------------------------------------------
    def record_done(self, path: str, stamp: Stamp, fingerprint: str, *, model: str, label: str | None,
                    confidence: float | None, uncertain: bool, keywords: tuple[str, ...],
                    action: str | None, attempts: int, seconds: float | None, image: str | None = None) -> None:
        self._upsert(dict(path=path, status=DONE, fingerprint=fingerprint, size=stamp.size,
                          mtime_ns=stamp.mtime_ns, inode=stamp.inode, model=model, label=label,
                          confidence=confidence, uncertain=int(uncertain), keywords=json.dumps(list(keywords)),
                          action=action, error=None, error_type=None, attempts=attempts, seconds=seconds,
                          image=image))

    def record_failed(self, path: str, stamp: Stamp, fingerprint: str, *, model: str, error: str,
                      error_type: str | None, attempts: int, seconds: float | None) -> None:
        self._upsert(dict(path=path, status=FAILED, fingerprint=fingerprint, size=stamp.size,
                          mtime_ns=stamp.mtime_ns, inode=stamp.inode, model=model, label=None,
                          confidence=None, uncertain=0, keywords="[]", action=None, error=error,
                          error_type=error_type, attempts=attempts, seconds=seconds, image=None))

    def refingerprint(self, path: str, stamp: Stamp, fingerprint: str) -> None:
        """Same picture, other metadata (edited by another program): the file as it is now."""
        self._execute("UPDATE photos SET size = ?, mtime_ns = ?, inode = ?, fingerprint = ?, updated = ? "
                      "WHERE path = ?", (stamp.size, stamp.mtime_ns, stamp.inode, fingerprint,
                                         self.clock.time(), _stored(path)))

    def restamp(self, path: str, stamp: Stamp) -> None:
        """Same content, new stamp (touched, or copied with a new inode): remember the new stamp."""
        self._execute("UPDATE photos SET size = ?, mtime_ns = ?, inode = ? WHERE path = ?",
                      (stamp.size, stamp.mtime_ns, stamp.inode, _stored(path)))

    def move(self, old: str, new: str, stamp: Stamp) -> None:
        """A photo we know turned up under a new name: its row follows it."""
        old, new = _stored(old), _stored(new)
        with self._mutex, self._conn:
            self._conn.execute("DELETE FROM photos WHERE path = ?", (new,))
            self._conn.execute(
                "UPDATE photos SET path = ?, size = ?, mtime_ns = ?, inode = ?, updated = ? WHERE path = ?",
                (new, stamp.size, stamp.mtime_ns, stamp.inode, self.clock.time(), old))

    def copy(self, source: Entry, new: str, stamp: Stamp) -> None:
        """A copy of a photo we tagged: its result holds for the copy too."""
        values = {c: getattr(source, c) for c in _COLUMNS}
        values.update(path=new, size=stamp.size, mtime_ns=stamp.mtime_ns, inode=stamp.inode,
                      uncertain=int(source.uncertain), keywords=json.dumps(list(source.keywords)))
        self._upsert(values)

    # -- plumbing ---------------------------------------------------------------------------
    def _upsert(self, values: dict[str, Any]) -> None:
        now = self.clock.time()
        values = {**values, "path": _stored(values["path"]), "first_seen": now, "updated": now}
        cols = list(values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("path", "first_seen"))
        sql = (f"INSERT INTO photos ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(path) DO UPDATE SET {updates}")
        self._execute(sql, tuple(values[c] for c in cols))

    def _execute(self, sql: str, args: tuple) -> None:
        try:
            with self._mutex, self._conn:
                self._conn.execute(sql, args)
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"cannot write the ledger: {e}", self.path) from None

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            with self._mutex:
                return self._conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"cannot read the ledger: {e}", self.path) from None

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())
