"""The `restore-drill` command. Exit status: 0 every drill passed, 1 a check or procedure failed,
2 errored (bad input, infrastructure unavailable, harness fault). Never 0 on bad input."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import click

from . import __version__, catalog
from .config import DrillConfig, resolve
from .errors import BadInput, DrillError

EXIT = {"passed": 0, "failed": 1, "errored": 2}
SYSTEM_ALIASES = {"continuum": "arqonbus"}


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--pg-version", type=int,
                     help="Postgres major to drill on, e.g. --pg-version 18 (default: 16 if found, else newest)."),
        click.option("--pg-backend", type=click.Choice(["embedded", "container", "external"]),
                     help="Where Postgres runs: embedded (default, no Docker), container (Docker), external (--pg-url)."),
        click.option("--pg-url", help="External server URL, e.g. --pg-url postgresql://drill:pw@127.0.0.1:5432/postgres "
                                      "(scratch databases are created there and dropped)."),
        click.option("--s3-backend", type=click.Choice(["moto", "endpoint"]),
                     help="Object storage: moto (default, on 127.0.0.1) or endpoint (--s3-endpoint + RESTORE_DRILL_S3_* keys)."),
        click.option("--s3-endpoint", help="S3-compatible URL for --s3-backend endpoint, e.g. http://127.0.0.1:9000."),
        click.option("--scale", type=int, help="Data scale factor (>= 1), e.g. --scale 10 (default 1: seconds per drill)."),
        click.option("--seed", type=int, help="Data seed; the same seed gives the same data and digests, e.g. --seed 42."),
        click.option("--report-dir", type=click.Path(path_type=Path),
                     help="Where run folders are written, e.g. --report-dir /tmp/drills (default reports/runs)."),
        click.option("--allow-destructive", metavar="NAME",
                     help="Allow destructive steps on a database/bucket restore-drill did not create, named exactly."),
        click.option("--step-timeout", "step_timeout_s", type=float,
                     help="Seconds before a procedure step is killed, e.g. --step-timeout 300 (default 600)."),
        click.option("--rto-target", "rto_s", type=float, help="Recovery time objective in seconds, e.g. --rto-target 900."),
        click.option("--rpo-target", "rpo_s", type=float, help="Data-loss window objective in seconds, e.g. --rpo-target 86400."),
        click.option("--large-objects", is_flag=True, default=None,
                     help="Pegasus: add ~10 MB audio objects, above the aws CLI's 8 MiB multipart threshold."),
        click.option("--backup-history", metavar="DIR|s3://BUCKET/PREFIX",
                     help="Where dated backups accumulate, to check the retention policy, e.g. --backup-history /backups."),
        click.option("--quiet", is_flag=True, help="No progress display (it is off anyway in CI or without a terminal)."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _config(kw: dict[str, Any]) -> DrillConfig:
    """Resolve and pre-flight the configuration: bad input fails here, before any infrastructure starts."""
    keys = ("pg_version", "pg_backend", "pg_url", "s3_backend", "s3_endpoint", "scale", "seed", "report_dir",
            "allow_destructive", "step_timeout_s", "rto_s", "rpo_s", "disaster", "backup_history", "large_objects")
    cfg = resolve({k: kw.get(k) for k in keys})
    if cfg.pg_backend == "embedded":
        from .fixtures import binaries

        binaries.select(cfg.pg_version)  # unknown version: BadInput listing the versions found
    if cfg.pg_backend == "external" and not cfg.pg_url:
        raise BadInput("--pg-backend external needs --pg-url postgresql://user:password@host:port/dbname")
    if cfg.s3_backend == "endpoint" and not cfg.s3_endpoint:
        raise BadInput("--s3-backend endpoint needs --s3-endpoint URL")
    return cfg


def _finish(report: Any, run_dir: Path | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    status = report.status
    colour = {"passed": "green", "failed": "red", "errored": "yellow"}[status]
    if report.drills:
        t = Table(title="checks", show_lines=False)
        t.add_column("drill", no_wrap=True, overflow="fold")
        t.add_column("status")
        t.add_column("failed / errored checks and steps")
        for d in report.drills:
            bad = [f"{c.name}: {c.message}" for c in d.checks if c.status.value in ("failed", "errored")]
            bad += [f"step {s.name!r} {s.status} (exit {s.exit_code})" for s in d.steps if s.status in ("failed", "errored")]
            passed = sum(c.status.value == "passed" for c in d.checks)
            if d.error is not None:
                bad.insert(0, f"{d.error.type}: {d.error.message}")
            t.add_row(escape(d.id), d.status, escape("\n".join(bad[:8]) or f"{passed} checks passed"))
        console.print(t)
    if report.error is not None:
        console.print(f"[{colour}]error:[/{colour}] {escape(report.error.message)}")
    console.print(f"verdict: [bold {colour}]{status.upper()}[/bold {colour}]")
    if run_dir is not None:
        console.print(f"report: {run_dir}/report.html  (report.json, report.md, compliance.md)")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="restore-drill")
def cli() -> None:
    """Prove a PostgreSQL + S3 backup really restores: run restore drills on disposable infrastructure.

    \b
    Examples:
      restore-drill run                          # the default drills, embedded Postgres 16 + moto S3
      restore-drill run pegasus-storage-loss --pg-version 18
      restore-drill runbook ../shared/runbooks/003_c2eaccfac875b702.txt --system pegasus
      restore-drill verify-backup nightly.dump --pg-version 16 --pg-version 18
      restore-drill report reports/runs/<run> --history
    """


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--system", help="A built-in system (arqonbus, pegasus) or a path to a system definition .toml.")
@click.option("--procedure", type=click.Choice(["corrected", "runbook"]),
              help="Run the project's corrected procedure (default) or the operators' runbook as written.")
@click.option("--disaster", type=click.Choice(catalog.DISASTERS), help="Override the drill's disaster, e.g. --disaster delete-rows.")
@_common
def run(names: Sequence[str], system: str | None, procedure: str | None, quiet: bool, **kw: Any) -> None:
    """Run restore drills (default: the default drills for both systems).

    \b
    Examples:
      restore-drill run
      restore-drill run arqonbus-table-restore --disaster corrupt-rows --seed 7
      restore-drill run --system ./drills/myapp.toml --procedure runbook
    """
    from . import session
    from .systems import resolve_system

    argv = ["restore-drill", "run", *sys.argv[2:]]

    def go() -> tuple[Any, Path | None]:
        cfg = _config({**kw, "disaster": None})
        sysdef = None
        if names:
            specs = [catalog.get(n) for n in names]
        elif system is not None:
            sysdef = resolve_system(SYSTEM_ALIASES.get(system, system))
            builtin = [d for d in catalog.DRILLS if d.system == sysdef.name and d.default]
            # A user's system has its own runbook as its procedure (there is no project-corrected variant).
            specs = builtin or [catalog.DrillSpec(f"{sysdef.name}-restore", str(sysdef.path), "truncate",
                                                  f"{sysdef.name}: tables truncated, restored from the backup",
                                                  procedure="corrected" if sysdef.corrected else "runbook")]
        else:
            specs = catalog.defaults()
        specs = [s.with_disaster(kw.get("disaster")) for s in specs]
        if procedure is not None:
            specs = [replace(s, procedure=procedure) for s in specs]
        return session.run(specs, cfg, argv, system=sysdef, progress=False if quiet else None)

    _guarded(go, kw.get("report_dir"), argv)


@cli.command("runbook")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--system", help="Which system the runbook drills: arqonbus (alias continuum), pegasus, or a definition .toml.")
@click.option("--binding", type=click.Path(path_type=Path), help="A binding file (default: the system's built-in binding).")
@click.option("--disaster", type=click.Choice(catalog.DISASTERS), help="Disaster injected between backup and restore.")
@_common
def runbook_cmd(path: Path, system: str | None, binding: Path | None, quiet: bool, **kw: Any) -> None:
    """Execute an operator's Markdown runbook as written, bound to disposable infrastructure.

    \b
    Examples:
      restore-drill runbook ../shared/runbooks/000_bfde4953689c82a4.txt --system continuum
      restore-drill runbook my-edited-copy.md --system pegasus --disaster delete-prefix
    """
    from . import session
    from .systems import resolve_system

    argv = ["restore-drill", "runbook", *sys.argv[2:]]

    def go() -> tuple[Any, Path | None]:
        cfg = _config({**kw, "disaster": None})
        if not path.is_file():
            raise BadInput(f"runbook {path} does not exist or is not a file")
        if binding is not None and not binding.is_file():
            raise BadInput(f"--binding {binding} does not exist or is not a file")
        name = system or _guess_system(path)
        sysdef = resolve_system(SYSTEM_ALIASES.get(name, name))
        default = next((d for d in catalog.DRILLS if d.system == sysdef.name and d.default), None)
        disaster = kw.get("disaster") or (default.disaster if default else "truncate")
        spec = catalog.DrillSpec(f"{sysdef.name}-runbook", sysdef.name if default else str(sysdef.path), disaster,
                                 f"{path.name} as written", procedure="runbook")
        return session.run([spec], cfg, argv, system=sysdef, runbook_path=path.resolve(),
                           binding_path=binding.resolve() if binding else sysdef.binding,
                           progress=False if quiet else None)

    _guarded(go, kw.get("report_dir"), argv)


def _guess_system(path: Path) -> str:
    text = path.read_text(errors="replace")
    if "arqonbus" in text.lower():
        return "arqonbus"
    if "pegasus" in text.lower():
        return "pegasus"
    raise BadInput(f"cannot tell which system {path} drills; pass --system arqonbus|pegasus|PATH.toml")


def error_exit(e: DrillError, argv: list[str], report_dir: Path | None) -> NoReturn:
    """Bad input or unavailable infrastructure before a verdict: one line, an errored report, the exit code."""
    from . import session

    _, run_dir = session.errored_report(None, argv, e, report_dir)
    click.echo(f"restore-drill: error: {e}", err=True)
    if run_dir is not None:
        click.echo(f"report: {run_dir}/report.json (errored)", err=True)
    sys.exit(e.exit_code)


def _guarded(go: Callable[[], tuple[Any, Path | None]], report_dir: Path | None, argv: list[str]) -> None:
    try:
        report, run_dir = go()
    except DrillError as e:
        error_exit(e, argv, report_dir)
    _finish(report, run_dir)
    sys.exit(EXIT[report.status])


@cli.command("list")
def list_cmd() -> None:
    """List the built-in drills, disasters and systems.

    \b
    Example:
      restore-drill list
    """
    from .systems import builtin_systems, load_system

    click.echo("drills (* = run by `restore-drill run` with no names):")
    for d in catalog.DRILLS:
        click.echo(f"  {'*' if d.default else ' '} {d.name:<30} {d.system:<9} {d.disaster or '-':<22} {d.description}")
    click.echo("\nsystems:")
    for name, p in builtin_systems().items():
        s = load_system(p)
        click.echo(f"  {name:<12} {s.description}  ({p})")
    for p in sorted(Path.cwd().glob("*.toml")) + sorted(Path.cwd().glob("drills/*.toml")):
        try:
            s = load_system(p)
        except DrillError:
            continue
        click.echo(f"  {s.name:<12} {s.description}  ({p})")
    click.echo(f"\ndisasters: {', '.join(catalog.DISASTERS)}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path), required=False)
@click.option("--history", "history", is_flag=True, help="Render the trend of all runs (RTO, RPO, verdicts) as HTML.")
@click.option("--history-file", type=click.Path(path_type=Path), help="History file (default reports/runs/history.jsonl).")
def report(run_dir: Path | None, history: bool, history_file: Path | None) -> None:
    """Re-render a run folder's reports from its report.json, or the history trend.

    \b
    Examples:
      restore-drill report reports/runs/20261121T070000Z-ab12cd
      restore-drill report --history
    """
    from .reports.history import render_history
    from .reports.writers import load_run, render_run

    try:
        if history:
            hf = history_file or (run_dir / "history.jsonl" if run_dir and run_dir.is_dir() and (run_dir / "history.jsonl").exists()
                                  else Path("reports/runs/history.jsonl"))
            if not hf.is_file():
                raise BadInput(f"history file {hf} does not exist; run a drill first or pass --history-file")
            out = render_history(hf, hf.with_name("history.html"))
            click.echo(f"history: {out}")
            return
        if run_dir is None:
            raise BadInput("give a run folder (restore-drill report reports/runs/<run>) or --history")
        if not (run_dir / "report.json").is_file():
            raise BadInput(f"{run_dir} holds no report.json; pass a run folder printed by `restore-drill run`")
        render_run(run_dir)
        rep = load_run(run_dir)
    except DrillError as e:
        click.echo(f"restore-drill: error: {e}", err=True)
        sys.exit(e.exit_code)
    _finish(rep, run_dir)
    sys.exit(EXIT[rep.status])


@cli.command()
@click.argument("name")
@click.option("--runbook", type=click.Path(path_type=Path), help="Your Markdown runbook; the files go next to it.")
@click.option("--dir", "out_dir", type=click.Path(path_type=Path), help="Where to write (default: beside --runbook, else here).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(name: str, runbook: Path | None, out_dir: Path | None, force: bool) -> None:
    """Write a commented starter system definition, binding and seed SQL for your own system.

    \b
    Example:
      restore-drill init myapp --runbook docs/backup-runbook.md
      restore-drill run --system docs/myapp.toml --procedure runbook
    """
    from .init import write_starter

    try:
        paths = write_starter(name, runbook, out_dir, force)
    except DrillError as e:
        click.echo(f"restore-drill: error: {e}", err=True)
        sys.exit(e.exit_code)
    for p in paths:
        click.echo(f"wrote {p}")
    click.echo(f"next: edit them, then run: restore-drill run --system {paths[0]} --procedure runbook")


def _report_dir_arg(args: list[str]) -> Path | None:
    """--report-dir from raw arguments, for errors click raised before it parsed them."""
    for i, a in enumerate(args):
        if a == "--report-dir" and i + 1 < len(args):
            return Path(args[i + 1])
        if a.startswith("--report-dir="):
            return Path(a.split("=", 1)[1])
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: click usage errors are bad input too (exit 2, one line, an errored report)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="restore-drill", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("restore-drill: interrupted", err=True)
        sys.exit(2)
    except click.UsageError as e:
        from . import session

        click.echo(f"restore-drill: error: {e.format_message()} (see restore-drill {args[0] if args else ''} --help)".replace("  ", " "),
                   err=True)
        if args and args[0] in ("run", "runbook", "verify-backup"):
            _, run_dir = session.errored_report(None, ["restore-drill", *args], BadInput(e.format_message()),
                                                _report_dir_arg(args))
            if run_dir is not None:
                click.echo(f"report: {run_dir}/report.json (errored)", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"restore-drill: error: {e.format_message()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("restore-drill: interrupted (Ctrl-C); disposable infrastructure was stopped", err=True)
        sys.exit(2)
from .cli_verify import verify_backup_cmd  # noqa: E402

cli.add_command(verify_backup_cmd)
