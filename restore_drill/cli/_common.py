"""What every command shares: the drill options, resolving them into a ``DrillConfig``, the error exit
(one line, an errored report, the exit code) and the closing summary. Exit status: 0 every drill passed,
1 a check or procedure failed, 2 errored (bad input, infrastructure unavailable, harness fault)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from ..config import DrillConfig, resolve
from ..errors import DrillError
from ..fixtures.postgres import PgSettings
from ..fixtures.postgres import registry as pg_registry
from ..fixtures.s3 import S3Settings
from ..fixtures.s3 import registry as s3_registry


def _hook_said(reason: str) -> str:
    """': <what the hook said>' for a failed step a harness hook ran (no exit status), e.g. the PITR start of
    the restored server: "did not reach the recovery target ..."; the binding's replacement reason left out."""
    said = reason.rsplit("the replacement failed: ", 1)[-1].strip() if reason else ""
    return f": {said}" if said else ""


def _choices_help(intro: str, kinds: Any) -> str:
    return intro + "; ".join(f"{k.name}: {k.summary}" for k in kinds.values()) + "."


def backend_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a click command with where Postgres and S3 run (``--pg-backend``, ``--pg-url``,
    ``--s3-backend``, ``--s3-endpoint``); the choices are the backend registries' names."""
    opts = [
        click.option("--pg-backend", type=click.Choice(pg_registry.NAMES),
                     help=_choices_help("Where Postgres runs: ", pg_registry.BACKENDS)),
        click.option("--pg-url", help="External server URL, e.g. --pg-url postgresql://drill:pw@127.0.0.1:5432/postgres "
                                      "(scratch databases are created there and dropped)."),
        click.option("--s3-backend", type=click.Choice(s3_registry.NAMES),
                     help=_choices_help("Object storage: ", s3_registry.BACKENDS)),
        click.option("--s3-endpoint", help="S3-compatible URL for --s3-backend endpoint, e.g. http://127.0.0.1:9000."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _unconfined(_ctx: Any, _param: Any, value: bool) -> None:
    from .. import sandbox

    if value:
        sandbox.allow_unconfined(True)


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a click command with the drill options (Postgres version and backends, scale, seed, report
    folder, objectives ...); the command receives them as keyword arguments for ``drill_config``."""
    opts: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option("--pg-version", type=int,
                     help="Postgres major to drill on, e.g. --pg-version 18 (default: 16 if found, else newest)."),
        backend_options,
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
        click.option("--unconfined", is_flag=True, expose_value=False, callback=_unconfined,
                     help="Run runbook steps without the sandbox (only where it cannot be set up): they can reach the host."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def drill_config(kw: dict[str, Any]) -> DrillConfig:
    """Resolve and pre-flight the configuration: bad input fails here, before any infrastructure starts."""
    keys = ("pg_version", "pg_backend", "pg_url", "s3_backend", "s3_endpoint", "scale", "seed", "report_dir",
            "allow_destructive", "step_timeout_s", "rto_s", "rpo_s", "disaster", "backup_history", "large_objects",
            "recovery_target", "recovery_target_offset_s")
    cfg = resolve({k: kw.get(k) for k in keys})
    preflight_backends(cfg)
    return cfg


def preflight_backends(cfg: DrillConfig) -> None:
    """What the chosen backends need, checked before anything starts (a version not found, a missing
    ``--pg-url`` or ``--s3-endpoint``); raises ``BadInput`` naming the fix."""
    pg_registry.get(cfg.pg_backend).preflight(PgSettings(url=cfg.pg_url), cfg.pg_version)
    s3_registry.get(cfg.s3_backend).preflight(S3Settings(endpoint=cfg.s3_endpoint))


def finish(report: Any, run_dir: Path | None) -> None:
    """Print the verdict table (failed/errored checks and steps per drill), the verdict and where the
    report is; ``report`` is a ``reports.model.RunReport``."""
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
            bad += [f"step {s.name!r} {s.status}" + (f" (exit {s.exit_code})" if s.exit_code is not None else
                                                     _hook_said(s.reason))
                    for s in d.steps if s.status in ("failed", "errored")]  # a hook has no exit status: its words
            passed = sum(c.status.value == "passed" for c in d.checks)
            if d.error is not None:
                bad.insert(0, f"{d.error.type}: {d.error.message}")
            t.add_row(escape(d.id), d.status, escape("\n".join(bad[:8]) or f"{passed} checks passed"))
        console.print(t)
    if report.error is not None:
        console.print(f"[{colour}]error:[/{colour}] {escape(report.error.message)}")
    console.print(f"verdict: [bold {colour}]{status.upper()}[/bold {colour}]")
    if run_dir is not None:
        from ..reports.writers import REPORT_FILES

        others = ", ".join(f for f in REPORT_FILES if f != "report.html")
        # soft_wrap: one line even when the output is not a terminal (rich wraps at 80 columns there)
        console.print(f"report: {run_dir}/report.html  ({others})", soft_wrap=True, highlight=False)


def error_exit(e: DrillError, argv: list[str], report_dir: Path | None) -> NoReturn:
    """Bad input or unavailable infrastructure before a verdict: one line, an errored report, the exit code."""
    from .. import session

    _, run_dir = session.errored_report(None, argv, e, report_dir)
    click.echo(f"restore-drill: error: {e}", err=True)
    if run_dir is not None:
        click.echo(f"report: {run_dir}/report.json (errored)", err=True)
    sys.exit(e.exit_code)


def guarded(go: Callable[[], tuple[Any, Path | None]], report_dir: Path | None, argv: list[str]) -> NoReturn:
    """Run ``go`` (returning the run report and its folder), print the summary and exit with the verdict's
    status; a ``DrillError`` becomes ``error_exit``."""
    try:
        report, run_dir = go()
    except DrillError as e:
        error_exit(e, argv, report_dir)
    finish(report, run_dir)
    sys.exit(report.exit_code)


def report_dir_arg(args: list[str]) -> Path | None:
    """--report-dir from raw arguments, for errors click raised before it parsed them."""
    for i, a in enumerate(args):
        value = args[i + 1] if a == "--report-dir" and i + 1 < len(args) else a.split("=", 1)[1] \
            if a.startswith("--report-dir=") else None
        if value is not None:  # an s3:// destination (fleet) is not a local folder: use the default one
            return None if value.startswith("s3:") else Path(value)
    return None
