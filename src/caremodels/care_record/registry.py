"""The resource type registry: which FHIR types the care record holds, how each is tied to a patient,
and which search parameters it allows (an allow-list: anything else is refused).

Later services (radiology record, advice and guidance, caseloads) add or extend types with
``register``; the API, the CapabilityStatement, the search index and the policy read this registry,
so a registered type is served, searchable, access-controlled and audited with no other change.

Boundaries: pure data and small functions over JSON dictionaries; no SQL, no policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "NHS_NUMBER_SYSTEM",
    "ODS_SYSTEM",
    "SDS_USER_SYSTEM",
    "ResourceType",
    "SearchParam",
    "register",
    "registered",
    "resource_type",
    "values_at",
]

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
SDS_USER_SYSTEM = "https://fhir.nhs.uk/Id/sds-user-id"

Kind = Literal["token", "string", "reference", "date"]


@dataclass(frozen=True)
class SearchParam:
    """A search parameter: its FHIR name, kind, and the dotted paths of the elements it indexes.

    Paths walk dictionaries and lists (``identifier`` then ``value``); ``target`` is the resource type
    a bare id given to a reference parameter refers to (``patient=123`` means ``Patient/123``).
    """

    name: str
    kind: Kind
    paths: tuple[str, ...]
    target: str | None = None


@dataclass(frozen=True)
class ResourceType:
    """A FHIR resource type the store holds.

    ``patient_paths``: the reference elements that tie a resource to its patient (empty for resources
    outside any patient's record, such as Organization). A patient-record resource must reference
    exactly one patient there, and the policy decides on that patient.
    ``read_only``: served but never written through the API (AuditEvent).
    """

    name: str
    patient_paths: tuple[str, ...] = ()
    search: Mapping[str, SearchParam] = field(default_factory=dict)
    read_only: bool = False
    documentation: str = ""

    @property
    def in_patient_record(self) -> bool:
        return bool(self.patient_paths) or self.name == "Patient"


_REGISTRY: dict[str, ResourceType] = {}


def register(resource: ResourceType) -> ResourceType:
    """Add a resource type, or replace one (a service extending a type's search parameters)."""
    _REGISTRY[resource.name] = resource
    return resource


def registered() -> Mapping[str, ResourceType]:
    return dict(sorted(_REGISTRY.items()))


def resource_type(name: str) -> ResourceType | None:
    return _REGISTRY.get(name)


def values_at(resource: Any, path: str) -> Iterator[Any]:
    """The values at a dotted path, flattening lists on the way."""
    current: list[Any] = [resource]
    for part in path.split("."):
        following: list[Any] = []
        for item in current:
            value = item.get(part) if isinstance(item, dict) else None
            if isinstance(value, list):
                following.extend(value)
            elif value is not None:
                following.append(value)
        current = following
    yield from current


def _p(name: str, kind: Kind, *paths: str, target: str | None = None) -> SearchParam:
    return SearchParam(name, kind, paths, target)


def _type(name: str, patient_paths: tuple[str, ...], *params: SearchParam, documentation: str = "") -> None:
    search = {"_id": _p("_id", "token", "id")}
    if patient_paths:
        search["patient"] = _p("patient", "reference", *patient_paths, target="Patient")
    search.update({param.name: param for param in params})
    register(ResourceType(name, patient_paths, search, documentation=documentation))


_STATUS = _p("status", "token", "status")
_SUBJECT = ("subject.reference",)

_type(
    "Patient",
    (),
    _p("identifier", "token", "identifier"),
    _p("family", "string", "name.family"),
    _p("given", "string", "name.given"),
    _p("name", "string", "name.family", "name.given", "name.text"),
    _p("birthdate", "date", "birthDate"),
    _p("gender", "token", "gender"),
    _p("general-practitioner", "reference", "generalPractitioner.reference", target="Organization"),
)
_type(
    "Practitioner",
    (),
    _p("identifier", "token", "identifier"),
    _p("name", "string", "name.family", "name.given"),
)
_type(
    "PractitionerRole",
    (),
    _p("practitioner", "reference", "practitioner.reference", target="Practitioner"),
    _p("organization", "reference", "organization.reference", target="Organization"),
    _p("role", "token", "code"),
)
_type(
    "Organization",
    (),
    _p("identifier", "token", "identifier"),
    _p("name", "string", "name"),
    _p("type", "token", "type"),
)
_type(
    "CareTeam",
    _SUBJECT,
    _STATUS,
    _p("participant", "reference", "participant.member.reference", "managingOrganization.reference"),
    _p("category", "token", "category"),
)
_type(
    "EpisodeOfCare",
    ("patient.reference",),
    _STATUS,
    _p("organization", "reference", "managingOrganization.reference", target="Organization"),
    _p("type", "token", "type"),
)
_type(
    "Encounter",
    _SUBJECT,
    _STATUS,
    _p("date", "date", "period.start"),
    _p("class", "token", "class"),
    _p("service-provider", "reference", "serviceProvider.reference", target="Organization"),
)
_type(
    "Condition",
    _SUBJECT,
    _p("code", "token", "code"),
    _p("clinical-status", "token", "clinicalStatus"),
    _p("onset-date", "date", "onsetDateTime"),
)
_type(
    "Observation",
    _SUBJECT,
    _STATUS,
    _p("code", "token", "code"),
    _p("category", "token", "category"),
    _p("date", "date", "effectiveDateTime"),
)
_type(
    "MedicationRequest",
    _SUBJECT,
    _STATUS,
    _p("authoredon", "date", "authoredOn"),
    _p("intent", "token", "intent"),
)
_type("CarePlan", _SUBJECT, _STATUS, _p("category", "token", "category"))
_type(
    "ServiceRequest",
    _SUBJECT,
    _STATUS,
    _p("performer", "reference", "performer.reference"),
    _p("requester", "reference", "requester.reference"),
    _p("category", "token", "category"),
    _p("authored", "date", "authoredOn"),
)
_type(
    "CommunicationRequest",
    _SUBJECT,
    _STATUS,
    _p("recipient", "reference", "recipient.reference"),
    _p("requester", "reference", "requester.reference"),
    _p("authored", "date", "authoredOn"),
)
_type(
    "Communication",
    _SUBJECT,
    _STATUS,
    _p("based-on", "reference", "basedOn.reference"),
    _p("sent", "date", "sent"),
)
_type(
    "Task",
    ("for.reference",),
    _STATUS,
    _p("owner", "reference", "owner.reference"),
    _p("focus", "reference", "focus.reference"),
)
_type(
    "ImagingStudy",
    _SUBJECT,
    _STATUS,
    _p("identifier", "token", "identifier"),
    _p("modality", "token", "modality"),
    _p("started", "date", "started"),
)
_type(
    "Endpoint",
    (),
    _STATUS,
    _p("organization", "reference", "managingOrganization.reference", target="Organization"),
    _p("connection-type", "token", "connectionType"),
)
_type(
    "DiagnosticReport",
    _SUBJECT,
    _STATUS,
    _p("code", "token", "code"),
    _p("date", "date", "effectiveDateTime"),
)
_type(
    "Consent",
    ("patient.reference",),
    _STATUS,
    _p("category", "token", "category"),
    # Not a FHIR search parameter of its own; the policy reads it to find dissent from sharing.
    _p("provision-type", "token", "provision.type"),
)
_type("Questionnaire", (), _STATUS, _p("url", "token", "url"), _p("name", "string", "name"))
_type(
    "QuestionnaireResponse",
    _SUBJECT,
    _STATUS,
    _p("questionnaire", "token", "questionnaire"),
    _p("authored", "date", "authored"),
)
register(
    ResourceType(
        "AuditEvent",
        (),
        {"patient": _p("patient", "reference", "entity.what.reference", target="Patient")},
        read_only=True,
        documentation="Read-only: the audit trail. Searchable by privacy officers and Caldicott guardians only.",
    )
)
