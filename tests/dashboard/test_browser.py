"""The dashboard in a real browser: Playwright driving Debian's Chromium (never a downloaded one).

Every page is opened at desktop and phone width, screenshotted (to $CAREMODELS_TEST_OUTPUT/screenshots,
or the pytest temporary folder), checked for console errors and, with axe-core from node_modules,
for WCAG 2.2 A/AA violations of serious or critical impact. A user path clicks from the overview to a
site to an indicator and downloads its CSV; the keyboard path checks the skip link and focus order.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
PAGES = {
    "overview": "/",
    "sites": "/sites",
    "site": "/sites/fylde-coast",
    "site-indicator": "/sites/fylde-coast/indicators/emergency_admissions",
    "site-indicator-target": "/sites/fylde-coast/indicators/ae_four_hour_performance",
    "emrad": "/sites/emrad",
    "site-with-spine": "/sites/connecting-care-wakefield",
    "indicators": "/indicators",
    "explorer": "/indicators/emergency_admissions?geography=site&highlight=fylde-coast",
    "explorer-practices": "/indicators/emergency_admissions?geography=practice&period_kind=quarter",
    "care-homes": "/care-homes",
    "data-quality": "/data-quality",
    "not-found": "/sites/no-such-site",
}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. Install it with "
            "`apt-get install chromium chromium-driver` (./run test does this through scripts/services)."
        )
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run ./run setup (npm ci) to install axe-core")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CAREMODELS_TEST_OUTPUT")
    folder = Path(configured) / "screenshots" if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class ConsoleErrors:
    """Console errors and failed requests of a page (there must be none)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: self.errors.append(f"request failed: {request.url}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "404 (Not Found)" not in message.text:
            self.errors.append(message.text)


def serious_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS,
    )
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("name", list(PAGES))
def test_page_is_accessible_without_console_errors(
    browser: Browser, live_server: str, screenshots: Path, name: str
) -> None:
    for viewport, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        context = browser.new_context(viewport=viewport, bypass_csp=True)  # axe-core is injected inline
        page = context.new_page()
        console = ConsoleErrors(page)
        response = page.goto(live_server + PAGES[name], wait_until="networkidle")
        assert response is not None
        assert response.status == (404 if name == "not-found" else 200)
        expect(page.locator("h1")).to_have_count(1)
        page.screenshot(path=str(screenshots / f"{name}-{label}.png"), full_page=True)
        assert console.errors == [], console.errors
        if label == "desktop":
            assert serious_violations(page) == []
        else:
            # Usable at phone width: the page itself never scrolls sideways (wide tables and
            # charts scroll inside their own focusable regions).
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} is {overflow}px wider than a 375px screen"
        context.close()


def test_overview_to_site_to_indicator_and_csv_download(browser: Browser, live_server: str) -> None:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    console = ConsoleErrors(page)
    page.goto(live_server + "/")
    page.locator("#sites-by-type").get_by_role("link", name=re.compile(r"\(MCP\)")).click()
    expect(page.locator("h1")).to_have_text("The 50 vanguard sites")
    expect(page).to_have_url(re.compile(r"/sites#mcp$"))
    page.get_by_role("link", name="Fylde Coast", exact=True).click()
    expect(page.locator("h1")).to_have_text("Fylde Coast Local Health Economy")
    page.get_by_role("link", name="Emergency admissions per 1,000 registered patients", exact=True).click()
    expect(page.locator("h1")).to_have_text("Emergency admissions per 1,000 registered patients")
    expect(page.locator("#spc-chart")).to_be_visible()
    with page.expect_download() as download_info:
        page.locator("#download-csv").click()
    download = download_info.value
    assert download.suggested_filename == "fylde-coast-emergency_admissions-by-month.csv"
    saved = Path(download.path())
    frame = pd.read_csv(io.StringIO(saved.read_text(encoding="utf-8")))
    assert set(frame["site_id"]) == {"fylde-coast"}
    counts = frame["numerator"].dropna()
    assert ((counts % 5 == 0) & ~counts.between(1, 7)).all()
    # On to the explorer, with the site highlighted in the funnel plot.
    page.get_by_role("link", name=re.compile("Compare Fylde Coast with other sites")).click()
    expect(page.locator("#funnel-chart")).to_be_visible()
    expect(page.locator("#areas-table")).to_contain_text("(selected)")
    assert console.errors == []
    context.close()


def test_explorer_form_changes_geography_and_period(browser: Browser, live_server: str) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(live_server + "/indicators/emergency_admissions")
    page.select_option("#geography", "ccg")
    page.select_option("#period_kind", "quarter")
    page.locator("#explorer-submit").click()
    expect(page).to_have_url(re.compile(r"geography=ccg"))
    expect(page.locator("#areas")).to_contain_text("CCG (January 2021)")
    expect(page.locator("#areas")).to_contain_text("Q4")
    page.select_option("#indicator", "ae_attendances")
    page.locator("#explorer-submit").click()
    expect(page.locator("h1")).to_have_text(re.compile("A&E attendances"))
    context.close()


def test_keyboard_skip_link_and_focus_order(browser: Browser, live_server: str) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(live_server + "/sites/fylde-coast")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "maincontent"
    reached = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        tag = page.evaluate("document.activeElement.tagName")
        assert tag != "BODY", "focus was lost"
        reached.add(tag)
    assert {"A", "DIV"} <= reached  # links and the scrollable table regions
    # A details element opens from the keyboard.
    summary = page.locator("summary", has_text="Age and sex as a table")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#age-sex-table")).to_be_visible()
    context.close()


def _section_shot(page: Page, first: str, following: str, path: Path) -> None:
    """A screenshot of one section of a page: from its heading to the next section's heading."""
    top = page.locator(first).bounding_box()
    bottom = page.locator(following).bounding_box()
    assert top is not None and bottom is not None
    page.screenshot(
        path=str(path),
        full_page=True,
        clip={"x": 0, "y": top["y"] - 16, "width": DESKTOP["width"], "height": bottom["y"] - top["y"]},
    )


def test_money_and_spread_sections(browser: Browser, live_server: str, screenshots: Path) -> None:
    """The site page's budget and staff survey sections and the overview's coverage lenses render with
    their figures, pass axe and are screenshotted (docs/images/ holds copies)."""
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    page = context.new_page()
    console = ConsoleErrors(page)
    page.goto(live_server + "/sites/fylde-coast", wait_until="networkidle")
    expect(page.locator("#budget-total")).to_have_text(re.compile(r"^£[\d,]+$"))
    expect(page.locator("#surveys-table tbody tr").first).to_be_visible()
    _section_shot(page, "h2#budget", "h2#surveys", screenshots / "section-budget.png")
    _section_shot(page, "h2#surveys", "h2#downloads", screenshots / "section-surveys.png")
    assert serious_violations(page) == []
    page.goto(live_server + "/", wait_until="networkidle")
    expect(page.locator("#coverage-lenses-table tr[data-lens='vanguards']")).to_be_visible()
    _section_shot(page, "h3#coverage-lenses", "h2#growth", screenshots / "section-coverage-lenses.png")
    assert serious_violations(page) == []
    assert console.errors == [], console.errors
    context.close()
