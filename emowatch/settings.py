"""Settings: built once from defaults, a TOML file, `EMOWATCH_*` variables and flags, then frozen.

Precedence, lowest first: the defaults below, the config file (`--config`, else `config.toml` in
the user's config dir), environment variables, command-line flags. Nothing reads settings from a
global: the CLI builds one `Settings` and passes it down.

TOML layout: top-level keys for the `Settings` fields, and one table per section::

    device = "auto"
    min_confidence = 0.5
    [keywords]
    parent = "Emotion"
    labels = { positive = "Positive", negative = "Negative", other = "Other" }
    [explain]
    samples = 300
    [sidecars]
    mode = "hidden"        # hidden | beside | central
    [daemon]
    polling = false

Environment: `EMOWATCH_<FIELD>` for top-level fields, `EMOWATCH_<SECTION>_<FIELD>` for a
section's (e.g. `EMOWATCH_DEVICE=cpu`, `EMOWATCH_EXPLAIN_SAMPLES=500`).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import stat
import tomllib
import types
import collections.abc
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import platformdirs

from .errors import ConfigError
from .formats import PHOTO_EXTENSIONS

APP = "emowatch"
DEVICES = ("auto", "cuda", "cpu")


def _frozen_dict(d: Mapping[str, str]) -> dict[str, str]:
    # a plain dict: dataclasses.asdict() cannot copy a MappingProxyType
    return dict(d)


@dataclass(frozen=True)
class KeywordSettings:
    parent: str = "Emotion"
    # label in the model -> the word written as keyword; labels not listed are title-cased
    labels: Mapping[str, str] = field(
        default_factory=lambda: _frozen_dict(
            {"positive": "Positive", "negative": "Negative", "other": "Other"}
        )
    )
    # also write EXIF XPKeywords (Windows) into photos that have EXIF
    xp_keywords: bool = True

    def word(self, label: str) -> str:
        return self.labels.get(label, label.title())


@dataclass(frozen=True)
class ExplainSettings:
    enabled: bool = True
    method: str = "lime"  # lime | cam
    samples: int = 97  # LIME model runs: the photo + 4 foldover blocks of 24 (see emowatch/explain/sampling.py)
    segments: str = "quickshift"  # quickshift | slic
    seed: int = 0
    fidelity: bool = False


@dataclass(frozen=True)
class SidecarSettings:
    mode: str = "hidden"  # hidden: DIR/.emowatch/; beside: DIR/; central: <dir>/<mirrored path>/
    dir: Path | None = None  # the central folder, for mode = "central"


@dataclass(frozen=True)
class DaemonSettings:
    state_dir: Path = field(default_factory=lambda: Path(platformdirs.user_state_dir(APP)))
    polling: bool = False
    quiet_seconds: float = 1.0
    # by default every type `emowatch tag` reads (formats.PHOTO_EXTENSIONS)
    extensions: tuple[str, ...] = tuple(sorted(PHOTO_EXTENSIONS))
    # patterns of your own, on top of those always ignored (emowatch/daemon/paths.py: partial
    # downloads, temp files, .xmp sidecars, hidden files and folders, emowatch's own sidecars)
    ignore: tuple[str, ...] = ()
    retag_on_model_change: bool = False
    max_attempts: int = 4
    poll_seconds: float = 2.0  # seconds between scans (--polling; folders past the watch limit)


MAX_BATCH, MAX_THREADS = 1024, 256


@dataclass(frozen=True)
class Settings:
    model: Path | None = None  # None: the model shipped in the package
    device: str = "auto"
    threads: int | None = None  # ONNX Runtime intra-op threads; None: one per core
    batch_size: int = 16
    min_confidence: float = 0.5
    preserve_mtime: bool = False
    # classify a camera JPEG from its embedded preview when that is certainly the same picture
    # (emowatch/runtime/jpeg_preview.py): 8x less decoding on 24 MP photos
    camera_previews: bool = True
    # decode large JPEGs at 1/8 scale with emowatch's own decoder (runtime/jpeg_dc.py; needs
    # numba): about a third less CPU than libjpeg-turbo (bench/dc_decode.py)
    fast_jpeg: bool = True
    exiftool: str = "exiftool"
    recursive: bool = False
    keywords: KeywordSettings = field(default_factory=KeywordSettings)
    explain: ExplainSettings = field(default_factory=ExplainSettings)
    sidecars: SidecarSettings = field(default_factory=SidecarSettings)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence must be between 0 and 1, not {self.min_confidence}")
        # upper bounds: a typo (a million threads, a batch of 100000 decoded photos) would
        # otherwise end in the kernel's out-of-memory killer rather than a message
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ConfigError(f"batch_size must be between 1 and {MAX_BATCH}, not {self.batch_size}")
        if self.threads is not None and not 1 <= self.threads <= MAX_THREADS:
            raise ConfigError(f"threads must be between 1 and {MAX_THREADS}, not {self.threads}")
        d = self.daemon
        if d.quiet_seconds < 0 or d.poll_seconds <= 0 or d.max_attempts < 1:
            raise ConfigError("daemon.quiet_seconds must be at least 0, daemon.poll_seconds above 0 and "
                              f"daemon.max_attempts at least 1, not {d.quiet_seconds}, {d.poll_seconds} "
                              f"and {d.max_attempts}")
        if self.explain.method not in ("lime", "cam"):
            raise ConfigError(f"explain.method must be lime or cam, not {self.explain.method!r}")
        if self.explain.segments not in ("quickshift", "slic"):
            raise ConfigError(
                f"explain.segments must be quickshift or slic, not {self.explain.segments!r}"
            )
        if self.explain.samples < 10:
            raise ConfigError(f"explain.samples must be at least 10, not {self.explain.samples}")
        if not 0 <= self.explain.seed < 2**32:  # what numpy's and lime's generators accept
            raise ConfigError(f"explain.seed must be between 0 and 2**32 - 1, not {self.explain.seed}")
        if self.sidecars.mode not in ("hidden", "beside", "central"):
            raise ConfigError(
                f"sidecars.mode must be hidden, beside or central, not {self.sidecars.mode!r}"
            )
        if self.sidecars.mode == "central" and self.sidecars.dir is None:
            raise ConfigError("sidecars.mode = central needs sidecars.dir")
        for name, word in [("keywords.parent", self.keywords.parent)] + [
                (f"keywords.labels.{k}", v) for k, v in self.keywords.labels.items()]:
            # '|' separates levels of a hierarchical keyword (inside a word it would add a level),
            # ';' the words of XPKeywords; readers trim spaces at the ends, so the stores would
            # disagree about the word
            if (not word.strip() or word != word.strip() or any(c in word for c in "|;")
                    or not word.isprintable()):
                raise ConfigError(f"{name} must be a word without '|', ';', line breaks or spaces at "
                                  f"either end, not {word!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain data for `emowatch info` and JSON: paths as strings, mappings as dicts."""
        return _plain(dataclasses.asdict(self))


SECTIONS = {"keywords": KeywordSettings, "explain": ExplainSettings,
            "sidecars": SidecarSettings, "daemon": DaemonSettings}


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def load_settings(
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings in force.

    `config`: a TOML file that must exist (the `--config` flag); None looks for the default file
    and goes on without it. `overrides`: flag values, keyed `field` or `section.field`; None
    values mean "flag not given" and are dropped.
    """
    layers: dict[str, Any] = {}
    sources: dict[str, str] = {}  # setting (section.field) -> where its value came from
    path = config if config is not None else default_config_path()
    if config is not None or _is_file(path):
        _merge(layers, _paths_from(path.parent, _read_toml(path)), sources, f"in config file {path}")
    for var, (key, value) in _from_environ(os.environ if environ is None else environ).items():
        _merge(layers, _nested(key, value), sources, var)
    for key, value in (overrides or {}).items():
        if value is not None:  # a flag: the CLI names it by the flag the user typed
            _merge(layers, _nested(key, value), sources, "")
    try:
        return _build(Settings, layers, "")
    except ConfigError as e:
        where = _sources_named(str(e), sources)
        if where:
            raise ConfigError(f"{where}: {e}") from None
        raise


def _nested(key: str, value: Any) -> dict[str, Any]:
    section, _, name = key.rpartition(".")
    return {section: {name: value}} if section else {name: value}


def _sources_named(message: str, sources: Mapping[str, str]) -> str:
    """Where the settings a message is about came from ("in config file PATH", "EMOWATCH_X"),
    so that a bad value can be found; "" for defaults and flags. The settings are the names
    before the value it quotes (`X must be ..., not 'v'`, `setting X: cannot use 'v'`)."""
    about = re.split(r", not |: cannot use |['\"]", message, maxsplit=1)[0]
    found: list[str] = []
    for word in re.findall(r"[A-Za-z_][\w.]*", about):
        while word and word not in sources:  # keywords.labels.positive: set as keywords.labels
            word = word.rpartition(".")[0]
        if word and sources[word] and sources[word] not in found:
            found.append(sources[word])
    return ", ".join(found)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError as e:  # a config folder this user may not look into (Path.is_file lets EACCES out)
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None


MAX_CONFIG_BYTES = 1 << 20


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # /dev/zero would be read forever
                raise ConfigError(f"cannot read config file {path}: not a regular file")
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"cannot read config file {path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"cannot read config file {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from None


def _paths_from(folder: Path, layer: dict[str, Any]) -> dict[str, Any]:
    """A config file's relative paths (model, state_dir, sidecars.dir) are relative to its own
    folder, not to wherever emowatch is run from."""
    def fix(cls: type, values: dict[str, Any]) -> None:
        hints = typing.get_type_hints(cls)
        for name, raw in values.items():
            if cls is Settings and name in SECTIONS and isinstance(raw, dict):
                fix(SECTIONS[name], raw)
            elif Path in (hints.get(name), *typing.get_args(hints.get(name))) and isinstance(raw, str) \
                    and raw and not raw.startswith("~") and not Path(raw).is_absolute():
                values[name] = str(folder.absolute() / raw)

    fix(Settings, layer)
    return layer


def _from_environ(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Each EMOWATCH_* variable and the setting (`field` or `section.field`) it gives."""
    out: dict[str, tuple[str, str]] = {}
    top = {f.name for f in dataclasses.fields(Settings)} - set(SECTIONS)
    for key, value in environ.items():
        if not key.startswith("EMOWATCH_"):
            continue
        name = key[len("EMOWATCH_"):].lower()
        for section, cls in SECTIONS.items():
            if name.startswith(section + "_"):
                sub = name[len(section) + 1:]
                if sub in {f.name for f in dataclasses.fields(cls)}:
                    out[key] = (f"{section}.{sub}", value)
                    break
        else:
            if name not in top:  # a misspelt variable would otherwise leave a setting silently as it was
                known = _environ_names()
                # compared without the common prefix, which would make every name look close
                close = difflib.get_close_matches(name.upper(), [k[len("EMOWATCH_"):] for k in known], n=1)
                hint = (f"did you mean EMOWATCH_{close[0]}?" if close
                        else f"known: {', '.join(sorted(known))}")
                raise ConfigError(f"unknown setting in environment variable {key}; {hint}")
            out[key] = (name, value)
    return out


def _environ_names() -> list[str]:
    names = [f"EMOWATCH_{f.name.upper()}" for f in dataclasses.fields(Settings) if f.name not in SECTIONS]
    for section, cls in SECTIONS.items():
        names += [f"EMOWATCH_{section.upper()}_{f.name.upper()}" for f in dataclasses.fields(cls)]
    return names


def _merge(into: dict[str, Any], layer: Mapping[str, Any], sources: dict[str, str], source: str) -> None:
    for key, value in layer.items():
        if key in SECTIONS and not isinstance(value, Mapping):
            raise ConfigError(f"{source + ': ' if source else ''}[{key}] must be a table of settings, "
                              f"not {value!r}")
        if isinstance(value, Mapping) and key in SECTIONS:
            into.setdefault(key, {})
            into[key].update(value)
            sources.update({f"{key}.{name}": source for name in value})
        else:
            into[key] = value
            sources[key] = source


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown setting {where}{sorted(unknown)[0]}")
    kwargs = {}
    for name, raw in values.items():
        hint = hints[name]
        if name in SECTIONS and cls is Settings:
            if not isinstance(raw, Mapping):
                raise ConfigError(f"[{name}] must be a table")
            kwargs[name] = _build(SECTIONS[name], raw, f"{name}.")
        else:
            kwargs[name] = _coerce(raw, hint, f"{where}{name}")
    return cls(**kwargs)


def _coerce(raw: Any, hint: Any, name: str) -> Any:
    """Turn a TOML or environment value into the field's type, or say clearly why not."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if raw == "" and Path in (hint, *args):  # an unset variable: never "the current folder"
        raise ConfigError(f"{name} is empty (an unset variable?); leave it out, or give a path")
    if origin in (typing.Union, types.UnionType):
        if raw is None or (isinstance(raw, str) and raw.lower() in ("", "none")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(raw, inner[0], name)
    try:
        if hint is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if hint is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)  # 1.5 threads is a mistake, not 1
            return int(raw)
        if hint is float:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if hint is str:
            if not isinstance(raw, (str, int, float)):
                raise ValueError(raw)
            return str(raw)
        if hint is Path:
            return Path(str(raw)).expanduser()
        if origin is tuple:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if origin in (collections.abc.Mapping, dict) or hint is Mapping:
            if isinstance(raw, str):
                pairs = [p.split("=", 1) for p in raw.split(",") if p.strip()]
                raw = {k.strip(): v.strip() for k, v in pairs}
            if not isinstance(raw, Mapping) or not all(isinstance(v, (str, int, float)) for v in raw.values()):
                raise ValueError(raw)
            return _frozen_dict({str(k): str(v) for k, v in raw.items()})
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name}: cannot use {raw!r}") from None
    return raw


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
