"""watchdog, turned into `Seen` events for the settler. The handler filters and enqueues only.

On Linux we use inotify with watchdog's "full events": then a file renamed into a watched
folder from outside arrives as a move (complete) rather than as `created` (which otherwise
means a writer just started), and a finished write is `FileClosedEvent`. We subscribe to
created / closed / moved / deleted only: no `modified` storm during a copy, and no open or
close-without-write events from our own reads. `--polling` (network shares, where inotify
misses writes made by other machines) and the other platforms' observers have no close events;
there the settler relies on the stamp sitting still and the structural check.

inotify needs a watch per folder, and their number is limited (fs.inotify.max_user_watches).
Folders that could not be watched (`coverage.py` asks the kernel, at start and whenever a
folder appears) are scanned instead, with a polling observer beside inotify, and the daemon
says so once with how to raise the limit: a photo is never missed for want of a watch.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Callable, Sequence

from watchdog.events import (DirCreatedEvent, DirDeletedEvent, DirMovedEvent, FileClosedEvent,
                             FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent,
                             FileSystemEvent, FileSystemEventHandler)

from ..errors import EmowatchError
from . import coverage
from .paths import PathFilter
from .settle import ARRIVED, CHANGED, CLOSED, DIR, GONE, WRITTEN, Seen

# watchdog warns (with a repr of every watch, kilobytes long) when a new folder's watch is added
# twice, a folder created while its parent is being scanned: harmless, and nothing a photographer
# can act on
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning,
                        module=r"watchdog\.")

MOST_SCANNED = 32  # folders scanned apart (a thread each); more are scanned through their parents
INOTIFY_EVENTS = [FileCreatedEvent, FileClosedEvent, FileMovedEvent, FileDeletedEvent,
                  DirCreatedEvent, DirMovedEvent, DirDeletedEvent]


class WatchError(EmowatchError):
    """A folder that cannot be watched."""


class _Handler(FileSystemEventHandler):
    def __init__(self, accept: PathFilter, sink: Callable[[Seen], None], walk_new_dirs: bool,
                 roots: Sequence[str] = (), on_root_gone: Callable[[str], None] | None = None,
                 on_new_dir: Callable[[str], None] | None = None, scans: bool = False,
                 on_dir_gone: Callable[[str], None] | None = None):
        """`scans`: the events come from scanning folders beside inotify's, never with a close."""
        self.written = CHANGED if scans else WRITTEN
        self.accept = accept
        self.sink = sink
        self.walk_new_dirs = walk_new_dirs
        self.roots = frozenset(roots)
        self.on_root_gone = on_root_gone
        self.on_new_dir = on_new_dir  # inotify: is the new folder watched?
        self.on_dir_gone = on_dir_gone  # scans: a scanned folder's scan ends with the folder

    def on_any_event(self, event: FileSystemEvent) -> None:
        src, dest = os.fsdecode(event.src_path), os.fsdecode(event.dest_path)
        if event.is_directory:
            # a watched folder deleted (even if one of the same name follows at once): its
            # watch has ended with it
            if isinstance(event, DirDeletedEvent) and src in self.roots and self.on_root_gone:
                self.on_root_gone(src)
            if isinstance(event, DirDeletedEvent) and self.on_dir_gone is not None:
                self.on_dir_gone(src)
            # inotify reports what a moved-in folder holds itself (synthetic events); the other
            # observers may not, so there the folder is walked
            if isinstance(event, (DirCreatedEvent, DirMovedEvent)):
                if self.walk_new_dirs:
                    self.sink(Seen(DIR, dest or src))
                if self.on_new_dir is not None and self.accept.accepts_dir(dest or src):
                    self.on_new_dir(dest or src)
            return
        if isinstance(event, FileMovedEvent):
            if src and self.accept.accepts(src):
                self.sink(Seen(GONE, src))
            if dest and self.accept.accepts(dest):
                self.sink(Seen(ARRIVED, dest))
            return
        if not self.accept.accepts(src):
            return
        if isinstance(event, FileClosedEvent):
            self.sink(Seen(CLOSED, src))
        elif isinstance(event, FileCreatedEvent):
            self.sink(Seen(ARRIVED if event.is_synthetic else self.written, src))
        elif isinstance(event, FileModifiedEvent):
            self.sink(Seen(self.written, src))
        elif isinstance(event, FileDeletedEvent):
            self.sink(Seen(GONE, src))


class Watcher:
    def __init__(self, roots: Sequence[Path], accept: PathFilter, sink: Callable[[Seen], None], *,
                 polling: bool = False, poll_interval: float = 2.0,
                 on_root_gone: Callable[[str], None] | None = None,
                 on_unwatched: Callable[[list[str], str], None] | None = None):
        """`on_unwatched(folders, why)`: inotify could not watch these folders; they are scanned."""
        self.roots = [str(r) for r in roots]
        self.polling = polling
        self.poll_interval = poll_interval
        self.on_unwatched = on_unwatched
        self._poller = None  # the polling observer for folders inotify could not watch
        self.scanned: list[str] = []  # those folders
        self._scans: dict[str, object] = {}  # folder -> its watch in the polling observer
        self._lock = threading.Lock()
        self._stopped = False
        if polling:
            self.observer = _polling_observer(poll_interval)
            self.mode, self.close_events = "polling", False
        elif sys.platform.startswith("linux"):
            from watchdog.observers.inotify import InotifyObserver

            self.observer = InotifyObserver(generate_full_events=True)
            self.mode, self.close_events = "inotify", True
        else:
            from watchdog.observers import Observer

            self.observer = Observer()
            self.mode, self.close_events = type(self.observer).__name__, False
        self.observer.name = "emowatch-watch"
        inotify = self.mode == "inotify"
        self._handler = _Handler(accept, sink, walk_new_dirs=not self.close_events, roots=self.roots,
                                 on_root_gone=on_root_gone, on_new_dir=self._new_dir if inotify else None)
        self._poll_handler = _Handler(accept, sink, walk_new_dirs=True, roots=self.roots, on_root_gone=on_root_gone,
                                      scans=True, on_dir_gone=self._scan_ended)

    def start(self) -> None:
        for root in self.roots:
            try:
                self.observer.schedule(self._handler, root, recursive=True,
                                       event_filter=INOTIFY_EVENTS if self.mode == "inotify" else None)
            except OSError as e:
                raise WatchError(_why(e), root) from None
        try:
            self.observer.start()
        except OSError as e:
            if self.mode != "inotify" or e.errno != errno.ENOSPC:
                raise WatchError(_why(e), self.roots[0] if len(self.roots) == 1 else None) from None
            # not even a watched folder itself could be watched: scan them all
            self.observer.stop()
            self._scan(self.roots, tell=False)
            return
        if self.mode == "inotify":
            self._scan(_lost(self.roots), tell=False)  # the caller tells, once it watches

    def _new_dir(self, folder: str) -> None:
        """A folder appeared (the watcher's thread; watchdog has tried to watch it already)."""
        if not self._is_scanned(folder):
            self._scan(_lost([folder]))

    def _scan_ended(self, folder: str) -> None:
        """A folder scanned is gone (the polling observer's thread, which holds that observer's
        lock): its scan has stopped, so a folder made again at its place (deleted and made anew,
        renamed away and back) is looked at afresh rather than taken for one still scanned. (A
        watched folder itself gone is the daemon's to tell, as where inotify watched it.)"""
        if folder in self.roots:
            return
        with self._lock:
            if folder not in self._scans:
                return
        self._retire([folder])
        if os.path.isdir(folder):  # made again before its scan was ended: its event has passed
            self._new_dir(folder)

    def _is_scanned(self, folder: str) -> bool:
        return any(folder == s or folder.startswith(s + os.sep) for s in list(self.scanned))

    def _scan(self, folders: list[str], tell: bool = True) -> None:
        # self._lock guards our own lists only and is never held while calling the polling
        # observer: its thread calls `_scan_ended` holding the observer's lock
        with self._lock:
            folders = [f for f in folders if not self._is_scanned(f)]
            if not folders or self._stopped:  # a folder made as the daemon stops: no new thread
                return
            retired: list[str] = []
            if len(self.scanned) + len(folders) > MOST_SCANNED:
                # each new folder at the limit (a daily import folder...) would be a thread more,
                # for as long as the daemon runs: the scanned ones go up to folders above them
                merged = coverage.fewer(self.scanned + folders, self.roots, MOST_SCANNED)
                retired = [f for f in self.scanned if f not in merged]
                folders = [f for f in merged if f not in self.scanned]
            if self._poller is None:
                self._poller = _polling_observer(self.poll_interval)
                self._poller.name = "emowatch-scan"
            poller = self._poller
        scanned = []
        for folder in folders:
            try:
                watch = poller.schedule(self._poll_handler, folder, recursive=True)
            except OSError:
                continue  # gone meanwhile
            with self._lock:
                if folder not in self._scans:
                    self._scans[folder] = watch
                    self.scanned.append(folder)
                    scanned.append(folder)
        # once a folder above them is scanned (one that vanished meanwhile covers nothing)
        self._retire([f for f in retired if any(f.startswith(s + os.sep) for s in scanned)])
        with self._lock:
            if self._stopped:
                return
            if not poller.is_alive():
                poller.start()
        if tell and scanned:  # a new folder: what it held before its scan began is looked at as a whole
            for folder in scanned:
                self._poll_handler.sink(Seen(DIR, folder))
            if self.on_unwatched is not None:
                self.on_unwatched(scanned, self.limit_hint())

    def _retire(self, folders: list[str]) -> None:
        """Stop scanning these folders apart (a folder above them is scanned now)."""
        for folder in folders:
            with self._lock:
                watch = self._scans.pop(folder, None)
                if watch is None:
                    continue
                self.scanned.remove(folder)
            try:
                self._poller.unschedule(watch)
            except KeyError:  # the observer is stopping
                pass

    def limit_hint(self) -> str:
        limit = coverage.limit()
        now = f" (now {limit})" if limit is not None else ""
        return (f"(the inotify watch limit is reached): scanning instead, every {self.poll_interval:g} s, "
                f"which is slower and costs more CPU; to watch everything, raise "
                f"fs.inotify.max_user_watches{now}, e.g. `sudo sysctl fs.inotify.max_user_watches=524288`")

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        for observer in self.threads:
            if observer.is_alive():
                observer.stop()

    def join(self, timeout: float) -> None:
        for observer in self.threads:
            if observer.ident is not None:
                observer.join(timeout)

    @property
    def threads(self) -> list:
        return [self.observer] + ([self._poller] if self._poller is not None else [])


def _lost(folders: list[str]) -> list[str]:
    """The folders in and below these that inotify could not watch for want of watches (in
    fewer folders above them where there are many)."""
    # first the probe (microseconds): while inotify gives watches, watchdog was given all it
    # asked for a moment ago; only then the walk over every folder (~0.5 s for 3,759 of them)
    if not coverage.limit_reached(folders[0]):
        return []
    missing = coverage.unwatched(folders)
    return coverage.fewer(missing, folders, MOST_SCANNED) if missing else []


def _polling_observer(interval: float):
    from watchdog.observers.polling import PollingObserver

    return PollingObserver(timeout=interval)


def _why(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return ("cannot watch: the inotify watch limit is reached; raise fs.inotify.max_user_watches "
                "(sysctl) or use --polling")
    if e.errno == errno.EMFILE:
        return "cannot watch: too many inotify instances or open files; raise the limit or use --polling"
    return f"cannot watch: {e.strerror or e}"
