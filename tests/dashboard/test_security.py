"""The dashboard as an NHS web service (issues 11 and 13): security headers on every answer, API docs
from local assets, internal errors never shown or cached, a bounded memo, a notice when the
warehouse changes, branding as settings (no NHS logo or copyright line by default), a busy port
failing in one line, and a browser that sees no request to any host but 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from caremodels.dashboard import create_app
from caremodels.dashboard.branding import Branding, load_branding
from caremodels.dashboard.caching import BoundedMemo
from caremodels.errors import DataError

PAGES = [
    "/",
    "/sites",
    "/sites/fylde-coast",
    "/sites/fylde-coast/indicators/emergency_admissions",
    "/sites/fylde-coast/indicators/ae_four_hour_performance",
    "/sites/emrad",
    "/indicators",
    "/indicators/emergency_admissions?geography=practice&period_kind=quarter",
    "/care-homes",
    "/data-quality",
    "/docs",
    "/sites/no-such-site",
]


@pytest.mark.parametrize(
    "path", ["/", "/docs", "/api/health", "/api/sites", "/static/nhsuk-frontend.min.css", "/nope"]
)
def test_security_headers_on_every_answer(client: TestClient, path: str) -> None:
    response = client.get(path)
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "http" not in policy  # no other host, not even a CDN
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    if response.status_code >= 400:
        assert response.headers["cache-control"] == "no-store"


def test_api_docs_use_local_assets_only(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "cdn" not in page.lower() and "https://" not in page
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
    assert client.get("/caremodels-static/docs.js").status_code == 200


def test_default_branding_has_no_nhs_logo_and_no_copyright(client: TestClient) -> None:
    page = client.get("/").text
    assert "nhsuk-header__logo" not in page and "© NHS England" not in page and "©" not in page
    assert "nhsuk-header" in page  # still the NHS.UK design system


def test_branding_is_a_setting(dashboard_warehouse: Path, tmp_path: Path) -> None:
    logo = tmp_path / "logo.svg"
    logo.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', encoding="utf-8")
    settings = tmp_path / "branding.yaml"
    settings.write_text(
        "name: Example ICB analytics\nlogo: logo.svg\nfooter: Run by Example ICB.\ncopyright: © Example ICB 2026\n",
        encoding="utf-8",
    )
    branding = load_branding(settings)
    app = create_app(dashboard_warehouse, cache=False, background=False, branding=branding)
    with TestClient(app) as client:
        page = client.get("/sites").text
        assert (
            "Example ICB analytics" in page and "Run by Example ICB." in page and "© Example ICB 2026" in page
        )
        assert 'src="/branding/logo"' in page
        assert client.get("/branding/logo").headers["content-type"].startswith("image/svg+xml")
    settings.write_text("colour: red\n", encoding="utf-8")
    with pytest.raises(DataError, match="unknown setting"):
        load_branding(settings)
    with pytest.raises(DataError, match="no such logo"):
        Branding(logo=tmp_path / "missing.png")


def test_internal_errors_are_logged_never_shown_never_cached(
    dashboard_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "IO Error: could not set lock on /home/someone/warehouse.duckdb held by PID 4242"
    failing = [True]
    responses = dashboard_app.state.response_cache

    @responses.page
    def flaky(request: Request) -> HTMLResponse:
        if failing[0]:
            raise RuntimeError(secret)
        return HTMLResponse("<p>fine</p>")

    dashboard_app.add_api_route("/test-internal-error", flaky, include_in_schema=False)
    with TestClient(dashboard_app, raise_server_exceptions=False) as client:
        response = client.get("/test-internal-error")
        assert response.status_code == 500 and secret not in response.text and "4242" not in response.text
        assert response.headers["cache-control"] == "no-store"
        assert "RuntimeError" in caplog.text and secret not in caplog.text
        failing[0] = False
        assert client.get("/test-internal-error").text == "<p>fine</p>"  # the error was not cached


def test_memo_is_bounded() -> None:
    memo: BoundedMemo[int, int] = BoundedMemo(3)
    for key in range(10):
        memo.setdefault(key, key * key)
        assert key in memo
    assert len(memo) == 3 and 0 not in memo and memo[9] == 81


def test_notice_when_the_warehouse_changes(dashboard_warehouse: Path, tmp_path: Path) -> None:
    copy = tmp_path / "warehouse.duckdb"
    copy.write_bytes(dashboard_warehouse.read_bytes())
    app = create_app(copy, cache=False, background=False)
    with TestClient(app) as client:
        assert "The warehouse has changed" not in client.get("/sites").text
        time.sleep(1.1)
        with copy.open("ab") as file:
            file.write(b"\0")
        page = client.get("/sites")
        assert "The warehouse has changed" in page.text
        assert page.headers["x-caremodels-warehouse-changed"] == "true"


def _caremodels(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caremodels", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_busy_port_fails_in_one_line_before_a_url(
    command: str, dashboard_warehouse: Path, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        if command == "serve":
            result = _caremodels("serve", "--warehouse", str(dashboard_warehouse), "--port", port)
        else:
            result = _caremodels("demo", "--out", str(tmp_path / "demo"), "--port", port)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"caremodels: error: port {port} on 127.0.0.1 is already in use: choose another with --port"
    ]
    assert "http://" not in result.stdout + result.stderr
    assert not (tmp_path / "demo").exists()  # nothing was built


def test_non_loopback_host_warns_there_is_no_authentication() -> None:
    from caremodels.cli.serve_command import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    result = _caremodels("serve", "--warehouse", "/nonexistent/w.duckdb", "--host", "0.0.0.0", "--port", "0")
    assert "has no authentication" in result.stderr and result.returncode == 1


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail(f"{chromium} is missing: install Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.mark.browser
def test_no_page_requests_any_host_but_loopback(browser: object, live_server: str) -> None:
    """Every request of every page (documents, styles, scripts, images, fonts, the API docs' fetch of
    the OpenAPI document), recorded by the browser itself."""
    context = browser.new_context()  # type: ignore[attr-defined]
    requested: list[str] = []
    blocked: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    page.on(
        "console",
        lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None,
    )
    try:
        for path in PAGES:
            page.goto(live_server + path, wait_until="networkidle")
        page.wait_for_selector(
            "#swagger-ui .information-container", timeout=30_000
        ) if path == "/docs" else None
    finally:
        context.close()
    hosts = {urlparse(url).hostname for url in requested if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, sorted(url for url in requested if urlparse(url).hostname != "127.0.0.1")
    assert len(requested) > len(PAGES)
    assert any("/docs-assets/swagger-ui-bundle.js" in url for url in requested)
    assert any(url.endswith("/openapi.json") for url in requested)  # Swagger UI ran
    assert blocked == []  # and nothing the pages need is refused by their own policy
