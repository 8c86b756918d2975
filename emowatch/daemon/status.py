"""`emowatch status`: what the ledger says, summarised. Builds data and renderables; prints nothing."""

from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.table import Table

from .ledger import DONE, FAILED, Entry, Ledger, ledger_path


@dataclass(frozen=True)
class Summary:
    ledger: str
    photos: int
    done: int
    failed: int
    uncertain: int
    labels: dict[str, int]
    models: dict[str, int]
    last_activity: float | None
    reasons: list[tuple[str, int]]  # failure reasons, most frequent first
    gone: int = 0  # recorded photos no longer at their path (deleted, or moved while not watched)

    def to_json(self) -> dict[str, Any]:
        return {"ledger": self.ledger, "photos": self.photos, "done": self.done, "failed": self.failed,
                "uncertain": self.uncertain, "gone": self.gone, "labels": self.labels, "models": self.models,
                "last_activity": None if self.last_activity is None
                else datetime.fromtimestamp(self.last_activity).astimezone().isoformat(timespec="seconds"),
                "failure_reasons": [{"reason": r, "photos": n} for r, n in self.reasons]}


def summarize(ledger: Ledger) -> Summary:
    q = ledger.query
    counts = dict(q("SELECT status, count(*) FROM photos GROUP BY status"))
    labels = dict(q("SELECT label, count(*) FROM photos WHERE status = ? AND uncertain = 0 "
                    "GROUP BY label ORDER BY label", (DONE,)))
    uncertain = q("SELECT count(*) FROM photos WHERE status = ? AND uncertain = 1", (DONE,))[0][0]
    models = dict(q("SELECT model, count(*) FROM photos WHERE status = ? GROUP BY model", (DONE,)))
    last = q("SELECT max(updated) FROM photos")[0][0]
    reasons = [(r, n) for r, n in q("SELECT coalesce(error_type || ': ', '') || error, count(*) AS n "
                                    "FROM photos WHERE status = ? GROUP BY 1 ORDER BY n DESC, 1", (FAILED,))]
    gone = sum(1 for path in ledger.paths() if not os.path.lexists(path))
    return Summary(str(ledger.path), sum(counts.values()), counts.get(DONE, 0), counts.get(FAILED, 0),
                   uncertain, labels, models, last, reasons, gone)


def empty(state_dir: Path) -> Summary:
    """The summary of a state folder `emowatch run` has not used yet."""
    return Summary(str(ledger_path(Path(state_dir).expanduser().absolute())), 0, 0, 0, 0, {}, {}, None, [])


def failures(ledger: Ledger, limit: int | None = None) -> list[Entry]:
    return ledger.entries(FAILED, limit)


def summary_table(s: Summary, started: bool = True) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("ledger", escape(s.ledger) + ("" if started else
                                               " [dim](not yet: `emowatch run` has not run with this state folder)[/]"))
    gone = f" ({s.gone} no longer there: deleted or moved away)" if s.gone else ""
    grid.add_row("photos", f"{s.photos}{gone}")
    parts = [f"{n} {label}" for label, n in s.labels.items()] + ([f"{s.uncertain} uncertain"] if s.uncertain else [])
    grid.add_row("done", f"{s.done}" + (f" ({', '.join(parts)})" if parts else ""))
    grid.add_row("failed", str(s.failed) + (" [dim](tried again when a photo changes, or all at once: "
                                            "emowatch run --retry-failed)[/]" if s.failed else ""))
    for reason, n in s.reasons[:5]:
        grid.add_row("", f"[red]{n}[/] × {escape(reason)}")
    if len(s.reasons) > 5:
        grid.add_row("", f"[dim]… {len(s.reasons) - 5} more reasons: emowatch status --failed[/]")
    if s.models:
        grid.add_row("models", ", ".join(f"{escape(m)} ({n})" for m, n in s.models.items()))
    when = "never" if s.last_activity is None else datetime.fromtimestamp(s.last_activity).strftime("%Y-%m-%d %H:%M:%S")
    grid.add_row("last activity", when)
    return grid


def failures_table(entries: list[Entry]) -> Table:
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("when", no_wrap=True, style="dim")
    table.add_column("photo", overflow="fold")
    table.add_column("attempts", justify="right")
    table.add_column("reason", overflow="fold")
    for e in entries:
        table.add_row(datetime.fromtimestamp(e.updated).strftime("%Y-%m-%d %H:%M"), escape(e.path),
                      str(e.attempts), escape(f"{e.error_type}: {e.error}" if e.error_type else e.error or ""))
    return table


def failure_json(e: Entry) -> dict[str, Any]:
    return {"path": e.path, "error": e.error, "error_type": e.error_type, "attempts": e.attempts,
            "model": e.model,
            "when": datetime.fromtimestamp(e.updated).astimezone().isoformat(timespec="seconds")}
