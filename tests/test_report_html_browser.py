"""The HTML pages in a real headless browser (Debian's chromium): they render, show the verdict, draw
the phase timeline, and a screenshot is taken (kept in the test's tmp folder for a person to look at)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from restore_drill.reports.model import RunReport
from restore_drill.reports.writers import append_history, render_history, write_run
from tests.browser import Browser, ensure_chromium, png_pixel, png_size
from tests.report_samples import errored_run, failed_run, passed_run

# The verdict banner's background (see _style.css.j2), sampled in its top padding where no text is.
BANNER = {"passed": (0x2E, 0x7D, 0x32), "failed": (0xC6, 0x28, 0x28), "errored": (0xEF, 0x6C, 0x00)}
SAMPLES = {"passed": passed_run, "failed": failed_run, "errored": errored_run}


@pytest.fixture(scope="session")
def browser() -> Browser:
    found, reason = ensure_chromium()
    if found is None:
        pytest.skip(f"no headless browser: {reason}")
    return found


def _close(rgb: tuple[int, int, int], want: tuple[int, int, int], tol: int = 16) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(rgb, want, strict=True))


@pytest.mark.parametrize("verdict", ["passed", "failed", "errored"])
def test_report_html_renders_the_verdict(browser: Browser, tmp_path: Path, verdict: str) -> None:
    run: RunReport = SAMPLES[verdict]()
    assert run.status == verdict
    page = write_run(run, tmp_path / "run")["report.html"]
    dom = browser.dump_dom(page, tmp_path / "profile-dom")
    m = re.search(r'<header class="verdict (\w+)" id="verdict">\s*<div class="big">(.*?)</div>', dom, re.S)
    assert m is not None and m.group(1) == verdict and verdict.upper() in m.group(2)
    assert f"<title>{verdict.upper()} · restore-drill run {run.run_id}</title>" in dom
    n_phases = sum(len(d.phases) for d in run.drills)
    assert len(re.findall(r'<rect class="phase ', dom)) == n_phases  # timeline drawn in the DOM
    if verdict == "failed":
        why = dom[dom.index('id="what-failed"'):dom.index('<table id="drills"')]
        assert "row_counts" in why and "table-scoped restore" in why
    png = browser.screenshot(page, tmp_path / f"report-{verdict}.png", tmp_path / "profile-shot")
    assert png_size(png) == (1200, 1600)
    assert png.stat().st_size > 20_000  # a real page, not a blank canvas
    rgb = png_pixel(png, 1000, 30)
    assert _close(rgb, BANNER[verdict]), f"banner pixel {rgb} is not the {verdict} colour {BANNER[verdict]}"
    # and the banner colour really distinguishes verdicts (a check that could not fail proves nothing)
    assert not any(_close(rgb, c) for v, c in BANNER.items() if v != verdict)


def test_compliance_and_history_pages_render(browser: Browser, tmp_path: Path) -> None:
    hist = tmp_path / "history.jsonl"
    for i, make in enumerate((passed_run, failed_run, passed_run)):
        run = make()
        run.run_id = f"{run.run_id}-{i}"
        write_run(run, tmp_path / run.run_id)
        append_history(run, hist)
    comp = tmp_path / f"{failed_run().run_id}-1" / "compliance.html"
    dom = browser.dump_dom(comp, tmp_path / "p1")
    assert "Backup restore test — compliance evidence" in dom and 'class="verdict failed"' in dom
    evidence = dom[dom.index('<table id="evidence">'):]
    assert len(re.findall(r"<td><code>[0-9a-f]{64}</code></td>", evidence)) == 4  # report.json/.md/.html, junit.xml
    hist_page = render_history(hist, tmp_path / "history.html")
    dom = browser.dump_dom(hist_page, tmp_path / "p2")
    assert len(re.findall(r'<rect class="verdict status-', dom)) == 3
    assert '<svg class="trend rto"' in dom
    png = browser.screenshot(hist_page, tmp_path / "history.png", tmp_path / "p3")
    assert png_size(png) == (1200, 1600)
