"""`python -m training --config FILE [flags]`: train a model; see training/README.md."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from . import config as C


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m training", description=__doc__.split(":")[1].strip())
    ap.add_argument("--config", type=Path, action="append", default=[],
                    help="TOML config; repeat to layer several, later ones win")
    ap.add_argument("--from-run", type=Path, metavar="RUN_FOLDER",
                    help="repeat a run from the config.json it saved")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="SECTION.KEY=VALUE", help="override any config value (repeatable)")
    ap.add_argument("--name", help="run name (run.name)")
    ap.add_argument("--out-dir", help="where run folders go (run.out_dir)")
    ap.add_argument("--seed", type=int, help="run.seed")
    ap.add_argument("--backbone", choices=("efficientnet_lite0", "resnet50"), help="model.backbone")
    ap.add_argument("--backbone-weights", type=Path, metavar="FILE",
                    help="ImageNet weights for the backbone (a state dict)")
    ap.add_argument("--no-pretrained", action="store_true",
                    help="start from random weights on purpose (otherwise missing weights are an error)")
    ap.add_argument("--data-root", help="folder holding fi/ and emotion6/ (data.root)")
    ap.add_argument("--no-eval", action="store_true", help="skip the evaluation at the end")
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def resolve(args: argparse.Namespace) -> C.Config:
    flags: dict[str, dict] = {}

    def put(section: str, key: str, value) -> None:
        if value is not None:
            flags.setdefault(section, {})[key] = value

    put("run", "name", args.name)
    put("run", "out_dir", args.out_dir)
    put("run", "seed", args.seed)
    put("model", "backbone", args.backbone)
    # a file named on the command line is where the user is, not under the repository root
    put("model", "backbone_weights", str(args.backbone_weights.absolute()) if args.backbone_weights else None)
    put("model", "pretrained", False if args.no_pretrained else None)
    put("data", "root", args.data_root)
    if args.from_run:
        if args.config:
            raise C.ConfigError("--from-run repeats the config its run saved; --config cannot be "
                                "layered on it (change values with --set or the flags)")
        return _from_run(args.from_run / "config.json", flags, args.overrides)
    return C.load(args.config, args.overrides, extra=flags)


def _from_run(path: Path, flags: dict[str, dict], overrides: Sequence[str]) -> C.Config:
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise C.ConfigError(f"{path}: cannot read the run's config ({e})") from None
    if not isinstance(saved, dict) or not all(isinstance(v, dict) for v in saved.values()):
        raise C.ConfigError(f"{path}: not a run's config (an object of sections)")
    for section, values in flags.items():
        saved.setdefault(section, {}).update(values)
    try:
        return C.load(None, overrides, extra=saved)
    except C.ConfigError as e:
        raise C.ConfigError(f"{path}: {e}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        cfg = resolve(args)
    except C.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        return _train(cfg, args)
    except KeyboardInterrupt:   # also during the imports: torch, sklearn and scipy take seconds
        print("interrupted", file=sys.stderr)
        return 130


def _train(cfg: C.Config, args: argparse.Namespace) -> int:
    from .backbones import BackboneError
    from .datasets import DatasetError
    from .images import ImageLoadError
    from .loop import TrainingDiverged
    from .preflight import NotReady
    from .run import EvaluationFailed, run

    settings = (BackboneError, DatasetError, C.ConfigError)      # exit 2: the user's to change
    failures = (ImageLoadError, TrainingDiverged, OSError)       # exit 1
    try:
        result = run(cfg, log=(lambda line: None) if args.quiet else print,
                     evaluate_after=not args.no_eval)
    except NotReady as e:   # found before any work: every problem, one line each
        for problem in e.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except (*settings, *failures) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, settings) else 1
    except EvaluationFailed as e:   # the checkpoint is saved; the line says where
        if not isinstance(e.__cause__, (*settings, *failures)):
            raise                   # a bug: its traceback is what a report needs
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e.__cause__, settings) else 1
    print(result.checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
