"""``restore-drill report``: re-render a run folder's pages from its report.json, or the history trend."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import BadInput, DrillError
from ._common import finish


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path), required=False)
@click.option("--history", "history", is_flag=True, help="Render the trend of all runs (RTO, RPO, verdicts) as HTML.")
@click.option("--history-file", type=click.Path(path_type=Path), help="History file (default reports/runs/history.jsonl).")
def command(run_dir: Path | None, history: bool, history_file: Path | None) -> None:
    """Re-render a run folder's reports from its report.json, or the history trend.

    \b
    Examples:
      restore-drill report reports/runs/20261121T070000Z-ab12cd
      restore-drill report --history
    """
    from ..reports.history import render_history
    from ..reports.writers import load_run, render_run

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
    finish(rep, run_dir)
    sys.exit(rep.exit_code)
