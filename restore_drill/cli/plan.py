"""``restore-drill plan``: an inventory (system definitions x Postgres versions, backups under a folder or
an s3:// prefix) -> the fleet's independent jobs as JSON (library: ``restore_drill.fleet.plan``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import BadInput, DrillError

EXAMPLES = """
\b
Examples:
  restore-drill plan --system pegasus --system ./drills/myapp.toml --pg-version 16 --pg-version 18 -o plan.json
  restore-drill plan --backups s3://backups/nightly --system pegasus --pg-version 18 --shards 4 -o plan.json
  restore-drill plan --backups /srv/dumps --within-days 3 -o plan.json
  restore-drill run --plan plan.json --shard 2/4 --report-dir s3://drill-reports/2026-11-30
"""


@click.command("plan", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
               epilog=EXAMPLES)
@click.option("--system", "systems", multiple=True, metavar="NAME|PATH",
              help="A system to drill (built-in name or definition .toml); repeat for several.")
@click.option("--pg-version", "versions", type=int, multiple=True, metavar="N",
              help="Postgres major for every job, one this machine has (as run --pg-version); repeat for "
                   "several (default: the default major).")
@click.option("--backups", "backup_roots", multiple=True, metavar="DIR|s3://BUCKET/PREFIX",
              help="Where real backups are (pg_dump archives), to verify with verify-backup; repeat for several.")
@click.option("--within-days", type=float, metavar="DAYS",
              help="Verify every backup modified in the last DAYS days (default: the newest per system).")
@click.option("--drills/--no-drills", default=True, show_default=True,
              help="Plan the drills of the --system definitions; --no-drills with --backups: --system only "
                   "names whose backups to verify.")
@click.option("--pitr", is_flag=True,
              help="Also plan each built-in system's point-in-time recovery drill (arqonbus-pitr, pegasus-pitr: base "
                   "backup + WAL archive, ~20 s each, embedded Postgres only). Left out by default: a physical drill "
                   "starts its own archiving servers on the job's host. The Barman, pgBackRest and incremental "
                   "variants are never planned (they need tools or a Postgres major a fleet host may lack): run "
                   "them by name.")
@click.option("--seed", type=int, help="Data seed for every drill job, e.g. --seed 42.")
@click.option("--scale", type=int, help="Data scale for every drill job, e.g. --scale 10.")
@click.option("--shards", type=int, metavar="N", help="Also list N shards (\"1/N\" ...) for a CI matrix.")
@click.option("--endpoint-url", metavar="URL",
              help="S3-compatible endpoint for s3:// backups (default AWS_ENDPOINT_URL, else AWS); "
                   "credentials from the usual AWS environment.")
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="FILE", help="Write here (default stdout).")
def command(systems: tuple[str, ...], versions: tuple[int, ...], backup_roots: tuple[str, ...],
            within_days: float | None, drills: bool, pitr: bool, seed: int | None, scale: int | None,
            shards: int | None, endpoint_url: str | None, output: Path | None) -> None:
    """Turn an inventory into a list of independent jobs (JSON) for a CI matrix or a Kubernetes Indexed
    Job: each system's drills x each --pg-version, and/or the backups found under --backups. Job ids are
    derived from each job's content, so the same inventory always gives the same ids."""
    from ..fleet import inventory
    from ..fleet.plan import Plan, backup_jobs, check_versions, drill_jobs
    from ..systems import resolve_system

    try:
        if not systems and not backup_roots:
            raise BadInput("nothing to plan: pass --system NAME|PATH (drills) and/or --backups DIR|s3://bucket/prefix")
        if shards is not None and shards < 1:
            raise BadInput(f"--shards must be >= 1, got {shards}")
        check_versions(versions)
        do_drills = drills and bool(systems)
        if pitr and not do_drills:
            raise BadInput("--pitr plans drills: give --system NAME and leave out --no-drills")
        jobs = drill_jobs(systems, versions, seed=seed, scale=scale, pitr=pitr) if do_drills else []
        if backup_roots:
            names = {resolve_system(s).name: s for s in systems}
            found = inventory.find_backups(backup_roots, endpoint_url)
            chosen = inventory.select(found, within_days=within_days, systems=sorted(names))
            if not chosen:
                raise BadInput(f"no backup (.dump, .backup, .pgdump, .tar or a toc.dat folder) found under "
                               f"{', '.join(backup_roots)}" + (f" for {', '.join(sorted(names))}" if names else "")
                               + (f" within {within_days:g} days" if within_days else ""))
            jobs += backup_jobs(chosen, versions, names)
        plan = Plan(jobs, {"systems": list(systems), "pg_versions": list(versions), "backups": list(backup_roots),
                           "selection": f"within {within_days:g} days" if within_days else "newest per system",
                           "drills": do_drills, **({"pitr": True} if pitr else {})}, shards)
        text = plan.to_json()
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            click.echo(f"plan {plan.id}: {len(plan.jobs)} jobs -> {output}", err=True)
    except DrillError as e:
        click.echo(f"restore-drill: error: {e}", err=True)
        sys.exit(e.exit_code)
