"""The daemon's clock, injected so that views, rates and ledger times are testable."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...  # for deadlines and rates

    def time(self) -> float: ...  # wall time, for the ledger and log lines


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


SYSTEM_CLOCK = SystemClock()
