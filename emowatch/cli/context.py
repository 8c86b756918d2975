"""What every command needs, built once per invocation and handed down (no globals)."""

from __future__ import annotations

import contextlib
import errno
import sys
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Console

from ..runtime.model import EmotionModel
from ..settings import Settings


@dataclass
class AppContext:
    settings: Settings
    out: Console  # results (stdout)
    err: Console  # progress, warnings, errors (stderr)
    _model: EmotionModel | None = None
    _exiftool: Any = None
    _exiftool_looked: bool = False
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def model(self) -> EmotionModel:
        if self._model is None:
            s = self.settings
            self._model = EmotionModel.load(s.model, device=s.device, threads=s.threads)
        return self._model

    def ready_model(self) -> EmotionModel:
        """The model, its session made and its graph checked (EmotionModel.ready): for the
        commands that classify, before the first photo."""
        self.model.ready()
        return self.model

    @property
    def exiftool(self) -> Any:
        """The long-lived exiftools (one per writer thread), or None where exiftool is not
        installed (then: .xmp sidecars)."""
        if not self._exiftool_looked:
            self._exiftool_looked = True
            from ..exiftool import ExiftoolPool
            from ..tagging import WRITERS

            self._exiftool = ExiftoolPool.find(self.settings.exiftool, size=WRITERS)
            if self._exiftool is not None:
                self._stack.enter_context(self._exiftool)
        return self._exiftool

    def explainer(self, enabled: bool | None = None) -> Any:
        """The explainer the settings ask for; `enabled` overrides theirs (`explain` always
        explains, even where the settings turn explanations off for `tag`)."""
        explain = self.settings.explain
        if enabled is not None:
            explain = replace(explain, enabled=enabled)
        if not explain.enabled:
            return None
        from ..explain import make_explainer

        return make_explainer(self.model, explain)

    def close(self) -> None:
        self._stack.close()


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich's own answer is SystemExit(1): in a daemon's thread that silently ended the
        # thread, and `tag … | head` exited 1 ("some photos failed") instead of 141
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")


def make_consoles(force_terminal: bool | None = None) -> tuple[Console, Console]:
    out = _Console(file=sys.stdout, force_terminal=force_terminal, soft_wrap=True, highlight=False)
    err = _Console(file=sys.stderr, force_terminal=force_terminal, soft_wrap=True, highlight=False)
    return out, err
