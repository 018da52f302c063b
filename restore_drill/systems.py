"""System definitions: what a drill restores, declared in a TOML file (DESIGN: systems are data).

ArqonBus and Pegasus are two such files in ``drills/systems/``; a user adds theirs without Python.
Every field is validated here with a one-line error naming the file and the field.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInput
from .seeds.hooks import GENERATORS

# restore_drill.drills is the drills/ folder (mapped in pyproject.toml), in a checkout and in a wheel.
BUILTIN_DIR = Path(str(importlib.resources.files("restore_drill.drills"))) / "systems"

BUILTIN_GENERATORS = tuple(GENERATORS)  # each serves its hooks from seeds/<name>/hooks.py


@dataclass(frozen=True)
class Invariant:
    name: str
    sql: str
    message: str
    check: str = "domain_invariants"  # which check reports it (projector_consistency for ArqonBus)


@dataclass(frozen=True)
class SystemDef:
    name: str
    path: Path
    description: str = ""
    aliases: tuple[str, ...] = ()  # other names a user may give (`--system continuum` = arqonbus)
    tables: tuple[str, ...] | None = None  # None = every table in `schemas`
    schemas: tuple[str, ...] = ("public",)
    table_scoped: bool = False  # the procedure restores only `tables`; blast_radius checks the rest
    storage_prefix: str | None = None  # None = Postgres-only system
    references: dict[str, str] = field(default_factory=dict)  # "schema.table.column" -> description
    # "schema.table.column" -> SQL expression over that table's row building the object key (media/000/001/x.jpg)
    reference_keys: dict[str, str] = field(default_factory=dict)
    # [database] exclude_data: tables whose rows the backup leaves out on purpose (pg_dump --exclude-table-data):
    # their schema is checked, their rows are expected absent after the restore
    exclude_data: tuple[str, ...] = ()
    versioning: bool = False
    generator: str | None = None
    seed_sql: Path | None = None
    seed_dump: Path | None = None
    seed_objects: Path | None = None
    runbook: Path | None = None
    binding: Path | None = None
    corrected: Path | None = None
    corrected_binding: Path | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    snapshot_tolerance_s: float = 3600.0
    invariants: tuple[Invariant, ...] = ()
    skip_checks: tuple[str, ...] = ()
    restore_allowlist: tuple[str, ...] = ()
    # [checks] privileges = false: grants/owners/default privileges declared out of scope (--no-owner runbooks)
    privileges: bool = True
    retention_days: int = 7
    smoke_sql: str | None = None  # user systems: a write using column defaults, run then rolled back
    late_write_sql: str | None = None  # user systems: one valid write, for the late-writes disaster
    migration: Path | None = None  # a migration file re-applied by migration_idempotent
    # [procedure] runbook variables bound to the drill database's URL besides DATABASE_URL (ARQONBUS_POSTGRES_URL)
    database_url_variables: tuple[str, ...] = ()
    # [procedure] the runbook placeholder an operator fills with a sampled id (Pegasus: "<lecture-id>")
    sample_id_placeholder: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def has_storage(self) -> bool:
        return self.storage_prefix is not None


class _Reader:
    """Typed access to a parsed TOML table with errors that name file and field."""

    def __init__(self, data: dict[str, Any], path: Path, prefix: str = "") -> None:
        self.data, self.path, self.prefix = data, path, prefix

    def fail(self, key: str, what: str) -> BadInput:
        return BadInput(f"{self.path}: field {self.prefix}{key} {what}")

    def get(self, key: str, typ: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        if key not in self.data:
            if required:
                raise self.fail(key, "is required")
            return default
        v = self.data[key]
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, typ) or isinstance(v, bool) and typ is not bool:
            names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise self.fail(key, f"must be {names}, got {type(v).__name__} {v!r}")
        return v

    def table(self, key: str) -> _Reader:
        return _Reader(self.get(key, dict, {}), self.path, f"{self.prefix}{key}.")

    def path_(self, key: str, must_exist: bool = True) -> Path | None:
        v = self.get(key, str)
        if v is None:
            return None
        p = (self.path.parent / v).resolve()
        if must_exist and not p.exists():
            raise self.fail(key, f"names {v!r}, which does not exist (looked at {p})")
        return p

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            raise self.fail(extra[0], f"is not a known field (known: {', '.join(sorted(allowed))})")


def _positive(r: _Reader, key: str, default: float | None) -> float | None:
    v = r.get(key, float, default)
    if v is not None and v <= 0:
        raise r.fail(key, f"must be > 0, got {v}")
    return v


def load_system(path: Path) -> SystemDef:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"system definition {path} does not exist; run `restore-drill list` to see systems") from None
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{path}: not valid TOML ({e})") from None
    r = _Reader(data, path)
    r.unknown({"name", "aliases", "description", "database", "storage", "data", "procedure", "targets", "invariants",
               "checks", "retention", "smoke"})
    name = r.get("name", str, required=True)
    if not _is_name(name):
        raise r.fail("name", f"must be letters, digits, '-' or '_', got {name!r}")
    aliases = r.get("aliases", list, [])
    if not all(isinstance(a, str) and _is_name(a) and a != name for a in aliases):
        raise r.fail("aliases", f"must be a list of other names (letters, digits, '-' or '_'), got {aliases!r}")
    db = r.table("database")
    db.unknown({"tables", "schemas", "table_scoped", "migration", "exclude_data"})
    exclude = db.get("exclude_data", list, [])
    if not all(isinstance(t, str) and t for t in exclude):
        raise db.fail("exclude_data", 'must be a list of table names, e.g. ["public.sessions"]')
    tables = db.get("tables", (str, list), "all")
    if isinstance(tables, str):
        if tables != "all":
            raise db.fail("tables", f'must be "all" or a list of table names, got {tables!r}')
        table_tuple = None
    else:
        if not tables or not all(isinstance(t, str) and t for t in tables):
            raise db.fail("tables", "must be a non-empty list of table names")
        table_tuple = tuple(t if "." in t else f"public.{t}" for t in tables)
    st = r.table("storage")
    st.unknown({"prefix", "references", "versioning"})
    refs = st.get("references", dict, {})
    ref_keys: dict[str, str] = {}
    for col, desc in list(refs.items()):
        if isinstance(desc, dict) and set(desc) <= {"description", "key"} and isinstance(desc.get("key"), str) \
                and desc["key"].strip():
            ref_keys[col] = desc["key"]
            refs[col] = str(desc.get("description", col))
            desc = refs[col]
        if col.count(".") != 2 or not isinstance(desc, str):
            raise st.fail(f"references.{col}", 'must be "schema.table.column" = "description" or '
                                                '{ description = "...", key = "SQL expression building the key" }')
    prefix = st.get("prefix", str)
    if refs and prefix is None:
        raise st.fail("prefix", "is required when storage.references are given")
    d = r.table("data")
    d.unknown({"generator", "sql", "dump", "objects", "scale", "late_write_sql"})
    gen = d.get("generator", str)
    if gen is not None and gen not in BUILTIN_GENERATORS:
        raise d.fail("generator", f"names unknown generator {gen!r} (built in: {', '.join(BUILTIN_GENERATORS)})")
    sql, dump, objects = d.path_("sql"), d.path_("dump"), d.path_("objects")
    if gen is None and sql is None and dump is None:
        raise d.fail("generator", "or data.sql or data.dump is required: how does data get in?")
    p = r.table("procedure")
    p.unknown({"runbook", "binding", "corrected", "corrected_binding", "database_url_variables", "sample_id_placeholder"})
    url_vars = p.get("database_url_variables", list, [])
    if not all(isinstance(v, str) and v.isidentifier() and v.upper() == v for v in url_vars):
        raise p.fail("database_url_variables", f"must be a list of variable names like \"APP_DATABASE_URL\", got {url_vars!r}")
    sample_placeholder = p.get("sample_id_placeholder", str)
    if sample_placeholder is not None and not (sample_placeholder.startswith("<") and sample_placeholder.endswith(">")):
        raise p.fail("sample_id_placeholder", f'must look like "<lecture-id>", got {sample_placeholder!r}')
    t = r.table("targets")
    t.unknown({"rto_s", "rpo_s", "snapshot_tolerance_s", "newest_write"})  # newest_write: A's RPO (seeds/ledger.py)
    inv: list[Invariant] = []
    for i, item in enumerate(r.get("invariants", list, [])):
        ir = _Reader(item if isinstance(item, dict) else {}, path, f"invariants[{i}].")
        ir.unknown({"name", "sql", "message", "check"})
        inv.append(Invariant(ir.get("name", str, required=True), ir.get("sql", str, required=True),
                             ir.get("message", str, required=True), ir.get("check", str, "domain_invariants")))
    c = r.table("checks")
    c.unknown({"skip", "restore_allowlist", "privileges"})
    sm = r.table("smoke")
    sm.unknown({"sql"})
    ret = r.table("retention")
    ret.unknown({"days_required"})
    days = ret.get("days_required", int, 7)
    if days < 1:
        raise ret.fail("days_required", f"must be >= 1, got {days}")
    return SystemDef(
        name=name, path=path.resolve(), description=r.get("description", str, ""), aliases=tuple(aliases),
        tables=table_tuple,
        schemas=tuple(db.get("schemas", list, ["public"])), table_scoped=db.get("table_scoped", bool, False),
        storage_prefix=prefix, references=dict(refs), reference_keys=ref_keys,
        exclude_data=tuple(t if "." in t else f"public.{t}" for t in exclude), versioning=st.get("versioning", bool, False),
        generator=gen, seed_sql=sql, seed_dump=dump, seed_objects=objects,
        runbook=p.path_("runbook"), binding=p.path_("binding"), corrected=p.path_("corrected"),
        corrected_binding=p.path_("corrected_binding"),
        rto_s=_positive(t, "rto_s", None), rpo_s=_positive(t, "rpo_s", None),
        snapshot_tolerance_s=_positive(t, "snapshot_tolerance_s", 3600.0) or 3600.0,
        invariants=tuple(inv), skip_checks=tuple(c.get("skip", list, [])),
        restore_allowlist=tuple(c.get("restore_allowlist", list, [])), privileges=c.get("privileges", bool, True),
        retention_days=days,
        smoke_sql=sm.get("sql", str), late_write_sql=d.get("late_write_sql", str), migration=db.path_("migration"),
        database_url_variables=tuple(url_vars), sample_id_placeholder=sample_placeholder,
        raw=data,
    )


def _is_name(s: Any) -> bool:
    return isinstance(s, str) and bool(s) and all(c.isalnum() or c in "-_" for c in s)


def builtin_systems() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


def canonical_name(name: str) -> str:
    """A built-in system's name for ``name``, which may be one of its ``aliases`` (``continuum`` ->
    ``arqonbus``); any other name is returned as it is."""
    builtins = builtin_systems()
    if name in builtins:
        return name
    for stem, path in builtins.items():
        aliases = tomllib.loads(path.read_text()).get("aliases", [])
        if isinstance(aliases, list) and name in aliases:
            return stem
    return name


def resolve_system(name_or_path: str) -> SystemDef:
    """A built-in name (``pegasus``) or alias (``continuum``), or a path to a definition file."""
    builtins = builtin_systems()
    name_or_path = canonical_name(name_or_path)
    if name_or_path in builtins:
        return load_system(builtins[name_or_path])
    p = Path(name_or_path)
    if p.is_dir():  # a folder named like the system: its definition is NAME.toml here, or inside it
        inner = sorted(p.glob("*.toml"))
        hint = f"{p / (p.name + '.toml')}" if (p / (p.name + ".toml")).is_file() else (str(inner[0]) if inner else "")
        if Path(f"{name_or_path}.toml").is_file():
            return load_system(Path(f"{name_or_path}.toml"))
        raise BadInput(f"--system {name_or_path}: {p} is a folder, not a definition; pass the .toml file"
                       + (f", e.g. --system {hint}" if hint else ""))
    if p.suffix == ".toml" or p.exists():
        return load_system(p)
    if Path(f"{name_or_path}.toml").is_file():  # `restore-drill list` shows local definitions by name
        return load_system(Path(f"{name_or_path}.toml"))
    raise BadInput(
        f"unknown system {name_or_path!r}; use one of {', '.join(builtins) or '(none)'} or a path to a .toml definition"
    )
