"""``restore-drill verify-backup``: a real pg_dump archive restored and checked on each target version (the
library is ``restore_drill.verify``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import DrillError
from ._common import backend_options, error_exit, finish, preflight_backends

EXAMPLES = """
\b
Examples:
  restore-drill verify-backup pegasus_2026-02-20.dump
  restore-drill verify-backup nightly.dump --pg-version 16 --pg-version 18
  restore-drill verify-backup pegasus_2026-02-20.dump --system pegasus \\
      --storage-snapshot ./pegasus-2026-02-20/ --manifest runs/x/pegasus-storage-loss.manifest.json
  RESTORE_DRILL_S3_ACCESS_KEY=... RESTORE_DRILL_S3_SECRET_KEY=... restore-drill verify-backup \\
      pegasus_2026-02-20.dump --storage-snapshot s3://backups/pegasus-2026-02-20 \\
      --s3-backend endpoint --s3-endpoint https://s3.eu-west-1.amazonaws.com
  restore-drill verify-backup nightly.dump --pg-backend external \\
      --pg-url postgresql://drill:pw@127.0.0.1:5432/postgres

\b
Exit status: 0 every target version passed, 1 a check failed on some version (the verdict names the
safe ones), 2 the file or an option is unusable (missing, empty, truncated, corrupted, plain SQL, newer
than every pg_restore) or the harness could not decide.
"""


@click.command("verify-backup", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
               epilog=EXAMPLES)
@click.argument("dump", type=click.Path(path_type=Path))
@click.option("--pg-version", "versions", type=int, multiple=True, metavar="N",
              help="Target Postgres major; repeat for several, e.g. --pg-version 16 --pg-version 18 "
                   "(default: every version found that is not older than the archive).")
@click.option("--storage-snapshot", metavar="s3://bucket/prefix | DIR",
              help="The object-storage snapshot taken with the dump, read-only, e.g. "
                   "--storage-snapshot s3://backups/pegasus-2026-02-20 or --storage-snapshot ./pegasus-2026-02-20/ "
                   "(its date, from the name, is paired with the dump's start).")
@click.option("--manifest", type=click.Path(path_type=Path), metavar="FILE",
              help="Manifest written at backup time, to compare row counts, table checksums, schema and "
                   "objects, e.g. --manifest reports/runs/<run>/pegasus-storage-loss.manifest.json.")
@click.option("--system", metavar="pegasus|arqonbus|PATH",
              help="Which system the dump belongs to (its reference columns and restore allowlist), e.g. "
                   "--system pegasus or --system ./myapp.toml (default: from the manifest or the archive's tables).")
@click.option("--report-dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Where the run folder is written, e.g. --report-dir /tmp/verify (default reports/runs).")
@click.option("--step-timeout", "timeout_s", type=float, default=3600.0, show_default=True, metavar="SECONDS",
              help="Seconds before reading or restoring the archive is stopped, e.g. --step-timeout 7200.")
@click.option("--quiet", is_flag=True, help="No progress display (it is off anyway in CI or without a terminal).")
@backend_options
def command(dump: Path, versions: tuple[int, ...], storage_snapshot: str | None, manifest: Path | None,
            system: str | None, report_dir: Path | None, timeout_s: float, quiet: bool, **kw: Any) -> None:
    """Check a real backup before an upgrade: restore DUMP (a pg_dump custom, directory or tar archive)
    into a fresh disposable database of each target Postgres version with that version's pg_restore,
    and check it is complete and sound; with a snapshot, that its object storage agrees.

    Postgres runs where --pg-backend says (a server you give with --pg-url is the one target version); an
    s3:// snapshot is read from --s3-endpoint with the RESTORE_DRILL_S3_ACCESS_KEY / _SECRET_KEY keys.
    Nothing is written anywhere but disposable databases and the run folder; the snapshot is only read.
    """
    from ..config import DEFAULT_REPORT_DIR, resolve
    from ..events import EventBus, ProgressSink
    from ..foundation import utcnow
    from ..verify import VERDICT_FILE, verify_backup

    started_at = utcnow()  # the report's start: the archive read that follows counts in its duration

    argv = ["restore-drill", "verify-backup", *sys.argv[2:]]
    base = report_dir if report_dir is not None else DEFAULT_REPORT_DIR
    try:
        cfg = resolve({**{k: kw.get(k) for k in ("pg_backend", "pg_url", "s3_backend", "s3_endpoint")},
                       "report_dir": report_dir})
        base = cfg.report_dir
        preflight_backends(cfg)  # --s3-backend endpoint without --s3-endpoint, external without --pg-url
        report, run_dir = verify_backup(dump, versions=list(versions) or None, storage_snapshot=storage_snapshot,
                                        manifest=manifest, system=system, report_dir=base, argv=argv,
                                        timeout_s=timeout_s, config=cfg, started_at=started_at,
                                        events=EventBus(ProgressSink(False if quiet else None)))
    except DrillError as e:
        error_exit(e, argv, base)
    finish(report, run_dir)
    verdict_file = run_dir / VERDICT_FILE
    if verdict_file.is_file():  # not there when no folder could be written: the summary above says why
        click.echo(verdict_file.read_text(encoding="utf-8").strip())
    sys.exit(report.exit_code)
