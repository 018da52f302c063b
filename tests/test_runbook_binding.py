"""Binding files: loading, validation errors that say what to fix, and the execution plan they give."""

from __future__ import annotations

from pathlib import Path

import pytest

from restore_drill.errors import BadInput
from restore_drill.runbook import builtin_binding, load_binding, parse_runbook, plan
from restore_drill.runbook.binding import HookPoint, PlannedStep
from tests.helpers import operator_runbook

ARQONBUS = operator_runbook("000_bfde4953689c82a4.txt").read_text()
PEGASUS = operator_runbook("003_c2eaccfac875b702.txt").read_text()

SMALL = """\
# Small
## Backup
```bash
pg_dump "$DATABASE_URL" --file=backups/<backup-file>.dump
```
## Restore
```bash
pg_restore --dbname "$DATABASE_URL" backups/<backup-file>.dump
```
## Notes
1. Tell people.
"""


def _outline(items: tuple[PlannedStep | HookPoint, ...]) -> list[str]:
    return [f"hook:{it.hook}" if isinstance(it, HookPoint) else f"{it.phase}:{it.section.heading}#{it.step.index}"
            for it in items]


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "b.toml"
    p.write_text(text)
    return p


def test_arqonbus_plan_runs_migration_seeds_backs_up_then_disaster_then_restore() -> None:
    b = builtin_binding("arqonbus")
    assert builtin_binding("continuum").name == "arqonbus"
    p = plan(b, parse_runbook(ARQONBUS, "000"))
    assert _outline(p.items) == [
        "setup:Migration Apply#1", "setup:Migration Apply#2", "hook:seed",
        "backup:Logical Backup#1", "hook:after_backup", "hook:disaster",
        "restore:Restore (Table-Scoped)#1", "hook:after_restore",
        "verify:Integrity Verification#1", "verify:Integrity Verification#2",
    ]
    conda = p.items[-1]
    assert isinstance(conda, PlannedStep) and conda.rule is not None and conda.rule.action == "not_run"
    assert "conda" in conda.rule.reason
    assert [f.path for f in b.files] == ["scripts/migrations/20260220_continuum_projector_postgres.sql"]
    assert b.files[0].source.is_file()


def test_pegasus_plan_puts_backups_before_restores_whatever_the_document_order() -> None:
    p = plan(builtin_binding("pegasus"), parse_runbook(PEGASUS, "003"))
    outline = _outline(p.items)
    assert outline[:5] == ["hook:seed", "backup:Logical backup (self-managed Postgres)#1",
                           "backup:AWS S3 / compatible sync#1", "hook:after_backup", "hook:disaster"]
    assert outline[5:11] == ["restore:Pre-restore checklist#1", "restore:Pre-restore checklist#2",
                             "restore:Pre-restore checklist#3", "restore:Pre-restore checklist#4",
                             "restore:Restore logical backup#1", "restore:Restore from snapshot prefix#1"]
    assert outline[11] == "hook:after_restore"
    assert outline[12:] == [f"verify:Restore workflow#{i}" for i in range(1, 7)]
    rules = {it.step.index: it.rule for it in p.items if isinstance(it, PlannedStep) and it.rule}
    assert rules[3].hook == "standin-api" and rules[5].hook == "write-smoke"


def test_edited_copy_with_same_headings_binds(tmp_path: Path) -> None:
    # An operator reorders sections, adds prose and changes a command: headings still find them.
    edited = ARQONBUS.replace("## Rollback Guidance", "## Rollback Guidance\n\nAsk the DBA first.\n")
    edited = edited.replace("--format=custom", "--format=custom --verbose")
    p = plan(builtin_binding("arqonbus"), parse_runbook(edited, "edited"))
    backup = next(it for it in p.items if isinstance(it, PlannedStep) and it.phase == "backup")
    assert "--verbose" in backup.step.text


@pytest.mark.parametrize(("toml", "message"), [
    ('[phases]\nbackup = ["Backup"]\nrestore = ["Restore"]\nlater = ["Notes"]\n', "unknown phase 'later'"),
    ('[phases]\nbackup = ["Backup"]\nrestore = ["Restore", "Backup"]\n', "section 'Backup' is in phases"),
    ('name = "x"\n', r"needs a \[phases\] table"),
    ('colour = "red"\n[phases]\nbackup = ["Backup"]\n', r"unknown key\(s\) \['colour'\]"),
    ('[phases]\nbackup = ["Backup"]\n[hooks]\nseed = "whenever"\n', "use before:<heading>"),
    ('[phases]\nbackup = ["Backup"]\n[hooks]\nlunch = "before:Backup"\n', "unknown hook 'lunch'"),
    ('[phases]\nbackup = ["Backup"]\n[hooks]\nseed = "before-phase:later"\n', "unknown phase 'later'"),
    ('[phases]\nbackup = ["Backup"]\n[placeholders]\n"<backup-file>" = { source = "magic" }\n',
     "source must be one of"),
    ('[phases]\nbackup = ["Backup"]\n[[steps]]\nsection = "Backup"\naction = "not_run"\n', "needs a reason"),
    ('[phases]\nbackup = ["Backup"]\n[[steps]]\nsection = "Backup"\naction = "skip"\nreason = "x"\n',
     "action 'skip' is not one of"),
    ('[phases]\nbackup = ["Backup"]\n[[files]]\npath = "a.sql"\nfrom = "nowhere/a.sql"\n', "does not exist"),
    ('[phases]\nbackup = ["Backup"]\n[[files]]\npath = "../a.sql"\nfrom = "b.toml"\n', "must be relative"),
    ('[phases\n', "not valid TOML"),
])
def test_malformed_bindings_are_bad_input(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        load_binding(_write(tmp_path, toml))


def test_missing_binding_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist; pass an existing file with --binding"):
        load_binding(tmp_path / "nope.toml")
    with pytest.raises(BadInput, match="no built-in binding 'oracle'"):
        builtin_binding("oracle")


GOOD = ('[phases]\nbackup = ["Backup"]\nrestore = ["Restore"]\n'
        '[placeholders]\n"<backup-file>" = { source = "backup_stem" }\n')


def test_good_small_binding_plans(tmp_path: Path) -> None:
    p = plan(load_binding(_write(tmp_path, GOOD)), parse_runbook(SMALL, "small.md"))
    assert _outline(p.items) == ["hook:seed", "backup:Backup#1", "hook:after_backup", "hook:disaster",
                                 "restore:Restore#1", "hook:after_restore", "never:Notes#1"]


@pytest.mark.parametrize(("toml", "message"), [
    # a section the runbook does not have: the error lists the headings it does have
    (GOOD.replace('restore = ["Restore"]', 'restore = ["Restore", "Verify"]'),
     r"names section 'Verify', which small.md does not have; its headings are 'Small'; 'Backup'"),
    # a section with a shell step and no phase
    (GOOD.replace('restore = ["Restore"]\n', ''), r"section 'Restore' \(line 6\) .* has 1 shell step\(s\) but no phase"),
    # a placeholder in a command to run that the binding does not bind
    (GOOD.replace('"<backup-file>" = { source = "backup_stem" }', '"YYYY" = "2026"'),
     r"small.md:3 holds placeholder <backup-file> that the binding does not bind"),
    # the disaster must fall between backup and restore
    (GOOD + '[hooks]\ndisaster = "after:Restore"\n', "must fall after the last backup step and before the first"),
    (GOOD + '[hooks]\nseed = "after:Restore"\n', "comes after the backup starts"),
    # a step rule that matches nothing
    (GOOD + '[[steps]]\nsection = "Backup"\ncontains = "pg_basebackup"\naction = "not_run"\nreason = "x"\n',
     "matches 0 steps; it must match exactly one"),
])
def test_binding_that_does_not_fit_the_runbook_is_bad_input(tmp_path: Path, toml: str, message: str) -> None:
    b = load_binding(_write(tmp_path, toml))
    with pytest.raises(BadInput, match=message):
        plan(b, parse_runbook(SMALL, "small.md"))


def test_ambiguous_heading_needs_a_path(tmp_path: Path) -> None:
    book = parse_runbook("# A\n## Run\n```bash\ntrue\n```\n# B\n## Run\n```bash\nfalse\n```\n", "two.md")
    with pytest.raises(BadInput, match=r"matches 2 headings .* \(lines 2, 7\); name it as \"Parent > Child\""):
        plan(load_binding(_write(tmp_path, '[phases]\nbackup = ["Run"]\n')), book)
    p = plan(load_binding(_write(tmp_path, '[phases]\nbackup = ["A > Run"]\nrestore = ["B > Run"]\n')), book)
    assert [it.step.text for it in p.items if isinstance(it, PlannedStep)] == ["true", "false"]
