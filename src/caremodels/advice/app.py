"""The care record application with advice and guidance added: the same app, policy and audit, with
the advice API (/api/advice) and pages (/advice/...).

Boundaries: composition only.
"""

from __future__ import annotations

from fastapi import FastAPI

from caremodels.advice.api import advice_router
from caremodels.advice.pages import advice_pages
from caremodels.advice.service import AdviceService
from caremodels.care_record.app import create_app as create_care_record_app
from caremodels.care_record.store import Store

__all__ = ["create_app"]


def create_app(store: Store) -> FastAPI:
    app = create_care_record_app(store)
    service = AdviceService(app.state.service)
    app.state.advice = service
    app.include_router(advice_router(service, app.state.authenticator))
    advice_pages(app, service, app.state.authenticator)
    return app
