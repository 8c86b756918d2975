"""How many writer threads, each with its exiftool process: tagging camera JPEGs that need
exiftool (IPTC keywords, kept in step with XMP and XPKeywords).

    python bench/exiftool_pool.py [--photos 48] [--runs 5]

Makes 24 MP JPEGs with camera EXIF, an IPTC keyword and an MPF preview (as bench/tag.py does), then tags fresh
copies with 1, 2 and 4 writer threads and as many exiftool processes (`emowatch tag` runs
tagging.WRITERS), in turn, interleaved, so that all see the same machine. Prints photos/s per
run and the median for each, and the exiftool processes' CPU time per photo, with the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from machine import machine
from tag import camera_exif, fresh_copies, make_photos  # bench/ is on the path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=48)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from emowatch.exiftool import ExiftoolPool
    from emowatch.runtime.model import EmotionModel
    from emowatch.settings import load_settings
    from emowatch.tagging import Tagger

    settings = load_settings(None, environ={}, overrides={"explain.enabled": False,
                                                         "min_confidence": 0.0, "device": "cpu"})
    model = EmotionModel.load(settings.model, device="cpu")
    rates: dict[int, list[float]] = {1: [], 2: [], 4: []}
    exiftool_ms: dict[int, list[float]] = {size: [] for size in rates}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = make_photos(tmp / "src", args.photos, (6000, 4000), "cam", exif=camera_exif(),
                             preview=True, iptc=True)
        pools = {size: ExiftoolPool(settings.exiftool, size=size) for size in rates}
        try:
            for size, pool in pools.items():  # start-up and the first model run, untimed
                tagger = Tagger(model, settings, exiftool=pool, writers=size)
                list(tagger.tag(fresh_copies(photos[:8 * size], tmp / "warm")))
            for _ in range(args.runs):
                for size, pool in pools.items():
                    copies = fresh_copies(photos, tmp / "work")
                    start, start_cpu = time.perf_counter(), cpu_seconds(pool.pids)
                    results = list(Tagger(model, settings, exiftool=pool, writers=size).tag(copies))
                    rates[size].append(len(photos) / (time.perf_counter() - start))
                    exiftool_ms[size].append((cpu_seconds(pool.pids) - start_cpu) / len(photos) * 1000)
                    assert all(r.ok and r.action == "embedded" for r in results)
        finally:
            for pool in pools.values():
                pool.close()
    print(f"exiftool processes for tagging — {date.today()} — {machine()}")
    print(f"{args.photos} 24 MP JPEGs with camera EXIF, IPTC keywords and an MPF preview, XPKeywords on; "
          f"command: python bench/exiftool_pool.py --photos {args.photos} --runs {args.runs}\n")
    print("| writer threads and exiftool processes | photos/s per run | median photos/s | vs one "
          "| exiftool CPU ms/photo (median) |")
    print("|---|---|---|---|---|")
    base = statistics.median(rates[1])
    for size, values in rates.items():
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {size} | {runs} | {statistics.median(values):.1f} | {statistics.median(values) / base:.2f}x "
              f"| {statistics.median(exiftool_ms[size]):.1f} |")


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by the processes and everything below them (each
    exiftool runs under a small relay shell; Linux /proc)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, ticks
    wanted = set(pids)
    grew = True
    while grew:  # the processes' children, grandchildren, ...
        below = {pid for pid, (ppid, _) in stats.items() if ppid in wanted} - wanted
        wanted |= below
        grew = bool(below)
    ticks = sum(stats[pid][1] for pid in wanted if pid in stats)
    return ticks / os.sysconf("SC_CLK_TCK")

if __name__ == "__main__":
    main()
