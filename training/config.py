"""Training configuration: a TOML file, then `--section.key=value` overrides, then frozen.

Relative paths in a config are relative to the repository root (the folder above
`training/`), so a run reads the same data from wherever it is started.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key   # "section.name" or "section" where one is to blame: load() names its file


@dataclass(frozen=True)
class RunConfig:
    name: str = "run"
    out_dir: str = "runs"
    seed: int = 1234
    threads: int = 2
    eval_each_epoch: bool = False         # quick scores on the evaluation sets after each epoch


@dataclass(frozen=True)
class DataConfig:
    root: str = "../shared/data"          # the folders below are relative to it
    fi: str = "fi"                        # "" to leave FI out
    fi_train_splits: tuple[str, ...] = ("train",)
    fi_eval_splits: tuple[str, ...] = ("val",)
    emotion6: str = "emotion6"            # "" to leave Emotion6 out
    emotion6_split_file: str = "training/splits/emotion6.csv"
    emotion6_train_splits: tuple[str, ...] = ("train", "val")
    emotion6_eval_splits: tuple[str, ...] = ("test",)
    wikiart_tsv: str = ""                 # WikiArt-Emotions-All.tsv, if you have it
    wikiart_images: str = ""              # the folder holding <ID>.jpg
    wikiart_ratings: str = "ImageOnly"
    wikiart_test_share: float = 0.2
    labelled: tuple[str, ...] = ()        # path,label CSVs or label/ folders (train)
    labelled_eval: tuple[str, ...] = ()   # the same, for evaluation only
    cache_dir: str = "runs/cache"
    # Re-encode every training photo as a JPEG of this quality at the input size (0: off), so
    # that compression artefacts are no cue for the source dataset; see images.recompress.
    train_jpeg_quality: int = 0


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = "efficientnet_lite0"
    backbone_weights: str = ""            # a state dict file; "" = the backbone's usual place
    pretrained: bool = True
    hidden: tuple[int, ...] = (512, 128)
    dropout: float = 0.5
    input_size: int = 224
    resize: str = "squash"


@dataclass(frozen=True)
class Phase1Config:
    """The head alone on cached global-average features of the frozen backbone."""
    epochs: int = 40
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch: int = 128
    views: int = 4                        # cached views per photo: 1 plain + augmented


@dataclass(frozen=True)
class Phase2Config:
    """Fine-tuning from stage `from_stage` on, at a lower learning rate.

    Stages before `from_stage` stay frozen and their output is cached (`views` per photo);
    `from_stage = 0` fine-tunes the whole network from decoded photos (for a GPU).
    """
    epochs: int = 6
    lr: float = 1e-4
    head_lr: float = 3e-4
    weight_decay: float = 1e-2
    batch: int = 64
    from_stage: int = 12
    views: int = 4
    freeze_bn: bool = True                # keep the backbone's BatchNorm statistics


@dataclass(frozen=True)
class LossConfig:
    balance: str = "weighted"             # "weighted" loss, "sampler" (balanced batches), "none"
    weight_power: float = 0.5             # weights = (inverse class frequency) ** power
    # Extra weight per dataset, e.g. {emotion6 = 3.0}: Emotion6 is the only source of "other"
    # and 12% of the photos; weighting all its classes (not just "other") teaches its 3-way
    # distinction without making "looks like Emotion6" a cue for "other".
    dataset_weights: dict = field(default_factory=dict)
    label_smoothing: float = 0.1
    # Mix of the one-hot label and the annotators' distribution, where a dataset has one:
    # target = (1 - soft_targets) * smoothed one-hot + soft_targets * shares.
    soft_targets: float = 0.0
    other_bias: float = 0.0               # added to the "other" output bias after training


@dataclass(frozen=True)
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    phase1: Phase1Config = field(default_factory=Phase1Config)
    phase2: Phase2Config = field(default_factory=Phase2Config)
    loss: LossConfig = field(default_factory=LossConfig)

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else REPO_ROOT / p

    def data_path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.path(self.data.root) / p


def load(paths: Path | Sequence[Path] | None = None, overrides: Sequence[str] = (),
         extra: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Defaults, then each TOML file in `paths` (later ones win), then `extra`, then
    `section.key=value` overrides."""
    raw: dict[str, dict[str, Any]] = {}
    origin: dict[str, Path] = {}   # "section.name" (and "section") -> the file that set it last
    if isinstance(paths, (str, Path)):
        paths = [paths]
    for path in paths or ():
        try:
            layer = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: {e}") from None
        for section, values in layer.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: {section} must be a [section]")
            raw.setdefault(section, {}).update(values)
            origin[section] = path
            origin.update({f"{section}.{name}": path for name in values})
    for section, values in (extra or {}).items():
        raw.setdefault(section, {}).update(values)
        for name in values:
            origin.pop(f"{section}.{name}", None)
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        raw.setdefault(section, {})[name] = _parse(value)
        origin.pop(key, None)
    try:
        return from_dict(raw)
    except ConfigError as e:
        if e.key not in origin:
            raise
        raise ConfigError(f"in {origin[e.key]}: {e}", e.key) from None


def from_dict(raw: Mapping[str, Any]) -> Config:
    """Rebuild a config, e.g. the `config.json` a run saved: that is how a run is reproduced."""
    sections = {f.name: f.type for f in fields(Config)}
    unknown = set(raw) - set(sections)
    if unknown:
        raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}", min(unknown))
    built = {}
    for f in fields(Config):
        cls = f.default_factory().__class__   # type: ignore[misc]
        values = raw.get(f.name, {})
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{f.name}] must be a section of key = value, not {values!r}", f.name)
        built[f.name] = _section(cls, values, f.name)
    cfg = Config(**built)
    validate(cfg)
    return cfg


BALANCE = ("weighted", "sampler", "none")
# AdamW moves each weight by about lr per step: 1 is far past any rate that trains (1e-4 to
# 1e-2 is usual), and from ~3e37 on torch cannot even hold the step as a float32.
MAX_LR = 1.0
LR_RANGE = f"above 0 and at most {MAX_LR:g} (AdamW; 1e-4 to 1e-2 is usual)"


def validate(cfg: Config) -> None:
    """Values no run can use are refused here, before any work or run folder."""
    from emowatch.modelmeta import RESIZE_MODES   # what the runtime accepts from a model

    checks = [
        ("run.threads", cfg.run.threads >= 1, "at least 1"),
        ("run.name", bool(cfg.run.name) and cfg.run.name.isprintable() and "/" not in cfg.run.name
         and cfg.run.name not in (".", ".."), "a folder name: not empty, no '/' or control characters"),
        ("data.train_jpeg_quality", cfg.data.train_jpeg_quality == 0
         or 1 <= cfg.data.train_jpeg_quality <= 100, "0 (off) or 1-100"),
        ("model.dropout", 0 <= cfg.model.dropout < 1, "in [0, 1)"),
        ("model.input_size", 16 <= cfg.model.input_size <= 4096, "16-4096 pixels"),
        ("model.resize", cfg.model.resize in RESIZE_MODES, f"one of {', '.join(RESIZE_MODES)}"),
        ("model.hidden", all(h >= 1 for h in cfg.model.hidden), "sizes of at least 1"),
        ("loss.balance", cfg.loss.balance in BALANCE, f"one of {', '.join(BALANCE)}"),
        ("loss.label_smoothing", 0 <= cfg.loss.label_smoothing < 1, "in [0, 1)"),
        ("loss.soft_targets", 0 <= cfg.loss.soft_targets <= 1, "in [0, 1]"),
        ("loss.weight_power", 0 <= cfg.loss.weight_power <= 2, "0-2 (1: fully balanced)"),
        ("loss.dataset_weights", all(0 <= w <= 1000 for w in cfg.loss.dataset_weights.values()),
         "weights of 0-1000"),
        ("loss.other_bias", abs(cfg.loss.other_bias) <= 10, "between -10 and 10 (a logit offset)"),
        ("data.wikiart_test_share", 0 < cfg.data.wikiart_test_share < 1, "in (0, 1)"),
    ]
    for phase in ("phase1", "phase2"):
        p = getattr(cfg, phase)
        checks += [
            (f"{phase}.epochs", p.epochs >= 0, "at least 0"),
            (f"{phase}.lr", 0 < p.lr <= MAX_LR, LR_RANGE),
            (f"{phase}.weight_decay", 0 <= p.weight_decay <= 1, "0-1"),
            (f"{phase}.batch", p.batch >= 1, "at least 1"),
            (f"{phase}.views", p.views >= 1, "at least 1"),
        ]
    checks.append(("phase2.head_lr", 0 < cfg.phase2.head_lr <= MAX_LR, LR_RANGE))
    # TOML reads inf and nan as numbers: nan fails every comparison above but inf passes most
    # (an lr of inf trains NaN weights), and loss.other_bias has no other check. First, then.
    finite = []
    for section in fields(cfg):
        values = getattr(cfg, section.name)
        for f in fields(values):
            v = getattr(values, f.name)
            numbers = v.values() if isinstance(v, dict) else [v] if isinstance(v, float) else []
            finite.append((f"{section.name}.{f.name}", all(map(math.isfinite, numbers)),
                           "a finite number"))
    for key, ok, wanted in finite + checks:
        if not ok:
            section, name = key.split(".")
            value = getattr(getattr(cfg, section), name)
            raise ConfigError(f"{key} = {value!r}: must be {wanted}", key)


def check_folders(cfg: Config) -> None:
    """The run's folder can be made and written; no file is in the way of the cache's (that it
    must be writable depends on what is cached already: see preflight)."""
    from .folders import file_in_the_way, why_unwritable

    for key, value, why in (("run.out_dir", cfg.run.out_dir, why_unwritable),
                            ("data.cache_dir", cfg.data.cache_dir, file_in_the_way)):
        problem = why(cfg.path(value))
        if problem:
            raise ConfigError(f"{key} = {value!r}: {problem}", key)


def _section(cls: type, values: Mapping[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"[{where}] unknown key(s): {', '.join(sorted(unknown))}",
                          f"{where}.{min(unknown)}")
    out = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        out[name] = _coerce(value, default, f"{where}.{name}")
    return cls(**out)


def _coerce(value: Any, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, tuple):
        if isinstance(value, (list, tuple)):
            try:
                # each item as a value of its own: int(1.5) made model.hidden = [1.5] a 1
                return tuple(_coerce(v, default[0], name) for v in value) if default else tuple(value)
            except ConfigError:
                pass
        kind = f" of {type(default[0]).__name__}" if default else ""
        raise ConfigError(f"{name}: expected a list{kind}, got {value!r}", name)
    elif isinstance(default, dict):
        if isinstance(value, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                           for v in value.values()):
            return {str(k): float(v) for k, v in value.items()}
    elif isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, type(default)) and not isinstance(value, bool):
        return value
    raise ConfigError(f"{name}: expected {type(default).__name__}, got {value!r}", name)


def _parse(text: str) -> Any:
    """An override's value as TOML would read it; a bare word is a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
