"""The ``edgecolor`` command line: one command per verb, each in its own module here.

Commands are imported only when invoked, so ``edgecolor --help`` and the device-side verbs
never import TensorFlow.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import sys

import click

# verb -> module under edgecolor.cli that defines a click command named ``command``
COMMANDS = {
    "colorize": "colorize",
    "train": "train",
    "convert": "convert",
    "info": "info",
    "devices": "devices",
    "check-trt": "check_trt",
    "bench": "bench",
    "benchmark": "benchmark",
    "camera": "camera",
    "analyze": "analyze",
    "import-caffe": "import_caffe",
    "models": "models",
    "report": "report",
}


def _module(verb: str) -> str:
    return f"edgecolor.cli.{COMMANDS[verb]}"


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return [v for v in COMMANDS if importlib.util.find_spec(_module(v)) is not None]

    def get_command(self, ctx, name):
        if name not in COMMANDS or importlib.util.find_spec(_module(name)) is None:
            return None
        return importlib.import_module(_module(name)).command

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's main, with every error as one ``error: ...`` line (click's own say
        ``Error:`` after a usage block); exit codes stay click's (2 for a bad request)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        except click.ClickException as e:
            hint = ""
            if isinstance(e, click.UsageError) and e.ctx is not None:
                hint = f" (see '{e.ctx.command_path} --help')"
            click.echo(f"error: {e.format_message()}{hint}", err=True)
            sys.exit(e.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgecolor")
def cli() -> None:
    """edgecolor: colorize grayscale photos on edge devices, and prove what it cost.

    \b
    Example:
      edgecolor colorize photo.jpg -o out/
      edgecolor convert --model baseline --target x86-cpu -o artifacts/
      edgecolor bench artifacts/ --images eval_photos/
    """


def main() -> None:
    """Console-script entry point."""
    from edgecolor._tf import quiet_tf_env

    quiet_tf_env()
    _exit_cleanly_on_sigterm()
    try:
        sys.exit(cli.main(standalone_mode=True))
    except MemoryError:
        click.echo("error: out of memory (an input too large for this machine? lower its "
                   "resolution or --imgsz)", err=True)
        sys.exit(1)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise
        where = f"{e.filename}: " if e.filename else ""
        click.echo(f"error: {where}cannot write ({e.strerror}); free space or choose another "
                   "output folder (nothing half-written is left)", err=True)
        sys.exit(1)


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM raises SystemExit(143) in the main thread, so ``finally`` blocks and context
    managers run: temporary work folders (a budgeted int8 search, a bench reference) are
    removed and partial files never stay (atomic writes clean their temp file)."""
    import signal

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM: the default
        raise SystemExit(128 + signum)

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, handler)
