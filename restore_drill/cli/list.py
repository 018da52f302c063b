"""``restore-drill list``: the built-in drills, systems (built-in and *.toml found here) and disasters."""

from __future__ import annotations

from pathlib import Path

import click

from .. import catalog
from ..errors import DrillError


@click.command("list")
def command() -> None:
    """List the built-in drills, disasters and systems.

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
