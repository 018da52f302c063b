"""What a report page declares and what its renderer receives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..model import RunReport


@dataclass(frozen=True)
class PageContext:
    """What a renderer may read besides the report model.

    ``run_dir``: the run folder being written. ``evidence``: (relative posix path, size in bytes, sha256 hex)
    of every file already in the folder when the evidence-listing pages are rendered (the pages without
    ``lists_evidence`` included, the listing pages themselves and evidence.sha256 excluded); empty for
    pages rendered before that moment.
    """

    run_dir: Path
    evidence: Sequence[tuple[str, int, str]] = field(default_factory=tuple)


@dataclass(frozen=True)
class Page:
    """One file of every run folder, rendered from the ``RunReport`` only (never from the drill itself).

    ``filename``: its name in the run folder. ``render(report, ctx) -> str``: the whole text, written as
    UTF-8 atomically by ``reports.writers``; it may raise only for a report that cannot be rendered
    (a defect, HarnessFault). ``summary``: one line for the README/reader. ``lists_evidence``: the page
    vouches for the folder's other files (the compliance report): it is rendered after every other page,
    with ``ctx.evidence`` set, and is itself covered only by evidence.sha256.
    """

    filename: str
    render: Callable[[RunReport, PageContext], str]
    summary: str
    lists_evidence: bool = False
