"""report.html: report.md's content plus a phase timeline (HTML, self-contained)."""

from __future__ import annotations

from ..model import RunReport
from ..render import render_html
from .interface import Page, PageContext


def _render(report: RunReport, ctx: PageContext) -> str:
    return render_html(report)


PAGE = Page("report.html", _render, "the run's verdict, failures, steps, checks and phase timeline in HTML")
