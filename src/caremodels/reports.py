"""Printable evaluation reports per site: one self-contained HTML file (no scripts, no network) with
the site's own before-and-after figure beside each controlled estimate, the methods in plain
English, their diagnostics (pre-trends, fit, balance) and charts drawn as inline SVG.

Boundaries: opens the warehouse read-only, runs the evaluation methods (``caremodels.evaluation``)
and renders ``dashboard/templates/report.html``. A method that cannot run on the data (too few
comparison areas, no care home residents) is reported as not computed, with the reason; the rest of
the report is still written.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader

from caremodels import __version__
from caremodels.dashboard.charts import Series, line_chart
from caremodels.errors import CaremodelsError
from caremodels.evaluation import (
    REGISTRY,
    EvaluationResult,
    before_after_versus_matched,
    evaluate,
    indicator_counts,
    monthly_rates,
)
from caremodels.evaluation.claims import BeforeAfterVersusMatched
from caremodels.evaluation.did import DidDiagnostics
from caremodels.evaluation.matched import BalanceRow, MatchedDiagnostics
from caremodels.evaluation.monitoring import BaselineDiagnostics
from caremodels.evaluation.result import diagnostics_of, published_model
from caremodels.evaluation.run import target_for
from caremodels.evaluation.summary import (
    CONTROLLED_METHODS,
    change_text,
    controlled_together,
    count_text,
    interval_text,
)
from caremodels.evaluation.synthetic import SyntheticDiagnostics
from caremodels.evaluation.targets import DEFAULT_POOL, EvaluationTarget, PoolRule
from caremodels.indicators import find_indicator
from caremodels.indicators.output import format_figure
from caremodels.reference import VanguardSite, area_names, find_site
from caremodels.warehouse.store import Warehouse

__all__ = [
    "CARE_HOME_INDICATORS",
    "GLOSSARY",
    "IndicatorSection",
    "MethodRow",
    "interval_chart",
    "site_report_html",
    "write_site_report",
]

_TEXT, _GRID, _BLUE, _RED = "#212b32", "#d8dde0", "#005eb8", "#d5281b"

_BEFORE_AFTER = (
    "The site's own figure: its rate in a later year against an earlier year. Nothing is compared "
    "with it, so it credits the care model with everything else that changed: national trends, "
    "a return to normal after an unusual year, changes in who lives there."
)
# Names and plain English from the evaluation layer's registry of methods (and the site's own figure).
PLAIN_ENGLISH = {"before_after": _BEFORE_AFTER} | {m.id: m.description for m in REGISTRY.values()}
SHORT_NAMES = {"before_after": "Before and after"} | {m.id: m.short_name for m in REGISTRY.values()}
METHOD_NAMES = {"before_after": "Site's own before-and-after"} | {m.id: m.title for m in REGISTRY.values()}
CARE_HOME_INDICATORS = ("care_home_emergency_admissions",)
"""What a care home (EHCH) site's report measures by default: its residents' indicators, per
resident-year (the whole population's rates would hide the residents in everyone else)."""

GLOSSARY: dict[str, tuple[str, str]] = {
    # term: (a pattern that finds it in the report's text, the plain-English meaning)
    "Rate ratio": (
        r"rate ratio|ratio of growth",
        "The site's rate divided by what it would have been without the care model, by one method's "
        "reckoning. 1 means no change; 0.90 is 10% fewer.",
    ),
    "95% confidence interval (CI)": (
        r"\bCI\b|confidence interval",
        "The range of values the data are consistent with. If it includes no change (1, or 0%), the data "
        "cannot tell the effect from chance.",
    ),
    "p-value (p)": (
        r"\bp = ",
        "How often a difference at least this large would arise by chance if the care model had no "
        "effect. Small values (below 0.05) make chance a poor explanation.",
    ),
    "Percentage points": (
        r"percentage points?",
        "The difference between two percentages: growth of 2% against 5% is 3 percentage points lower.",
    ),
    "Comparison practices": (
        r"comparison practices|comparison pool",
        "GP practices outside the care model's sites, standing in for what would have happened without it.",
    ),
    "CCG": (
        r"\bCCGs?\b",
        "Clinical commissioning group: the NHS bodies that planned and bought local health care from "
        "2013 to 2022. Comparison practices are grouped by CCG.",
    ),
    "Placebo area": (
        r"placebo|pretend site",
        "A comparison area analysed as if it had been the site. How far placebo areas move by chance "
        "sets the width of the interval.",
    ),
    "Programme monitoring": (
        r"programme monitoring",
        "NHS England's own measure: growth at the site from the baseline year against growth in the "
        "rest of England, without adjusting for differences between areas.",
    ),
    "Funding condition": (
        r"funding condition",
        "The 2017 condition for further vanguard funding: emergency admissions growing at least 1 (MCP) "
        "or 3 (PACS) percentage points slower than in the rest of England. Here it is met only when the "
        "interval rules out no difference.",
    ),
    "Difference in differences": (
        r"difference in differences",
        "Compares how much the site's practices changed with how much the comparison practices changed "
        "over the same time.",
    ),
    "Event study": (
        r"event study|event-study",
        "The difference in differences worked out year by year, so that years before the start can be "
        "checked: they should show no difference.",
    ),
    "Pre-trend test": (
        r"pre-trend|years before the start",
        "A test of whether the site was already moving away from the comparison practices before the "
        "care model started; if it was, the estimate may be biased.",
    ),
    "Synthetic control": (
        r"synthetic control",
        "A weighted mix of comparison areas (the donor areas) chosen to track the site before the start, "
        "showing what would have happened after it.",
    ),
    "Donor area": (
        r"donor|weights",
        "A comparison area in the synthetic control's mix; its weight is its share of the mix.",
    ),
    "RMSPE": (
        r"RMSPE",
        "Root mean squared prediction error: the typical gap between the site and its synthetic control, "
        "in the indicator's units. Small before the start means a good fit.",
    ),
    "Matched controls": (
        r"matched controls|matched",
        "People at the site compared one by one with similar people elsewhere (same age, sex, health and "
        "so on).",
    ),
    "SMD": (
        r"\bSMD\b|standardised mean difference|standardised difference",
        "Standardised mean difference: how far apart two groups are on a characteristic, in standard "
        "deviations. Below 0.1 counts as well balanced.",
    ),
    "HC3": (
        r"HC3",
        "A way of estimating uncertainty that stays honest when some people's outcomes vary more than "
        "others' (heteroskedasticity-consistent standard errors, version 3).",
    ),
    "Caliper": (
        r"caliper",
        "The furthest apart two people may be and still be matched; people with no match that close are "
        "left out.",
    ),
    "Poisson": (
        r"Poisson",
        "The usual model for counts of events. Used alone it assumes areas vary only by chance, which "
        "makes intervals too narrow; placebo areas correct for that.",
    ),
    "Over-dispersion": (
        r"over-dispersion|times as much as chance",
        "Areas varying more than chance alone would make them, which widens the honest interval.",
    ),
    "Student t": (
        r"Student t|studentised",
        "A distribution used for intervals from few placebo areas; it widens them to allow for how "
        "little is known about the spread.",
    ),
    "Synthetic data": (
        r"synthetic data",
        "Records made up by caremodels' generator to look like real NHS data. Figures from them show "
        "how the methods work, not what happened at a real site.",
    ),
}
"""Every technical term a report may use; a report's glossary lists the ones its text contains."""


def glossary_for(text: str) -> list[tuple[str, str]]:
    """The ``GLOSSARY`` entries whose pattern occurs in ``text`` (a report's words, tags removed)."""
    return [
        (term, meaning)
        for term, (pattern, meaning) in GLOSSARY.items()
        if re.search(pattern, text, flags=re.IGNORECASE)
    ]


def area_label(code: str) -> str:
    """A CCG's or practice's name with its code (``NHS Leeds CCG (02V)``), or the code alone."""
    names = area_names()
    name = names.get("ccg", {}).get(code) or names.get("practice", {}).get(code)
    if name:
        return f"{name} ({code})"
    return f"CCG {code}" if re.fullmatch(r"[0-9]{2}[A-Z0-9]", code) else code


@dataclass
class KeyPoints:
    """What a board reads first for one indicator: the controlled methods together in one sentence,
    then the funding condition, the uncontrolled figures and what could not be run."""

    together: str
    others: list[str] = field(default_factory=list)


@dataclass
class MethodRow:
    """One controlled estimate beside the site's own uncontrolled figure for the same periods."""

    method: str
    name: str
    result: EvaluationResult | None
    own_figure: str
    own_periods: str
    error: str | None = None

    @property
    def estimate_text(self) -> str:
        return _percent_with_interval(self.result) if self.result else "not computed"


@dataclass
class IndicatorSection:
    indicator: str
    title: str
    unit: str
    rows: list[MethodRow] = field(default_factory=list)
    charts: dict[str, str] = field(default_factory=dict)
    balance: list[BalanceRow] = field(default_factory=list)
    claim: BeforeAfterVersusMatched | None = None
    pool: str = ""
    excluded: list[str] = field(default_factory=list)
    key_points: KeyPoints | None = None
    donors: list[tuple[str, float]] = field(default_factory=list)
    """The synthetic control's donor areas by name, heaviest first, with their weights."""
    matched_areas: list[tuple[str, int]] = field(default_factory=list)
    """The areas the matched comparison residents came from, by name, most first."""


def _percent_with_interval(result: EvaluationResult) -> str:
    estimate = result.estimate
    text = change_text(estimate.rate_ratio)
    if math.isfinite(estimate.ci_low) and math.isfinite(estimate.ci_high):
        text += f" ({interval_text(estimate)})"
    return text


def _key_points(section: IndicatorSection, measure: str) -> KeyPoints:
    """The section's key points, every figure taken from its results as the evaluation layer gave them."""
    controlled = [
        (SHORT_NAMES[row.method], row.result)
        for row in section.rows
        if row.method in CONTROLLED_METHODS and row.result is not None
    ]
    points = KeyPoints(together=controlled_together(controlled, measure=measure))
    for row in section.rows:
        if row.result is None:
            points.others.append(f"{row.name}: not computed ({row.error}).")
            continue
        diagnostics = row.result.diagnostics
        if row.method == "baseline":
            points.others.append(
                f"Programme monitoring (growth against the rest of England, not adjusted for differences "
                f"between areas): {_percent_with_interval(row.result)}."
            )
            condition = getattr(diagnostics, "funding_condition_2017", None)
            if condition is not None:
                points.others.append(
                    f"2017 funding condition (growth at least "
                    f"{count_text(int(condition.required_points_below_rest), 'percentage point')} below the "
                    f"rest of England) \u2014 {condition.statement}."
                )
        pre_trend = getattr(diagnostics, "pre_trend", None)
        if (
            pre_trend is not None
            and pre_trend.tested
            and pre_trend.p_value is not None
            and pre_trend.p_value < 0.05
        ):
            points.others.append(
                f"{row.name} may be biased: the site was already moving away from the comparison practices "
                f"before the start (pre-trend test p = {pre_trend.p_value:.3f})."
            )
    own = next((row for row in section.rows if row.own_figure), None)
    if own is not None:
        points.others.append(
            f"The site's own before-and-after figure, which credits the care model with everything else "
            f"that changed: {own.own_figure} ({own.own_periods})."
        )
    return points


def _rate_change(
    counts: pd.DataFrame, practices: set[str], before: tuple[dt.date, dt.date], after: tuple[dt.date, dt.date]
) -> float:
    months = pd.to_datetime(counts["month"]).dt.date
    mine = counts[counts["practice_code"].isin(practices)]
    mine_months = months[mine.index]

    def rate(first: dt.date, last: dt.date) -> float:
        rows = mine[(mine_months >= first) & (mine_months <= last)]
        return float(rows["numerator"].sum()) / float(rows["denominator"].sum())

    return (rate(*after) / rate(*before) - 1) * 100


def _parse_period(text: str) -> tuple[dt.date, dt.date]:
    first, _, last = text.partition(" to ")
    start = dt.date.fromisoformat(first + "-01")
    end_month = dt.date.fromisoformat(last + "-01")
    following = dt.date(end_month.year + end_month.month // 12, end_month.month % 12 + 1, 1)
    return start, following - dt.timedelta(days=1)


def _ratio_ticks(log_span: float) -> tuple[float, ...]:
    """Tick values for a log-scale ratio axis, coarser as the axis spans more."""
    if log_span < math.log(5):
        return (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
    if log_span < math.log(20):
        return (0.25, 0.5, 1.0, 2.0, 4.0)
    if log_span < math.log(200):
        return (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
    return (0.01, 0.1, 1.0, 10.0, 100.0)


def interval_chart(
    rows: Sequence[tuple[str, float, float, float]],
    *,
    title: str,
    description: str,
    x_label: str = "Rate ratio (log scale); 1 means no change",
    chart_id: str = "intervals",
    width: int = 720,
) -> str:
    """Rate ratios with 95% intervals, one row each, on a log scale with a line at 1 (no change)."""
    finite = [row for row in rows if math.isfinite(row[1])]
    if not finite:
        return f"<p>{escape(title)}: no estimates.</p>"
    values = [
        value
        for _, ratio, low, high in finite
        for value in (ratio, low, high)
        if math.isfinite(value) and value > 0
    ]
    low_end = math.log(min([*values, 0.9]) * 0.95)
    high_end = math.log(max([*values, 1.1]) * 1.05)
    label_width, row_height, top = 260, 30, 12
    height = top + row_height * len(rows) + 50
    plot = width - label_width - 20

    def x(value: float) -> float:
        return label_width + (math.log(value) - low_end) / (high_end - low_end) * plot

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" class="report-chart">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    axis = top + row_height * len(rows)
    for tick in _ratio_ticks(high_end - low_end):
        if low_end <= math.log(tick) <= high_end:
            colour, thickness = (_TEXT, 2) if tick == 1.0 else (_GRID, 1)
            parts.append(
                f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{axis}" '
                f'stroke="{colour}" stroke-width="{thickness}"/>'
                f'<text x="{x(tick):.1f}" y="{axis + 16}" text-anchor="middle" font-size="12" fill="{_TEXT}">'
                f"{tick:g}</text>"
            )
    for index, (label, ratio, low, high) in enumerate(rows):
        y = top + index * row_height + row_height / 2
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="13" fill="{_TEXT}">'
            f"{escape(label)}</text>"
        )
        if not math.isfinite(ratio):
            continue
        if math.isfinite(low) and math.isfinite(high):
            parts.append(
                f'<line x1="{x(max(low, math.exp(low_end))):.1f}" x2="{x(min(high, math.exp(high_end))):.1f}" '
                f'y1="{y:.1f}" y2="{y:.1f}" stroke="{_BLUE}" stroke-width="2"/>'
            )
        parts.append(f'<circle cx="{x(ratio):.1f}" cy="{y:.1f}" r="5" fill="{_BLUE}"/>')
    parts.append(
        f'<text x="{label_width + plot / 2:.1f}" y="{axis + 36}" text-anchor="middle" font-size="12" '
        f'fill="{_TEXT}">{escape(x_label)}</text></svg>'
    )
    return "".join(parts)


def _run(action: Any) -> tuple[EvaluationResult | None, str | None]:
    try:
        return action(), None
    except (CaremodelsError, ValueError, ArithmeticError) as error:
        return None, str(error)


def _indicator_section(
    warehouse: Warehouse,
    site: VanguardSite,
    indicator: str,
    counts: pd.DataFrame,
    target: EvaluationTarget,
    pool: PoolRule,
    membership_file: Path | None = None,
    exclude_practices: Sequence[str] = (),
) -> IndicatorSection:
    definition = find_indicator(indicator)
    section = IndicatorSection(
        indicator=indicator,
        title=definition.title,
        unit=definition.unit,
        pool=target.pool.summary() if target.pool else "",
        excluded=[
            f"{excluded.name} ({excluded.practices} practices): {excluded.reason}"
            for excluded in (target.pool.excluded_sites if target.pool else ())
            if excluded.practices
        ],
    )
    treated = target.treated_practices
    # The site's own figures and charts count a dated member's practice only in its months, as the
    # methods do (evaluate applies the same target.in_membership).
    counts = target.in_membership(counts)

    def run(method: str) -> EvaluationResult:
        # The one call the command line makes (caremodels evaluate), with the same counts and pool.
        result = evaluate(
            warehouse,
            indicator=indicator,
            method=method,
            site=site.id,
            counts=counts,
            pool=pool,
            membership_file=membership_file,
            exclude_practices=exclude_practices,
        )
        return result.published()

    for method in (m.id for m in REGISTRY.values() if m.level == "practice"):
        result, error = _run(lambda method=method: run(method))
        if error is not None:
            error = error.removeprefix(f"{method}: ")  # the row already names the method
        own = own_periods = ""
        if result is not None and method == "baseline":
            own = f"{diagnostics_of(result, BaselineDiagnostics).growth * 100:+.1f}%".replace("-", "\u2212")
            own_periods = f"{result.periods['baseline']} to {result.periods['comparison']}"
        elif result is not None:
            before, after = _parse_period(result.periods["before"]), _parse_period(result.periods["after"])
            own = f"{_rate_change(counts, treated, before, after):+.1f}%".replace("-", "\u2212")
            own_periods = f"before {result.periods['before']}; after {result.periods['after']}"
        section.rows.append(MethodRow(method, METHOD_NAMES[method], result, own, own_periods, error))

    if site.care_model == "EHCH":
        claim, error = None, None
        try:
            claim = published_model(
                before_after_versus_matched(
                    warehouse,
                    site.id,
                    indicator=indicator,
                    pool=pool,
                    counts=counts,
                    membership_file=membership_file,
                    exclude_practices=exclude_practices,
                )
            )
        except (CaremodelsError, ValueError, ArithmeticError) as failure:
            error = str(failure)
        section.claim = claim
        own = own_periods = ""
        if claim is not None:
            own = change_text(claim.before_after.result.estimate.rate_ratio)
            own_periods = f"{claim.before_after.baseline.financial_year} to {claim.before_after.comparison.financial_year}"
            section.balance = diagnostics_of(claim.matched, MatchedDiagnostics).balance
        section.rows.append(
            MethodRow(
                "matched", METHOD_NAMES["matched"], claim.matched if claim else None, own, own_periods, error
            )
        )
    section.charts = _charts(section, counts, target, definition.multiplier)
    for row in section.rows:
        areas = getattr(row.result.diagnostics, "matched_areas", None) if row.result else None
        if areas:
            section.matched_areas = [(area_label(code), int(count)) for code, count in areas.items()]
        weights = getattr(row.result.diagnostics, "weights", None) if row.result else None
        if weights:
            section.donors = sorted(
                ((area_label(code), float(weight)) for code, weight in weights.items()),
                key=lambda item: -item[1],
            )
    section.key_points = _key_points(section, definition.title[:1].lower() + definition.title[1:])
    return section


def _charts(
    section: IndicatorSection, counts: pd.DataFrame, target: EvaluationTarget, multiplier: int
) -> dict[str, str]:
    charts: dict[str, str] = {}
    slug = section.indicator
    rates = monthly_rates(
        counts,
        {target.area: target.treated_practices, "Comparison practices": target.control_practices},
        multiplier,
    )
    series = [
        Series(
            str(name), [(month, float(rate)) for month, rate in zip(rows["month"], rows["rate"], strict=True)]
        )
        for name, rows in rates.groupby("area", sort=False)
    ]
    charts["monthly"] = line_chart(
        series,
        title=f"{section.title}: {target.area} and comparison practices, by month",
        description=f"Monthly rate {section.unit} for the site's practices and the comparison practices.",
        y_label=section.unit,
        chart_id=f"{slug}-monthly",
    )
    controlled = [row for row in section.rows if row.result is not None]
    estimates = [
        (
            SHORT_NAMES[row.method],
            row.result.estimate.rate_ratio,
            row.result.estimate.ci_low,
            row.result.estimate.ci_high,
        )
        for row in controlled
        if row.result
    ]
    if section.claim is not None:
        own = section.claim.before_after.result.estimate
        estimates.insert(0, ("Site's own (residents)", own.rate_ratio, own.ci_low, own.ci_high))
    if estimates:
        charts["estimates"] = interval_chart(
            estimates,
            title=f"{section.title}: estimates by method",
            description="Rate ratio and 95% confidence interval from each method; 1 means no change.",
            chart_id=f"{slug}-estimates",
        )
    for row in controlled:
        if row.method == "did" and row.result is not None:
            study = diagnostics_of(row.result, DidDiagnostics).event_study
            charts["event_study"] = interval_chart(
                [
                    (
                        f"Year {item.event_year:+d}" + (" (reference)" if item.reference else ""),
                        item.rate_ratio,
                        item.ci_low,
                        item.ci_high,
                    )
                    for item in study
                ],
                title=f"{section.title}: event study",
                description="Rate ratio of the site's practices against the comparison practices in each "
                "year relative to the start (year -1 is the reference). Years before the start should be "
                "near 1.",
                chart_id=f"{slug}-event",
            )
        if row.method == "synthetic" and row.result is not None:
            points = diagnostics_of(row.result, SyntheticDiagnostics).series
            charts["synthetic"] = line_chart(
                [
                    Series(
                        target.area,
                        [(dt.date.fromisoformat(p.quarter_start), p.observed_rate) for p in points],
                    ),
                    Series(
                        "Synthetic control",
                        [(dt.date.fromisoformat(p.quarter_start), p.synthetic_rate) for p in points],
                    ),
                ],
                title=f"{section.title}: {target.area} and its synthetic control, by quarter",
                description="Quarterly rate of the site and of the weighted mix of comparison areas that "
                "tracked it before the start.",
                y_label=section.unit,
                chart_id=f"{slug}-synthetic",
            )
    return charts


def site_report_html(
    warehouse: Warehouse,
    site_name: str,
    indicators: Sequence[str] | None = None,
    *,
    pool: PoolRule = DEFAULT_POOL,
    membership_file: Path | None = None,
    exclude_practices: Sequence[str] = (),
) -> str:
    """The report for one site as an HTML string. By default a care home (EHCH) site reports its
    residents' indicators (``CARE_HOME_INDICATORS``), other sites emergency admissions."""
    site = find_site(site_name)
    default = list(CARE_HOME_INDICATORS) if site.care_model == "EHCH" else ["emergency_admissions"]
    sections = []
    for indicator in indicators or default:
        counts = indicator_counts(warehouse, indicator)
        target = target_for(
            counts,
            site=site.id,
            pool=pool,
            membership_file=membership_file,
            exclude_practices=exclude_practices,
        )
        sections.append(
            _indicator_section(
                warehouse, site, indicator, counts, target, pool, membership_file, exclude_practices
            )
        )
    environment = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "dashboard" / "templates")), autoescape=True
    )
    environment.filters["plural"] = count_text
    # The site's rates as every output publishes them, with the same digits (format_figure).
    environment.filters["figure"] = format_figure
    template = environment.get_template("report.html")
    context = {
        "site": site,
        "start": target.start,
        "sections": sections,
        "plain_english": PLAIN_ENGLISH,
        "method_names": METHOD_NAMES,
        "version": __version__,
        "generated": dt.date.today().isoformat(),
        "synthetic_sources": warehouse.synthetic_sources(),
    }
    # The glossary lists the terms the report's own words use, so it is rendered once without it.
    words = re.sub(
        r"<svg.*?</svg>|<style.*?</style>|<[^>]+>", " ", template.render(**context, glossary=[]), flags=re.S
    )
    return template.render(**context, glossary=glossary_for(words))


def write_site_report(
    warehouse_path: Path,
    site_name: str,
    out_file: Path,
    *,
    indicators: Sequence[str] | None = None,
    pool: PoolRule = DEFAULT_POOL,
    membership_file: Path | None = None,
    exclude_practices: Sequence[str] = (),
) -> Path:
    """Write the site's report to ``out_file`` and return its path."""
    with Warehouse(warehouse_path, read_only=True) as warehouse:
        html = site_report_html(
            warehouse,
            site_name,
            indicators,
            pool=pool,
            membership_file=membership_file,
            exclude_practices=exclude_practices,
        )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(html, encoding="utf-8")
    return out_file
