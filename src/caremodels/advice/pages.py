"""The advice and guidance pages (NHS.UK frontend): for the GP, a new request and "my requests"; for the
specialist, the worklist and a request's conversation with the steps open to them (respond, ask, convert).

Every page calls ``AdviceService``, so the same policy decides and the same audit records it; the
login cookie is the care record's.

Boundaries: forms are urlencoded; no page loads anything from another host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from caremodels import __version__
from caremodels.advice import workflow as wf
from caremodels.advice.service import AdviceService, NewRequest, check_event_name
from caremodels.care_record import pages as record_pages
from caremodels.care_record.identity import Authenticator
from caremodels.care_record.policy import ROLES, Principal
from caremodels.care_record.resources import CareRecordError

__all__ = ["SPECIALTIES", "advice_pages"]

# Treatment function codes (NHS Data Dictionary) offered on the form: Morecambe Bay's linked specialties
# include these; any three-digit code is accepted through the API.
SPECIALTIES = {
    "100": "General surgery",
    "101": "Urology",
    "110": "Trauma and orthopaedics",
    "120": "Ear, nose and throat",
    "130": "Ophthalmology",
    "300": "General internal medicine",
    "301": "Gastroenterology",
    "302": "Endocrinology",
    "320": "Cardiology",
    "330": "Dermatology",
    "340": "Respiratory medicine",
    "361": "Nephrology",
    "400": "Neurology",
    "410": "Rheumatology",
    "430": "Elderly medicine",
    "502": "Gynaecology",
}

_environment = record_pages.page_environment(Path(__file__).with_name("templates"))


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    html = _environment.get_template(template).render(
        version=__version__,
        principal=principal,
        role_name=ROLES[principal.role_code].name if principal and principal.role_code in ROLES else "",
        specialties=SPECIALTIES,
        events=wf.EVENTS,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _shown(found: dict[str, Any]) -> dict[str, Any]:
    """What the conversation page shows (the FHIR resources themselves stay in the API's answer)."""
    return {name: found[name] for name in ("summary", "communications", "attachments", "referrals")}


def advice_pages(app: FastAPI, service: AdviceService, authenticator: Authenticator) -> None:
    def who(request: Request) -> Principal:
        token = request.cookies.get(record_pages.COOKIE)
        authorization = request.headers.get("authorization") or (f"Bearer {token}" if token else None)
        principal = authenticator.authenticate(authorization)
        request.state.principal = principal
        return principal

    @app.get("/advice", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        principal = who(request)
        return _render(
            request,
            "advice_lists.html",
            mine=service.my_requests(principal),
            worklist=service.worklist(principal),
            page_title="Advice and guidance",
        )

    @app.get("/advice/new", response_class=HTMLResponse, include_in_schema=False)
    def new_form(request: Request, patient: str = "") -> HTMLResponse:
        who(request)
        return _render(
            request, "advice_new.html", form={"patient": patient}, error=None, page_title="New request"
        )

    @app.post("/advice/new", include_in_schema=False)
    async def make(request: Request) -> Response:
        principal = who(request)
        form = await record_pages._form(request)
        answers = {"yes": True, "no": False}
        try:
            if (
                form.get("would_otherwise_refer") not in answers
                or form.get("authorised_to_convert") not in answers
            ):
                raise CareRecordError(
                    "answer both questions: would you otherwise have referred, and may the provider convert "
                    "this request to a referral"
                )
            made = service.request(
                principal,
                NewRequest.from_json(
                    {
                        "patient": form.get("patient", ""),
                        "provider": form.get("provider", ""),
                        "specialty": form.get("specialty", ""),
                        "question": form.get("question", ""),
                        "priority": form.get("priority", "routine"),
                        "would_otherwise_refer": answers[form["would_otherwise_refer"]],
                        "authorised_to_convert": answers[form["authorised_to_convert"]],
                    }
                ),
            )
        except CareRecordError as error:
            if error.status == 403:
                raise
            return _render(
                request,
                "advice_new.html",
                status=error.status,
                form=form,
                error=str(error),
                page_title="New request",
            )
        return RedirectResponse(f"/advice/requests/{made['request']}", status_code=303)

    @app.get("/advice/requests/{request_id}", response_class=HTMLResponse, include_in_schema=False)
    def conversation(request: Request, request_id: str) -> HTMLResponse:
        principal = who(request)
        return _render(
            request,
            "advice_conversation.html",
            error=None,
            **_shown(service.conversation(principal, request_id)),
            page_title="Advice and guidance request",
        )

    @app.post("/advice/requests/{request_id}/{event}", include_in_schema=False)
    async def step(request: Request, request_id: str, event: str) -> Response:
        principal = who(request)
        form = await record_pages._form(request)
        try:
            service.step(principal, request_id, check_event_name(event), form.get("message", ""))
        except CareRecordError as error:
            if error.status in (403, 404):
                raise
            return _render(
                request,
                "advice_conversation.html",
                status=error.status,
                error=str(error),
                **_shown(service.conversation(principal, request_id)),
                page_title="Advice and guidance request",
            )
        return RedirectResponse(f"/advice/requests/{request_id}", status_code=303)
