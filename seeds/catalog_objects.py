"""The catalog kinds beyond columns/constraints/indexes: what pg_dump carries and a restore can lose.

Row security, policies, privileges, owners, default privileges, views, materialized views (with their
row count and digest), large objects (with content digests) and the references to them, comments,
extensions, partitions/inheritance, collations, publications, event triggers, database settings.

Each kind is a list of plain JSON rows. Rows bound to a table carry ``tbl`` (schema-qualified) so a
table-scoped restore can judge the per-table objects of its tables; rows with ``tbl`` None belong to the
database or a schema. Every query reads pg_catalog columns that exist unchanged on PostgreSQL 15, 16
and 18 (checked against the catalog docs of each: https://www.postgresql.org/docs/18/catalogs.html).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

# Kinds whose rows are bound to a table (scoped by ``tbl``); the rest belong to the database/schemas.
TABLE_KINDS = ("row_security", "policies", "privileges", "owners", "comments", "partitions", "large_object_refs")
NAMED_KINDS = ("default_privileges", "views", "matviews", "large_objects", "extensions", "collations",
               "publications", "event_triggers", "database_settings")
# Access control: compared unless a system declares it out of scope (``[checks] privileges = false``).
PRIVILEGE_KINDS = frozenset({"privileges", "owners", "default_privileges"})
# Above this many large objects the manifest keeps one aggregate row instead of one row per object.
LO_ROWS_MAX = 5000

_REL_KINDS = "('r','p','v','m','S','f')"
_REL_LABEL = ("CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' "
              "WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'foreign table' END")
# A relation's table: itself, or for a sequence the table owning it (serial/identity; NULL when free-standing),
# so a table-scoped restore judges the grants of its own sequences. Sequences are named in the row's name.
_REL_TBL = """CASE WHEN c.relkind <> 'S' THEN n.nspname || '.' || c.relname ELSE
    (SELECT tn.nspname || '.' || t.relname FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
     JOIN pg_namespace tn ON tn.oid = t.relnamespace WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a','i') LIMIT 1) END"""
_REL_NAME = f"{_REL_LABEL} || CASE WHEN c.relkind = 'S' THEN ' ' || n.nspname || '.' || c.relname ELSE '' END"
# The grantee's name; 0 is PUBLIC (aclexplode docs, "System Information Functions").
_GRANTEE = "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END"
# MAINTAIN exists since PostgreSQL 17: a 16 source restored into 18 gains it in every GRANT ALL, so it
# is left out rather than reported as a change the restore never made.
_PRIVS = ("string_agg(a.privilege_type || CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END, ', ' "
          "ORDER BY a.privilege_type) FILTER (WHERE a.privilege_type <> 'MAINTAIN')")

QUERIES: dict[str, str] = {
    "row_security": """
        SELECT n.nspname || '.' || c.relname AS tbl, 'row level security' AS name,
               c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r','p')
          AND (c.relrowsecurity OR c.relforcerowsecurity)
        ORDER BY 1""",
    "policies": """
        SELECT schemaname || '.' || tablename AS tbl, policyname AS name, permissive, cmd,
               array_to_string(roles, ',') AS roles, qual AS using, with_check
        FROM pg_policies WHERE schemaname = ANY(%(schemas)s) ORDER BY 1, 2""",
    # Explicit grants on relations (and their columns), functions and the schemas in scope. The owner's
    # own entry is left out: ownership is compared as its own kind, and its default set differs by major.
    "privileges": f"""
        SELECT {_REL_TBL} AS tbl, {_REL_NAME} || ' to ' || {_GRANTEE} AS name,
               {_PRIVS} AS privileges
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
             aclexplode(coalesce(c.relacl, acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char",
                                                      c.relowner))) a
        WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN {_REL_KINDS} AND a.grantee <> c.relowner
        GROUP BY 1, 2 HAVING {_PRIVS} IS NOT NULL
        UNION ALL
        SELECT n.nspname || '.' || c.relname, 'column ' || att.attname || ' to ' || {_GRANTEE}, {_PRIVS}
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute att ON att.attrelid = c.oid AND att.attacl IS NOT NULL AND NOT att.attisdropped,
             aclexplode(att.attacl) a
        WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN {_REL_KINDS} AND a.grantee <> c.relowner
        GROUP BY 1, 2
        UNION ALL
        SELECT NULL, 'function ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid)
               || ') to ' || {_GRANTEE}, {_PRIVS}
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
             aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
        WHERE n.nspname = ANY(%(schemas)s) AND a.grantee <> p.proowner
        GROUP BY 1, 2
        UNION ALL
        SELECT NULL, 'schema ' || n.nspname || ' to ' || {_GRANTEE}, {_PRIVS}
        FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
        WHERE n.nspname = ANY(%(schemas)s) AND a.grantee <> n.nspowner
        GROUP BY 1, 2
        ORDER BY 1, 2""",
    "owners": f"""
        SELECT {_REL_TBL} AS tbl, {_REL_LABEL} || ' ' || n.nspname || '.' || c.relname AS name,
               pg_get_userbyid(c.relowner) AS owner
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN {_REL_KINDS}
        UNION ALL
        SELECT NULL, 'function ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid)
               || ')', pg_get_userbyid(p.proowner)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%(schemas)s)
        UNION ALL
        SELECT NULL, 'type ' || n.nspname || '.' || t.typname, pg_get_userbyid(t.typowner)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = ANY(%(schemas)s) AND t.typtype IN ('e','d','c','r')
          AND NOT EXISTS (SELECT 1 FROM pg_class k WHERE k.reltype = t.oid AND k.relkind <> 'c')
        UNION ALL
        SELECT NULL, 'schema ' || n.nspname, pg_get_userbyid(n.nspowner)
        FROM pg_namespace n WHERE n.nspname = ANY(%(schemas)s) AND n.nspname <> 'public'
        ORDER BY 1, 2""",
    "default_privileges": """
        SELECT pg_get_userbyid(d.defaclrole) || ' in ' || coalesce(n.nspname, 'every schema') || ' on '
               || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                  WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text END AS name,
               array_to_string(d.defaclacl, ',') AS acl
        FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
        WHERE d.defaclnamespace = 0 OR n.nspname = ANY(%(schemas)s)
        ORDER BY 1""",
    "views": """
        SELECT n.nspname || '.' || c.relname AS name, md5(pg_get_viewdef(c.oid)) AS definition_md5
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'v' AND n.nspname = ANY(%(schemas)s) ORDER BY 1""",
    # rows/digest are filled in by catalog_objects() for populated materialized views.
    "matviews": """
        SELECT n.nspname || '.' || c.relname AS name, md5(pg_get_viewdef(c.oid)) AS definition_md5,
               c.relispopulated AS populated
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'm' AND n.nspname = ANY(%(schemas)s) ORDER BY 1""",
    # Comments on objects in the schemas in scope, on those schemas, and on database-wide objects that
    # pg_dump carries (extensions, event triggers, publications, large objects). Keyed by
    # pg_identify_object's identity, which is always schema-qualified (unlike pg_describe_object).
    "comments": """
        SELECT CASE WHEN d.classoid = 'pg_class'::regclass THEN
                    (SELECT n2.nspname || '.' || c2.relname FROM pg_class c2
                     JOIN pg_namespace n2 ON n2.oid = c2.relnamespace WHERE c2.oid = d.objoid) END AS tbl,
               o.type || ' ' || o.identity AS name, d.description AS text
        FROM pg_description d, pg_identify_object(d.classoid, d.objoid, d.objsubid) o
        WHERE o.schema = ANY(%(schemas)s)
           OR (o.type = 'schema' AND o.name = ANY(%(schemas)s))
           OR o.type IN ('extension', 'event trigger', 'publication', 'large object')
        ORDER BY 1, 2""",
    "extensions": """
        SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY 1""",
    # Partitions (with their bounds), inheritance children, and each partitioned table's key.
    "partitions": """
        SELECT n.nspname || '.' || c.relname AS tbl,
               CASE WHEN c.relispartition THEN 'partition of ' ELSE 'inherits ' END
               || pn.nspname || '.' || p.relname AS name,
               pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
        WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r','p','f')
        UNION ALL
        SELECT n.nspname || '.' || c.relname, 'partition key', pg_get_partkeydef(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%(schemas)s) AND c.relkind = 'p'
        ORDER BY 1, 2""",
    "collations": """
        SELECT n.nspname || '.' || c.collname AS name, c.collprovider::text AS provider,
               c.collcollate AS "collate", c.collctype AS ctype, c.collisdeterministic AS deterministic
        FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
        WHERE n.nspname = ANY(%(schemas)s) ORDER BY 1""",
    "publications": """
        SELECT p.pubname AS name, p.puballtables AS all_tables, p.pubinsert AS inserts, p.pubupdate AS updates,
               p.pubdelete AS deletes, p.pubtruncate AS truncates, p.pubviaroot AS via_root,
               coalesce((SELECT string_agg(t.schemaname || '.' || t.tablename, ',' ORDER BY 1)
                         FROM pg_publication_tables t WHERE t.pubname = p.pubname AND NOT p.puballtables), '')
               AS tables
        FROM pg_publication p ORDER BY 1""",
    "event_triggers": """
        SELECT e.evtname AS name, e.evtevent AS event, e.evtfoid::regproc::text AS function,
               e.evtenabled::text AS enabled, coalesce(array_to_string(e.evttags, ','), '') AS tags
        FROM pg_event_trigger e ORDER BY 1""",
    # ALTER DATABASE ... SET (role 0 = for every role). pg_dump carries them with --create only
    # (PostgreSQL 11 release notes), which is exactly why a restore loses them.
    "database_settings": """
        SELECT split_part(cfg, '=', 1) AS name, substr(cfg, strpos(cfg, '=') + 1) AS value
        FROM pg_db_role_setting s, unnest(s.setconfig) cfg
        WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
        ORDER BY 1""",
}

_LO_COUNT = "SELECT count(*) FROM pg_largeobject_metadata"
# lo_get reads one whole object (bytea, so at most 1 GB each); pg_largeobject needs superuser or
# ownership of the objects (lo_compat_privileges), as pg_dump itself does.
_LO_ROWS = """
    SELECT 'large object ' || s.oid AS name, length(s.d) AS size, md5(s.d) AS md5
    FROM (SELECT m.oid, lo_get(m.oid) AS d FROM pg_largeobject_metadata m) s ORDER BY s.oid"""
_LO_AGG = """
    SELECT count(*), coalesce(sum(hashtextextended(md5(lo_get(m.oid)), 0)), 0)::text
    FROM pg_largeobject_metadata m"""
# Columns that can hold large-object references: oid, or a domain over oid (the lo extension's `lo`).
_LO_COLUMNS = """
    SELECT n.nspname || '.' || c.relname AS tbl, a.attname AS col
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_type t ON t.oid = a.atttypid
    WHERE n.nspname = ANY(%(schemas)s) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
      AND (t.oid = 'oid'::regtype OR (t.typtype = 'd' AND t.typbasetype = 'oid'::regtype))
    ORDER BY 1, 2"""


def _matview_digest(conn: psycopg.Connection, name: str) -> tuple[int, str]:
    from .manifest import table_digest  # one digest definition for tables and materialized views

    return table_digest(conn, name)


def large_object_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """One row per large object ({"name": "large object 16401", "size": bytes, "md5": hex}), or one
    aggregate row ({"name": "large objects", "count", "digest"}) above LO_ROWS_MAX objects."""
    row = conn.execute(_LO_COUNT).fetchone()
    count = int(row[0]) if row else 0
    if count == 0:
        return []
    if count <= LO_ROWS_MAX:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return [dict(r) for r in cur.execute(_LO_ROWS).fetchall()]
    agg = conn.execute(_LO_AGG).fetchone()
    assert agg is not None
    return [{"name": "large objects", "count": int(agg[0]), "digest": str(agg[1])}]


def large_object_refs(conn: psycopg.Connection, schemas: tuple[str, ...]) -> list[dict[str, Any]]:
    """For each oid / lo column in ``schemas``: how many non-null values name no large object.

    Compared against the manifest, so a source that already held dangling values is not blamed on the
    restore; a restore that lost the large objects raises the count."""
    out: list[dict[str, Any]] = []
    for tbl, col in conn.execute(_LO_COLUMNS, {"schemas": list(schemas)}).fetchall():
        schema, name = tbl.split(".", 1)
        q = sql.SQL("SELECT count(*) FILTER (WHERE v IS NOT NULL), count(*) FILTER (WHERE v IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM pg_largeobject_metadata m WHERE m.oid = v)) FROM (SELECT {}::oid AS v FROM {}) s"
                    ).format(sql.Identifier(col), sql.Identifier(schema, name))
        r = conn.execute(q).fetchone()
        assert r is not None
        out.append({"tbl": tbl, "name": col, "references": int(r[0]), "unresolved": int(r[1])})
    return out


def catalog_objects(conn: psycopg.Connection, schemas: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """Every kind in TABLE_KINDS and NAMED_KINDS as JSON rows (see the module docstring).

    Materialized views carry ``rows`` and ``digest`` (None while not populated: a SELECT would fail).
    Raises psycopg errors as they come (a check turns them into ``errored``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        for kind, q in QUERIES.items():
            out[kind] = [dict(r) for r in cur.execute(q, {"schemas": list(schemas)}).fetchall()]
    for mv in out["matviews"]:
        mv["rows"], mv["digest"] = _matview_digest(conn, mv["name"]) if mv["populated"] else (None, None)
    out["large_objects"] = large_object_rows(conn)
    out["large_object_refs"] = large_object_refs(conn, schemas)
    return out
