"""Each kind of unusable backup file gets one clear line, exit status 2 and an errored report, through
the real CLI: missing, zero bytes, truncated, bit-flipped, plain SQL, not an archive, gzip-compressed,
and an archive newer than every pg_restore available."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from restore_drill.checks._util import libpq_env
from restore_drill.fixtures import binaries
from restore_drill.procs import run

CLI = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "restore-drill"
# Enough data that the compressed data blocks make up most of the file, so a cut or a flipped bit
# past the table of contents lands in table data.
SCHEMA = """
CREATE TABLE events (id bigserial PRIMARY KEY, body text NOT NULL);
INSERT INTO events (body) SELECT md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 20000) g;
"""


@pytest.fixture(scope="module")
def source_files(drill_infra, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bad")
    newest = binaries.servers()[0]
    db = drill_infra.database(newest.major)
    try:
        with db.connect(autocommit=True) as c:
            c.execute(SCHEMA)
        env = {**libpq_env(db), "TZ": "UTC"}
        for fmt, name in (("custom", "good.dump"), ("plain", "plain.sql")):
            run([newest.tool("pg_dump"), f"--format={fmt}", "--file", out / name], env=env, timeout_s=60, check=True)
    finally:
        drill_infra.drop(db)
    return {"good": out / "good.dump", "plain": out / "plain.sql", "dir": out}


def rewrite_header_as_future(src: Path, dst: Path, fmt_minor: int = 99, dumped_by: str = "99.0") -> None:
    """The archive as a future pg_dump would write it: format 1.<fmt_minor> and its version string in
    the header (layout of WriteHead in pg_backup_archiver.c), the rest byte for byte."""
    data = bytearray(src.read_bytes())
    assert data[:5] == b"PGDMP"
    int_size = data[8]
    pos = 12  # magic, 3 version bytes, int size, offset size, format, compression algorithm

    def read_int() -> int:
        nonlocal pos
        sign, v = data[pos], int.from_bytes(data[pos + 1:pos + 1 + int_size], "little")
        pos += 1 + int_size
        return -v if sign else v

    for _ in range(7):  # creation time
        read_int()
    for _ in range(2):  # database name, server version
        n = read_int()
        pos += max(n, 0)
    start = pos
    n = read_int()
    end = pos + n
    enc = dumped_by.encode()
    data[start:end] = bytes([0]) + len(enc).to_bytes(int_size, "little") + enc
    data[6] = fmt_minor
    dst.write_bytes(bytes(data))


def make(kind: str, files: dict[str, Path], tmp_path: Path) -> Path:
    good = files["good"].read_bytes()
    p = tmp_path / f"{kind}.dump"
    if kind == "missing":
        return tmp_path / "no-such-backup.dump"
    if kind == "zero-bytes":
        p.write_bytes(b"")
    elif kind == "truncated":
        p.write_bytes(good[: len(good) * 4 // 5])
    elif kind == "bit-flipped":
        b = bytearray(good)
        b[len(b) * 3 // 4] ^= 0x10
        p.write_bytes(bytes(b))
    elif kind == "plain-sql":
        return files["plain"]
    elif kind == "not-an-archive":
        p.write_bytes(b"\x7fELF" + bytes(range(200)))
    elif kind == "gzip":
        p = tmp_path / "good.dump.gz"
        p.write_bytes(gzip.compress(good))
    elif kind == "newer-than-every-pg_restore":
        rewrite_header_as_future(files["good"], p)
    return p


CASES = {
    "missing": "does not exist: pass the path of a pg_dump archive",
    "zero-bytes": "is empty (0 bytes): the backup job wrote nothing",
    "truncated": "is truncated: pg_restore reached the end of the file in the data of public.events",
    "bit-flipped": "is corrupted: a compressed block in the data of public.events does not decode",
    "plain-sql": "is a plain-SQL dump (pg_dump's default text format)",
    "not-an-archive": "is not a pg_dump archive (it starts with bytes 7f 45 4c 46",
    "gzip": "is gzip-compressed",
    "newer-than-every-pg_restore": "was written by pg_dump 99.0 (archive format 1.99), newer than every "
                                   "pg_restore available",
}


@pytest.mark.parametrize("kind", list(CASES))
def test_bad_file_is_one_clear_line_exit_2_and_an_errored_report(kind, source_files, tmp_path):
    path = make(kind, source_files, tmp_path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    res = run([CLI, "verify-backup", path, "--report-dir", tmp_path / "runs"], env=env, timeout_s=120)
    assert res.exit_code == 2, res.stdout + res.stderr
    first = res.stderr.splitlines()[0]
    assert first.startswith(f"restore-drill: error: {path}") and CASES[kind] in first, first
    reports = list((tmp_path / "runs").glob("*/report.json"))
    assert len(reports) == 1
    data = json.loads(reports[0].read_text())
    assert data["status"] == "errored" and data["drills"] == []
    assert data["error"]["type"] == "BadInput" and CASES[kind] in data["error"]["message"]
    assert data["command"][:2] == ["restore-drill", "verify-backup"]


def test_the_good_file_those_were_made_from_verifies(source_files, tmp_path):
    """The faults above are in the files, not the harness: the original passes the same way."""
    newest = binaries.servers()[0]
    res = run([CLI, "verify-backup", source_files["good"], "--pg-version", str(newest.major),
               "--report-dir", tmp_path / "runs"], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
              timeout_s=120)
    assert res.exit_code == 0, res.stdout + res.stderr
    data = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    assert data["status"] == "passed" and data["matrix"]["versions"] == [f"pg{newest.major}"]
    assert data["drills"][0]["checks"][0]["name"] == "backup_artifact"


@pytest.mark.parametrize("kind", ["truncated", "bit-flipped"])
def test_a_bad_data_block_found_while_the_first_restore_runs_leaves_no_database(kind, source_files, drill_infra,
                                                                                 tmp_path):
    """Issue 19: the data blocks are read while the first version's restore already runs (verify.version.
    Prestart). A bad block is still the same one-line BadInput, raised only after that restore was awaited
    and its disposable database dropped: the shared server holds no verify_* database afterwards."""
    from restore_drill.errors import BadInput
    from restore_drill.verify import verify_backup

    path = make(kind, source_files, tmp_path)
    major = binaries.servers()[0].major
    with pytest.raises(BadInput) as e:
        verify_backup(path, versions=[major], storage_snapshot=None, manifest=None, system=None,
                      report_dir=tmp_path / "runs", argv=["test"], infra=drill_infra)
    assert str(e.value).startswith(str(path)) and CASES[kind] in str(e.value)
    probe = drill_infra.database(major)
    try:
        with probe.connect() as c:
            left = [r[0] for r in c.execute("SELECT datname FROM pg_database WHERE datname LIKE 'verify\\_%'")]
    finally:
        drill_infra.drop(probe)
    assert left == []
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/report.json"))
