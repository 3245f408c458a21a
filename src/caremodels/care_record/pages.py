"""The care record's pages (NHS.UK frontend, Jinja): log in as a demo user, find a patient, the patient
view, the break-glass form, and the privacy officer's alerts and "who saw which patient".

Every page calls the same ``CareRecord`` methods as the FHIR API, so the same policy decides and the
same audit records it. The login page issues a demo-issuer token into an HttpOnly, SameSite=Strict
cookie; with an external issuer configured, pages take the bearer token as the API does.

Boundaries: assets come from the installed nhsuk-frontend package (``caremodels.web_assets``), served
from this app; no page loads anything from another host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PackageLoader

from caremodels import __version__
from caremodels.care_record.identity import Authenticator, demo_token, list_users
from caremodels.care_record.policy import ROLES, VIEW_AUDIT, VIEW_DEMOGRAPHICS, Principal
from caremodels.care_record.registry import NHS_NUMBER_SYSTEM
from caremodels.care_record.resources import CareRecordError
from caremodels.care_record.service import AccessDenied, CareRecord
from caremodels.web_assets import frontend_dist, offline_stylesheet, without_nhs_logo

__all__ = ["error_page", "page_environment", "page_router"]

COOKIE = "care_record_token"


def _when(value: Any) -> str:
    """An audit instant (ISO 8601, UTC, microseconds) as people read it: to the second, in UTC."""
    text = str(value or "")
    return f"{text[:10]} {text[11:19]} UTC" if len(text) >= 19 else text


def _basis(value: Any) -> str:
    """A decision's basis (``relationship:registration,caseload``) in words that wrap."""
    kind, _, detail = str(value or "").partition(":")
    return f"{kind} ({detail.replace(',', ', ')})" if detail else kind


def _instant(value: Any) -> str:
    """A FHIR date or dateTime to the minute (``2020-02-27T10:02:23Z`` as ``2020-02-27 10:02``)."""
    text = str(value or "")
    return f"{text[:10]} {text[11:16]}" if len(text) >= 16 else text


def _sentence(value: Any) -> str:
    text = str(value or "")
    return text[:1].upper() + text[1:]


def page_environment(*template_folders: Path) -> Environment:
    """The Jinja environment of the care record's pages and of the services drawn on them (advice
    and guidance, imaging): their own ``template_folders`` first, then the care record's templates
    (``base.html``), then the NHS.UK frontend's macros, with the filters ``base.html`` uses."""
    environment = Environment(
        loader=ChoiceLoader(
            [
                *(FileSystemLoader(str(folder)) for folder in template_folders),
                FileSystemLoader(str(Path(__file__).with_name("templates"))),
                PackageLoader("nhsuk_frontend_jinja"),
            ]
        ),
        undefined=ChainableUndefined,
        autoescape=True,
    )
    environment.filters.update(
        when=_when, basis=_basis, sentence=_sentence, instant=_instant, without_nhs_logo=without_nhs_logo
    )
    return environment


_environment = page_environment()


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    role = ROLES.get(principal.role_code) if principal else None
    html = _environment.get_template(template).render(
        version=__version__,
        principal=principal,
        role_name=role.name if role else "",
        # Which links the header offers (presentation only: every page is still decided by the policy).
        can_find=bool(role and VIEW_DEMOGRAPHICS in role.activities),
        can_audit=bool(role and VIEW_AUDIT in role.activities),
        activities=role.activities if role else frozenset(),
        **context,
    )
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        status=status,
        status_code=status,
        message=message,
        page_title="Access refused" if status == 403 else "Error",
    )


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the pages' forms are simple; no multipart dependency needed)."""
    fields = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    return {name: values[0] for name, values in fields.items()}


def _coded(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    for coding in concept.get("coding") or []:
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding.get("code"))
    return str(concept.get("text", ""))


def page_router(app: FastAPI, service: CareRecord, authenticator: Authenticator) -> None:
    dist = frontend_dist()
    stylesheet = offline_stylesheet(dist)

    @app.get("/static/nhsuk-frontend.min.css", include_in_schema=False)
    def nhsuk_stylesheet() -> Response:
        return Response(stylesheet, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    app.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")
    app.mount("/static", StaticFiles(directory=dist), name="static")

    def who(request: Request) -> Principal:
        token = request.cookies.get(COOKIE)
        authorization = request.headers.get("authorization") or (f"Bearer {token}" if token else None)
        principal = authenticator.authenticate(authorization)
        request.state.principal = principal
        return principal

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login(request: Request) -> HTMLResponse:
        return render(
            request, "login.html", users=list_users(service.store), roles=ROLES, page_title="Log in"
        )

    @app.post("/login", include_in_schema=False)
    async def do_login(request: Request) -> Response:
        token = demo_token(service.store, (await _form(request)).get("user_id", ""))
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> Response:
        if not request.cookies.get(COOKIE) and not request.headers.get("authorization"):
            return RedirectResponse("/login", status_code=303)
        who(request)
        return render(request, "home.html", results=None, nhs_number="", page_title="Find a patient")

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def find(request: Request) -> Response:
        # A POST, so that the NHS number is in neither the URL, the browser history nor a log.
        principal = who(request)
        nhs_number = (await _form(request)).get("nhs_number", "")
        results: list[dict[str, Any]] | None = None
        if nhs_number:
            digits = nhs_number.replace(" ", "")
            bundle = service.search(principal, "Patient", [("identifier", f"{NHS_NUMBER_SYSTEM}|{digits}")])
            results = [entry["resource"] for entry in bundle["entry"]]
        return render(
            request, "home.html", results=results, nhs_number=nhs_number or "", page_title="Find a patient"
        )

    @app.get("/patients/{patient_id}", response_class=HTMLResponse, include_in_schema=False)
    def patient(request: Request, patient_id: str) -> HTMLResponse:
        principal = who(request)
        try:
            bundle = service.everything(principal, patient_id)
        except AccessDenied as denied:
            return render(
                request,
                "denied.html",
                status=403,
                patient_id=patient_id,
                message=str(denied),
                page_title="Access refused",
            )
        by_type: dict[str, list[dict[str, Any]]] = {}
        for entry in bundle["entry"]:
            by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
        record = by_type.pop("Patient", [{}])[0]
        nhs_numbers = [
            i.get("value") for i in record.get("identifier") or [] if i.get("system") == NHS_NUMBER_SYSTEM
        ]
        encounters = sorted(
            by_type.get("Encounter", []), key=lambda e: (e.get("period") or {}).get("start", ""), reverse=True
        )
        return render(
            request,
            "patient.html",
            patient=record,
            nhs_number=nhs_numbers[0] if nhs_numbers else "",
            encounters=encounters[:100],
            encounter_count=len(encounters),
            conditions=by_type.get("Condition", []),
            care_plans=by_type.get("CarePlan", []),
            others={
                name: len(items)
                for name, items in by_type.items()
                if name not in ("Encounter", "Condition", "CarePlan")
            },
            coded=_coded,
            emergency=any(
                label.get("code") == "ETREAT" for label in (bundle.get("meta") or {}).get("security") or []
            ),
            page_title="Patient record",
        )

    @app.get("/patients/{patient_id}/break-glass", response_class=HTMLResponse, include_in_schema=False)
    def break_glass_form(request: Request, patient_id: str) -> HTMLResponse:
        who(request)
        return render(
            request, "break_glass.html", patient_id=patient_id, error=None, page_title="Emergency access"
        )

    @app.post("/patients/{patient_id}/break-glass", include_in_schema=False)
    async def break_glass(request: Request, patient_id: str) -> Response:
        principal = who(request)
        form = await _form(request)
        minutes = form.get("minutes", "60")
        try:
            service.break_glass(
                principal, patient_id, form.get("reason", ""), int(minutes) if minutes.isdigit() else 0
            )
        except AccessDenied:
            raise
        except CareRecordError as error:
            return render(
                request,
                "break_glass.html",
                status=error.status,
                patient_id=patient_id,
                error=str(error),
                page_title="Emergency access",
            )
        return RedirectResponse(f"/patients/{patient_id}", status_code=303)

    @app.post("/patients/{patient_id}/claim", include_in_schema=False)
    async def claim(request: Request, patient_id: str) -> Response:
        principal = who(request)
        service.claim_relationship(principal, patient_id, (await _form(request)).get("reason", ""))
        return RedirectResponse(f"/patients/{patient_id}", status_code=303)

    @app.get("/privacy/alerts", response_class=HTMLResponse, include_in_schema=False)
    def privacy_alerts(request: Request) -> HTMLResponse:
        principal = who(request)
        return render(request, "alerts.html", alerts=service.alerts(principal), page_title="Alerts")

    @app.get("/privacy/accesses", response_class=HTMLResponse, include_in_schema=False)
    def privacy_accesses(request: Request, patient: str | None = None) -> HTMLResponse:
        principal = who(request)
        return render(
            request,
            "accesses.html",
            rows=service.accesses(principal, patient or None),
            patient=patient or "",
            page_title="Who saw which patient",
        )
