"""Inline SVG charts for the report and the comparison (no chart library, no script).

Every label is escaped with :func:`html.escape`, so a hostile name shows as text.
"""
from __future__ import annotations

import html
import math

import numpy as np
from markupsafe import Markup

from maps.tables import finite


def svg_hbar_chart(labels: list[str], series: list[tuple[str, list[float], str]], *, value_format=None,
                   title: str = "", width: int = 720) -> Markup:
    """Horizontal (stacked) bars, one row per label; ``series`` = [(name, values, colour)]."""
    value_format = value_format or (lambda v: f"{v:,.0f}")
    n = len(labels)
    shown = [_clip(lab, 28) for lab in labels]
    # the label column as wide as its widest label (CJK included), the legend wrapped to the chart's width
    bar_h, gap, top = 18, 6, 8
    label_w = int(min(280, max(100, max((text_width_px(t) for t in shown), default=0) + 12)))
    legend = _legend_rows(series, label_w, width) if len(series) > 1 else []
    legend_h = 22 * (max((row for row, _, _ in legend), default=-1) + 1)
    plot_w = width - label_w - 90
    vals = np.array([[finite(v) or 0.0 for v in s[1]] for s in series], dtype=float).reshape(len(series), n)
    vals = np.clip(vals, 0, None)
    totals = vals.sum(axis=0) if len(series) else np.zeros(n)
    vmax = float(totals.max()) if n and totals.max() > 0 else 1.0
    height = top + legend_h + n * (bar_h + gap) + 8
    e = html.escape
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">']
    if title:
        out.append(f"<title>{e(title)}</title>")
    for (name, _, colour), (row, x, _) in zip(series, legend, strict=False):
        y = top + 22 * row
        out.append(f'<rect x="{x:.0f}" y="{y}" width="12" height="12" fill="{e(colour)}"/>'
                   f'<text x="{x + 16:.0f}" y="{y + 10}" class="lg">{e(name)}</text>')
    for i, lab in enumerate(labels):
        y = top + legend_h + i * (bar_h + gap)
        out.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" class="lb">{e(shown[i])}'
                   f"<title>{e(lab)}</title></text>")
        x = float(label_w)
        for (name, _, colour), v in zip(series, vals[:, i], strict=True):
            wdt = plot_w * v / vmax
            if wdt > 0:
                out.append(f'<rect x="{x:.1f}" y="{y}" width="{wdt:.1f}" height="{bar_h}" fill="{e(colour)}">'
                           f"<title>{e(lab)}: {e(name)} {e(value_format(v))}</title></rect>")
            x += wdt
        out.append(f'<text x="{x + 4:.1f}" y="{y + 13}" class="vl">{e(value_format(totals[i]))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _legend_rows(series, left: float, width: float) -> list[tuple[int, float, float]]:
    """(row, x, item width) of each legend item, starting at ``left`` and wrapping before ``width``."""
    out, row, x = [], 0, float(left)
    for name, _, _ in series:
        w = 16 + text_width_px(str(name)) + 14
        if x > left and x + w > width:
            row, x = row + 1, float(left)
        out.append((row, x, w))
        x += w
    return out


#: Size of axis text in the charts (px): the report template sets ``svg.chart { font-size: 11px }``.
AXIS_FONT_PX = 11.0
#: Least clear space between two neighbouring axis labels (px).
LABEL_GAP_PX = 6.0


def text_width_px(text: str, font_px: float = AXIS_FONT_PX) -> float:
    """A generous estimate of the rendered width of ``text``: 0.62 em per ASCII character, 1 em for any other.

    Chromium's sans-serif measures about 0.55 em per digit and 0.8 em for the minus sign and the ellipsis,
    so the estimate errs on the wide side (labels are thinned a little early, never overlap).
    """
    return font_px * sum(0.62 if ord(ch) < 128 else 1.0 for ch in str(text))


def label_stride(labels: list[str], slot_px: float, *, gap_px: float = LABEL_GAP_PX) -> int:
    """Label every k-th of equally spaced slots (``slot_px`` apart) so that no two shown labels overlap.

    Two labels centred ``k * slot_px`` apart are clear of each other when that distance is at least the
    widest label plus ``gap_px``.
    """
    widest = max((text_width_px(t) for t in labels), default=0.0)
    if slot_px <= 0:
        return max(len(labels), 1)
    return max(1, math.ceil((widest + gap_px) / slot_px))


def svg_histogram(counts: list[float], bin_labels: list[str], *, title: str = "", xlabel: str = "",
                  ylabel: str = "", width: int = 720, height: int = 240, colours: list[str] | None = None) -> Markup:
    """Vertical bars over labelled bins.

    Every bar carries its full label as a tooltip; under the axis only every k-th bin is labelled
    (:func:`label_stride`), so crowded labels never overlap. The left margin widens to the widest count.
    """
    n = len(counts)
    cmax = max([c for c in counts if c] or [1])
    ticks = _nice_ticks(cmax)
    tick_w = max(text_width_px(f"{t:,.0f}") for t in ticks)
    left, bottom, top = max(56, math.ceil(tick_w) + 28), 44, 16   # 28 px: the y label and the tick gap
    plot_w, plot_h = width - left - 10, height - bottom - top
    bw = plot_w / max(n, 1)
    stride = label_stride(bin_labels, bw)
    e = html.escape
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">']
    if title:
        out.append(f"<title>{e(title)}</title>")
    for t in ticks:
        y = top + plot_h - plot_h * t / cmax
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" class="ax">{t:,.0f}</text>')
    for i, (c, lab) in enumerate(zip(counts, bin_labels, strict=True)):
        h = plot_h * (c or 0) / cmax
        x = left + i * bw
        colour = (colours or [])[i] if colours and i < len(colours) else "#4292c6"
        out.append(f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(bw - 2, 1):.1f}" '
                   f'height="{h:.1f}" fill="{e(colour)}"><title>{e(lab)}: {c:,.0f}</title></rect>')
        if i % stride == 0:
            out.append(f'<text x="{x + bw / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" class="ax">'
                       f"{e(lab)}</text>")
    out.append(f'<line x1="{left}" x2="{width - 10}" y1="{top + plot_h}" y2="{top + plot_h}" class="axis"/>')
    if xlabel:
        out.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle" class="lb">'
                   f"{e(xlabel)}</text>")
    if ylabel:
        out.append(f'<text x="12" y="{top + plot_h / 2:.0f}" text-anchor="middle" class="lb" '
                   f'transform="rotate(-90 12 {top + plot_h / 2:.0f})">{e(ylabel)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def svg_line_chart(xs: list[float], series: list[tuple[str, list[float], str]], *, title: str = "",
                   xlabel: str = "", width: int = 720, height: int = 260) -> str:
    """Lines over a numeric x axis, each series scaled to its own maximum (labelled at its points)."""
    e = html.escape
    left, right, top, bottom = 60, 20, 28, 40
    pw, ph = width - left - right, height - top - bottom
    x = np.asarray(xs, dtype=float)
    xmin, xmax = (float(x.min()), float(x.max())) if len(x) else (0.0, 1.0)
    span = (xmax - xmin) or 1.0
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}"><title>{e(title)}</title>',
           f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#888"/>']
    for xv in x:
        px = left + pw * (xv - xmin) / span
        out.append(f'<text x="{px:.1f}" y="{top + ph + 16}" text-anchor="middle" class="lb">{e(f"{xv:g}")}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" class="lb">{e(xlabel)}</text>')
    lx = left
    for name, ys, colour in series:
        y = np.array([np.nan if v is None else float(v) for v in ys], dtype=float)
        top_v = np.nanmax(np.abs(y)) if np.isfinite(y).any() else 1.0
        top_v = top_v or 1.0
        pts = [(left + pw * (xv - xmin) / span, top + ph - ph * (yv / top_v)) for xv, yv in zip(x, y, strict=True) if np.isfinite(yv)]
        if pts:
            out.append(f'<polyline fill="none" stroke="{e(colour)}" stroke-width="2" points="'
                       + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
            for (a, b), yv in zip(pts, y[np.isfinite(y)], strict=True):
                out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{e(colour)}"><title>{e(name)}: {yv:,.4g}</title></circle>')
        out.append(f'<rect x="{lx}" y="8" width="12" height="12" fill="{e(colour)}"/>'
                   f'<text x="{lx + 16}" y="18" class="lg">{e(name)} (max {top_v:,.4g})</text>')
        lx += 40 + 7 * len(name) + 60
    out.append("</svg>")
    return "".join(out)


def _clip(s: str, n: int) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def _nice_ticks(vmax: float) -> list[float]:
    if vmax <= 0:
        return [0.0]
    raw = vmax / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = max(1.0, next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw))  # counts: whole ticks
    return [i * step for i in range(int(vmax // step) + 1)]
