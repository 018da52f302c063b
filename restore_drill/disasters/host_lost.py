"""host-lost: the machine that ran the backup is gone; its local working folder is wiped.

Between the backup and the restore every file the runbook left in the drill's working folder (the
local dump, scripts it wrote, copied configs) is deleted, so the restore must fetch the backup from its
off-site copy, as on a replacement host. restore-drill's own private environment (``.home``: the
drill's S3 and tool configuration, standing for the new host's provisioning) is kept. The data on that
host goes too: the tables in scope are truncated (as ``truncate`` does), so a restore that cannot fetch
its backup leaves them empty and the data checks say so.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from restore_drill.errors import BadInput, DestructiveRefused

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, database_record, guard_database
from .truncate import truncate

# Written by the runbook runner into every working folder it prepares: only such a folder is wiped.
WORKDIR_MARKER = ".restore-drill-workdir"
KEEP = (".home", WORKDIR_MARKER)


def host_lost(ctx: DisasterContext) -> DisasterRecord:
    """Delete everything in ``ctx.workdir`` except restore-drill's private environment.

    Raises DestructiveRefused (guard) for a database the harness did not create, BadInput when the drill
    has no working folder, DestructiveRefused when the folder lacks the runner's marker (not a folder
    restore-drill prepared).
    """
    guard_database(ctx, "wipe the drill host's working folder")
    workdir = ctx.workdir
    if workdir is None:
        raise BadInput("host-lost needs the drill's working folder; run it through a runbook drill")
    root = Path(workdir)
    if not (root / WORKDIR_MARKER).is_file():
        raise DestructiveRefused(f"refusing to wipe {root}: it is not a working folder restore-drill prepared "
                                 f"(no {WORKDIR_MARKER} in it)")
    removed: list[str] = []
    size = 0
    for p in sorted(root.iterdir()):
        if p.name in KEEP:
            continue
        if p.is_dir() and not p.is_symlink():
            size += sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())
            removed += [str(f.relative_to(root)) for f in p.rglob("*") if f.is_file()]
            shutil.rmtree(p)
        else:
            size += p.lstat().st_size
            removed.append(p.name)
            p.unlink()
    data = truncate(ctx)
    return database_record("host-lost", ctx, f"the backup host's working folder was wiped: {len(removed)} file(s), "
                                             f"{size} byte(s), local backups included; {data.details['summary']}",
                           {"workdir": str(root), "files_removed": removed[:200], "files_removed_count": len(removed),
                            "bytes_removed": size, "tables": data.details["tables"],
                            "rows_before": data.details["rows_before"], "rows_after": data.details["rows_after"]})


DISASTER = Disaster("host-lost", Kind.DATABASE, host_lost,
                    "the backup host's local working folder wiped: the restore must fetch the off-site copy")
