"""A bench that rewrites its report under docs/ keeps the hand-written part below its marker:
`python bench/daemon.py ... --write docs/daemon_bench.md` (the command the README gives) wrote
the table alone, and the notes and 'A large library' went with the old file."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench(name: str, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script, report, kept", [
    ("daemon", "docs/daemon_bench.md", ["## Reading these numbers", "## A large library",
                                        "### The inotify watch limit"]),
    ("explain", "docs/explain_bench.md", ["## Notes on this run", "## CAM: what a cell's colour means"]),
])
def test_rewriting_a_report_keeps_its_notes(script, report, kept, tmp_path, monkeypatch):
    doc = tmp_path / "report.md"
    doc.write_text((ROOT / report).read_text())
    _bench(script, monkeypatch).write_report(doc, "# a new table")
    text = doc.read_text()
    assert text.startswith("# a new table\n")
    for heading in kept:
        assert heading in text
