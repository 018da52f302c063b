"""Bad input is one line on stderr (`restore-drill: error: ...`) naming the fix, exit status 2, and an
errored report.json; found before any server starts where the input alone decides it. One case per row
of the README's bad-input table."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from restore_drill.fixtures import binaries
from tests.safety_support import (
    Sentinel,
    _remove_private_tmpdirs,  # noqa: F401 - autouse clean-up
    run_cli,
    start_sentinel,
)

ROOT = Path(__file__).resolve().parents[1]
CORRECTED = ROOT / "drills/procedures/arqonbus.md"
BINDING = ROOT / "drills/bindings/arqonbus-corrected.toml"


@pytest.fixture(scope="module")
def sentinel() -> Iterator[Sentinel]:
    with start_sentinel("bad-input-pw") as sen:
        yield sen


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory, sentinel: Sentinel) -> dict[str, Path]:
    """A good archive of the sentinel database, a truncated copy, a non-archive, and one written by the
    newest pg_dump found (an archive format older pg_restore versions cannot read)."""
    d = tmp_path_factory.mktemp("dumps")
    db = sentinel.pg.admin_db().with_name(sentinel.db)
    majors = sorted(b.major for b in binaries.servers())
    out = {}
    for name, major in (("good", sentinel.pg.major), ("newer", majors[-1])):
        p = d / f"{name}.dump"
        subprocess.run([str(binaries.select(major).tool("pg_dump")), "--format=custom", f"--file={p}", db.url],
                       check=True, capture_output=True, timeout=120)
        out[name] = p
    data = out["good"].read_bytes()
    out["truncated"] = d / "truncated.dump"
    out["truncated"].write_bytes(data[: len(data) // 2])
    out["garbage"] = d / "garbage.dump"
    out["garbage"].write_bytes(b"not a dump at all\n" * 40)
    out["empty"] = d / "empty.dump"
    out["empty"].write_bytes(b"")
    return out


def _check(tmp_path: Path, args: list[str], words: str, **kw: object) -> None:
    run = run_cli(args, tmp_path, **kw)  # type: ignore[arg-type]
    assert run.returncode == 2, run.describe()
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("restore-drill: error: "), run.describe()
    assert words in lines[0], run.describe()
    assert all(ln.startswith("report: ") for ln in lines[1:]), run.describe()  # one error line, then where the report is
    rep = run.report()
    assert rep["status"] == "errored" and words in rep["error"]["message"]
    assert run.leftover_processes() == [] and run.leftover_tmp() == []


def _files(tmp_path: Path) -> dict[str, Path]:
    corrected = CORRECTED.read_text()
    files = {
        "noshell.md": "# Restore\n\nRun pg_restore with the right flags.\n\n```text\npg_restore ...\n```\n",
        "unclosed.md": corrected.replace("```bash\npg_restore", "```bash\npg_restore", 1).rsplit("```", 1)[0],
        "binary.md": None,
        "missing-section.toml": BINDING.read_text().replace('"Restore (Table-Scoped)"', '"Restore (Point in Time)"'),
        "not-toml.toml": 'name = "x"\nsystem = [unclosed\n',
    }
    out = {}
    for name, text in files.items():
        p = tmp_path / name
        if text is None:
            p.write_bytes(b"# Runbook\n\n\xff\xfe\x00 not utf-8\n```bash\necho hi\n```\n")
        else:
            p.write_text(text)
        out[name] = p
    return out


CASES = [
    # (id, argv builder, words that must be in the one line)
    ("unknown drill", lambda f: ["run", "arqonbus-table-restroe"], "unknown drill 'arqonbus-table-restroe'"),
    ("unknown Postgres version", lambda f: ["run", "arqonbus-table-restore", "--pg-version", "11"],
     "PostgreSQL 11 not found"),
    ("runbook without a shell block", lambda f: ["runbook", str(f["noshell.md"]), "--system", "arqonbus"],
     "has no ```bash block to run"),
    ("malformed runbook: unclosed fence", lambda f: ["runbook", str(f["unclosed.md"]), "--system", "arqonbus"],
     "is never closed"),
    ("malformed runbook: not UTF-8", lambda f: ["runbook", str(f["binary.md"]), "--system", "arqonbus"],
     "is not UTF-8 text"),
    ("binding naming a missing section", lambda f: ["runbook", str(CORRECTED), "--system", "arqonbus", "--binding",
                                                    str(f["missing-section.toml"])],
     "names section 'Restore (Point in Time)', which"),
    ("binding that is not TOML", lambda f: ["runbook", str(CORRECTED), "--system", "arqonbus", "--binding",
                                            str(f["not-toml.toml"])], "is not valid TOML"),
    ("negative scale", lambda f: ["run", "arqonbus-table-restore", "--scale", "-3"], "--scale must be a whole number >= 1"),
    ("zero step timeout", lambda f: ["run", "arqonbus-table-restore", "--step-timeout", "0"], "--step-timeout must be > 0"),
    ("negative seed", lambda f: ["run", "arqonbus-table-restore", "--seed", "-1"], "--seed must be >= 0"),
    ("non-numeric scale", lambda f: ["run", "arqonbus-table-restore", "--scale", "ten"], "'ten' is not a valid integer"),
    ("unknown disaster", lambda f: ["run", "--disaster", "flood"], "Invalid value for '--disaster'"),
    ("unreachable external database", lambda f: ["run", "arqonbus-table-restore", "--pg-backend", "external", "--pg-url",
                                                 "postgresql://drill:pw@127.0.0.1:1/prod"], "is unreachable"),
    ("external URL that is not a URL", lambda f: ["run", "arqonbus-table-restore", "--pg-backend", "external",
                                                  "--pg-url", "notaurl::"], "--pg-url is not a valid libpq URL"),
]


@pytest.mark.parametrize("args, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_an_errored_report(tmp_path: Path, args, words: str) -> None:  # type: ignore[no-untyped-def]
    _check(tmp_path, args(_files(tmp_path)), words)


def test_wrong_credentials(tmp_path: Path, sentinel: Sentinel) -> None:
    url = sentinel.url.replace(sentinel.password, "not-the-password")
    _check(tmp_path, ["run", "arqonbus-table-restore", "--pg-backend", "external", "--pg-url", url],
           "wrong credentials")
    assert sentinel.databases() == {"postgres", "template0", "template1", "sentinel"}


@pytest.mark.parametrize("kind, words", [
    ("truncated", "is truncated"),
    ("garbage", "is not a pg_dump archive"),
    ("empty", "empty"),
    ("missing", "does not exist"),
])
def test_unreadable_or_truncated_dump(tmp_path: Path, dumps: dict[str, Path], kind: str, words: str) -> None:
    path = dumps.get(kind, tmp_path / "missing.dump")
    _check(tmp_path, ["verify-backup", str(path)], words)


def test_dump_from_a_newer_major(tmp_path: Path, dumps: dict[str, Path]) -> None:
    majors = sorted(b.major for b in binaries.servers())
    if majors[-1] == majors[0]:
        pytest.skip("one Postgres major found: no newer archive format to try")
    _check(tmp_path, ["verify-backup", str(dumps["newer"]), "--pg-version", str(majors[0])], "newer")


@pytest.mark.parametrize("snapshot, words", [
    ("/no/such/snapshot-2026-03-01", "is neither s3://bucket/prefix nor an existing folder"),
    ("s3://no-such-bucket/pegasus-2026-03-01", "no-such-bucket"),
])
def test_storage_snapshot_that_does_not_exist(tmp_path: Path, dumps: dict[str, Path], sentinel: Sentinel,
                                              snapshot: str, words: str) -> None:
    keys = {"RESTORE_DRILL_S3_ACCESS_KEY": "k", "RESTORE_DRILL_S3_SECRET_KEY": "s"}
    _check(tmp_path, ["verify-backup", str(dumps["good"]), "--storage-snapshot", snapshot,
                      "--s3-endpoint", sentinel.endpoint], words, env_extra=keys)


def test_cases_cover_the_readme_table() -> None:
    text = (ROOT / "README.md").read_text()
    if "## Safety" not in text:
        pytest.skip("the README has no Safety section yet (drafted in the safety brief's safety_readme.md)")
    missing = [case_id for case_id, *_ in CASES if case_id not in text]
    assert missing == [], f"bad-input cases not in the README's table: {missing}"
