"""``restore-drill list``: the built-in drills, systems (built-in and *.toml found here), disasters and backends."""

from __future__ import annotations

from pathlib import Path

import click

from .. import catalog
from ..errors import DrillError
from ..fixtures.postgres import registry as pg_registry
from ..fixtures.s3 import registry as s3_registry


@click.command("list")
def command() -> None:
    """List the built-in drills, disasters, systems and backends.

    \b
    Example:
      restore-drill list
    """
    from ..systems import builtin_systems, load_system

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
    for flag, reg in (("--pg-backend", pg_registry), ("--s3-backend", s3_registry)):
        click.echo(f"{flag}: " + ", ".join(n + (" (default)" if n == reg.DEFAULT else "") for n in reg.NAMES))
