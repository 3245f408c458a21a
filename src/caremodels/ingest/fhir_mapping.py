"""FHIR R4 mapping: resources (parsed JSON dicts, with where each came from) to canonical rows.

Pure: no files and no warehouse. ``map_resources`` takes the records of one export (resources from
files, ``caremodels.ingest.fhir``, or from a database such as the operational store) and returns,
per source, the rows for each canonical table, the problems (row, location, reason) that quarantine
a resource, the opted-out count and the unmapped and defaulted counts by reason. Every resource is
checked on its own first (``caremodels.reference.fhir.structure_problems``: a wrong type or an
impossible structure such as ``Encounter.period`` as a string is quarantined with that location),
and a resource that still cannot be mapped is quarantined too, so one bad resource never stops the
export.

Identity: a Patient's NHS numbers are all checked (current and superseded identifiers, ``use`` old or
an ended period): the person is excluded if any of them is on the opt-out list; two different
current NHS numbers, or two different Patient resources with one id, make the identity ambiguous,
and such Patients and every resource referring to them are quarantined, never loaded.

What maps where (docs/ingest.md has the full rules and their sources):

- Patient: the person's identity. A UK Core NHS number (``https://fhir.nhs.uk/Id/nhs-number``) is
  checked, honoured against opt-outs and pseudonymised exactly like a source file's, so FHIR and
  HES-like data link. A patient without one (US Core data) gets a keyed pseudonym of
  ``system|value`` of a local identifier (the medical record number if there is one), recorded as
  defaulted. Sex, date of birth and registered GP practice feed the person's activity rows; the
  canonical schema has no table of people, so Patient resources themselves are counted as unmapped.
- Encounter, by class and type: inpatient classes (IMP, ACUTE, NONAC, SS) -> ``apc_spells``;
  EMER, and ambulatory urgent care clinic visits, -> ``ae_attendances``; ambulatory or virtual
  encounters with an NHS treatment function code -> ``op_attendances``; everything else unmapped.
- Condition: SNOMED CT codes in the condition map (``data/snomed_conditions.yaml``, extendable in a
  mapping file) -> ``conditions``, keeping each person's earliest record of a condition.
- Organization: resolves ODS codes (UK Core ``ods-organization-code`` / ``ods-site-code``, or the
  mapping file); an organisation without one gets the NHS Data Dictionary default provider code
  (89997 non-UK, 89999 non-NHS UK), recorded as defaulted.
- Advice and guidance (as ``caremodels.advice`` writes it): a closed advice-and-guidance ``Task`` with
  its ``CommunicationRequest`` -> ``advice_and_guidance`` (request and first response dates, the
  specialty, the GP's answers recorded at request, the e-RS outcome); an open one is counted as
  unmapped (no outcome yet); the CommunicationRequest itself is read with its Task.
- ServiceRequest with an NHS treatment function code (category or code), active or completed ->
  ``referrals`` (``advice_request_id`` when based on an advice and guidance request); others unmapped.
- Procedure, MedicationRequest and other types: no patient-level table in the canonical schema,
  counted as unmapped.

Boundaries: identifiable values (NHS numbers, local identifiers) stay in memory and become
pseudonyms before rows are staged; nothing here writes to disk except through ``write_batches``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from caremodels.ingest.mapping import FhirOptions
from caremodels.ingest.pseudonymise import Pseudonymiser
from caremodels.ingest.validate import is_nhs_number
from caremodels.reference.fhir import (
    ADMISSION_METHOD_EXTENSION,
    ADVICE_CATEGORY_SYSTEM,
    ADVICE_CODE,
    ADVICE_STATE_SYSTEM,
    AUTHORISED_TO_CONVERT_EXTENSION,
    DISCHARGE_METHOD_EXTENSION,
    ICD10_SYSTEM_PREFIX,
    MAX_RESOURCE_DEPTH,
    ODS_SYSTEMS,
    SNOMED,
    TREATMENT_FUNCTION_SYSTEM,
    WOULD_OTHERWISE_REFER_EXTENSION,
    nesting_depth,
    nhs_number_identifiers,
    structure_problems,
)
from caremodels.reference.fhir import codes as _codes
from caremodels.reference.fhir import extension_codes as _extension_codes
from caremodels.reference.fhir import reference as _reference
from caremodels.reference.fhir import reference_keys as _reference_keys

__all__ = ["FileOutcome", "ResourceRecord", "condition_map", "map_resources"]


# NHS Data Dictionary default codes (ORGANISATION CODE (CODE OF PROVIDER); GP practice).
PRACTICE_NOT_KNOWN = "V81999"
NON_UK_PROVIDER = "89997"
NON_NHS_UK_PROVIDER = "89999"
_UK_COUNTRIES = {"GB", "GBR", "UK", "UNITED KINGDOM", "ENGLAND", "WALES", "SCOTLAND", "NORTHERN IRELAND"}
_PRACTICE_CODE = re.compile(r"[A-Z][0-9]{5}")
# ICD-10 as HES stores it: letter, two digits, a fourth character (X when the code has three).
_ICD10 = re.compile(r"([A-Z][0-9]{2})\.?([0-9X])?")

INPATIENT_CLASSES = {"IMP", "ACUTE", "NONAC", "SS"}
AMBULATORY_CLASSES = {"AMB", "VR"}
URGENT_CARE_CLINIC = "702927004"  # SNOMED CT: Urgent care clinic (environment)
FOLLOW_UP_ENCOUNTER = "390906007"  # SNOMED CT: Follow-up encounter
# SNOMED CT encounter types that are stays in a nursing facility or hospice, not hospital spells.
NOT_HOSPITAL_STAYS = {"449411000124106": "skilled nursing facility", "305336008": "hospice"}
EMERGENCY_PRIORITIES = {"EM", "UR", "A", "S", "CS"}  # v3-ActPriority
ELECTIVE_PRIORITIES = {"EL", "R", "P", "PRN"}
EMERGENCY_METHOD_BY_ADMIT_SOURCE = {"emd": "21", "gp": "22", "outp": "24", "hosp-trans": "2B"}
# FHIR discharge-disposition codes and the NUBC codes some US systems (Synthea) use.
_DIED = {"exp", "20"}
_LEFT = {"aadvice", "07", "7"}
_HOME = {"home", "alt-home", "01", "1", "06", "6"}
_TRANSFERRED = {
    "other-hcf",
    "hosp",
    "long",
    "psy",
    "rehab",
    "snf",
    "02",
    "2",
    "03",
    "3",
    "05",
    "5",
    "62",
    "63",
    "65",
}
A_AND_E_TO_ADMISSION = dt.timedelta(hours=24)
_FHIR_FORMAT = "a FHIR date or dateTime"
_GENDER = {"male": "1", "female": "2", "other": "9", "unknown": "9"}


@functools.cache
def _built_in_conditions() -> dict[str, str]:
    text = (resources.files("caremodels.ingest") / "data" / "snomed_conditions.yaml").read_text(
        encoding="utf-8"
    )
    concepts = yaml.safe_load(text)["concepts"]
    return {str(code): str(entry["condition"]) for code, entry in concepts.items()}


def condition_map(options: FhirOptions | None = None) -> dict[str, str]:
    """SNOMED CT concept id -> condition: the built-in map plus a mapping file's additions."""
    mapped = dict(_built_in_conditions())
    if options is not None:
        mapped.update(options.condition_codes)
    return mapped


@dataclass(frozen=True)
class ResourceRecord:
    """One resource read, with where it came from: source name and row (NDJSON line, Bundle entry,
    or position in an iterable); ``resource`` None when it could not be read (``problem`` says why)."""

    file: str
    row: int
    resource: dict[str, Any] | None
    problem: tuple[str, str] | None = None
    full_url: str | None = None


def _wall_clock(value: Any) -> dt.datetime | None:
    """A FHIR dateTime as the local wall-clock time it states (the offset dropped, as HES records
    local times); a date alone is midnight. None when it is not a full date."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)


def _date_text(value: Any) -> str | None:
    """ISO date of a FHIR date or dateTime; the original text when it cannot be read (so the
    validator names it), None when absent."""
    if value is None:
        return None
    moment = _wall_clock(value)
    return moment.date().isoformat() if moment else str(value)


def _time_text(value: Any) -> str | None:
    if value is None:
        return None
    moment = _wall_clock(value)
    return moment.isoformat(sep=" ", timespec="seconds") if moment else str(value)


def _age(birth: dt.date | None, moment: dt.datetime | None) -> str | None:
    if birth is None or moment is None:
        return None
    day = moment.date()
    return str(day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day)))


@dataclass
class _Organisation:
    ods_code: str | None
    country: str | None
    keys: list[str]


@dataclass
class _Person:
    """A Patient resolved to a pseudonym (or why it cannot be used)."""

    person_id: str | None = None
    excluded: bool = False
    problem: tuple[str, str] | None = None
    sex: str = "9"
    birth: dt.date | None = None
    practice: str = PRACTICE_NOT_KNOWN
    defaulted: list[str] = field(default_factory=list)


@dataclass
class _EncounterSummary:
    """What pass one keeps of every encounter, to pair A&E attendances with admissions."""

    person_key: str
    kind: str  # "ae" or "apc"
    start: dt.datetime | None
    end: dt.datetime | None


class _Export:
    """The resources of a set of FHIR files, indexed for resolving references."""

    def __init__(self, records: Iterable[ResourceRecord], options: FhirOptions) -> None:
        self.options = options
        self.organisations: dict[str, _Organisation] = {}
        self.patients: dict[str, tuple[dict[str, Any], str]] = {}  # reference -> (resource, canonical key)
        # Canonical keys of Patients whose identity is ambiguous: another, different Patient resource
        # answers to one of their references (a duplicate id, a shared identifier).
        self.ambiguous: set[str] = set()
        self.encounters: dict[str, list[_EncounterSummary]] = defaultdict(list)
        self.condition_icd10: dict[str, str] = {}  # Condition reference -> its ICD-10 code, for diagnoses
        self.advice_requests: dict[str, dict[str, Any]] = {}  # CommunicationRequest reference -> it
        pending_encounters: list[tuple[str, dict[str, Any]]] = []
        for record in records:
            resource = record.resource
            if resource is None or record_problems(record):
                continue  # quarantined when mapped; never used to resolve references
            try:
                self._index(record, resource, pending_encounters)
            except (TypeError, ValueError, AttributeError, KeyError, IndexError):
                continue  # the mapping pass meets the same resource and quarantines it
        for reference, fields in pending_encounters:
            patient = self.patients.get(reference)
            if patient is not None and fields["kind"]:
                self.encounters[patient[1]].append(
                    _EncounterSummary(patient[1], fields["kind"], fields["start"], fields["end"])
                )

    def _index(
        self,
        record: ResourceRecord,
        resource: dict[str, Any],
        pending_encounters: list[tuple[str, dict[str, Any]]],
    ) -> None:
        kind = resource.get("resourceType")
        if kind == "Organization":
            keys = _reference_keys("Organization", resource, record.full_url)
            organisation = _Organisation(self._ods_code(resource, keys), _country(resource), keys)
            for key in keys:
                self.organisations[key] = organisation
        elif kind == "Patient":
            keys = _reference_keys("Patient", resource, record.full_url)
            for key in keys:
                known = self.patients.get(key)
                if known is None:
                    self.patients[key] = (resource, keys[0])
                elif known[0] != resource and "?identifier=" not in key:
                    # Two different Patients with one id (or Bundle fullUrl): a reference to it could
                    # mean either, so neither can be trusted. (Two Patients sharing an identifier, such
                    # as one NHS number, are one person and get one pseudonym.)
                    self.ambiguous.update((known[1], keys[0]))
        elif kind == "Condition":
            codes = [_icd10(raw) for raw in _codes(resource.get("code"), ICD10_SYSTEM_PREFIX, prefix=True)]
            icd10 = next((code for code in codes if code), None)
            if icd10:
                for key in _reference_keys("Condition", resource, record.full_url):
                    self.condition_icd10[key] = icd10
        elif kind == "Encounter":
            reference = _reference(resource.get("subject"))
            if reference:
                pending_encounters.append((reference, _encounter_summary_fields(resource)))
        elif kind == "CommunicationRequest" and ADVICE_CODE in _codes(
            resource.get("category"), ADVICE_CATEGORY_SYSTEM
        ):
            for key in _reference_keys("CommunicationRequest", resource, record.full_url):
                self.advice_requests[key] = resource

    def _ods_code(self, resource: Mapping[str, Any], keys: list[str]) -> str | None:
        for identifier in resource.get("identifier") or []:
            if (
                isinstance(identifier, dict)
                and identifier.get("system") in ODS_SYSTEMS
                and identifier.get("value")
            ):
                return str(identifier["value"]).strip().upper()
        for key in keys:
            plain = key.split("identifier=", 1)[-1]
            if key in self.options.organisations:
                return self.options.organisations[key]
            if plain in self.options.organisations:
                return self.options.organisations[plain]
        return None

    def organisation_code(self, reference_value: Any) -> tuple[str | None, str | None]:
        """(ODS code, reason it was defaulted or None) of an Organization reference."""
        if not isinstance(reference_value, dict):
            return None, None
        identifier = reference_value.get("identifier")
        if (
            isinstance(identifier, dict)
            and identifier.get("system") in ODS_SYSTEMS
            and identifier.get("value")
        ):
            return str(identifier["value"]).strip().upper(), None
        reference = reference_value.get("reference")
        if isinstance(reference, str) and reference in self.options.organisations:
            return self.options.organisations[reference], None
        organisation = self.organisations.get(str(reference)) if reference else None
        if organisation is None:
            return None, None
        if organisation.ods_code:
            return organisation.ods_code, None
        if organisation.country is None:
            return None, None
        if organisation.country.upper() in _UK_COUNTRIES:
            return NON_NHS_UK_PROVIDER, "provider has no ODS code: coded 89999 (non-NHS UK provider)"
        return (
            NON_UK_PROVIDER,
            "provider has no ODS code and is outside the UK: coded 89997 (non-UK provider)",
        )


def _country(resource: Mapping[str, Any]) -> str | None:
    for address in resource.get("address") or []:
        if isinstance(address, dict) and address.get("country"):
            return str(address["country"]).strip()
    return None


def _encounter_class(resource: Mapping[str, Any]) -> str:
    value = resource.get("class")
    if isinstance(value, list):  # FHIR R5 makes class a list of CodeableConcepts
        codes = _codes(value)
        return codes[0] if codes else ""
    if isinstance(value, dict):
        return str(value.get("code") or "")
    return ""


def _encounter_summary_fields(resource: Mapping[str, Any]) -> dict[str, Any]:
    encounter_class = _encounter_class(resource)
    types = set(_codes(resource.get("type"), SNOMED))
    kind = ""
    if encounter_class in INPATIENT_CLASSES and not types & set(NOT_HOSPITAL_STAYS):
        kind = "apc"
    elif encounter_class == "EMER" or (encounter_class in AMBULATORY_CLASSES and URGENT_CARE_CLINIC in types):
        kind = "ae"
    period = resource.get("period") or {}
    return {"kind": kind, "start": _wall_clock(period.get("start")), "end": _wall_clock(period.get("end"))}


def _person(
    export: _Export, resource: dict[str, Any], pseudonymiser: Pseudonymiser, opt_outs: frozenset[str]
) -> _Person:
    person = _Person()
    numbers = nhs_number_identifiers(resource)
    if any(not is_nhs_number(number) for number, _ in numbers):
        person.problem = ("Patient.identifier", "invalid NHS number (format or check digit)")
        return person
    # Opt-outs hold on any NHS number the person has had, current or superseded.
    if any(number in opt_outs for number, _ in numbers):
        person.excluded = True
        return person
    current = sorted({number for number, is_current in numbers if is_current})
    if len(current) > 1:
        person.problem = (
            "Patient.identifier",
            "ambiguous identity: more than one current NHS number (quarantined, never loaded)",
        )
        return person
    if numbers:
        person.person_id = pseudonymiser.pseudonym(current[0] if current else numbers[0][0])
    else:
        local = _local_identifier(resource)
        if local is None:
            person.problem = ("Patient.identifier", "no NHS number and no other identifier")
            return person
        person.person_id = pseudonymiser.identifier_pseudonym(*local)
        person.defaulted.append(
            "no NHS number: person_id is a keyed pseudonym of a local identifier (system|value)"
        )
    person.sex = _GENDER.get(str(resource.get("gender") or "unknown"), "9")
    birth = resource.get("birthDate")
    if isinstance(birth, str) and len(birth) == 10:
        try:
            person.birth = dt.date.fromisoformat(birth)
        except ValueError:
            person.birth = None
    practice = _practice(export, resource)
    if practice is None:
        person.defaulted.append("GP practice not recorded: coded V81999 (not known)")
    else:
        person.practice = practice
    return person


def record_problems(record: ResourceRecord) -> list[tuple[str, str]]:
    """Why a read resource cannot be mapped at all: nesting too deep, or an impossible structure."""
    if record.resource is None:
        return []
    if nesting_depth(record.resource) > MAX_RESOURCE_DEPTH:
        return [("", f"nested more than {MAX_RESOURCE_DEPTH} levels deep (not a FHIR resource)")]
    return structure_problems(record.resource)


def _local_identifier(resource: Mapping[str, Any]) -> tuple[str, str] | None:
    identifiers = [
        identifier
        for identifier in resource.get("identifier") or []
        if isinstance(identifier, dict) and identifier.get("system") and identifier.get("value")
    ]
    for identifier in identifiers:
        if "MR" in _codes(identifier.get("type")):
            return str(identifier["system"]), str(identifier["value"])
    if identifiers:
        return str(identifiers[0]["system"]), str(identifiers[0]["value"])
    if resource.get("id"):
        return "urn:fhir:Patient.id", str(resource["id"])
    return None


def _practice(export: _Export, resource: Mapping[str, Any]) -> str | None:
    for reference in resource.get("generalPractitioner") or []:
        code, _ = export.organisation_code(reference)
        if code and _PRACTICE_CODE.fullmatch(code):
            return code
    return None


@dataclass(frozen=True)
class _Subject:
    key: str  # the Patient's canonical reference, shared by every form of reference to it
    person: _Person


@dataclass
class FileOutcome:
    """What one source's resources mapped to (a file, or one call of ``load_fhir_resources``)."""

    name: str
    rows_read: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    excluded: int = 0
    notes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def unmapped(self, resource_type: str, reason: str) -> None:
        self.notes[("unmapped", resource_type, reason)] += 1

    def defaulted(self, resource_type: str, reason: str) -> None:
        self.notes[("defaulted", resource_type, reason)] += 1


class _Mapper:
    def __init__(
        self,
        export: _Export,
        pseudonymiser: Pseudonymiser,
        opt_outs: frozenset[str],
        conditions: dict[str, str],
    ) -> None:
        self.export = export
        self.pseudonymiser = pseudonymiser
        self.opt_outs = opt_outs
        self.conditions = conditions
        self.people: dict[str, _Person] = {}

    def person(self, canonical_key: str) -> _Person:
        if canonical_key not in self.people:
            if canonical_key in self.export.ambiguous:
                self.people[canonical_key] = _Person(
                    problem=(
                        "Patient.id",
                        "ambiguous identity: another, different Patient has the same id (quarantined, "
                        "never loaded)",
                    )
                )
            else:
                resource, _ = self.export.patients[canonical_key]
                self.people[canonical_key] = _person(self.export, resource, self.pseudonymiser, self.opt_outs)
        return self.people[canonical_key]

    def subject(self, resource: Mapping[str, Any]) -> _Subject | tuple[str, str]:
        """A resource's subject Patient, or the problem (field, reason) that stops its use."""
        kind = str(resource.get("resourceType"))
        element = "patient" if "patient" in resource and "subject" not in resource else "subject"
        location = f"{kind}.{element}"
        reference = _reference(resource.get("subject")) or _reference(resource.get("patient"))
        if reference is None:
            return (location, "no subject (Patient reference)")
        found = self.export.patients.get(reference)
        if found is None:
            if reference in self.export.ambiguous:
                return (location, "the subject Patient's identity is ambiguous (quarantined, never loaded)")
            return (location, "the subject Patient is not in the export")
        person = self.person(found[1])
        if person.problem is not None:
            return (location, f"the subject Patient was quarantined ({person.problem[1]})")
        return _Subject(found[1], person)

    def map_record(
        self, record: ResourceRecord, outcome: FileOutcome, pending_conditions: list[dict[str, Any]]
    ) -> None:
        outcome.rows_read += 1
        if record.resource is None:
            field_name, reason = record.problem or ("", "unreadable")
            outcome.problems.append((record.row, field_name, reason))
            return
        problems = record_problems(record)
        if problems:
            (location, reason), *others = problems
            more = (
                f" (and {len(others)} more problem(s): {', '.join(where for where, _ in others)})"
                if others
                else ""
            )
            outcome.problems.append((record.row, location, reason + more))  # one row per resource
            return
        resource = record.resource
        kind = str(resource.get("resourceType"))
        # Undo a half-mapped resource's effects if it fails, so every resource is counted once.
        before = (
            Counter(outcome.notes),
            outcome.excluded,
            {name: len(rows) for name, rows in outcome.rows.items()},
        )
        pending = len(pending_conditions)
        try:
            self._map(record, resource, kind, outcome, pending_conditions)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as error:
            # A shape the structural checks let through: this resource alone is quarantined.
            outcome.notes, outcome.excluded = before[0], before[1]
            for name, rows in outcome.rows.items():
                del rows[before[2].get(name, 0) :]
            del pending_conditions[pending:]
            outcome.problems.append(
                (record.row, kind, f"cannot be mapped (unexpected structure: {type(error).__name__})")
            )

    def _map(
        self,
        record: ResourceRecord,
        resource: dict[str, Any],
        kind: str,
        outcome: FileOutcome,
        pending_conditions: list[dict[str, Any]],
    ) -> None:
        if kind == "Patient":
            self._patient(record, resource, outcome)
        elif kind == "Organization":
            outcome.unmapped(kind, "reference data: resolves ODS codes for other records")
        elif kind == "Encounter":
            self._encounter(record, resource, outcome)
        elif kind == "Condition":
            self._condition(record, resource, outcome, pending_conditions)
        elif kind == "Task":
            self._advice(record, resource, outcome)
        elif kind == "ServiceRequest":
            self._referral(record, resource, outcome)
        elif kind == "CommunicationRequest":
            if ADVICE_CODE in _codes(resource.get("category"), ADVICE_CATEGORY_SYSTEM):
                outcome.unmapped(
                    kind, "advice and guidance request: loaded with its Task (state and outcome)"
                )
            else:
                outcome.unmapped(kind, "not an advice and guidance request: no table in the canonical schema")
        elif kind in ("Procedure", "MedicationRequest", "Immunization", "AllergyIntolerance", "Observation"):
            subject = self.subject(resource)
            if isinstance(subject, _Subject) and subject.person.excluded:
                outcome.excluded += 1
            elif kind == "MedicationRequest":
                outcome.unmapped(
                    kind,
                    "patient-level request: the prescribing table holds practice-level dispensing (NHSBSA)",
                )
            else:
                outcome.unmapped(kind, "no table for this resource type in the canonical schema")
        else:
            outcome.unmapped(kind, "no table for this resource type in the canonical schema")

    def _patient(self, record: ResourceRecord, resource: dict[str, Any], outcome: FileOutcome) -> None:
        person = self.person(_reference_keys("Patient", resource, record.full_url)[0])
        if person.problem is not None:
            outcome.problems.append((record.row, *person.problem))
        elif person.excluded:
            outcome.excluded += 1
        else:
            for reason in person.defaulted:
                outcome.defaulted("Patient", reason)
            outcome.unmapped(
                "Patient",
                "identity and demographics, used by the person's other records (no table of people in the canonical schema)",
            )

    def _encounter(self, record: ResourceRecord, resource: dict[str, Any], outcome: FileOutcome) -> None:
        subject = self.subject(resource)
        if not isinstance(subject, _Subject):
            outcome.problems.append((record.row, *subject))
            return
        key, person = subject.key, subject.person
        if person.excluded:
            outcome.excluded += 1
            return
        status = str(resource.get("status") or "")
        if status != "finished":
            outcome.unmapped(
                "Encounter", f"not finished (status {status or 'missing'}): not activity to count"
            )
            return
        encounter_class = _encounter_class(resource)
        types = set(_codes(resource.get("type"), SNOMED))
        stay = types & set(NOT_HOSPITAL_STAYS)
        if stay:
            outcome.unmapped(
                "Encounter",
                f"admission to a {NOT_HOSPITAL_STAYS[min(stay)]}: not a hospital spell or attendance",
            )
        elif encounter_class in INPATIENT_CLASSES:
            self._spell(record, resource, key, person, outcome)
        elif encounter_class == "EMER" or (
            encounter_class in AMBULATORY_CLASSES and URGENT_CARE_CLINIC in types
        ):
            self._attendance(record, resource, key, person, outcome, urgent_care=encounter_class != "EMER")
        elif encounter_class in AMBULATORY_CLASSES:
            treatment = _codes(resource.get("serviceType"), TREATMENT_FUNCTION_SYSTEM)
            if treatment:
                self._appointment(
                    record, resource, person, outcome, treatment[0], types, virtual=encounter_class == "VR"
                )
            else:
                outcome.unmapped(
                    "Encounter",
                    "ambulatory encounter without an NHS treatment function (primary or community care, "
                    "not a hospital outpatient appointment)",
                )
        else:
            outcome.unmapped("Encounter", f"class {encounter_class or 'missing'} has no activity table")

    def _common(
        self, record: ResourceRecord, resource: dict[str, Any], person: _Person, outcome: FileOutcome
    ) -> dict[str, Any]:
        provider, defaulted = self.export.organisation_code(resource.get("serviceProvider"))
        if defaulted:
            outcome.defaulted("Encounter", defaulted)
        if person.practice == PRACTICE_NOT_KNOWN:
            outcome.defaulted("Encounter", "GP practice not recorded: coded V81999 (not known)")
        return {
            "_row": record.row,
            "person_id": person.person_id,
            "gp_practice_code": person.practice,
            "provider_code": provider,
            "sex": person.sex,
        }

    def _paired(self, key: str, kind: str, start: dt.datetime | None, end: dt.datetime | None) -> bool:
        """For an admission (kind 'ae' sought): an A&E attendance ended at most 24 hours before it
        started; for an attendance (kind 'apc' sought): an admission started during it or at most 24
        hours after it ended."""
        for other in self.export.encounters.get(key, []):
            if other.kind != kind:
                continue
            if (
                kind == "ae"
                and start
                and other.start
                and other.end
                and other.start <= start <= other.end + A_AND_E_TO_ADMISSION
            ):
                return True
            if (
                kind == "apc"
                and start
                and end
                and other.start
                and start <= other.start <= end + A_AND_E_TO_ADMISSION
            ):
                return True
        return False

    def _spell(
        self,
        record: ResourceRecord,
        resource: dict[str, Any],
        key: str,
        person: _Person,
        outcome: FileOutcome,
    ) -> None:
        period = resource.get("period") or {}
        start = _wall_clock(period.get("start"))
        method, method_note = self._admission_method(resource, key, start)
        if method is None:
            outcome.unmapped(
                "Encounter",
                "inpatient encounter without an admission method (no UK Core admission method, priority, "
                "admit source, or A&E attendance just before)",
            )
            return
        if method_note:
            outcome.defaulted("Encounter", method_note)
        row = self._common(record, resource, person, outcome)
        diagnosis = self._primary_diagnosis(resource)
        if diagnosis is None:
            diagnosis = "R69X"
            outcome.defaulted(
                "Encounter",
                "no ICD-10 primary diagnosis: coded R69X (unknown and unspecified causes of morbidity)",
            )
        disposition = set(_codes((resource.get("hospitalization") or {}).get("dischargeDisposition")))
        discharge_method = next(iter(_extension_codes(resource, DISCHARGE_METHOD_EXTENSION)), None)
        if discharge_method is None and disposition:
            discharge_method = "4" if disposition & _DIED else "2" if disposition & _LEFT else "1"
        row.update(
            spell_id=resource.get("id"),
            admission_date=_date_text(period.get("start")),
            discharge_date=_date_text(period.get("end")),
            admission_method=method,
            admission_source=None,
            discharge_method=discharge_method,
            primary_diagnosis=diagnosis,
            age=_age(person.birth, start),
        )
        outcome.rows["apc_spells"].append(row)

    def _admission_method(
        self, resource: dict[str, Any], key: str, start: dt.datetime | None
    ) -> tuple[str | None, str | None]:
        uk_core = _extension_codes(resource, ADMISSION_METHOD_EXTENSION)
        if uk_core:
            return uk_core[0], None
        priority = set(_codes(resource.get("priority")))
        admit_source = set(_codes((resource.get("hospitalization") or {}).get("admitSource")))
        if priority & EMERGENCY_PRIORITIES:
            for source, method in EMERGENCY_METHOD_BY_ADMIT_SOURCE.items():
                if source in admit_source:
                    return method, None
            return "2D", "emergency admission without a route of admission: coded 2D (other emergency)"
        if priority & ELECTIVE_PRIORITIES:
            return "11", "elective admission without waiting list, booked or planned: coded 11 (waiting list)"
        if "emd" in admit_source:
            return "21", None
        if self._paired(key, "ae", start, None):
            return (
                "21",
                "admission method inferred from an A&E attendance ending at most 24 hours before: coded 21",
            )
        return None, None

    def _primary_diagnosis(self, resource: dict[str, Any]) -> str | None:
        ranked = sorted(
            (item for item in resource.get("diagnosis") or [] if isinstance(item, dict)),
            key=lambda item: int(item.get("rank") or 99),
        )
        for item in ranked:
            code = self._icd10_of(item.get("condition"))
            if code:
                return code
        for concept in resource.get("reasonCode") or []:
            for raw in _codes(concept, ICD10_SYSTEM_PREFIX, prefix=True):
                code = _icd10(raw)
                if code:
                    return code
        return None

    def _icd10_of(self, condition: Any) -> str | None:
        """ICD-10 code of an Encounter.diagnosis condition: a Reference to a Condition (R4), or a
        CodeableReference carrying the concept itself (R5)."""
        if not isinstance(condition, dict):
            return None
        reference = _reference(condition) or _reference(condition.get("reference"))
        if reference and reference in self.export.condition_icd10:
            return self.export.condition_icd10[reference]
        for raw in _codes(condition.get("concept"), ICD10_SYSTEM_PREFIX, prefix=True):
            code = _icd10(raw)
            if code:
                return code
        return None

    def _attendance(
        self,
        record: ResourceRecord,
        resource: dict[str, Any],
        key: str,
        person: _Person,
        outcome: FileOutcome,
        *,
        urgent_care: bool,
    ) -> None:
        period = resource.get("period") or {}
        start, end = _wall_clock(period.get("start")), _wall_clock(period.get("end"))
        row = self._common(record, resource, person, outcome)
        if not urgent_care:
            outcome.defaulted("Encounter", "A&E department type not recorded: coded 1 (major A&E)")
        outcome.defaulted("Encounter", "arrival mode not recorded: coded 2 (not by ambulance)")
        disposition = set(_codes((resource.get("hospitalization") or {}).get("dischargeDisposition")))
        if disposition & _DIED:
            disposal = "died"
        elif disposition & _LEFT:
            disposal = "left"
        elif disposition & _TRANSFERRED:
            disposal = "transferred"
        elif disposition & _HOME:
            disposal = "discharged"
        elif self._paired(key, "apc", start, end):
            disposal = "admitted"
        else:
            disposal = "discharged"
            outcome.defaulted(
                "Encounter", "A&E disposal not recorded and no admission followed: coded discharged"
            )
        row.update(
            attendance_id=resource.get("id"),
            arrival_time=_time_text(period.get("start")),
            departure_time=_time_text(period.get("end")),
            department_type="3" if urgent_care else "1",
            arrival_mode="2",
            disposal=disposal,
            age=_age(person.birth, start),
        )
        outcome.rows["ae_attendances"].append(row)

    def _appointment(
        self,
        record: ResourceRecord,
        resource: dict[str, Any],
        person: _Person,
        outcome: FileOutcome,
        treatment_function: str,
        types: set[str],
        *,
        virtual: bool,
    ) -> None:
        period = resource.get("period") or {}
        follow_up = FOLLOW_UP_ENCOUNTER in types
        if not follow_up:
            outcome.defaulted(
                "Encounter", "first or follow-up not recorded (no follow-up encounter type): coded first"
            )
        first_attendance = {(False, False): "1", (True, False): "2", (False, True): "3", (True, True): "4"}[
            (follow_up, virtual)
        ]
        row = self._common(record, resource, person, outcome)
        row.update(
            appointment_id=resource.get("id"),
            appointment_date=_date_text(period.get("start")),
            first_attendance=first_attendance,
            attended="5",
            treatment_specialty=treatment_function,
            age=_age(person.birth, _wall_clock(period.get("start"))),
        )
        outcome.rows["op_attendances"].append(row)

    def _condition(
        self,
        record: ResourceRecord,
        resource: dict[str, Any],
        outcome: FileOutcome,
        pending: list[dict[str, Any]],
    ) -> None:
        subject = self.subject(resource)
        if not isinstance(subject, _Subject):
            outcome.problems.append((record.row, *subject))
            return
        person = subject.person
        if person.excluded:
            outcome.excluded += 1
            return
        verification = set(_codes(resource.get("verificationStatus")))
        if verification & {"refuted", "entered-in-error"}:
            outcome.unmapped("Condition", "not a confirmed diagnosis (refuted or entered in error)")
            return
        snomed = _codes(resource.get("code"), SNOMED)
        condition = next((self.conditions[code] for code in snomed if code in self.conditions), None)
        if condition is None:
            reason = "SNOMED CT code not in the condition map" if snomed else "no SNOMED CT code"
            outcome.unmapped("Condition", reason)
            return
        onset = resource.get("onsetDateTime") or (resource.get("onsetPeriod") or {}).get("start")
        pending.append(
            {
                "_row": record.row,
                "person_id": person.person_id,
                "condition": condition,
                "diagnosis_date": _date_text(onset or resource.get("recordedDate")),
            }
        )

    def _advice(self, record: ResourceRecord, resource: dict[str, Any], outcome: FileOutcome) -> None:
        if ADVICE_CODE not in _codes(resource.get("code"), ADVICE_CATEGORY_SYSTEM):
            outcome.unmapped("Task", "not an advice and guidance Task: no table in the canonical schema")
            return
        subject = self.subject({"resourceType": "Task", "subject": resource.get("for")})
        if not isinstance(subject, _Subject):
            outcome.problems.append((record.row, "Task.for", subject[1]))
            return
        if subject.person.excluded:
            outcome.excluded += 1
            return
        state = next(iter(_codes(resource.get("businessStatus"), ADVICE_STATE_SYSTEM)), "")
        if state not in _ADVICE_OUTCOMES:
            outcome.unmapped(
                "Task", f"advice and guidance still open ({state or 'no state'}): no outcome yet"
            )
            return
        request = self.export.advice_requests.get(_reference(resource.get("focus")) or "")
        if request is None:
            outcome.problems.append(
                (record.row, "Task.focus", "its advice and guidance request is not in the export")
            )
            return
        provider, defaulted = self.export.organisation_code(resource.get("owner"))
        if defaulted:
            outcome.defaulted("Task", defaulted)
        period = resource.get("executionPeriod") or {}
        response_outcome = _ADVICE_OUTCOMES[state]
        outcome.rows["advice_and_guidance"].append(
            {
                "_row": record.row,
                "person_id": subject.person.person_id,
                "request_id": request.get("id"),
                "gp_practice_code": subject.person.practice,
                "provider_code": provider,
                "request_date": _date_text(request.get("authoredOn")),
                "response_date": _date_text(period.get("start")),
                "treatment_specialty": next(
                    iter(_codes(request.get("category"), TREATMENT_FUNCTION_SYSTEM)), None
                ),
                "outcome": "referred"
                if response_outcome in ("converted", "referral_advised")
                else "referral_avoided",
                "intended_referral": _yes_no(request, WOULD_OTHERWISE_REFER_EXTENSION),
                "authorised_to_convert": _yes_no(request, AUTHORISED_TO_CONVERT_EXTENSION),
                "response_outcome": response_outcome,
            }
        )

    def _referral(self, record: ResourceRecord, resource: dict[str, Any], outcome: FileOutcome) -> None:
        specialty = next(
            iter(
                _codes(resource.get("category"), TREATMENT_FUNCTION_SYSTEM)
                + _codes(resource.get("code"), TREATMENT_FUNCTION_SYSTEM)
            ),
            None,
        )
        if specialty is None:
            outcome.unmapped(
                "ServiceRequest", "no NHS treatment function: not a referral to a consultant-led service"
            )
            return
        status = str(resource.get("status") or "")
        if status not in ("active", "completed"):
            outcome.unmapped("ServiceRequest", f"status {status or 'missing'}: not a referral made")
            return
        subject = self.subject(resource)
        if not isinstance(subject, _Subject):
            outcome.problems.append((record.row, *subject))
            return
        if subject.person.excluded:
            outcome.excluded += 1
            return
        performers = resource.get("performer") or []
        provider, defaulted = self.export.organisation_code(performers[0] if performers else None)
        if defaulted:
            outcome.defaulted("ServiceRequest", defaulted)
        priority = str(resource.get("priority") or "")
        if priority not in ("routine", "urgent"):
            outcome.defaulted(
                "ServiceRequest",
                "priority asap or stat coded urgent" if priority else "priority not recorded: coded routine",
            )
        based = [
            self.export.advice_requests[ref]
            for ref in (_reference(item) for item in resource.get("basedOn") or [])
            if ref and ref in self.export.advice_requests
        ]
        outcome.rows["referrals"].append(
            {
                "_row": record.row,
                "person_id": subject.person.person_id,
                "referral_id": resource.get("id"),
                "gp_practice_code": subject.person.practice,
                "provider_code": provider,
                "referral_date": _date_text(resource.get("authoredOn")),
                "treatment_specialty": specialty,
                "priority": priority
                if priority in ("routine", "urgent")
                else ("urgent" if priority else "routine"),
                "advice_request_id": based[0].get("id") if based else None,
            }
        )


# The advice and guidance Task's closing states -> the warehouse's e-RS outcome.
_ADVICE_OUTCOMES = {
    "advice-given": "advice_given",
    "converted": "converted",
    "referral-advised": "referral_advised",
    "withdrawn": "withdrawn",
}


def _yes_no(resource: Mapping[str, Any], url: str) -> str | None:
    for extension in resource.get("extension") or []:
        if (
            isinstance(extension, dict)
            and extension.get("url") == url
            and isinstance(extension.get("valueBoolean"), bool)
        ):
            return "Y" if extension["valueBoolean"] else "N"
    return None


def _icd10(raw: str) -> str | None:
    match = _ICD10.match(raw.strip().upper())
    if not match:
        return None
    return match.group(1) + (match.group(2) or "X")


_LATER_CONDITION = "a later record of a condition already recorded for the person"


def _keep_first_conditions(pending: list[list[dict[str, Any]]], outcomes: list[FileOutcome]) -> None:
    """One row per person and condition across the whole export (a bulk export may split Conditions
    over several files): the earliest dated record (the table's meaning), in the file it came from;
    each other record is counted as unmapped in its own file. Undated records go on, to be
    quarantined by the validator."""
    earliest: dict[tuple[str, str], tuple[str, int, int, dict[str, Any]]] = {}
    kept: list[list[dict[str, Any]]] = [[] for _ in outcomes]
    for index, rows in enumerate(pending):
        for row in rows:
            date = row["diagnosis_date"]
            if date is None or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", date):
                kept[index].append(row)
                continue
            group = (row["person_id"], row["condition"])
            candidate = (date, index, int(row["_row"]), row)
            known = earliest.get(group)
            if known is None or candidate[:3] < known[:3]:
                if known is not None:
                    outcomes[known[1]].unmapped("Condition", _LATER_CONDITION)
                earliest[group] = candidate
            else:
                outcomes[index].unmapped("Condition", _LATER_CONDITION)
    for _, index, _, row in earliest.values():
        kept[index].append(row)
    for index, rows in enumerate(kept):
        if rows:
            outcomes[index].rows["conditions"].extend(sorted(rows, key=lambda row: int(row["_row"])))


def map_resources(
    sources: list[tuple[str, list[ResourceRecord]]],
    *,
    pseudonymiser: Pseudonymiser,
    opt_outs: frozenset[str],
    options: FhirOptions,
) -> list[FileOutcome]:
    """Map the resources of one export, given as (source name, records) pairs, to canonical rows:
    references resolve across all the sources; one ``FileOutcome`` per source, in order."""
    export = _Export((record for _, records in sources for record in records), options)
    mapper = _Mapper(export, pseudonymiser, opt_outs, condition_map(options))
    outcomes = []
    pending: list[list[dict[str, Any]]] = []
    for name, records in sources:
        outcome = FileOutcome(name)
        pending_conditions: list[dict[str, Any]] = []
        for record in records:
            mapper.map_record(record, outcome, pending_conditions)
        outcomes.append(outcome)
        pending.append(pending_conditions)
    _keep_first_conditions(pending, outcomes)
    return outcomes
