"""The ``restore-drill`` command: one module per subcommand, each defining a click ``command``, registered
in ``COMMANDS`` below; what they share (drill options, error exit, summary) is ``_common``.

Exit status: 0 every drill passed, 1 a check or procedure failed, 2 errored (bad input, infrastructure
unavailable, harness fault). Never 0 on bad input. ``main`` is the console entry point (pyproject)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from .. import __version__
from ..errors import BadInput
from ..interrupts import describe, run_dir_of, sigterm_as_interrupt
from . import fleet, init, manifest, report, run, runbook, verify_backup
from . import list as list_
from ._common import report_dir_arg

# Note: importing the submodule `list` binds the name `list` in this package's namespace, so this module
# must not use the builtin `list` (the import above is aliased only for readability).

COMMANDS: tuple[click.Command, ...] = (run.command, runbook.command, verify_backup.command, list_.command,
                                       report.command, init.command, manifest.command)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="restore-drill")
def cli() -> None:
    """Prove a PostgreSQL + S3 backup really restores: run restore drills on disposable infrastructure.

    \b
    Examples:
      restore-drill run                          # the default drills, embedded Postgres 16 + moto S3
      restore-drill run pegasus-storage-loss --pg-version 18
      restore-drill init myapp --runbook backup-runbook.md   # your runbook -> myapp.toml + binding
      restore-drill run --system myapp.toml --procedure runbook --disaster database-lost
      restore-drill verify-backup your-nightly.dump --pg-version 16 --pg-version 18
      restore-drill report reports/runs/<run>    # re-render a run's pages; --history: the trend
    """


for _command in COMMANDS:
    cli.add_command(_command)
fleet.register(cli)  # plan, --plan/--shard/s3:// --report-dir on run and verify-backup, report merge (issue 18)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: click usage errors are bad input too (exit 2, one line, an errored report). SIGTERM is
    handled like Ctrl-C (``interrupts.sigterm_as_interrupt``): torn down, an errored report, exit 2."""
    args = [*(sys.argv[1:] if argv is None else argv)]
    try:
        with sigterm_as_interrupt():
            cli.main(args=args, prog_name="restore-drill", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort as e:  # click turns a KeyboardInterrupt (Ctrl-C, SIGTERM) into Abort
        _interrupted(e.__cause__ or e.__context__, args)
    except click.UsageError as e:
        from .. import session

        click.echo(f"restore-drill: error: {e.format_message()} (see restore-drill {args[0] if args else ''} --help)".replace("  ", " "),
                   err=True)
        if args and args[0] in _REPORTING:
            _, run_dir = session.errored_report(None, ["restore-drill", *args], BadInput(e.format_message()),
                                                report_dir_arg(args))
            if run_dir is not None:
                click.echo(f"report: {run_dir}/report.json (errored)", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"restore-drill: error: {e.format_message()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (interrupts.Terminated)
        _interrupted(e, args)


_REPORTING = ("run", "runbook", "verify-backup")  # the commands whose every ending writes a report


def _interrupted(e: BaseException | None, args: Sequence[str]) -> None:
    """Ctrl-C or SIGTERM: one line saying which, where the errored report is, exit 2. A signal that came
    before the run had its folder (while options were read, say) still leaves an errored report."""
    if e is None:
        click.echo("restore-drill: interrupted", err=True)
        sys.exit(2)
    kind, why = describe(e)
    click.echo(f"restore-drill: {why}; disposable infrastructure was stopped", err=True)
    run_dir = run_dir_of(e)
    if run_dir is None and args and args[0] in _REPORTING and not {"--dry-run", "--help"} & set(args):
        from .. import session
        from ..reports.model import ErrorInfo

        _, run_dir = session.errored_report(None, ["restore-drill", *args], e, report_dir_arg([*args]),
                                            info=ErrorInfo(kind, f"{why} before the run started", "errored"))
    if run_dir is not None:
        click.echo(f"report: {run_dir}/report.json (errored)", err=True)
    sys.exit(2)


__all__ = ["COMMANDS", "cli", "main"]
