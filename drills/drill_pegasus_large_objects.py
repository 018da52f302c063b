"""Pegasus with lecture recordings above the aws CLI's 8 MiB multipart threshold. A multipart S3 copy
drops content type and user metadata (aws/aws-cli#2253); the corrected procedure copies in one request
and keeps them, and without that line object_integrity names every large object it stripped."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from restore_drill.drills.helpers import assert_passed

pytestmark = [pytest.mark.drill, pytest.mark.pegasus]
ROOT = Path(__file__).resolve().parents[1]


def test_large_objects_keep_their_properties(run_drill, drill_target: str) -> None:
    rep = run_drill("pegasus-storage-loss", large_objects=True)
    assert_passed(rep)
    assert rep.metrics["object_bytes"] > 3 * 8 * 2**20


def test_multipart_copies_lose_content_type_and_metadata(tmp_path: Path) -> None:
    book = (ROOT / "drills" / "procedures" / "pegasus.md").read_text()
    stripped = tmp_path / "pegasus-without-threshold.md"
    stripped.write_text(book.replace("aws configure set default.s3.multipart_threshold 5GB\n", ""))
    r = subprocess.run([str(Path(sys.executable).parent / "restore-drill"), "runbook", str(stripped), "--system", "pegasus",
                        "--binding", str(ROOT / "drills" / "bindings" / "pegasus-corrected.toml"),
                        "--disaster", "delete-prefix", "--large-objects", "--report-dir", str(tmp_path / "runs"), "--quiet"],
                       capture_output=True, text=True, timeout=600)
    rep = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    integrity = next(c for c in rep["drills"][0]["checks"] if c["name"] == "object_integrity")
    assert r.returncode == 1 and integrity["status"] == "failed", integrity["message"]
    changed = integrity["evidence"]["changed"]["items"]
    assert changed and all(k["key"].endswith(".wav") for k in changed)
    assert "binary/octet-stream" in integrity["message"]
