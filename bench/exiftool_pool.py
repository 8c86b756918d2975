"""One exiftool process or one per writer thread: tagging camera JPEGs whose XPKeywords need it.

    python bench/exiftool_pool.py [--photos 48] [--runs 5]

Makes 24 MP JPEGs with camera EXIF and an MPF preview (as bench/tag.py does), then tags fresh
copies with `ExiftoolPool(size=1)` and `ExiftoolPool(size=2)` in turn, interleaved, so that both
see the same machine. Prints photos/s per run and the median for each, with the machine.
"""

from __future__ import annotations

import argparse
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
    rates: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = make_photos(tmp / "src", args.photos, (6000, 4000), "cam", exif=camera_exif(),
                             preview=True)
        pools = {size: ExiftoolPool(settings.exiftool, size=size) for size in rates}
        try:
            for pool in pools.values():  # start-up and the first model run, untimed
                list(Tagger(model, settings, exiftool=pool).tag(fresh_copies(photos[:8], tmp / "warm")))
            for _ in range(args.runs):
                for size, pool in pools.items():
                    copies = fresh_copies(photos, tmp / "work")
                    start = time.perf_counter()
                    results = list(Tagger(model, settings, exiftool=pool).tag(copies))
                    rates[size].append(len(photos) / (time.perf_counter() - start))
                    assert all(r.ok and r.action == "embedded" for r in results)
        finally:
            for pool in pools.values():
                pool.close()
    print(f"exiftool processes for tagging — {date.today()} — {machine()}")
    print(f"{args.photos} 24 MP JPEGs with camera EXIF and an MPF preview, XPKeywords on; "
          f"command: python bench/exiftool_pool.py --photos {args.photos} --runs {args.runs}\n")
    print("| exiftool processes | photos/s per run | median photos/s | vs one |")
    print("|---|---|---|---|")
    base = statistics.median(rates[1])
    for size, values in rates.items():
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {size} | {runs} | {statistics.median(values):.1f} | {statistics.median(values) / base:.2f}x |")


if __name__ == "__main__":
    main()
