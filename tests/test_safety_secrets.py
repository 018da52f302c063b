"""Secrets never reach a file: distinctive values for the external database password (in --pg-url), the
S3 endpoint keys (RESTORE_DRILL_S3_ACCESS_KEY / _SECRET_KEY), PGPASSWORD, AWS_SESSION_TOKEN and the
user's own AWS keys are seeded, drills run through the CLI (passing, and failing with the password in
the failing tool's error output) and through pytest with --junitxml and --alluredir, and every file
either wrote is searched for every secret, also URL-encoded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.safety_support import (
    Sentinel,
    _remove_private_tmpdirs,  # noqa: F401 - autouse clean-up
    all_text_files,
    cli_env,
    private_tmpdir,
    run_cli,
    start_sentinel,
)

PG_PASSWORD = "PgPw-Zq7xK-sentinel-4471"
SECRETS = {
    "RESTORE_DRILL_S3_ACCESS_KEY": "AKIAZQ7XKSENTINEL4471",
    "RESTORE_DRILL_S3_SECRET_KEY": "S3sk-Zq7xK-sentinel-secret-4471",
    "PGPASSWORD": "EnvPgPw-Zq7xK-4471",
    "AWS_SESSION_TOKEN": "SessTok-Zq7xK-4471-FwoGZXIvYXdzEJr",
    "AWS_ACCESS_KEY_ID": "AKIAUSERENVZQ7XK4471",
    "AWS_SECRET_ACCESS_KEY": "UserEnvSecret-Zq7xK-4471",
}
NEEDLES = [PG_PASSWORD, *SECRETS.values()]


@pytest.fixture(scope="module")
def sentinel() -> Iterator[Sentinel]:
    with start_sentinel(PG_PASSWORD) as sen:
        yield sen


def _leaks(root: Path, *, wrote: bool = True) -> list[str]:
    found = []
    files = list(all_text_files(root))
    assert files or not wrote, f"nothing was written under {root}"
    for p in files:
        data = p.read_bytes()
        for s in NEEDLES:
            if s.encode() in data or quote(s, safe="").encode() in data:
                found.append(f"{s[:12]}… in {p.relative_to(root)}")
    return found


def _args(sentinel: Sentinel, *extra: str) -> list[str]:
    return ["--pg-backend", "external", "--pg-url", sentinel.url, "--s3-backend", "endpoint",
            "--s3-endpoint", sentinel.endpoint, *extra]


def test_cli_runs_write_no_secret_anywhere(tmp_path: Path, sentinel: Sentinel) -> None:
    ok = run_cli(["run", "pegasus-full-restore", "--quiet", *_args(sentinel)], tmp_path, env_extra=SECRETS, name="ok")
    assert ok.returncode == 0, ok.describe()
    # A runbook whose steps print the database URL and the AWS variables they were given, then fail
    # with the URL in the error: the step records, report and log must mask every one of them.
    root = Path(__file__).resolve().parents[1]
    marker = "### Restore from snapshot prefix\n\n```bash\n"
    book = (root / "drills/procedures/pegasus.md").read_text().replace(
        marker, marker + 'echo "target: $DATABASE_URL"; env | grep -E "^(AWS|PG)" | sort\n', 1)
    assert book.count("target: $DATABASE_URL") == 1
    (tmp_path / "leaky.md").write_text(book)
    bad = run_cli(["runbook", str(tmp_path / "leaky.md"), "--system", "pegasus", "--binding",
                   str(root / "drills/bindings/pegasus-corrected.toml"), "--quiet", *_args(sentinel)],
                  tmp_path, env_extra=SECRETS, name="leaky")
    assert bad.returncode == 0, bad.describe()
    step = next(s for s in bad.report()["drills"][0]["steps"] if "target: " in s["stdout_tail"])
    assert "target: postgresql://owner:***@" in step["stdout_tail"], step["stdout_tail"]
    assert "AWS_SECRET_ACCESS_KEY=***" in step["stdout_tail"], step["stdout_tail"]
    for run in (ok, bad):
        assert not any(s in run.stdout + run.stderr for s in NEEDLES)
        assert (run.run_dir() / "work").is_dir() and not list(run.run_dir().glob("work/*/.home"))
    assert _leaks(tmp_path) == [] and _leaks(ok.tmpdir, wrote=False) + _leaks(bad.tmpdir, wrote=False) == []


def test_pytest_junit_and_allure_output_hold_no_secret(tmp_path: Path, sentinel: Sentinel) -> None:
    env = cli_env(private_tmpdir(tmp_path, "pytest"), {
        **SECRETS, "RESTORE_DRILL_PG_BACKEND": "external", "RESTORE_DRILL_PG_URL": sentinel.url,
                                     "RESTORE_DRILL_S3_BACKEND": "endpoint", "RESTORE_DRILL_S3_ENDPOINT": sentinel.endpoint})
    drill = Path(__file__).resolve().parents[1] / "drills" / "drill_pegasus_full_restore.py"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", str(drill), "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         f"--junitxml={tmp_path / 'junit.xml'}", f"--alluredir={tmp_path / 'allure'}",
         f"--drill-report-dir={tmp_path / 'runs'}", "-o", "log_level=DEBUG"],
        cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / "junit.xml").is_file() and list((tmp_path / "allure").glob("*-result.json"))
    assert list((tmp_path / "runs").glob("pytest-*/report.json"))
    assert not any(s in out.stdout + out.stderr for s in NEEDLES)
    assert _leaks(tmp_path) == [] and _leaks(private_tmpdir(tmp_path, "pytest"), wrote=False) == []
