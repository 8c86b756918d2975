"""Writing a bench's Markdown report without losing what people wrote below it."""

from __future__ import annotations

from pathlib import Path

NOTES = "<!-- notes: kept when the bench rewrites this file -->"


def write_report(path: Path, report: str) -> None:
    """Write the report, keeping any hand-written notes below the NOTES marker."""
    notes = ""
    if path.exists():
        old = path.read_text()
        if NOTES in old:
            notes = "\n" + old[old.index(NOTES):]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report + "\n" + notes)
