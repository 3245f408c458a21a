"""The dashboard: server-rendered pages in the NHS.UK design system, with a JSON API behind them.

Boundaries: the app reads the warehouse once, read-only, when it starts (``snapshot``), computes the
programme and site figures then (``figures``), and answers every request from memory; it holds no
database connection. Counts are published only through disclosure control. Assets come from the
installed npm package nhsuk-frontend, served under /assets and /static, and the API documentation's
from swagger-ui-dist under /docs-assets; pages make no network calls and load no script but those.

Served as an NHS web service should be: a Content-Security-Policy of this server only (no other host,
no inline script but the NHS.UK template's one, by hash), ``frame-ancestors 'none'``,
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` on every answer; internal
errors are logged (type and place, never values) and answered with a plain message that is never
cached; a notice on every page when the warehouse file changed after start-up.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PackageLoader
from starlette.exceptions import HTTPException as StarletteHTTPException

from caremodels import __version__
from caremodels.dashboard.api import api_router
from caremodels.dashboard.assets import frontend_dist, offline_stylesheet, swagger_ui_dist
from caremodels.dashboard.branding import Branding, without_nhs_logo
from caremodels.dashboard.caching import ResponseCache
from caremodels.dashboard.downloads import download_router
from caremodels.dashboard.figures import DashboardFigures, NotFound
from caremodels.dashboard.pages import not_found_page, page_router
from caremodels.dashboard.programme_sections import ProgrammeInputs
from caremodels.dashboard.snapshot import DEFAULT_INDICATOR_TIMEOUT, read_snapshot
from caremodels.indicators.output import format_figure
from caremodels.spc_charts.icons import (
    ASSURANCE_LABELS,
    VARIATION_LABELS,
    assurance_icon_svg,
    variation_icon_svg,
)

__all__ = ["SECURITY_HEADERS", "content_security_policy", "create_app"]

_LOG = logging.getLogger(__name__)
_STATIC = Path(__file__).with_name("static")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_INLINE_SCRIPT = re.compile(r"<script[^>]*>(.*?)</script>", re.S)


def content_security_policy() -> str:
    """Only this server; the one inline script of the NHS.UK page template allowed by its hash."""
    import nhsuk_frontend_jinja

    template = Path(nhsuk_frontend_jinja.__file__).parent / "templates" / "nhsuk" / "template.jinja"
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"
        for body in _INLINE_SCRIPT.findall(template.read_text(encoding="utf-8"))
        if body.strip()
    ]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(hashes),
            # Swagger UI sets style attributes from script; no stylesheet comes from elsewhere.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


NAVIGATION = (
    ("overview", "/", "Programme overview"),
    ("sites", "/sites", "Sites"),
    ("indicators", "/indicators", "Indicators"),
    ("care-homes", "/care-homes", "Care homes"),
    ("data-quality", "/data-quality", "Data quality"),
    ("api", "/docs", "API"),
)


def _sentence(text: str) -> str:
    """First letter in capitals, the rest as written (so "A&E" and "England" survive)."""
    return text[:1].upper() + text[1:]


def _thousands(value: float) -> str:
    return f"{value:,.0f}"


def _number(value: float, places: int = 1) -> str:
    return f"{value:,.{places}f}"


def _count(value: int | None) -> str:
    return "suppressed" if value is None else f"{value:,}"


def _rate(value: float | None, places: int = 1) -> str:
    return "not available" if value is None else f"{value:,.{places}f}"


def _value(row: Any) -> str:
    """An indicator row's published value: withheld when its counts are suppressed, "no value"
    when there is none (no denominator, or a standardised rate from under 10 events)."""
    if getattr(row, "suppressed", False):
        return "withheld (small numbers)"
    if row.value is None:
        return "no value"
    interval = (
        f" ({format_figure(row.ci_low)} to {format_figure(row.ci_high)})" if row.ci_low is not None else ""
    )
    return format_figure(row.value) + interval


def _compared(row: Any, benchmark: str) -> str:
    """An area's comparison with a benchmark at 95% and 99.8%, e.g. "Worse; similar"."""
    at_95, at_99_8 = getattr(row, f"{benchmark}_95", None), getattr(row, f"{benchmark}_99_8", None)
    if at_95 is None or at_99_8 is None:
        return "withheld" if getattr(row, "suppressed", False) else "not compared"
    if at_95 == at_99_8 == "not compared":
        return "not compared"
    return f"{_sentence(at_95)}; {at_99_8}"


def _signed_percent(value: float | None, places: int = 1) -> str:
    return "not available" if value is None else f"{value * 100:+.{places}f}%"


def _percent(value: float | None, places: int = 1) -> str:
    return "not available" if value is None else f"{value * 100:.{places}f}%"


METHOD_NAMES = {
    "baseline": "Growth against the rest of England",
    "did": "Difference in differences",
    "synthetic": "Synthetic control",
    "matched": "Matched controls",
    "before_after": "Site's own before-and-after",
}


def _method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method.replace("_", " ").capitalize())


def _diagnostic(value: Any, depth: int = 0) -> str:
    """A diagnostic value in words: numbers to 4 significant figures, long lists shortened."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "none"}[value]
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        if depth > 1:
            return f"{len(value)} values"
        return "; ".join(
            f"{str(key).replace('_', ' ')}: {_diagnostic(item, depth + 1)}" for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        shown = ", ".join(_diagnostic(item, depth + 1) for item in value[:6])
        return shown + (f" and {len(value) - 6} more" if len(value) > 6 else "")
    return str(value)


def _environment() -> Environment:
    environment = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(str(Path(__file__).with_name("templates"))),
                PackageLoader("nhsuk_frontend_jinja"),
            ]
        ),
        undefined=ChainableUndefined,
        autoescape=True,
    )
    filters: dict[str, Callable[..., Any]] = {
        "sentence": _sentence,
        "thousands": _thousands,
        "number": _number,
        "count": _count,
        "rate": _rate,
        "value": _value,
        "compared": _compared,
        "figure": format_figure,
        "percent": _percent,
        "signed_percent": _signed_percent,
        "diagnostic": _diagnostic,
        "method_name": _method_name,
        # Making Data Count's icons and words as `caremodels spc` draws them (one path).
        "variation_icon": variation_icon_svg,
        "assurance_icon": assurance_icon_svg,
        "variation_text": lambda icon: VARIATION_LABELS.get(icon, icon),
        "assurance_text": lambda icon: (
            ASSURANCE_LABELS.get(icon, icon) if icon else "No target, so no assurance"
        ),
        "without_nhs_logo": without_nhs_logo,
    }
    environment.filters.update(filters)
    return environment


def _evaluations_name(membership_file: Path | None) -> str:
    """The saved evaluations' file name: one per membership file content, so that a restart with
    another (or an edited) membership never shows evaluations of the old one."""
    if membership_file is None:
        return "evaluations.json"
    digest = hashlib.sha256(membership_file.read_bytes()).hexdigest()[:16]
    return f"evaluations-membership-{digest}.json"


def create_app(
    warehouse_path: Path,
    *,
    cache: bool = True,
    background: bool = True,
    indicator_timeout: float = DEFAULT_INDICATOR_TIMEOUT,
    branding: Branding | None = None,
    membership_file: Path | None = None,
    programme: ProgrammeInputs | None = None,
) -> FastAPI:
    """The dashboard app for one warehouse file. Raises ``CaremodelsError`` if the warehouse cannot
    be read or the NHS.UK frontend assets are missing.

    With ``cache`` (the default) what is read from the warehouse, and the controlled evaluations
    once computed, are kept beside it so that a restart on an unchanged warehouse is quick. With
    ``background`` the site pages and the sites' controlled evaluations are prepared in a background
    thread after start-up (a site page says when its evaluations are not ready yet); without, before
    this returns. An
    indicator that takes longer than ``indicator_timeout`` seconds to compute is left out, with
    that reason. ``branding`` sets the service name, logo and footer (default: no NHS logo and
    no copyright line). ``programme`` holds the user's files behind the site pages' budget and staff
    survey sections.
    """
    branding = branding or Branding()
    dist = frontend_dist()
    snapshot = read_snapshot(Path(warehouse_path), cache=cache, indicator_timeout=indicator_timeout)
    evaluations_file = (
        snapshot.cache_folder / _evaluations_name(membership_file) if snapshot.cache_folder else None
    )
    figures = DashboardFigures(snapshot, evaluations_file=evaluations_file, membership_file=membership_file)
    if background:
        threading.Thread(target=figures.prepare_sites, name="caremodels-sites", daemon=True).start()
    else:
        figures.prepare_sites()
    environment = _environment()
    frontend_version = _frontend_version(dist)
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        title="caremodels",
        version=__version__,
        description="New care models: programme monitoring and evaluation. Every page of the dashboard "
        "has an endpoint here giving the same figures. Counts are disclosure-controlled (1-7 suppressed "
        "and given as null, others rounded to the nearest 5); rates resting on a suppressed count are null.",
    )
    app.state.figures = figures
    stylesheet = offline_stylesheet(dist)
    policy = content_security_policy()
    changed = _WarehouseWatch(Path(warehouse_path))
    app.state.warehouse_changed = changed

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        try:
            response: Response = await call_next(request)
        except Exception as error:
            response = _internal_error(request, error)
        response.headers["Content-Security-Policy"] = policy
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        if response.status_code >= 400:
            response.headers["Cache-Control"] = "no-store"
        if changed():
            response.headers["X-Caremodels-Warehouse-Changed"] = "true"
        return response

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{branding.name} API</title>"
            '<link rel="stylesheet" href="/docs-assets/swagger-ui.css">'
            '<link rel="icon" href="/docs-assets/favicon-32x32.png"></head>'
            '<body><div id="swagger-ui"></div>'
            '<script src="/docs-assets/swagger-ui-bundle.js"></script>'
            '<script src="/caremodels-static/docs.js"></script></body></html>'
        )

    if branding.logo is not None:
        logo, logo_type = branding.logo.read_bytes(), branding.logo_media_type

        @app.get("/branding/logo", include_in_schema=False)
        def brand_logo() -> Response:
            return Response(logo, media_type=logo_type, headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/static/nhsuk-frontend.min.css", include_in_schema=False)
    def nhsuk_stylesheet() -> Response:
        return Response(stylesheet, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    app.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")
    app.mount("/static", StaticFiles(directory=dist), name="static")
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_dist()), name="docs-assets")
    app.mount("/caremodels-static", StaticFiles(directory=_STATIC), name="caremodels-static")

    def render(template: str, request: Request, **context: Any) -> HTMLResponse:
        page = context.get("page", "")
        navigation = [{"href": href, "text": text, "current": key == page} for key, href, text in NAVIGATION]
        html = environment.get_template(template).render(
            request=request,
            version=__version__,
            frontend_version=frontend_version,
            navigation=navigation,
            warehouse_name=figures.snapshot.path.name,
            branding=branding,
            warehouse_changed=changed(),
            **context,
        )
        return HTMLResponse(html)

    @app.exception_handler(NotFound)
    def not_found(request: Request, error: NotFound) -> Response:
        if request.url.path.startswith(("/api/", "/downloads/")):
            return JSONResponse({"detail": str(error)}, status_code=404)
        return not_found_page(render, request, error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        # Unknown addresses outside the API get the NHS.UK "page not found" page, not JSON.
        if error.status_code == 404 and not request.url.path.startswith(
            ("/api/", "/downloads/", "/static/", "/assets/", "/docs-assets/", "/caremodels-static/")
        ):
            return not_found_page(render, request, NotFound(f"There is no page at {request.url.path}."))
        return await http_exception_handler(request, error)

    @app.exception_handler(Exception)
    def internal_error(request: Request, error: Exception) -> Response:
        return _internal_error(request, error)

    responses = ResponseCache(lambda: (figures.evaluations_ready, changed()))
    app.state.response_cache = responses
    app.include_router(api_router(figures, responses))
    app.include_router(download_router(figures))
    app.include_router(page_router(figures, render, responses, programme))
    return app


@functools.cache
def _frontend_version(dist: Path) -> str:
    package = json.loads((dist.parents[1] / "package.json").read_text(encoding="utf-8"))
    return str(package["version"])


def _internal_error(request: Request, error: BaseException) -> Response:
    """Logged with its type and where it happened (no message: it may quote data), never shown."""
    frames = "".join(traceback.format_tb(error.__traceback__))
    _LOG.error("internal error answering %s: %s\n%s", request.url.path, type(error).__name__, frames)
    headers = {"Cache-Control": "no-store"}
    if request.url.path.startswith(("/api/", "/downloads/")):
        return JSONResponse({"detail": "internal error (logged)"}, status_code=500, headers=headers)
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sorry, there is a problem</title>'
        '<link rel="stylesheet" href="/static/nhsuk-frontend.min.css"></head><body>'
        '<main class="nhsuk-width-container nhsuk-main-wrapper"><h1>Sorry, there is a problem with the service</h1>'
        "<p>The error has been logged. Try again later.</p></main></body></html>",
        status_code=500,
        headers=headers,
    )


class _WarehouseWatch:
    """Whether the warehouse file changed (size or modification time) since start-up; looked at
    no more than once a second."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen = self._signature()
        self._checked = time.monotonic()
        self._changed = False

    def _signature(self) -> tuple[int, int] | None:
        try:
            status = self._path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self._changed and now - self._checked >= 1.0:
            self._checked = now
            if self._signature() != self._seen:
                self._changed = True
                _LOG.warning(
                    "the warehouse %s changed after the dashboard started: restart it", self._path.name
                )
        return self._changed
