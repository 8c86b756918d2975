"""Which layers cost an int8 copy of the default model its labels?

    python bench/int8_layers.py [--layers 0-9] [--calibration 192]

Needs the `train` extra and ../shared/data (the evaluation photos, read in place). For each
convolution of the backbone asked for (graph order; 0 is the first), an int8 copy with that
convolution alone quantized (weights per channel, its input and output at 8 bits, as
`python -m export --quantize` does; every other layer fp32, MinMax calibration on
`--calibration` FI training photos; a convolution's ReLU6 goes with it) is compared with the shipped fp32 model on the 1,621
evaluation photos: the share of labels kept. The export keeps an int8 copy only at >= 99%,
so a layer alone below that cannot be quantized, and the rest together must stay above it.
`--fp32-first N` (repeatable) adds a row per N: the first N layers fp32, the rest int8.
~15 s per layer or row on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from machine import machine
from quantize import evaluation_photos, logits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def layer_range(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=layer_range, default=None, help="e.g. 0-9 (default: all)")
    ap.add_argument("--calibration", type=int, default=192)
    ap.add_argument("--fp32-first", type=int, action="append", default=[],
                    help="also: the first N convolutions fp32, all later ones int8")
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()

    from export.quantize import backbone_nodes, quantize

    from emowatch.runtime.model import default_model_path

    model = args.model or default_model_path()
    photos = evaluation_photos(model, args.calibration)
    fp32 = logits(model, photos.x).argmax(1)
    nodes = backbone_nodes(model)
    convs = [n for n in nodes if n.op_type == "Conv"]
    def layer(conv) -> set[str]:
        """A convolution and the ReLU6 (Clip) on its output, if it has one."""
        return {conv.name} | {n.name for n in nodes if n.op_type == "Clip" and n.input[0] == conv.output[0]}

    # by default every layer, unless only the --fp32-first rows are asked for
    layers = args.layers if args.layers is not None else [] if args.fp32_first else range(len(convs))
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in layers:
            conv = convs[i]
            group = next((a.i for a in conv.attribute if a.name == "group"), 1)
            int8 = Path(tmp) / f"layer{i}.onnx"
            alone = layer(conv)
            with contextlib.redirect_stdout(io.StringIO()):  # the calibrators' progress prints
                quantize(model, int8, photos.calibration,
                         keep_fp32=[n.name for n in nodes if n.name not in alone])
            kept = float((logits(int8, photos.x).argmax(1) == fp32).mean())
            kind = "depthwise" if group > 1 else ("pointwise" if _kernel(conv) == 1 else "full")
            rows.append(f"| {i} | {conv.name} | {kind} | {100 * kept:.1f}% |")
        mixed = []
        for n in args.fp32_first:
            int8 = Path(tmp) / f"after{n}.onnx"
            with contextlib.redirect_stdout(io.StringIO()):
                quantize(model, int8, photos.calibration,
                         keep_fp32=[name for c in convs[:n] for name in layer(c)])
            kept = float((logits(int8, photos.x).argmax(1) == fp32).mean())
            mixed.append(f"| first {n} fp32, the other {len(convs) - n} int8 | {100 * kept:.1f}% |")

    print(f"int8, one layer at a time — {date.today()} — {machine()}")
    print("command: python bench/int8_layers.py"
          + (f" --layers {args.layers.start}-{args.layers.stop - 1}" if args.layers else "")
          + "".join(f" --fp32-first {n}" for n in args.fp32_first)
          + f" --calibration {args.calibration}; {len(photos.y)} evaluation photos; "
          f"{len(convs)} convolutions in the backbone; {time.perf_counter() - started:.0f} s\n")
    if rows:
        print("| layer | node | convolution | labels kept with it alone in int8 |")
        print("|---|---|---|---|")
        print("\n".join(rows))
    if mixed:
        print("\n| convolutions | labels kept |")
        print("|---|---|")
        print("\n".join(mixed))


def _kernel(conv) -> int:
    shape = next((a.ints for a in conv.attribute if a.name == "kernel_shape"), None)
    return int(shape[0]) if shape else 0


if __name__ == "__main__":
    main()
