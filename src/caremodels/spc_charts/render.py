"""XmR charts of :class:`caremodels.evaluation.spc.SpcResult` as Vega-Lite (through Altair),
written as SVG or PNG (vl-convert-python, no browser) or one offline HTML page for many groups.

The HTML page inlines vega, vega-lite and vega-embed from the project's npm packages
(``node_modules``, installed by ``./run setup``), so it opens with no network and loads nothing
from another host. Its first section is an icon summary of every group (a board-pack page),
then one chart per group with its caveats.

Boundaries: draws what :func:`caremodels.evaluation.spc.spc` computed and computes no limit or
signal of its own; writes only the files it is asked for.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from caremodels.errors import CaremodelsError
from caremodels.evaluation.spc import SpcResult
from caremodels.spc_charts.icons import (
    ASSURANCE_LABELS,
    COLOURS,
    VARIATION_LABELS,
    assurance_icon_svg,
    variation_icon_svg,
)

__all__ = [
    "FORMATS",
    "VEGA_ENVIRONMENT_VARIABLE",
    "ChartOptions",
    "chart_spec",
    "inline_svg",
    "output_paths",
    "vega_scripts",
    "write_charts",
]

FORMATS = (".svg", ".png", ".html")
VEGA_ENVIRONMENT_VARIABLE = "CAREMODELS_NODE_MODULES"
_VEGA_LITE_VERSION = "6.4"  # the Vega-Lite that vl-convert renders; matches package.json's vega-lite 6.4.x
_SCRIPTS = (
    Path("vega") / "build" / "vega.min.js",
    Path("vega-lite") / "build" / "vega-lite.min.js",
    Path("vega-embed") / "build" / "vega-embed.min.js",
)


@dataclass(frozen=True)
class ChartOptions:
    """What a chart shows besides the SPC result itself."""

    measure: str = "value"
    """Name of the measure, for titles and axes."""
    value_format: str | None = None
    """d3 format of values, e.g. ``.1%`` for proportions; None lets Vega-Lite choose."""
    annotations: Sequence[tuple[dt.date, str]] = ()
    """Dated notes (e.g. go-live) drawn as labelled vertical lines on every chart."""
    trajectory: Mapping[Any, Sequence[tuple[dt.date, float]]] = field(default_factory=dict)
    """Per group, a target that changes over time, drawn as a stepped line."""
    labels: Mapping[Any, str] = field(default_factory=dict)
    """Per group, a readable name shown beside the group key (e.g. a trust's name)."""
    source: str = ""
    """Where the data came from, shown on the HTML page."""
    title: str = ""
    """The chart's title for a single series (default: the measure)."""


def _title(result: SpcResult, options: ChartOptions) -> str:
    if result.group is None:
        return options.title or options.measure
    label = options.labels.get(result.group)
    return f"{result.group} {label}" if label else str(result.group)


def _points_frame(result: SpcResult, withheld: Collection[Any] = ()) -> pd.DataFrame:
    rows = []
    for point in result.points:
        hidden = point.date in withheld
        kind = "withheld" if hidden else point.special_cause_type or "common"
        rows.append(
            {
                "date": pd.Timestamp(point.date).isoformat(),
                # A withheld point keeps its place in the limits but shows no value or signal.
                "value": None if hidden else point.value,
                "segment": point.segment,
                "mean": point.mean,
                "upper": point.upper_limit,
                "lower": point.lower_limit,
                "upper_2s": point.upper_two_sigma,
                "lower_2s": point.lower_two_sigma,
                "signal": kind,
                "rule": "withheld" if hidden else (point.special_cause_rule or "none").replace("_", " "),
            }
        )
    return pd.DataFrame(rows)


def chart_spec(
    result: SpcResult, options: ChartOptions | None = None, *, withheld: Collection[Any] = ()
) -> dict[str, Any]:
    """The Vega-Lite specification (a JSON-ready dict) of one XmR chart. Points dated in
    ``withheld`` (e.g. months with small counts) are drawn without their value or signal."""
    options = options or ChartOptions()
    frame = _points_frame(result, withheld)
    axis = alt.Axis(format=options.value_format) if options.value_format else alt.Axis()
    x = alt.X("date:T", title=None, axis=alt.Axis(format="%b %Y", labelAngle=-40))
    base = alt.Chart(frame)

    def line(column: str, colour: str, dash: list[int] | None, width: float = 1.5) -> alt.Chart:
        return base.mark_line(color=colour, strokeDash=dash or [], strokeWidth=width).encode(
            x=x, y=alt.Y(f"{column}:Q"), detail="segment:N"
        )

    layers: list[alt.Chart] = [
        line("upper", "#425563", [6, 4]),
        line("lower", "#425563", [6, 4]),
        line("mean", "#231f20", None),
        base.mark_line(color=COLOURS["common"], strokeWidth=1.5).encode(
            x=x, y=alt.Y("value:Q", title=options.measure, axis=axis, scale=alt.Scale(zero=False))
        ),
        base.transform_filter("datum.value != null")
        .mark_circle(size=45, opacity=1)
        .encode(
            x=x,
            y="value:Q",
            color=alt.Color(
                "signal:N",
                title="point",
                scale=alt.Scale(
                    domain=["common", "improvement", "concern", "neither"],
                    range=[COLOURS["common"], COLOURS["improvement"], COLOURS["concern"], COLOURS["neither"]],
                ),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("date:T", format="%b %Y"),
                alt.Tooltip("value:Q", format=options.value_format or ",.4~g"),
                alt.Tooltip("mean:Q", format=options.value_format or ",.4~g"),
                alt.Tooltip("lower:Q", format=options.value_format or ",.4~g"),
                alt.Tooltip("upper:Q", format=options.value_format or ",.4~g"),
                "rule:N",
            ],
        ),
    ]
    if result.target is not None:
        target = pd.DataFrame(
            {"target": [result.target], "label": [f"target {_fmt(result.target, options)}"]}
        )
        layers.append(
            alt.Chart(target)
            .mark_rule(color="#d5281b", strokeDash=[2, 2], strokeWidth=2)
            .encode(y="target:Q")
        )
        layers.append(
            alt.Chart(target)
            .mark_text(align="right", baseline="bottom", dy=-2, color="#d5281b", fontSize=11)
            .encode(x=alt.value(620), y="target:Q", text="label:N")
        )
    trajectory = options.trajectory.get(result.group)
    if trajectory:
        path = pd.DataFrame([{"date": pd.Timestamp(d).isoformat(), "trajectory": v} for d, v in trajectory])
        layers.append(
            alt.Chart(path)
            .mark_line(color="#d5281b", strokeWidth=2, interpolate="step-after")
            .encode(x=x, y="trajectory:Q", tooltip=[alt.Tooltip("date:T", format="%b %Y"), "trajectory:Q"])
        )
    if options.annotations:
        notes = pd.DataFrame(
            [{"date": pd.Timestamp(d).isoformat(), "note": text} for d, text in options.annotations]
        )
        rule = alt.Chart(notes).mark_rule(color="#005eb8", strokeWidth=1.5)
        layers.append(rule.encode(x="date:T"))
        layers.append(
            alt.Chart(notes)
            .mark_text(align="left", baseline="top", dx=3, dy=2, color="#005eb8", fontSize=11)
            .encode(x="date:T", y=alt.value(0), text="note:N")
        )
    chart = alt.layer(*layers).properties(
        width=620, height=260, title=alt.Title(_title(result, options), anchor="start", fontSize=14)
    )
    # The layers are built from typed Altair objects; validating 130 charts against the schema costs
    # seconds and catches nothing those types do not.
    spec: dict[str, Any] = chart.to_dict(validate=False)
    spec["description"] = _description(result, options)
    return spec


def _fmt(value: float | None, options: ChartOptions) -> str:
    if value is None:
        return "-"
    if options.value_format and options.value_format.endswith("%"):
        digits = re.search(r"\.(\d+)", options.value_format)
        return f"{value:.{digits.group(1) if digits else 0}%}"
    return f"{value:,.4g}"


def _description(result: SpcResult, options: ChartOptions) -> str:
    return (
        f"XmR chart of {options.measure} for {_title(result, options)}: {result.n_points} points, mean "
        f"{_fmt(result.centre, options)}, limits {_fmt(result.lower_limit, options)} to "
        f"{_fmt(result.upper_limit, options)}; {VARIATION_LABELS[result.variation_icon].lower()}"
    )


def output_paths(results: Sequence[SpcResult], out: Path) -> list[Path]:
    """Where each result's chart goes for an SVG or PNG ``out``.

    One series: ``out`` itself. Several groups: a folder named after ``out``'s stem (beside
    it) holding one file per group, named from the group key (``charts/ae.svg`` with groups
    RF4 and R1H writes ``charts/ae/RF4.svg`` and ``charts/ae/R1H.svg``).
    """
    if len(results) == 1:
        return [out]
    folder = out.with_suffix("")
    names = [_slug(str(r.group)) for r in results]
    duplicates = [name for name, count in Counter(names).items() if count > 1]
    if duplicates:
        raise CaremodelsError(
            f"groups {', '.join(sorted(duplicates))} give the same file name; rename them or write .html"
        )
    return [folder / f"{name}{out.suffix}" for name in names]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "group"


def write_charts(results: Sequence[SpcResult], out: Path, options: ChartOptions | None = None) -> list[Path]:
    """Write the charts; return the files written. The format follows ``out``'s suffix."""
    options = options or ChartOptions()
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise CaremodelsError(f"--out must end in {', '.join(FORMATS)}, not {out.name!r}")
    if not results:
        raise CaremodelsError("no series to chart")
    if suffix == ".html":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_html(results, options), encoding="utf-8")
        return [out]
    import vl_convert as vlc

    paths = output_paths(results, out)
    for result, path in zip(results, paths, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        spec = chart_spec(result, options)
        if suffix == ".svg":
            path.write_text(vlc.vegalite_to_svg(spec, vl_version=_VEGA_LITE_VERSION), encoding="utf-8")
        else:
            path.write_bytes(vlc.vegalite_to_png(spec, vl_version=_VEGA_LITE_VERSION, scale=2))
    return paths


def inline_svg(
    result: SpcResult, options: ChartOptions | None = None, *, withheld: Collection[Any] = ()
) -> str:
    """One chart as SVG markup to put inside an HTML page (the dashboard's): drawn on the server by
    vl-convert, so the page needs no script; one image for a screen reader, named by its
    description, and as wide as its container allows."""
    import vl_convert as vlc

    options = options or ChartOptions()
    spec = chart_spec(result, options, withheld=withheld)
    svg = vlc.vegalite_to_svg(spec, vl_version=_VEGA_LITE_VERSION)
    label = escape(spec["description"], quote=True)
    # The chart's own marks carry Vega's ARIA roles; as one image they read as its description.
    svg = re.sub(r'\s(?:role|aria-roledescription|aria-label|aria-hidden)="[^"]*"', "", svg)
    svg = re.sub(
        r'^<svg ([^>]*?)width="(\d+)" height="(\d+)"',
        r'<svg \1role="img" aria-label="' + label + '" width="100%"',
        svg,
        count=1,
    )
    svg = svg.replace('class="marks"', 'class="marks caremodels-spc-chart"', 1)
    if "xlink:" not in svg:  # the namespace is declared but nothing refers to it
        svg = svg.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "", 1)
    return svg.replace(">", f"><title>{label}</title>", 1)


def vega_scripts() -> list[str]:
    """The text of vega, vega-lite and vega-embed from the installed npm packages."""
    configured = os.environ.get(VEGA_ENVIRONMENT_VARIABLE)
    candidates = [Path(configured)] if configured else []
    here = Path(__file__).resolve()
    candidates += [parent / "node_modules" for parent in here.parents]
    candidates.append(Path.cwd() / "node_modules")
    for candidate in candidates:
        if all((candidate / script).is_file() for script in _SCRIPTS):
            return _read_scripts(candidate)
    raise CaremodelsError(
        "vega, vega-lite and vega-embed are not installed: run ./run setup (npm ci) in the caremodels "
        f"folder, or set {VEGA_ENVIRONMENT_VARIABLE} to its node_modules folder"
    )


@functools.cache
def _read_scripts(folder: Path) -> list[str]:
    # "</script" inside an inline script would end it early. None of the three packages holds one
    # (a blanket "</" -> "<\\/" would break their regular expressions), so refuse rather than edit.
    texts = [(folder / script).read_text(encoding="utf-8") for script in _SCRIPTS]
    for script, text in zip(_SCRIPTS, texts, strict=True):
        if re.search(r"</script", text, flags=re.IGNORECASE):
            raise CaremodelsError(f"{folder / script} contains '</script' and cannot be inlined")
    return texts


def render_html(results: Sequence[SpcResult], options: ChartOptions) -> str:
    environment = Environment(
        loader=PackageLoader("caremodels.spc_charts", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    charts = []
    for index, result in enumerate(results):
        latest = result.points[-1]
        charts.append(
            {
                "id": f"chart-{index}",
                "title": _title(result, options),
                "result": result,
                "latest_date": pd.Timestamp(latest.date).strftime("%b %Y"),
                "latest": _fmt(latest.value, options),
                "mean": _fmt(result.centre, options),
                "lower": _fmt(result.lower_limit, options),
                "upper": _fmt(result.upper_limit, options),
                "target": _fmt(result.target, options) if result.target is not None else "",
                "variation": Markup(variation_icon_svg(result.variation_icon)),  # noqa: S704 - our own SVG
                "assurance": Markup(assurance_icon_svg(result.assurance_icon)),  # noqa: S704 - our own SVG
                "variation_label": VARIATION_LABELS[result.variation_icon],
                "assurance_label": ASSURANCE_LABELS.get(result.assurance_icon or "", "no target"),
                "spec": Markup(json.dumps(chart_spec(result, options)).replace("</", "<\\/")),  # noqa: S704
                "description": _description(result, options),
            }
        )
    variation_counts = Counter(r.variation_icon for r in results)
    assurance_counts = Counter(r.assurance_icon or "none" for r in results)
    key = [
        (Markup(variation_icon_svg(icon, 28)), label)  # noqa: S704 - our own SVG
        for icon, label in VARIATION_LABELS.items()
    ] + [
        (Markup(assurance_icon_svg(icon, 28)), label)  # noqa: S704 - our own SVG
        for icon, label in ASSURANCE_LABELS.items()
    ]
    return environment.get_template("spc.html").render(
        options=options,
        charts=charts,
        variation_counts=sorted(variation_counts.items()),
        assurance_counts=sorted(assurance_counts.items()),
        key=key,
        scripts=[Markup(script) for script in vega_scripts()],  # noqa: S704 - npm packages' own code
    )
