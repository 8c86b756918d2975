"""How `emowatch run` performs: latency of new photos, backlog throughput, memory over a long backfill.

    python bench/daemon.py [--runs 3] [--latency-photos 50] [--interval 2.0] [--backlog 500]
                           [--memory-photos 1000] [--model PATH] [--explainer lime|cam | --no-explain]
                           [--write FILE | --append FILE]

The daemon is the real CLI (`emowatch run --json-log`) in a subprocess, with the shipped default
model and explanations on (unless --no-explain, or the explainer is not installed). Photos are
made here from scikit-image's public-domain photos, upscaled to 12 MP with a little noise so
that they decode like camera JPEGs, in a temp folder that is removed afterwards.

1. latency: photos written into the watched folder at a steady rate; for each, from the moment
   its file is closed to the daemon's `tagged` event (logged after the keywords are on disk and
   the ledger has them): p50 and p95. The default quiet interval (1 s) is part of it; so that the
   daemon's own share is visible, the table also shows the p50 of the tagger's time for a photo
   (decode, classify, explain, write).
2. backlog: N photos already there at start; from the daemon's `watching` event to the N-th
   `tagged`: photos per minute.
3. memory: a backfill of a little more than M >= 1000 photos; the daemon's RSS at photo 100 and
   photo M (both with the pipeline full), its peak (VmHWM) and its RSS after the last photo.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
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
from report import write_report  # noqa: E402

SIZE = (4000, 3000)
TIMEOUT = 900.0


def make_sources(folder: Path, count: int) -> list[bytes]:
    """`count` distinct 12 MP JPEGs (bytes), from skimage's photos: crops, flips, noise."""
    import skimage.data as data

    bases = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.cat(), data.immunohistochemistry()]
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        base = Image.fromarray(bases[i % len(bases)])
        if i // len(bases) % 2:
            base = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        big = base.resize(SIZE, Image.Resampling.BICUBIC)
        noisy = np.asarray(big, dtype=np.int16) + rng.normal(0, 4, (SIZE[1], SIZE[0], 3)).astype(np.int16)
        path = folder / f"src_{i:03d}.jpg"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, quality=90)
        out.append(path.read_bytes())
    return out


def place(folder: Path, sources: list[bytes], n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"roll{i // 100:02d}" / f"IMG_{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sources[i % len(sources)])
        paths.append(path)
    return paths


class Daemon:
    """`emowatch run --json-log` in a subprocess; events read by a thread, RSS sampled at each."""

    def __init__(self, watch: Path, state: Path, model: Path | None, explain: str | None):
        args = [sys.executable, "-c", "from emowatch.cli.main import main; main()", "run", "--json-log",
                "--state", str(state), "--device", "cpu"]
        args += ["--explainer", explain] if explain else ["--no-explain"]
        if model is not None:
            args += ["--model", str(model)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMOWATCH_")}
        self.proc = subprocess.Popen([*args, str(watch)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.ps = psutil.Process(self.proc.pid)
        self.events: queue.Queue = queue.Queue()
        self.rss: list[int] = []
        self._reader = threading.Thread(target=self._read, name="bench-reader")
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            record = json.loads(line)
            if record["event"] == "tagged":
                try:
                    self.rss.append(self.ps.memory_info().rss)
                except psutil.Error:
                    pass
            self.events.put(record)
        self.events.put(None)

    def until(self, kind: str, count: int = 1) -> list[dict]:
        found = []
        while len(found) < count:
            record = self.events.get(timeout=TIMEOUT)
            if record is None:
                raise SystemExit(f"daemon exited early: {self.proc.wait()}\n{self.proc.stderr.read()[-3000:]}")
            if record["event"] == "failed":
                raise SystemExit(f"bench photo failed: {record['path']}: {record['error']}")
            if record["event"] == kind:
                found.append(record)
        return found

    def peak_rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return max(self.rss, default=0)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._reader.join()
        self.proc.stderr.close()
        if rc != 0:
            raise SystemExit(f"daemon exited with {rc} on SIGTERM")


def wall(record: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(record["time"]).timestamp()


def latency_run(tmp: Path, sources, n: int, interval: float, model, explain) -> tuple[float, float, float]:
    watch, state = tmp / "latency", tmp / "latency-state"
    watch.mkdir()
    d = Daemon(watch, state, model, explain)
    try:
        d.until("backfill-counted")
        # first photos create the inference session: not part of the steady state
        for i in range(2):
            (watch / f"warm{i}.jpg").write_bytes(sources[i])
        d.until("tagged", 2)
        closed: dict[str, float] = {}
        start = time.monotonic()
        for i in range(n):
            path = watch / f"drop_{i:03d}.jpg"
            with open(path, "wb") as f:
                f.write(sources[i % len(sources)])
            closed[str(path)] = time.time()
            # the workload's pace (a camera tethered, an export running), not a synchronisation
            time.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))
        tagged = d.until("tagged", n)
    finally:
        d.stop()
    lat = sorted(wall(r) - closed[r["path"]] for r in tagged)
    work = statistics.median(r["seconds"] for r in tagged)
    return statistics.median(lat), lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))], work


def backlog_run(tmp: Path, sources, n: int, model, explain) -> float:
    watch, state = tmp / "backlog", tmp / "backlog-state"
    place(watch, sources, n)
    d = Daemon(watch, state, model, explain)
    try:
        start = wall(d.until("watching")[0])
        last = d.until("tagged", n)[-1]
    finally:
        d.stop()
    shutil.rmtree(watch)
    shutil.rmtree(state)
    return n / (wall(last) - start) * 60


def memory_run(tmp: Path, sources, n: int, model, explain) -> dict[str, float]:
    """RSS at photo 100 and photo n, both while the pipeline is still full (there are more
    photos than n: at the very end the queues drain and RSS drops, which says nothing about
    growth), then the peak and the RSS once everything is done."""
    watch, state = tmp / "memory", tmp / "memory-state"
    total = n + max(20, n // 10)
    place(watch, sources, total)
    d = Daemon(watch, state, model, explain)
    try:
        d.until("tagged", total)
        peak = d.peak_rss()
        final = d.ps.memory_info().rss
    finally:
        d.stop()
    shutil.rmtree(watch)
    mb = 1024 * 1024
    return {"at100": d.rss[99] / mb, "atn": d.rss[n - 1] / mb, "peak": peak / mb, "final": final / mb,
            "total": total}


def explainer_available() -> bool:
    try:
        return hasattr(importlib.import_module("emowatch.explain"), "make_explainer")
    except ImportError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs of the latency and backlog measurements")
    ap.add_argument("--latency-photos", type=int, default=50)
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between photos in the latency run")
    ap.add_argument("--backlog", type=int, default=500)
    ap.add_argument("--memory-photos", type=int, default=1000)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--explainer", choices=["lime", "cam"], default="lime")
    ap.add_argument("--no-explain", action="store_true")
    ap.add_argument("--write", type=Path, help="also write the table and the command to this Markdown file")
    ap.add_argument("--append", type=Path, help="also append the table and the command to this Markdown file")
    args = ap.parse_args()
    # a SIGTERM to the bench unwinds it (so its daemon is stopped and the temp folder removed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    explain = None if args.no_explain or not explainer_available() else args.explainer
    note = "" if explain or args.no_explain else " (the explainer is not installed: explanations OFF)"
    load_before = os.getloadavg()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="emowatch-bench-") as t:
        tmp = Path(t)
        (tmp / "src").mkdir()
        sources = make_sources(tmp / "src", 24)
        lats, rates = [], []
        for r in range(args.runs):
            run_dir = tmp / f"run{r}"
            run_dir.mkdir()
            lats.append(latency_run(run_dir, sources, args.latency_photos, args.interval, args.model, explain))
            rates.append(backlog_run(run_dir, sources, args.backlog, args.model, explain))
            shutil.rmtree(run_dir)
        mem = memory_run(tmp, sources, args.memory_photos, args.model, explain) if args.memory_photos >= 100 else None
    load_after = os.getloadavg()
    from emowatch.runtime.model import EmotionModel

    model_id = EmotionModel.load(args.model, device="cpu").info.id
    command = "python bench/daemon.py " + " ".join(sys.argv[1:])
    p50 = statistics.median(l[0] for l in lats)
    p95 = statistics.median(l[1] for l in lats)
    work = statistics.median(l[2] for l in lats)
    lines = [
        f"emowatch run benchmark — {date.today()} — {machine()}",
        f"model: {model_id}; explanations {explain or 'off'}{note}; otherwise default settings "
        f"(quiet interval 1 s); 12 MP JPEGs; median of {args.runs} run(s); "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; {time.monotonic() - began:.0f} s in all",
        f"command: {command.strip()}",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| file closed → keywords on disk, p50 ({args.latency_photos} photos, one every {args.interval:g} s) | "
        f"{p50:.2f} s | |",
        f"| file closed → keywords on disk, p95 | {p95:.2f} s | ≤ 3 s |",
        f"| of which the tagger's own time per photo, p50 (decode + classify + explain + write) | {work:.2f} s | |",
        f"| backlog throughput ({args.backlog}-photo backfill) | {statistics.median(rates):.0f} photos/min | |",
    ]
    if mem is not None:
        growth = (mem["atn"] - mem["at100"]) / mem["at100"] * 100
        lines += [
            f"| RSS at photo 100 / photo {args.memory_photos} ({mem['total']}-photo backfill) | "
            f"{mem['at100']:.0f} MB / {mem['atn']:.0f} MB ({growth:+.1f}%) | flat within 10% |",
            f"| peak RSS / RSS after the last photo | {mem['peak']:.0f} MB / {mem['final']:.0f} MB | ≤ 600 MB |",
        ]
    lines += ["", "per run: latency p50/p95 " + ", ".join(f"{a:.2f}/{b:.2f} s" for a, b, _ in lats)
              + "; backlog " + ", ".join(f"{r:.0f}" for r in rates) + " photos/min"]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_report(args.write, "# `emowatch run` benchmark\n\nGenerated by `bench/daemon.py`; "
                     "regenerate with the commands below.\n\n" + text)
    if args.append:
        with open(args.append, "a") as f:
            f.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
