"""The daemon's queues: bounded, two priorities, closable.

`Intake` holds paths waiting to be looked at. A path is there at most once, and while a photo
is being worked on a new event for it only marks it to be looked at again afterwards (that is
how the events of our own write end: re-checked once, found done). New arrivals ("live") go
before backfill; the backfill side is bounded so that walking a 100,000-photo tree holds a
few dozen paths, not all of them.

`Buffer` connects two stages: bounded (memory stays flat, a slow stage holds back the fast
one), live items first, and `close()` wakes everyone so that shutdown never waits on a queue.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class Job:
    """One photo on its way through the pipeline."""

    path: str
    live: bool  # a new arrival (first) or backfill (after)
    seen: float  # wall time the daemon first saw it complete (the latency starts here)
    verdict: Any = None
    started: float = 0.0  # perf_counter when work began, for TagResult.seconds
    prepared: Any = None
    prediction: Any = None
    attempt: int = 1
    meta: dict = field(default_factory=dict)


class Intake:
    def __init__(self, backfill_capacity: int = 64):
        self._cond = threading.Condition()
        self._live: deque[Job] = deque()
        self._backfill: deque[Job] = deque()
        self._capacity = backfill_capacity
        self._queued: set[str] = set()
        self._in_flight: set[str] = set()
        self._again: dict[str, Job] = {}
        self._closed = False

    def put(self, job: Job) -> bool:
        """Queue a path (never blocks). False if it was already queued or busy, or closed."""
        with self._cond:
            return self._put(job)

    def put_backfill(self, job: Job, timeout: float | None = None) -> bool:
        """Queue a backfill path, waiting while the backfill side is full. False if it was
        queued or busy already, or if the intake is closed (see `closed`)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or len(self._backfill) < self._capacity, timeout):
                return False
            return self._put(job)

    @property
    def closed(self) -> bool:
        return self._closed

    def _put(self, job: Job) -> bool:
        if self._closed:
            return False
        if job.path in self._in_flight:
            self._again.setdefault(job.path, job)
            return False
        if job.path in self._queued:
            return False
        self._queued.add(job.path)
        (self._live if job.live else self._backfill).append(job)
        self._cond.notify_all()
        return True

    def get(self, timeout: float) -> Job | None:
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._live or self._backfill, timeout)
            if self._closed or not (self._live or self._backfill):
                return None
            job = self._live.popleft() if self._live else self._backfill.popleft()
            self._queued.discard(job.path)
            self._in_flight.add(job.path)
            self._cond.notify_all()
            return job

    def done(self, path: str) -> None:
        """The photo left the pipeline; an event that came meanwhile queues it once more."""
        with self._cond:
            self._in_flight.discard(path)
            again = self._again.pop(path, None)
            self._cond.notify_all()
        if again is not None:
            again.live = True
            self.put(again)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._live) + len(self._backfill)

    @property
    def busy(self) -> int:
        with self._cond:
            return len(self._in_flight)


class Buffer(Generic[T]):
    def __init__(self, capacity: int):
        self.capacity = max(1, capacity)
        self._cond = threading.Condition()
        self._live: deque[T] = deque()
        self._rest: deque[T] = deque()
        self._closed = False

    def put(self, item: T, live: bool, timeout: float | None = None) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or self._len() < self.capacity, timeout):
                return False
            if self._closed:
                return False
            (self._live if live else self._rest).append(item)
            self._cond.notify_all()
            return True

    def take(self, most: int, timeout: float) -> list[T]:
        """Up to `most` items, live first; waits up to `timeout` for the first one."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._len(), timeout)
            out: list[T] = []
            while len(out) < most and (self._live or self._rest):
                out.append(self._live.popleft() if self._live else self._rest.popleft())
            if out:
                self._cond.notify_all()
            return out

    def room(self, timeout: float) -> int:
        """Free slots, waiting up to `timeout` for at least one."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._len() < self.capacity, timeout)
            return 0 if self._closed else self.capacity - self._len()

    def close(self) -> list[T]:
        """Refuse new items, wake every waiter, and hand back what was still queued."""
        with self._cond:
            self._closed = True
            left = list(self._live) + list(self._rest)
            self._live.clear()
            self._rest.clear()
            self._cond.notify_all()
            return left

    def __len__(self) -> int:
        with self._cond:
            return self._len()

    def _len(self) -> int:
        return len(self._live) + len(self._rest)
