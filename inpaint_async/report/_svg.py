"""The report's two charts as inline SVG: cumulative spend over time and the latency histogram.

No chart library: two small charts are a few dozen lines of SVG, which keeps the page one
self-contained file with no script to vet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from html import escape

__all__ = ["fmt_duration", "latency_chart", "percentile", "spend_chart"]

_W, _H = 480, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 14, 34, 34
_MAX_POINTS = 400


def fmt_duration(seconds: float) -> str:
    """``0.84 s``, ``42 s``, ``3 min 5 s``, ``2 h 4 min``."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted ``values``, interpolated."""
    if not values:
        raise ValueError("no values")
    k = (len(values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _svg(chart_id: str, title: str, desc: str, body: list[str]) -> str:
    return (
        f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'xmlns="http://www.w3.org/2000/svg" focusable="false">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _axes(x_labels: list[tuple[float, str]], y_labels: list[tuple[float, str]]) -> list[str]:
    bottom, right = _H - _BOTTOM, _W - _RIGHT
    parts = [
        f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}"/>',
    ]
    for y, label in y_labels:
        parts.append(f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>'
        )
    for n, (x, label) in enumerate(x_labels):
        anchor = "start" if n == 0 else "end" if n == len(x_labels) - 1 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="{anchor}">{escape(label)}</text>'
        )
    return parts


def spend_chart(series: Sequence[tuple[float, Decimal]], chart_id: str = "spend") -> str | None:
    """A step line of cumulative estimated spend against time since the first outcome."""
    if not series:
        return None
    t0, t1 = series[0][0], series[-1][0]
    span = max(t1 - t0, 1e-9)
    total = series[-1][1]
    top = float(total) or 1.0
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    step = max(1, math.ceil(len(series) / _MAX_POINTS))
    points = list(series[::step])
    if points[-1] is not series[-1]:
        points.append(series[-1])

    def xy(ts: float, usd: Decimal) -> tuple[float, float]:
        x = _LEFT + (ts - t0) / span * plot_w if t1 > t0 else _LEFT + plot_w
        return x, _TOP + plot_h - float(usd) / top * plot_h

    x, y = xy(t0, Decimal(0))
    path = [f"M{x:.1f},{y:.1f}"]
    for ts, usd in points:
        nx, ny = xy(ts, usd)
        path.append(f"H{nx:.1f}V{ny:.1f}")
    y_labels = [(_TOP + plot_h - f * plot_h, f"${top * f:.2f}") for f in (0, 0.5, 1)]
    x_labels: list[tuple[float, str]] = [(_LEFT, "0 s"), (_LEFT + plot_w, fmt_duration(t1 - t0))]
    if t1 - t0 >= 1:
        x_labels.insert(1, (_LEFT + plot_w / 2, fmt_duration((t1 - t0) / 2)))
    body = _axes(x_labels, y_labels)
    body.append(f'<path class="line" d="{"".join(path)}"/>')
    desc = (
        f"${total} estimated spend over {fmt_duration(t1 - t0)}, across {len(series)} "
        "charged or possibly charged jobs."
    )
    return _svg(chart_id, "Estimated spend over time", desc, body)


def latency_chart(latencies: Sequence[float], chart_id: str = "latency") -> str | None:
    """A histogram of send-to-answer seconds with the median and the 90th percentile marked."""
    if not latencies:
        return None
    values = sorted(latencies)
    high = values[-1] or 1.0
    bins = 20
    width = high / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v / width))] += 1
    peak = max(counts)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    bar_w = plot_w / bins
    body = _axes(
        [(_LEFT, "0 s"), (_LEFT + plot_w / 2, fmt_duration(high / 2)),
         (_LEFT + plot_w, fmt_duration(high))],
        [(_TOP + plot_h, "0"), (_TOP, str(peak))],
    )  # fmt: skip
    for i, count in enumerate(counts):
        if not count:
            continue
        h = count / peak * plot_h
        x = _LEFT + i * bar_w
        lo, hi = i * width, (i + 1) * width
        body.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{_TOP + plot_h - h:.1f}" '
            f'width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}">'
            f"<title>{count} jobs took {lo:.2f}–{hi:.2f} s</title></rect>"
        )
    p50, p90 = percentile(values, 0.5), percentile(values, 0.9)
    for name, value in (("median", p50), ("p90", p90)):
        x = _LEFT + value / high * plot_w
        body.append(
            f'<line class="mark" x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{_TOP + plot_h}"/>'
            f'<text class="marklabel" x="{min(max(x, _LEFT + 50), _W - _RIGHT - 50):.1f}" y="{12 if name == "median" else 26}" '
            f'text-anchor="middle">'
            f"{name} {fmt_duration(value)}</text>"
        )
    desc = (
        f"{len(values)} succeeded jobs: median {fmt_duration(p50)}, 90th percentile "
        f"{fmt_duration(p90)}, slowest {fmt_duration(high)}."
    )
    return _svg(chart_id, "Latency distribution (send to answer)", desc, body)
