"""How `emowatch run` copes with a photographer's whole library: restarts over tens of thousands
of photos that are already tagged.

    python bench/library.py [--photos 30000] [--folders 3000] [--dir /tmp/emowatch-library]
                            [--restarts 3] [--write FILE | --append FILE]

1. build: `--photos` small distinct JPEGs (a few KB: 96x64 noise over a gradient, so that every
   fingerprint differs and tagging is quick) in `--folders` event folders nested three deep like
   a dated library (YYYY/MM-DD/event). Kept in `--dir` between runs (built only once).
2. first pass: the real CLI (`emowatch run --json-log --no-explain`) in a subprocess tags the
   library once; its state folder is kept in `--dir` too, so later runs skip this.
3. restarts (`--restarts`, median): from the process start to the backfill's `backfill-done`
   with nothing to do (the daemon is idle and watching); the CPU time and peak RSS (VmHWM) at
   that moment; the inotify watches it holds (its /proc fdinfo); photos tagged again (must be 0).
   Then one new photo written into a deep folder: from its close to its `tagged` event.
4. `emowatch status` and `status --json` on the ledger: wall time (median of the restarts).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from machine import machine  # noqa: E402

TIMEOUT = 3600.0
CLI = [sys.executable, "-c", "from emowatch.cli.main import main; main()"]


def folders(n: int) -> list[str]:
    """`n` event folders, three levels deep: YYYY/MM-DD/event-K."""
    out = []
    for i in range(n):
        year, day, event = 2010 + i // 400, i // 4 % 100, i % 4
        out.append(f"{year}/{1 + day // 28:02d}-{1 + day % 28:02d}/event-{event}")
    return out


def build(library: Path, photos: int, n_folders: int) -> None:
    """The library, once: a marker file says it is complete."""
    done = library.parent / f"{library.name}.built"
    if done.exists() and done.read_text() == f"{photos} {n_folders}":
        return
    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 200, 96, dtype=np.float32)[None, :, None]
    names = folders(n_folders)
    for i in range(photos):
        folder = library / names[i % n_folders]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = ramp + rng.normal(0, 30, (64, 96, 3)).astype(np.float32) + (i % 50)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"IMG_{i:06d}.jpg", quality=85)
    done.write_text(f"{photos} {n_folders}")


class Daemon:
    """`emowatch run --json-log --no-explain` in a subprocess; its events read by a thread."""

    def __init__(self, library: Path, state: Path, *extra: str, watch_limit: int | None = None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMOWATCH_")}
        # a lower inotify watch limit, for real: in a user namespace of its own
        limited = [] if watch_limit is None else [
            "unshare", "-Ur", "sh", "-c", f'echo {watch_limit} > /proc/sys/user/max_inotify_watches && exec "$@"', "-"]
        self.began = time.time()
        self.proc = subprocess.Popen([*limited, *CLI, "run", "--json-log", "--no-explain", "--device", "cpu",
                                      "--state", str(state), *extra, str(library)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.ps = psutil.Process(self.proc.pid)
        self.events: queue.Queue = queue.Queue()
        self.counts: dict[str, int] = {}
        self._reader = threading.Thread(target=self._read, name="bench-reader")
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            record = json.loads(line)
            self.counts[record["event"]] = self.counts.get(record["event"], 0) + 1
            self.events.put(record)
        self.events.put(None)

    def until(self, kind: str, count: int = 1, each=None) -> list[dict]:
        found = []
        while len(found) < count:
            record = self.events.get(timeout=TIMEOUT)
            if record is None:
                raise SystemExit(f"daemon exited early: {self.proc.wait()}\n{self.proc.stderr.read()[-3000:]}")
            if each is not None:
                each(record)
            if record["event"] == kind:
                found.append(record)
        return found

    def usage(self) -> dict[str, float]:
        cpu = self.ps.cpu_times()
        peak = 0
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
        return {"cpu": cpu.user + cpu.system, "peak_mb": peak / 2**20, "watches": inotify_watches(self.proc.pid)}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            rc = self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._reader.join()
        self.stderr = self.proc.stderr.read()
        self.proc.stderr.close()
        if rc != 0:
            raise SystemExit(f"daemon exited with {rc} on SIGTERM\n{self.stderr[-3000:]}")


def inotify_watches(pid: int) -> int:
    n = 0
    for fd in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            n += fd.read_text().count("inotify wd:")
        except OSError:
            pass
    return n


def wall(record: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(record["time"]).timestamp()


def first_pass(library: Path, state: Path, photos: int) -> dict[str, float] | None:
    if (state / "ledger.sqlite3").exists():
        return None
    d = Daemon(library, state)
    try:
        total = d.until("backfill-counted")[0]["total"]
        print(f"first pass: {total} photos to tag", file=sys.stderr, flush=True)
        progress = {"n": 0}

        def tick(record: dict) -> None:
            if record["event"] == "tagged":
                progress["n"] += 1
                if progress["n"] % 1000 == 0:
                    print(f"  {progress['n']} tagged, {time.time() - d.began:.0f} s", file=sys.stderr, flush=True)
            elif record["event"] == "failed":
                raise SystemExit(f"bench photo failed: {record['path']}: {record['error']}")

        d.until("tagged", total, each=tick)
        seconds = time.time() - d.began
    finally:
        d.stop()
    return {"photos": total, "seconds": seconds}


def restart(library: Path, state: Path, deep_folder: Path, k: int, watch_limit: int | None = None,
            idle_seconds: float = 10.0) -> dict[str, float]:
    d = Daemon(library, state, watch_limit=watch_limit)
    try:
        done = d.until("backfill-done")[0]
        idle = wall(done) - d.began
        use = d.usage()
        retagged = d.counts.get("tagged", 0)
        # the cost of watching while nothing happens (inotify: none; folders scanned: their stat calls)
        time.sleep(idle_seconds)
        idle_cpu = (d.usage()["cpu"] - use["cpu"]) / idle_seconds * 100
        new = deep_folder / f"NEW_{k}_{int(time.time())}.jpg"
        rng = np.random.default_rng(1000 + k)
        closed = time.time()
        Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(new, quality=85)
        closed = time.time()
        tagged = d.until("tagged")[0]
        if tagged["path"] != str(new):
            raise SystemExit(f"an old photo was tagged again: {tagged['path']}")
        new_latency = wall(tagged) - closed
    finally:
        d.stop()
    return {"idle": idle, "todo": done["total"], "retagged": retagged, "new": new_latency, "idle_cpu": idle_cpu,
            "warnings": d.counts.get("warning", 0), **use}


def status_time(state: Path, *extra: str) -> float:
    began = time.monotonic()
    subprocess.run([*CLI, "status", "--state", str(state), *extra], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - began


def disk_mb(state: Path) -> float:
    return sum(p.stat().st_size for p in state.iterdir() if p.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=30000)
    ap.add_argument("--folders", type=int, default=3000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/emowatch-library"),
                    help="where the library and its state folder are kept between runs")
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--watch-limit", type=int, default=None,
                    help="run the restarts with this inotify watch limit (a user namespace: `unshare -Ur`)")
    ap.add_argument("--write", type=Path, help="also write the table and the command to this Markdown file")
    ap.add_argument("--append", type=Path, help="also append the table and the command to this Markdown file")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    library, state = args.dir / f"pictures-{args.photos}", args.dir / f"state-{args.photos}"
    load_before = os.getloadavg()
    began = time.monotonic()
    build(library, args.photos, args.folders)
    first = first_pass(library, state, args.photos)
    deep = library / folders(args.folders)[-1]
    runs = [restart(library, state, deep, k, args.watch_limit) for k in range(args.restarts)]
    status = [status_time(state) for _ in range(args.restarts)]
    status_json = [status_time(state, "--json") for _ in range(args.restarts)]
    load_after = os.getloadavg()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    command = "python bench/library.py " + " ".join(sys.argv[1:])
    n_dirs = sum(1 for _ in library.rglob("*") if _.is_dir()) + 1
    lines = [
        f"emowatch run on a large library — {date.today()} — {machine()}",
        f"{args.photos} tagged JPEGs (96x64, ~{disk_mb_of(library, deep):.0f} KB each) in {n_dirs} folders "
        f"({args.folders} events, 3 levels); explanations off; median of {args.restarts} restart(s); "
        + ("" if args.watch_limit is None else f"inotify watch limit {args.watch_limit}; ") +
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; {time.monotonic() - began:.0f} s in all",
        f"command: {command.strip()}",
        "",
        "| measure | result |",
        "|---|---|",
    ]
    if first is not None:
        lines.append(f"| first pass: {first['photos']:.0f} photos tagged | {first['seconds']:.0f} s "
                     f"({first['photos'] / first['seconds'] * 60:.0f} photos/min) |")
    lines += [
        f"| restart → idle and watching (backfill found {med('todo'):.0f} to do) | {med('idle'):.1f} s |",
        f"| CPU time until idle (user + system) | {med('cpu'):.1f} s |",
        f"| peak RSS until idle | {med('peak_mb'):.0f} MB |",
        f"| inotify watches held | {med('watches'):.0f} |",
        f"| warnings (watch limit reached) | {max(r['warnings'] for r in runs):.0f} |",
        f"| CPU while idle and watching (10 s) | {med('idle_cpu'):.1f}% of a core |",
        f"| photos tagged again on restart | {max(r['retagged'] for r in runs):.0f} |",
        f"| new photo in a deep folder while idle: file closed → tagged | {med('new'):.2f} s |",
        f"| ledger on disk (state folder) | {disk_mb(state):.1f} MB |",
        f"| `emowatch status` / `status --json` | {statistics.median(status):.2f} s / "
        f"{statistics.median(status_json):.2f} s |",
        "",
        "per restart: idle " + ", ".join(f"{r['idle']:.1f}" for r in runs) + " s; CPU "
        + ", ".join(f"{r['cpu']:.1f}" for r in runs) + " s; new photo "
        + ", ".join(f"{r['new']:.2f}" for r in runs) + " s",
    ]
    text = "\n".join(lines)
    print(text)
    for target, mode in ((args.write, "w"), (args.append, "a")):
        if target:
            with open(target, mode) as f:
                f.write("\n" + text + "\n")


def disk_mb_of(library: Path, folder: Path) -> float:
    sizes = [p.stat().st_size for p in folder.glob("IMG_*.jpg")]
    return statistics.median(sizes) / 1024 if sizes else 0.0


if __name__ == "__main__":
    main()
