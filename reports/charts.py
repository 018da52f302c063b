"""Inline SVG charts for the self-contained HTML pages: the phase timeline of a run and history trends.

Hand-built SVG (no JS, no external assets) so a report opens the same offline, in a CI artifact viewer,
or years later in an audit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from .model import RunReport, parse_ts

STATUS_COLOURS = {
    "passed": "#2e7d32", "failed": "#c62828", "errored": "#ef6c00", "skipped": "#9e9e9e",
    "not_run": "#bdbdbd",
}
PHASE_COLOURS = {
    "infra": "#78909c", "setup": "#546e7a", "verify": "#33691e", "seed": "#8d6e63", "backup": "#1565c0", "disaster": "#6a1b9a",
    "restore": "#00838f", "checks": "#558b2f", "report": "#5d4037",
}


def _nice_step(span: float, ticks: int = 6) -> float:
    """A round tick spacing (1, 2, 5 x 10^n) giving about ``ticks`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    mag = 10 ** int(f"{raw:e}".split("e")[1])
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def _fmt_s(v: float) -> str:
    if v >= 7200:
        return f"{v / 3600:.3g}h"
    if v >= 120:
        return f"{v / 60:.3g}m"
    return f"{v:.3g}s"


@dataclass(frozen=True)
class _Bar:
    row: str
    phase: str
    status: str
    start: float
    duration: float


def phase_timeline_svg(run: RunReport, width: int = 1000) -> str:
    """One row per drill phase, bars placed by start offset from the first phase and sized by duration."""
    bars: list[_Bar] = []
    starts = [parse_ts(p.started_at) for d in run.drills for p in d.phases]
    valid = [s for s in starts if s is not None]
    if not valid:
        return ('<svg class="timeline" role="img" aria-label="Phase timeline: no phases recorded" '
                'xmlns="http://www.w3.org/2000/svg" width="400" height="30"><text x="4" y="20" '
                'font-size="13" fill="#555">No phases recorded.</text></svg>')
    origin = min(valid)
    multi = len(run.drills) > 1
    for d in run.drills:
        for p in d.phases:
            ts = parse_ts(p.started_at)
            off = (ts - origin).total_seconds() if ts is not None else 0.0
            row = f"{d.id} · {p.name}" if multi else p.name
            bars.append(_Bar(row, p.name, p.status, max(off, 0.0), max(p.duration_s, 0.0)))
    total = max(b.start + b.duration for b in bars) or 1.0
    label_w, row_h, top, bottom = (300 if multi else 90), 22, 8, 30
    plot_w = width - label_w - 90  # room for the duration label after the last bar
    height = top + row_h * len(bars) + bottom
    scale = plot_w / total
    out = [
        f'<svg class="timeline" role="img" aria-label="Phase timeline, {len(bars)} phases over '
        f'{total:.1f} seconds" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'
    ]
    step = _nice_step(total)
    t = 0.0
    axis_y = top + row_h * len(bars)
    while t <= total + 1e-9:
        x = label_w + t * scale
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle" fill="#555">{_fmt_s(t)}</text>')
        t += step
    for i, b in enumerate(bars):
        y = top + i * row_h
        w = max(b.duration * scale, 2.0)  # a 0.01 s phase still gets a visible sliver
        x = label_w + b.start * scale
        colour = PHASE_COLOURS.get(b.phase, "#607d8b")
        stroke = STATUS_COLOURS.get(b.status, "#000") if b.status != "passed" else colour
        title = escape(f"{b.row}: {b.status}, starts +{b.start:.2f}s, lasts {b.duration:.2f}s")
        out.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" fill="#222">{escape(b.row)}</text>')
        out.append(
            f'<rect class="phase phase-{escape(b.phase)} status-{escape(b.status)}" data-phase="{escape(b.phase)}" '
            f'x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" rx="3" fill="{colour}" '
            f'stroke="{stroke}" stroke-width="{3 if b.status != "passed" else 1}"><title>{title}</title></rect>'
        )
        label_x = x + w + 4
        out.append(f'<text x="{label_x:.1f}" y="{y + 15}" fill="#444">{b.duration:.2f}s'
                   f'{"" if b.status == "passed" else " " + escape(b.status)}</text>')
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class Point:
    index: int  # run position in time order
    label: str  # run id / time for the tooltip
    value: float | None
    status: str


def trend_svg(title: str, series: Mapping[str, Sequence[Point]], n_runs: int, targets: Mapping[str, float | None],
              css_class: str, x_labels: Sequence[str] = (), width: int = 1060, height: int = 260) -> str:
    """A line chart: one polyline per series over run index, points coloured by verdict, targets dashed.
    ``x_labels[i]`` labels run i (about eight of them are shown)."""
    left, right, top, bottom = 70, 340, 28, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p.value for pts in series.values() for p in pts if p.value is not None]
    # Scale to the measurements: a 15-minute target would flatten 4-second RTOs into the axis. Targets
    # within reach get a dashed line; the others are named in the legend.
    vmax = max(values) if values else 0.0
    near = [t for t in targets.values() if t is not None and t <= 3 * vmax]
    vmax = max([vmax, *near]) * 1.1 or 1.0
    xs = plot_w / max(n_runs - 1, 1)

    def px(i: int) -> float:
        return left + (i * xs if n_runs > 1 else plot_w / 2)

    def py(v: float) -> float:
        return top + plot_h - v / vmax * plot_h

    out = [f'<svg class="trend {escape(css_class)}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<text x="{left}" y="16" font-weight="bold" fill="#222">{escape(title)}</text>']
    step = _nice_step(vmax, 5)
    v = 0.0
    while v <= vmax + 1e-9:
        y = py(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{_fmt_s(v)}</text>')
        v += step
    palette = ["#1565c0", "#6a1b9a", "#00838f", "#8d6e63", "#ad1457", "#558b2f", "#37474f", "#f9a825"]
    if not values:
        out.append(f'<text x="{left + 10}" y="{top + plot_h / 2:.1f}" fill="#777">no values recorded</text>')
    for k, (name, pts) in enumerate(sorted(series.items())):
        colour = palette[k % len(palette)]
        coords = [(px(p.index), py(p.value)) for p in pts if p.value is not None]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<polyline class="series" data-series="{escape(name)}" points="{path}" fill="none" '
                       f'stroke="{colour}" stroke-width="2"/>')
        for p in pts:
            if p.value is None:
                continue
            out.append(f'<circle class="point status-{escape(p.status)}" cx="{px(p.index):.1f}" '
                       f'cy="{py(p.value):.1f}" r="4" fill="{STATUS_COLOURS.get(p.status, "#000")}" '
                       f'stroke="{colour}" stroke-width="1.5"><title>{escape(name)} {escape(p.label)}: '
                       f'{p.value:.2f}s ({escape(p.status)})</title></circle>')
        target = targets.get(name)
        off_scale = target is not None and top + plot_h - target / vmax * plot_h < top
        if target is not None and not off_scale:
            y = py(target)
            out.append(f'<line class="target" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                       f'stroke="{colour}" stroke-dasharray="6 4"><title>{escape(name)} target '
                       f'{target:g}s</title></line>')
        ly = top + 14 + k * 16
        out.append(f'<rect x="{left + plot_w + 12}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>')
        label = name if len(name) <= 34 else name[:33] + "…"
        if off_scale and target is not None:
            label += f" (target {_fmt_s(target)})"
        out.append(f'<text x="{left + plot_w + 26}" y="{ly}" font-size="11" fill="#222">{escape(label)}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>')
    if x_labels:
        every = max(len(x_labels) // 8, 1)
        for i in range(0, len(x_labels), every):
            out.append(f'<text x="{px(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11" '
                       f'fill="#555">{escape(x_labels[i])}</text>')
    out.append("</svg>")
    return "".join(out)


def verdict_strip_svg(runs: Sequence[tuple[str, str]], width: int = 1000) -> str:
    """One square per run (oldest left), coloured by verdict; the tooltip names the run."""
    size, gap = 14, 3
    per_row = max((width - 10) // (size + gap), 1)
    rows = max((len(runs) + per_row - 1) // per_row, 1)
    height = rows * (size + gap) + 6
    out = [f'<svg class="verdicts" role="img" aria-label="Verdicts of {len(runs)} runs, oldest first" '
           f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for i, (label, status) in enumerate(runs):
        x, y = 4 + (i % per_row) * (size + gap), 3 + (i // per_row) * (size + gap)
        out.append(f'<rect class="verdict status-{escape(status)}" x="{x}" y="{y}" width="{size}" height="{size}" '
                   f'rx="2" fill="{STATUS_COLOURS.get(status, "#000")}"><title>{escape(label)}: '
                   f'{escape(status)}</title></rect>')
    out.append("</svg>")
    return "".join(out)
