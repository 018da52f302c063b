"""``restore-drill init``: starter system definition, binding and seed SQL for a user's own system (the
writing is ``restore_drill.init``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import DrillError


@click.command("init")
@click.argument("name")
@click.option("--runbook", type=click.Path(path_type=Path), help="Your Markdown runbook; the files go next to it.")
@click.option("--dir", "out_dir", type=click.Path(path_type=Path), help="Where to write (default: beside --runbook, else here).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def command(name: str, runbook: Path | None, out_dir: Path | None, force: bool) -> None:
    """Write a commented starter system definition, binding and seed SQL for your own system.

    \b
    Example:
      restore-drill init myapp --runbook docs/backup-runbook.md
      restore-drill run --system docs/myapp.toml --procedure runbook
    """
    from ..init import write_starter

    try:
        paths = write_starter(name, runbook, out_dir, force)
    except DrillError as e:
        click.echo(f"restore-drill: error: {e}", err=True)
        sys.exit(e.exit_code)
    for p in paths:
        click.echo(f"wrote {p}")
    click.echo(f"next: edit them, then run: restore-drill run --system {paths[0]} --procedure runbook")
