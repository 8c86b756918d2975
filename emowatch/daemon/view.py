"""What the daemon shows: a rich live view on a terminal, plain lines otherwise, JSON Lines on request.

Views are listeners: the daemon calls them with each `DaemonEvent` from its worker threads.
They write to the console they are given and read the time from the clock they are given,
so tests render them into a StringIO with a fake clock.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table

from ..cli.render import LABEL_STYLE, json_line, result_line, shown
from .clock import SYSTEM_CLOCK, Clock
from .events import (BACKFILL_COUNTED, BACKFILL_DONE, ERROR, FAILED, RETRY, SKIPPED, STOPPED, STOPPING,
                     TAGGED, VANISHED, WARNING, WATCHING, DaemonEvent, Snapshot, Stats)

# skipped for these reasons is routine (our own write's echo, a settled file): not worth a line
_QUIET_SKIPS = {"done", "failed", "settling", "queued"}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def event_line(e: DaemonEvent, s: Snapshot) -> str | None:
    """One line of rich markup for an event worth telling a person about, else None."""
    if e.kind in (TAGGED, FAILED) and e.result is not None:
        line = result_line(e.result)
        return line + ("" if e.live else "  [dim](backfill)[/]")
    if e.kind == WATCHING:
        where = ", ".join(escape(r) for r in s.roots)
        return f"[bold]watching[/] {where} [dim]({e.reason})[/]"
    if e.kind == BACKFILL_COUNTED:
        if e.total:
            return f"[bold]backfill[/]: {e.total} photo{'s' if e.total != 1 else ''} to tag"
        return ("[bold]backfill[/]: no photos in the watched folders yet" if e.seen == 0
                else "[bold]backfill[/]: every photo is already done")
    if e.kind == RETRY:
        return (f"[yellow]retry[/]     {shown(e.path or '')}: {escape(e.reason or '')} "
                f"[dim](attempt {e.attempt + 1} in {e.delay:.1f} s)[/]")
    if e.kind == SKIPPED and e.reason not in _QUIET_SKIPS:
        why = "its metadata edited, the picture the same: " if e.reason == "metadata" else ""
        return f"[cyan]{e.reason:<9}[/] {shown(e.path or '')} [dim]({why}already tagged)[/]"
    if e.kind == ERROR:
        return f"[bold red]error[/]     {escape(e.reason or '')}"
    if e.kind == WARNING:
        return f"[bold yellow]warning[/]   {escape(e.reason or '')}"
    if e.kind == STOPPING:
        return "[bold]stopping[/]: finishing the photo in hand"
    if e.kind == STOPPED:
        return f"[bold]stopped[/]: {totals(s)}"
    return None


def totals(s: Snapshot) -> str:
    parts = [f"{s.done} tagged"]
    if s.labels:
        parts.append(", ".join(f"{n} {label}" for label, n in sorted(s.labels.items())))
    if s.uncertain:
        parts.append(f"{s.uncertain} uncertain")
    parts.append(f"{s.failed} failed")
    return "; ".join(parts)


def event_json(e: DaemonEvent, s: Snapshot | None = None) -> dict[str, Any] | None:
    """`s`: the counts at the time, for the events that report them (watching, stopped)."""
    if e.kind not in (WATCHING, BACKFILL_COUNTED, BACKFILL_DONE, TAGGED, FAILED, RETRY, SKIPPED, VANISHED,
                      ERROR, WARNING, STOPPING, STOPPED):
        return None
    if e.kind == SKIPPED and e.reason in _QUIET_SKIPS:
        return None
    out: dict[str, Any] = {"time": datetime.fromtimestamp(e.at, timezone.utc).isoformat(timespec="milliseconds"),
                           "event": e.kind}
    if e.result is not None:
        out.update(e.result.to_json())
    elif e.path is not None:
        out["path"] = e.path
    for key in ("reason", "total", "seen", "delay", "latency"):
        value = getattr(e, key)
        if value is not None:
            out[key] = round(value, 4) if isinstance(value, float) else value
    if e.kind in (RETRY, TAGGED, FAILED):
        out["attempt"] = e.attempt
    if e.kind in (TAGGED, FAILED, RETRY, SKIPPED):
        out["backfill"] = not e.live
    if s is not None and e.kind == WATCHING:
        out["roots"] = list(s.roots)
    if s is not None and e.kind == STOPPED:
        out.update(tagged=s.done, failed=s.failed, uncertain=s.uncertain, skipped=s.skipped,
                   moved=s.moved, labels=dict(s.labels))
    return out


class LogView:
    """Plain lines (a time stamp and what happened) or JSON Lines, for logs and pipes."""

    PROGRESS_EVERY = 100

    def __init__(self, console: Console, stats: Stats, *, json_lines: bool = False, clock: Clock = SYSTEM_CLOCK):
        self.console, self.stats, self.json_lines, self.clock = console, stats, json_lines, clock
        self._lock = threading.Lock()
        self._reported = 0
        self._ended = False  # "all handed on" said

    def __enter__(self) -> "LogView":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __call__(self, e: DaemonEvent) -> None:
        if self.json_lines:
            data = event_json(e, self.stats.snapshot() if e.kind in (WATCHING, STOPPED) else None)
            if data is not None:
                with self._lock:
                    self.console.file.write(json_line(data))
                    self.console.file.flush()
            return
        s = self.stats.snapshot()
        line = event_line(e, s)
        with self._lock:
            stamp = datetime.fromtimestamp(e.at).strftime("%H:%M:%S")
            if line is not None:
                self.console.print(f"[dim]{stamp}[/] {line}", highlight=False)
            progress = self._progress(s)
            if progress is not None:
                self.console.print(f"[dim]{stamp}[/] {progress}", highlight=False)

    def _progress(self, s: Snapshot) -> str | None:
        finished = bool(s.backfill_total) and s.backfill_handled >= s.backfill_total
        if not s.backfill_total or self._ended or (s.backfill_handled == self._reported and not finished):
            return None
        if s.backfill_handled % self.PROGRESS_EVERY and not finished:
            return None
        self._reported = s.backfill_handled
        if finished:  # once: the true total may arrive after the last photo (some vanished)
            self._ended = True
            return f"[bold]backfill[/]: all {s.backfill_total} handed on" if s.backfill_total > 1 \
                else "[bold]backfill[/]: handed on"
        return (f"[bold]backfill[/]: {s.backfill_handled}/{s.backfill_total} "
                f"({s.rate * 60:.0f} photos/min, ETA {duration(s.eta)})")


class LiveView:
    """The terminal view: a panel that refreshes in place, with results scrolling above it."""

    def __init__(self, console: Console, stats: Stats, *, clock: Clock = SYSTEM_CLOCK,
                 auto_refresh: bool = True, refresh_per_second: float = 4):
        self.console, self.stats, self.clock = console, stats, clock
        self._live = Live(console=console, auto_refresh=auto_refresh, refresh_per_second=refresh_per_second,
                          get_renderable=self.render, transient=False, redirect_stdout=False,
                          redirect_stderr=False)

    def __enter__(self) -> "LiveView":
        self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        self._live.stop()

    def refresh(self) -> None:
        self._live.refresh()

    def __call__(self, e: DaemonEvent) -> None:
        if e.kind in (WATCHING, BACKFILL_COUNTED):
            return  # the panel shows these
        line = event_line(e, self.stats.snapshot())
        if line is not None:
            self._live.console.print(line, highlight=False)

    def render(self) -> Panel:
        s = self.stats.snapshot()
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        grid.add_row("watching", "\n".join(escape(r) for r in s.roots) + f"  [dim]({s.mode})[/]")
        left = s.queued + s.waiting
        if s.stopped:  # what was still queued is not being worked on: the next start takes it
            grid.add_row("queue", f"{left} left for the next start" if left else "empty")
        else:
            grid.add_row("queue", f"{s.queued} queued" + (f", {s.waiting} being written" if s.waiting else ""))
        labels = "  ".join(f"[{LABEL_STYLE.get(k, 'cyan')}]{k}[/] {n}" for k, n in sorted(s.labels.items()))
        grid.add_row("done", f"{s.done} tagged" + (f"  ({labels})" if labels else "")
                     + f"   [red]{s.failed} failed[/]   [dim]{s.uncertain} uncertain[/]")
        grid.add_row("speed", f"{s.rate:.2f} photos/s [dim](last minute)[/]")
        if s.current:
            label = s.current_label
            state = (f"[{LABEL_STYLE.get(label, 'cyan')}]{label}[/]" if label
                     else "[red]failed[/]" if s.current_finished else "[dim]working…[/]")
            grid.add_row("last" if s.current_finished else "now", f"{shown(Path(s.current).name)}  {state}")
        if s.backfill_total and (s.backfill_left or not s.backfill_scanned):
            bar = Table.grid(padding=(0, 1))
            bar.add_row(ProgressBar(total=s.backfill_total, completed=s.backfill_handled, width=30),
                        f"{s.backfill_handled}/{s.backfill_total}", f"ETA {duration(s.eta)}")
            grid.add_row("backfill", bar)
        elif s.backfill_total is None:
            grid.add_row("backfill", "[dim]looking for photos not yet done…[/]")
        if s.last_error:
            grid.add_row("last error", f"[red]{escape(s.last_error)}[/]")
        title = "emowatch run" + ("  [yellow]stopping…[/]" if s.stopping and not s.stopped else "")
        return Panel(Group(grid), title=title, title_align="left", border_style="dim")
