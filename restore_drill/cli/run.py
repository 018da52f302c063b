"""``restore-drill run``: the built-in drills, or the drills of one system, on disposable infrastructure."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .. import catalog
from ..config import flag_name
from ..errors import BadInput
from ..pitr.recovery import TARGET_KINDS
from ._common import common_options, drill_config, guarded


@click.command("run")
@click.argument("names", nargs=-1)
@click.option("--system", help="A built-in system (arqonbus, pegasus) or a path to a system definition .toml.")
@click.option("--procedure", type=click.Choice(catalog.PROCEDURES),
              help="Run the project's corrected procedure (default) or the operators' runbook as written.")
@click.option("--disaster", type=click.Choice(catalog.DISASTERS), help="Override the drill's disaster, e.g. --disaster delete-rows.")
@click.option("--dry-run", is_flag=True,
              help="Print every command the drills would run, their bindings and what they may reach; run nothing.")
@click.option("--recovery-target", type=click.Choice(TARGET_KINDS),
              help="Point-in-time recovery drills (*-pitr*): the recovery target the restore stops at, taken from "
                   "the bad-statement disaster: the time just before it (default), its transaction id (xid), the "
                   "WAL position before it (lsn), a restore point created right before it (name), or the end of "
                   "the base backup (immediate), e.g. --recovery-target xid. With a logical drill in the run the "
                   "flag is an error; RESTORE_DRILL_RECOVERY_TARGET or recovery-target in [tool.restore-drill] "
                   "apply to the run's PITR drills and are ignored by its logical drills.")
@click.option("--recovery-target-offset", "recovery_target_offset_s", type=float, metavar="S",
              help="With --recovery-target time: seconds before the errant statement, e.g. 0.5 (default 0.1). "
                   "RESTORE_DRILL_RECOVERY_TARGET_OFFSET_S / recovery-target-offset-s in [tool.restore-drill] as "
                   "for --recovery-target.")
@common_options
def command(names: Sequence[str], system: str | None, procedure: str | None, quiet: bool, dry_run: bool = False,
            **kw: Any) -> None:
    """Run restore drills (default: the default drills for both systems).

    \b
    Examples:
      restore-drill run
      restore-drill run arqonbus-table-restore --disaster corrupt-rows --seed 7
      restore-drill run arqonbus-pitr --recovery-target lsn
      restore-drill init myapp --runbook backup-runbook.md && restore-drill run --system myapp.toml --procedure runbook
    """
    from .. import sandbox, session
    from ..systems import resolve_system

    argv = ["restore-drill", "run", *sys.argv[2:]]

    def go() -> tuple[Any, Path | None]:
        cfg = drill_config({**kw, "disaster": None})  # the recovery target flags too: sources say "flag"
        sysdef = None
        if names:
            specs = [catalog.get(n) for n in names]
            if system is not None:  # a drill runs on its own system: refuse a --system it would ignore
                other = [s for s in specs if s.system != resolve_system(system).name]
                if other:
                    raise BadInput(f"--system {system} does not apply to {other[0].name} (a drill of "
                                   f"{other[0].system}): pass drill names or --system, not both")
        elif system is not None:
            sysdef = resolve_system(system)
            builtin = [d for d in catalog.DRILLS if d.system == sysdef.name and d.default]
            # A user's system has its own runbook as its procedure (there is no project-corrected variant).
            specs = builtin or [catalog.DrillSpec(f"{sysdef.name}-restore", str(sysdef.path), "truncate",
                                                  f"{sysdef.name}: tables truncated, restored from the backup",
                                                  procedure="corrected" if sysdef.corrected else "runbook")]
        else:
            specs = catalog.defaults()
        specs = [s.with_disaster(kw.get("disaster")) for s in specs]
        refuse_recovery_target(cfg, specs)
        if procedure is not None:
            specs = [replace(s, procedure=procedure) for s in specs]
        if dry_run:
            click.echo("\n".join(sandbox.drills_plan(specs, system=sysdef, config=cfg)))
            sys.exit(0)
        sandbox.preflight()
        return session.run(specs, cfg, argv, system=sysdef, progress=False if quiet else None)

    guarded(go, kw.get("report_dir"), argv)


def refuse_recovery_target(cfg: Any, specs: Sequence[catalog.DrillSpec]) -> None:
    """BadInput when the --recovery-target / --recovery-target-offset flag is given for a run holding a drill
    that is not a point-in-time recovery drill: a logical restore has no recovery target, and silently ignoring
    the flag would report a drill the operator did not ask for. The same setting from the environment
    (RESTORE_DRILL_RECOVERY_TARGET*) or pyproject.toml is a standing default: it applies to the run's physical
    drills and logical drills ignore it (``config.DrillConfig.from_flag`` tells the two apart)."""
    given = [n for n in ("recovery_target", "recovery_target_offset_s")
             if getattr(cfg, n) is not None and cfg.from_flag(n)]
    logical = [s.name for s in specs if not s.physical]
    if given and logical:
        pitr = ", ".join(d.name for d in catalog.DRILLS if d.physical)
        raise BadInput(f"{flag_name(given[0])} applies only to point-in-time recovery drills ({pitr}); {logical[0]} "
                       "restores a pg_dump and has no recovery target: name a PITR drill or drop the flag")
