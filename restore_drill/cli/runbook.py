"""``restore-drill runbook``: an operator's Markdown runbook executed as written, bound to disposable
infrastructure."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .. import catalog
from ..errors import BadInput
from ..systems import builtin_systems
from ._common import common_options, drill_config, guarded


@click.command("runbook")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--system", help="Which system the runbook drills: arqonbus (alias continuum), pegasus, or a definition .toml.")
@click.option("--binding", type=click.Path(path_type=Path), help="A binding file (default: the system's built-in binding).")
@click.option("--disaster", type=click.Choice(catalog.DISASTERS), help="Disaster injected between backup and restore.")
@click.option("--dry-run", is_flag=True, help="Print every command the runbook would run, its bindings and what it may reach; run nothing.")
@common_options
def command(path: Path, system: str | None, binding: Path | None, quiet: bool, dry_run: bool = False,
            **kw: Any) -> None:
    """Execute an operator's Markdown runbook as written, bound to disposable infrastructure.

    \b
    Examples:
      restore-drill runbook backup-runbook.md --system myapp.toml   # after `restore-drill init myapp --runbook ...`
      restore-drill runbook my-edited-copy.md --system pegasus --disaster delete-prefix
    """
    from .. import sandbox, session
    from ..systems import resolve_system

    argv = ["restore-drill", "runbook", *sys.argv[2:]]

    def go() -> tuple[Any, Path | None]:
        cfg = drill_config({**kw, "disaster": None})
        if not path.is_file():
            raise BadInput(f"runbook {path} does not exist or is not a file")
        if binding is not None and not binding.is_file():
            raise BadInput(f"--binding {binding} does not exist or is not a file")
        name = system or guess_system(path)
        sysdef = resolve_system(name)
        default = next((d for d in catalog.DRILLS if d.system == sysdef.name and d.default), None)
        disaster = kw.get("disaster") or (default.disaster if default else "truncate")
        spec = catalog.DrillSpec(f"{sysdef.name}-runbook", sysdef.name if default else str(sysdef.path), disaster,
                                 f"{path.name} as written", procedure="runbook")
        if dry_run:
            click.echo("\n".join(sandbox.drills_plan([spec], system=sysdef, runbook_path=path.resolve(),
                                                      binding_path=binding.resolve() if binding else sysdef.binding)))
            sys.exit(0)
        sandbox.preflight()
        return session.run([spec], cfg, argv, system=sysdef, runbook_path=path.resolve(),
                           binding_path=binding.resolve() if binding else sysdef.binding,
                           progress=False if quiet else None)

    guarded(go, kw.get("report_dir"), argv)


def guess_system(path: Path) -> str:
    """The built-in system a runbook mentions by name; raises ``BadInput`` (pass --system) if neither does."""
    text = path.read_text(errors="replace").lower()
    names = list(builtin_systems())  # sorted: a runbook naming two systems is taken as the first's
    for name in names:
        if name in text:
            return name
    raise BadInput(f"cannot tell which system {path} drills; pass --system {'|'.join(names)}|PATH.toml")
