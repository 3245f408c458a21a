"""Printable evaluation reports per site (HTML, NHS.UK styles inlined by the browser's print)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from caremodels import __version__
from caremodels.analysis import compare_with_rest, indicator_counts
from caremodels.reference import find_site
from caremodels.warehouse.store import Warehouse

__all__ = ["write_site_report"]


def write_site_report(warehouse_path: Path, site_name: str, out_file: Path) -> None:
    site = find_site(site_name)
    with Warehouse(warehouse_path, read_only=True) as warehouse:
        counts = indicator_counts(warehouse, "emergency_admissions")
    comparison = compare_with_rest(counts, indicator_id="emergency_admissions", site=site.id)
    environment = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "dashboard" / "templates")), autoescape=True
    )
    html = environment.get_template("report.html").render(
        site=site, comparison=comparison, version=__version__
    )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(html, encoding="utf-8")
