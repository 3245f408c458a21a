"""Charts drawn as inline SVG on the server: no JavaScript library, no CDN, no network.

Each chart carries a title and description for screen readers, and every page that shows one also
shows the same numbers as a table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "line_chart"]

# NHS identity colours with enough contrast against white (WCAG 2.2 non-text contrast 3:1).
PALETTE = ("#005eb8", "#d5281b", "#007f3b", "#330072", "#ed8b00", "#425563")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[dt.date, float]]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    first = (low // step) * step
    ticks, value = [], first
    while value <= high + step / 2:
        ticks.append(round(value, 6))
        value += step
    return ticks


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    y_label: str,
    width: int = 720,
    height: int = 320,
    chart_id: str = "chart",
) -> str:
    """An accessible SVG line chart with one line per series and a legend."""
    points = [point for line in series for point in line.points]
    if not points:
        return f'<p class="nhsuk-body">{escape(title)}: no data.</p>'
    left, right, top, bottom = 64, 16, 16, 56
    x_min = min(day for day, _ in points).toordinal()
    x_max = max(day for day, _ in points).toordinal()
    ticks = _ticks(min(0.0, min(value for _, value in points)), max(value for _, value in points))
    y_min, y_max = ticks[0], ticks[-1] if ticks[-1] > ticks[0] else ticks[0] + 1

    def x(day: dt.date) -> float:
        span = max(1, x_max - x_min)
        return left + (day.toordinal() - x_min) / span * (width - left - right)

    def y(value: float) -> float:
        return top + (1 - (value - y_min) / (y_max - y_min)) * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" class="caremodels-chart" '
        f'preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for tick in ticks:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#d8dde0"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="12" fill="#212b32">'
            f"{tick:g}</text>"
        )
    years = sorted({day.year for day, _ in points})
    for year in years:
        tick_day = dt.date(year, 4, 1)
        if x_min <= tick_day.toordinal() <= x_max:
            parts.append(
                f'<line x1="{x(tick_day):.1f}" x2="{x(tick_day):.1f}" y1="{top}" y2="{height - bottom}" '
                f'stroke="#d8dde0" stroke-dasharray="4 4"/>'
                f'<text x="{x(tick_day):.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="12" '
                f'fill="#212b32">Apr {year}</text>'
            )
    parts.append(
        f'<text x="14" y="{(height - bottom) / 2:.1f}" font-size="12" fill="#212b32" '
        f'transform="rotate(-90 14 {(height - bottom) / 2:.1f})" text-anchor="middle">{escape(y_label)}</text>'
    )
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        path = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in sorted(line.points))
        dash = ' stroke-dasharray="6 3"' if index % 2 else ""
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{path}"/>')
        legend_x = left + index * 220
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="{height - 14}" y2="{height - 14}" '
            f'stroke="{colour}" stroke-width="3"{dash}/>'
            f'<text x="{legend_x + 30}" y="{height - 10}" font-size="12" fill="#212b32">{escape(line.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
