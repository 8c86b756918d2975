"""What the daemon reports, and the counters the views show.

Every stage reports through `DaemonEvent`s (small frozen records); `Stats` folds them into
counters that a view reads as a `Snapshot`, and lets tests wait for a condition on them
without sleeping (`wait_for`).
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from .clock import SYSTEM_CLOCK, Clock

# kinds
WATCHING = "watching"  # reason: the watch mode; roots in the snapshot
WORKING = "working"  # a photo's work began (decode)
TAGGED = "tagged"  # result: its keywords are on disk and the ledger says done
FAILED = "failed"  # result: recorded as failed (permanent, or retries used up)
RETRY = "retry"  # a transient error; reason, attempt, delay
SKIPPED = "skipped"  # nothing to do; reason: done | failed | moved | copied
VANISHED = "vanished"  # the file went away before we were done with it
WAITING = "waiting"  # the settler holds a file back; reason: written/closed/arrived (first seen), incomplete
BACKFILL_COUNTED = "backfill-counted"  # total: photos of the backfill that need work
BACKFILL_DONE = "backfill-done"  # the backfill has queued everything it found
ERROR = "error"  # an unexpected fault in a stage; the daemon goes on
WARNING = "warning"  # the daemon works, but not as well as it could: reason says what to do
STOPPING = "stopping"
STOPPED = "stopped"


@dataclass(frozen=True)
class DaemonEvent:
    kind: str
    at: float  # wall time
    path: str | None = None
    result: Any = None  # a TagResult for TAGGED / FAILED
    reason: str | None = None
    attempt: int = 0
    delay: float | None = None
    latency: float | None = None  # TAGGED/FAILED: seconds from "seen complete" to recorded
    live: bool = True  # False for backfill work
    total: int | None = None  # BACKFILL_COUNTED: photos to tag
    seen: int | None = None  # BACKFILL_COUNTED: photos found in the watched folders


@dataclass(frozen=True)
class Snapshot:
    roots: tuple[str, ...] = ()
    mode: str = ""
    started: float = 0.0  # monotonic
    work: int = 0  # photos decoded (the work actually done)
    done: int = 0
    failed: int = 0
    uncertain: int = 0
    skipped: int = 0
    moved: int = 0
    retries: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    waiting: int = 0  # held back by the settler (still being written)
    queued: int = 0  # waiting for the pipeline
    backfill_total: int | None = None
    backfill_handled: int = 0
    backfill_scanned: bool = False
    current: str | None = None  # the photo being worked on, or the last one finished
    current_label: str | None = None
    current_finished: bool = False  # then the live view says "last", not "now"
    last_error: str | None = None
    rate: float = 0.0  # photos per second over the last minute
    stopping: bool = False
    stopped: bool = False

    @property
    def backfill_left(self) -> int | None:
        if self.backfill_total is None:
            return None
        return max(0, self.backfill_total - self.backfill_handled)

    @property
    def eta(self) -> float | None:
        left = self.backfill_left
        if not left or self.rate <= 0:
            return None
        return left / self.rate


class Stats:
    RATE_WINDOW = 60.0

    def __init__(self, clock: Clock = SYSTEM_CLOCK):
        self.clock = clock
        self._cond = threading.Condition()
        self._s = Snapshot(started=clock.monotonic())
        self._labels: Counter[str] = Counter()
        self._recent: deque[float] = deque()
        self._gauges: Callable[[], tuple[int, int]] | None = None

    def set_gauges(self, gauges: Callable[[], tuple[int, int]]) -> None:
        """(waiting, queued), read live when a snapshot is taken."""
        self._gauges = gauges

    def set(self, **changes: Any) -> None:
        with self._cond:
            self._s = replace(self._s, **changes)
            self._cond.notify_all()

    def apply(self, e: DaemonEvent) -> None:
        with self._cond:
            s = self._s
            now = self.clock.monotonic()
            c: dict[str, Any] = {}
            if e.kind == WORKING:
                c.update(work=s.work + 1, current=e.path, current_label=None, current_finished=False)
            elif e.kind in (TAGGED, FAILED):
                self._recent.append(now)
                if e.kind == TAGGED:
                    c["done"] = s.done + 1
                    if e.result is not None and e.result.uncertain:
                        c["uncertain"] = s.uncertain + 1
                    elif e.result is not None and e.result.label:
                        self._labels[e.result.label] += 1
                    c.update(current=e.path, current_label=getattr(e.result, "label", None),
                             current_finished=True)
                else:
                    c.update(failed=s.failed + 1, last_error=getattr(e.result, "error", None) or e.reason,
                             current=e.path, current_label=None, current_finished=True)
            elif e.kind == SKIPPED:
                c["skipped"] = s.skipped + 1
                if e.reason in ("moved", "copied"):
                    c["moved"] = s.moved + 1
            elif e.kind == RETRY:
                c["retries"] = s.retries + 1
            elif e.kind in (ERROR, WARNING):
                c["last_error"] = e.reason
            elif e.kind == BACKFILL_COUNTED:
                c["backfill_total"] = e.total
            elif e.kind == BACKFILL_DONE:
                c["backfill_scanned"] = True
                if e.total is not None:  # what was really handed on, not what was counted
                    c["backfill_total"] = e.total
            elif e.kind == STOPPING:
                c["stopping"] = True
            elif e.kind == STOPPED:
                c["stopped"] = True
            if not e.live and e.kind in (TAGGED, FAILED, SKIPPED, RETRY, VANISHED):
                c["backfill_handled"] = s.backfill_handled + 1
            if c:
                self._s = replace(s, **c)
            self._cond.notify_all()

    def snapshot(self) -> Snapshot:
        with self._cond:
            return self._snapshot()

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> bool:
        """Block until predicate(snapshot) holds (re-checked at every event); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._snapshot()), timeout)

    def _snapshot(self) -> Snapshot:
        now = self.clock.monotonic()
        while self._recent and now - self._recent[0] > self.RATE_WINDOW:
            self._recent.popleft()
        span = min(self.RATE_WINDOW, max(now - self._s.started, 1e-9))
        waiting, queued = self._gauges() if self._gauges is not None else (0, 0)
        return replace(self._s, labels=dict(self._labels), rate=len(self._recent) / span,
                       waiting=waiting, queued=queued)
