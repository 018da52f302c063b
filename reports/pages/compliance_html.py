"""compliance.html: compliance.md as HTML."""

from __future__ import annotations

from ..model import RunReport
from ..render import render_compliance
from .interface import Page, PageContext


def _render(report: RunReport, ctx: PageContext) -> str:
    return render_compliance(report, list(ctx.evidence), "html")


PAGE = Page("compliance.html", _render, "controls, objectives and evidence hashes in HTML", lists_evidence=True)
