"""`python -m training.evaluate MODEL...`: the paper's tables for checkpoints and ONNX files.

For every evaluation set of the config (by default FI val and the Emotion6 test part) and for
all of them together: the classification report, accuracy, macro-F1, the confusion matrix and
the majority-class baseline. Printed, and saved as JSON and Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from . import checkpoint, config as C
from .datasets import Sample
from .folders import why_unwritable
from .images import recompress
from .labels import LABELS, OTHER
from .metrics import report, summary
from .predict import onnx_probs, torch_probs
from .preflight import photos_there
from .sources import eval_sets

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.toml"


def evaluate(model: Path, sets: dict[str, list[Sample]], threads: int = 2,
             probe_quality: int = 0) -> dict[str, dict]:
    """Reports per set and for all sets together ("all").

    With `probe_quality`, every set that has "other" photos is evaluated a second time with
    its photos re-encoded as JPEGs of that quality ("<set>@jpeg<q>"): a model that calls
    photos "other" for how they were compressed, not for what they show, loses its "other"
    recall there. It is a probe, so it stays out of "all".
    """
    probs = {name: _probs(model, samples, threads) for name, samples in sets.items()}
    reports = {name: report(sets[name], probs[name]) for name in sets}
    if len(sets) > 1:
        everything = [s for samples in sets.values() for s in samples]
        reports["all"] = report(everything, np.concatenate([probs[n] for n in sets]))
    if probe_quality:
        for name, samples in sets.items():
            if any(s.label == OTHER for s in samples):
                probed = _probs(model, samples, threads, lambda x: recompress(x, probe_quality))
                reports[f"{name}@jpeg{probe_quality}"] = report(samples, probed)
    return reports


def _probs(model: Path, samples: Sequence[Sample], threads: int, transform=None) -> np.ndarray:
    if model.suffix == ".onnx":
        probs, labels = onnx_probs(model, samples, threads, transform=transform)
        if tuple(labels) != LABELS:
            raise ValueError(f"{model}: labels {labels} are not {LABELS}")
        return probs
    ckpt = checkpoint.load(model)
    return torch_probs(ckpt.net.to(memory_format=torch.channels_last), checkpoint.preprocess(ckpt), samples,
                       transform=transform)


def markdown(model: Path, reports: dict[str, dict]) -> str:
    lines = [f"# Evaluation of `{model.name}`", ""]
    for name, r in reports.items():
        base = r["majority_baseline"]
        lines += [f"## {name} (n = {r['n']})", "", "```", r["report_text"].rstrip(), "```", "",
                  f"accuracy {r['accuracy']:.3f} · macro-F1 {r['macro_f1']:.3f} · "
                  f"weighted-F1 {r['weighted_f1']:.3f} · majority baseline ({base['label']}) "
                  f"accuracy {base['accuracy']:.3f}, macro-F1 {base['macro_f1']:.3f}"]
        if "other_recall" in r:
            lines[-1] += (f" · other recall {r['other_recall']:.3f}, "
                          f"non-other called other {r['other_false_alarm']:.3f}")
        lines += ["", "confusion (rows true, columns predicted: " + ", ".join(LABELS) + ")", "", "```"]
        lines += ["  ".join(f"{v:5d}" for v in row) for row in r["confusion"]["matrix"]]
        lines += ["```", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="checkpoints (.pt) and/or ONNX files")
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                    help="which evaluation sets to use (its [data] section)")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="SECTION.KEY=VALUE", help="override a config value")
    ap.add_argument("--out", type=Path, help="folder for the JSON and Markdown (default: beside a "
                    "checkpoint, in runs/evaluate/ for an ONNX file, so the package stays clean)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--probe-jpeg", type=int, default=75, metavar="QUALITY",
                    help="also evaluate sets with 'other' photos re-encoded at this JPEG "
                         "quality, the shortcut probe (0: off; default 75, FI's quality)")
    args = ap.parse_args(argv)
    outs = {model: args.out or (model.parent if model.suffix == ".pt" else C.REPO_ROOT / "runs" / "evaluate")
            for model in args.models}
    try:
        cfg = C.load(args.config, args.overrides)
        sets = eval_sets(cfg)
        if not sets:
            raise C.ConfigError("the config names no evaluation data ([data] *_eval_splits, labelled_eval)")
        for samples in sets.values():
            photos_there(samples)
        for model in args.models:  # every one of them, before the first is evaluated (~25 s each)
            if not model.is_file():
                what = "ONNX model" if model.suffix == ".onnx" else "checkpoint"
                raise C.ConfigError(f"{model}: {what} " + ("is not a file" if model.exists() else "not found"))
        # where the tables go can be written: found now, not after the evaluation
        for model, out in outs.items():
            why = why_unwritable(out)
            if why:
                raise C.ConfigError(f"cannot write the evaluation of {model} to {out}: {why}")
    except (C.ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for model in args.models:
        try:
            reports = evaluate(model, sets, args.threads, args.probe_jpeg)
            text = _write(model, outs[model], reports)
        except (ValueError, OSError, checkpoint.CheckpointError) as e:
            # most of these name the model already; an OSError or a photo's error may not
            where = "" if str(e).startswith(f"{model}:") else f"{model}: "
            print(f"error: {where}{e}", file=sys.stderr)
            return 1
        print(text)
    return 0


def _write(model: Path, out: Path, reports: dict[str, dict]) -> str:
    """The reports as JSON and Markdown in `out`; the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    stem = model.name.replace(".", "_")
    (out / f"{stem}.evaluation.json").write_text(json.dumps(
        {"model": str(model), "summary": summary(reports), "reports": reports}, indent=2))
    text = markdown(model, reports)
    (out / f"{stem}.evaluation.md").write_text(text)
    return text


if __name__ == "__main__":
    sys.exit(main())
