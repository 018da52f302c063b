"""Reading the tables a database disaster damages: counts, primary keys, foreign keys, which table to hit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from restore_drill.errors import BadInput, HarnessFault
from restore_drill.foundation import ident, qualified

from .interface import MAX_RECORDED_IDS, DisasterContext


def counts(conn: psycopg.Connection, tables: Sequence[str]) -> dict[str, int | None]:
    """Rows per table; None for a table that does not exist (dropped)."""
    out: dict[str, int | None] = {}
    for t in tables:
        if conn.execute("SELECT to_regclass(%s)", (qualified(t),)).fetchone()[0] is None:  # type: ignore[index]
            out[t] = None
            continue
        out[t] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident(t))).fetchone()[0]  # type: ignore[index]
    return out


def primary_key(conn: psycopg.Connection, table: str) -> list[str]:
    """The primary key's columns in key order ([] without one)."""
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
        (qualified(table),),
    ).fetchall()
    return [r[0] for r in rows]


def referencing(conn: psycopg.Connection, table: str) -> list[dict[str, str]]:
    """Foreign keys on other tables that point at ``table``."""
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE k.contype = 'f' AND k.confrelid = %s::regclass AND k.conrelid <> k.confrelid ORDER BY 1, 2",
        (qualified(table),),
    ).fetchall()
    return [{"table": r[0], "constraint": r[1], "definition": r[2]} for r in rows]


def pick_table(ctx: DisasterContext, conn: psycopg.Connection, *, need_pk: bool, prefer_leaf: bool) -> str:
    """The pinned table, or one drawn from the tables in scope that have rows (and a primary key).

    BadInput when the pinned table is not in scope; HarnessFault when nothing has rows to damage.
    """
    if ctx.target_table is not None:
        t = qualified(ctx.target_table)
        if t not in ctx.scope:
            raise BadInput(f"target table {t} is not among the drill's tables {ctx.scope}")
        return t
    rows = counts(conn, ctx.scope)
    cands = [t for t in ctx.scope if rows.get(t) and (not need_pk or primary_key(conn, t))]
    if not cands:
        raise HarnessFault(f"no table in {ctx.scope} has rows{' and a primary key' if need_pk else ''} to damage; "
                           "seed data before the disaster")
    if prefer_leaf:
        leaves = [t for t in cands if not referencing(conn, t)]
        cands = leaves or cands
    return ctx.rng().choice(cands)


@dataclass(frozen=True)
class Victims:
    """Rows chosen for damage: the table, its primary key, every key value and the chosen ones (sorted)."""

    table: str
    primary_key: list[str]
    key_columns: sql.Composable  # the primary key's columns, for composing statements
    all_ids: list[Any]
    chosen: list[Any]


def choose_rows(ctx: DisasterContext, conn: psycopg.Connection, *, prefer_leaf: bool) -> Victims:
    """``ctx.fraction`` of one table's rows by primary key, drawn from ``ctx.seed`` (see pick_table)."""
    table = pick_table(ctx, conn, need_pk=True, prefer_leaf=prefer_leaf)
    pk = primary_key(conn, table)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in pk)
    all_ids = conn.execute(sql.SQL("SELECT {} FROM {} ORDER BY {}").format(cols, ident(table), cols)).fetchall()
    chosen = sorted(ctx.rng().sample(all_ids, sample_count(len(all_ids), ctx.fraction)))
    return Victims(table, pk, cols, all_ids, chosen)


def recorded_ids(rows: Sequence[Sequence[Any]]) -> list[Any]:
    """Key values as a record keeps them (JSON-safe, at most MAX_RECORDED_IDS)."""
    out = [r[0] if len(r) == 1 else list(r) for r in rows[:MAX_RECORDED_IDS]]
    return [v if isinstance(v, int | str | list) else str(v) for v in out]


def sample_count(n: int, fraction: float) -> int:
    """How many of ``n`` to damage: ``fraction`` of them, at least 1, at most n."""
    return max(1, min(n, round(n * fraction)))


def fill_victims(conn: psycopg.Connection, table: str, cols: sql.Composable, chosen: Sequence[Sequence[Any]]) -> None:
    """A temporary table _rd_victims (dropped at commit) holding the chosen key values, loaded by COPY."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE TEMP TABLE _rd_victims ON COMMIT DROP AS SELECT {} FROM {} LIMIT 0").format(
            cols, ident(table)))
        with cur.copy(sql.SQL("COPY _rd_victims ({}) FROM STDIN").format(cols)) as cp:
            for r in chosen:
                cp.write_row(r)
