"""`emowatch tag`, `untag` and `explain`: loops over the library, rendering each photo's result."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterable, Iterator

import click
from rich.markup import escape

from ..inputs import EMPTY_PATH, collect, path_list
from ..tagging import TagResult, Tagger, sweep_leftovers, untag_photo
from .context import AppContext, make_consoles
from .main import EXIT_FAILED, EXIT_OK
from .options import (build_settings, common_options, config_option, explain_options, paths_argument,
                      sidecar_options, write_options)
from .render import Reporter


def _given(paths: tuple[Path, ...], params: dict) -> list[str | Path]:
    """PATHS, then what --files-from lists. A usage error for none at all, or for an empty
    PATH (an unset shell variable: never "the current folder")."""
    if any(str(p) == "" for p in paths):
        raise click.UsageError(EMPTY_PATH)
    sources = params.pop("files_from", ())
    null = params.pop("null", False)
    if not sources:
        if null:
            raise click.UsageError("-0/--null applies to --files-from, which was not given")
        if not paths:
            raise click.UsageError("give PATHS (photos or folders), or --files-from FILE")
        return list(paths)
    given: list[str | Path] = list(paths)
    for source in dict.fromkeys(str(s) for s in sources):  # (standard input is read once)
        try:
            data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as e:
            raise click.BadParameter(f"cannot read {source}: {e.strerror or e}",
                                     param_hint="'--files-from'") from None
        given += path_list(data, null=null)
    return given


@contextlib.contextmanager
def _opened(paths: tuple[Path, ...], params: dict) -> Iterator[tuple[AppContext, list]]:
    """The command's settings, consoles and photos; exiftool closed however the command ends."""
    paths = tuple(_given(paths, params))
    app = AppContext(build_settings(params), *make_consoles())
    try:
        yield app, list(collect(paths, app.settings.recursive))
    finally:
        app.close()


def _report(app: AppContext, results: Iterable[TagResult], *, total: int, as_json: bool, verb: str,
            done_word: str, show_changes: bool = False) -> int:
    """Render results (an iterable, or a function of the progress callback returning one)."""
    reporter = Reporter(app.out, app.err, as_json=as_json, total=total, verb=verb, show_changes=show_changes)
    stream = iter(results(reporter.started) if callable(results) else results)
    # closed however this ends (Ctrl-C, a closed pipe): the photos still queued are not started
    with reporter, contextlib.closing(stream) if hasattr(stream, "close") else contextlib.nullcontext():
        in_hand = None
        try:
            for in_hand in stream:
                reporter.result(in_hand)
        except KeyboardInterrupt:
            # Ctrl-C while a result was being shown: it is shown (once), and the tagger still
            # tells the writes it had in hand
            unshown = [in_hand] if in_hand is not None and reporter.told is not in_hand else []
            for result in unshown + list(_told_after_interrupt(stream)):
                reporter.result(result)
            raise
    if not as_json and total:
        app.err.print(f"[dim]{reporter.summary(done_word)}[/]")
    elif not as_json:  # folders without a photo in them: say so rather than nothing at all
        app.err.print("[yellow]no photos found[/] in what was given (folders are searched by "
                      "extension and content; --recursive for their subfolders)")
    return EXIT_FAILED if reporter.failed else EXIT_OK


def _told_after_interrupt(stream: Iterator[TagResult]) -> Iterator[TagResult]:
    """The results a tagger still has to tell once interrupted (Tagger.tag), when the interrupt
    reached us rather than the tagger: it is handed on to the tagger, which is waiting at a
    result. Nothing, when the tagger had the interrupt itself (it is done by now)."""
    if not hasattr(stream, "throw"):
        return
    try:
        result = stream.throw(KeyboardInterrupt())
        while True:
            yield result
            result = next(stream)
    except (KeyboardInterrupt, StopIteration):
        return


def _note_exiftool(app: AppContext) -> None:
    app.err.print("[yellow]exiftool not found:[/] TIFF, WebP, HEIF/AVIF and DNG photos get .xmp sidecars instead, "
                  "and photos with IPTC keywords are skipped (Debian/Ubuntu: apt-get install libimage-exiftool-perl)")


@click.command(short_help="Classify, explain and tag photos.")
@paths_argument
@write_options
@click.option("--min-confidence", type=click.FloatRange(0, 1),
              help="Below this confidence no emotion keyword is written [default: 0.5].")
@click.option("--keyword-parent", help="Parent of the hierarchical keyword, e.g. Emotion|Positive [default: Emotion].")
@click.option("--explain/--no-explain", default=None, help="Save a heatmap explanation for each photo [default: on].")
@explain_options
@common_options
@click.pass_context
def tag(ctx: click.Context, paths: tuple[Path, ...], **params) -> None:
    """Classify photos, explain them, and write the emotion into their metadata.

    PATHS are photos or folders (a folder's photos; with -r its whole tree), also listed in a
    file with --files-from. JPEG and PNG get embedded XMP; TIFF, WebP, HEIF/AVIF and DNG are
    written through exiftool; raw files get an .xmp sidecar. Keywords: lr:hierarchicalSubject
    Emotion|Positive and dc:subject Emotion, Positive.
    """
    with _opened(paths, params) as (app, items):
        settings = app.settings
        if not params["dry_run"]:
            for leftover in sweep_leftovers(items, sidecars=app.settings.sidecars):
                app.err.print(f"[dim]removed a temp file left by an interrupted write: {escape(str(leftover))}[/]")
        if app.exiftool is None:
            _note_exiftool(app)
        tagger = Tagger(app.ready_model(), settings, exiftool=app.exiftool, explainer=app.explainer(),
                        dry_run=params["dry_run"])
        code = _report(app, lambda started: tagger.tag(items, on_start=started), total=len(items),
                       as_json=params["as_json"], verb="Tagging",
                       done_word="would be tagged" if params["dry_run"] else "tagged",
                       show_changes=params["dry_run"])
    ctx.exit(code)


@click.command(short_help="Remove everything emowatch wrote.")
@paths_argument
@write_options
@sidecar_options
@config_option
@click.pass_context
def untag(ctx: click.Context, paths: tuple[Path, ...], **params) -> None:
    """Remove exactly what emowatch wrote: its keywords, its XMP values and its sidecars.

    Everything else in the photo and in any .xmp sidecar is left as it was.
    """
    with _opened(paths, params) as (app, items):
        def results(started):
            for item in items:
                started(getattr(item, "path", item))
                yield untag_photo(item, app.settings, exiftool=app.exiftool, dry_run=params["dry_run"])

        code = _report(app, results, total=len(items), as_json=params["as_json"], verb="Untagging",
                       done_word="would be untagged" if params["dry_run"] else "untagged",
                       show_changes=params["dry_run"])
    ctx.exit(code)


@click.command(short_help="Explain photos with heatmaps only.")
@paths_argument
@click.option("-r", "--recursive", is_flag=True, default=None, help="Include the photos of folders' whole trees.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per photo (JSON Lines).")
@click.option("--fidelity", is_flag=True, default=None,
              help="Also measure the heatmap's faithfulness (deletion test); slower.")
@explain_options
@common_options
@click.pass_context
def explain(ctx: click.Context, paths: tuple[Path, ...], **params) -> None:
    """Explain photos with a heatmap, without touching their metadata.

    Blue regions pushed the photo toward its predicted emotion, red against it; the stronger the
    colour, the larger the weight. Writes NAME.heatmap.png, NAME.explain.json and
    the region map NAME.regions.png (see --sidecars).
    """
    with _opened(paths, params) as (app, items):
        tagger = Tagger(app.ready_model(), app.settings, explainer=app.explainer(enabled=True), write=False)
        code = _report(app, lambda started: tagger.tag(items, on_start=started), total=len(items),
                       as_json=params["as_json"], verb="Explaining", done_word="explained")
    ctx.exit(code)
