"""The validation report: a self-contained HTML page (inline SVG, no scripts, nothing from another
host) with each model's discrimination beside the oracle's, its calibration plot by decile, and the
caseload a service would hold. Every number comes from the result of ``service.validate``.

Boundaries: renders a validation result; computes nothing of its own.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

__all__ = ["auroc_svg", "calibration_svg", "render_report", "write_report"]

_WIDTH, _HEIGHT, _MARGIN = 320, 320, 48
_COLOURS = {"oracle": "#425563", "default": "#005eb8"}


def _e(value: object) -> str:
    return html.escape(str(value))


def _entries(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    entries = list(result["models"].items())
    if result.get("oracle"):
        entries.append(("oracle", result["oracle"]))
    return entries


def calibration_svg(name: str, summary: dict[str, Any]) -> str:
    """Observed against expected risk in each decile, with the line of perfect calibration."""
    deciles = summary["deciles"]
    top = max(max(d["observed_rate"] for d in deciles), max(d["expected_rate"] for d in deciles), 0.01)
    top = min(1.0, top * 1.1)
    inner = _WIDTH - 2 * _MARGIN

    def x(value: float) -> float:
        return _MARGIN + inner * value / top

    def y(value: float) -> float:
        return _HEIGHT - _MARGIN - inner * value / top

    points = "".join(
        f'<circle cx="{x(d["expected_rate"]):.1f}" cy="{y(d["observed_rate"]):.1f}" r="4" '
        f'fill="{_COLOURS.get(name, _COLOURS["default"])}"><title>decile {d["decile"]}: observed '
        f"{d['observed_rate']:.3f}, expected {d['expected_rate']:.3f}</title></circle>"
        for d in deciles
    )
    ticks = "".join(
        f'<text x="{x(top * i / 4):.1f}" y="{_HEIGHT - _MARGIN + 16}" font-size="10" text-anchor="middle">'
        f"{top * i / 4:.2f}</text>"
        f'<text x="{_MARGIN - 6}" y="{y(top * i / 4) + 3:.1f}" font-size="10" text-anchor="end">{top * i / 4:.2f}</text>'
        for i in range(5)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" role="img" '
        f'aria-label="Calibration of {_e(name)}: observed against expected risk by decile">'
        f'<rect x="{_MARGIN}" y="{_MARGIN}" width="{inner}" height="{inner}" fill="none" stroke="#aeb7bd"/>'
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(top)}" y2="{y(top)}" stroke="#aeb7bd" stroke-dasharray="4 3"/>'
        f"{ticks}{points}"
        f'<text x="{_WIDTH / 2}" y="{_HEIGHT - 10}" font-size="11" text-anchor="middle">expected risk</text>'
        f'<text x="14" y="{_HEIGHT / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 14 {_HEIGHT / 2})">observed share</text>'
        f'<text x="{_WIDTH / 2}" y="20" font-size="13" text-anchor="middle">{_e(name)}: slope '
        f"{summary['calibration_slope']:.2f}, intercept {summary['calibration_intercept']:.2f}</text></svg>"
    )


def auroc_svg(result: dict[str, Any]) -> str:
    """Each model's AUROC and 95% interval, the oracle's (the best achievable) last."""
    entries = _entries(result)
    row, left, width = 28, 130, 560
    height = row * len(entries) + 60
    low, high = 0.5, 1.0

    def x(value: float) -> float:
        return left + (width - left - 20) * (value - low) / (high - low)

    rows = []
    for index, (name, summary) in enumerate(entries):
        cy = 40 + index * row
        lower, upper = summary["auroc_interval"]
        colour = _COLOURS.get(name, _COLOURS["default"])
        rows.append(
            f'<text x="{left - 8}" y="{cy + 4}" font-size="12" text-anchor="end">{_e(name)}</text>'
            f'<line x1="{x(lower):.1f}" y1="{cy}" x2="{x(upper):.1f}" y2="{cy}" stroke="{colour}" stroke-width="2"/>'
            f'<circle cx="{x(summary["auroc"]):.1f}" cy="{cy}" r="5" fill="{colour}">'
            f"<title>{_e(name)}: AUROC {summary['auroc']:.3f} ({lower:.3f} to {upper:.3f})</title></circle>"
        )
    axis_y = height - 16
    ticks = "".join(
        f'<text x="{x(v):.1f}" y="{axis_y}" font-size="10" text-anchor="middle">{v:.1f}</text>'
        f'<line x1="{x(v):.1f}" y1="24" x2="{x(v):.1f}" y2="{axis_y - 12}" stroke="#e8edee"/>'
        for v in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="AUROC with 95% bootstrap interval for each model and the oracle">'
        f'{ticks}{"".join(rows)}<text x="{width / 2}" y="16" font-size="13" text-anchor="middle">'
        "AUROC with 95% bootstrap interval</text></svg>"
    )


def render_report(result: dict[str, Any], *, command: str = "") -> str:
    rows = []
    for name, summary in _entries(result):
        lower, upper = summary["auroc_interval"]
        case = summary["caseload"]
        rows.append(
            f"<tr><th scope='row'>{_e(name)}</th><td>{_e(summary.get('description', 'expected events from the generator (best achievable)'))}</td>"
            f"<td>{summary['auroc']:.3f} ({lower:.3f} to {upper:.3f})</td>"
            f"<td>{summary['calibration_slope']:.2f}</td><td>{summary['calibration_intercept']:.2f}</td>"
            f"<td>{summary['brier']:.4f}</td><td>{case['sensitivity']:.1%}</td><td>{case['ppv']:.1%}</td></tr>"
        )
    decile_tables = []
    for name, summary in _entries(result):
        body = "".join(
            f"<tr><td>{d['decile']}</td><td>{d['people']:,}</td><td>{d['observed']:,.0f}</td>"
            f"<td>{d['expected']:,.1f}</td><td>{d['observed_to_expected']:.2f}</td></tr>"
            for d in summary["deciles"]
        )
        decile_tables.append(
            f"<figure>{calibration_svg(name, summary)}<table><caption>{_e(name)}: observed and expected "
            f"by decile of risk</caption><tr><th>decile</th><th>people</th><th>observed</th><th>expected</th>"
            f"<th>O/E</th></tr>{body}</table></figure>"
        )
    provenance = f"<p>Made with <code>{_e(command)}</code>.</p>" if command else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Risk stratification: validation report</title>
<style>body{{font-family:Arial,sans-serif;color:#212b32;margin:2rem;max-width:72rem}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border-bottom:1px solid #d8dde0;padding:.3rem .6rem;text-align:left}}
figure{{display:inline-block;vertical-align:top;margin:0 1rem 1rem 0}}caption{{text-align:left;font-weight:bold}}</style>
</head><body>
<h1>Risk stratification: validation report</h1>
<p>Temporal validation: models fitted with features to {_e(result["training_index_date"])} and the outcome in
the following year; validated with features to {_e(result["validation_index_date"])} on the outcome in the
year after it ({_e(result["outcome"])}). {result["people"]:,} people registered on the validation index
date, {result["people_with_outcome"]:,} ({result["outcome_rate"]:.1%}) with the outcome. AUROC intervals are
percentile intervals of {result["bootstrap_replicates"]} paired bootstrap resamples. The caseload is the
{result["caseload_size"]:,} people of highest risk.</p>
<p>The oracle ranks people by the expected emergency admissions the synthetic generator drew theirs from:
no model can do better on this economy, so the gap between a model and the oracle is what is left to gain.</p>
{provenance}
<figure>{auroc_svg(result)}</figure>
<table><caption>Discrimination, calibration and caseload</caption>
<tr><th>model</th><th>what</th><th>AUROC (95% CI)</th><th>calibration slope</th><th>calibration intercept</th>
<th>Brier</th><th>sensitivity at caseload</th><th>PPV at caseload</th></tr>
{"".join(rows)}</table>
<h2>Calibration by decile</h2>
{"".join(decile_tables)}
</body></html>
"""


def write_report(
    result: dict[str, Any], path: Path, *, command: str = "", figures: Path | None = None
) -> list[Path]:
    """Write the HTML report (and, with ``figures``, the AUROC and calibration plots as SVG files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result, command=command), encoding="utf-8")
    written = [path]
    if figures is not None:
        figures.mkdir(parents=True, exist_ok=True)
        auroc_path = figures / "risk-auroc.svg"
        auroc_path.write_text(auroc_svg(result) + "\n", encoding="utf-8")
        written.append(auroc_path)
        for name, summary in _entries(result):
            calibration_path = figures / f"risk-calibration-{name}.svg"
            calibration_path.write_text(calibration_svg(name, summary) + "\n", encoding="utf-8")
            written.append(calibration_path)
    return written
