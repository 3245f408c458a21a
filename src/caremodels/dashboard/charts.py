"""Charts drawn as inline SVG on the server: no JavaScript library, no CDN, no network.

SPC charts are drawn by ``caremodels.spc_charts`` (as ``caremodels spc`` draws them); the
others here. Every chart has a ``<title>`` and ``<desc>`` for screen readers (``role="img"``), colours with at
least 3:1 contrast against white (WCAG 2.2 non-text contrast), and a second cue besides colour
(dash pattern or marker shape). Every page that shows a chart also shows its numbers as a table.
Text inside charts is escaped; callers pass plain strings.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = [
    "Bar",
    "FunnelPoint",
    "PyramidBand",
    "Series",
    "SpineRow",
    "bar_chart",
    "funnel_chart",
    "line_chart",
    "pyramid_chart",
    "spine_chart",
]

# NHS identity colours with at least 3:1 contrast against white.
PALETTE = ("#005eb8", "#d5281b", "#007f3b", "#330072", "#ae2573", "#425563", "#7c2855", "#4c6272")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
TEXT = "#212b32"
GRID = "#d8dde0"
LIMIT = "#425563"
# Making Data Count colours: grey for common cause, blue for improvement, orange for concern
# (a darker orange than Making Data Count's #ed8b00, which has only 2.5:1 contrast against white).
COMMON_CAUSE = "#768692"
COMMON_GREY = COMMON_CAUSE
IMPROVEMENT = "#005eb8"
CONCERN = "#b35900"
FONT = 'font-family="Frutiger W01, Arial, sans-serif"'


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[dt.date, float | None]]
    intervals: Mapping[dt.date, tuple[float, float]] = field(default_factory=dict)
    """95% confidence interval of each point that has one, drawn as a shaded band around the line."""


@dataclass(frozen=True)
class PyramidBand:
    label: str
    left: float
    right: float


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    reference: float | None = None


@dataclass(frozen=True)
class FunnelPoint:
    label: str
    denominator: float
    value: float
    highlighted: bool = False


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    values = []
    value = first
    while value < high + step * 0.999:
        values.append(round(value, 10))
        value += step
    return values if len(values) > 1 else [first, first + step]


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


def _open(chart_id: str, width: int, height: int, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" class="caremodels-chart" id="{chart_id}" '
        f'preserveAspectRatio="xMidYMid meet" {FONT}>',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]


def _empty(title: str) -> str:
    return f'<p class="nhsuk-body">{escape(title)}: no data to draw.</p>'


class _Frame:
    """Plot area and scales of a chart with a value axis on the left."""

    def __init__(
        self, width: int, height: int, x_range: tuple[float, float], y_ticks: list[float], *, bottom: int
    ) -> None:
        self.width, self.height = width, height
        # The right margin leaves room for a date label centred on the last point.
        self.left, self.right, self.top, self.bottom = 70, 36, 16, bottom
        self.x_min, self.x_max = x_range
        self.y_ticks = y_ticks
        self.y_min, self.y_max = y_ticks[0], y_ticks[-1]

    def x(self, value: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        return self.left + (value - self.x_min) / span * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        return self.top + (1 - (value - self.y_min) / span) * (self.height - self.top - self.bottom)

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom

    def y_axis(self, label: str) -> list[str]:
        parts = []
        for tick in self.y_ticks:
            parts.append(
                f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{self.y(tick):.1f}" '
                f'y2="{self.y(tick):.1f}" stroke="{GRID}"/>'
                f'<text x="{self.left - 6}" y="{self.y(tick) + 5:.1f}" text-anchor="end" font-size="14" '
                f'fill="{TEXT}">{_number(tick)}</text>'
            )
        middle = (self.top + self.plot_bottom) / 2
        parts.append(
            f'<text x="16" y="{middle:.1f}" font-size="14" fill="{TEXT}" text-anchor="middle" '
            f'transform="rotate(-90 16 {middle:.1f})">{escape(label)}</text>'
        )
        return parts

    def year_axis(self) -> list[str]:
        """Vertical lines and labels at the start of each financial year (1 April)."""
        parts = []
        first = dt.date.fromordinal(int(self.x_min))
        last = dt.date.fromordinal(int(self.x_max))
        years = list(range(first.year, last.year + 1))
        every = max(1, math.ceil(len(years) / 7))
        for index, year in enumerate(years):
            day = dt.date(year, 4, 1)
            if not first <= day <= last:
                continue
            x = self.x(day.toordinal())
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.top}" y2="{self.plot_bottom}" stroke="{GRID}" '
                'stroke-dasharray="4 4"/>'
            )
            if index % every == 0:
                parts.append(
                    f'<text x="{x:.1f}" y="{self.plot_bottom + 18}" text-anchor="middle" font-size="14" '
                    f'fill="{TEXT}">Apr {year}</text>'
                )
        return parts


def _legend(entries: Sequence[tuple[str, str, str]], top: float, left: int = 70) -> list[str]:
    """One legend line per entry: (name, colour, dash)."""
    parts = []
    for index, (name, colour, dash) in enumerate(entries):
        y = top + index * 22
        dash_attribute = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{left}" x2="{left + 30}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="3"{dash_attribute}/>'
            f'<text x="{left + 38}" y="{y + 5:.1f}" font-size="14" fill="{TEXT}">{escape(name)}</text>'
        )
    return parts


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    y_label: str,
    width: int = 720,
    height: int = 300,
    chart_id: str = "chart",
) -> str:
    """Lines over time, one per series, with a legend below (gaps where a value is withheld)."""
    points = [(day, value) for line in series for day, value in line.points if value is not None]
    if not points:
        return _empty(title)
    highs = [high for line in series for _, high in line.intervals.values() if math.isfinite(high)]
    lows = [low for line in series for low, _ in line.intervals.values() if math.isfinite(low)]
    banded = any(line.intervals for line in series)
    legend_height = 22 * (len(series) + banded) + 16
    frame = _Frame(
        width,
        height + legend_height,
        (min(day for day, _ in points).toordinal(), max(day for day, _ in points).toordinal()),
        ticks(
            min([0.0, *lows, *(value for _, value in points)]), max([*highs, *(value for _, value in points)])
        ),
        bottom=30 + legend_height,
    )
    parts = _open(chart_id, width, height + legend_height, title, description)
    parts += frame.y_axis(y_label) + frame.year_axis()
    entries = []
    for index, line in enumerate(series):
        colour, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
        entries.append((line.name, colour, dash))
        dash_attribute = f' stroke-dasharray="{dash}"' if dash else ""
        for run in _runs(sorted(line.points)):
            band = [(day, line.intervals[day]) for day, _ in run if day in line.intervals]
            if len(band) > 1:
                upper = [f"{frame.x(day.toordinal()):.1f},{frame.y(high):.1f}" for day, (_, high) in band]
                lower = [
                    f"{frame.x(day.toordinal()):.1f},{frame.y(low):.1f}" for day, (low, _) in reversed(band)
                ]
                parts.append(
                    f'<polygon fill="{colour}" fill-opacity="0.15" stroke="none" points="{" ".join(upper + lower)}"/>'
                )
            elif len(band) == 1:
                day, (low, high) = band[0]
                x = frame.x(day.toordinal())
                parts.append(
                    f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.y(low):.1f}" y2="{frame.y(high):.1f}" '
                    f'stroke="{colour}" stroke-width="2"/>'
                )
        for run in _runs(sorted(line.points)):
            path = " ".join(f"{frame.x(day.toordinal()):.1f},{frame.y(value):.1f}" for day, value in run)
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash_attribute} points="{path}"/>'
            )
    parts += _legend(entries, frame.plot_bottom + 46)
    if banded:
        y = frame.plot_bottom + 46 + 22 * len(entries)
        parts.append(
            f'<rect x="70" y="{y - 7:.1f}" width="30" height="14" fill="{PALETTE[0]}" fill-opacity="0.15"/>'
            f'<text x="108" y="{y + 5:.1f}" font-size="14" fill="{TEXT}">Shaded: 95% confidence interval</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _runs(points: Sequence[tuple[dt.date, float | None]]) -> list[list[tuple[dt.date, float]]]:
    """Consecutive stretches of points with a value (a withheld value breaks the line)."""
    runs: list[list[tuple[dt.date, float]]] = [[]]
    for day, value in points:
        if value is None or not math.isfinite(value):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((day, value))
    return [run for run in runs if run]


def pyramid_chart(
    bands: Sequence[PyramidBand],
    *,
    title: str,
    description: str,
    left_label: str,
    right_label: str,
    width: int = 720,
    chart_id: str = "pyramid",
) -> str:
    """A population pyramid: one row per band (youngest at the bottom), left and right bars."""
    if not bands or max(max(band.left, band.right) for band in bands) <= 0:
        return _empty(title)
    row, top, label_width = 18, 34, 64
    height = top + row * len(bands) + 40
    half = (width - label_width) / 2 - 10
    largest = max(max(band.left, band.right) for band in bands)
    centre_left = half + 10
    centre_right = centre_left + label_width
    parts = _open(chart_id, width, height, title, description)
    parts.append(
        f'<text x="{centre_left - 4:.1f}" y="20" text-anchor="end" font-size="14" font-weight="bold" '
        f'fill="{TEXT}">{escape(left_label)}</text>'
        f'<text x="{centre_right + 4:.1f}" y="20" font-size="14" font-weight="bold" fill="{TEXT}">'
        f"{escape(right_label)}</text>"
    )
    for index, band in enumerate(reversed(bands)):
        y = top + index * row
        left = band.left / largest * half
        right = band.right / largest * half
        parts.append(
            f'<rect x="{centre_left - left:.1f}" y="{y:.1f}" width="{left:.1f}" height="{row - 3}" fill="{PALETTE[0]}"/>'
            f'<rect x="{centre_right:.1f}" y="{y:.1f}" width="{right:.1f}" height="{row - 3}" fill="{PALETTE[3]}"/>'
            f'<text x="{centre_left + label_width / 2:.1f}" y="{y + row - 6:.1f}" text-anchor="middle" '
            f'font-size="13" fill="{TEXT}">{escape(band.label)}</text>'
        )
    scale_y = top + row * len(bands) + 20
    parts.append(
        f'<text x="10" y="{scale_y:.1f}" font-size="13" fill="{TEXT}">{_number(largest)}</text>'
        f'<text x="{width - 10}" y="{scale_y:.1f}" text-anchor="end" font-size="13" fill="{TEXT}">'
        f"{_number(largest)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    description: str,
    value_label: str,
    reference_label: str | None = None,
    goal: float | None = None,
    goal_label: str | None = None,
    percent: bool = False,
    width: int = 720,
    label_width: int = 170,
    chart_id: str = "bars",
) -> str:
    """Horizontal bars, optionally with a reference marker per bar and one goal line."""
    if not bars:
        return _empty(title)
    row, top = 28, 12
    legend_rows = (1 if reference_label else 0) + (1 if goal is not None else 0)
    height = top + row * len(bars) + 62 + 22 * legend_rows
    largest = max([bar.value for bar in bars] + [bar.reference or 0 for bar in bars] + [goal or 0] + [1e-9])
    scale = ticks(0.0, largest, 4)
    plot_width = width - label_width - 30

    def x(value: float) -> float:
        return label_width + value / scale[-1] * plot_width

    def show(value: float) -> str:
        return f"{value * 100:.0f}%" if percent else _number(value)

    parts = _open(chart_id, width, height, title, description)
    axis_y = top + row * len(bars)
    for tick in scale:
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{axis_y}" stroke="{GRID}"/>'
            f'<text x="{x(tick):.1f}" y="{axis_y + 18}" text-anchor="middle" font-size="13" fill="{TEXT}">'
            f"{show(tick)}</text>"
        )
    for index, bar in enumerate(bars):
        y = top + index * row
        parts.append(
            f'<text x="{label_width - 8}" y="{y + row / 2 + 5:.1f}" text-anchor="end" font-size="14" '
            f'fill="{TEXT}">{escape(bar.label)}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{max(0.0, x(bar.value) - label_width):.1f}" '
            f'height="{row - 8}" fill="{PALETTE[0]}"/>'
        )
        if bar.reference is not None:
            parts.append(
                f'<line x1="{x(bar.reference):.1f}" x2="{x(bar.reference):.1f}" y1="{y + 1}" y2="{y + row - 1}" '
                f'stroke="{PALETTE[1]}" stroke-width="3"/>'
            )
    if goal is not None:
        parts.append(
            f'<line x1="{x(goal):.1f}" x2="{x(goal):.1f}" y1="{top - 4}" y2="{axis_y}" stroke="{PALETTE[2]}" '
            'stroke-width="2" stroke-dasharray="6 3"/>'
        )
    parts.append(
        f'<text x="{label_width + plot_width / 2:.1f}" y="{axis_y + 38}" text-anchor="middle" font-size="14" '
        f'fill="{TEXT}">{escape(value_label)}</text>'
    )
    legend_y = axis_y + 62
    if reference_label:
        parts.append(
            f'<line x1="{label_width}" x2="{label_width}" y1="{legend_y - 8}" y2="{legend_y + 6}" '
            f'stroke="{PALETTE[1]}" stroke-width="3"/>'
            f'<text x="{label_width + 10}" y="{legend_y + 4}" font-size="14" fill="{TEXT}">'
            f"{escape(reference_label)}</text>"
        )
        legend_y += 22
    if goal is not None:
        parts.append(
            f'<line x1="{label_width - 10}" x2="{label_width + 14}" y1="{legend_y}" y2="{legend_y}" '
            f'stroke="{PALETTE[2]}" stroke-width="2" stroke-dasharray="6 3"/>'
            f'<text x="{label_width + 20}" y="{legend_y + 5}" font-size="14" fill="{TEXT}">'
            f"{escape(goal_label or 'Goal')}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def funnel_chart(
    points: Sequence[FunnelPoint],
    limits: dict[str, Sequence[float]],
    *,
    target: float,
    title: str,
    description: str,
    x_label: str,
    y_label: str,
    width: int = 720,
    height: int = 360,
    chart_id: str = "funnel",
) -> str:
    """A funnel plot: each area's value against its denominator, the overall value, and control
    limits (``limits`` holds denominators and the 95% and 99.8% lower and upper curves)."""
    if not points:
        return _empty(title)
    denominators = list(limits["denominator"])
    all_values = [point.value for point in points] + [target]
    all_values += [value for key in ("lower_99_8", "upper_99_8") for value in limits[key]]
    legend = [
        ("Overall rate", TEXT, ""),
        ("95% limits", LIMIT, "6 4"),
        ("99.8% limits", PALETTE[1], "2 3"),
    ]
    legend_height = 22 * (len(legend) + 1) + 16
    x_ticks = ticks(0.0, max(denominators + [point.denominator for point in points]))
    frame = _Frame(
        width,
        height + legend_height,
        (x_ticks[0], x_ticks[-1]),
        ticks(max(0.0, min(all_values) * 0.9), max(all_values) * 1.05),
        bottom=48 + legend_height,
    )
    parts = _open(chart_id, width, height + legend_height, title, description)
    parts += frame.y_axis(y_label)
    for tick in x_ticks:
        parts.append(
            f'<text x="{frame.x(tick):.1f}" y="{frame.plot_bottom + 18}" text-anchor="middle" font-size="13" '
            f'fill="{TEXT}">{_number(tick)}</text>'
        )
    parts.append(
        f'<text x="{(frame.left + width) / 2:.1f}" y="{frame.plot_bottom + 38}" text-anchor="middle" '
        f'font-size="14" fill="{TEXT}">{escape(x_label)}</text>'
    )
    clip = f"{chart_id}-clip"
    parts.append(
        f'<clipPath id="{clip}"><rect x="{frame.left}" y="{frame.top}" '
        f'width="{width - frame.left - frame.right}" height="{frame.plot_bottom - frame.top}"/></clipPath>'
    )
    parts.append(
        f'<line x1="{frame.left}" x2="{width - frame.right}" y1="{frame.y(target):.1f}" '
        f'y2="{frame.y(target):.1f}" stroke="{TEXT}" stroke-width="1.5"/>'
    )
    for key, colour, dash in (
        ("lower_95", LIMIT, "6 4"),
        ("upper_95", LIMIT, "6 4"),
        ("lower_99_8", PALETTE[1], "2 3"),
        ("upper_99_8", PALETTE[1], "2 3"),
    ):
        path = " ".join(
            f"{frame.x(n):.1f},{frame.y(value):.1f}"
            for n, value in zip(denominators, limits[key], strict=True)
            if math.isfinite(value)
        )
        parts.append(
            f'<polyline clip-path="url(#{clip})" fill="none" stroke="{colour}" stroke-width="1.5" '
            f'stroke-dasharray="{dash}" points="{path}"/>'
        )
    for point in sorted(points, key=lambda point: point.highlighted):
        cx, cy = frame.x(point.denominator), frame.y(point.value)
        if point.highlighted:
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="{PALETTE[3]}" stroke="#ffffff" stroke-width="1.5">'
                f"<title>{escape(point.label)}</title></circle>"
            )
        else:
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{PALETTE[0]}" fill-opacity="0.75">'
                f"<title>{escape(point.label)}</title></circle>"
            )
    parts += _legend(legend, frame.plot_bottom + 64)
    marker_y = frame.plot_bottom + 64 + 22 * len(legend)
    parts.append(
        f'<circle cx="85" cy="{marker_y:.1f}" r="4" fill="{PALETTE[0]}"/>'
        f'<text x="108" y="{marker_y + 5:.1f}" font-size="14" fill="{TEXT}">Area</text>'
        f'<circle cx="200" cy="{marker_y:.1f}" r="7" fill="{PALETTE[3]}"/>'
        f'<text x="214" y="{marker_y + 5:.1f}" font-size="14" fill="{TEXT}">Selected area</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class SpineRow:
    label: str
    value: float | None
    """The area's value (None when withheld: no marker)."""
    benchmark: float
    lowest: float
    lower_quartile: float
    upper_quartile: float
    highest: float
    comparison: str
    """The area against the benchmark at 95%: better, similar, worse, higher, lower or not compared."""


_SPINE_COLOURS = {
    "better": "#007f3b",
    "worse": "#d5281b",
    "similar": "#ffb81c",
    "higher": "#005eb8",
    "lower": "#330072",
}
_SPINE_SHAPES = {
    "better": "circle",
    "worse": "square",
    "similar": "diamond",
    "higher": "triangle",
    "lower": "triangle-down",
}


def spine_chart(
    rows: Sequence[SpineRow], *, title: str, description: str, chart_id: str = "spine", width: int = 720
) -> str:
    """A Fingertips spine chart: one line per indicator, the benchmark (England) at the centre, the
    range of the comparator areas as a light bar with their middle half darker, and the area's value
    as a marker whose colour and shape say better, similar or worse at 95%. Each line is scaled
    on its own so that the benchmark is in the middle (the charts' positions are not comparable
    across lines: the table gives the values)."""
    if not rows:
        return _empty(title)
    label_width, top, row_height = 300, 10, 30
    legend = list(_SPINE_COLOURS)
    height = top + row_height * len(rows) + 30 + 22 * len(legend)
    left, right = label_width + 10, width - 20
    middle = (left + right) / 2
    parts = _open(chart_id, width, height, title, description)
    parts.append(
        f'<line x1="{middle:.1f}" x2="{middle:.1f}" y1="{top}" y2="{top + row_height * len(rows)}" '
        f'stroke="{TEXT}" stroke-width="2"/>'
    )
    for index, row in enumerate(rows):
        y = top + index * row_height + row_height / 2
        spread = max(
            abs(row.highest - row.benchmark),
            abs(row.lowest - row.benchmark),
            abs((row.value or row.benchmark) - row.benchmark),
        )
        scale = (right - left) / 2 / spread if spread > 0 else 0.0

        def x(value: float, scale: float = scale, benchmark: float = row.benchmark) -> float:
            return middle + (value - benchmark) * scale

        label = row.label if len(row.label) <= 44 else row.label[:43].rstrip() + "…"
        parts.append(
            f'<text x="{label_width}" y="{y + 5:.1f}" font-size="13" text-anchor="end" fill="{TEXT}">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<rect x="{x(row.lowest):.1f}" y="{y - 8:.1f}" width="{max(x(row.highest) - x(row.lowest), 1):.1f}" '
            f'height="16" fill="{GRID}"/>'
            f'<rect x="{x(row.lower_quartile):.1f}" y="{y - 8:.1f}" '
            f'width="{max(x(row.upper_quartile) - x(row.lower_quartile), 1):.1f}" height="16" fill="#aeb7bd"/>'
        )
        if row.value is not None:
            parts.append(_marker(x(row.value), y, row.comparison))
    legend_top = top + row_height * len(rows) + 24
    for index, name in enumerate(legend):
        y = legend_top + index * 22
        parts.append(_marker(left + 8, y, name))
        parts.append(
            f'<text x="{left + 22}" y="{y + 5:.1f}" font-size="14" fill="{TEXT}">'
            f"{escape(name.capitalize())} than the benchmark at 95%</text>"
            if name != "similar"
            else f'<text x="{left + 22}" y="{y + 5:.1f}" font-size="14" fill="{TEXT}">Similar to the benchmark</text>'
        )
    parts.append(
        f'<text x="{label_width}" y="{legend_top + 5:.1f}" font-size="13" text-anchor="end" fill="{TEXT}">'
        "Bar: range of the areas; darker: middle half</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _marker(cx: float, cy: float, comparison: str) -> str:
    colour = _SPINE_COLOURS.get(comparison, COMMON_GREY)
    shape = _SPINE_SHAPES.get(comparison, "circle")
    outline = f'fill="{colour}" stroke="{TEXT}" stroke-width="1"'
    if shape == "square":
        return f'<rect x="{cx - 6:.1f}" y="{cy - 6:.1f}" width="12" height="12" {outline}/>'
    if shape == "diamond":
        return f'<polygon points="{cx:.1f},{cy - 7:.1f} {cx + 7:.1f},{cy:.1f} {cx:.1f},{cy + 7:.1f} {cx - 7:.1f},{cy:.1f}" {outline}/>'
    if shape == "triangle":
        return f'<polygon points="{cx:.1f},{cy - 7:.1f} {cx + 7:.1f},{cy + 6:.1f} {cx - 7:.1f},{cy + 6:.1f}" {outline}/>'
    if shape == "triangle-down":
        return f'<polygon points="{cx:.1f},{cy + 7:.1f} {cx + 7:.1f},{cy - 6:.1f} {cx - 7:.1f},{cy - 6:.1f}" {outline}/>'
    return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" {outline}/>'
