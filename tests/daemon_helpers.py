"""Helpers for the daemon tests: a running daemon on real folders, and waiting on its events."""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

from emowatch.daemon.events import DaemonEvent
from emowatch.daemon.ledger import Ledger
from emowatch.daemon.service import Daemon
from emowatch.runtime.model import EmotionModel
from emowatch.settings import DaemonSettings, Settings
from emowatch.tagging import Tagger

TIMEOUT = 30.0  # generous: the machine may be busy; a passing test never waits this long


class CountingTagger(Tagger):
    """The real Tagger, counting the photos it decodes: the work actually done, per path."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.work: Counter[str] = Counter()
        self._lock = threading.Lock()

    def prepare(self, path):
        with self._lock:
            self.work[str(path)] += 1
        return super().prepare(path)


class ExplainingTagger(CountingTagger):
    """A CountingTagger with the explainer its settings ask for."""

    def __init__(self, model, settings):
        from emowatch.explain import make_explainer

        super().__init__(model, settings, explainer=make_explainer(model, settings.explain))


class Events:
    """A listener that keeps every event and lets a test wait for a condition on them."""

    def __init__(self):
        self.items: list[DaemonEvent] = []
        self._cond = threading.Condition()

    def __call__(self, e: DaemonEvent) -> None:
        with self._cond:
            self.items.append(e)
            self._cond.notify_all()

    def of(self, kind: str, path: Path | str | None = None, reason: str | None = None) -> list[DaemonEvent]:
        with self._cond:
            return [e for e in self.items if e.kind == kind and (path is None or e.path == str(path))
                    and (reason is None or e.reason == reason)]

    def wait(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_for(self, kind: str, path: Path | str | None = None, reason: str | None = None, count: int = 1,
                 timeout: float = TIMEOUT) -> list[DaemonEvent]:
        assert self.wait(lambda: len(self.of(kind, path, reason)) >= count, timeout), \
            f"no {count} x {kind} {reason or ''} for {path}; got {[(e.kind, e.path, e.reason) for e in self.items]}"
        return self.of(kind, path, reason)


def daemon_settings(state: Path, **daemon) -> Settings:
    values = dict(state_dir=state, quiet_seconds=0.2, poll_seconds=0.2, max_attempts=4)
    values.update(daemon)
    return Settings(min_confidence=0.0, batch_size=4, daemon=DaemonSettings(**values))


@contextmanager
def running(roots: Iterable[Path], state: Path, model_path: Path, *, settings: Settings | None = None,
            tagger_cls=CountingTagger, **daemon_kwargs):
    settings = settings or daemon_settings(state)
    model = EmotionModel.load(model_path, device="cpu", threads=1)
    tagger = tagger_cls(model, settings)
    events = Events()
    with Ledger.open(settings.daemon.state_dir) as ledger:
        daemon = Daemon(list(roots), tagger, ledger, settings, listeners=[events], **daemon_kwargs)
        daemon.start()
        try:
            yield daemon, tagger, events, ledger
        finally:
            daemon.stop()
            assert daemon.join(15), "daemon threads did not stop"


def keywords(paths: Iterable[Path]) -> dict[str, list[str]]:
    """lr:hierarchicalSubject of each photo, read by exiftool (an independent reader)."""
    paths = [str(p) for p in paths]
    if not paths:
        return {}
    out = subprocess.run(["exiftool", "-j", "-XMP-lr:HierarchicalSubject", *paths],
                         capture_output=True, text=True)
    result = {}
    for item in json.loads(out.stdout or "[]"):
        value = item.get("HierarchicalSubject", [])
        result[item["SourceFile"]] = value if isinstance(value, list) else [value]
    return result


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".emowatch-tmp" in p.name or p.name.endswith("_exiftool_tmp")]
