"""The fleet examples are valid where they run (issue 18): the GitHub Actions workflow passes actionlint,
the Kubernetes CronJobs pass kubernetes-validate's strict schema (bundled, offline), each validator
rejects a broken copy (so the checks can fail), and every restore-drill command line in them uses
options the CLI really has, with the shard count agreeing everywhere it is written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from restore_drill.cli import cli

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
K8S = ROOT / "examples" / "ci" / "kubernetes-fleet.yaml"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing from the venv: `make` installs the dev extra (pyproject.toml)")
    return str(path)


def _actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("actionlint"), "-no-color", str(path)], capture_output=True, text=True, timeout=120)


def _kubeval(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("kubernetes-validate"), "--strict", "--quiet", str(path)], capture_output=True,
                          text=True, timeout=120)


def test_workflow_passes_actionlint_and_a_broken_copy_does_not(tmp_path: Path) -> None:
    r = _actionlint(WORKFLOW)
    assert r.returncode == 0, r.stdout + r.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("needs.plan.outputs.shards", "needs.plan.outputs.shard_list"))
    r = _actionlint(broken)
    assert r.returncode != 0 and "shard_list" in r.stdout


def test_kubernetes_manifest_passes_the_schema_and_a_broken_copy_does_not(tmp_path: Path) -> None:
    r = _kubeval(K8S)
    assert r.returncode == 0, r.stdout + r.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(K8S.read_text().replace("completionMode: Indexed", "completionMode: Indexed\n      shards: 3"))
    r = _kubeval(broken)
    assert r.returncode != 0 and "shards" in r.stdout + r.stderr


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    """The click command a `restore-drill ...` line runs, and its remaining words."""
    cmd: click.Command = cli
    rest = words[1:]
    while isinstance(cmd, click.Group) and rest and rest[0] in cmd.commands:
        cmd, rest = cmd.commands[rest[0]], rest[1:]
    return cmd, rest


def _command_lines(text: str) -> list[list[str]]:
    lines = []
    text = re.sub(r"\\\n\s*", " ", text)  # shell line continuations
    for m in re.finditer(r"restore-drill (?:plan|run|verify-backup|report merge)\b[^\n]*", text):
        body = re.sub(r"\$\([^)]*\)", "X", m.group(0))  # $(date -u +%F) and friends
        lines.append(shlex.split(body, comments=True))
    return lines


def _all_scripts(doc: Any) -> str:
    if isinstance(doc, dict):
        return "\n".join(_all_scripts(v) for v in doc.values())
    if isinstance(doc, list):
        return "\n".join(_all_scripts(v) for v in doc)
    return doc if isinstance(doc, str) else ""


def test_example_command_lines_use_real_options_and_agree_on_the_shard_count() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    k8s = list(yaml.safe_load_all(K8S.read_text()))
    lines = _command_lines(_all_scripts(workflow)) + _command_lines(_all_scripts(k8s))
    assert {tuple(w[:2]) for w in lines} >= {("restore-drill", "plan"), ("restore-drill", "run"),
                                             ("restore-drill", "report")}
    for words in lines:
        cmd, rest = _command(words)
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        used = {w.split("=", 1)[0] for w in rest if w.startswith("-")}
        assert used <= known, (words, used - known)
    # GitHub: the matrix is the plan's own shard list
    assert any(w[1] == "plan" and "--shards" in w for w in _command_lines(_all_scripts(workflow)))
    assert workflow["jobs"]["drill"]["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.shards) }}"
    # Kubernetes: the set-up's plan --shards N, completions, parallelism and RESTORE_DRILL_SHARDS agree
    setup = "\n".join(line.lstrip("#").strip() for line in K8S.read_text().splitlines() if line.startswith("#"))
    plan_line = next(w for w in _command_lines(setup) if w[1] == "plan")
    _, rest = _command(plan_line)
    assert {w for w in rest if w.startswith("-")} <= {o for p in cli.commands["plan"].params for o in p.opts}
    shards = int(plan_line[plan_line.index("--shards") + 1])
    indexed = k8s[0]["spec"]["jobTemplate"]["spec"]
    env = {e["name"]: e["value"] for e in indexed["template"]["spec"]["containers"][0]["env"]}
    assert indexed["completionMode"] == "Indexed"
    assert indexed["completions"] == indexed["parallelism"] == int(env["RESTORE_DRILL_SHARDS"]) == shards
