"""caremodels report as a board reads it: key points first, every technical term in the glossary,
donor areas by name, a banner on synthetic data, plain grammar, and a clean PDF from Chromium."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from caremodels.cli import main
from caremodels.evaluation import evaluate
from caremodels.evaluation.summary import controlled_together, count_text
from caremodels.reports import GLOSSARY, _percent_with_interval, area_label, glossary_for
from caremodels.warehouse import Warehouse

CHROMIUM = Path("/usr/bin/chromium")
SITE = "fylde-coast"
A4_POINTS = (595, 842)


@pytest.fixture(scope="module")
def report(tiny_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "fylde-coast.html"
    command = ["--quiet", "report", "--warehouse", str(tiny_warehouse), "--site", SITE, "--out", str(out)]
    assert main(command) == 0
    return out


def _words(page: str) -> str:
    text = re.sub(r"<svg.*?</svg>|<style.*?</style>|<[^>]+>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(text))


def test_key_points_come_first_with_the_controlled_methods_in_one_sentence(
    report: Path, tiny_warehouse: Path
) -> None:
    page = report.read_text(encoding="utf-8")
    words = _words(page)
    assert words.index("Key points") < words.index("How to read this report")
    # The sentence is the evaluation layer's results as they are, never recomputed.
    with Warehouse(tiny_warehouse, read_only=True) as store:
        results = [
            (name, evaluate(store, indicator="emergency_admissions", method=method, site=SITE))
            for method, name in (("did", "Difference in differences"), ("synthetic", "Synthetic control"))
        ]
    sentence = controlled_together(results, measure="emergency admissions per 1,000 registered patients")
    assert html.escape(sentence, quote=False) in page or sentence in words
    for _, result in results:
        assert _percent_with_interval(result).split(" (")[0] in sentence
        assert "95% CI" in sentence
    assert "2017 funding condition" in words.split("How to read this report")[0]


def test_the_glossary_explains_every_term_the_report_uses(report: Path) -> None:
    words = _words(report.read_text(encoding="utf-8"))
    body, glossary = words.split(" Glossary ", 1)
    listed = {term for term, _ in glossary_for(body)}
    for term in listed:
        assert term in glossary
    # The terms the issue named, as this report uses them.
    assert {"RMSPE", "Placebo area", "Synthetic data", "Rate ratio"} <= listed
    for needed, pattern in (("SMD", r"\bSMD\b"), ("HC3", "HC3")):
        assert (needed in listed) == bool(re.search(pattern, body))
    assert len(listed) < len(GLOSSARY)  # terms the report does not use are left out


def test_donor_areas_by_name_and_a_banner_on_synthetic_data(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    words = _words(page)
    assert words.index("Synthetic data: not real patients") < words.index("Key points")
    donors = words.split("Donor areas:", 1)[1].split(" Area Weight ", 1)[1][:400]
    assert re.match(r"NHS [A-Za-z ,&'-]+ CCG \([0-9]{2}[A-Z0-9]\) [01]\.[0-9]{2}", donors)
    assert area_label("93C") == "NHS North Central London CCG (93C)"
    assert area_label("07Y") == "CCG 07Y"  # a code with no name in the shipped reference data


def test_no_broken_plurals_or_doubled_punctuation(report: Path) -> None:
    words = _words(report.read_text(encoding="utf-8"))
    assert not re.search(r"\b1 (placebo areas|practices|comparison practices|files)\b", words)
    assert not re.search(r"\b([02-9]|[1-9][0-9]+) placebo area\b(?!s)", words)
    assert "Not computed: synthetic:" not in words
    assert count_text(1, "placebo area") == "1 placebo area"
    assert count_text(3, "placebo area") == "3 placebo areas"


@pytest.mark.browser
def test_the_report_prints_to_a_clean_pdf_in_chromium(report: Path, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/services does)")
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    reader = PdfReader(pdf)
    pages = [page.extract_text() or "" for page in reader.pages]
    assert 3 <= len(pages) <= 20
    for page in reader.pages:  # A4, as the print style asks
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == A4_POINTS
    assert all(len(text.strip()) > 80 for text in pages), "a blank or nearly blank page"
    first = pages[0]
    assert "Synthetic data" in first and "Key points" in first
    everything = re.sub(r"\s+", " ", " ".join(pages))
    assert "Glossary" in everything and "Donor areas" in everything
    assert "Difference in differences" in everything
