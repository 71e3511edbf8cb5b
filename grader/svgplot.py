"""Line charts as inline SVG: a learning curve in a page that works offline.

No plotting library and no script: the chart is a handful of SVG elements written
here, so a feedback page shows the capstone's curves from disk, in an LMS or in an
e-mail. Labels are escaped; values that are not finite (a diverged run) break the line
and are listed under the chart.
"""

from __future__ import annotations

import html
import math

_COLOURS = ("#1f5fbf", "#999999", "#c0392b", "#7f8c8d")
_W, _H = 360, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 24, 34


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(step))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= step), default=step)
    first = math.ceil(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _open(title: str, width: float, height: float) -> list[str]:
    """An SVG's opening tag (labelled for screen readers) and its centred title."""
    return [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
            f"role='img' aria-label='{html.escape(title, quote=True)}'>",
            f"<text x='{width / 2}' y='14' text-anchor='middle'>{html.escape(title)}</text>"]


def _span(values: list[float]) -> tuple[float, float]:
    """The range a chart shows for these finite values (a flat series gets some room)."""
    lo, hi = min(values), max(values)
    return (lo - 0.5, hi + 0.5) if hi - lo < 1e-12 else (lo, hi)


def line_chart(title: str, series: dict[str, list[float]], dashed: tuple[str, ...] = ()) -> str:
    """One chart: a line per named series against its index + 1 (the epoch)."""
    finite = [v for values in series.values() for v in values if math.isfinite(v)]
    n = max((len(v) for v in series.values()), default=0)
    parts = _open(title, _W, _H)
    if not finite or n == 0:
        parts.append(f"<text x='{_W / 2}' y='{_H / 2}' text-anchor='middle'>no values</text></svg>")
        return "".join(parts)
    lo, hi = _span(finite)
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(i: int) -> float:
        return _LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return _TOP + plot_h * (hi - v) / (hi - lo)

    parts.append(f"<rect x='{_LEFT}' y='{_TOP}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#ccc'/>")
    for tick in _ticks(lo, hi):
        parts.append(f"<line x1='{_LEFT - 3}' x2='{_LEFT}' y1='{y(tick):.1f}' y2='{y(tick):.1f}' stroke='#666'/>"
                     f"<text x='{_LEFT - 5}' y='{y(tick) + 4:.1f}' text-anchor='end'>{tick:.4g}</text>")
    for i in sorted({0, n - 1, (n - 1) // 2}):
        parts.append(f"<text x='{x(i):.1f}' y='{_TOP + plot_h + 14}' text-anchor='middle'>{i + 1}</text>")
    parts.append(f"<text x='{_LEFT + plot_w / 2}' y='{_H - 4}' text-anchor='middle'>epoch</text>")
    legend_y = _TOP + 12
    for k, (name, values) in enumerate(series.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        dash = " stroke-dasharray='5,3'" if name in dashed else ""
        runs: list[list[str]] = [[]]
        for i, v in enumerate(values):
            if math.isfinite(v):
                runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if len(run) > 1:
                parts.append(f"<polyline points='{' '.join(run)}' fill='none' stroke='{colour}' stroke-width='2'{dash}/>")
            elif run:
                cx, cy = run[0].split(",")
                parts.append(f"<circle cx='{cx}' cy='{cy}' r='2.5' fill='{colour}'/>")
        parts.append(f"<line x1='{_LEFT + 8}' x2='{_LEFT + 26}' y1='{legend_y - 4}' y2='{legend_y - 4}' "
                     f"stroke='{colour}' stroke-width='2'{dash}/>"
                     f"<text x='{_LEFT + 30}' y='{legend_y}'>{html.escape(name)}</text>")
        legend_y += 14
    parts.append("</svg>")
    return "".join(parts)


def capstone_svg(curves: dict[str, list[float]]) -> str:
    """The capstone's training loss and test accuracy per epoch, the student's against the
    reference's, side by side; a note when the student's run has no values or diverged."""
    loss = line_chart("training loss", {"yours": curves.get("train_loss", []),
                                        "reference": curves.get("reference_train_loss", [])}, dashed=("reference",))
    acc = line_chart("test accuracy", {"yours": curves.get("test_accuracy", []),
                                       "reference": curves.get("reference_test_accuracy", [])}, dashed=("reference",))
    notes = []
    if not curves.get("train_loss"):
        notes.append("Your training produced no values (it did not run to its first epoch).")
    elif any(not math.isfinite(v) for v in curves["train_loss"]):
        notes.append("Your training loss was not finite at some epochs (nan or infinity): the line breaks there.")
    note = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    return f"<div class='curves'>{loss} {acc}</div>{note}"


def bar_chart(title: str, labels: list[str], counts: list[int], x_label: str = "", size: tuple[int, int] = (260, 150)
              ) -> str:
    """A histogram: one bar per bin, its count above it, the bin's lower edge below."""
    n = max(len(counts), 1)
    top = max(counts, default=0) or 1
    w, h_total = size
    plot_w, plot_h = w - _LEFT - _RIGHT, h_total - _TOP - _BOTTOM
    width = plot_w / n
    parts = _open(title, w, h_total)
    parts.append(f"<line x1='{_LEFT}' x2='{_LEFT + plot_w}' y1='{_TOP + plot_h}' y2='{_TOP + plot_h}' stroke='#666'/>")
    for k, count in enumerate(counts):
        h = plot_h * count / top
        x = _LEFT + k * width
        parts.append(f"<rect x='{x + 1:.1f}' y='{_TOP + plot_h - h:.1f}' width='{max(width - 2, 1):.1f}' "
                     f"height='{h:.1f}' fill='{_COLOURS[0]}'><title>{html.escape(labels[k])}: {count}</title></rect>")
        if count:
            parts.append(f"<text x='{x + width / 2:.1f}' y='{_TOP + plot_h - h - 3:.1f}' "
                         f"text-anchor='middle'>{count}</text>")
    for k in sorted({0, n // 2, n - 1}):
        if k < len(labels):
            parts.append(f"<text x='{_LEFT + k * width:.1f}' y='{_TOP + plot_h + 14}' "
                         f"text-anchor='start'>{html.escape(labels[k])}</text>")
    if x_label:
        parts.append(f"<text x='{_LEFT + plot_w / 2}' y='{h_total - 4}' text-anchor='middle'>"
                     f"{html.escape(x_label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def overlay_chart(title: str, curves: list[list[float]], reference: list[float]) -> str:
    """Many thin grey curves (one per student) under one bold reference curve, a legend
    of two entries: a class's learning curves in one chart."""
    width, height = 2 * _W, _H + 60
    finite = [v for c in curves + [reference] for v in c if math.isfinite(v)]
    n = max((len(c) for c in curves + [reference]), default=0)
    parts = _open(title, width, height)
    if not finite or n == 0:
        parts.append(f"<text x='{width / 2}' y='{height / 2}' text-anchor='middle'>no values</text></svg>")
        return "".join(parts)
    lo, hi = _span(finite)
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM

    def point(i: int, v: float) -> str:
        x = _LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        return f"{x:.1f},{_TOP + plot_h * (hi - v) / (hi - lo):.1f}"

    def line(values: list[float], style: str) -> str:
        runs: list[list[str]] = [[]]
        for i, v in enumerate(values):
            if math.isfinite(v):
                runs[-1].append(point(i, v))
            elif runs[-1]:
                runs.append([])
        return "".join(f"<polyline points='{' '.join(r)}' fill='none' {style}/>" for r in runs if len(r) > 1)

    parts.append(f"<rect x='{_LEFT}' y='{_TOP}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#ccc'/>")
    for tick in _ticks(lo, hi):
        y = _TOP + plot_h * (hi - tick) / (hi - lo)
        parts.append(f"<text x='{_LEFT - 5}' y='{y + 4:.1f}' text-anchor='end'>{tick:.4g}</text>")
    parts.append(f"<text x='{_LEFT + plot_w / 2}' y='{height - 4}' text-anchor='middle'>epoch (1 to {n})</text>")
    parts += [line(c, "stroke='#999' stroke-opacity='0.5' stroke-width='1'") for c in curves]
    parts.append(line(reference, f"stroke='{_COLOURS[0]}' stroke-width='3'"))
    parts.append(f"<line x1='{_LEFT + 8}' x2='{_LEFT + 26}' y1='{_TOP + 8}' y2='{_TOP + 8}' stroke='#999'/>"
                 f"<text x='{_LEFT + 30}' y='{_TOP + 12}'>students ({len(curves)})</text>"
                 f"<line x1='{_LEFT + 8}' x2='{_LEFT + 26}' y1='{_TOP + 22}' y2='{_TOP + 22}' "
                 f"stroke='{_COLOURS[0]}' stroke-width='3'/><text x='{_LEFT + 30}' y='{_TOP + 26}'>reference</text>")
    parts.append("</svg>")
    return "".join(parts)
