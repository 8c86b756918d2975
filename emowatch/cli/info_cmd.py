"""`emowatch info`: the model, the inference providers, exiftool, and the settings in force."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import click
from rich.markup import escape

from .. import __version__
from ..errors import EmowatchError
from ..runtime import jpeg_dc
from ..runtime.session import available_providers
from ..settings import default_config_path
from .context import AppContext, make_consoles
from .options import build_settings, common_options


def gather(app: AppContext, config_path) -> dict[str, Any]:
    """Everything `info` reports, as plain data. Builds the session to see the real providers."""
    data: dict[str, Any] = {"emowatch": __version__}
    try:
        model = app.model
        info = model.info
        state = model.session_state
        data["model"] = {
            "path": str(model.path), "name": info.name, "version": info.version, "backbone": info.backbone,
            "labels": list(info.labels), "input_size": info.input_size, "resize": info.resize,
            "explainable_with_cam": model.has_cam, "training": dict(info.training),
            "evaluation": dict(info.evaluation),
        }
        data["providers"] = {"available": available_providers(), "in_use": list(state.providers) if state else [],
                             "requested": app.settings.device, "fallback": state.fallback if state else None}
    except EmowatchError as e:
        data["model"] = {"error": str(e)}
        data["providers"] = {"available": _safe_providers(), "in_use": [], "requested": app.settings.device}
    tool = app.exiftool
    data["exiftool"] = {"found": tool is not None, "version": getattr(tool, "version", None),
                        "command": app.settings.exiftool}
    numba = jpeg_dc.numba_version()
    data["jpeg_decoder"] = {"own": bool(numba and app.settings.fast_jpeg), "numba": numba}
    data["config_file"] = {"path": str(config_path), "exists": config_path.is_file()}
    data["settings"] = app.settings.as_dict()
    if "labels" in data["model"]:  # the keyword each of the model's labels gets, set or default
        data["settings"]["keywords"]["labels"] = {
            label: app.settings.keywords.word(label) for label in data["model"]["labels"]}
    return data


def _safe_providers() -> list[str]:
    try:
        return available_providers()
    except EmowatchError:
        return []


@click.command(short_help="Show model, providers, exiftool, settings.")
@click.option("--json", "as_json", is_flag=True, help="Print the information as one JSON object.")
@common_options
@click.pass_context
def info(ctx: click.Context, as_json: bool, **params) -> None:
    """Show the model, the inference providers available and in use, exiftool, and the settings."""
    settings = build_settings(params)
    app = AppContext(settings, *make_consoles())
    # the report says why CUDA is not in use; the runtime's warning said it a second time (stderr)
    runtime_log, held = logging.getLogger("emowatch.runtime"), []
    hold = held.append  # as a filter: returns None, so the record is kept here, not shown
    if not as_json:
        runtime_log.addFilter(hold)
    try:
        data = gather(app, params.get("config") or default_config_path())
    finally:
        runtime_log.removeFilter(hold)
        app.close()
    for record in held:
        if record.getMessage() != data["providers"].get("fallback"):
            runtime_log.handle(record)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _render(app, data)
    ctx.exit(1 if "error" in data["model"] else 0)


def _render(app: AppContext, data: dict[str, Any]) -> None:
    p = app.out.print
    p(f"[bold]emowatch[/] {data['emowatch']}")
    m = data["model"]
    if "error" in m:
        p(f"[bold]model[/]      [red]{escape(m['error'])}[/]")
    else:
        p(f"[bold]model[/]      {escape(m['name'])} {escape(m['version'])} ({escape(m['backbone'] or 'unknown backbone')})")
        p(f"           {escape(m['path'])}")
        p(f"           labels {', '.join(m['labels'])}; input {m['input_size']} px ({m['resize']}); "
          f"CAM {'yes' if m['explainable_with_cam'] else 'no'}")
        for line in _training_lines(m.get("training") or {}) + _evaluation_lines(m.get("evaluation") or {}):
            p("           " + escape(line))
    pr = data["providers"]
    p(f"[bold]providers[/]  available: {', '.join(pr['available']) or 'none'}")
    p(f"           in use: {', '.join(pr['in_use']) or 'none'} (requested: {pr['requested']})")
    if pr.get("fallback"):
        p(f"           [yellow]{escape(pr['fallback'])}[/]")
    ex = data["exiftool"]
    p("[bold]exiftool[/]   " + (f"{ex['version']}" if ex["found"] else
                               "[yellow]not found[/] (apt-get install libimage-exiftool-perl): "
                               "TIFF/WebP/HEIF/AVIF/DNG get .xmp sidecars"))
    jd = data["jpeg_decoder"]
    p("[bold]JPEG[/]       " + ("large JPEGs at 1/8 scale by emowatch's own decoder "
                             f"(numba {jd['numba']})" if jd["own"] else
                             "Pillow (libjpeg-turbo) alone: " + ("fast_jpeg = false" if jd["numba"] else
                                                                 "numba is not installed")))
    cf = data["config_file"]
    p(f"[bold]config[/]     {escape(cf['path'])} ({'found' if cf['exists'] else 'not present: defaults'})")
    p("[bold]settings[/] (as TOML for a config file)")
    for line in _toml_lines(data["settings"]):
        p("  " + escape(line))


def _evaluation_lines(ev: dict[str, Any]) -> list[str]:
    """The model's own evaluation, a line per test set (the whole record: `info --json`)."""
    if not ev:
        return []
    when = ", ".join(str(ev[k]) for k in ("date", "measured_with") if ev.get(k))
    lines = [f"evaluation{f' ({when})' if when else ''}:"]
    sets = ev.get("sets")
    for name, figures in (sets.items() if isinstance(sets, dict) else ()):
        if not isinstance(figures, dict):
            continue
        shown = [f"{key.replace('_', ' ')} {figures[key]:.3f}" for key in ("accuracy", "macro_f1")
                 if isinstance(figures.get(key), (int, float))]
        if isinstance(figures.get("n"), int):
            shown.append(f"{figures['n']} photos")
        lines.append(f"  {name}: {', '.join(shown) or 'no figures'}")
    int8 = ev.get("int8")
    if isinstance(int8, dict) and isinstance(int8.get("agreement"), (int, float)):
        lines.append(f"  int8 copy: {int8['agreement']:.1%} agreement with fp32, "
                     f"{'kept' if int8.get('kept') else 'not kept'}")
    if len(lines) == 1:
        lines[0] += " recorded (see info --json)"
    return lines


def _training_lines(tr: dict[str, Any]) -> list[str]:
    """One line on what the model was trained on, when its summary says."""
    datasets = tr.get("datasets")
    if not isinstance(tr.get("photos"), int) or not isinstance(datasets, dict):
        return []
    return [f"trained on {tr['photos']:,} photos ({', '.join(map(str, datasets))})"
            + (", from ImageNet weights" if tr.get("pretrained") else "")]


def _toml_lines(settings: dict[str, Any]) -> list[str]:
    """The settings in force as the config file would say them (unset ones commented out)."""
    def key(k: str) -> str:
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_string(k)

    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, str):
            return _toml_string(v)
        return json.dumps(v)  # numbers and true/false are written the same in TOML

    def lines(table: dict[str, Any]) -> list[str]:
        return [f"# {k} = (not set)" if v is None else f"{k} = {value(v)}"
                for k, v in table.items() if not isinstance(v, dict) or k == "labels"]

    out = lines(settings)
    for name, table in settings.items():
        if isinstance(table, dict):
            out += ["", f"[{name}]"] + lines(table)
    return out


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
                 "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string with its characters as they are (ö, 😀), only those TOML refuses
    escaped: json.dumps wrote 😀 as the surrogate pair \\ud83d\\ude00, which is not valid TOML."""
    def char(c: str) -> str:
        if c in _TOML_ESCAPES:
            return _TOML_ESCAPES[c]
        if c < " " or c == "\x7f" or "\ud800" <= c <= "\udfff":  # a lone surrogate: a name not UTF-8
            return f"\\u{ord(c):04x}"
        return c

    return '"' + "".join(map(char, text)) + '"'
