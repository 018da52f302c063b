"""report.md: verdict first, then what failed and why, steps, checks (Markdown)."""

from __future__ import annotations

from ..model import RunReport
from ..render import render_markdown
from .interface import Page, PageContext


def _render(report: RunReport, ctx: PageContext) -> str:
    return render_markdown(report)


PAGE = Page("report.md", _render, "the run's verdict, failures, steps and checks in Markdown")
