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
    # Columns as wide as their longest entry, so a long drill or system name never shifts a row.
    rows = [(d.name, d.system, d.disaster or "-") for d in catalog.DRILLS]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for d, row in zip(catalog.DRILLS, rows, strict=True):
        cells = "  ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=True))
        click.echo(f"  {'*' if d.default else ' '} {cells}  {d.description}")
    click.echo("\nsystems:")
    systems = [(name, load_system(p).description, p) for name, p in builtin_systems().items()]
    for p in sorted(Path.cwd().glob("*.toml")) + sorted(Path.cwd().glob("drills/*.toml")):
        try:
            s = load_system(p)
        except DrillError:
            continue
        systems.append((s.name, s.description, p))
    width = max(len(name) for name, _, _ in systems)
    for name, description, p in systems:
        click.echo(f"  {name:<{width}}  {description}  ({p})")
    click.echo(f"\ndisasters: {', '.join(catalog.DISASTERS)}")
    for flag, reg in (("--pg-backend", pg_registry), ("--s3-backend", s3_registry)):
        click.echo(f"{flag}: " + ", ".join(n + (" (default)" if n == reg.DEFAULT else "") for n in reg.NAMES))
