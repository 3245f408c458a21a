"""The viewer pages (NHS.UK styled, the care record's base template): a patient's studies across the
consortium's trusts by NHS number, and one study's series drawn through the gateway's rendered endpoint,
with its report. Each page calls the same ``Gateway`` methods as the DICOMweb API, so the same policy
decides and the same audit records it; the images are ``<img>`` requests to ``/dicomweb``, each audited.

Boundaries: HTML only; nothing is loaded from another host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from caremodels import __version__
from caremodels.care_record.identity import Authenticator
from caremodels.care_record.pages import COOKIE, error_page, page_environment
from caremodels.care_record.policy import ROLES, Principal
from caremodels.care_record.resources import CareRecordError
from caremodels.imaging.gateway import Gateway

__all__ = ["viewer_router"]

_environment = page_environment(Path(__file__).with_name("templates"))


def _value(item: dict[str, Any], tag: str) -> Any:
    values = (item.get(tag) or {}).get("Value") or [""]
    return values[0]


def viewer_router(gateway: Gateway, authenticator: Authenticator) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def who(request: Request) -> Principal:
        token = request.cookies.get(COOKIE)
        authorization = request.headers.get("authorization") or (f"Bearer {token}" if token else None)
        principal = authenticator.authenticate(authorization)
        request.state.principal = principal
        return principal

    def render(request: Request, template: str, **context: Any) -> HTMLResponse:
        principal = request.state.principal
        html = _environment.get_template(template).render(
            version=__version__,
            principal=principal,
            role_name=ROLES[principal.role_code].name if principal.role_code in ROLES else "",
            **context,
        )
        return HTMLResponse(html)

    @router.get("/imaging", response_class=HTMLResponse)
    def find(request: Request, nhs: str = "") -> HTMLResponse:
        principal = who(request)
        nhs = nhs.replace(" ", "").strip()
        studies: list[dict[str, Any]] | None = None
        missing: list[Any] = []
        if nhs:
            try:
                answer = gateway.search_studies(principal, [("PatientID", nhs)])
            except CareRecordError as error:
                return error_page(request, error.status, str(error))
            missing = answer.missing
            studies = [
                {
                    "uid": _value(item, "0020000D"),
                    "date": str(_value(item, "00080020")),
                    "modality": _value(item, "00080061"),
                    "trust": _value(item, "00080080"),
                    "accession": _value(item, "00080050"),
                    "instances": _value(item, "00201208"),
                }
                for item in answer.items
            ]
            for study in studies:
                day = study["date"]
                study["date"] = f"{day[:4]}-{day[4:6]}-{day[6:]}" if len(day) == 8 else day
        return render(
            request, "imaging_find.html", nhs=nhs, studies=studies, missing=missing, page_title="Images"
        )

    @router.get("/imaging/studies/{study}", response_class=HTMLResponse)
    def study(request: Request, study: str) -> HTMLResponse:
        principal = who(request)
        try:
            row, series_list, reports = gateway.study_view(principal, study)
        except CareRecordError as error:
            return error_page(request, error.status, str(error))
        return render(
            request,
            "imaging_study.html",
            uid=study,
            modality=row.modality,
            date=row.study_date,
            trust=row.trust,
            accession=row.accession,
            series_list=series_list,
            reports=reports,
            page_title="Imaging study",
        )

    return router
