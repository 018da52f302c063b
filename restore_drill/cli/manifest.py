"""``restore-drill manifest DATABASE_URL -o FILE.json``: a read-only manifest of a real database, taken next
to the nightly backup, for ``verify-backup --manifest`` (row counts, digests, catalog, large objects)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import BadInput, DrillError


@click.command("manifest")
@click.argument("database_url", metavar="DATABASE_URL")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.json",
              help="Where to write the manifest (JSON).")
@click.option("--schema", "schemas", multiple=True, metavar="NAME",
              help="A schema to cover (repeatable; default: every non-system schema).")
@click.option("--system", "system", default=None, metavar="NAME",
              help="The system name recorded in the manifest (default: the database's name).")
def command(database_url: str, output: Path, schemas: tuple[str, ...], system: str | None) -> None:
    """Take a manifest of a real database in ONE read-only transaction (REPEATABLE READ, READ ONLY): row
    counts, content digests, catalog and large objects. It writes nothing to the database.

    Take it right before (or after) the nightly pg_dump; `verify-backup DUMP --manifest FILE.json` then
    proves the dump restores to exactly that. The password can stay out of argv: libpq reads PGPASSWORD
    and ~/.pgpass.

    \b
    Example:
      restore-drill manifest "postgresql://backup@db.internal/shop" -o shop-$(date +%F).manifest.json
      restore-drill verify-backup shop-$(date +%F).dump --manifest shop-$(date +%F).manifest.json
    """
    from ..seeds.live import take_live_manifest

    try:
        if not output.parent.is_dir():
            raise BadInput(f"--output {output}: folder {output.parent} does not exist; create it or pick another path")
        live = take_live_manifest(database_url, schemas=schemas, system=system)
        live.manifest.save(output)
    except DrillError as e:
        click.echo(f"restore-drill: error: {e}", err=True)
        sys.exit(e.exit_code)
    m = live.manifest
    rows = sum(t.row_count for t in m.tables.values())
    kinds = ", ".join(f"{len(v)} {k}" for k, v in m.catalog.items() if v and k in (
        "constraints", "indexes", "views", "matviews", "large_objects", "policies", "privileges"))
    click.echo(f"manifest of database {live.database} ({', '.join(m.schemas)}): {len(m.tables)} tables, {rows} rows"
               + (f", {kinds}" if kinds else ""))
    click.echo(f"read in one transaction: transaction_read_only = on, isolation {live.isolation}; nothing written")
    click.echo(f"written: {output}")
