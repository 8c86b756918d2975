"""The daemon, wired together: watcher -> settler -> intake -> pipeline -> ledger, plus backfill.

`Daemon` owns its threads and nothing else: the caller opens the ledger (which takes the
state-folder lock), builds the Tagger (model, exiftool, explainer), and passes a clock and
listeners (the views). `start()` returns at once; `stop()` asks every thread to finish the
photo in hand; `join()` waits for them. Nothing here prints or touches signals.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..errors import InputError
from ..inputs import EMPTY_PATH, path_kind
from ..settings import Settings
from ..tagging import Tagger
from .backfill import Backfill, walk
from .clock import SYSTEM_CLOCK, Clock
from .events import ERROR, STOPPED, STOPPING, WAITING, WARNING, WATCHING, DaemonEvent, Stats
from .gate import Gate
from .ledger import Ledger
from .paths import PathFilter
from .pipeline import Pipeline
from .queues import Intake, Job
from .settle import Settler
from .threads import join_all
from .watcher import Watcher

log = logging.getLogger("emowatch.daemon")
Listener = Callable[[DaemonEvent], None]


def watch_roots(paths: Iterable[Path]) -> list[Path]:
    """The folders to watch: real paths, each once, none inside another. InputError if one is not a folder."""
    roots: list[Path] = []
    for raw in paths:
        given = str(raw)  # as typed: Path("nosuch/") drops the "/", and messages name what was typed
        if given == "":  # an unset shell variable: never "the current folder"
            raise InputError(EMPTY_PATH)
        path = Path(given).expanduser()
        kind = path_kind(path)
        if isinstance(kind, OSError):  # a folder above it that is locked, a name too long
            raise InputError(f"cannot read: {kind.strerror or kind}", given)
        if kind != "folder":
            raise InputError("not a folder" if kind == "file" else "no such folder", given)
        real = path.resolve()
        if real not in roots:
            roots.append(real)
    return [r for r in roots if not any(o != r and o in r.parents for o in roots)]


class Daemon:
    def __init__(self, roots: Sequence[Path], tagger: Tagger, ledger: Ledger, settings: Settings, *,
                 polling: bool | None = None, retry_failed: bool = False, clock: Clock = SYSTEM_CLOCK,
                 listeners: Iterable[Listener] = (), decode_workers: int = 2,
                 finish_workers: int | None = None):
        d = settings.daemon
        self.settings = settings
        self.roots = watch_roots(roots)
        self.clock = clock
        self.ledger = ledger
        self.stats = Stats(clock)
        self._listeners: list[Listener] = list(listeners)
        self.output_gone = threading.Event()  # a listener's reader went away (`run | head`): stop
        self._stop_lock = threading.Lock()
        self._stopped = False
        self.started_at: float | None = None
        roots_s = [str(r) for r in self.roots]

        self.accept = PathFilter(self.roots, d)
        self.intake = Intake()
        self.gate = Gate(ledger, tagger.model.info.id, retag_on_model_change=d.retag_on_model_change,
                         retry_failed=retry_failed, on_moved=self._moved)
        self._root_ids: dict[str, tuple[int, int] | None] = {}
        self._roots_gone: set[str] = set()  # told by the watcher (its thread)
        self.watcher = Watcher(self.roots, self.accept, self._observe,
                               polling=d.polling if polling is None else polling,
                               poll_interval=d.poll_seconds, on_root_gone=self._roots_gone.add,
                               on_unwatched=self._unwatched)
        self.settler = Settler(self._ready, quiet=d.quiet_seconds, close_events=self.watcher.close_events,
                               max_checks=d.max_attempts, clock=clock, on_wait=self._waiting,
                               expand_dir=lambda folder: (p for p, _ in walk([folder], self.accept)),
                               on_crash=self._crashed)
        if finish_workers is None:
            # explanations are the slow stage (~1 s of CPU each): one per core; a plain write is quick
            finish_workers = max(1, min(2, os.cpu_count() or 1)) if tagger.explainer is not None else 1
        self.pipeline = Pipeline(tagger, self.gate, ledger, self.intake, emit=self.emit,
                                 retry=self.settler.retry, max_attempts=d.max_attempts,
                                 backoff=max(d.quiet_seconds, 0.05), clock=clock,
                                 decode_workers=decode_workers, finish_workers=finish_workers,
                                 batch_size=settings.batch_size, on_crash=self._crashed)
        self.backfill = Backfill(roots_s, self.accept, self.gate, self.intake, observe=self.settler.observe,
                                 emit=self.emit, quiet=d.quiet_seconds, started=clock.time(), clock=clock,
                                 on_crash=self._crashed, sidecar_folder=self._sidecar_folder)
        self.stats.set(roots=tuple(roots_s), mode=self.watcher.mode)
        self.stats.set_gauges(lambda: (len(self.settler), len(self.intake) + self.pipeline.in_memory))

    # -- control ---------------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> "Daemon":
        self._root_ids = {str(r): _identity(r) for r in self.roots}
        self.started_at = self.clock.time()
        self.backfill.started = self.started_at
        self.watcher.start()  # first, so that nothing arriving during the backfill is missed
        self.emit(DaemonEvent(WATCHING, self.clock.time(), reason=self.watcher.mode))
        if self.watcher.scanned:
            self._unwatched(self.watcher.scanned, self.watcher.limit_hint())
        self.settler.start()
        self.pipeline.start()
        self.backfill.start()
        return self

    def stop(self) -> None:
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self.emit(DaemonEvent(STOPPING, self.clock.time()))
        self.watcher.stop()
        self.backfill.stop()
        self.settler.stop()
        self.pipeline.stop()

    def lost_roots(self) -> list[str]:
        """Watched folders that are no longer there as they were when watching began (deleted,
        or moved or renamed away): nothing more arrives through them. Told once, as an error."""
        lost = [r for r, ident in self._root_ids.items()
                if ident is not None and (r in self._roots_gone or _gone(Path(r), ident))]
        for root in lost:
            self._root_ids[root] = None
            self.emit(DaemonEvent(ERROR, self.clock.time(), path=root,
                                  reason=f"the watched folder {root} was deleted or moved away; "
                                         "photos can no longer arrive there"))
        return lost

    def join(self, timeout: float = 30.0) -> bool:
        """Wait for every thread; True when all have ended."""
        self.watcher.join(timeout)
        alive = join_all(self.threads, timeout)
        if not alive:
            self.emit(DaemonEvent(STOPPED, self.clock.time()))
        else:
            log.warning("threads still running after stop: %s", ", ".join(t.name for t in alive))
        return not alive

    @property
    def threads(self) -> list[threading.Thread]:
        return [*self.watcher.threads, self.settler, self.backfill, *self.pipeline.workers]

    def __enter__(self) -> "Daemon":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self.join()

    # -- wiring ------------------------------------------------------------------------------------
    def emit(self, event: DaemonEvent) -> None:
        self.stats.apply(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except BrokenPipeError:  # nothing reads this view any more: the daemon stops, as a
                self._drop_listener(listener)  # program whose reader is gone does (exit 141)
                self.output_gone.set()
            except Exception:  # noqa: BLE001 - a view must never take a worker down
                log.exception("listener failed on %s", event.kind)

    def _drop_listener(self, listener: Listener) -> None:
        try:
            self._listeners.remove(listener)
        except ValueError:
            pass  # dropped by another thread meanwhile

    def _observe(self, seen) -> None:
        self.settler.observe(seen)

    def _ready(self, path: str, seen: float, attempt: int) -> None:
        self.intake.put(Job(path, live=True, seen=seen, attempt=attempt))

    def _waiting(self, path: str, why: str) -> None:
        self.emit(DaemonEvent(WAITING, self.clock.time(), path=path, reason=why))

    def _sidecar_folder(self, folder: str) -> Path | None:
        """Where the explanation sidecars of `folder`'s photos go."""
        from ..sidecars import KINDS, sidecar_path

        try:
            return sidecar_path(Path(folder) / "photo", KINDS[0], self.settings.sidecars).parent
        except (OSError, ValueError):
            return None

    def _moved(self, old: str, new: str) -> None:
        """A tagged photo moved or renamed: its heatmap and explanation follow it."""
        from ..explain.save import follow_move

        try:
            follow_move(Path(old), Path(new), self.settings.sidecars)
        except (OSError, ValueError) as e:  # the photo is done; only its old heatmap stays put
            log.warning("the explanation of %s did not follow it to %s: %s", old, new, e)

    def _unwatched(self, folders: list[str], why: str) -> None:
        """Folders inotify could not watch, scanned instead: said once, with what to do."""
        n = len(folders)
        which = folders[0] if n == 1 else f"{n} folders, e.g. {folders[0]}"
        self.emit(DaemonEvent(WARNING, self.clock.time(), path=folders[0], reason=f"cannot watch {which} {why}"))
        self.stats.set(mode=f"{self.watcher.mode}; scanning where the watch limit was reached")

    def _crashed(self, where: str, error: BaseException) -> None:
        self.emit(DaemonEvent(ERROR, self.clock.time(), reason=f"{where}: {type(error).__name__}: {error}"))


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _gone(folder: Path, ident: tuple[int, int]) -> bool:
    """Whether the folder at this path is no longer the one watched; a passing error (a network
    share's EIO or ESTALE) is not taken for its end."""
    try:
        st = os.stat(folder)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return (st.st_dev, st.st_ino) != ident
