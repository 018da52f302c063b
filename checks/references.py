"""referential_integrity: no orphan rows, checked by join, so it works when the restore lost the FK itself."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from restore_drill.seeds.manifest import Manifest

from ._util import CAP, capped, ident, jsonable, missing_tables, qualified, read_session, sample, timed
from .result import CheckResult


@dataclass(frozen=True)
class Relation:
    """child(child_columns) must reference an existing parent(parent_columns) when all are non-null."""

    child: str
    child_columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    name: str = ""

    def describe(self) -> str:
        return (f"{self.child}({', '.join(self.child_columns)}) -> "
                f"{self.parent}({', '.join(self.parent_columns)})")


_IDENT = r'(?:"(?:[^"]|"")+"|[^\s,()."]+)'
_FK = re.compile(
    r"FOREIGN KEY \((?P<cols>[^)]*)\) REFERENCES (?P<parent>" + _IDENT + r"(?:\." + _IDENT + r")?)"
    r"\((?P<pcols>[^)]*)\)")


def _unquote(s: str) -> str:
    s = s.strip()
    return s[1:-1].replace('""', '"') if s.startswith('"') and s.endswith('"') else s


def _idents(s: str) -> list[str]:
    return [_unquote(m.group(0)) for m in re.finditer(_IDENT, s)]


def relations_from_catalog(catalog: dict[str, Any], tables: Iterable[str] | None = None) -> list[Relation]:
    """Foreign keys declared in a catalog snapshot (manifest.catalog["constraints"], kind 'f')."""
    scope = {qualified(t) for t in tables} if tables is not None else None
    out: list[Relation] = []
    for c in catalog.get("constraints", []):
        if c.get("kind") != "f":
            continue
        m = _FK.search(str(c.get("definition", "")))
        if not m:
            continue
        child = qualified(str(c["tbl"]))
        if scope is not None and child not in scope:
            continue
        pparts = _idents(m.group("parent"))
        # pg_get_constraintdef leaves out the schema of tables visible on the search_path (public).
        parent = ".".join(pparts) if len(pparts) == 2 else qualified(pparts[0])
        out.append(Relation(child, tuple(_idents(m.group("cols"))), parent, tuple(_idents(m.group("pcols"))),
                            str(c.get("name", ""))))
    return out


def _cols(x: str | Sequence[str]) -> tuple[str, ...]:
    return (x,) if isinstance(x, str) else tuple(x)


def _as_relation(r: Relation | Sequence[Any]) -> Relation:
    if isinstance(r, Relation):
        return r
    child, ccols, parent, pcols = r[:4]
    return Relation(qualified(child), _cols(ccols), qualified(parent), _cols(pcols), r[4] if len(r) > 4 else "")


def _orphans_query(rel: Relation, select: sql.Composable, limit: int | None) -> sql.Composed:
    not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(col))
                                     for col in rel.child_columns)
    join = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(pc), sql.Identifier(cc))
                                 for cc, pc in zip(rel.child_columns, rel.parent_columns, strict=True))
    q = sql.SQL("SELECT {} FROM {} AS c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} AS p WHERE {})").format(
        select, ident(rel.child), not_null, ident(rel.parent), join)
    return q + sql.SQL(" LIMIT {}").format(sql.Literal(limit)) if limit is not None else q


@timed("referential_integrity")
def referential_integrity(
    conn: psycopg.Connection,
    manifest: Manifest | None,
    extra_relations: Sequence[Relation | Sequence[Any]] = (),
    tables: Sequence[str] | None = None,
    *,
    sample_rows: int = 10,
) -> CheckResult:
    """For every foreign key the manifest's (source) catalog declares, plus ``extra_relations``
    (undeclared ones: ``(child, cols, parent, cols[, name])``), no child row points at a missing parent.

    Checked with an anti-join on the server, never via the restored constraint, so a restore that
    dropped the FK and loaded orphans is still caught. ``tables`` limits to relations whose child is
    in a restore's scope.
    """
    name = "referential_integrity"
    rels = relations_from_catalog(manifest.catalog, tables) if manifest is not None else []
    rels += [_as_relation(r) for r in extra_relations]
    if not rels:
        return CheckResult.skipped(name, "no relations declared in the manifest's catalog or given")
    broken: list[dict[str, Any]] = []
    with read_session(conn):
        gone = set(missing_tables(conn, {t for r in rels for t in (r.child, r.parent)}))
        for rel in rels:
            entry: dict[str, Any] = {"relation": rel.describe(), "constraint": rel.name}
            lost = [t for t in (rel.child, rel.parent) if t in gone]
            if lost:
                entry |= {"problem": f"table missing: {', '.join(lost)}", "orphans": None}
                broken.append(entry)
                continue
            row = conn.execute(_orphans_query(rel, sql.SQL("count(*)"), None)).fetchone()
            n = int(row[0]) if row else 0
            if n:
                cols = sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c)) for c in rel.child_columns)
                keys = [dict(zip(rel.child_columns, map(jsonable, r), strict=True)) for r in
                        conn.execute(_orphans_query(rel, cols, min(sample_rows, CAP))).fetchall()]
                entry |= {"problem": "orphan rows", "orphans": n, "sample_keys": keys}
                broken.append(entry)
    ev = {"relations": capped([r.describe() for r in rels]), "broken": capped(broken)}
    if broken:
        desc = []
        for b in broken:
            if b["orphans"]:
                eg = ", ".join(f"{k}={v}" for k, v in b["sample_keys"][0].items())
                desc.append(f"{b['relation']}: {b['orphans']} orphan row(s), e.g. {eg}")
            else:
                desc.append(f"{b['relation']}: {b['problem']}")
        return CheckResult.failed(name, f"{len(broken)} relation(s) broken: {sample(desc, 2)}",
                                  expected=0, observed=sum(b["orphans"] or 0 for b in broken), evidence=ev)
    return CheckResult.passed(name, f"{len(rels)} relation(s) checked by join, no orphan rows", expected=0,
                              observed=0, evidence=ev)
