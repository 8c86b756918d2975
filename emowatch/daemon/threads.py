"""Threads that can be stopped and joined: the daemon never leaves one behind.

Each stage of the daemon is a `Worker`: `run_step()` does one bounded piece of work (it waits
on its own queue with a timeout, never forever), the loop checks `stopping` between steps.
An exception that escapes a step is handed to `on_crash` (the daemon reports it) and the loop
goes on: one bad photo must never stop the daemon.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("emowatch.daemon")


class Worker(threading.Thread):
    def __init__(self, name: str, on_crash: Callable[[str, BaseException], None] | None = None):
        # daemon=True only so that a second Ctrl-C (os._exit) is never held up by a thread;
        # every Worker is still stopped and joined on a clean shutdown
        super().__init__(name=name, daemon=True)
        self._stop_event = threading.Event()
        self._on_crash = on_crash

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def stop(self) -> None:
        self._stop_event.set()
        self.wake()

    def wake(self) -> None:
        """Interrupt a wait inside run_step (subclasses with their own conditions override)."""

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds` unless stopped; True when stopped."""
        return self._stop_event.wait(seconds)

    def run(self) -> None:
        while not self.stopping:
            try:
                self.run_step()
            except Exception as e:  # noqa: BLE001 - the daemon outlives any single failure
                log.exception("%s: unexpected error", self.name)
                if self._on_crash is not None:
                    self._on_crash(self.name, e)
                # back off a little so that a persistent fault does not spin a core
                self.wait(0.5)
        self.on_stopped()

    def run_step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_stopped(self) -> None:
        """Called in the thread after its loop ends."""


def join_all(threads: list[threading.Thread], timeout: float) -> list[threading.Thread]:
    """Join threads within one overall timeout; returns those still alive."""
    import time

    deadline = time.monotonic() + timeout
    for t in threads:
        if t.is_alive() or t.ident is not None:
            t.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]
