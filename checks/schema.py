"""schema_fidelity: the restored catalog against the manifest's catalog snapshot, as a readable diff."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from restore_drill.seeds.catalog_objects import NAMED_KINDS, PRIVILEGE_KINDS, TABLE_KINDS
from restore_drill.seeds.manifest import Manifest, catalog_snapshot

from ._util import capped, qualified, read_session, sample, timed
from .result import CheckResult

# Parts bound to a table (key: table + name) and parts keyed by their own name.
# The newer kinds (seeds/catalog_objects.py) mix both: their rows with ``tbl`` None belong to no table.
TABLE_PARTS = ("columns", "constraints", "indexes", "triggers", *TABLE_KINDS)
NAMED_PARTS = ("sequences", "functions", "types", *NAMED_KINDS)
# Fields that change with use, not with the schema: the sequence position is sequence_health's job.
VOLATILE = {"sequences": frozenset({"last_value"})}
_LABEL = {"columns": "column", "constraints": "constraint", "indexes": "index", "triggers": "trigger",
          "sequences": "sequence", "functions": "function", "types": "type",
          "row_security": "row security", "policies": "policy", "privileges": "privilege", "owners": "owner",
          "comments": "comment", "partitions": "partition", "large_object_refs": "large object references",
          "default_privileges": "default privileges", "views": "view", "matviews": "materialized view",
          "large_objects": "large object", "extensions": "extension", "collations": "collation",
          "publications": "publication", "event_triggers": "event trigger",
          "database_settings": "database setting"}
_KIND = {"p": "primary key", "u": "unique", "f": "foreign key", "c": "check", "x": "exclusion"}


@dataclass(frozen=True)
class Change:
    part: str
    op: str  # "missing" (in the manifest, not restored), "extra" (restored only), "changed"
    obj: str  # e.g. "public.t.id" or "public.t_pkey on public.t"
    table: str | None
    detail: str

    def line(self) -> str:
        sign = {"missing": "-", "extra": "+", "changed": "~"}[self.op]
        return f"{sign} {_LABEL.get(self.part, self.part)} {self.obj}: {self.detail}"


def _key(part: str, row: Mapping[str, Any]) -> tuple[str, str]:
    if part in TABLE_PARTS:
        return (str(row["tbl"] or ""), str(row["name"]))
    return ("", str(row["name"]))


def _obj(part: str, key: tuple[str, str]) -> str:
    tbl, name = key
    if part in ("columns", "large_object_refs"):
        return f"{tbl}.{name}"
    if part == "row_security":
        return tbl
    if part == "owners":  # the name is the object itself ("table app.t", "function app.f()")
        return name
    return f"{name} on {tbl}" if tbl else name


def _describe(part: str, row: Mapping[str, Any]) -> str:
    if part == "columns":
        s = str(row.get("type"))
        if row.get("not_null"):
            s += " NOT NULL"
        if row.get("default") is not None:
            s += f" DEFAULT {row['default']}"
        if row.get("identity"):
            s += f" GENERATED {row.get('identity_generation')} AS IDENTITY"
        return s
    if part == "constraints":
        return f"{_KIND.get(str(row.get('kind')), row.get('kind'))} {row.get('definition')}"
    if "definition" in row:
        return str(row["definition"])
    return ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("name", "tbl"))


def scope_catalog(catalog: Mapping[str, Sequence[Mapping[str, Any]]], tables: Collection[str] | None,
                  *, exclude: bool = False) -> dict[str, list[Mapping[str, Any]]]:
    """The catalog limited to ``tables`` (or, with ``exclude``, to everything else).

    Sequences follow the table that owns them; functions and types are not table-bound and stay, and
    so do rows of the newer table kinds whose ``tbl`` is None (a function's grant, a schema's comment).
    """
    scope = {qualified(t) for t in tables} if tables is not None else None
    out: dict[str, list[Mapping[str, Any]]] = {}
    for part, rows in catalog.items():
        if scope is None or part not in (*TABLE_PARTS, "sequences"):
            out[part] = list(rows)
            continue
        field = "owned_by_table" if part == "sequences" else "tbl"
        out[part] = [r for r in rows if (part in TABLE_KINDS and r.get(field) is None)
                     or (r.get(field) is not None and qualified(str(r[field])) in scope) != exclude]
    return out


def diff_catalog(
    expected: Mapping[str, Sequence[Mapping[str, Any]]],
    observed: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    volatile: Mapping[str, Collection[str]] = VOLATILE,
) -> list[Change]:
    """Every difference between two catalog snapshots, part by part, keyed by table and name.

    A part the expected snapshot does not hold (a manifest from before that kind was recorded) is not
    compared: the manifest has no evidence either way."""
    changes: list[Change] = []
    for part in (*TABLE_PARTS, *NAMED_PARTS):
        if part not in expected:
            continue
        skip = set(volatile.get(part, ()))
        exp = {_key(part, r): r for r in expected.get(part, [])}
        obs = {_key(part, r): r for r in observed.get(part, [])}
        for k in sorted(exp.keys() | obs.keys()):
            tbl = k[0] or None
            if part == "sequences":
                r = exp.get(k) or obs.get(k) or {}
                tbl = r.get("owned_by_table")
            if k not in obs:
                changes.append(Change(part, "missing", _obj(part, k), tbl, f"not restored (was {_describe(part, exp[k])})"))
            elif k not in exp:
                changes.append(Change(part, "extra", _obj(part, k), tbl, f"not in the manifest ({_describe(part, obs[k])})"))
            else:
                diffs = [f"{f} {exp[k].get(f)!r} -> {obs[k].get(f)!r}"
                         for f in sorted(exp[k].keys() | obs[k].keys())
                         if f not in skip and exp[k].get(f) != obs[k].get(f)]
                if diffs:
                    changes.append(Change(part, "changed", _obj(part, k), tbl, "; ".join(diffs)))
    return changes


def summarize(changes: Iterable[Change]) -> dict[str, Any]:
    ch = list(changes)
    by_part: dict[str, int] = {}
    for c in ch:
        by_part[f"{c.op} {c.part}"] = by_part.get(f"{c.op} {c.part}", 0) + 1
    tables = sorted({c.table for c in ch if c.table})
    return {"diff": capped([c.line() for c in ch]), "by_kind": by_part, "tables": capped(tables)}


@timed("schema_fidelity")
def schema_fidelity(
    conn: psycopg.Connection,
    manifest: Manifest,
    tables: Sequence[str] | None = None,
    *,
    schemas: tuple[str, ...] | None = None,
    privileges: bool = True,
    unchecked: Mapping[str, str] | None = None,
) -> CheckResult:
    """Columns, types, nullability, defaults, constraints, indexes, triggers, sequences, identity
    columns, functions and types of the restore equal the manifest's catalog snapshot, and so do row
    security, policies, privileges, owners, default privileges, views, materialized views (populated,
    rows, digest), large objects (content digests) and the references to them, comments, extensions
    and versions, partitions and bounds, domains/enums/collations, publications, event triggers and
    database settings.

    ``tables`` limits table-bound parts to a restore's scope (a table-scoped restore is judged on the
    per-table objects of its tables). ``schemas`` defaults to the ones the manifest was taken in.
    ``privileges=False`` is a system's declared choice (``[checks] privileges = false``, for runbooks
    that restore with ``--no-owner``/``--no-privileges``): grants, owners and default privileges are
    then not compared, and the result says so. ``unchecked`` maps other kinds to why they are not
    compared (e.g. ``{"database_settings": "..."}`` when the restore method cannot carry them); each is
    named in the result too.
    """
    name = "schema_fidelity"
    if not manifest.catalog:
        return CheckResult.skipped(name, "the manifest has no catalog snapshot to compare against")
    schemas = tuple(schemas if schemas is not None else (getattr(manifest, "schemas", None) or ("public",)))
    with read_session(conn):
        observed = catalog_snapshot(conn, schemas, list(tables) if tables is not None else None)
    expected = scope_catalog(manifest.catalog, tables)
    if not privileges:
        expected = {k: v for k, v in expected.items() if k not in PRIVILEGE_KINDS}
    unchecked = dict(unchecked or {})
    expected = {k: v for k, v in expected.items() if k not in unchecked}
    changes = diff_catalog(expected, observed)
    ev = summarize(changes)
    ev["schemas"] = list(schemas)
    out_of_scope = "" if privileges else " (privileges and owners not compared: declared out of scope)"
    out_of_scope += "".join(f" ({_LABEL.get(k, k)} not compared: {why})" for k, why in sorted(unchecked.items()))
    ev["privileges_compared"] = privileges
    ev["not_compared"] = unchecked
    if changes:
        tables_hit = ev["tables"]["items"]
        where = f" in {sample(tables_hit)}" if tables_hit else ""
        return CheckResult.failed(
            name, f"{len(changes)} schema difference(s){where}: " + "; ".join(c.line() for c in changes[:3])
            + out_of_scope, expected="catalog equal to the manifest", observed=ev["by_kind"], evidence=ev)
    counts = {p: len(observed.get(p, [])) for p in (*TABLE_PARTS, *NAMED_PARTS) if p in expected}
    shown = ", ".join(f"{v} {k}" for k, v in counts.items() if v or k in ("columns", "constraints", "indexes"))
    return CheckResult.passed(name, f"catalog equals the manifest in {', '.join(schemas)}: {shown}{out_of_scope}",
                              expected=counts, observed=counts, evidence={**ev, "counts": counts})


def partitioned_parents(manifest: Manifest | None) -> list[str]:
    """The partitioned tables the manifest's catalog names (each has a "partition key" row): their rows
    live in their partitions, so backup_artifact expects no data entry of their own."""
    if manifest is None:
        return []
    return sorted({str(r["tbl"]) for r in manifest.catalog.get("partitions", []) if r.get("name") == "partition key"})
