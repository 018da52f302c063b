"""What a pg_dump archive left out, judged from the archive alone (``verify-backup`` without a manifest).

A restore of an archive can only be compared with the archive, so what pg_dump never wrote is invisible to
``row_counts`` and ``restored_objects``. ``archive_coverage`` looks for it: tables whose definition is in
the archive but whose data is not (naming why when the archive says: unlogged, partitioned parent without
its partitions, else excluded), large objects the archive holds against those restored, and ``oid``/``lo``
columns whose values name large objects the archive does not hold. The one known harmless restore
error of ``-n public`` dumps is excused (and named) by ``checks.backup.excuse_known``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from restore_drill.checks._util import capped, read_session, sample, timed
from restore_drill.checks.backup import HARMLESS_PUBLIC_SCHEMA, excuse_known  # re-exported for verify.version
from restore_drill.checks.result import CheckResult
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.seeds.catalog_objects import large_object_refs

from ..procs import run

__all__ = ["HARMLESS_PUBLIC_SCHEMA", "ArchiveShape", "archive_coverage", "excuse_known", "parse_shape",
           "read_shape"]

# "-- Name: t; Type: TABLE; Schema: s; Owner: o" heads each object in pg_restore's script output.
_BLOCK = re.compile(r"^-- Name: (?P<name>.+?); Type: (?P<type>[A-Z ]+); Schema: (?P<schema>[^;]+);", re.MULTILINE)
_LO_CREATE = re.compile(r"lo_create\('(\d+)'\)")
_ATTACH = re.compile(r"ATTACH PARTITION (?P<child>\S+)")
_IDENT = re.compile(r'"(?:[^"]|"")+"|[^."\s]+')
# Tables that belong to an extension (deptype 'e'). pg_dump writes the rows of those registered with
# pg_extension_config_dump (extconfig) and nothing of the others ("Packaging Related Objects into an
# Extension", PostgreSQL docs): rows a user added to such a table are never in any dump.
_EXTENSION_TABLES = """
SELECT n.nspname || '.' || c.relname AS tbl, e.extname, c.oid = ANY(coalesce(e.extconfig, '{}')) AS config
FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND c.relkind IN ('r', 'p')
ORDER BY 1"""

@dataclass
class ArchiveShape:
    """Per table, what the archive's pre-data says it is, and the large objects it holds."""

    kinds: dict[str, str] = field(default_factory=dict)  # "schema.table" -> table | unlogged | partitioned
    parents: dict[str, str] = field(default_factory=dict)  # partition -> its partitioned parent
    large_objects: set[int] = field(default_factory=set)  # oids pg_dump wrote lo_create() for


def _dotted(sql_name: str) -> str:
    parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p for p in _IDENT.findall(sql_name)]
    return ".".join(parts)


def read_shape(tool: PgBinaries, path: str, timeout_s: float) -> ArchiveShape:
    """The archive's pre-data section as a script (``pg_restore --section=pre-data -f -``: definitions
    only, no data, so it is cheap), read for table kinds, partitions and large objects."""
    done = run([tool.tool("pg_restore"), "--section=pre-data", "-f", "-", path],
               env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, timeout_s=timeout_s)
    return parse_shape(done.stdout if done.exit_code == 0 else "")


def parse_shape(script: str) -> ArchiveShape:
    """An ArchiveShape from a pg_restore/pg_dump script (see ``read_shape``)."""
    shape = ArchiveShape(large_objects={int(o) for o in _LO_CREATE.findall(script)})
    heads = list(_BLOCK.finditer(script))
    for i, m in enumerate(heads):
        body = script[m.end(): heads[i + 1].start() if i + 1 < len(heads) else len(script)]
        table = f"{m['schema'].strip()}.{m['name'].strip()}"
        if m["type"] == "TABLE":
            shape.kinds[table] = ("unlogged" if "CREATE UNLOGGED TABLE" in body
                                  else "partitioned" if re.search(r"^\)?\s*PARTITION BY ", body, re.MULTILINE)
                                  else "table")
            if po := re.search(r"PARTITION OF (\S+)", body):
                shape.parents[table] = _dotted(po.group(1))
        elif m["type"] == "TABLE ATTACH" and (ta := re.search(r"ALTER TABLE (?:ONLY )?(\S+) ATTACH PARTITION",
                                                               body)) is not None:
            shape.parents[table] = _dotted(ta.group(1))
    return shape


def _no_data_reason(table: str, shape: ArchiveShape, with_data: set[str]) -> str | None:
    kind = shape.kinds.get(table, "table")
    if kind == "partitioned":
        parts = [c for c, p in shape.parents.items() if p == table]
        if any(c in with_data or shape.kinds.get(c) == "partitioned" for c in parts):
            return None  # pg_dump writes a partitioned table's rows under its partitions
        return ("partitioned table without any of its partitions: its rows live in partitions the archive does "
                "not hold (a --table of the parent alone)")
    if kind == "unlogged":
        return "unlogged table without data (dumped with --no-unlogged-table-data)"
    return "no data entry (excluded with --exclude-table-data, or a --schema-only dump)"


@timed("archive_coverage")
def archive_coverage(conn: psycopg.Connection, tables: Sequence[str], data_tables: Sequence[str],
                     shape: ArchiveShape, schemas: Sequence[str]) -> CheckResult:
    """From the archive alone: every table it defines (``tables``, schema-qualified TOC TABLE entries)
    has a data entry (``data_tables``) or a reason not to; every large object it holds was restored; the
    restored ``oid``/``lo`` columns in ``schemas`` name only large objects that exist; and no restored
    extension owns a table whose rows pg_dump does not carry (not registered as configuration, or a
    configuration table the archive holds no data for).

    Fails naming each table (and why, when the archive says) or column; passes with the counts."""
    name = "archive_coverage"
    with_data = set(data_tables)
    no_data = [(t, r) for t in sorted(set(tables) - with_data) if (r := _no_data_reason(t, shape, with_data))]
    with read_session(conn):
        row = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
        restored_los = int(row[0]) if row else 0
        refs = large_object_refs(conn, tuple(schemas))
        ext_tables = conn.execute(_EXTENSION_TABLES).fetchall()
    dangling = [r for r in refs if r["unresolved"]]
    problems = [f"{t}: {why}" for t, why in no_data]
    problems += [f"{t}: table of extension {ext} not registered with pg_extension_config_dump: pg_dump writes "
                 "none of its rows" if not config else
                 f"{t}: configuration table of extension {ext} without a data entry"
                 for t, ext, config in ext_tables if not config or t not in with_data]
    if restored_los < len(shape.large_objects):
        problems.append(f"{len(shape.large_objects)} large objects archived, {restored_los} restored")
    problems += [f"{r['tbl']}.{r['name']}: {r['unresolved']} of {r['references']} value(s) name large objects "
                 f"the archive does not hold (dumped without large objects: --table/--schema leave them out "
                 f"unless --large-objects)" for r in dangling]
    ev = {"tables": len(tables), "without_data": capped([{"table": t, "why": w} for t, w in no_data]),
          "extension_tables": capped([{"table": t, "extension": e, "config": c} for t, e, c in ext_tables]),
          "large_objects_archived": len(shape.large_objects), "large_objects_restored": restored_los,
          "large_object_columns": capped(refs), "partitioned": sorted(t for t, k in shape.kinds.items()
                                                                      if k == "partitioned")}
    if problems:
        return CheckResult.failed(name, f"the archive left out {len(problems)} thing(s): {sample(problems, 2)}",
                                  expected="every archived table with data, every referenced large object",
                                  observed=len(problems), evidence=ev)
    refs_n = sum(r["references"] for r in refs)
    return CheckResult.passed(
        name, f"every one of {len(tables)} archived tables has data"
        + (f" (partitioned parents through their partitions: {sample(ev['partitioned'])})" if ev["partitioned"] else "")
        + f"; {len(shape.large_objects)} large objects archived and restored; {refs_n} large-object reference(s) resolve",
        expected=len(tables), observed=len(tables), evidence=ev)
