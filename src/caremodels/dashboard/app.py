"""The dashboard: server-rendered pages in the NHS.UK design system, with a JSON API behind them.

Boundaries: the app reads the warehouse once, read-only, when it starts (``snapshot``), computes the
programme and site figures then (``figures``), and answers every request from memory; it holds no
database connection. Counts are published only through disclosure control. Assets come from the
installed npm package nhsuk-frontend, served under /assets and /static; pages make no network
calls and load no script but the NHS.UK frontend's own.
"""

from __future__ import annotations

import functools
import json
import threading
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
from caremodels.dashboard.assets import frontend_dist, offline_stylesheet
from caremodels.dashboard.caching import ResponseCache
from caremodels.dashboard.charts import (
    assurance_description,
    assurance_icon,
    variation_description,
    variation_icon,
)
from caremodels.dashboard.downloads import download_router
from caremodels.dashboard.figures import DashboardFigures, NotFound
from caremodels.dashboard.pages import not_found_page, page_router
from caremodels.dashboard.snapshot import DEFAULT_INDICATOR_TIMEOUT, read_snapshot
from caremodels.indicators.output import format_figure

__all__ = ["create_app"]

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
        "figure": format_figure,
        "percent": _percent,
        "signed_percent": _signed_percent,
        "diagnostic": _diagnostic,
        "method_name": _method_name,
        "variation_icon": variation_icon,
        "assurance_icon": assurance_icon,
        "variation_text": variation_description,
        "assurance_text": assurance_description,
    }
    environment.filters.update(filters)
    return environment


def create_app(
    warehouse_path: Path,
    *,
    cache: bool = True,
    background: bool = True,
    indicator_timeout: float = DEFAULT_INDICATOR_TIMEOUT,
) -> FastAPI:
    """The dashboard app for one warehouse file. Raises ``CaremodelsError`` if the warehouse cannot
    be read or the NHS.UK frontend assets are missing.

    With ``cache`` (the default) what is read from the warehouse, and the controlled evaluations
    once computed, are kept beside it so that a restart on an unchanged warehouse is quick. With
    ``background`` the site pages and the sites' controlled evaluations are prepared in a background
    thread after start-up (a site page says when its evaluations are not ready yet); without, before
    this returns. An
    indicator that takes longer than ``indicator_timeout`` seconds to compute is left out, with
    that reason.
    """
    dist = frontend_dist()
    snapshot = read_snapshot(Path(warehouse_path), cache=cache, indicator_timeout=indicator_timeout)
    evaluations_file = snapshot.cache_folder / "evaluations.json" if snapshot.cache_folder else None
    figures = DashboardFigures(snapshot, evaluations_file=evaluations_file)
    if background:
        threading.Thread(target=figures.prepare_sites, name="caremodels-sites", daemon=True).start()
    else:
        figures.prepare_sites()
    environment = _environment()
    frontend_version = _frontend_version(dist)
    app = FastAPI(
        title="caremodels",
        version=__version__,
        description="New care models: programme monitoring and evaluation. Every page of the dashboard "
        "has an endpoint here giving the same figures. Counts are disclosure-controlled (1-7 suppressed "
        "and given as null, others rounded to the nearest 5); rates resting on a suppressed count are null.",
    )
    app.state.figures = figures
    stylesheet = offline_stylesheet(dist)

    @app.get("/static/nhsuk-frontend.min.css", include_in_schema=False)
    def nhsuk_stylesheet() -> Response:
        return Response(stylesheet, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    app.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")
    app.mount("/static", StaticFiles(directory=dist), name="static")

    def render(template: str, request: Request, **context: Any) -> HTMLResponse:
        page = context.get("page", "")
        navigation = [{"href": href, "text": text, "current": key == page} for key, href, text in NAVIGATION]
        html = environment.get_template(template).render(
            request=request,
            version=__version__,
            frontend_version=frontend_version,
            navigation=navigation,
            warehouse_name=figures.snapshot.path.name,
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
            ("/api/", "/downloads/", "/static/", "/assets/")
        ):
            return not_found_page(render, request, NotFound(f"There is no page at {request.url.path}."))
        return await http_exception_handler(request, error)

    responses = ResponseCache(lambda: figures.evaluations_ready)
    app.state.response_cache = responses
    app.include_router(api_router(figures, responses))
    app.include_router(download_router(figures))
    app.include_router(page_router(figures, render, responses))
    return app


@functools.cache
def _frontend_version(dist: Path) -> str:
    package = json.loads((dist.parents[1] / "package.json").read_text(encoding="utf-8"))
    return str(package["version"])
