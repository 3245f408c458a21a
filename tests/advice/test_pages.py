"""The advice and guidance pages in Chromium (Playwright, Debian's browser): the GP logs in, makes a
request on the form (both questions must be answered), sees it in "my requests"; the specialist sees
it on the worklist, asks for more, the GP replies, the specialist converts it. Each page is
screenshotted (to $CAREMODELS_TEST_OUTPUT/screenshots, or the pytest temporary folder)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from caremodels.advice.app import create_app
from caremodels.care_record import init_store, open_store
from caremodels.care_record.identity import rotate_demo_key
from tests.advice.fixture import TRUST, build

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('advice-pages') / 'store.db'}"
    init_store(url)
    store = open_store(url)
    rotate_demo_key(store)
    patients = build(store, 5)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(100):
        if running.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", patients
    running.should_exit = True
    thread.join(timeout=10)
    store.close()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CAREMODELS_TEST_OUTPUT", tmp_path)) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _login(page: Page, base: str, user: str) -> None:
    page.goto(f"{base}/login")
    page.check(f"input[name=user_id][value={user}]")
    page.click("form[action='/login'] button")


def test_the_gp_and_the_specialist_work_a_request_through_the_pages(
    server: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, patients = server
    shots = _shots(tmp_path)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            remote: list[str] = []
            page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(base) else None)

            def shot(name: str) -> None:
                page.screenshot(path=str(shots / f"advice-{name}.png"), full_page=True)

            _login(page, base, "gp")
            page.goto(f"{base}/advice/new?patient={patients[0]}")
            page.fill("#provider", TRUST)
            page.select_option("#specialty", "330")
            page.fill(
                "#question", "Plaque psoriasis not settling on potent steroids: start a vitamin D analogue?"
            )
            page.check("#would_otherwise_refer-yes")
            page.click("form[action='/advice/new'] button")
            expect(page.locator(".nhsuk-error-summary")).to_contain_text("answer both questions")
            page.check("#would_otherwise_refer-yes")
            page.check("#authorised_to_convert-yes")
            shot("new-request")
            page.click("form[action='/advice/new'] button")
            expect(page.locator("h1")).to_contain_text("Dermatology")
            expect(page.locator(".nhsuk-summary-list")).to_contain_text("awaiting the provider")
            request_url = page.url
            page.goto(f"{base}/advice")
            expect(page.locator("table")).to_contain_text("Plaque psoriasis")
            shot("my-requests")

            page.context.clear_cookies()
            _login(page, base, "specialist")
            page.goto(f"{base}/advice")
            expect(page.locator("h2").first).to_contain_text("Worklist")
            # An unofficial tool carries neither the NHS logo nor a crown-copyright line.
            assert page.locator(".nhsuk-header__logo").count() == 0 and "©" not in page.content()
            shot("worklist")
            page.goto(request_url)
            page.fill("#message-ask", "Is there nail involvement? A photograph would help.")
            page.click("form[action$='/ask'] button")
            expect(page.locator(".nhsuk-summary-list")).to_contain_text("awaiting the GP")

            page.context.clear_cookies()
            _login(page, base, "gp")
            page.goto(request_url)
            page.fill("#message-reply", "Yes, pitting on four nails; photograph attached to the record.")
            page.click("form[action$='/reply'] button")

            page.context.clear_cookies()
            _login(page, base, "specialist")
            page.goto(request_url)
            shot("respond")
            page.fill("#message-convert", "Nail disease: I will see her in clinic. Converted to a referral.")
            page.click("form[action$='/convert'] button")
            expect(page.locator(".nhsuk-summary-list")).to_contain_text("converted to a referral")
            expect(page.locator("main")).to_contain_text("Converted to a referral")
            shot("converted")
            assert remote == []  # nothing from another host
        finally:
            browser.close()
