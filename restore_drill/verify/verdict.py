"""The verdict of ``verify-backup``: the version x check matrix and which target versions are safe to
restore (upgrade) into, and why the others are not; ``verdict.txt`` is ``verdict_text``."""

from __future__ import annotations

import re
from collections.abc import Sequence

from restore_drill.checks.result import Status
from restore_drill.reports.model import DrillReport, Matrix, RunReport
from restore_drill.seeds.ledger import SCHEMA as LEDGER_SCHEMA
from restore_drill.seeds.manifest import Manifest

from ..systems import SystemDef
from .archive import ArchiveInfo, dotted

# Matrix columns, in the order an operator reads them: can it be read, restored, is it complete, sound.
CHECK_ORDER = (
    "backup_artifact", "restore_exit_status", "restored_objects", "archive_coverage", "row_counts", "sequence_health",
    "referential_integrity", "physical_integrity", "table_checksums", "schema_fidelity",
    "artifact_paths_exist", "object_integrity", "snapshot_pairing",
)


def build_matrix(drills: Sequence[DrillReport]) -> Matrix:
    """Rows: target versions; columns: checks; cells: each check's status on that version."""
    versions = [d.id.split("[", 1)[1].rstrip("]") for d in drills]
    seen = {c.name for d in drills for c in d.checks}
    checks = [c for c in CHECK_ORDER if c in seen] + sorted(seen - set(CHECK_ORDER))
    cells = {v: {c.name: c.status.value for c in d.checks} for v, d in zip(versions, drills, strict=True)}
    reasons = {v: {c.name: c.message for c in d.checks} for v, d in zip(versions, drills, strict=True)}
    return Matrix(versions, checks, cells, reasons)


def safe_targets(report: RunReport) -> tuple[list[str], list[str], list[str]]:
    """(safe, not safe with the reason, undecided with the reason) target versions."""
    safe, unsafe, undecided = [], [], []
    for d in report.drills:
        v = d.metrics.get("target_version") or d.id
        if d.status == "passed":
            safe.append(str(v))
        elif d.status == "failed":
            bad = [c for c in d.checks if c.status is Status.FAILED]
            unsafe.append(f"{v} ({'; '.join(f'{c.name}: {c.message}' for c in bad[:2])})")
        else:
            undecided.append(f"{v} ({d.status_reason})")
    return safe, unsafe, undecided


# Checks that, with a manifest given, compare the restore with the manifest: their failure on a version that
# otherwise restored cleanly says the dump differs from the manifest, not that the version is unsafe.
MANIFEST_COMPARISONS = frozenset({"row_counts", "table_checksums", "schema_fidelity", "sequence_health",
                                  "object_integrity"})


def _listed(names: Sequence[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")


def manifest_mismatch(manifest: Manifest, archive: ArchiveInfo) -> tuple[list[str], list[str]]:
    """(tables of ``manifest`` absent from ``archive``'s table of contents, tables in both), each sorted
    "schema.table". A manifest of another database shares none; a table-scoped dump checked against a
    whole-database manifest misses some."""
    toc = {dotted(e.key) for e in archive.entries if e.desc in ("TABLE", "TABLE DATA")}
    # The harness's own write ledger (seeds/ledger.py) is not the system's data: a dump may leave it out.
    tables = sorted(t for t in manifest.tables if not t.startswith(LEDGER_SCHEMA + "."))
    return [t for t in tables if t not in toc], [t for t in tables if t in toc]


def manifest_mismatch_text(manifest_path: str, manifest: Manifest, archive: ArchiveInfo) -> str | None:
    """One line saying the manifest does not describe the archive (naming the tables), or None when every
    table of the manifest is in the archive's table of contents."""
    absent, common = manifest_mismatch(manifest, archive)
    if not absent:
        return None
    src = f"system {manifest.system}" if manifest.system else "no system"
    return (f"the manifest {manifest_path} ({src}, {len(absent) + len(common)} table(s)) does not describe this archive: "
            f"{len(absent)} of its tables are absent from the archive's table of contents ({_listed(absent)}); "
            f"{len(common)} in common" + (f" ({_listed(common)})" if common else "")
            + "; compare with the manifest written when this dump was taken")


# pg_restore's stderr for an object whose function is not in the database (PostgreSQL's own wording:
# 'ERROR:  function public.f() does not exist', then pg_restore's 'Command was: CREATE TRIGGER t ... ON s.tbl ...').
_NO_FUNCTION = re.compile(r'ERROR:\s+function ([^\s(]+)\(([^)]*)\) does not exist(?:\s*\nCommand was: CREATE '
                          r'(?:CONSTRAINT )?TRIGGER (\S+) .*? ON (\S+))?')


def missing_functions(report: RunReport, archive: ArchiveInfo) -> str | None:
    """One line naming the cause when a version's restore failed because an object of the archive (a
    trigger, usually) calls a function the archive does not contain, else None. A table-scoped dump
    (``pg_dump -t``) holds its tables' triggers but not the functions they call, so it restores only into a
    database that already has them; into a fresh one ``CREATE TRIGGER`` fails (seen with arqonbus's
    ``arqonbus_continuum_touch_updated_at()``). Read from the restore steps' stderr; a function the archive
    does define (its ``FUNCTION`` entry) is not named: its failure has another cause. The fix named is the
    function created first: pg_dump has no switch adding one function to a ``-t`` dump ("non-table objects
    will not be dumped" with ``-t``, and ``-n`` has no effect then: PostgreSQL docs, pg_dump ``-t``)."""
    defined = {dotted(e.key).split("(", 1)[0] for e in archive.entries if e.desc in ("FUNCTION", "PROCEDURE")}
    found: dict[str, set[str]] = {}
    for d in report.drills:
        for step in d.steps:
            for m in _NO_FUNCTION.finditer(step.stderr_tail or ""):
                name, args, trigger, table = m.groups()
                qualified = name if "." in name else f"public.{name}"
                if qualified in defined:
                    continue
                users = found.setdefault(f"{qualified}({args})", set())
                if trigger:
                    users.add(f"trigger {trigger} on {table}")
    if not found:
        return None
    what = "; ".join(f"{', '.join(sorted(u)) or 'an archived object'} calls function {f}" for f, u in found.items())
    return (f"cause: {what}, which this archive does not contain (a table-scoped dump, pg_dump -t, leaves out the "
            "functions its tables use): it restores only into a database that already has "
            f"{'that function' if len(found) == 1 else 'those functions'}; to restore into an empty one, keep the "
            "CREATE FUNCTION with the dump and run it before pg_restore")


def verdict_text(report: RunReport, notes: Sequence[str] = (), archive: ArchiveInfo | None = None,
                 system: SystemDef | None = None, how: str = "", *, manifest_given: bool = False,
                 mismatch: str | None = None) -> str:
    """The verdict: which target versions are safe to restore (upgrade) into, and why the others are not.

    ``manifest_given``: the checks compared the restore with a manifest. Then a version whose only failed
    checks are MANIFEST_COMPARISONS is not called unsafe: "the dump differs from the manifest" is said once,
    naming the checks, because the difference is in the dump (it restored into that version). ``mismatch``
    (``manifest_mismatch_text``): the manifest does not describe this archive, said on its own line first.
    A restore that failed on a function the archive lacks gets its "cause: ..." line (``missing_functions``)."""
    safe, unsafe, undecided = safe_targets(report)
    differs: list[tuple[str, DrillReport]] = []
    if manifest_given:
        unsafe = []
        for d in report.drills:
            if d.status != "failed":
                continue
            v = str(d.metrics.get("target_version") or d.id)
            bad = [c for c in d.checks if c.status is Status.FAILED]
            own = [c for c in bad if c.name not in MANIFEST_COMPARISONS]
            if own or d.error is not None or not bad:
                unsafe.append(f"{v} ({'; '.join(f'{c.name}: {c.message}' for c in (own or bad)[:2])})")
            else:
                differs.append((v, d))
    lines = []
    if archive is not None:
        lines.append(archive.summary())
    if system is not None:
        lines.append(f"system: {system.name} ({how})")
    if mismatch:
        lines.append(mismatch)
    if differs:
        first = differs[0][1]
        what = "; ".join(f"{c.name}: {c.message}" for c in first.checks
                         if c.status is Status.FAILED and c.name in MANIFEST_COMPARISONS)
        vs = ", ".join(v for v, _ in differs)
        lines.append(f"the dump differs from the manifest (it restored into PostgreSQL {vs}; the difference is in "
                     f"the dump, not the version): {what}")
    lines.append("safe to restore into PostgreSQL: " + (", ".join(safe) if safe else "none")
                 + (" (the dump does not match the manifest)" if differs and not safe else ""))
    cause = missing_functions(report, archive) if archive is not None else None
    if cause:
        lines.append(cause)
    lines += [f"NOT safe: PostgreSQL {u}" for u in unsafe]
    lines += [f"undecided (errored): PostgreSQL {u}" for u in undecided]
    lines += list(notes)
    return "\n".join(lines)
