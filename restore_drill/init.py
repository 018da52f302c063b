"""`restore-drill init NAME`: a commented starter system definition and binding next to a runbook.

Phases are guessed from the runbook's headings (backup/dump -> backup, restore -> restore, check/verify
-> verify, migration/schema/setup -> setup); the user reviews them, the binding loader validates them.
The literal names the runbook's commands use (database, roles, hosts, buckets, containers) are written
into the binding's ``[names]`` (``runbook.discover``), so it runs as written. A seed SQL file that
exists is the user's data: it is never overwritten, with or without ``--force``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import BadInput
from .runbook.discover import Found, discover, names_table
from .runbook.parser import parse_runbook

_GUESS = (
    ("restore", re.compile(r"restor|recover|rollback to", re.I)),
    ("backup", re.compile(r"back\s*up|dump|snapshot|sync|export", re.I)),
    ("verify", re.compile(r"verif|check|integrity|validat|health|smoke|test", re.I)),
    ("setup", re.compile(r"migrat|schema|setup|install|prepare|apply", re.I)),
)


def guess_phases(runbook_text: str, source: str) -> dict[str, list[str]]:
    book = parse_runbook(runbook_text, source)
    phases: dict[str, list[str]] = {}
    for sec in book.sections:
        if not sec.shell_steps:
            continue
        phase = next((p for p, rx in _GUESS if rx.search(sec.heading)), "never")
        phases.setdefault(phase, []).append(sec.heading)
    return phases


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "]"


_USES_S3 = re.compile(r"\bs3://|\baws\s+s3|\bs3cmd\b|\brclone\b|\bmc\s+(?:cp|mirror|sync)\b|\$\{?S3_")


def starter_files(name: str, runbook: Path | None, out_dir: Path) -> dict[Path, str]:
    """{path: text} of the starter definition, binding and seed SQL for ``name`` (BadInput: bad name/runbook)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise BadInput(f"system name {name!r}: use letters, digits, '-' or '_'")
    phases: dict[str, list[str]] = {}
    rb_rel = "runbook.md"
    found = Found()
    storage = True
    prefix = name
    snapshot = ""
    if runbook is not None:
        if not runbook.is_file():
            raise BadInput(f"--runbook {runbook} does not exist or is not a file")
        text = runbook.read_text()
        phases = guess_phases(text, str(runbook))
        found = discover(parse_runbook(text, str(runbook)))
        storage = bool(_USES_S3.search(text))
        live = [b for b in found.buckets if not re.search(r"backup|bak|archive|snapshot", b)]
        m = re.search(rf"s3://{re.escape(live[0])}/([^/\s\"']+)/", text) if live else None
        prefix = m[1] if m else prefix
        backup = [b for b in found.buckets if b not in live]
        if live and backup:  # a copy from the live bucket into the backup bucket: that is the snapshot
            c = re.search(rf"s3://{re.escape(live[0])}/\S*\s+\"?s3://{re.escape(backup[0])}/([^\s\"'$`]+?)/?[\"'\s]", text + " ")
            snapshot = (f'[snapshot]                  # where the backup phase copies the objects (found in the runbook)\n'
                        f'bucket = "{{BACKUP_BUCKET}}"\nprefix = "{c[1]}"\n') if c else snapshot
        rb_rel = runbook.resolve().relative_to(out_dir.resolve()).as_posix() if runbook.resolve().is_relative_to(
            out_dir.resolve()) else str(runbook.resolve())
    phase_lines = "\n".join(f"{p} = {_toml_list(h)}" for p, h in phases.items()) or \
        '# backup = ["Backup"]\n# restore = ["Restore"]\n# verify = ["Verify"]'
    system = f'''# restore-drill system definition for {name}. Check every line; `restore-drill run --system {name}.toml`
# validates it and names any field that is wrong.
name = "{name}"
description = "{name}: what this system is"

[database]
tables = "all"              # or a list: ["public.orders", "public.order_items"]
# schemas = ["public"]      # the schemas the application lives in (tables = "all" looks there)
# table_scoped = true       # the procedure restores only `tables`; blast_radius checks the rest is untouched
{{storage_block}}
[data]
sql = "{name}.seed.sql"     # schema + realistic (anonymised) rows; or dump = "anon.dump"
# objects = "objects/"      # a folder uploaded under the prefix
# late_write_sql = "INSERT INTO public.documents (title) VALUES ('late')"   # for --disaster late-writes

[procedure]
runbook = "{rb_rel}"
binding = "{name}.binding.toml"

[targets]
rto_s = 900                 # recovery time objective, seconds
rpo_s = 86400               # data-loss window objective, seconds

# Domain invariants: SQL returning the violating rows (no rows = pass).
# [[invariants]]
# name = "paid_orders_have_items"
# message = "a paid order without items"
# sql = "SELECT o.id FROM orders o WHERE o.paid AND NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)"

# [smoke]                   # a write that must work after the restore; run in a transaction, rolled back
# sql = "INSERT INTO public.documents (title) VALUES ('smoke')"

# [checks]                  # what this system leaves out of the comparison, on purpose
# skip = ["retention"]      # checks not run for this system (each is listed as skipped in the report)
# privileges = false        # the runbook restores with --no-owner/--no-privileges: grants are out of scope
'''
    binding = f'''# How restore-drill runs {rb_rel} against disposable infrastructure. Sections are found by heading.
name = "{name}"
system = "{name}"
backup_globs = {{globs}}   # files the backup steps write

[phases]                    # setup | backup | restore | verify | never (guessed from the headings: check them)
{phase_lines}

[hooks]
seed = "before-phase:backup"       # when restore-drill loads the data (after your schema/migration steps)
disaster = "after-phase:backup"    # when it injects the disaster (before the restore)

[placeholders]
# "<backup-file>" = {{ source = "backup_stem" }}   # the dump the backup phase wrote, without .dump
# "YYYY-MM-DD" = {{ source = "backup_date" }}

{{snapshot}}
# [variables]
# RESTORE_PREFIX = "{{S3_PREFIX}}-backup"

# [[files]]                 # project files put where the runbook expects them before it runs
# path = "scripts/check.sql"
# from = "check.sql"        # beside this binding

# [[steps]]                 # one block's own rule: run | not_run | replace, and/or its phase
# section = "Backup and restore"
# index = 2                 # the block's position under that heading
# phase = "restore"         # (or mark the block in the runbook: ```bash restore-drill:restore)

{{names}}'''
    storage_block = (f'''
[storage]                   # delete this table for a Postgres-only system
prefix = "{prefix}"           # S3_PREFIX: where the live objects are
# Columns holding object keys relative to the prefix: every key a row names must exist after the restore.
[storage.references]
# "public.documents.storage_key" = "uploaded documents"
''' if storage else '''
# [storage]                 # the runbook uses no object storage; uncomment for a system with objects
# prefix = "app"
''')
    system = system.replace("{storage_block}", storage_block)
    binding = binding.replace("{names}", names_table(found))
    binding = binding.replace("{snapshot}", snapshot or (
        "# [snapshot]                # where the backup phase copies the objects, so the restore can be checked\n"
        '# bucket = "{BACKUP_BUCKET}"\n# prefix = "{S3_PREFIX}-backup"\n'))
    binding = binding.replace("{globs}", _toml_list(found.backup_globs or ["*.dump", "backups/*.dump"]))
    seed = f'''-- Schema and a few realistic rows for {name}. Replace with your own (anonymised) data.
CREATE TABLE IF NOT EXISTS public.documents (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT '2026-01-01T00:00:00Z'
);
INSERT INTO public.documents (title) VALUES ('first'), ('second');
'''
    return {out_dir / f"{name}.toml": system, out_dir / f"{name}.binding.toml": binding,
            out_dir / f"{name}.seed.sql": seed}


def write_starter(name: str, runbook: Path | None, out_dir: Path | None = None, force: bool = False) -> list[Path]:
    """Write the starter files; returns those written. An existing seed SQL (the user's data) is kept, never
    overwritten; an existing definition or binding is refused (BadInput) unless ``force``."""
    out = out_dir or (runbook.parent if runbook is not None else Path.cwd())
    files = starter_files(name, runbook, out)
    seed = out / f"{name}.seed.sql"
    if seed.exists():
        del files[seed]  # the user's schema and rows: kept as they are
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise BadInput(f"{existing[0]} already exists; pass --force to overwrite it (your {seed.name} is never "
                       "overwritten) or pick another name")
    out.mkdir(parents=True, exist_ok=True)
    for p, text in files.items():
        p.write_text(text)
    return list(files)
