"""The tables a system's `[database] tables = "all"` stands for, and the bad-input line when it stands for none.

`tables = "all"` means every table in the definition's `[database] schemas` (default `["public"]`). An
application that lives in its own schema (`app.orders`) and a definition that does not name that schema gives
a drill with nothing in scope: the disasters have nothing to break and the checks nothing to compare, so the
drill stops as bad input naming the schemas it searched and the ones where the seeded tables are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import psycopg

from restore_drill.errors import BadInput

from .ledger import SCHEMA as LEDGER_SCHEMA

# Schemas that never hold a system's own tables: PostgreSQL's catalogs and the harness's write ledger.
_NOT_THE_USERS = ("pg_catalog", "information_schema", "pg_toast", LEDGER_SCHEMA)


def schemas_with_tables(conn: psycopg.Connection) -> dict[str, int]:
    """{schema: number of ordinary/partitioned tables} for every schema holding any, outside PostgreSQL's
    own catalogs (pg_catalog, information_schema, pg_toast*, pg_temp*) and the harness's write ledger."""
    rows = conn.execute(
        "SELECT n.nspname, count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL(%s) AND n.nspname !~ '^pg_(toast|temp)' "
        "GROUP BY 1 ORDER BY 1", (list(_NOT_THE_USERS),)).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def require_tables(conn: psycopg.Connection, found: Sequence[str], schemas: Sequence[str], definition: Path | str,
                   system: str) -> None:
    """Raise BadInput when ``tables = "all"`` found no table (``found`` empty) in ``schemas`` of the seeded
    database, naming the schemas searched, the schemas that do hold tables and the line to add to
    ``definition`` (the system's TOML). Returns None when ``found`` is not empty."""
    if found:
        return
    searched = ", ".join(schemas) or "(none)"
    elsewhere = schemas_with_tables(conn)
    if elsewhere:
        names = ", ".join(f'"{s}"' for s in elsewhere)
        where = ", ".join(f"{s} ({n})" for s, n in elsewhere.items())
        raise BadInput(f'{definition}: [database] tables = "all" found no table in schema(s) {searched} of '
                       f"{system}'s seeded database; its tables are in schema(s) {where}: declare [database] "
                       f"schemas = [{names}]")
    raise BadInput(f'{definition}: [database] tables = "all" found no table in schema(s) {searched}, and the seeded '
                   f"database of {system} holds no table at all: check [data] (its SQL or dump creates the tables)")
