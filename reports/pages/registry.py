"""The report pages of every run folder, in the order they are written. Adding a page: a module in this
package ending in ``PAGE = Page(...)``, imported here and listed in ``PAGES``; ``reports.writers.write_run``
and ``render_run`` then write it, ``REPORT_FILES`` lists it and (unless it ``lists_evidence``) the
compliance report and evidence.sha256 hash it."""

from __future__ import annotations

from . import compliance_html, compliance_md, junit_xml, report_html, report_md
from .interface import Page

PAGES: tuple[Page, ...] = (
    report_md.PAGE,
    report_html.PAGE,
    junit_xml.PAGE,
    compliance_md.PAGE,
    compliance_html.PAGE,
)


def names() -> tuple[str, ...]:
    """The file names of ``PAGES``, in write order."""
    return tuple(p.filename for p in PAGES)
