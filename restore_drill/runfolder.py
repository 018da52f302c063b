"""One run folder's lifecycle, shared by ``run``, ``runbook`` and ``verify-backup``: create it, write the
report pages (and any extra files, e.g. verify-backup's verdict.txt), fall back to
``$TMPDIR/restore-drill-reports/<run id>`` when the folder cannot be written (disk full, read-only), and
append the run to the history.

A report folder that cannot be written must not lose the verdict: the run becomes errored with that
cause, and the CLI prints where the report went instead.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from restore_drill.reports.history import append_history
from restore_drill.reports.model import ErrorInfo, RunReport
from restore_drill.reports.writers import new_run_dir, write_run

from .errors import InfraUnavailable

HISTORY_NAME = "history.jsonl"
FALLBACK_DIR = "restore-drill-reports"

ExtraFiles = Callable[[RunReport], Mapping[str, str]]


def create(base: Path) -> Path:
    """A new, empty run folder ``base/<UTC timestamp>-<6 hex>`` (``base`` is created if missing); raises
    ``InfraUnavailable`` naming the fix when ``base`` cannot hold a folder at all."""
    try:
        return new_run_dir(base)
    except OSError as e:
        raise InfraUnavailable(f"could not create a run folder under {base} ({e.strerror or e}); free space "
                               "there or pass --report-dir on another disk") from None


def fallback_dir(run_id: str) -> Path:
    """Where a run's report goes when its folder cannot be written: the system temp dir (``$TMPDIR``)."""
    return Path(tempfile.gettempdir()) / FALLBACK_DIR / run_id


def _write(report: RunReport, run_dir: Path, extra: ExtraFiles | None) -> None:
    write_run(report, run_dir)
    for name, text in (extra(report) if extra is not None else {}).items():
        (run_dir / name).write_text(text, encoding="utf-8")


def write(report: RunReport, run_dir: Path, *, history: Path | None, extra: ExtraFiles | None = None,
          log_failed: str | None = None) -> Path:
    """Stamp the end of ``report``, write every page (report.json, Markdown, HTML, compliance, JUnit) and
    ``extra(report)`` (file name -> text, computed after the verdict is final) to ``run_dir``, then append
    to ``history`` (None: no history). Returns the folder written: ``run_dir``, or ``fallback_dir`` when
    ``run_dir`` could not be written (the report is then errored, naming the cause and the fix), or
    ``run_dir`` again when neither could be written (the caller still prints the verdict).

    ``log_failed``: the drill log could not be written (path and reason); the run is errored for it."""
    if log_failed is not None and report.error is None:
        report.error = ErrorInfo.from_exception(InfraUnavailable(
            f"could not write the drill log {log_failed}; free space there or pass --report-dir on another disk"))
    report.finish()
    try:
        _write(report, run_dir, extra)
    except OSError as e:
        failed_dir = run_dir
        report.error = ErrorInfo.from_exception(InfraUnavailable(
            f"could not write the report to {failed_dir} ({e.strerror or e}); free space there or pass "
            f"--report-dir on another disk" + (f" (earlier: {report.error.message})" if report.error else "")))
        run_dir = fallback_dir(failed_dir.name)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            _write(report, run_dir, extra)
        except OSError:
            return failed_dir  # nowhere to write: the CLI still prints the verdict and the error
        return run_dir
    if history is not None:
        with contextlib.suppress(OSError):
            append_history(report, history, run_dir)
    return run_dir
