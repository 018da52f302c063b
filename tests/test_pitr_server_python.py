"""Run as root from a clone under a 0700 folder (/root/project), the PostgreSQL server user must still run
the aws CLI and Barman's WAL tools that archive_command / restore_command call (tester finding 4: every PITR
drill errored 'the server user ... cannot run the aws CLI ... on .../.venv/lib/python3.11/site-packages')."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from restore_drill.errors import InfraUnavailable
from restore_drill.fixtures import binaries
from restore_drill.fixtures.runtime_user import server_user
from restore_drill.pitr import server, server_python

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the 0700 clone problem exists only when running as root")


def _private_site(tmp_path: Path) -> Path:
    """Our site-packages as a symlink farm under a 0700 folder: what a clone in /root/project gives."""
    private = tmp_path / "root-like"
    private.mkdir(mode=0o700)
    farm = private / "project" / "site-packages"
    farm.mkdir(parents=True)
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        (farm / entry.name).symlink_to(entry)
    return farm


@pytest.fixture
def work() -> Iterator[Path]:
    """A 0755 folder the server user can reach (pytest's tmp_path sits under a 0700 folder of root's)."""
    folder = Path(tempfile.mkdtemp(prefix="rd-test-work-", dir="/tmp"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="rd-test-cache-", dir="/tmp"))
    os.chmod(folder, 0o755)
    monkeypatch.setenv(binaries.CACHE_ENV, str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _as_server_user(argv: list[str]) -> subprocess.CompletedProcess[str]:
    user = server_user()
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, user=user.uid, group=user.gid,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})


@root_only
def test_server_user_runs_aws_and_barman_from_site_packages_under_a_0700_folder(work: Path, cache: Path) -> None:
    site = _private_site(work)
    user = server_user()
    assert user.blocked_at(site) is not None
    # The fault: a shim on the unreachable site-packages itself (what aws_shim wrote before) cannot import awscli.
    (work / "old").mkdir()
    old = work / "old" / "aws"
    old.write_text(f'#!/bin/sh\nPYTHONPATH="{site}" exec /usr/bin/python{sys.version_info.major}.{sys.version_info.minor}'
                   ' -s -m awscli "$@"\n')
    os.chmod(old, 0o755)
    if os.path.exists(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        failed = _as_server_user([str(old), "--version"])
        assert failed.returncode != 0 and "No module named awscli" in failed.stderr

    folder = server.aws_shim(work / "bin", user, site=str(site))
    shim = (folder / "aws").read_text()
    assert f'PYTHONPATH="{cache}/' in shim and str(site) not in shim
    done = _as_server_user([str(folder / "aws"), "--version"])
    assert done.returncode == 0 and done.stdout.startswith("aws-cli/"), done.stderr
    if (folder / "barman-cloud-wal-archive").exists():
        help_ = _as_server_user([str(folder / "barman-cloud-wal-archive"), "--help"])
        assert help_.returncode == 0 and "usage: barman-cloud-wal-archive" in help_.stdout, help_.stderr
    made = sorted(cache.iterdir())
    assert server_python.reachable_site(user, str(site)) in [str(p) for p in made]  # made once, then reused
    server.aws_shim(work / "bin2", user, site=str(site))
    assert sorted(cache.iterdir()) == made


@root_only
def test_a_cached_copy_of_our_interpreter_runs_aws_as_the_server_user(work: Path, cache: Path) -> None:
    """For hosts with no reachable Python of our version: pyenv's interpreter under /root copied to the cache."""
    user = server_user()
    py = replace(server_python.cached_interpreter(user), site=server_python.reachable_site(user, str(_private_site(work))))
    assert py.python.startswith(str(cache)) and user.blocked_at(py.python) is None
    done = _as_server_user(["/bin/sh", "-c", f'{py.shell_env()} exec "{py.python}" -s -m awscli --version'])
    assert done.returncode == 0, done.stderr
    assert f"Python/{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro} " in done.stdout


@root_only
def test_no_usable_cache_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = _private_site(tmp_path)
    monkeypatch.setattr(binaries, "cache_roots", lambda: [tmp_path / "root-like" / "cache"])  # inside the 0700 folder
    with pytest.raises(InfraUnavailable) as e:
        server_python.reachable_site(server_user(), str(site))
    assert f"cannot reach {site}" in str(e.value) and binaries.CACHE_ENV in str(e.value)


def test_a_reachable_site_is_used_as_it_is(work: Path) -> None:
    site = work / "site"
    site.mkdir()
    assert server_python.reachable_site(server_user(), str(site)) == str(site)


def test_shim_distributions_follow_requirements_and_import_names() -> None:
    names = {d.metadata["Name"].lower() for d in server_python.shim_distributions(sysconfig.get_paths()["purelib"])}
    assert {"awscli", "docutils", "pyyaml", "rsa", "pyasn1"} <= names
    assert "restore-drill" not in names and "moto" not in names  # only what the shims import
    if "barman" in names:  # barman requires 'psycopg2'; the installed distribution providing it is psycopg2-binary
        assert {"psycopg2-binary", "boto3", "python-dateutil"} <= names


@root_only
@pytest.mark.slow
def test_arqonbus_pitr_passes_from_a_clone_under_a_0700_folder(cache: Path) -> None:
    """The tester's setup end to end: a fresh clone of this repository and its own venv under a 0700 folder
    (pyenv interpreter under /root), then a real `restore-drill run arqonbus-pitr` as root."""
    repo = Path(__file__).resolve().parents[1]
    private = Path(tempfile.mkdtemp(prefix="rd-clone-"))  # mkdtemp makes it 0700, like /root
    try:
        clone = private / "rd"
        subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, timeout=120)
        python = str(clone / ".venv" / "bin" / "python")
        base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        subprocess.run([base, "-m", "venv", str(clone / ".venv")], check=True, timeout=120)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", "constraints.txt",
                        "-e", "."], cwd=clone, check=True, timeout=600)
        assert server_user().blocked_at(clone / ".venv") is not None
        reports = private / "r"
        done = subprocess.run([str(clone / ".venv" / "bin" / "restore-drill"), "run", "arqonbus-pitr",
                               "--report-dir", str(reports)], cwd=clone, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        (report,) = reports.glob("*/report.json")
        run = json.loads(report.read_text())
        assert run["status"] == "passed" and [d["status"] for d in run["drills"]] == ["passed"], run["error"]
    finally:
        shutil.rmtree(private, ignore_errors=True)
