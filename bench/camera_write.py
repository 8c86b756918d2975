"""Writing the keywords into camera JPEGs that need exiftool (IPTC keywords, kept in step with
XMP and XPKeywords): exiftool given the header alone (emowatch/xmp/jpeg_head.py, what emowatch
does) against exiftool given the whole file (what it falls back to), in a folder of your choice.

    python bench/camera_write.py [--folder DIR] [--photos 12] [--runs 3]

Makes 24 MP JPEGs with camera EXIF, an IPTC keyword and an MPF preview (as bench/tag.py does),
copies them into `--folder` (default: a temp folder; try an external drive, a memory card or a
network share), and times `write_tags` on each copy, one photo at a time, the two ways in turn.
Prints the median milliseconds per photo and exiftool's CPU time per photo, with the machine and
the folder's file system.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

from exiftool_pool import cpu_seconds
from machine import machine
from tag import camera_exif, make_photos  # bench/ is on the path


class WholeFile:
    """The real exiftool, refusing the header-only file: emowatch then hands it the whole file."""

    def __init__(self, tool):
        self.tool = tool

    def __getattr__(self, name):
        return getattr(self.tool, name)

    def write_in_place(self, path: Path, args):
        from emowatch.errors import ExiftoolError

        if Path(path).name == "head.jpg":
            raise ExiftoolError("the whole file, for this comparison", Path(path))
        return self.tool.write_in_place(path, args)


def file_system(folder: Path) -> str:
    out = subprocess.run(["df", "--output=fstype", str(folder)], capture_output=True, text=True)
    lines = out.stdout.split()
    return lines[-1] if out.returncode == 0 and len(lines) > 1 else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=None)
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from emowatch.exiftool import Exiftool
    from emowatch.metadata import write_tags
    from emowatch.settings import Settings
    from emowatch.tags import EmotionTags

    tags = EmotionTags(label="positive", keyword="Positive", parent="Emotion", confidence=0.9,
                       probabilities={"positive": 0.9, "negative": 0.07, "other": 0.03},
                       model="bench@1", tagged_at="2026-01-01T00:00:00+00:00")
    settings = Settings()
    ms: dict[str, list[float]] = {"header alone": [], "whole file": []}
    cpu: dict[str, list[float]] = {name: [] for name in ms}
    with tempfile.TemporaryDirectory() as tmp, Exiftool(settings.exiftool) as tool:
        photos = make_photos(Path(tmp) / "src", args.photos, (6000, 4000), "cam", exif=camera_exif(),
                             preview=True, iptc=True)
        work = Path(tempfile.mkdtemp(prefix="emowatch-bench-", dir=args.folder))
        fs = file_system(work)
        try:
            ways = {"header alone": tool, "whole file": WholeFile(tool)}
            for _ in range(args.runs):
                for name, exiftool in ways.items():
                    used = 0.0  # exiftool's CPU, summed over the run (the clock ticks are 10 ms)
                    for photo in photos:
                        copy = Path(shutil.copy(photo, work / photo.name))
                        start, start_cpu = time.perf_counter(), cpu_seconds([tool.pid])
                        result = write_tags(copy, tags, settings=settings, exiftool=exiftool)
                        ms[name].append((time.perf_counter() - start) * 1000)
                        used += cpu_seconds([tool.pid]) - start_cpu
                        assert result.action == "embedded", result
                        os.unlink(copy)
                    cpu[name].append(used / len(photos) * 1000)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(f"camera JPEG writes through exiftool — {date.today()} — {machine()}")
    print(f"{args.photos} 24 MP JPEGs with camera EXIF, IPTC keywords and an MPF preview, XPKeywords on, one at a time, "
          f"{args.runs} runs; folder on {fs}")
    print(f"command: python bench/camera_write.py --photos {args.photos} --runs {args.runs}"
          + (f" --folder {args.folder}" if args.folder else "") + "\n")
    print("| exiftool given | ms per photo (median) | exiftool CPU ms per photo (median of runs) |")
    print("|---|---|---|")
    for name in ms:
        print(f"| {name} | {statistics.median(ms[name]):.1f} | {statistics.median(cpu[name]):.1f} |")


if __name__ == "__main__":
    main()
