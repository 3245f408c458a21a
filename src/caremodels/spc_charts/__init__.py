"""SPC charts for people: XmR charts as SVG, PNG or one offline HTML page, with Making Data
Count's icons, target and trajectory lines, rebased segments and dated annotations.

Boundaries: draws results of :mod:`caremodels.evaluation.spc` (never recomputes them); reads
CSV dates carefully (:func:`parse_dates`); the HTML inlines vega from npm and loads nothing
from another host.
"""

from caremodels.spc_charts.dates import parse_dates
from caremodels.spc_charts.icons import assurance_icon_svg, variation_icon_svg
from caremodels.spc_charts.render import (
    FORMATS,
    ChartOptions,
    chart_spec,
    inline_svg,
    output_paths,
    write_charts,
)

__all__ = [
    "FORMATS",
    "ChartOptions",
    "assurance_icon_svg",
    "chart_spec",
    "inline_svg",
    "output_paths",
    "parse_dates",
    "variation_icon_svg",
    "write_charts",
]
