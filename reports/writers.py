"""Write a run folder: report.json (validated), the pages of ``reports/pages/registry.PAGES`` (report.md,
report.html, junit.xml, compliance.md/.html) and evidence.sha256. This is the public entry point of
restore_drill.reports; the CLI and the drill engine call these functions and nothing below them.

Order matters: report.json and the pages first, then the pages that list evidence (the compliance report,
which lists the sha256 of every file written so far, step logs or JUnit XML the engine put in the folder
included), then evidence.sha256 over everything, the compliance report included.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from restore_drill.errors import BadInput, HarnessFault

from .evidence import EVIDENCE_FILE, evidence_files, read_evidence, sha256_file, verify_evidence, write_evidence
from .history import HISTORY_FILE, append_history, read_history, render_history
from .model import SCHEMA_VERSION, RunReport
from .pages import PageContext
from .pages import registry as pages
from .validation import validate

__all__ = [
    "EVIDENCE_FILE", "HISTORY_FILE", "REPORT_FILES", "append_history", "load_run", "new_run_dir",
    "read_history", "render_history", "render_run", "report_json", "validate", "verify_evidence", "write_run",
]

REPORT_JSON = "report.json"
# Every file write_run writes, in order; derived from the page registry (its owner), never listed by hand.
REPORT_FILES = (REPORT_JSON, *pages.names(), EVIDENCE_FILE)


def _default(o: Any) -> Any:
    """Evidence dicts come from checks and may hold values json cannot encode; keep them readable."""
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, Decimal):
        # Digest sums are big exact integers: keep them exact.
        return int(o) if o.is_finite() and o == o.to_integral_value() else float(o)
    if isinstance(o, set | frozenset):
        return sorted(o, key=str)
    if isinstance(o, bytes):
        return o.hex()
    if isinstance(o, Path | datetime):
        return str(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return repr(o)


def report_json(report: RunReport) -> str:
    """The exact report.json text, validated. Raises HarnessFault if the report is invalid."""
    try:
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False, default=_default)
    except ValueError as exc:  # NaN/inf in a metric or evidence value
        raise HarnessFault(f"report {report.run_id} cannot be written as JSON: {exc}") from exc
    validate(json.loads(text))  # validate what is written, after encoding, not the in-memory objects
    return text + "\n"


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _write_pages(report: RunReport, run_dir: Path) -> dict[str, Path]:
    """Every registered page (read at call time, so a page registered later is written too), then
    evidence.sha256; returns file name -> path."""
    registered = pages.PAGES
    plain = [p for p in registered if not p.lists_evidence]
    listing = [p for p in registered if p.lists_evidence]
    ctx = PageContext(run_dir)
    paths = {p.filename: _write(run_dir / p.filename, p.render(report, ctx)) for p in plain}
    # The listing pages vouch for everything but themselves (they cannot hash their own text).
    evidence = evidence_files(run_dir, exclude=frozenset(p.filename for p in listing))
    ctx = PageContext(run_dir, tuple(evidence))
    paths.update({p.filename: _write(run_dir / p.filename, p.render(report, ctx)) for p in listing})
    paths[EVIDENCE_FILE] = write_evidence(run_dir, known=evidence)
    return paths


def write_run(report: RunReport, run_dir: Path) -> dict[str, Path]:
    """Write every report file into ``run_dir`` (created if needed); returns file name -> path."""
    text = report_json(report)  # validate before touching the folder: no half-written bundle
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {REPORT_JSON: _write(run_dir / REPORT_JSON, text)}
    paths.update(_write_pages(report, run_dir))
    return paths


def load_run(run_dir: Path) -> RunReport:
    """Read and validate a run folder's report.json."""
    path = run_dir / REPORT_JSON
    if not path.is_file():
        raise BadInput(f"no {REPORT_JSON} in {run_dir}: pass the run folder a run printed at its end")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path} is not valid JSON ({exc}); it was damaged after the run") from exc
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        got = data.get("schema_version") if isinstance(data, dict) else None
        raise BadInput(f"{path} has schema_version {got!r}; this restore-drill reads version {SCHEMA_VERSION}: "
                       "render it with the restore-drill version that wrote it")
    validate(data)
    return RunReport.from_dict(data)


def render_run(run_dir: Path, *, allow_modified: bool = False) -> dict[str, Path]:
    """Re-render report.md/.html, compliance and evidence.sha256 from report.json (e.g. after an upgrade).

    Refuses when report.json no longer matches evidence.sha256, since re-hashing would hide that it was
    changed after the run; ``allow_modified=True`` re-renders anyway (the new evidence then vouches only
    for the folder as it is now).
    """
    listed = read_evidence(run_dir).get(REPORT_JSON)
    path = run_dir / REPORT_JSON
    if not allow_modified and listed is not None and path.is_file() and sha256_file(path) != listed:
        raise BadInput(f"{path} changed since the run wrote {EVIDENCE_FILE}; re-rendering would hide that. "
                       "Restore the original report.json, or re-render deliberately with allow_modified")
    report = load_run(run_dir)
    return {REPORT_JSON: path, **_write_pages(report, run_dir)}


def new_run_dir(base: Path) -> Path:
    """Create and return ``base/<UTC timestamp>-<short id>``. mkdir is exclusive and the id random, so
    two processes starting in the same second still get different folders."""
    base.mkdir(parents=True, exist_ok=True)
    for _ in range(20):
        name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"
        path = base / name
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise HarnessFault(f"could not create a unique run folder under {base} after 20 tries")
