"""`emowatch run` and `emowatch status`: thin shells around `emowatch.daemon`.

Exit codes: 0 stopped cleanly (SIGINT/SIGTERM), 1 fatal (the state folder is in use by another
daemon, a model that cannot be loaded, a folder that cannot be watched), 2 usage error.
A second Ctrl-C exits at once (128 + signal number).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from ..daemon.ledger import Ledger, has_ledger
from ..daemon.memory import tune_malloc
from ..daemon.serve import serve
from ..daemon.service import Daemon, watch_roots
from ..daemon.status import empty, failure_json, failures, failures_table, summarize, summary_table
from ..daemon.view import LiveView, LogView
from ..settings import Settings, load_settings
from ..tagging import Tagger
from .context import AppContext, make_consoles
from .main import EXIT_FAILED, EXIT_OK
from .render import json_line
from .options import GivenPath, build_settings, common_options, explain_options, paths_type

state_option = click.option(
    # readable: the ledger and its lock are opened without a check of their own
    "--state", "state_dir", type=GivenPath(file_okay=False, readable=True),
    help="Folder for the daemon's ledger and lock [default: the user state dir, e.g. ~/.local/state/emowatch].")


def _with_daemon_flags(settings: Settings, params: dict) -> Settings:
    changes = {k: v for k, v in {
        "state_dir": params.get("state_dir"),
        "polling": params.get("polling"),
        "retag_on_model_change": params.get("retag_on_model_change"),
        "quiet_seconds": params.get("quiet_seconds"),
        "poll_seconds": params.get("poll_seconds"),
    }.items() if v is not None}
    if params.get("state_dir") is not None:
        changes["state_dir"] = Path(params["state_dir"]).expanduser()
    return dataclasses.replace(settings, daemon=dataclasses.replace(settings.daemon, **changes))


@click.command("run", short_help="Watch folders and tag new photos (daemon).")
@click.argument("paths", nargs=-1, required=True, type=paths_type)
@state_option
@click.option("--polling", is_flag=True, default=None,
              help="Scan the folders instead of using file-system events (for network shares, where "
                   "inotify misses writes made by other machines).")
@click.option("--poll-seconds", type=click.FloatRange(min=0.1),
              help="Seconds between scans, with --polling and of folders past the inotify watch "
                   "limit [default: 2].")
@click.option("--quiet-seconds", type=click.FloatRange(min=0.05),
              help="A new photo must sit unchanged this long before it is read [default: 1].")
@click.option("--retag-on-model-change", is_flag=True, default=None,
              help="Re-tag photos that an older model tagged.")
@click.option("--retry-failed", is_flag=True, help="Try the photos that failed before again, changed or not.")
@click.option("--json-log", is_flag=True, help="Log one JSON object per event (JSON Lines) on stdout.")
@click.option("--min-confidence", type=click.FloatRange(0, 1),
              help="Below this confidence no emotion keyword is written [default: 0.5].")
@click.option("--preserve-mtime", is_flag=True, default=None, help="Keep the photos' modification times.")
@click.option("--explain/--no-explain", default=None, help="Save a heatmap explanation for each photo [default: on].")
@explain_options
@common_options
@click.pass_context
def run(ctx: click.Context, paths: tuple[Path, ...], **params) -> None:
    """Watch folders and tag every photo that lands in them, and those already there.

    Each photo is taken once it is complete (closed or renamed into place, unchanged for a
    moment, structurally whole), classified, explained and tagged, then recorded in a ledger in
    the state folder, so a restart picks up where it stopped and never tags a photo twice.
    Hidden files, partial downloads and emowatch's own sidecars and temp files are ignored.
    Ctrl-C or SIGTERM finishes the photo in hand and exits; a second Ctrl-C exits at once.
    """
    tune_malloc()  # before any thread starts: a daemon's memory must stay flat for days
    settings = _with_daemon_flags(build_settings(params), params)
    roots = watch_roots(paths)
    out, err = make_consoles()
    app = AppContext(settings, out, err)
    try:
        with Ledger.open(settings.daemon.state_dir) as ledger:
            tagger = Tagger(app.ready_model(), settings, exiftool=_exiftool(app), explainer=app.explainer())
            daemon = Daemon(roots, tagger, ledger, settings, retry_failed=params["retry_failed"])
            if params["json_log"] or not app.out.is_terminal:
                view = LogView(app.out, daemon.stats, json_lines=params["json_log"])
            else:
                view = LiveView(app.out, daemon.stats)
            daemon.add_listener(view)
            with view:
                finished = serve(daemon)
                if daemon.output_gone.is_set():
                    raise BrokenPipeError  # exit 141, as for `tag … | head`
    finally:
        app.close()
    ctx.exit(EXIT_OK if finished else EXIT_FAILED)


def _exiftool(app: AppContext):
    try:
        return app.exiftool
    except ImportError:  # exiftool support not installed in this build: .xmp sidecars instead
        return None


@click.command("status", short_help="Summarise what the daemon has done.")
@state_option
@click.option("--failed", "show_failed", is_flag=True, help="List every photo that failed, with its reason.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or the failures) as JSON.")
@click.option("--config", type=GivenPath(dir_okay=False),
              help="TOML settings file (default: config.toml in the user config dir).")
@click.pass_context
def status(ctx: click.Context, state_dir: Path | None, show_failed: bool, as_json: bool,
           config: Path | None) -> None:
    """Summarise the daemon's ledger: photos done (by label), failed (with reasons), last activity.

    Safe to run while `emowatch run` is running.
    """
    settings = load_settings(config, overrides={"daemon.state_dir": state_dir})
    out, _ = make_consoles()
    started = has_ledger(settings.daemon.state_dir)  # before any run: an empty summary, not an error
    summary, entries = empty(settings.daemon.state_dir), []
    if started:
        ledger = Ledger.open_readonly(settings.daemon.state_dir)
        try:
            if show_failed:
                entries = failures(ledger)
            else:
                summary = summarize(ledger)
        finally:
            ledger.close()
    if show_failed:
        if as_json:
            out.file.write("".join(json_line(failure_json(e)) for e in entries))
        elif entries:
            out.print(failures_table(entries))
        else:
            out.print("no failures")
    elif as_json:
        out.file.write(json_line(summary.to_json()))
    else:
        out.print(summary_table(summary, started=started))
    ctx.exit(EXIT_OK)
