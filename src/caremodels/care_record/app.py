"""The care record web application: the FHIR API at /fhir and the clinicians' and privacy officer's
pages, over one ``CareRecord`` service (one policy, one audit writer).

``create_app(store)`` builds it; ``start_care_record(store_url, host, port)`` opens the store, makes a
fresh demo signing key and serves it with uvicorn (``caremodels demo`` and ``care-record serve`` call it).

Boundaries: errors answer as FHIR OperationOutcomes (API) or NHS.UK error pages, never with a
traceback or a patient-level value; request logs carry methods and paths, and paths carry resource ids
only (never NHS numbers).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from caremodels import __version__
from caremodels.care_record.api import fhir_router, operation_outcome
from caremodels.care_record.identity import Authenticator, rotate_demo_key
from caremodels.care_record.resources import CareRecordError
from caremodels.care_record.service import CareRecord
from caremodels.care_record.store import Store, open_store

__all__ = ["Extension", "create_app", "start_care_record"]

_log = logging.getLogger("caremodels.care_record")


# A service built on the care record (the shared radiology record) adds its routes with one of these:
# it is given the app, the one service (policy and audit) and the authenticator, and returns the path
# prefix of its API, whose errors answer as FHIR OperationOutcomes rather than pages.
Extension = Callable[[FastAPI, CareRecord, Authenticator], str]


def create_app(store: Store, *, extensions: Sequence[Extension] = ()) -> FastAPI:
    service = CareRecord(store)
    authenticator = Authenticator(store)
    app = FastAPI(
        title="caremodels care record",
        version=__version__,
        description="FHIR R4 shared care record: every access decided by one policy and audited (IHE BALP).",
    )
    app.state.service = service
    app.state.authenticator = authenticator
    app.state.store = store

    api_prefixes = ["/fhir"]

    def wants_html(request: Request) -> bool:
        # The FHIR API, the services' JSON APIs (/api/...) and extensions' APIs answer with OperationOutcomes.
        return not request.url.path.startswith((*api_prefixes, "/api/"))

    @app.exception_handler(CareRecordError)
    async def care_record_error(request: Request, error: CareRecordError) -> Response:
        if wants_html(request):
            from caremodels.care_record.pages import error_page

            return error_page(request, error.status, str(error))
        return operation_outcome(error.status, error.code, str(error))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        del error
        return operation_outcome(400, "invalid", "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if wants_html(request):
            from caremodels.care_record.pages import error_page

            return error_page(request, error.status_code, str(error.detail))
        code = {404: "not-found", 405: "not-supported"}.get(error.status_code, "processing")
        return operation_outcome(error.status_code, code, str(error.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        # No detail to the client and no request values in the log: the error type names the fault.
        _log.error(
            "care record request failed: %s %s (%s)", request.method, request.url.path, type(error).__name__
        )
        return operation_outcome(
            500, "exception", "the care record could not complete the request; nothing was changed"
        )

    @app.middleware("http")
    async def access_log(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        # Method, path and status only: query strings can carry NHS numbers (identifier searches),
        # so uvicorn's own access log, which prints them, is switched off in start_care_record.
        _log.info("%s %s %s", request.method, request.url.path, response.status_code)
        return response

    app.include_router(fhir_router(service, authenticator))
    for extension in extensions:
        api_prefixes.append(extension(app, service, authenticator))
    from caremodels.care_record.pages import page_router

    page_router(app, service, authenticator)
    return app


_STORE_VARIABLE = "CAREMODELS_CARE_RECORD_STORE"
_LOG_LEVEL_VARIABLE = "CAREMODELS_CARE_RECORD_LOG_LEVEL"
_FACTORY_VARIABLE = "CAREMODELS_CARE_RECORD_APP_FACTORY"


def app_from_environment() -> FastAPI:
    """The app of the store named in the environment: what each ``serve --workers`` process builds
    (uvicorn starts worker processes from an import string, not from an app object)."""
    url = os.environ.get(_STORE_VARIABLE)
    if not url:
        raise CareRecordError(f"{_STORE_VARIABLE} names no store")
    level = os.environ.get(_LOG_LEVEL_VARIABLE, "info")
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), format="%(levelname)s: %(message)s"
    )
    factory: Callable[[Store], FastAPI] = create_app
    path = os.environ.get(_FACTORY_VARIABLE)
    if path:
        module, _, name = path.partition(":")
        factory = getattr(importlib.import_module(module), name)
    return factory(open_store(url))


def _import_path(factory: Callable[[Store], FastAPI]) -> str:
    """``module:name`` of a module-level app factory, which each worker process imports again."""
    name = getattr(factory, "__qualname__", "")
    module = getattr(factory, "__module__", "")
    if not module or not name or "<" in name or "." in name:
        raise CareRecordError("more than one worker needs an app factory defined at module level")
    return f"{module}:{name}"


def start_care_record(
    store_url: str,
    host: str = "127.0.0.1",
    port: int = 8100,
    *,
    log_level: str = "info",
    app_factory: Callable[[Store], FastAPI] = create_app,
    workers: int = 1,
) -> None:
    """Serve the care record of an initialised store (blocks until stopped), in ``workers`` processes;
    ``app_factory`` builds the app (the services above this package, such as advice and guidance, add
    their routes)."""
    import uvicorn

    store = open_store(store_url)
    rotate_demo_key(store)
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO), format="%(levelname)s: %(message)s"
    )
    if workers > 1:
        factory_path = _import_path(app_factory)
        # Each worker opens the store itself; the demo key was made once above, so a token verifies
        # whichever worker answers. The audit chain's head is locked by every writer in any process.
        store.close()
        os.environ[_STORE_VARIABLE] = store_url
        os.environ[_LOG_LEVEL_VARIABLE] = log_level
        os.environ[_FACTORY_VARIABLE] = factory_path
        uvicorn.run(
            "caremodels.care_record.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            # A worker that does not answer the supervisor's health check in time is killed and
            # started again; 5 s (uvicorn's default) is less than a worker takes to start on a busy
            # machine, which made the workers die and restart in a loop.
            timeout_worker_healthcheck=120,
            log_level=log_level,
            access_log=False,
        )
        return
    app: Any = app_factory(store)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        store.close()
