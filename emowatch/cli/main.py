"""`emowatch`: the command group, and the one place where errors become a line and an exit code.

Exit codes: 0 all fine, 1 some photos failed (or a fatal error such as an unusable model),
2 usage or configuration error, 130 interrupted (Ctrl-C), 141 the reader of the output went away
(`emowatch tag --json … | head -1`). Either of the last two stops the work that was queued.
"""

from __future__ import annotations

import logging
import sys
import traceback

import click

from .. import __version__
from ..errors import ConfigError, EmowatchError, InputError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 130, 141


class EmowatchGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EmowatchError as e:
            code = EXIT_USAGE if isinstance(e, (ConfigError, InputError)) else EXIT_FAILED
            click.echo(f"emowatch: error: {e}", err=True)
            ctx.exit(code)
        except KeyboardInterrupt:  # before click's own handling, which says "Aborted!" and exits 1
            click.echo("emowatch: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # nothing is left to read our output: stop quietly, as `cat` does
            _silence_stdout()
            ctx.exit(EXIT_PIPE)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class _LogHandler(logging.Handler):
    """The core's log (e.g. CUDA fell back to CPU) as one line each on stderr; with -v, an
    unexpected error (a bug) comes with its traceback, for a bug report."""

    def __init__(self) -> None:
        super().__init__()
        self.verbose = False

    def emit(self, record: logging.LogRecord) -> None:
        line = f"emowatch: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and self.verbose:
            line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_info:
            line += " (emowatch -v shows where)"
        click.echo(line, err=True)


def _setup_logging(verbose: bool) -> None:
    log = logging.getLogger("emowatch")
    handler = next((h for h in log.handlers if isinstance(h, _LogHandler)), None)
    if handler is None:
        handler = _LogHandler()
        log.addHandler(handler)
    handler.verbose = verbose
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False


@click.group(cls=EmowatchGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="emowatch")
@click.option("-v", "--verbose", is_flag=True,
              help="Log more about what happens, and show the traceback of an unexpected error.")
def cli(verbose: bool) -> None:
    """Tell what emotion a photo evokes (positive, negative or other), show why with a heatmap,
    and write it into the photo's metadata where Lightroom, darktable, digiKam and Windows see it."""
    _setup_logging(verbose)


def _register() -> None:
    from . import info_cmd, tag_cmd

    cli.add_command(tag_cmd.tag)
    cli.add_command(tag_cmd.untag)
    cli.add_command(tag_cmd.explain)
    cli.add_command(info_cmd.info)
    try:
        from . import run_cmd
    except ImportError:  # the daemon's commands are optional while it is being built
        return
    cli.add_command(run_cmd.run)
    cli.add_command(run_cmd.status)


_register()


def main() -> None:
    # numpy's BLAS threads keep spinning after a product and steal the cores from ONNX Runtime
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    try:
        cli.main(prog_name="emowatch")
    except KeyboardInterrupt:
        click.echo("emowatch: interrupted", err=True)
        sys.exit(130)

