"""One training run, start to end: data, caches, phase 1, phase 2, checkpoint, evaluation.

Everything a run produces goes into its folder: `config.json` (the resolved config, enough to
repeat the run), `epochs.jsonl`, `model.pt`, `evaluation.json` / `.md` and `run.log`.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import checkpoint, evaluate
from . import preflight
from .config import Config
from .datasets import Sample
from .features import extract, pool_through_tail
from .preflight import cache_spec
from .images import Preprocess
from .inputs import CachedInputs, ImageInputs
from .labels import LABELS, OTHER, index
from .loop import EpochLog, LoopSettings, fit
from .metrics import report, summary
from .model import EmotionNet

Log = Callable[[str], None]


class EvaluationFailed(RuntimeError):
    """The run's checkpoint was saved, then its final evaluation failed (the __cause__)."""

    def __init__(self, checkpoint: Path, cause: BaseException):
        super().__init__(f"{cause}; the final evaluation failed: model.pt kept at {checkpoint}")
        self.checkpoint = checkpoint


@dataclass(frozen=True)
class RunResult:
    folder: Path
    checkpoint: Path
    summary: dict


def run(cfg: Config, log: Log = lambda line: None, evaluate_after: bool = True) -> RunResult:
    """NotReady before any work (and before the run folder exists) for whatever the run would
    fail on later: its data, its evaluation sets, its backbone and weights, its folders."""
    _seed(cfg.run.seed)
    torch.set_num_threads(cfg.run.threads)
    started = time.perf_counter()
    ready = preflight.check(cfg, evaluate_after)
    samples, net, prep, start = ready.samples, ready.net, ready.prep, ready.start
    y = np.array([index(s.label) for s in samples])
    sample_w = np.array([cfg.loss.dataset_weights.get(s.dataset, 1.0) for s in samples])
    soft = np.array([s.shares if s.shares else (np.nan,) * len(LABELS) for s in samples])
    m = cfg.model
    n_stages = len(net.backbone.stages)
    tuning = cfg.phase2.epochs > 0

    folder = _run_folder(cfg)
    try:
        with (folder / "run.log").open("a") as logfile:
            (folder / "config.json").write_text(json.dumps(cfg.as_dict(), indent=2))

            def say(line: str) -> None:
                stamped = f"{time.strftime('%H:%M:%S')} {line}"
                logfile.write(stamped + "\n")
                logfile.flush()
                log(stamped)

            say(f"run folder {folder}; {len(samples)} training photos, "
                f"{dict(zip(LABELS, np.bincount(y, minlength=len(LABELS)).tolist()))}")
            views = max(cfg.phase1.views, cfg.phase2.views if tuning else 1)

            def progress(done: int, total: int) -> None:
                if done % 2048 < 32 or done == total:
                    say(f"  cache {done}/{total}")

            cached = None
            if start > 0:
                say(f"caching stages [0, {start}) x {views} views with ONNX Runtime")
                cache = cache_spec(cfg, net, start, views, prep, cfg.data.train_jpeg_quality)
                cached = extract(samples, net.backbone, cache, prep, cfg.path(cfg.data.cache_dir),
                                 threads=cfg.run.threads, progress=progress)
            epochs: list[EpochLog] = []
            watch = _Watch(cfg, ready.sets, net, start, prep, say) if cfg.run.eval_each_epoch and 0 < start else None
            record = _epoch_recorder(folder, say, epochs, watch)

            if cfg.phase1.epochs > 0:
                if cached is None:
                    say("phase 1 needs cached features: caching the whole backbone")
                    cache = cache_spec(cfg, net, n_stages, cfg.phase1.views, prep,
                                        cfg.data.train_jpeg_quality)
                    pooled = np.asarray(extract(samples, net.backbone, cache, prep,
                                                cfg.path(cfg.data.cache_dir), threads=cfg.run.threads,
                                                progress=progress), dtype=np.float32)
                elif start == n_stages:
                    pooled = np.asarray(cached, dtype=np.float32)
                else:
                    say(f"pooling the cache through stages [{start}, {n_stages})")
                    pooled = pool_through_tail(cached, net.backbone, start, cfg.path(cfg.data.cache_dir),
                                               cfg.run.threads)
                pooled = pooled[: cfg.phase1.views]
                p1 = cfg.phase1
                say(f"phase 1: head only, {p1.epochs} epochs on {pooled.shape[0]} cached views")
                fit("phase1", net.head, net.head.train,
                    [{"params": list(net.head.parameters()), "lr": p1.lr, "weight_decay": p1.weight_decay}],
                    CachedInputs(pooled), y,
                    LoopSettings(p1.epochs, p1.batch, cfg.loss.balance, cfg.loss.label_smoothing,
                                 cfg.run.seed + 1, cfg.loss.weight_power, cfg.loss.soft_targets),
                    record, sample_w, soft)

            if tuning:
                p2 = cfg.phase2
                say(f"phase 2: stages [{start}, {n_stages}) and head, {p2.epochs} epochs, lr {p2.lr}")
                inputs = CachedInputs(cached[: p2.views]) if cached is not None else \
                    ImageInputs(samples, prep, cfg.run.seed + 2, cfg.data.train_jpeg_quality)
                tail = _unfreeze_from(net, start)
                # channels-last weights and inputs: measured 2.8x faster training on these CPUs.
                net.to(memory_format=torch.channels_last)
                fit("phase2", lambda x: net(x.contiguous(memory_format=torch.channels_last), start),
                    lambda: _train_mode(net, p2.freeze_bn),
                    [{"params": tail, "lr": p2.lr, "weight_decay": p2.weight_decay},
                     {"params": list(net.head.parameters()), "lr": p2.head_lr,
                      "weight_decay": p2.weight_decay}],
                    inputs, y,
                    LoopSettings(p2.epochs, p2.batch, cfg.loss.balance, cfg.loss.label_smoothing,
                                 cfg.run.seed + 2, cfg.loss.weight_power, cfg.loss.soft_targets),
                    record, sample_w, soft)

            net.eval()
            if cfg.loss.other_bias:
                with torch.no_grad():
                    net.head.out.bias[LABELS.index(OTHER)] += cfg.loss.other_bias
            training = _training_summary(cfg, samples, epochs, time.perf_counter() - started)
            path = folder / "model.pt"
            checkpoint.save(path, checkpoint.Checkpoint(
                net, m.backbone, LABELS, {"hidden": list(m.hidden), "dropout": m.dropout},
                cfg.as_dict(), training))
            say(f"checkpoint {path} ({training['seconds']:.0f} s)")

            try:
                result = _evaluate(cfg, ready.sets, folder, path, say) if evaluate_after else {}
            except Exception as e:
                say(f"evaluation failed: {e}; {path} kept")
                raise EvaluationFailed(path, e) from e
            except KeyboardInterrupt:
                say(f"evaluation interrupted; {path} kept")
                raise
            return RunResult(folder, path, result)
    except BaseException:
        # a run that stopped before its checkpoint (a bad photo, Ctrl-C) leaves no half-made
        # folder; one that stopped while evaluating keeps its checkpoint
        if not (folder / "model.pt").exists():
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _evaluate(cfg: Config, sets: dict[str, list[Sample]], folder: Path, path: Path, say: Log) -> dict:
    """The checkpoint on the evaluation sets: the summary, written beside it as JSON and Markdown."""
    if not sets:
        return {}
    reports = evaluate.evaluate(path, sets, cfg.run.threads, probe_quality=75)
    result = summary(reports)
    (folder / "evaluation.json").write_text(json.dumps(
        {"model": str(path), "summary": result, "reports": reports}, indent=2))
    (folder / "evaluation.md").write_text(evaluate.markdown(path, reports))
    for name, r in result.items():
        say(f"eval {name}: " + ", ".join(f"{k} {v}" for k, v in r.items()))
    return result


def _run_folder(cfg: Config) -> Path:
    base = cfg.path(cfg.run.out_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = base / f"{cfg.run.name}-{stamp}"
    n = 1
    while folder.exists():
        n += 1
        folder = base / f"{cfg.run.name}-{stamp}-{n}"
    folder.mkdir(parents=True)
    return folder


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _unfreeze_from(net: EmotionNet, start: int) -> list[torch.nn.Parameter]:
    for p in net.backbone.parameters():
        p.requires_grad_(False)
    tail = [p for stage in net.backbone.stages[start:] for p in stage.parameters()]
    for p in tail:
        p.requires_grad_(True)
    return tail


def _train_mode(net: EmotionNet, freeze_bn: bool) -> None:
    net.train()
    if freeze_bn:
        # Batches of 64 from two datasets give noisy statistics; ImageNet's are better.
        for module in net.backbone.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


class _Watch:
    """Scores on the evaluation sets after every epoch, from their cached view 0 (for choosing
    settings; the final evaluation runs the whole network on decoded photos)."""

    def __init__(self, cfg: Config, sets: dict[str, list[Sample]], net: EmotionNet, start: int,
                 prep: Preprocess, say: Log):
        self.net, self.start, self.sets = net, start, sets
        n = len(net.backbone.stages)
        self.cached, self.pooled = {}, {}
        for name, samples in self.sets.items():
            spec = cache_spec(cfg, net, start, 1, prep, 0)
            self.cached[name] = extract(samples, net.backbone, spec, prep,
                                        cfg.path(cfg.data.cache_dir), threads=cfg.run.threads)
            self.pooled[name] = self.cached[name][0] if start == n else pool_through_tail(
                self.cached[name], net.backbone, start, cfg.path(cfg.data.cache_dir),
                cfg.run.threads)[0]

    def __call__(self, phase: str) -> dict:
        self.net.eval()
        out = {}
        with torch.no_grad():
            for name, samples in self.sets.items():
                if phase == "phase1":
                    logits = self.net.head(torch.from_numpy(np.asarray(self.pooled[name], np.float32)))
                else:
                    logits = torch.cat([self.net(torch.from_numpy(np.asarray(
                        self.cached[name][0, i:i + 64], np.float32)).contiguous(
                        memory_format=torch.channels_last), self.start)
                        for i in range(0, len(samples), 64)])
                probs = torch.softmax(logits, 1).numpy()
                out[name] = summary({name: report(samples, probs)})[name]
        return out


def _epoch_recorder(folder: Path, say: Log, epochs: list[EpochLog],
                    watch: "_Watch | None" = None) -> Callable[[EpochLog], None]:
    def record(e: EpochLog) -> None:
        epochs.append(e)
        scores = watch(e.phase) if watch else {}
        with (folder / "epochs.jsonl").open("a") as f:
            f.write(json.dumps({**e.__dict__, "scores": scores}) + "\n")
        say(f"{e.phase} epoch {e.epoch}: loss {e.loss:.4f} ({e.seconds:.0f} s)")
        for name, r in scores.items():
            say(f"    {name}: " + ", ".join(f"{k} {v}" for k, v in r.items() if k != "n"))
    return record


def _training_summary(cfg: Config, samples, epochs: list[EpochLog], seconds: float) -> dict:
    by_set: dict[str, dict[str, int]] = {}
    for s in samples:
        counts = by_set.setdefault(s.dataset, {})
        counts[s.label] = counts.get(s.label, 0) + 1
    return {
        "datasets": by_set,
        "photos": len(samples),
        "backbone": cfg.model.backbone,
        "pretrained": cfg.model.pretrained,
        "phase1": {"epochs": cfg.phase1.epochs, "lr": cfg.phase1.lr, "views": cfg.phase1.views},
        "phase2": {"epochs": cfg.phase2.epochs, "lr": cfg.phase2.lr,
                   "from_stage": cfg.phase2.from_stage, "views": cfg.phase2.views},
        "balance": cfg.loss.balance,
        "weight_power": cfg.loss.weight_power,
        "dataset_weights": dict(cfg.loss.dataset_weights),
        "soft_targets": cfg.loss.soft_targets,
        "other_bias": cfg.loss.other_bias,
        "final_loss": {e.phase: round(e.loss, 4) for e in epochs},
        "seconds": round(seconds, 1),
    }
