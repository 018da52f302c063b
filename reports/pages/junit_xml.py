"""junit.xml: one testcase per drill x check, for CI systems that ingest JUnit (DESIGN: every run folder
holds it)."""

from __future__ import annotations

from ..junit import JUNIT_FILE, junit_xml
from ..model import RunReport
from .interface import Page, PageContext


def _render(report: RunReport, ctx: PageContext) -> str:
    return junit_xml(report)


PAGE = Page(JUNIT_FILE, _render, "one JUnit testcase per drill and check")
