"""Throughput of the shipped model (ONNX Runtime) next to the paper's ResNet50 (PyTorch eager).

    python bench/model.py [--model PATH] [--runs 5] [--threads 2]

Both run in the same process on the same machine, one after the other; each figure is the
median of `--runs` timed runs (after one warm-up), in photos per second at 224 x 224 px.
The ResNet50 has random weights: only its speed matters here. Needs the `train` extra.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # see training/__init__.py
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from machine import machine  # noqa: E402  (bench/ is on the path: scripts run as python bench/NAME.py)

BATCHES = (1, 8, 32)


def timed(fn, runs: int, reps: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - start) / reps)
    return statistics.median(times)


def ort_rates(model: Path, threads: int, runs: int, outputs: list[str] | None) -> dict[int, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    rates = {}
    for b in BATCHES:
        x = np.random.default_rng(0).standard_normal((b, 3, 224, 224), dtype=np.float32)
        rates[b] = b / timed(lambda: session.run(outputs, {"image": x}), runs, max(1, 32 // b))
    return rates


def resnet50_rates(threads: int, runs: int) -> dict[int, float]:
    import torch

    from training.checkpoint import build_net

    torch.set_num_threads(threads)
    net = build_net("resnet50", {"hidden": [512, 128], "dropout": 0.5}, pretrained=False).eval()
    rates = {}
    with torch.no_grad():
        for b in BATCHES:
            x = torch.randn(b, 3, 224, 224)
            rates[b] = b / timed(lambda: net(x), runs, 1 if b > 1 else 4)
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "emowatch/models/emowatch-default.onnx")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import onnxruntime
    import torch

    rows = [
        (f"{args.model.name}, ONNX Runtime, logits only", ort_rates(args.model, args.threads, args.runs, ["logits"])),
        (f"{args.model.name}, ONNX Runtime, + features + cam_weights", ort_rates(args.model, args.threads, args.runs, None)),
        ("paper's ResNet50 + head, PyTorch eager fp32 (random weights)", resnet50_rates(args.threads, args.runs)),
    ]
    base = rows[-1][1]
    print(f"machine: {machine()}; {args.threads} threads; onnxruntime {onnxruntime.__version__}, "
          f"torch {torch.__version__}; {time.strftime('%Y-%m-%d %H:%M')}; median of {args.runs} runs")
    print()
    print("| model | " + " | ".join(f"batch {b} (photos/s)" for b in BATCHES) + " | vs ResNet50 at batch 32 |")
    print("|---|" + "---|" * (len(BATCHES) + 1))
    for name, rates in rows:
        cells = " | ".join(f"{rates[b]:.1f}" for b in BATCHES)
        print(f"| {name} | {cells} | {rates[32] / base[32]:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
