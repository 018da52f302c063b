"""Every vocabulary has one owner, and every place that lists it agrees with the owner: a check, disaster,
backend or report page that exists in one place and not another fails here.

Owners: checks -> ``checks/registry.py``; disasters -> ``restore_drill/disasters/registry.py``; Postgres and
S3 backends -> ``fixtures/postgres/registry.py``, ``fixtures/s3/registry.py``; report pages ->
``reports/pages/registry.py``; verdicts and exit codes -> ``reports.model.EXIT_CODES``; check statuses ->
``checks.result.Status``. Places compared: the CLI's choices (every command that takes the option), the
pytest plugin's options, the report JSON schema, ``restore-drill list`` and the README.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import click
import pytest

import restore_drill.cli as cli_package
from restore_drill import catalog, pytest_plugin
from restore_drill.checks import CHECK_NAMES
from restore_drill.checks.registry import names as check_names
from restore_drill.checks.result import Status
from restore_drill.cli import cli
from restore_drill.disasters import registry as disasters
from restore_drill.fixtures.postgres import registry as pg_registry
from restore_drill.fixtures.s3 import registry as s3_registry
from restore_drill.reports import validation
from restore_drill.reports.model import EXIT_CODES
from restore_drill.verify import CHECK_ORDER

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCHEMA = json.loads((ROOT / "reports" / "schema" / "report.schema.json").read_text(encoding="utf-8"))
DEFS = SCHEMA["$defs"]


def cli_choices(param: str) -> dict[str, tuple[str, ...]]:
    """Command name -> the choices of its ``param`` option, for every command (and group member) taking it."""
    out: dict[str, tuple[str, ...]] = {}

    def visit(cmd: click.Command, path: str) -> None:
        for p in cmd.params:
            if p.name == param and isinstance(p.type, click.Choice):
                out[path] = tuple(p.type.choices)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                visit(sub, f"{path} {name}".strip())

    visit(cli, "")
    return out


def plugin_option(flag: str) -> tuple[str | None, str]:
    """(default, help) of a pytest plugin option."""
    for opt, _key, default, help_ in pytest_plugin.OPTIONS:
        if opt == flag:
            return default, help_
    raise AssertionError(f"the pytest plugin has no --{flag}")


def readme_names(pattern: str) -> list[str]:
    """Names the README lists where ``pattern`` matches: group 1 is either a run of `name`s (only the
    backticked words count) or a|b|c (as in the configuration table)."""
    m = re.search(pattern, README, re.S)
    assert m, f"README lost the line matching {pattern!r}"
    text = m.group(1)
    if "`" in text:
        return re.findall(r"`([a-z][a-z0-9_-]*)`", text)
    return re.findall(r"[a-z][a-z0-9_-]*", text.replace("\\|", "|"))


def assert_schema_derives(path: tuple[str | int, ...], names: tuple[str, ...]) -> None:
    """The schema restore-drill validates with takes ``names`` from the registry at ``path``; the file keeps
    no hand-kept enum there (it would go stale) and its examples are registered names."""
    assert path in validation.REGISTRY_ENUMS, f"{'/'.join(map(str, path))} is not derived from its registry"
    assert validation.schema_node(validation.load_schema(), path)["enum"] == list(names)
    shipped = validation.schema_node(SCHEMA, path)
    assert "enum" not in shipped, f"report.schema.json {path[-1]}: a hand-kept enum; validation derives it"
    assert set(shipped["examples"]) <= set(names), f"report.schema.json {path[-1]} examples name unregistered {shipped['examples']}"


# -- backends ----------------------------------------------------------------------------------------

BACKENDS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("pg_backend", pg_registry, ("postgres",)),
    ("s3_backend", s3_registry, ("s3",)),
]


@pytest.mark.parametrize("param, registry, schema_key", BACKENDS, ids=["postgres", "s3"])
def test_backend_names_agree_everywhere(param: str, registry: Any, schema_key: tuple[str, ...],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    names = registry.NAMES
    assert registry.DEFAULT in names
    choices = cli_choices(param)
    assert {"run", "runbook", "verify-backup"} <= set(choices), choices
    for command, got in choices.items():
        assert got == names, f"restore-drill {command} --{param.replace('_', '-')}: {got} != registry {names}"
    default, help_ = plugin_option(param.replace("_", "-"))
    assert default == registry.DEFAULT and help_ == " | ".join(names)
    path = ("$defs", "environment", "properties", schema_key[0], "oneOf", 1, "properties", "backend")
    assert_schema_derives(path, names)
    flag, row = "--" + param.replace("_", "-"), "Postgres backend" if param == "pg_backend" else "S3 backend"
    assert readme_names(rf"\| {row} \| `{flag} ([a-z\\|]+)`") == list(names), f"README configuration table, {flag}"
    assert readme_names(rf"\| {row} \|[^\n]*\| ([a-z]+) \|\n") == [registry.DEFAULT], "README configuration table: the default"
    with pytest.raises(SystemExit):
        cli.main(["list"], prog_name="restore-drill")
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(f"{flag}: "))
    assert line == f"{flag}: " + ", ".join(n + (" (default)" if n == registry.DEFAULT else "") for n in names)
    start = README.index("## Architecture")
    architecture = README[start:README.index("\n## ", start + 5)]
    shown = re.search(rf"{schema_key[0]}/\s*\(([^)]*)\)", architecture)
    assert shown, f"README's architecture does not show the fixtures/{schema_key[0]}/ package"
    assert {f"{n}.py" for n in names} <= set(re.findall(r"[a-z_]+\.py", shown.group(1))), \
        f"README's architecture: fixtures/{schema_key[0]}/ ({shown.group(1)}) lacks a backend of {names}"


# -- disasters ---------------------------------------------------------------------------------------


def test_disaster_names_agree_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    names = disasters.NAMES
    assert tuple(catalog.DISASTERS) == names
    choices = cli_choices("disaster")
    assert {"run", "runbook"} <= set(choices), choices
    for command, got in choices.items():
        assert got == names, f"restore-drill {command} --disaster: {got} != registry {names}"
    assert readme_names(r"Disasters \(`--disaster`\): (.*?)\.\n") == list(names), "README's disaster list"
    assert all(d.disaster is None or d.disaster in names for d in catalog.DRILLS)
    with pytest.raises(SystemExit):
        cli.main(["list"], prog_name="restore-drill")
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("disasters: "))
    listed = line.removeprefix("disasters: ").split(", ")
    assert listed == list(names)


# -- checks ------------------------------------------------------------------------------------------


def test_check_names_agree_everywhere() -> None:
    names = set(check_names())
    assert set(CHECK_NAMES) == names
    assert set(CHECK_ORDER) <= names, f"verify-backup's matrix columns not registered: {set(CHECK_ORDER) - names}"
    assert set(readme_names(r"Checks \(stable names\): (.*?)\. Each is declared")) == names
    assert all(re.fullmatch(DEFS["check_name"]["pattern"], n) for n in names)


# -- procedures --------------------------------------------------------------------------------------


def test_procedure_names_agree_everywhere() -> None:
    assert_schema_derives(("$defs", "drill", "properties", "procedure"), catalog.PROCEDURES)
    assert cli_choices("procedure") == {"run": catalog.PROCEDURES}
    assert all(d.procedure in catalog.PROCEDURES for d in catalog.DRILLS)


# -- statuses and exit codes -------------------------------------------------------------------------


def test_statuses_and_exit_codes_agree_with_the_schema() -> None:
    assert set(DEFS["verdict"]["enum"]) == set(EXIT_CODES)
    assert EXIT_CODES == {"passed": 0, "failed": 1, "errored": 2}  # DESIGN: the exit statuses users script against
    assert set(DEFS["check_status"]["enum"]) == {s.value for s in Status}
    doc = " ".join((cli_package.__doc__ or "").split())
    assert "0 every drill passed, 1 a check or procedure failed, 2 errored" in doc


# -- report pages ------------------------------------------------------------------------------------


def test_every_page_a_run_folder_gets_is_registered_and_in_the_readme(tmp_path: Path) -> None:
    from restore_drill.reports.environment import capture_environment
    from restore_drill.reports.evidence import EVIDENCE_FILE, read_evidence
    from restore_drill.reports.model import RunReport
    from restore_drill.reports.pages import registry as pages
    from restore_drill.reports.writers import REPORT_FILES, write_run

    names = pages.names()
    assert len(set(names)) == len(names), f"two pages share a file name: {names}"
    modules = {p.stem for p in (ROOT / "reports" / "pages").glob("*.py")} - {"__init__", "interface", "registry"}
    declared = {importlib.import_module(f"restore_drill.reports.pages.{m}").PAGE.filename for m in modules}
    assert declared == set(names), f"page modules not in PAGES of reports/pages/registry.py: {declared - set(names)}"
    assert ("report.json", *names, EVIDENCE_FILE) == REPORT_FILES

    rep = RunReport(run_id="pages", command=["test"], environment=capture_environment(), started_at="2026-01-01T00:00:00Z")
    rep.finish()
    written = set(write_run(rep, tmp_path))
    assert written == set(REPORT_FILES)
    assert set(read_evidence(tmp_path)) == set(REPORT_FILES) - {EVIDENCE_FILE}  # every page is vouched for
    section = README[README.index("## Reports"):README.index("## Safety")]
    missing = sorted(p for p in written if p not in section)
    assert not missing, f"pages written to every run folder but not in the README's Reports section: {missing}"


# -- the schema's registry enums ---------------------------------------------------------------------


def test_a_registered_backend_validates_without_a_schema_edit_and_an_unknown_one_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What 'one module plus one registration' relies on: validation reads the registry, the file is
    never stale for it, and restore-drill's own validation stays exact (a name no registry holds fails)."""
    import jsonschema

    from restore_drill.errors import HarnessFault
    from restore_drill.reports.environment import capture_environment
    from restore_drill.reports.model import RunReport

    rep = RunReport(run_id="enums", command=["test"], environment=capture_environment(), started_at="2026-01-01T00:00:00Z")
    rep.finish()

    def report_with(backend: str) -> dict[str, Any]:
        d: dict[str, Any] = json.loads(json.dumps(rep.to_dict()))
        d["environment"]["postgres"] = {"backend": backend, "server_version": "16.4", "client_version": "16.4",
                                        "binaries_source": "test"}
        return d

    validation.validate(report_with(pg_registry.DEFAULT))
    with pytest.raises(HarnessFault, match="ramdisk"):
        validation.validate(report_with("ramdisk"))
    monkeypatch.setitem(pg_registry.BACKENDS, "ramdisk", pg_registry.BACKENDS[pg_registry.DEFAULT])
    validation._validator.cache_clear()
    try:
        validation.validate(report_with("ramdisk"))  # registered: valid, the schema file untouched
        jsonschema.validate(report_with("ramdisk"), SCHEMA, cls=jsonschema.Draft202012Validator)  # and the file alone agrees
    finally:
        monkeypatch.undo()
        validation._validator.cache_clear()
    with pytest.raises(HarnessFault, match="ramdisk"):
        validation.validate(report_with("ramdisk"))
