"""Systems are data plus hooks: what is specific to ArqonBus or Pegasus lives in their definition files
and their own hooks packages, and generic code reads it from there.

Covers restore_drill.seeds.hooks (the SystemHooks protocol, DefinitionHooks for TOML-only systems, the
built-in generators' hooks) and the system-definition fields that replaced names kept in code:
aliases (``continuum``), database_url_variables (``ARQONBUS_POSTGRES_URL``), sample_id_placeholder.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from restore_drill import systems
from restore_drill.errors import BadInput
from restore_drill.fixtures import binaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.environment import bind
from restore_drill.fixtures.s3 import Bucket
from restore_drill.seeds import hooks as hooks_mod
from restore_drill.seeds.hooks import GENERATORS, DefinitionHooks, SystemHooks, hooks_for

ROOT = Path(__file__).resolve().parents[1]


def _system(tmp_path: Path, extra: str = "", data: str = 'sql = "seed.sql"') -> Path:
    (tmp_path / "seed.sql").write_text("CREATE TABLE IF NOT EXISTS t (id serial PRIMARY KEY, v text NOT NULL DEFAULT 'x');"
                                       "INSERT INTO t (v) VALUES ('a'), ('b');")
    (tmp_path / "migrate.sql").write_text("ALTER TABLE t ADD COLUMN IF NOT EXISTS w int;")
    p = tmp_path / "shop.toml"
    p.write_text(f'name = "shop"\n{extra}\n[data]\n{data}\n')
    return p


def test_every_built_in_generator_serves_the_whole_protocol_from_its_own_package() -> None:
    wanted = {n for n, f in inspect.getmembers(SystemHooks, inspect.isfunction) if not n.startswith("_")}
    assert wanted == {"load", "sample_ids", "late_writer", "migration", "smoke"}
    assert tuple(GENERATORS) == systems.BUILTIN_GENERATORS
    for name, path in systems.builtin_systems().items():
        sysdef = systems.load_system(path)
        h = hooks_for(sysdef)
        assert sysdef.generator == name and type(h).__module__ == f"restore_drill.seeds.{name}.hooks"
        assert isinstance(h, DefinitionHooks) and all(callable(getattr(h, m)) for m in wanted)
        assert h.late_writer() is not None  # both built-ins can drill late-writes


def test_a_definition_only_system_gets_what_its_toml_says(tmp_path: Path, pg_database: Database) -> None:
    bare = systems.load_system(_system(tmp_path))
    h = hooks_for(bare)
    assert type(h) is DefinitionHooks
    assert h.late_writer() is None and h.migration(pg_database) is None
    assert h.smoke(pg_database, None, None, None) is None
    full = systems.load_system(_system(
        tmp_path, data='sql = "seed.sql"\nlate_write_sql = "INSERT INTO t (v) VALUES (\'late\')"',
        extra='[database]\nmigration = "migrate.sql"\n[smoke]\nsql = "INSERT INTO t DEFAULT VALUES"'))
    h = hooks_for(full)
    with pg_database.connect() as c:
        out = h.load(c, None, None, None, seed=1, scale=2)
        assert out["sql"].endswith("seed.sql") and c.execute("SELECT count(*) FROM t").fetchone() == (4,)
        assert h.sample_ids(c, 3, 1) == []
        writer = h.late_writer()
        assert writer is not None and writer(c) == 1
        c.commit()
    migrate = h.migration(pg_database)
    smoke = h.smoke(pg_database, None, None, None)
    assert migrate is not None and smoke is not None
    migrate()
    migrate()  # the migration file is idempotent: applying it twice is fine
    flow, cleanup = smoke
    assert flow() == {"rows_written": 1, "rolled_back": True}
    cleanup(None)
    with pg_database.connect() as c:
        assert c.execute("SELECT count(*) FROM t").fetchone() == (5,)  # the smoke write was rolled back
        assert c.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' "
                         "AND column_name = 'w'").fetchone() == (1,)


def test_objects_without_storage_name_the_field(tmp_path: Path, pg_database: Database) -> None:
    (tmp_path / "objects").mkdir()
    sysdef = systems.load_system(_system(tmp_path, data='sql = "seed.sql"\nobjects = "objects"'))
    with pg_database.connect() as c, pytest.raises(BadInput, match="data.objects needs object storage"):
        hooks_for(sysdef).load(c, None, None, None, seed=1, scale=1)


def test_pegasus_hooks_sample_lecture_ids_and_need_storage(pg_database: Database, s3_bucket: Bucket) -> None:
    h = hooks_for(systems.resolve_system("pegasus"))
    with pg_database.connect() as c:
        with pytest.raises(BadInput, match="pegasus needs object storage"):
            h.load(c, None, None, None, seed=1, scale=1)
        c.rollback()
        h.load(c, s3_bucket.endpoint.client(), s3_bucket.name, "pegasus", seed=3, scale=1)
        c.commit()
        ids = h.sample_ids(c, 3, 3)
        assert len(ids) == 3 and ids == h.sample_ids(c, 3, 3)
        assert c.execute("SELECT count(*) FROM public.lectures WHERE id = ANY(%s)", (ids,)).fetchone() == (3,)


def test_aliases_and_runbook_variables_come_from_the_definition(pg_database: Database, tmp_path: Path) -> None:
    arq = systems.resolve_system("continuum")
    assert arq.name == "arqonbus" and systems.canonical_name("continuum") == "arqonbus"
    assert systems.canonical_name("pegasus") == "pegasus" and systems.canonical_name("elsewhere") == "elsewhere"
    assert arq.database_url_variables == ("ARQONBUS_POSTGRES_URL",)
    peg = systems.resolve_system("pegasus")
    assert peg.database_url_variables == () and peg.sample_id_placeholder == "<lecture-id>"
    bins = binaries.client_for(pg_database.major)
    env = bind(db=pg_database, client_bins=bins, workdir=tmp_path, database_url_variables=arq.database_url_variables)
    assert env.variables["ARQONBUS_POSTGRES_URL"] == env.variables["DATABASE_URL"] == pg_database.url
    env = bind(db=pg_database, client_bins=bins, workdir=tmp_path, database_url_variables=peg.database_url_variables)
    assert "ARQONBUS_POSTGRES_URL" not in env.variables  # a Pegasus runbook sees no ArqonBus variable


@pytest.mark.parametrize("toml, field", [
    ('aliases = "continuum"', "aliases"),
    ('aliases = ["shop"]', "aliases"),
    ('aliases = ["two words"]', "aliases"),
    ('[procedure]\ndatabase_url_variables = ["lower_case"]', "procedure.database_url_variables"),
    ('[procedure]\nsample_id_placeholder = "lecture-id"', "procedure.sample_id_placeholder"),
])
def test_bad_system_fields_name_file_and_field(tmp_path: Path, toml: str, field: str) -> None:
    with pytest.raises(BadInput, match=rf"shop.toml: field {re.escape(field)} "):
        systems.load_system(_system(tmp_path, extra=toml))


def test_unknown_generator_is_refused_with_the_built_in_names(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="names unknown generator 'nope' \\(built in: arqonbus, pegasus\\)"):
        systems.load_system(_system(tmp_path, data='generator = "nope"'))


def test_no_system_name_is_kept_in_generic_code() -> None:
    """The names a system owns live in drills/systems/*.toml and seeds/<system>/, not in generic modules."""
    generic = [p for d in ("restore_drill", "fixtures", "checks", "reports") for p in (ROOT / d).rglob("*.py")]
    generic.append(Path(hooks_mod.__file__))
    offenders = {str(p.relative_to(ROOT)): w for p in generic
                 for w in ('"ARQONBUS_POSTGRES_URL"', '"continuum"', "lecture_ids", 'generator == "')
                 if w in p.read_text()}
    assert offenders == {}
