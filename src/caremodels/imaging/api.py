"""DICOMweb routes of the care record service, under ``/dicomweb``: QIDO-RS, WADO-RS, STOW-RS and the
archives' states, each a thin translation of one ``Gateway`` method (which decides and audits).

``imaging_extension(archives)`` is passed to ``caremodels.care_record.app.create_app(extensions=...)``.
A bearer token (``Authorization``) or the pages' session cookie identifies the user, so the viewer's
``<img>`` elements reach the rendered endpoint as the logged-in user.

Boundaries: HTTP only; errors are the care record's (answered as FHIR OperationOutcomes by its app).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from caremodels.care_record.app import Extension
from caremodels.care_record.identity import Authenticator
from caremodels.care_record.pages import COOKIE
from caremodels.care_record.policy import Principal
from caremodels.care_record.resources import CareRecordError
from caremodels.care_record.service import CareRecord
from caremodels.imaging.archive import Archive
from caremodels.imaging.dicom import DicomError, multipart, read_multipart
from caremodels.imaging.gateway import Gateway, Missing
from caremodels.imaging.reporting import Reporting

__all__ = ["PREFIX", "imaging_extension"]

PREFIX = "/dicomweb"
DICOM_JSON = "application/dicom+json"
MAX_STOW_BYTES = 512 * 1024 * 1024


def _json(items: Any, missing: list[Missing] | None = None) -> JSONResponse:
    response = JSONResponse(items, media_type=DICOM_JSON)
    for gap in missing or []:
        response.headers.append("Warning", gap.warning())
    return response


def imaging_extension(
    archives: Mapping[str, Archive], trusts: Mapping[str, str] | None = None, *, base_url: str = ""
) -> Extension:
    def extend(app: FastAPI, service: CareRecord, authenticator: Authenticator) -> str:
        gateway = Gateway(service, archives, trusts, base_url=base_url)
        app.state.imaging = gateway
        app.include_router(dicomweb_router(gateway, authenticator))
        from caremodels.imaging.pages import viewer_router

        app.include_router(viewer_router(gateway, authenticator))
        return PREFIX

    return extend


def dicomweb_router(gateway: Gateway, authenticator: Authenticator) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["DICOMweb"])

    def who(request: Request) -> Principal:
        token = request.cookies.get(COOKIE)
        authorization = request.headers.get("authorization") or (f"Bearer {token}" if token else None)
        return authenticator.authenticate(authorization)

    def items(request: Request) -> list[tuple[str, str]]:
        return list(request.query_params.multi_items())

    @router.get("/studies")
    def search_studies(request: Request) -> JSONResponse:
        answer = gateway.search_studies(who(request), items(request))
        return _json(answer.items, answer.missing)

    @router.get("/series")
    def search_series(request: Request) -> JSONResponse:
        answer = gateway.patient_series(who(request), items(request))
        return _json(answer.items, answer.missing)

    @router.get("/studies/{study}/series")
    def study_series(request: Request, study: str) -> JSONResponse:
        return _json(gateway.study_series(who(request), study))

    @router.get("/studies/{study}/series/{series}/instances")
    def series_instances(request: Request, study: str, series: str) -> JSONResponse:
        return _json(gateway.series_instances(who(request), study, series))

    @router.get("/studies/{study}/metadata")
    def study_metadata(request: Request, study: str) -> JSONResponse:
        return _json(gateway.metadata(who(request), study))

    @router.get("/studies/{study}/series/{series}/metadata")
    def series_metadata(request: Request, study: str, series: str) -> JSONResponse:
        return _json(gateway.metadata(who(request), study, series))

    @router.get("/studies/{study}")
    def retrieve_study(request: Request, study: str) -> StreamingResponse:
        stream = gateway.retrieve_study(who(request), study)
        return StreamingResponse(stream.chunks, media_type=stream.content_type)

    @router.get("/studies/{study}/series/{series}/instances/{instance}/frames/{frame}")
    def frame(request: Request, study: str, series: str, instance: str, frame: str) -> Response:
        if not frame.isdigit():
            raise CareRecordError("one frame number is served per request (frames/1)", code="not-supported")
        data = gateway.frame(who(request), study, series, instance, int(frame))
        boundary = uuid.uuid4().hex
        return Response(
            b"".join(multipart([data], boundary, "application/octet-stream")),
            media_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}',
        )

    @router.get("/studies/{study}/series/{series}/instances/{instance}/rendered")
    def rendered(request: Request, study: str, series: str, instance: str) -> Response:
        return Response(
            gateway.rendered(who(request), study, series, instance),
            media_type="image/jpeg",
            headers={"Cache-Control": "private, no-store"},
        )

    @router.post("/studies")
    async def stow(request: Request) -> JSONResponse:
        principal = who(request)
        body = await request.body()
        if len(body) > MAX_STOW_BYTES:
            raise CareRecordError("a STOW-RS request is at most 512 MB", status=413, code="too-costly")
        try:
            parts = read_multipart(body, request.headers.get("content-type", ""))
        except DicomError as error:
            raise CareRecordError(str(error), status=415, code="not-supported") from None
        from starlette.concurrency import run_in_threadpool

        stored = await run_in_threadpool(gateway.store, principal, parts)
        return JSONResponse(
            {
                "00081190": {
                    "vr": "UR",
                    "Value": [f"{gateway.base_url}{PREFIX}/studies/{uid}" for uid in stored["studies"]],
                },
                "stored": stored["stored"],
                "archive": stored["archive"],
            },
            media_type=DICOM_JSON,
        )

    # The remote reporting worklist (FHIR Task and DiagnosticReport; a caremodels addition, not DICOMweb).
    reporting = Reporting(gateway)

    @router.get("/worklist")
    def worklist(request: Request, limit: int = 100) -> JSONResponse:
        return JSONResponse(reporting.worklist(who(request), min(max(limit, 1), 500)))

    @router.post("/worklist/{task}/claim")
    def claim(request: Request, task: str) -> JSONResponse:
        return JSONResponse(reporting.claim(who(request), task))

    @router.post("/worklist/{task}/report")
    async def report(request: Request, task: str) -> JSONResponse:
        principal = who(request)
        conclusion = (await request.json()).get("conclusion", "") if await request.body() else ""
        from starlette.concurrency import run_in_threadpool

        return JSONResponse(await run_in_threadpool(reporting.report, principal, task, str(conclusion)))

    @router.get("/archives")
    def archives(request: Request) -> JSONResponse:
        who(request)
        return JSONResponse({"archives": gateway.states(), "outages": gateway.outages()})

    @router.post("/archives/{name}/isolate")
    async def isolate(request: Request, name: str) -> JSONResponse:
        principal = who(request)
        reason = (await request.json()).get("reason", "") if await request.body() else ""
        gateway.declare_incident(principal, name, str(reason))
        return JSONResponse(gateway.states().get(name, {}))

    @router.post("/archives/{name}/assure")
    async def assure(request: Request, name: str) -> JSONResponse:
        principal = who(request)
        reason = (await request.json()).get("reason", "") if await request.body() else ""
        gateway.assure(principal, name, str(reason))
        return JSONResponse(gateway.states().get(name, {}))

    return router
