"""watchdog, turned into `Seen` events for the settler. The handler filters and enqueues only.

On Linux we use inotify with watchdog's "full events": then a file renamed into a watched
folder from outside arrives as a move (complete) rather than as `created` (which otherwise
means a writer just started), and a finished write is `FileClosedEvent`. We subscribe to
created / closed / moved / deleted only: no `modified` storm during a copy, and no open or
close-without-write events from our own reads. `--polling` (network shares, where inotify
misses writes made by other machines) and the other platforms' observers have no close events;
there the settler relies on the stamp sitting still and the structural check.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from watchdog.events import (DirCreatedEvent, DirDeletedEvent, DirMovedEvent, FileClosedEvent,
                             FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent,
                             FileSystemEvent, FileSystemEventHandler)

from ..errors import EmowatchError
from .paths import PathFilter
from .settle import ARRIVED, CLOSED, DIR, GONE, WRITTEN, Seen

INOTIFY_EVENTS = [FileCreatedEvent, FileClosedEvent, FileMovedEvent, FileDeletedEvent,
                  DirCreatedEvent, DirMovedEvent, DirDeletedEvent]


class WatchError(EmowatchError):
    """A folder that cannot be watched."""


class _Handler(FileSystemEventHandler):
    def __init__(self, accept: PathFilter, sink: Callable[[Seen], None], walk_new_dirs: bool,
                 roots: Sequence[str] = (), on_root_gone: Callable[[str], None] | None = None):
        self.accept = accept
        self.sink = sink
        self.walk_new_dirs = walk_new_dirs
        self.roots = frozenset(roots)
        self.on_root_gone = on_root_gone

    def on_any_event(self, event: FileSystemEvent) -> None:
        src, dest = os.fsdecode(event.src_path), os.fsdecode(event.dest_path)
        if event.is_directory:
            # a watched folder deleted (even if one of the same name follows at once): its
            # watch has ended with it
            if isinstance(event, DirDeletedEvent) and src in self.roots and self.on_root_gone:
                self.on_root_gone(src)
            # inotify reports what a moved-in folder holds itself (synthetic events); the other
            # observers may not, so there the folder is walked
            if self.walk_new_dirs and isinstance(event, (DirCreatedEvent, DirMovedEvent)):
                self.sink(Seen(DIR, dest or src))
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
            self.sink(Seen(ARRIVED if event.is_synthetic else WRITTEN, src))
        elif isinstance(event, FileModifiedEvent):
            self.sink(Seen(WRITTEN, src))
        elif isinstance(event, FileDeletedEvent):
            self.sink(Seen(GONE, src))


class Watcher:
    def __init__(self, roots: Sequence[Path], accept: PathFilter, sink: Callable[[Seen], None], *,
                 polling: bool = False, poll_interval: float = 2.0,
                 on_root_gone: Callable[[str], None] | None = None):
        self.roots = [str(r) for r in roots]
        self.polling = polling
        if polling:
            from watchdog.observers.polling import PollingObserver

            self.observer = PollingObserver(timeout=poll_interval)
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
        self._handler = _Handler(accept, sink, walk_new_dirs=not self.close_events, roots=self.roots,
                                 on_root_gone=on_root_gone)

    def start(self) -> None:
        for root in self.roots:
            try:
                self.observer.schedule(self._handler, root, recursive=True,
                                       event_filter=INOTIFY_EVENTS if self.mode == "inotify" else None)
            except OSError as e:
                raise WatchError(_why(e), root) from None
        self.observer.start()

    def stop(self) -> None:
        if self.observer.is_alive():
            self.observer.stop()

    def join(self, timeout: float) -> None:
        if self.observer.ident is not None:
            self.observer.join(timeout)

    @property
    def threads(self) -> list:
        return [self.observer]


def _why(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return ("cannot watch: the inotify watch limit is reached; raise fs.inotify.max_user_watches "
                "(sysctl) or use --polling")
    if e.errno == errno.EMFILE:
        return "cannot watch: too many inotify instances or open files; raise the limit or use --polling"
    return f"cannot watch: {e.strerror or e}"
