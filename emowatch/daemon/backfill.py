"""Start-up backfill: the photos already in the watched trees that the ledger does not settle.

The first walk counts what needs work (stat + ledger lookup per file, no reads), so that a
progress bar can show a total and an ETA, and removes temp files that a killed emowatch left
behind; then those photos are queued on the backfill side of the intake, which is bounded: the
queueing waits while the pipeline works. The count remembers the photos it found to do, up to
`REMEMBER` of them, so that a restart over a large library that is all done (the usual case)
walks it once; a larger backlog is walked a second time rather than held in memory. The watcher runs
before the first walk, so nothing that arrives meanwhile is missed (the intake and the gate
make sure nothing is done twice). A file that looks like it is still being written (modified
within the quiet interval, or not structurally whole) goes to the settler instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..atomic import TEMP_MARK, sweep_temp_files
from .clock import SYSTEM_CLOCK, Clock
from .complete import is_complete
from .events import BACKFILL_COUNTED, BACKFILL_DONE, ERROR, SKIPPED, DaemonEvent
from .fingerprint import Stamp
from .gate import Gate
from .paths import PathFilter
from .queues import Intake, Job
from .settle import FOUND, Seen
from .threads import Worker

REMEMBER = 20_000  # photos to do remembered from the count (their paths); more are walked again


def walk(roots: Sequence[str], accept: PathFilter, on_dir: Callable[[str, bool], None] | None = None,
         stopping: Callable[[], bool] = lambda: False,
         on_error: Callable[[str, OSError], None] | None = None) -> Iterator[tuple[str, os.stat_result]]:
    """Photos under `roots` (hidden folders and symlinked folders skipped), with their stat;
    a folder that cannot be read is told to `on_error` (a vanished one is not)."""
    stack = list(reversed(roots))
    while stack and not stopping():
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            continue
        except OSError as e:
            if on_error is not None:
                on_error(folder, e)
            continue
        if on_dir is not None:
            on_dir(folder, any(TEMP_MARK in e.name for e in entries))
        subfolders = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        subfolders.append(entry.path)
                elif entry.is_file() and accept.accepts(entry.path):
                    yield entry.path, entry.stat()
            except OSError:
                continue
        stack.extend(reversed(subfolders))


class Backfill(Worker):
    def __init__(self, roots: Sequence[str], accept: PathFilter, gate: Gate, intake: Intake, *,
                 observe: Callable[[Seen], None], emit: Callable[[DaemonEvent], None], quiet: float,
                 started: float, clock: Clock = SYSTEM_CLOCK,
                 on_crash: Callable[[str, BaseException], None] | None = None,
                 sidecar_folder: Callable[[str], Path | None] = lambda folder: None):
        super().__init__("emowatch-backfill", on_crash)
        self.sidecar_folder = sidecar_folder  # where a folder's photos' sidecars go (also swept)
        self.roots, self.accept, self.gate, self.intake = roots, accept, gate, intake
        self.observe, self.emit = observe, emit
        self.quiet = quiet
        self.started = started  # wall time the daemon started: older temp files are leftovers
        self.clock = clock
        self.swept: list[Path] = []
        self._todo: list[str] | None = None  # what the count found to do; None: too many, walk again

    def run(self) -> None:
        try:
            total, seen = self._count()
            if self.stopping:
                return
            self.emit(DaemonEvent(BACKFILL_COUNTED, self.clock.time(), total=total, seen=seen, live=False))
            handed = self._queue()
            if not self.stopping:
                # the true total: photos gone, or handled live, since they were counted never
                # come back with an event of their own, and the progress bar would not end
                self.emit(DaemonEvent(BACKFILL_DONE, self.clock.time(), total=handed, live=False))
        except Exception as e:  # noqa: BLE001 - the daemon goes on serving new arrivals
            if self._on_crash is not None:
                self._on_crash(self.name, e)

    def wake(self) -> None:
        self.intake.wake()

    def _count(self) -> tuple[int, int]:
        """(photos to tag, photos found)."""
        n = seen = 0
        todo: list[str] | None = []
        for path, st in walk(self.roots, self.accept, self._sweep, lambda: self.stopping, self._unreadable):
            seen += 1
            if self._settled(path, st) is False:
                n += 1
                if todo is not None:
                    todo.append(path)
                    if len(todo) > REMEMBER:
                        todo = None
        self._todo = todo
        return n, seen

    def _settled(self, path: str, st: os.stat_result) -> bool | None:
        """The gate's quick check; None (reported) when this one photo cannot be looked up:
        one photo's trouble never ends the scan."""
        try:
            return self.gate.quick(path, Stamp(st.st_size, st.st_mtime_ns, st.st_ino))
        except Exception as e:  # noqa: BLE001
            if self._on_crash is not None:
                self._on_crash(f"{self.name}: {path}", e)
            return None

    def _unreadable(self, folder: str, error: OSError) -> None:
        why = error.strerror or str(error)
        self.emit(DaemonEvent(ERROR, self.clock.time(), path=folder, live=False,
                              reason=f"cannot read the folder {folder}: {why}; its photos are not watched"))

    def _sweep(self, folder: str, has_temp: bool) -> None:
        # only files older than this daemon: our own writes in progress are newer. A killed
        # emowatch's leftovers go at once (a concurrent `emowatch tag` whose temp file went
        # with them fails that photo's write with an error; the photo itself is untouched)
        age = max(0.0, self.clock.time() - self.started)
        if has_temp:
            self.swept += sweep_temp_files(Path(folder), older_than_s=age)
        sidecars = self.sidecar_folder(folder)  # hidden, or in the central tree: not walked
        if sidecars is not None and str(sidecars) != folder:
            try:
                self.swept += sweep_temp_files(sidecars, older_than_s=age)
            except OSError:
                pass

    def _queue(self) -> int:
        """Hand on what needs work; returns how many (each comes back with one event)."""
        handed = 0
        found = (walk(self.roots, self.accept, stopping=lambda: self.stopping) if self._todo is None
                 else self._remembered(self._todo))
        for path, st in found:
            if self._settled(path, st) is not False:  # done, or reported
                continue
            handed += 1
            if self.clock.time() - st.st_mtime < self.quiet or not _whole(path):
                # maybe still being written: the settler decides when it is complete; counts as
                # handled for the progress bar, it comes back as a new arrival
                self.observe(Seen(FOUND, path))
                self.emit(DaemonEvent(SKIPPED, self.clock.time(), path=path, reason="settling", live=False))
                continue
            if not self.intake.put_backfill(Job(path, live=False, seen=self.clock.time())):
                if self.intake.closed:
                    return handed  # stopping
                # already on its way as a new arrival
                self.emit(DaemonEvent(SKIPPED, self.clock.time(), path=path, reason="queued", live=False))
        return handed

    def _remembered(self, paths: list[str]) -> Iterator[tuple[str, os.stat_result]]:
        """The photos the count found to do, as they are now (gone ones left out)."""
        for path in paths:
            if self.stopping:
                return
            try:
                st = os.stat(path)
            except OSError:
                continue
            yield path, st


def _whole(path: str) -> bool:
    try:
        return is_complete(path)
    except OSError:
        return False
