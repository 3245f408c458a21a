"""The advice and guidance JSON API at /api/advice (errors as FHIR OperationOutcomes): make a request,
the GP's requests, the provider's worklist, a request's conversation, and one step of it.

Boundaries: thin; authenticates the bearer token and calls ``AdviceService``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Header, Request

from caremodels.advice.service import AdviceService, NewRequest, check_event_name
from caremodels.care_record.api import FhirResponse
from caremodels.care_record.identity import Authenticator
from caremodels.care_record.resources import CareRecordError

__all__ = ["advice_router"]


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise CareRecordError("the body is not JSON") from None


def advice_router(service: AdviceService, authenticator: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/api/advice")

    @router.post("/requests")
    async def make(request: Request, authorization: str | None = Header(default=None)) -> FhirResponse:
        principal = authenticator.authenticate(authorization)
        made = service.request(principal, NewRequest.from_json(await _json(request)))
        return FhirResponse(made, status_code=201)

    @router.get("/requests")
    def mine(authorization: str | None = Header(default=None)) -> FhirResponse:
        return FhirResponse({"requests": service.my_requests(authenticator.authenticate(authorization))})

    @router.get("/worklist")
    def worklist(authorization: str | None = Header(default=None)) -> FhirResponse:
        return FhirResponse({"requests": service.worklist(authenticator.authenticate(authorization))})

    @router.get("/requests/{request_id}")
    def conversation(request_id: str, authorization: str | None = Header(default=None)) -> FhirResponse:
        return FhirResponse(service.conversation(authenticator.authenticate(authorization), request_id))

    @router.post("/requests/{request_id}/{event}")
    async def step(
        request_id: str, event: str, request: Request, authorization: str | None = Header(default=None)
    ) -> FhirResponse:
        principal = authenticator.authenticate(authorization)
        body = await _json(request) if await request.body() else {}
        message = body.get("message", "") if isinstance(body, dict) else ""
        if not isinstance(message, str):
            raise CareRecordError("message: text")
        return FhirResponse(service.step(principal, request_id, check_event_name(event), message))

    return router
