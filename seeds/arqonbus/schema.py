"""The projector migration (the very file the runbook applies) and an unrelated app in the same database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from .._copy import copy_rows, reset_identity
from .._pools import pools
from .._sql import run_script

MIGRATION_FILE: Path = Path(__file__).with_name("20260220_continuum_projector_postgres.sql")
MIGRATION_RELPATH = "scripts/migrations/20260220_continuum_projector_postgres.sql"

PROJECTION = "public.arqonbus_continuum_projection"
EVENTS = "public.arqonbus_continuum_projection_events"
DLQ = "public.arqonbus_continuum_projection_dlq"
PROJECTOR_TABLES: tuple[str, ...] = (PROJECTION, EVENTS, DLQ)

# Another application sharing the database (a billing service): a table-scoped restore of the
# projector must leave these exactly as they were.
OTHER_TABLES: tuple[str, ...] = ("public.billing_customers", "public.billing_invoices")

_OTHER_APP_SQL = """
CREATE TABLE IF NOT EXISTS public.billing_customers (
    customer_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text        NOT NULL UNIQUE,
    full_name   text        NOT NULL,
    country     char(2)     NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS public.billing_invoices (
    invoice_id  bigserial PRIMARY KEY,
    customer_id integer     NOT NULL REFERENCES public.billing_customers (customer_id) ON DELETE CASCADE,
    number      text        NOT NULL UNIQUE,
    amount_cents bigint     NOT NULL CHECK (amount_cents >= 0),
    currency    char(3)     NOT NULL DEFAULT 'EUR',
    status      text        NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void')),
    lines       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    issued_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS billing_invoices_customer_idx ON public.billing_invoices (customer_id);
"""

OTHER_APP_SEED = 99  # the unrelated app's data never varies with the drill seed
_BASE = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)


def apply_migration(conn: psycopg.Connection) -> None:
    """Apply the projector migration: the same file the runbook feeds to psql."""
    run_script(conn, MIGRATION_FILE.read_text(encoding="utf-8"))


def create_other_app(conn: psycopg.Connection, *, customers: int = 12) -> None:
    """The unrelated billing app's schema and a little deterministic data (committed)."""
    p = pools()
    rng = random.Random(OTHER_APP_SEED)
    with conn.transaction():
        conn.execute(_OTHER_APP_SQL)  # type: ignore[arg-type]
        if conn.execute("SELECT count(*) FROM public.billing_customers").fetchone() != (0,):
            return
        cust = []
        for i in range(1, customers + 1):
            name = f"{p.pick(rng, p.first_names)} {p.pick(rng, p.last_names)}"
            cust.append((i, f"customer{i}.{p.pick(rng, p.emails)}", name, p.pick(rng, p.countries),
                         _BASE + timedelta(days=i, seconds=rng.randrange(86400))))
        inv = []
        n = 0
        for cid, *_ in cust:
            for _k in range(rng.randrange(1, 5)):
                n += 1
                lines = [{"sku": f"SKU-{rng.randrange(1000, 9999)}", "qty": rng.randrange(1, 4),
                          "description": p.pick(rng, p.sentences)} for _ in range(rng.randrange(1, 4))]
                inv.append((n, cid, f"INV-2025-{n:05d}", rng.randrange(0, 250_000),
                            rng.choice(["draft", "open", "paid", "paid", "void"]), lines,
                            _BASE + timedelta(days=30 + n, seconds=rng.randrange(86400))))
        copy_rows(conn, "public.billing_customers",
                  ("customer_id", "email", "full_name", "country", "created_at"), cust)
        copy_rows(conn, "public.billing_invoices",
                  ("invoice_id", "customer_id", "number", "amount_cents", "status", "lines", "issued_at"), inv)
        reset_identity(conn, "public.billing_customers", "customer_id")
        reset_identity(conn, "public.billing_invoices", "invoice_id")
