"""Hold each new or changed photo back until it is complete, then hand it on once.

A file is handed on when, after its last event, (1) its stamp (size, mtime, inode) stayed the
same for `quiet` seconds, (2) where the watcher reports closes (Linux inotify), no writer that
created it is still expected to close it, and (3) it is structurally whole (`complete.py`).

Why each: a copy fires `created` when it *starts*; inotify's close-write (or the destination of
a rename, which is atomic) says a writer is finished, but some writers reopen and append, so the
stamp must also sit still for a moment. Without close events (polling, macOS, Windows) the quiet
stamp is all we have, and the structural check catches a copy that merely stalled. A file that
was created but never closed (a hard link, a writer racing a new folder's watch) is taken after
`WRITING_FACTOR` quiet intervals if it is whole; if it is not whole it is waited for (a
stalled copy) for up to `WRITING_PATIENCE`. Any file some process holds open for writing
(`writers.py`: a whole-looking JPEG may still get a trailer after a pause, an in-place copy
may only be paused) is waited for as long as it is held: replacing it would leave the writer
writing into the old file. A file that stays "incomplete" with no writer known to hold it (a
truncated upload; a JPEG with a trailer after EOI) is looked at again with backoff and handed on after
`max_checks` looks: the decoder then has the last word, and a corrupt file is recorded as
failed - once.

Events arrive through `observe()` from the watcher's thread, which only enqueues. All state
lives in this thread; `step()` is the whole logic and takes the time as an argument, so tests
drive it with a fake clock.
"""

from __future__ import annotations

import heapq
import itertools
import queue
from dataclasses import dataclass
from typing import Callable, Iterable

from .clock import SYSTEM_CLOCK, Clock
from .complete import is_complete
from .fingerprint import Stamp
from .threads import Worker
from .writers import OpenForWriting

WRITTEN = "written"  # created or modified: a writer may be at work
CHANGED = "changed"  # created or modified, as a scan saw it: no close event will follow
CLOSED = "closed"  # a writer closed it
ARRIVED = "arrived"  # renamed into place, or moved in with its folder
FOUND = "found"  # found by the backfill walk: adds nothing to what the watcher already said
GONE = "gone"  # deleted or moved away
DIR = "dir"  # a folder appeared (observers without inotify's per-file events): look inside
WRITING_FACTOR = 3
# a file a writer opened and has not closed is waited for this long after its last event
# before its incomplete looks start to count (a copy over a slow link can stall for minutes)
WRITING_PATIENCE = 600.0
MAX_RECHECK = 60.0


@dataclass(frozen=True)
class Seen:
    kind: str
    path: str


@dataclass
class _Pending:
    path: str
    stamp: Stamp | None
    due: float
    last_event: float
    since: float  # wall time of its last event: the latency of a photo counts from here
    writing: bool = False
    checks: int = 0  # incomplete looks that count towards max_checks
    looks: int = 0  # all incomplete looks (for the backoff)
    attempt: int = 1  # > 1 when the pipeline asked for a retry


class Settler(Worker):
    def __init__(self, ready: Callable[[str, float, int], None], *, quiet: float, close_events: bool,
                 max_checks: int = 4, clock: Clock = SYSTEM_CLOCK,
                 on_wait: Callable[[str, str], None] | None = None,
                 complete: Callable[[str], bool] = is_complete,
                 expand_dir: Callable[[str], Iterable[str]] | None = None,
                 on_crash: Callable[[str, BaseException], None] | None = None,
                 held: Callable[[str], bool | None] | None = None):
        super().__init__("emowatch-settle", on_crash)
        self.ready = ready
        self.quiet = quiet
        self.close_events = close_events
        self.max_checks = max(1, max_checks)
        self.clock = clock
        self.on_wait = on_wait
        self.complete = complete
        self.expand_dir = expand_dir
        self.held = held or OpenForWriting()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: dict[str, _Pending] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()

    # -- any thread ---------------------------------------------------------------------------
    def observe(self, seen: Seen) -> None:
        self._inbox.put(("seen", seen, self.clock.time()))

    def retry(self, path: str, delay: float, attempt: int) -> None:
        self._inbox.put(("retry", path, delay, attempt, self.clock.time()))

    def wake(self) -> None:
        self._inbox.put(("wake",))

    def __len__(self) -> int:
        return len(self._pending)

    # -- this thread ----------------------------------------------------------------------------
    def run_step(self) -> None:
        now = self.clock.monotonic()
        timeout = 0.5 if not self._heap else min(0.5, max(0.0, self._heap[0][0] - now))
        try:
            self._take(self._inbox.get(timeout=timeout), self.clock.monotonic())
        except queue.Empty:
            pass
        self.step(self.clock.monotonic())

    def step(self, now: float) -> None:
        """Take every queued event, then check every file that is due."""
        while True:
            try:
                self._take(self._inbox.get_nowait(), now)
            except queue.Empty:
                break
        while self._heap and self._heap[0][0] <= now and not self.stopping:
            due, _, path = heapq.heappop(self._heap)
            p = self._pending.get(path)
            if p is not None and p.due == due:
                self._check(p, now)

    def _take(self, item: tuple, now: float) -> None:
        if item[0] == "seen":
            seen, wall = item[1], item[2]
            if seen.kind == GONE:
                # an exchange (renameat2 RENAME_EXCHANGE, which emowatch's own writes use)
                # reports the file that arrived and then the one it displaced "moved away":
                # only a path with nothing left at it is forgotten
                if _stamp(seen.path) is None:
                    self._pending.pop(seen.path, None)
                return
            if seen.kind == DIR:
                for path in self.expand_dir(seen.path) if self.expand_dir is not None else ():
                    self._take(("seen", Seen(ARRIVED, path), wall), now)
                return
            p = self._pending.get(seen.path)
            if p is not None and seen.kind == FOUND:
                return
            if p is None:
                p = _Pending(seen.path, None, now, now, wall)
                if self.on_wait is not None:
                    self.on_wait(seen.path, seen.kind)  # held back from now on
            p.stamp = _stamp(seen.path)
            p.last_event, p.since = now, wall
            p.writing = self.close_events and seen.kind == WRITTEN
            p.checks = p.looks = 0  # written to again: incomplete looks before this no longer count
            self._schedule(p, now + self.quiet)
        elif item[0] == "retry":
            _, path, delay, attempt, wall = item
            p = self._pending.get(path) or _Pending(path, None, now, now, wall)
            p.stamp, p.last_event, p.writing, p.attempt = _stamp(path), now, False, attempt
            self._schedule(p, now + delay)

    def _schedule(self, p: _Pending, due: float) -> None:
        p.due = due
        self._pending[p.path] = p
        heapq.heappush(self._heap, (due, next(self._seq), p.path))

    def _check(self, p: _Pending, now: float) -> None:
        stamp = _stamp(p.path)
        if stamp is None:  # gone
            del self._pending[p.path]
            return
        if stamp != p.stamp:  # still changing: wait for it to sit still; earlier looks no longer count
            p.stamp, p.checks, p.looks = stamp, 0, 0
            self._schedule(p, now + self.quiet)
            return
        if p.writing and now - p.last_event < self.quiet * WRITING_FACTOR:
            self._schedule(p, p.last_event + self.quiet * WRITING_FACTOR)
            return
        try:
            whole = self.complete(p.path)
        except FileNotFoundError:
            del self._pending[p.path]
            return
        except OSError:  # unreadable (permissions, I/O): handed on, the pipeline records why
            whole = True
        patient = p.writing and now - p.last_event < WRITING_PATIENCE
        if whole and self.held(p.path):  # looks whole, but a writer still has it open: it would
            # go on writing into the file our write replaces (rsync --inplace pausing between
            # chunks, polling mode, a start-up walk in the middle of a copy); waited for
            p.looks += 1
            if self.on_wait is not None:
                self.on_wait(p.path, "writing")
            self._schedule(p, now + min(MAX_RECHECK, self.quiet * 2 ** min(p.looks, 10)))
            return
        if not whole:
            if patient or p.checks + 1 < self.max_checks:
                p.looks += 1
                if not patient:
                    p.checks += 1
                if self.on_wait is not None:
                    self.on_wait(p.path, "incomplete")
                self._schedule(p, now + min(MAX_RECHECK, self.quiet * 2 ** min(p.looks, 10)))
                return
        del self._pending[p.path]
        self.ready(p.path, p.since, p.attempt)


def _stamp(path: str) -> Stamp | None:
    try:
        return Stamp.of(path)
    except OSError:
        return None
