"""physical_integrity: pg_amcheck (B-tree and heap) on the restored database, where it can run."""

from __future__ import annotations

import re
from collections.abc import Sequence

import psycopg

from restore_drill.fixtures import binaries
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.fixtures.database import Database
from restore_drill.procs import run
from restore_drill.redact import Redactor

from ._util import capped, error_line, libpq_env, sample, timed
from .result import CheckResult

# Our own schema for the extension, dropped afterwards, so the check leaves no trace in public.
AMCHECK_SCHEMA = "restore_drill_amcheck"
_RELATION = re.compile(r'^(?:btree index|heap table|index|table) "([^"]+)"', re.MULTILINE)


def index_pattern(schema: str, name: str) -> str:
    """A pg_amcheck relation pattern matching exactly ``schema.name`` (psql pattern rules: inside double
    quotes nothing is a wildcard and ``""`` is a quote; https://www.postgresql.org/docs/current/app-psql.html#APP-PSQL-PATTERNS)."""
    return ".".join('"' + p.replace('"', '""') + '"' for p in (schema, name))


def amcheck_tool(db: Database) -> PgBinaries | None:
    """The pg_amcheck ``physical_integrity`` uses for ``db`` (None when none is found)."""
    return _pick_binaries(db, None)


def _pick_binaries(db: Database, bins: PgBinaries | None) -> PgBinaries | None:
    if bins is not None:
        return bins if bins.has("pg_amcheck") else None
    if db.server is not None and db.server.has("pg_amcheck"):
        return db.server
    cands = [b for b in binaries.discover() if b.major >= db.major and b.has("pg_amcheck")]
    return min(cands, key=lambda b: b.major) if cands else None


def _amcheck_hint(db: Database) -> str:
    """What to do about a server without amcheck: the wheel's servers cannot gain it by a package install."""
    if db.server is not None and "wheel" in db.server.source:
        return (f"the {db.server.source} ships no contrib modules; point RESTORE_DRILL_PG_BINDIRS at a "
                f"PostgreSQL {db.major} install that has its contrib package, or use the container backend")
    return f"install the contrib package of PostgreSQL {db.major}, e.g. postgresql-contrib"


@timed("physical_integrity")
def physical_integrity(
    db: Database, bins: PgBinaries | None = None, *, heapallindexed: bool = True, timeout_s: float = 900.0,
    checked_indexes: Sequence[str] = (),
) -> CheckResult:
    """``pg_amcheck`` over every heap and B-tree index of ``db`` (with ``--heapallindexed``: every
    heap tuple has its index entry). Skipped with the reason when the binary or the ``amcheck``
    extension is not available for this server. Installs the extension into its own schema for the
    check and removes it afterwards if it was not there before. ``checked_indexes``: ``index_pattern``s
    of indexes the caller already checked with this pg_amcheck and these flags, exit 0, on data that
    has not changed since (verify-backup, while its restore ran): left out (``--exclude-index``) and
    listed in the evidence."""
    name = "physical_integrity"
    tool_set = _pick_binaries(db, bins)
    if tool_set is None:
        return CheckResult.skipped(name, f"no pg_amcheck >= {db.major} found (install the PostgreSQL client "
                                   "tools or set RESTORE_DRILL_PG_BINDIRS)")
    created = False
    with psycopg.connect(db.url, autocommit=True, connect_timeout=10) as conn:
        avail = conn.execute("SELECT default_version, installed_version FROM pg_available_extensions "
                             "WHERE name = 'amcheck'").fetchone()
        if avail is None:
            return CheckResult.skipped(name, f"the amcheck extension is not available on PostgreSQL "
                                       f"{db.server_version} ({_amcheck_hint(db)})",
                                       evidence={"server_version": db.server_version})
        if avail[1] is None:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {AMCHECK_SCHEMA}")
            conn.execute(f"CREATE EXTENSION amcheck SCHEMA {AMCHECK_SCHEMA}")
            created = True
    try:
        argv = [str(tool_set.tool("pg_amcheck")), "--jobs=2"]
        if heapallindexed:
            argv.append("--heapallindexed")
        argv += [f"--exclude-index={p}" for p in checked_indexes]
        done = run(argv, env=libpq_env(db), timeout_s=timeout_s, redactor=Redactor([db.password]))
    finally:
        if created:
            with psycopg.connect(db.url, autocommit=True, connect_timeout=10) as conn:
                conn.execute("DROP EXTENSION IF EXISTS amcheck")
                conn.execute(f"DROP SCHEMA IF EXISTS {AMCHECK_SCHEMA}")
    out = Redactor([db.password])(done.stdout + done.stderr)
    relations = sorted(set(_RELATION.findall(out)))
    ev = {"tool": str(tool_set.bindir), "version": tool_set.version, "exit_code": done.exit_code,
          "heapallindexed": heapallindexed, "corrupt_relations": capped(relations),
          "output": capped(out.strip().splitlines(), 30)}
    if checked_indexes:
        ev["indexes_checked_before"] = capped(list(checked_indexes))
    if done.exit_code == 0:
        return CheckResult.passed(name, f"pg_amcheck {tool_set.version} found no corruption in {db.name} "
                                  f"(heap and B-tree{', heapallindexed' if heapallindexed else ''})",
                                  expected=0, observed=0, evidence=ev)
    if done.exit_code == 2 or relations:
        return CheckResult.failed(name, f"pg_amcheck found corruption in {sample(relations) or db.name}: "
                                  f"{error_line(out, 200)}",
                                  expected=0, observed=done.exit_code, evidence=ev)
    return CheckResult.errored(name, f"pg_amcheck exited {done.exit_code}: {out.strip()[:200]}", evidence=ev)
