"""What the exchange at the end of every atomic write costs, and what it saves.

    python bench/commit.py [--seconds 10] [--folder DIR]

emowatch/atomic.py commits a write with renameat2(RENAME_EXCHANGE) and looks at what it
displaced (emowatch/exchange.py), where it used to rename over the photo. Prints, for the
folder's file system (default: a temp folder) and /dev/shm:

1. the commit alone, exchange + lstat + unlink against a plain rename (the new file fsync'd
   before either, as in a write), median of 1,000 each;
2. a whole atomic_write of a 100 kB file (fsyncs included), each way, median of 300;
3. a race: a program saving 20 photos in a loop (temp file renamed over the photo, as an editor
   saves) while emowatch writes them for `--seconds`, each way; counts the saves emowatch
   replaced with a file built from the one before (lost), the times the saver saw such a file
   that was gone 20 ms later (put back), and emowatch's writes refused as changed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emowatch import atomic, exchange  # noqa: E402
from emowatch.errors import FileChangedError  # noqa: E402

# the other program: saves each photo in turn ("gen N"), and before each save checks that the
# photo is its last save, tagged or not. An older save, tagged, means emowatch replaced its last
# one: lost if it is still so 20 ms later, else seen for an instant only (an exchange put back)
SAVER = """
import json, os, sys, time
folder, names, end = sys.argv[1], sys.argv[2].split(","), time.time() + float(sys.argv[3])
last, lost, instant, saves = dict.fromkeys(names, 0), 0, 0, 0

def gen(path):
    with open(path, "rb") as f:
        return int(f.read().split()[1])

while time.time() < end:
    for name in names:
        path = os.path.join(folder, name)
        if gen(path) < last[name]:
            time.sleep(0.02)
            stale = gen(path) < last[name]
            lost, instant = lost + stale, instant + (not stale)
        last[name] += 1
        tmp = os.path.join(folder, "." + name + ".save")
        with open(tmp, "wb") as f:
            f.write(b"gen %d" % last[name])
        os.rename(tmp, path)
        saves += 1
print(json.dumps({"lost": lost, "instant": instant, "saves": saves, "last": last}))
"""


@contextmanager
def without_exchange():
    """As on a file system that refuses it: emowatch renames over the photo."""
    saved = exchange._renameat2
    exchange._renameat2 = lambda: None
    try:
        yield
    finally:
        exchange._renameat2 = saved


def commit_alone(folder: Path, n: int = 1000) -> tuple[float, float]:
    """Median microseconds of the commit step: (exchange + lstat + unlink, rename)."""
    photo, tmp = folder / "photo.jpg", folder / ".photo.jpg.emowatch-tmp-bench"
    photo.write_bytes(b"x" * 1000)
    dev = os.stat(photo).st_dev
    ways = {"exchange": [], "rename": []}
    for i in range(2 * n):
        with open(tmp, "wb") as f:  # fsync'd, as atomic_write has it before the commit
            f.write(b"y" * 1000)
            f.flush()
            os.fsync(f.fileno())
        way = "exchange" if i % 2 else "rename"
        start = time.perf_counter_ns()
        if way == "exchange":
            assert exchange.exchange(tmp, photo, dev)
            os.lstat(tmp)
            os.unlink(tmp)
        else:
            os.replace(tmp, photo)
        ways[way].append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(ways["exchange"]), statistics.median(ways["rename"])


def whole_write(folder: Path, n: int = 300) -> tuple[float, float]:
    """Median microseconds of atomic_write of 100 kB: (with the exchange, without)."""
    photo = folder / "whole.jpg"
    photo.write_bytes(os.urandom(100_000))
    data = os.urandom(100_000)
    times = {True: [], False: []}
    for i in range(2 * n):
        with_exchange = bool(i % 2)
        start = time.perf_counter_ns()
        if with_exchange:
            atomic.atomic_write(photo, data, expect=atomic.identity(photo), preserve_mtime=False,
                                verify=None)
        else:
            with without_exchange():
                atomic.atomic_write(photo, data, expect=atomic.identity(photo),
                                    preserve_mtime=False, verify=None)
        times[with_exchange].append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(times[True]), statistics.median(times[False])


def race(folder: Path, seconds: float) -> dict:
    names = [f"IMG_{i:04d}.jpg" for i in range(20)]
    for name in names:
        (folder / name).write_bytes(b"gen 0")
    saver = subprocess.Popen([sys.executable, "-c", SAVER, str(folder), ",".join(names),
                              str(seconds)], stdout=subprocess.PIPE, text=True)
    writes = changed = 0
    end = time.time() + seconds
    while time.time() < end:
        for name in names:
            path = folder / name
            try:
                data, expect = atomic.read_with_identity(path)
                new = data.split(b" tagged")[0] + b" tagged"
                atomic.atomic_write(path, new, expect=expect, preserve_mtime=False, verify=None)
                writes += 1
            except (FileChangedError, ValueError, IndexError):
                changed += 1
    report = json.loads(saver.communicate(timeout=60)[0])
    # the saver's very last saves: lost if the photo now holds an older one
    report["lost"] += sum(int((folder / n).read_bytes().split()[1]) < report["last"][n]
                          for n in names)
    return {"writes": writes, "refused as changed": changed, "saves": report["saves"],
            "lost saves": report["lost"], "older version seen for an instant": report["instant"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(dir=args.folder) as disk, \
            tempfile.TemporaryDirectory(dir="/dev/shm") as memory:
        for label, folder in (("disk", Path(disk)), ("tmpfs", Path(memory))):
            ex, rn = commit_alone(folder)
            print(f"{label}: commit alone, median µs: exchange+lstat+unlink {ex:.1f}, "
                  f"rename {rn:.1f} (+{ex - rn:.1f})")
            ex, rn = whole_write(folder)
            print(f"{label}: atomic_write 100 kB, median µs: with exchange {ex:.0f}, "
                  f"without {rn:.0f} (+{ex - rn:.0f})")
        for label, context in (("with exchange", None), ("without", without_exchange)):
            folder = Path(disk) / label.replace(" ", "-")
            folder.mkdir()
            if context is None:
                print(f"race, {label}: {race(folder, args.seconds)}")
            else:
                with context():
                    print(f"race, {label}: {race(folder, args.seconds)}")


if __name__ == "__main__":
    main()
