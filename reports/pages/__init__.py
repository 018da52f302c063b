"""Report pages: every file ``write_run`` renders from the report model into a run folder, declared once.

``interface.py`` holds the record a page module declares (``Page``) and what a renderer is given
(``PageContext``); one module per page ends in ``PAGE = Page(...)``; ``registry.py`` holds the one ordered
list (``PAGES``) that ``reports.writers`` iterates and ``REPORT_FILES`` derives from.
"""

from .interface import Page, PageContext

__all__ = ["Page", "PageContext"]
