"""Tiny inline-SVG charts: no plotting library, no script, nothing fetched.

Each function returns an `<svg>` string sized in CSS pixels; text is escaped.
"""

from __future__ import annotations

import math
from html import escape

REAL = "#4C72B0"
SYN = "#DD8452"


def _f(x: float) -> str:
    return f"{x:.1f}"


def histogram_overlay(edges: list[float], real: list[float], syn: list[float], *, width: int = 320,
                      height: int = 150, ends: tuple[str, str] | None = None) -> str:
    """Real bars behind synthetic outline steps, on the same bins."""
    pad_l, pad_b, pad_t = 6, 22, 6
    w, h = width - 2 * pad_l, height - pad_b - pad_t
    top = max([*real, *syn, 1e-12])
    n = len(real)
    bw = w / max(1, n)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, v in enumerate(real):
        bh = h * v / top
        parts.append(f'<rect x="{_f(pad_l + i * bw)}" y="{_f(pad_t + h - bh)}" width="{_f(bw)}" '
                     f'height="{_f(bh)}" fill="{REAL}" fill-opacity="0.55"/>')
    pts = []
    for i, v in enumerate(syn):
        y = pad_t + h - h * v / top
        pts += [f"{_f(pad_l + i * bw)},{_f(y)}", f"{_f(pad_l + (i + 1) * bw)},{_f(y)}"]
    if pts:
        parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{SYN}" stroke-width="2"/>')
    parts.append(f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" stroke="#888"/>')
    if edges:
        lo, hi = ends if ends is not None else (_num(edges[0]), _num(edges[-1]))
        parts.append(f'<text x="{pad_l}" y="{height - 6}" font-size="10" fill="#444">{escape(lo)}</text>')
        parts.append(f'<text x="{pad_l + w}" y="{height - 6}" font-size="10" fill="#444" '
                     f'text-anchor="end">{escape(hi)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def category_bars(labels: list[str], real: list[float], syn: list[float], *, width: int = 320) -> str:
    """Paired horizontal bars per category: real above, synthetic below."""
    row = 18
    label_w = 110
    height = max(30, row * len(labels) + 8)
    top = max([*real, *syn, 1e-12])
    w = width - label_w - 78
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, (lab, r, s) in enumerate(zip(labels, real, syn, strict=True)):
        y = 4 + i * row
        short = lab if len(lab) <= 16 else lab[:15] + "…"
        parts.append(f'<text x="{label_w - 4}" y="{y + 11}" font-size="10" text-anchor="end" '
                     f'fill="#333">{escape(short)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{_f(w * r / top)}" height="7" fill="{REAL}"/>')
        parts.append(f'<rect x="{label_w}" y="{y + 8}" width="{_f(w * s / top)}" height="7" fill="{SYN}"/>')
        parts.append(f'<text x="{_f(label_w + w * max(r, s) / top + 3)}" y="{y + 11}" font-size="9" '
                     f'fill="#555">{r:.1%}/{s:.1%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def heatmap(names: list[str], values: dict[tuple[str, str], float], *, cell: int = 22) -> str:
    """Lower-triangle heatmap of 1 − pair score (0 white, ≥ 0.5 dark red); NaN grey."""
    label_w = 120
    n = len(names)
    size = label_w + n * cell + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" role="img">']
    for i, a in enumerate(names):
        y = label_w + i * cell
        parts.append(f'<text x="{label_w - 4}" y="{y + cell * 0.7:.1f}" font-size="10" text-anchor="end">'
                     f'{escape(a[:18])}</text>')
        x = label_w + i * cell + cell * 0.7
        parts.append(f'<text x="{x:.1f}" y="{label_w - 4}" font-size="10" '
                     f'transform="rotate(-60 {x:.1f} {label_w - 4})">{escape(a[:18])}</text>')
        for j, b in enumerate(names[:i]):
            v = values.get((a, b), values.get((b, a), math.nan))
            if math.isnan(v):
                color = "#ccc"
            else:
                t = min(1.0, max(0.0, v / 0.5))
                color = f"rgb(255,{int(255 * (1 - t))},{int(255 * (1 - t))})"
            parts.append(f'<rect x="{label_w + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                         f'fill="{color}"><title>{escape(a)} × {escape(b)}: '
                         f'{"n/a" if math.isnan(v) else f"{v:.3f}"}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def interval_bar(value: float, low: float, high: float, *, ref: float | None = None, lo: float = 0.0,
                 hi: float = 1.0, width: int = 200) -> str:
    """A point with its interval on a [lo, hi] axis; a dashed line marks the chance level."""
    h = 26
    pad = 6
    w = width - 2 * pad

    def x(v: float) -> float:
        return pad + w * (min(hi, max(lo, v)) - lo) / (hi - lo)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img">',
             f'<line x1="{pad}" y1="13" x2="{pad + w}" y2="13" stroke="#ddd" stroke-width="6"/>']
    if ref is not None and not math.isnan(ref):
        parts.append(f'<line x1="{_f(x(ref))}" y1="2" x2="{_f(x(ref))}" y2="24" stroke="#555" '
                     f'stroke-dasharray="3,2"/>')
    if not any(math.isnan(v) for v in (value, low, high)):
        parts.append(f'<line x1="{_f(x(low))}" y1="13" x2="{_f(x(high))}" y2="13" stroke="#222" stroke-width="2"/>')
        parts.append(f'<circle cx="{_f(x(value))}" cy="13" r="4" fill="#c0392b"/>')
    parts.append("</svg>")
    return "".join(parts)


def _num(v: float) -> str:
    return f"{v:.4g}"
