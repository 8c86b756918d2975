"""Run a daemon until SIGINT/SIGTERM: the first signal stops it gracefully, a second exits at once.

Exiting at once is safe: every write to a photo is atomic and every ledger entry is committed
on its own, so the worst a hard exit costs is redoing the photo that was in hand.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def serve(daemon, *, tick: float = 0.25, join_timeout: float = 30.0,
          hard_exit: Callable[[int], None] = os._exit) -> bool:
    """Start `daemon`, wait for a stop signal (or for a watched folder to go away: it is told
    as an error, and the daemon stops; or for the reader of its output to go away), stop and
    join it. True if every thread ended and no watched folder was lost."""
    asked = threading.Event()
    lost = False

    def on_signal(signum, frame) -> None:
        if asked.is_set():
            hard_exit(128 + signum)
        asked.set()

    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        try:
            daemon.start()
            while not asked.wait(tick):
                if daemon.lost_roots():
                    lost = True
                    break
                if daemon.output_gone.is_set():
                    break
        finally:
            daemon.stop()
            finished = daemon.join(join_timeout)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return finished and not lost
