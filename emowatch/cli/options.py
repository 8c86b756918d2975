"""Flags shared by several commands, and how they become settings overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from ..errors import ConfigError
from ..inputs import EMPTY_PATH
from ..settings import DEVICES, MAX_BATCH, MAX_THREADS, load_settings


def _apply(options: list[Callable]) -> Callable:
    def decorate(f: Callable) -> Callable:
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


class GivenPath(click.Path):
    """A path flag: "" (an unset shell variable) is refused rather than taken as the current
    folder, and whether the path can be read is left to the code that reads it, which says so
    in its own words (click's own check refused a whole batch for one unreadable photo)."""

    def __init__(self, readable: bool = False, **kwargs: Any):
        super().__init__(path_type=Path, readable=readable, **kwargs)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value == "":
            self.fail(EMPTY_PATH, param, ctx)
        return super().convert(value, param, ctx)


# PATHS as given (str): "" (an unset shell variable) is refused by the command, not made "."
paths_type = click.Path(readable=False)

# PATHS, and a list of more (for more than a command line holds: a script, a plugin)
paths_argument = _apply([
    click.argument("paths", nargs=-1, type=paths_type),
    # (multiple: a second --files-from adds its list; a plain option kept only the last one,
    # and the photos of the first were silently left out)
    click.option("--files-from", type=GivenPath(dir_okay=False, allow_dash=True), multiple=True,
                 help="Also take the photos and folders listed in FILE, one per line ('-': "
                      "standard input); may be given more than once."),
    click.option("-0", "--null", is_flag=True,
                 help="--files-from entries are separated by NUL bytes (find -print0)."),
])

config_option = click.option(
    "--config", type=GivenPath(dir_okay=False),
    help="TOML settings file (default: config.toml in the user config dir).")

model_options = _apply([
    click.option("--model", type=GivenPath(dir_okay=False),
                 help="An emowatch .onnx model (default: the model shipped with emowatch)."),
    click.option("--device", type=click.Choice(DEVICES), help="Where to run the model [default: auto]."),
    click.option("--threads", type=click.IntRange(1, MAX_THREADS), help="CPU threads for inference [default: all cores]."),
    click.option("--batch-size", type=click.IntRange(1, MAX_BATCH), help="Photos per model run [default: 16]."),
])

common_options = _apply([config_option, model_options])

sidecar_options = _apply([
    click.option("--sidecars", "sidecar_mode", type=click.Choice(["hidden", "beside", "central"]),
                 help="Where heatmaps and explain.json go: hidden .emowatch/ folder beside the photo "
                      "[default], beside the photo, or one central folder (--sidecar-dir)."),
    click.option("--sidecar-dir", type=GivenPath(file_okay=False),
                 help="The central sidecar folder (implies --sidecars central)."),
])

explain_options = _apply([
    click.option("--explainer", type=click.Choice(["lime", "cam"]),
                 help="lime: model-agnostic, ~1 s/photo; cam: one pass, model-specific [default: lime]."),
    click.option("--samples", type=click.IntRange(min=10),
                 help="LIME model runs per photo, rounded to whole sampling blocks (explain.json has "
                      "the number used) [default: 97]."),
    click.option("--segments", type=click.Choice(["quickshift", "slic"]), help="LIME segmentation."),
    click.option("--seed", type=int, help="Random seed: same photo, seed and settings give the same heatmap."),
    sidecar_options,
])

write_options = _apply([
    click.option("-r", "--recursive", is_flag=True, default=None, help="Include the photos of folders' whole trees."),
    click.option("--json", "as_json", is_flag=True, help="Print one JSON object per photo (JSON Lines)."),
    click.option("--dry-run", is_flag=True, help="Show what would change; touch nothing."),
    click.option("--preserve-mtime", is_flag=True, default=None,
                 help="Keep the photo's modification time (default: update it so other software notices)."),
])


# settings a flag can give, and the flag (those checked only once the settings are built)
_FLAG_OF = {"min_confidence": "--min-confidence", "keywords.parent": "--keyword-parent",
            "explain.seed": "--seed", "explain.samples": "--samples", "threads": "--threads",
            "batch_size": "--batch-size", "sidecars.dir": "--sidecar-dir"}


def build_settings(params: dict[str, Any]):
    """Settings from the config file, the environment and the flags a command received."""
    overrides = {
        "model": params.get("model"),
        "device": params.get("device"),
        "threads": params.get("threads"),
        "batch_size": params.get("batch_size"),
        "recursive": params.get("recursive"),
        "preserve_mtime": params.get("preserve_mtime"),
        "min_confidence": params.get("min_confidence"),
        "keywords.parent": params.get("keyword_parent"),
        "explain.method": params.get("explainer"),
        "explain.samples": params.get("samples"),
        "explain.segments": params.get("segments"),
        "explain.seed": params.get("seed"),
        "explain.fidelity": params.get("fidelity"),
        "sidecars.mode": params.get("sidecar_mode"),
        "sidecars.dir": params.get("sidecar_dir"),
    }
    if params.get("sidecar_dir") is not None:
        if params.get("sidecar_mode") not in (None, "central"):
            raise click.UsageError(f"--sidecar-dir is the central folder: it cannot go with "
                                   f"--sidecars {params['sidecar_mode']}")
        overrides["sidecars.mode"] = "central"
    if params.get("explain") is False:
        given = [flag for name, flag in (("explainer", "--explainer"), ("samples", "--samples"),
                                         ("segments", "--segments"), ("seed", "--seed"),
                                         ("fidelity", "--fidelity")) if params.get(name) is not None]
        if given:
            raise click.UsageError(f"{given[0]} is for explanations: it cannot go with --no-explain")
    if params.get("explain") is not None:
        overrides["explain.enabled"] = params["explain"]
    if params.get("explainer") is not None and params.get("explain") is None:
        overrides["explain.enabled"] = True
    try:
        return load_settings(params.get("config"), overrides=overrides)
    except ConfigError as e:  # a value the flag gave is named by the flag the user typed
        key, _, rest = str(e).partition(" ")
        if overrides.get(key) is not None and key in _FLAG_OF:
            raise ConfigError(f"{_FLAG_OF[key]} {rest}") from None
        if key == "sidecars.mode" and params.get("sidecar_mode") == "central":
            raise ConfigError("--sidecars central needs --sidecar-dir DIR (or dir = ... under "
                              "[sidecars] in the config file)") from None
        raise
    except TypeError as e:  # a dataclass refusing a value the coercion let through
        raise ConfigError(str(e)) from None
