"""Binding files: how one operator's runbook is run against disposable infrastructure.

A binding is a small TOML file kept beside the drill. It finds runbook sections by heading text
(so an operator's edited copy with the same headings still binds), assigns each to a phase, says
where the drill seeds data and injects the disaster, binds the placeholders operators leave in
commands, puts the project's own files where the runbook expects them, and names the steps that
cannot run here (with the reason) or that the project replaces (saying so).

Format (every key optional except ``[phases]``)::

    name = "pegasus"
    system = "pegasus"
    backup_globs = ["pegasus_*.dump"]        # files the backup phase makes (relative to the workdir)
    tables = ["public.lectures"]             # tables the backup is meant to hold (for the record)
    dirs = ["backups"]                       # empty folders the runbook expects
    [phases]                                 # setup | backup | restore | verify | never
    backup = ["Logical backup (self-managed Postgres)"]    # heading, or "Parent > Child"
    [hooks]                                  # seed | disaster | after_backup | after_restore
    seed = "before-phase:backup"             # before:<heading> | after:<heading> | (before|after)-phase:<phase>
    [placeholders]
    "YYYY-MM-DD" = { source = "backup_date" }   # backup_stem | backup_date | value | given | sql
    [variables]                              # extra runbook variables; {NAME} expands bound values
    RESTORE_PREFIX = "{S3_PREFIX}-{backup_date}"
    [snapshot]                               # the storage snapshot the backup phase writes
    bucket = "{BACKUP_BUCKET}"
    prefix = "{S3_PREFIX}-{backup_date}"
    [[files]]                                # project files put where the runbook expects them
    path = "scripts/migrations/x.sql"
    from = "module:restore_drill.seeds.arqonbus:MIGRATION_FILE"   # or package:<pkg>:<relpath> or a path
    [[steps]]                                # per-step rules; match by section + contains/index/line
    section = "Integrity Verification"
    contains = "conda run"
    action = "not_run"                       # run | not_run | replace
    reason = "..."
    on_failure = "continue"                  # continue | stop
    phase = "backup"                         # this block's phase, when one heading holds backup and restore
    [names]                                  # literal names the runbook uses: declared, never rewritten
    database = "mataroa"                     # the drill's database carries this name (PGDATABASE)
    user = "mataroa"                         # the role the runbook connects as (PGUSER), created
    roles = ["app_reader"]                   # other roles it names (--role, --owner, GRANT ... TO), created
    containers = ["immich_postgres"]         # docker/compose/kubectl exec targets that are the drill's database
    remotes = ["backup"]                     # rclone remotes / mc aliases meaning the drill's S3 endpoint
    hosts = ["db.internal"]                  # database hosts the runbook names (-h): they reach the drill's server
    buckets = { live = "app-media", backup = "app-backups" }   # the drill's buckets carry these names (moto)
    folders = { "/srv/app" = "." }           # host folders it names -> inside the working folder (bind mounts)
    tools = { "/usr/local/bin/aws" = "aws" } # absolute tool paths it calls -> the drill's tool (read-only)
"""

from __future__ import annotations

import importlib
import importlib.resources
import posixpath
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from restore_drill.errors import BadInput

from .parser import Runbook, Section, Step, normalize

PHASES = ("setup", "backup", "restore", "verify", "never")
RUN_PHASES = ("setup", "backup", "restore", "verify")
HOOK_NAMES = ("seed", "disaster", "after_backup", "after_restore")
PLACEHOLDER_SOURCES = ("backup_stem", "backup_date", "value", "given", "sql")
ACTIONS = ("run", "not_run", "replace")
DEFAULT_HOOK_POINTS = {
    "seed": "before-phase:backup",
    "after_backup": "after-phase:backup",
    "disaster": "after-phase:backup",
    "after_restore": "after-phase:restore",
}
# What an operator's fill-in looks like inside a command: <backup-file>, <lecture-id>.
PLACEHOLDER_TOKEN = re.compile(r"<[A-Za-z][A-Za-z0-9_-]*>")
_HOOK_POINT = re.compile(r"^(?P<where>before|after)(?P<phase>-phase)?:(?P<target>.+)$")


def _builtin_dir() -> Path:
    # drills/ is installed as restore_drill.drills; its bindings/ folder ships as package data.
    return Path(str(importlib.resources.files("restore_drill.drills").joinpath("bindings")))


@dataclass(frozen=True)
class PlaceholderSpec:
    token: str
    source: str
    value: str = ""  # literal for "value", query for "sql"


@dataclass(frozen=True)
class FileSpec:
    path: str  # relative to the workdir
    source: Path  # resolved project file


@dataclass(frozen=True)
class Names:
    """Literal names a runbook uses for the drill's infrastructure (``[names]``).

    ``database``: the drill's database is created under this name (empty: a scratch ``drill_*`` name).
    ``user``: the role the runbook connects as; created (LOGIN, SUPERUSER, the drill's password) on a
    disposable server. ``roles``: further roles the runbook names, created LOGIN with the same password
    ("postgres" as SUPERUSER, as initdb makes it). ``containers``: container, compose-service and pod
    names that ``docker exec``/``docker compose exec``/``kubectl exec`` may enter: each means the drill's
    database (see ``wrappers``).
    ``folders``: host folder the runbook names (absolute, e.g. ``/srv/app``) -> a folder inside the drill's
    working folder (relative, ``"."`` = the working folder itself). ``tools``: absolute tool path the runbook
    calls (``/usr/local/bin/aws``) -> the name of the drill's tool (found on the step's PATH). Both are shown
    to each confined step at the runbook's path by bind mounts in that step's private mount namespace
    (``sandbox.confine.PathMount``); the host's real path is never created or changed.
    """

    database: str = ""
    user: str = ""
    roles: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    remotes: tuple[str, ...] = ()  # rclone remotes / mc aliases (found in rclone lines too) -> the drill's S3
    buckets: dict[str, str] = field(default_factory=dict)  # "live"/"backup" -> the bucket name the runbook uses
    hosts: tuple[str, ...] = ()  # database host names the runbook passes to -h: PGHOSTADDR points them here
    folders: dict[str, str] = field(default_factory=dict)  # "/srv/app" -> "." (inside the working folder)
    tools: dict[str, str] = field(default_factory=dict)  # "/usr/local/bin/aws" -> "aws" (the drill's tool)

    @property
    def all_roles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for r in (self.user, *self.roles) if r))


@dataclass(frozen=True)
class SandboxAllowance:
    """What a binding declares its steps need beyond the sandbox's defaults (``[sandbox]``).

    ``read_data_directory``: steps of the backup phase may READ the drill server's own data directory
    (read-only; nothing else of the host). Backup tools that copy the cluster's files themselves instead of
    streaming them through the replication protocol need it: ``barman-cloud-backup`` asks the server for
    ``data_directory`` and reads it (Barman's docs: barman-cloud-backup "must run on the PostgreSQL
    server"). Only a drill that started that server on this machine (a physical drill) can grant it.
    """

    read_data_directory: bool = False

    @property
    def declared(self) -> bool:
        return self.read_data_directory


@dataclass(frozen=True)
class StepRule:
    section: str
    contains: str | None = None
    index: int | None = None
    line: int | None = None
    action: str = "run"
    reason: str = ""
    run: str | None = None  # shell command the project runs instead (action = replace)
    hook: str | None = None  # name of a replacement callable (action = replace)
    on_failure: str = "continue"
    note: str = ""
    phase: str = ""  # the block's own phase, overriding its section's (one heading, backup and restore blocks)


@dataclass(frozen=True)
class HookPoint:
    hook: str
    where: Literal["before", "after"]
    phase_level: bool
    target: str  # a phase name or a section name

    def __str__(self) -> str:
        return f"{self.where}{'-phase' if self.phase_level else ''}:{self.target}"


@dataclass(frozen=True)
class SnapshotSpec:
    bucket: str
    prefix: str


@dataclass(frozen=True)
class StandinSpec:
    """What the stand-in integrity API reads: one query for the lecture row, queries for its keys."""

    lecture_sql: str
    key_sql: tuple[str, ...]


@dataclass(frozen=True)
class Binding:
    name: str
    path: Path | None
    system: str = ""
    description: str = ""
    phases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hooks: dict[str, HookPoint] = field(default_factory=dict)
    placeholders: dict[str, PlaceholderSpec] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    files: tuple[FileSpec, ...] = ()
    dirs: tuple[str, ...] = ()
    steps: tuple[StepRule, ...] = ()
    backup_globs: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    snapshot: SnapshotSpec | None = None
    standin: StandinSpec | None = None
    names: Names = field(default_factory=Names)
    sandbox: SandboxAllowance = field(default_factory=SandboxAllowance)

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else self.name


@dataclass(frozen=True)
class PlannedStep:
    section: Section
    step: Step
    phase: str
    rule: StepRule | None


@dataclass(frozen=True)
class Plan:
    """The binding applied to one runbook: steps in execution order, hooks at their positions."""

    items: tuple[PlannedStep | HookPoint, ...]
    unassigned: tuple[Section, ...]  # sections without shell steps the binding does not name


# -- loading ----------------------------------------------------------------------------------------

def _err(where: str, msg: str) -> BadInput:
    return BadInput(f"binding {where}: {msg}")


def _str_list(where: str, key: str, v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _err(where, f"{key} must be a list of strings")
    return tuple(v)


def _resolve_source(where: str, src: str, base: Path | None) -> Path:
    if src.startswith("module:"):
        try:
            mod_name, attr = src[len("module:"):].rsplit(":", 1)
            value = getattr(importlib.import_module(mod_name), attr)
        except (ValueError, ImportError, AttributeError) as e:
            raise _err(where, f"file source {src!r} cannot be loaded ({e}); use module:<module>:<ATTR>") from None
        path = Path(value)
    elif src.startswith("package:"):
        try:
            pkg, rel = src[len("package:"):].split(":", 1)
            path = Path(str(importlib.resources.files(pkg).joinpath(rel)))
        except (ValueError, ImportError) as e:
            raise _err(where, f"file source {src!r} cannot be loaded ({e}); use package:<package>:<relpath>") from None
    else:
        path = Path(src) if Path(src).is_absolute() or base is None else base / src
    if not path.is_file():
        raise _err(where, f"file source {src!r} resolves to {path}, which does not exist")
    return path


def parse_binding(data: dict[str, Any], *, name: str, path: Path | None = None) -> Binding:
    """Validate a binding's TOML data; every mistake is a BadInput naming the key."""
    where = str(path) if path is not None else name
    known = {"name", "system", "description", "phases", "hooks", "placeholders", "variables", "files", "dirs",
             "steps", "backup_globs", "tables", "snapshot", "standin_api", "names", "sandbox"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise _err(where, f"unknown key(s) {unknown}; known keys: {sorted(known)}")

    phases_raw = data.get("phases")
    if not isinstance(phases_raw, dict) or not phases_raw:
        raise _err(where, "needs a [phases] table assigning runbook sections to setup/backup/restore/verify/never")
    phases: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for phase, secs in phases_raw.items():
        if phase not in PHASES:
            raise _err(where, f"unknown phase {phase!r}; phases are {', '.join(PHASES)}")
        phases[phase] = _str_list(where, f"phases.{phase}", secs)
        for s in phases[phase]:
            if normalize(s) in seen:
                raise _err(where, f"section {s!r} is in phases {seen[normalize(s)]!r} and {phase!r}; pick one")
            seen[normalize(s)] = phase

    hooks: dict[str, HookPoint] = {}
    hooks_raw = data.get("hooks", {})
    if not isinstance(hooks_raw, dict):
        raise _err(where, "[hooks] must be a table")
    for hook, point in {**DEFAULT_HOOK_POINTS, **hooks_raw}.items():
        if hook not in HOOK_NAMES:
            raise _err(where, f"unknown hook {hook!r}; hooks are {', '.join(HOOK_NAMES)}")
        m = _HOOK_POINT.match(point) if isinstance(point, str) else None
        if m is None:
            raise _err(where, f"hooks.{hook} = {point!r}: use before:<heading>, after:<heading>, "
                              "before-phase:<phase> or after-phase:<phase>")
        if m["phase"] and m["target"] not in RUN_PHASES:
            raise _err(where, f"hooks.{hook} names unknown phase {m['target']!r}; phases are {', '.join(RUN_PHASES)}")
        hooks[hook] = HookPoint(hook, m["where"], bool(m["phase"]), m["target"])  # type: ignore[arg-type]

    placeholders: dict[str, PlaceholderSpec] = {}
    ph_raw = data.get("placeholders", {})
    if not isinstance(ph_raw, dict):
        raise _err(where, "[placeholders] must be a table")
    for token, spec in ph_raw.items():
        if not token or token.strip() != token:
            raise _err(where, f"placeholder {token!r} must be non-empty text without surrounding spaces")
        if isinstance(spec, str):
            spec = {"source": "value", "value": spec}
        if not isinstance(spec, dict) or spec.get("source") not in PLACEHOLDER_SOURCES:
            raise _err(where, f"placeholder {token!r}: source must be one of {', '.join(PLACEHOLDER_SOURCES)}")
        if spec["source"] in ("value", "sql") and not isinstance(spec.get("value", spec.get("sql")), str):
            raise _err(where, f"placeholder {token!r}: source {spec['source']!r} needs a value")
        placeholders[token] = PlaceholderSpec(token, spec["source"], str(spec.get("value", spec.get("sql", ""))))

    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise _err(where, "[variables] must map NAME = \"template\"")

    base = path.parent if path is not None else None
    files = []
    for f in data.get("files", []):
        if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not isinstance(f.get("from"), str):
            raise _err(where, "each [[files]] entry needs path = \"relative/path\" and from = \"source\"")
        if Path(f["path"]).is_absolute() or ".." in Path(f["path"]).parts:
            raise _err(where, f"files path {f['path']!r} must be relative and stay inside the workdir")
        files.append(FileSpec(f["path"], _resolve_source(where, f["from"], base)))

    rules = []
    for r in data.get("steps", []):
        if not isinstance(r, dict) or not isinstance(r.get("section"), str):
            raise _err(where, "each [[steps]] entry needs section = \"heading\"")
        action = r.get("action", "run")
        if action not in ACTIONS:
            raise _err(where, f"step rule for {r['section']!r}: action {action!r} is not one of {', '.join(ACTIONS)}")
        if action in ("not_run", "replace") and not r.get("reason"):
            raise _err(where, f"step rule for {r['section']!r}: action {action!r} needs a reason for the report")
        if action == "replace" and not (r.get("run") or r.get("hook")):
            raise _err(where, f"step rule for {r['section']!r}: replace needs run = \"command\" or hook = \"name\"")
        if r.get("on_failure", "continue") not in ("continue", "stop"):
            raise _err(where, f"step rule for {r['section']!r}: on_failure must be continue or stop")
        if r.get("phase", "") not in ("", *PHASES):
            raise _err(where, f"step rule for {r['section']!r}: phase {r['phase']!r} is not one of {', '.join(PHASES)}")
        rules.append(StepRule(
            r["section"], r.get("contains"), r.get("index"), r.get("line"), action, r.get("reason", ""),
            r.get("run"), r.get("hook"), r.get("on_failure", "continue"), r.get("note", ""), r.get("phase", ""),
        ))

    snapshot = None
    if "snapshot" in data:
        s = data["snapshot"]
        if not isinstance(s, dict) or not isinstance(s.get("bucket"), str) or not isinstance(s.get("prefix"), str):
            raise _err(where, "[snapshot] needs bucket = \"template\" and prefix = \"template\"")
        snapshot = SnapshotSpec(s["bucket"], s["prefix"])

    standin = None
    if "standin_api" in data:
        s = data["standin_api"]
        if not isinstance(s, dict) or not isinstance(s.get("lecture_sql"), str):
            raise _err(where, "[standin_api] needs lecture_sql = \"SELECT ... WHERE id = %(id)s\" and key_sql = [...]")
        standin = StandinSpec(s["lecture_sql"], _str_list(where, "standin_api.key_sql", s.get("key_sql", [])))

    names = _names(where, data.get("names", {}))
    sb = data.get("sandbox", {})
    if not isinstance(sb, dict) or set(sb) - {"read_data_directory"} or not isinstance(
            sb.get("read_data_directory", False), bool):
        raise _err(where, "[sandbox] takes only read_data_directory = true|false (backup steps may read the drill "
                          "server's data directory)")

    return Binding(
        name=str(data.get("name", name)), path=path, names=names, system=str(data.get("system", "")),
        sandbox=SandboxAllowance(read_data_directory=bool(sb.get("read_data_directory", False))),
        description=str(data.get("description", "")), phases=phases, hooks=hooks, placeholders=placeholders,
        variables=dict(variables), files=tuple(files), dirs=_str_list(where, "dirs", data.get("dirs", [])),
        steps=tuple(rules), backup_globs=_str_list(where, "backup_globs", data.get("backup_globs", [])),
        tables=_str_list(where, "tables", data.get("tables", [])), snapshot=snapshot, standin=standin,
    )


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3 bucket naming rules (lower case, 3-63)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$")  # what the runbook may spell unquoted on a command line


def _names(where: str, raw: Any) -> Names:
    if not isinstance(raw, dict):
        raise _err(where, "[names] must be a table (database, user, roles, containers)")
    unknown = sorted(set(raw) - {"database", "user", "roles", "containers", "remotes", "buckets", "hosts",
                                 "folders", "tools"})
    if unknown:
        raise _err(where, f"[names] has unknown key(s) {unknown}; known: buckets, containers, database, folders, "
                          "hosts, remotes, roles, tools, user")
    for key in ("database", "user"):
        v = raw.get(key, "")
        if not isinstance(v, str) or (v and not _NAME.match(v)):
            raise _err(where, f"names.{key} = {v!r}: give the name as the runbook spells it (letters, digits, _ . $ -)")
    roles = _str_list(where, "names.roles", raw.get("roles", []))
    for r in roles:
        if not _NAME.match(r):
            raise _err(where, f"names.roles holds {r!r}: give each role as the runbook spells it")
    containers = _str_list(where, "names.containers", raw.get("containers", []))
    remotes = _str_list(where, "names.remotes", raw.get("remotes", []))
    buckets = raw.get("buckets", {})
    if not isinstance(buckets, dict) or set(buckets) - {"live", "backup"} or not all(
            isinstance(v, str) and _BUCKET.match(v) for v in buckets.values()):
        raise _err(where, "names.buckets must map live/backup to a bucket name as the runbook spells it, "
                          'e.g. { live = "app-media", backup = "app-backups" }')
    if len(set(buckets.values())) < len(buckets):
        raise _err(where, "names.buckets: live and backup must be two different buckets")
    hosts = _str_list(where, "names.hosts", raw.get("hosts", []))
    if not all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", h) for h in hosts):
        raise _err(where, f"names.hosts {list(hosts)}: give host names as the runbook spells them after -h")
    return Names(raw.get("database", ""), raw.get("user", ""), roles, containers, remotes, dict(buckets), hosts,
                 _host_paths(where, "folders", raw.get("folders", {})), _host_paths(where, "tools", raw.get("tools", {})))


# Host folders a step cannot be shown a runbook path over: the system folders it runs from, and the kernel's.
RESERVED_HOST_FOLDERS = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run",
             "/sbin", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/sbin", "/var")
_TOOL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def _host_paths(where: str, key: str, raw: Any) -> dict[str, str]:
    """``[names] folders`` / ``tools``: {absolute host path as the runbook spells it: inside the drill}.

    folders: value a relative folder inside the working folder (no ``..``); tools: value a tool name.
    Raises BadInput naming the entry and the form it needs."""
    example = '{ "/srv/app" = "." }' if key == "folders" else '{ "/usr/local/bin/aws" = "aws" }'
    if not isinstance(raw, dict):
        raise _err(where, f"names.{key} must map host paths to the drill's, e.g. {example}")
    out: dict[str, str] = {}
    for host, inside in raw.items():
        norm = posixpath.normpath(host) if isinstance(host, str) else ""
        if not norm.startswith("/") or norm != host.rstrip("/") or norm in RESERVED_HOST_FOLDERS or not isinstance(inside, str):
            raise _err(where, f"names.{key}: {host!r} = {inside!r}: give the absolute path exactly as the runbook "
                              f"spells it (not a system folder such as / or /usr), e.g. {example}")
        if key == "folders":
            rel = posixpath.normpath(inside or ".")
            if rel.startswith("/") or rel == ".." or rel.startswith("../"):
                raise _err(where, f"names.folders: {host!r} = {inside!r}: map it to a folder inside the drill's "
                                  'working folder ("." or a relative path such as "backups")')
            out[norm] = rel
        else:
            if not _TOOL.match(inside):
                raise _err(where, f"names.tools: {host!r} = {inside!r}: map it to the name of a tool the drill "
                                  'has (e.g. "aws", "pg_dump"), not a path')
            out[norm] = inside
    return out


def load_binding(path: str | Path) -> Binding:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"binding file {p} does not exist; pass an existing file with --binding") from None
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"binding file {p} is not valid TOML: {e}") from None
    return parse_binding(data, name=p.stem, path=p.resolve())


def builtin_names() -> list[str]:
    return sorted(p.stem for p in _builtin_dir().glob("*.toml"))


def builtin_binding(name: str) -> Binding:
    """The binding shipped for a built-in system ("arqonbus" or "pegasus", or an alias its definition declares)."""
    from restore_drill.systems import canonical_name

    alias = canonical_name(name)
    p = _builtin_dir() / f"{alias}.toml"
    if not p.is_file():
        raise BadInput(f"no built-in binding {name!r}; choose one of {', '.join(builtin_names())} or pass --binding FILE")
    return load_binding(p)


# -- applying a binding to a runbook ----------------------------------------------------------------

def _find(book: Runbook, name: str, where: str) -> Section:
    found = book.find(name)
    if not found:
        headings = "; ".join(repr(s.heading) for s in book.sections if s.heading)
        raise _err(where, f"names section {name!r}, which {book.source} does not have; its headings are {headings}")
    if len(found) > 1:
        lines = ", ".join(str(s.line) for s in found)
        raise _err(where, f"section {name!r} matches {len(found)} headings in {book.source} (lines {lines}); "
                          "name it as \"Parent > Child\"")
    return found[0]


def _rule_matches(rule: StepRule, step: Step) -> bool:
    if rule.index is not None and step.index != rule.index:
        return False
    if rule.line is not None and step.line != rule.line:
        return False
    return rule.contains is None or rule.contains in step.text


def plan(binding: Binding, book: Runbook) -> Plan:
    """Apply ``binding`` to ``book``: phase order, document order within a phase, hooks placed.

    Raises BadInput when the binding names a section the runbook lacks, leaves a section with
    shell steps without a phase, a rule matches no step, a hook sits in the wrong place, or a
    command to run holds a placeholder the binding does not bind.
    """
    where = binding.label
    phase_of: dict[int, str] = {}
    for phase, names in binding.phases.items():
        for n in names:
            phase_of[id(_find(book, n, where))] = phase
    rule_for: dict[int, StepRule] = {}
    for rule in binding.steps:
        sec = _find(book, rule.section, where)
        hits = [st for st in sec.steps if _rule_matches(rule, st)]
        if len(hits) != 1:
            raise _err(where, f"step rule for {rule.section!r} (contains={rule.contains!r}, index={rule.index}) "
                              f"matches {len(hits)} steps; it must match exactly one")
        rule_for[id(hits[0])] = rule

    missing = [s for s in book.sections if s.shell_steps and id(s) not in phase_of
               and not all(st.phase or getattr(rule_for.get(id(st)), 'phase', '') for st in s.shell_steps)]
    if missing:
        s = missing[0]
        raise _err(where, f"section {s.heading or '(before the first heading)'!r} (line {s.line}) of {book.source} "
                          f"has {len(s.shell_steps)} shell step(s) but no phase; add it under [phases]")

    def phase_of_step(sec: Section, st: Step) -> str:
        rule = rule_for.get(id(st))
        if rule is not None and rule.phase:
            return rule.phase
        if st.phase:
            return st.phase  # the runbook's own marker on the block (```bash restore-drill:backup)
        return phase_of.get(id(sec), "never")  # sections the binding does not name are not run

    ordered: list[PlannedStep] = []
    for phase in PHASES:
        for sec in book.sections:
            ordered += [PlannedStep(sec, st, phase, rule_for.get(id(st))) for st in sec.steps
                        if phase_of_step(sec, st) == phase]

    # Unbound placeholders in commands that will run are a binding error, found before anything runs.
    for ps in ordered:
        if ps.phase == "never" or ps.step.kind != "shell" or (ps.rule and ps.rule.action != "run"):
            continue
        for tok in PLACEHOLDER_TOKEN.findall(ps.step.text):
            if tok not in binding.placeholders:
                raise _err(where, f"command at {book.source}:{ps.step.line} holds placeholder {tok} that the binding "
                                  f"does not bind; add it under [placeholders]")

    items: list[PlannedStep | HookPoint] = list(ordered)
    for hp in sorted(binding.hooks.values(), key=lambda h: HOOK_NAMES.index(h.hook)):
        items.insert(_position(items, hp, book, where), hp)
    _check_hook_order(items, where)
    unassigned = tuple(s for s in book.sections if id(s) not in phase_of)
    return Plan(tuple(items), unassigned)


def _position(items: list[PlannedStep | HookPoint], hp: HookPoint, book: Runbook, where: str) -> int:
    def idx_of(pred: Any) -> list[int]:
        return [i for i, it in enumerate(items) if isinstance(it, PlannedStep) and pred(it)]

    if hp.phase_level:
        hits = idx_of(lambda it: it.phase == hp.target)
        if not hits:
            # An empty phase: place by phase order among the steps that exist.
            later = idx_of(lambda it: PHASES.index(it.phase) > PHASES.index(hp.target))
            return later[0] if later else len(items)
        return hits[0] if hp.where == "before" else hits[-1] + 1
    sec = _find(book, hp.target, where)
    hits = idx_of(lambda it: it.section is sec)
    if not hits:
        raise _err(where, f"hooks.{hp.hook} = {hp!s}: that section has no steps in any run phase; "
                          "anchor the hook to a section with steps or to a phase")
    return hits[0] if hp.where == "before" else hits[-1] + 1


def _check_hook_order(items: list[PlannedStep | HookPoint], where: str) -> None:
    """Seeding precedes the backup; the disaster falls between the last backup and the first restore step."""
    def pos(pred: Any) -> list[int]:
        return [i for i, it in enumerate(items) if pred(it)]

    backup = pos(lambda it: isinstance(it, PlannedStep) and it.phase == "backup")
    restore = pos(lambda it: isinstance(it, PlannedStep) and it.phase == "restore" and it.step.kind != "manual")
    for hp_i in pos(lambda it: isinstance(it, HookPoint)):
        hp = items[hp_i]
        assert isinstance(hp, HookPoint)
        if hp.hook == "seed" and backup and hp_i > backup[0]:
            raise _err(where, f"hooks.seed = {hp!s} comes after the backup starts; seed before the backup phase")
        if hp.hook == "disaster" and ((backup and hp_i < backup[-1]) or (restore and hp_i > restore[0])):
            raise _err(where, f"hooks.disaster = {hp!s} must fall after the last backup step and before the first "
                              "restore step")
