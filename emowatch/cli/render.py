"""Showing results: a rich progress bar on a terminal, plain lines otherwise, JSON Lines on request."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeRemainingColumn)

from ..errors import OutputError
from ..tagging import TagResult

LABEL_STYLE = {"positive": "green", "negative": "red", "other": "yellow"}


def json_line(data: object) -> str:
    """One JSON Lines record, UTF-8 text as is; a file name that is not UTF-8 (os.fsdecode's
    lone surrogates) forces \\u escapes, which json.loads turns back into the same name."""
    text = json.dumps(data, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data)
    return text + "\n"


def shown(name: object) -> str:
    """A file name as rich markup on one line: a line break or other control character in it
    is shown escaped (\\n), never acted on."""
    text = str(name)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return escape(text)


ACTION_WIDTH = len("nothing-to-remove")  # untag's longest word: its names line up


def result_line(r: TagResult, show_changes: bool = False) -> str:
    """One line of rich markup for a photo's result."""
    name = shown(r.shown_path)
    if r.error is not None:
        return f"[bold red]error[/]     {name}: {escape(r.error)}"
    tail = []
    if r.label is None:  # untag: no prediction, only what was done
        head = f"[cyan]{r.action or 'done':<{ACTION_WIDTH}}[/]"
    else:
        style = LABEL_STYLE.get(r.label, "cyan")
        conf = f"{r.confidence:.2f}" if r.confidence is not None else "    "
        head = f"[{style}]{r.label:<9}[/] {conf}"
        if r.uncertain:  # said after the name, so that the columns stay aligned
            # `explain` writes no keywords: there, uncertain is all there is to say
            tail.append("uncertain: no emotion keyword" if r.action else "uncertain")
    if r.action and r.label is not None:
        where = f" {shown(r.target.name)}" if r.target is not None and r.target != r.path else ""
        reason = f" ({escape(r.reason)})" if r.reason else ""
        tail.append(f"{r.action}{where}{reason}")
    elif r.reason:
        tail.append(f"({escape(r.reason)})")
    if r.sidecars:
        tail.append("heatmap saved" if "heatmap" in r.sidecars else "sidecars saved")
    line = f"{head}  {name}" + (f"  [dim]{'; '.join(tail)}[/]" if tail else "")
    if show_changes and r.changes:
        line += "".join(f"\n    [dim]{escape(c)}[/]" for c in r.changes)
    return line


@contextlib.contextmanager
def held_interrupt() -> Iterator[None]:
    """A Ctrl-C during the block is raised once it is done, not in its middle (a result line
    written out but not yet counted as told would be told again). Main thread only; elsewhere
    nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class Reporter:
    """Renders a stream of TagResults and counts them; the clock is injectable for tests."""

    def __init__(self, out: Console, err: Console, *, as_json: bool, total: int, verb: str = "Tagging",
                 show_changes: bool = False, clock: Callable[[], float] = time.monotonic):
        self.out, self.err = out, err
        self.as_json = as_json
        self.show_changes = show_changes
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.failed = 0
        self.uncertain = 0
        self.done = 0
        self.told: TagResult | None = None  # the last result written out
        self._start = clock()
        self._progress: Progress | None = None
        if err.is_terminal and total > 1:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.fields[current]}"),
                console=err, get_time=clock, transient=True,
            )
            self._task = self._progress.add_task(verb, total=total, rate="", current="")

    def __enter__(self) -> "Reporter":
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def started(self, path: Path) -> None:
        if self._progress is not None:
            self._progress.update(self._task, current=shown(Path(path).name))

    def result(self, r: TagResult) -> None:
        self.done += 1
        if r.error is not None:
            self.failed += 1
        elif r.uncertain:
            self.uncertain += 1
        else:
            # untag has no label: what it did instead (removed, nothing-to-remove, ...)
            self.counts[r.label if r.label is not None else (r.action or "done")] += 1
        try:
            if self.as_json:
                with held_interrupt():  # written and counted as told, or neither
                    self.out.file.write(json_line(r.to_json()))
                    self.out.file.flush()
                    self.told = r
            else:
                # both on the terminal: print through the live display so lines land above the bar
                live = self._progress is not None and self.out.is_terminal
                (self._progress.console if live else self.out).print(result_line(r, self.show_changes))
        except BrokenPipeError:
            raise
        except OSError as e:  # a full disk under `> results.jsonl`: the batch stops, said in one line
            raise OutputError(f"cannot write the results: {e.strerror or e}") from None
        self.told = r  # written out: a Ctrl-C from here on must not tell it again
        if self._progress is not None:
            elapsed = max(self.clock() - self._start, 1e-9)
            self._progress.update(self._task, advance=1, rate=f"{self.done / elapsed:.1f} photos/s")

    def summary(self, verb: str = "tagged") -> str:
        elapsed = max(self.clock() - self._start, 1e-9)
        parts = [f"{n} {label}" for label, n in sorted(self.counts.items())]
        if self.uncertain:
            parts.append(f"{self.uncertain} uncertain")
        text = f"{self.done - self.failed} of {self.done} photo{'s' if self.done != 1 else ''} {verb}"
        if parts:
            text += f" ({', '.join(parts)})"
        if self.failed:
            text += f"; {self.failed} failed"
        text += f" in {elapsed:.1f} s"
        # a rate of failures says nothing about speed
        return text + (f" ({self.done / elapsed:.1f} photos/s)" if self.done > self.failed else "")
