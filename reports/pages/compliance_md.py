"""compliance.md: controls, objectives and the sha256 of every file the run folder holds (Markdown)."""

from __future__ import annotations

from ..model import RunReport
from ..render import render_compliance
from .interface import Page, PageContext


def _render(report: RunReport, ctx: PageContext) -> str:
    return render_compliance(report, list(ctx.evidence), "md")


PAGE = Page("compliance.md", _render, "controls, objectives and evidence hashes in Markdown", lists_evidence=True)
