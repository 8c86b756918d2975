"""`python -m export CHECKPOINT OUT.onnx`: export, verify, evaluate, embed the results.

1. The checkpoint is exported (eval mode, dynamic batch, outputs logits/features/cam_weights)
   and checked by onnx's full checker.
2. PyTorch and ONNX Runtime are compared on real photos; above the tolerance the export fails.
3. The ONNX file is evaluated with ONNX Runtime on the config's evaluation sets, and the
   summary is written into its own metadata (what the model card and the regression test read).
4. With --quantize, an int8 copy is calibrated on training photos and replaces the fp32 file
   only if it agrees with it on >= 99% of the evaluation photos.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from emowatch.modelmeta import ModelInfo


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export", description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--name", default="emowatch-default")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--config", type=Path, action="append", default=[],
                    help="config(s) naming the evaluation data (default: the checkpoint's own)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--parity-photos", type=int, default=64)
    ap.add_argument("--no-eval", action="store_true", help="skip evaluating the ONNX file")
    ap.add_argument("--quantize", action="store_true", help="try int8 static quantization")
    ap.add_argument("--calibration-photos", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import training  # noqa: F401  (sets the OpenMP wait policy before torch starts)
    from training import checkpoint, config as C
    from training.evaluate import evaluate, markdown
    from training.metrics import summary
    from training.predict import _batches
    from training.sources import eval_sets, train_samples
    from training.model import ExportForward

    from .onnx_export import ExportError, export, write_metadata

    try:
        ckpt = checkpoint.load(args.checkpoint)
        cfg = C.load(args.config, args.overrides) if args.config else \
            C.load(None, args.overrides, extra=ckpt.config)
        sets = eval_sets(cfg)
    except (checkpoint.CheckpointError, C.ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # the model's preprocessing is the checkpoint's own; --config only chooses evaluation data
    prep = checkpoint.preprocess(ckpt)
    pool = [s for samples in sets.values() for s in samples]
    if not pool:
        print("error: no photos for the parity check (no evaluation set in the config)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    chosen = [pool[i] for i in sorted(rng.choice(len(pool), min(args.parity_photos, len(pool)), replace=False))]
    photos = np.concatenate(list(_batches(chosen, prep, 32)))
    info = ModelInfo(
        labels=ckpt.labels, input_size=prep.size, mean=prep.mean, std=prep.std,
        name=args.name, version=args.version, resize=prep.resize, backbone=ckpt.backbone,
        training=dict(ckpt.training),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        parity = export(ExportForward(ckpt.net), info, args.out, photos)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"exported {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    print(f"parity on {parity.photos} photos: max |torch - onnxruntime| "
          + ", ".join(f"{k} {v:.2e}" for k, v in parity.max_abs_diff.items())
          + f"; argmax agreement {parity.argmax_agreement:.4f}")
    evaluation: dict = {"parity": parity.as_dict()}

    if args.quantize:
        from .quantize import compare, quantize

        train = train_samples(cfg)
        calib = [train[i] for i in sorted(rng.choice(len(train), min(args.calibration_photos, len(train)), replace=False))]
        with tempfile.TemporaryDirectory() as tmp:
            int8 = Path(tmp) / "int8.onnx"
            quantize(args.out, int8, np.concatenate(list(_batches(calib, prep, 32))))
            x = np.concatenate(list(_batches(pool, prep, 32)))
            y = np.array([ckpt.labels.index(s.label) for s in pool])
            q = compare(args.out, int8, x, y)
            print(f"int8: agreement with fp32 {q.agreement:.4f} on {q.photos} photos; accuracy "
                  f"fp32 {q.accuracy_fp32:.4f}, int8 {q.accuracy_int8:.4f}; "
                  + ("kept" if q.kept else "discarded (below 0.99)"))
            evaluation["int8"] = q.as_dict()
            if q.kept:
                shutil.copyfile(int8, args.out)

    if not args.no_eval and sets:
        reports = evaluate(args.out, sets, args.threads, probe_quality=75)
        print(markdown(args.out, reports))
        evaluation.update({
            "sets": summary(reports),
            "measured_with": "onnxruntime " + __import__("onnxruntime").__version__,
            "date": time.strftime("%Y-%m-%d"),
            "command": "python -m training.evaluate " + _shown(args.out),
        })
    write_metadata(args.out, dataclasses.replace(info, evaluation=evaluation))
    print(f"metadata written: {info.id}")
    return 0


def _shown(path: Path) -> str:
    """The path as a user of the repository would type it."""
    from training.config import REPO_ROOT

    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
