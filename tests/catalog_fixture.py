"""A database holding every kind of object pg_dump's own tests create (src/bin/pg_dump/t/002_pg_dump.pl:
partitioned tables, inheritance, a dropped column, publications, policies, comments, default privileges,
large objects, event triggers, a materialized view, domains, enums, collations, ...), in schema ``public``
and a second schema ``app``. Written for restore-drill's catalog checks; a sound pg_dump/pg_restore round
trip of it must pass every check.

Roles are cluster-wide, so they are created if missing and never dropped (other tests' databases on the
same server may hold grants to them).
"""

from __future__ import annotations

ROLES = """
DO $$ BEGIN CREATE ROLE rd_reporting NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE rd_tenant NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
"""

EVERY_KIND = ROLES + """
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'the application';
CREATE COLLATION app.c_binary (provider = libc, locale = 'C');
CREATE COLLATION app.c_spare (provider = libc, locale = 'POSIX');
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.positive AS integer NOT NULL CHECK (VALUE > 0);
CREATE TYPE app.pair AS (a integer, b text);
CREATE TYPE app.floatrange AS RANGE (subtype = float8);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION app.noop_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;

CREATE TABLE app.customers (id serial PRIMARY KEY, gone text, name text COLLATE app.c_binary NOT NULL,
                            m app.mood DEFAULT 'ok', qty app.positive DEFAULT 1, p app.pair, r app.floatrange);
ALTER TABLE app.customers DROP COLUMN gone;  -- a dropped column: later columns keep their old number
COMMENT ON TABLE app.customers IS 'who buys';
COMMENT ON COLUMN app.customers.name IS 'display name';
INSERT INTO app.customers (name, m, qty, p, r)
    SELECT 'c' || g, (ARRAY['sad','ok','happy'])[1 + g % 3]::app.mood, g, ROW(g, 'x')::app.pair, app.floatrange(g, g + 1)
    FROM generate_series(1, 40) g;

CREATE TABLE app.notes (tenant text NOT NULL, body text NOT NULL);
INSERT INTO app.notes SELECT 'tenant-' || (g % 3), 'note ' || g FROM generate_series(1, 30) g;
ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_by_tenant ON app.notes FOR SELECT TO rd_tenant USING (tenant = current_setting('app.tenant', true));
GRANT SELECT ON app.notes TO rd_tenant;
GRANT SELECT ON app.customers TO rd_reporting;
GRANT SELECT (body) ON app.notes TO rd_reporting;
GRANT USAGE ON SCHEMA app TO rd_reporting;
REVOKE EXECUTE ON FUNCTION app.touch() FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO rd_reporting;

CREATE TABLE app.events (id bigint GENERATED ALWAYS AS IDENTITY, at date NOT NULL, what text,
                         PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO app.events (at, what) SELECT date '2025-06-01' + g * 3, 'e' || g FROM generate_series(1, 100) g;
CREATE TRIGGER customers_touch BEFORE UPDATE ON app.customers FOR EACH ROW EXECUTE FUNCTION app.touch();

CREATE TABLE public.base (id int PRIMARY KEY, label text);
CREATE TABLE public.derived (extra text) INHERITS (public.base);
INSERT INTO public.base VALUES (1, 'b1'), (2, 'b2');
INSERT INTO public.derived VALUES (3, 'd3', 'x');

CREATE TABLE public.docs (id int PRIMARY KEY, title text, blob oid);
INSERT INTO public.docs SELECT g, 'doc ' || g, lo_from_bytea(0, convert_to(repeat('page ' || g, 50), 'UTF8'))
    FROM generate_series(1, 5) g;
DO $$ BEGIN EXECUTE format('COMMENT ON LARGE OBJECT %s IS %L', (SELECT min(blob) FROM public.docs), 'first'); END $$;

CREATE VIEW app.happy_customers AS SELECT id, name FROM app.customers WHERE m = 'happy';
CREATE MATERIALIZED VIEW app.events_per_month AS
    SELECT date_trunc('month', at) AS month, count(*) AS n FROM app.events GROUP BY 1;
CREATE MATERIALIZED VIEW app.never_filled AS SELECT 1 AS one WITH NO DATA;
COMMENT ON VIEW app.happy_customers IS 'marketing list';

CREATE PUBLICATION rd_pub FOR TABLE app.customers, public.docs;
CREATE EVENT TRIGGER rd_log_ddl ON ddl_command_end EXECUTE FUNCTION app.noop_ddl();
"""

# Database-level settings need the database's own name, so they are applied separately.
DATABASE_SETTINGS = "ALTER DATABASE {db} SET work_mem = '8MB'"
