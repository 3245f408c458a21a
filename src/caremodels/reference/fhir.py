"""FHIR R4 resource access: the identifier and code systems caremodels reads and writes, helpers that
read codes, references and identifiers from resources held as plain dicts (parsed JSON), and the
structural checks a resource must pass before anything maps it.

Shared by the writers (the synthetic FHIR export, the operational store to come) and the reader
(``caremodels.ingest``), so that both sides name the same systems and read a resource the same way.

Boundaries: pure functions on dicts; no files, no network, no patient-level values in any message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ADMISSION_METHOD_EXTENSION",
    "ADVICE_CATEGORY_SYSTEM",
    "ADVICE_CODE",
    "ADVICE_STATE_SYSTEM",
    "AUTHORISED_TO_CONVERT_EXTENSION",
    "DISCHARGE_METHOD_EXTENSION",
    "ICD10_SYSTEM_PREFIX",
    "MAX_RESOURCE_DEPTH",
    "NHS_NUMBER_SYSTEM",
    "ODS_SYSTEMS",
    "SNOMED",
    "TREATMENT_FUNCTION_SYSTEM",
    "WOULD_OTHERWISE_REFER_EXTENSION",
    "codes",
    "codings",
    "extension_codes",
    "nesting_depth",
    "nhs_number_identifiers",
    "reference",
    "reference_keys",
    "structure_problems",
]

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEMS = ("https://fhir.nhs.uk/Id/ods-organization-code", "https://fhir.nhs.uk/Id/ods-site-code")
SNOMED = "http://snomed.info/sct"
ICD10_SYSTEM_PREFIX = "http://hl7.org/fhir/sid/icd-10"  # also -uk (NHS) and -cm (US)
TREATMENT_FUNCTION_SYSTEM = "https://fhir.nhs.uk/CodeSystem/NHSDataModelAndDictionary-treatment-function"
ADMISSION_METHOD_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AdmissionMethod"
DISCHARGE_METHOD_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DischargeMethod"
# Advice and guidance as the care record writes it (caremodels.advice) and ingest reads it: the
# CommunicationRequest and Task category/code, the Task's state, and the two answers the GP records
# when the request is made.
ADVICE_CATEGORY_SYSTEM = "https://caremodels.example/CodeSystem/advice-and-guidance"
ADVICE_CODE = "advice-and-guidance"
ADVICE_STATE_SYSTEM = "https://caremodels.example/CodeSystem/advice-and-guidance-state"
WOULD_OTHERWISE_REFER_EXTENSION = (
    "https://caremodels.example/StructureDefinition/would-otherwise-have-referred"
)
AUTHORISED_TO_CONVERT_EXTENSION = "https://caremodels.example/StructureDefinition/authorised-to-convert"

MAX_RESOURCE_DEPTH = 64
"""Objects and arrays nested deeper than this are refused: real FHIR resources nest a dozen levels."""


def codings(concept: Any) -> list[dict[str, Any]]:
    """The Codings of a CodeableConcept (or a list of them), ignoring anything that is not one."""
    if isinstance(concept, dict):
        found = concept.get("coding") or []
        return [coding for coding in found if isinstance(coding, dict)] if isinstance(found, list) else []
    if isinstance(concept, list):
        return [coding for item in concept for coding in codings(item)]
    return []


def codes(concept: Any, system: str | None = None, *, prefix: bool = False) -> list[str]:
    """Codes of a CodeableConcept (or list), of one system (or systems starting with it)."""
    found = []
    for coding in codings(concept):
        coding_system = str(coding.get("system") or "")
        wanted = system is None or coding_system == system or (prefix and coding_system.startswith(system))
        if wanted and coding.get("code") is not None:
            found.append(str(coding["code"]))
    return found


def extension_codes(resource: Mapping[str, Any], url: str) -> list[str]:
    """Codes carried by a resource's extensions with ``url`` (CodeableConcept, Coding or code)."""
    found = []
    extensions = resource.get("extension") or []
    for extension in extensions if isinstance(extensions, list) else []:
        if isinstance(extension, dict) and extension.get("url") == url:
            found += codes(extension.get("valueCodeableConcept"))
            if isinstance(extension.get("valueCoding"), dict):
                found += codes({"coding": [extension["valueCoding"]]})
            if extension.get("valueCode"):
                found.append(str(extension["valueCode"]))
    return found


def reference(value: Any) -> str | None:
    """The literal reference of a Reference (``Patient/123``), if it has one."""
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return None


def reference_keys(resource_type: str, resource: Mapping[str, Any], full_url: str | None) -> list[str]:
    """Every form a reference to this resource may take: type/id, the Bundle fullUrl, and
    type?identifier=system|value for each identifier."""
    keys = [f"{resource_type}/{resource.get('id')}"]
    if full_url:
        keys.append(full_url)
    identifiers = resource.get("identifier") or []
    for identifier in identifiers if isinstance(identifiers, list) else []:
        if isinstance(identifier, dict) and identifier.get("system") and identifier.get("value"):
            keys.append(f"{resource_type}?identifier={identifier['system']}|{identifier['value']}")
    return keys


def nhs_number_identifiers(resource: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(NHS number without spaces, is current) of every NHS-number identifier of a Patient: an
    identifier with ``use`` old, or a period that has ended, is superseded."""
    found = []
    identifiers = resource.get("identifier") or []
    for identifier in identifiers if isinstance(identifiers, list) else []:
        if not isinstance(identifier, dict) or identifier.get("system") != NHS_NUMBER_SYSTEM:
            continue
        period = identifier.get("period")
        ended = isinstance(period, dict) and bool(period.get("end"))
        current = identifier.get("use") != "old" and not ended
        found.append((str(identifier.get("value") or "").replace(" ", ""), current))
    return found


# -- structure ------------------------------------------------------------------------------------

_STRING, _OBJECT, _LIST = "a string", "an object", "an array"
_CONCEPT = "CodeableConcept"
_CONCEPTS = "CodeableConcept[]"
_CONCEPT_OR_LIST = "CodeableConcept or CodeableConcept[]"
_REFERENCE = "Reference"
_REFERENCES = "Reference[]"
_PERIOD = "Period"
_IDENTIFIERS = "Identifier[]"
_OBJECTS = "object[]"

_COMMON: dict[str, str] = {"id": _STRING, "identifier": _IDENTIFIERS, "extension": _OBJECTS}
# The elements the mapping reads, with the shape FHIR R4 gives them (R5's list-valued class and
# serviceType are accepted too).
_ELEMENTS: dict[str, dict[str, str]] = {
    "Patient": {"gender": _STRING, "birthDate": _STRING, "generalPractitioner": _REFERENCES},
    "Encounter": {
        "status": _STRING,
        "class": "Coding or CodeableConcept[]",
        "type": _CONCEPTS,
        "serviceType": _CONCEPT_OR_LIST,
        "priority": _CONCEPT,
        "period": _PERIOD,
        "subject": _REFERENCE,
        "serviceProvider": _REFERENCE,
        "hospitalization": "EncounterHospitalization",
        "diagnosis": _OBJECTS,
        "reasonCode": _CONCEPTS,
    },
    "Condition": {
        "code": _CONCEPT,
        "subject": _REFERENCE,
        "verificationStatus": _CONCEPT,
        "onsetDateTime": _STRING,
        "onsetPeriod": _PERIOD,
        "recordedDate": _STRING,
    },
    "Organization": {"address": _OBJECTS},
    "Procedure": {"subject": _REFERENCE},
    "MedicationRequest": {"subject": _REFERENCE},
    "Immunization": {"patient": _REFERENCE},
    "AllergyIntolerance": {"patient": _REFERENCE},
    "Observation": {"subject": _REFERENCE},
}


def _is_concept(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    coding = value.get("coding", [])
    return isinstance(coding, list) and all(
        isinstance(item, dict)
        and isinstance(item.get("code", ""), str)
        and isinstance(item.get("system", ""), str)
        for item in coding
    )


def _shape_problem(value: Any, shape: str) -> str | None:
    """Why ``value`` is not of ``shape`` (None when it is)."""
    if shape == _STRING:
        ok = isinstance(value, str)
    elif shape == _OBJECTS:
        ok = isinstance(value, list) and all(isinstance(item, dict) for item in value)
    elif shape == _CONCEPT:
        ok = _is_concept(value)
    elif shape == _CONCEPTS:
        ok = isinstance(value, list) and all(_is_concept(item) for item in value)
    elif shape == _CONCEPT_OR_LIST:
        ok = _is_concept(value) or (isinstance(value, list) and all(_is_concept(item) for item in value))
    elif shape == _REFERENCE:
        ok = isinstance(value, dict) and isinstance(value.get("reference", ""), str)
    elif shape == _REFERENCES:
        ok = isinstance(value, list) and all(
            isinstance(item, dict) and isinstance(item.get("reference", ""), str) for item in value
        )
    elif shape == _PERIOD:
        ok = isinstance(value, dict) and all(isinstance(value.get(end, ""), str) for end in ("start", "end"))
    elif shape == _IDENTIFIERS:
        ok = isinstance(value, list) and all(
            isinstance(item, dict)
            and isinstance(item.get("system", ""), str)
            and isinstance(item.get("value", ""), str)
            and isinstance(item.get("use", ""), str)
            and isinstance(item.get("period", {}), dict)
            for item in value
        )
    elif shape == "Coding or CodeableConcept[]":
        ok = (isinstance(value, dict) and isinstance(value.get("code", ""), str)) or (
            isinstance(value, list) and all(_is_concept(item) for item in value)
        )
    elif shape == "EncounterHospitalization":
        ok = isinstance(value, dict) and all(
            _is_concept(value[name]) for name in ("admitSource", "dischargeDisposition") if name in value
        )
    else:  # pragma: no cover - every shape above is handled
        raise ValueError(shape)
    return None if ok else f"must be {shape}"


def nesting_depth(value: Any, limit: int = MAX_RESOURCE_DEPTH) -> int:
    """Depth of nested objects and arrays (a scalar is 0), counted without recursion and stopping
    once past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def structure_problems(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(location, reason) for each element the mapping reads whose shape is impossible for FHIR R4,
    e.g. (``Encounter.period``, ``must be Period``); empty when the resource can be mapped."""
    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        return [("resourceType", "must be a string naming the resource type")]
    problems = []
    for name, shape in {**_COMMON, **_ELEMENTS.get(kind, {})}.items():
        if name in resource and resource[name] is not None:
            reason = _shape_problem(resource[name], shape)
            if reason:
                problems.append((f"{kind}.{name}", f"{reason}, not {_json_kind(resource[name])}"))
    return problems


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return (
            "an array"
            if not value or not all(isinstance(item, dict) for item in value)
            else "an array of other objects"
        )
    if isinstance(value, dict):
        return "an object of another shape"
    return "null"
