"""The FHIR R4 API at /fhir (``application/fhir+json``): read, vread, search, create, update (If-Match),
Patient/$everything, transaction Bundles and the CapabilityStatement. Thin: each route authenticates the
bearer token and calls ``CareRecord``, which decides and audits; errors become OperationOutcomes.

Boundaries: no SQL and no policy here.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from caremodels import __version__
from caremodels.care_record.identity import Authenticator
from caremodels.care_record.policy import Principal
from caremodels.care_record.registry import registered
from caremodels.care_record.resources import MAX_COUNT, CareRecordError
from caremodels.care_record.service import CareRecord

__all__ = ["FHIR_JSON", "FhirResponse", "capability_statement", "fhir_router", "operation_outcome"]

FHIR_JSON = "application/fhir+json"


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def operation_outcome(status: int, code: str, message: str) -> FhirResponse:
    severity = "error" if status < 500 else "fatal"
    headers = {"WWW-Authenticate": 'Bearer realm="care-record"'} if status == 401 else None
    return FhirResponse(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": message}],
        },
        status_code=status,
        headers=headers,
    )


def capability_statement() -> dict[str, Any]:
    """What this server does, type by type, from the registry (nothing listed that is not served)."""
    types = []
    for name, rt in registered().items():
        interactions = (
            ["read", "search-type"] if rt.read_only else ["read", "vread", "search-type", "create", "update"]
        )
        entry: dict[str, Any] = {
            "type": name,
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned" if not rt.read_only else "no-version",
            "readHistory": False,
            "updateCreate": False,
            "conditionalCreate": False,
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
            "searchParam": [{"name": param.name, "type": param.kind} for param in rt.search.values()],
        }
        if rt.documentation:
            entry["documentation"] = rt.documentation
        if name == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        types.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-03",
        "kind": "instance",
        "software": {"name": "caremodels care record", "version": __version__},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    f"Bearer tokens required. Searches take only the listed parameters, _count (at most {MAX_COUNT}) "
                    "and _offset; chained and _has searches are refused. Every access is decided by one policy and "
                    "audited as IHE BALP AuditEvents."
                ),
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                }
                            ]
                        }
                    ],
                },
                "resource": types,
                "interaction": [{"code": "transaction"}],
            }
        ],
    }


def _etag(resource: dict[str, Any]) -> dict[str, str]:
    meta = resource.get("meta") or {}
    headers = {}
    if "versionId" in meta:
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    if "lastUpdated" in meta:
        headers["Last-Modified"] = str(meta["lastUpdated"])
    return headers


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CareRecordError("the body is not JSON") from None


# The bodies are read as JSON by the routes themselves (a FHIR resource is validated by its R4B
# model, not by FastAPI); the OpenAPI document still says a JSON object is expected.
_JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            FHIR_JSON: {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


def fhir_router(service: CareRecord, authenticator: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/fhir")

    def who(authorization: str | None) -> Principal:
        return authenticator.authenticate(authorization)

    @router.get("/metadata")
    def metadata() -> FhirResponse:
        return FhirResponse(capability_statement())

    @router.post("", openapi_extra=_JSON_BODY)
    async def transaction(request: Request, authorization: str | None = Header(default=None)) -> FhirResponse:
        principal = who(authorization)
        return FhirResponse(service.transaction(principal, await _body(request)))

    @router.get("/Patient/{patient_id}/$everything")
    def everything(patient_id: str, authorization: str | None = Header(default=None)) -> FhirResponse:
        return FhirResponse(service.everything(who(authorization), patient_id))

    @router.get("/{resource_type}")
    def search(
        resource_type: str, request: Request, authorization: str | None = Header(default=None)
    ) -> FhirResponse:
        principal = who(authorization)
        return FhirResponse(
            service.search(principal, resource_type, list(request.query_params.multi_items()))
        )

    @router.post("/{resource_type}", openapi_extra=_JSON_BODY)
    async def create(
        resource_type: str, request: Request, authorization: str | None = Header(default=None)
    ) -> FhirResponse:
        principal = who(authorization)
        created = service.create(principal, resource_type, await _body(request))
        headers = _etag(created)
        headers["Location"] = f"/fhir/{resource_type}/{created['id']}/_history/{created['meta']['versionId']}"
        return FhirResponse(created, status_code=201, headers=headers)

    @router.get("/{resource_type}/{resource_id}")
    def read(
        resource_type: str, resource_id: str, authorization: str | None = Header(default=None)
    ) -> FhirResponse:
        found = service.read(who(authorization), resource_type, resource_id)
        return FhirResponse(found, headers=_etag(found))

    @router.get("/{resource_type}/{resource_id}/_history/{version}")
    def vread(
        resource_type: str, resource_id: str, version: str, authorization: str | None = Header(default=None)
    ) -> FhirResponse:
        principal = who(authorization)
        if not version.isdigit() or len(version) > 9:
            raise CareRecordError("a version is a whole number", status=404, code="not-found")
        found = service.read(principal, resource_type, resource_id, int(version))
        return FhirResponse(found, headers=_etag(found))

    @router.put("/{resource_type}/{resource_id}", openapi_extra=_JSON_BODY)
    async def update(
        resource_type: str,
        resource_id: str,
        request: Request,
        authorization: str | None = Header(default=None),
        if_match: str | None = Header(default=None),
    ) -> FhirResponse:
        principal = who(authorization)
        updated = service.update(principal, resource_type, resource_id, await _body(request), if_match)
        return FhirResponse(updated, headers=_etag(updated))

    return router
