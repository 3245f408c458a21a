"""FHIR R4 loader: bulk-export NDJSON (plain or gzip) and Bundles (JSON) into the canonical tables.

A set of FHIR files is loaded together (references between them are resolved across files), one
batch per file, all in one warehouse transaction. Every resource read is accounted for in its
file's batch: loaded as a row, quarantined (with file, row = line or Bundle entry, field, reason),
excluded by a National Data Opt-out, or counted as unmapped by reason. Values the loader had to
supply because FHIR did not carry them (an unknown GP practice, a default code) are counted by
reason too ("defaulted"), so nothing is dropped or invented silently.

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
- Procedure, MedicationRequest and other types: no patient-level table in the canonical schema,
  counted as unmapped.

Boundaries: identifiable values (NHS numbers, local identifiers) stay in memory and become
pseudonyms before rows are staged; nothing here writes to disk except through ``write_batches``.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import json
import os
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from caremodels.errors import DataError
from caremodels.ingest.load import (
    LoadResult,
    PreparedBatch,
    TableRows,
    existing_batches,
    file_hash,
    good_rows_sql,
    recorded_result,
    result_of,
    strict_failure,
    write_batches,
)
from caremodels.ingest.mapping import FhirOptions, LoadedMapping
from caremodels.ingest.pseudonymise import Pseudonymiser
from caremodels.ingest.validate import (
    check_staged,
    is_nhs_number,
    problem_frame,
    quote,
    staging_connection,
    text_expression,
)
from caremodels.warehouse.schema import SOURCE_TABLES
from caremodels.warehouse.store import Warehouse

__all__ = ["condition_map", "is_fhir_file", "load_fhir"]

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEMS = ("https://fhir.nhs.uk/Id/ods-organization-code", "https://fhir.nhs.uk/Id/ods-site-code")
SNOMED = "http://snomed.info/sct"
ICD10_SYSTEM_PREFIX = "http://hl7.org/fhir/sid/icd-10"  # also -uk (NHS) and -cm (US)
TREATMENT_FUNCTION_SYSTEM = "https://fhir.nhs.uk/CodeSystem/NHSDataModelAndDictionary-treatment-function"
ADMISSION_METHOD_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AdmissionMethod"
DISCHARGE_METHOD_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DischargeMethod"

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


def is_fhir_file(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".ndjson", ".ndjson.gz", ".json", ".json.gz"))


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
class _Record:
    file: str
    row: int
    resource: dict[str, Any] | None
    problem: tuple[str, str] | None = None
    full_url: str | None = None


_GZIP_MAGIC = b"\x1f\x8b"


def check_readable(path: Path) -> None:
    """Refuse, before anything is read, a FHIR file that cannot be read at all: missing, unreadable,
    named ``.gz`` but not gzip-compressed, or gzip-compressed but not named ``.gz``."""
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
    except FileNotFoundError as error:
        raise DataError("no such file", file=path) from error
    except OSError as error:
        raise DataError(f"cannot read the file ({type(error).__name__})", file=path) from error
    compressed = path.name.lower().endswith(".gz")
    if compressed and head != _GZIP_MAGIC:
        raise DataError(
            "the file is named .gz but is not gzip-compressed: rename it without .gz, or compress it",
            file=path,
        )
    if not compressed and head == _GZIP_MAGIC:
        raise DataError("the file is gzip-compressed but not named .gz: add .gz to its name", file=path)


def _open_text_lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        yield from handle


def _read_records(path: Path) -> Iterator[_Record]:
    """Every resource in a file, with its row (NDJSON line, or Bundle entry number)."""
    name = path.name
    lower = name.lower()
    if lower.endswith((".ndjson", ".ndjson.gz")):
        row = 0
        try:
            for line in _open_text_lines(path):
                row += 1
                if not line.strip():
                    continue
                yield _parse_line(name, row, line)
        except (EOFError, gzip.BadGzipFile, zlib.error):
            yield _Record(name, row + 1, None, ("", "file truncated (the compressed stream ends early)"))
        return
    try:
        opener = gzip.open if lower.endswith(".gz") else open
        with opener(path, "rb") as handle:
            document = json.loads(handle.read())
    except (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError, json.JSONDecodeError):
        yield _Record(name, 1, None, ("", "not valid JSON (truncated or corrupted file)"))
        return
    if not isinstance(document, dict) or "resourceType" not in document:
        yield _Record(name, 1, None, ("resourceType", "not a FHIR resource (no resourceType)"))
        return
    if document["resourceType"] != "Bundle":
        yield _Record(name, 1, document)
        return
    for index, entry in enumerate(document.get("entry") or [], start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or "resourceType" not in resource:
            yield _Record(name, index, None, ("entry.resource", "Bundle entry without a resource"))
        else:
            yield _Record(name, index, resource, full_url=entry.get("fullUrl"))


def _parse_line(name: str, row: int, line: bytes) -> _Record:
    try:
        resource = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return _Record(name, row, None, ("", "not valid UTF-8 text"))
    except json.JSONDecodeError:
        return _Record(name, row, None, ("", "not valid JSON (truncated or malformed line)"))
    if not isinstance(resource, dict) or "resourceType" not in resource:
        return _Record(name, row, None, ("resourceType", "not a FHIR resource (no resourceType)"))
    return _Record(name, row, resource)


def _codings(concept: Any) -> list[dict[str, Any]]:
    if isinstance(concept, dict):
        return [coding for coding in concept.get("coding") or [] if isinstance(coding, dict)]
    if isinstance(concept, list):
        return [coding for item in concept for coding in _codings(item)]
    return []


def _codes(concept: Any, system: str | None = None, *, prefix: bool = False) -> list[str]:
    found = []
    for coding in _codings(concept):
        coding_system = str(coding.get("system") or "")
        wanted = system is None or coding_system == system or (prefix and coding_system.startswith(system))
        if wanted and coding.get("code") is not None:
            found.append(str(coding["code"]))
    return found


def _extension_codes(resource: Mapping[str, Any], url: str) -> list[str]:
    found = []
    for extension in resource.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == url:
            found += _codes(extension.get("valueCodeableConcept"))
            if extension.get("valueCoding"):
                found += _codes({"coding": [extension["valueCoding"]]})
            if extension.get("valueCode"):
                found.append(str(extension["valueCode"]))
    return found


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


def _reference_keys(resource_type: str, resource: Mapping[str, Any], full_url: str | None) -> list[str]:
    keys = [f"{resource_type}/{resource.get('id')}"]
    if full_url:
        keys.append(full_url)
    for identifier in resource.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") and identifier.get("value"):
            keys.append(f"{resource_type}?identifier={identifier['system']}|{identifier['value']}")
    return keys


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

    def __init__(self, paths: list[Path], options: FhirOptions) -> None:
        self.options = options
        self.organisations: dict[str, _Organisation] = {}
        self.patients: dict[str, tuple[dict[str, Any], str]] = {}  # reference -> (resource, canonical key)
        self.encounters: dict[str, list[_EncounterSummary]] = defaultdict(list)
        self.condition_icd10: dict[str, str] = {}  # Condition reference -> its ICD-10 code, for diagnoses
        pending_encounters: list[tuple[str, dict[str, Any]]] = []
        for path in paths:
            for record in _read_records(path):
                resource = record.resource
                if resource is None:
                    continue
                kind = resource.get("resourceType")
                if kind == "Organization":
                    keys = _reference_keys("Organization", resource, record.full_url)
                    organisation = _Organisation(self._ods_code(resource, keys), _country(resource), keys)
                    for key in keys:
                        self.organisations[key] = organisation
                elif kind == "Patient":
                    keys = _reference_keys("Patient", resource, record.full_url)
                    for key in keys:
                        self.patients[key] = (resource, keys[0])
                elif kind == "Condition":
                    codes = [
                        _icd10(raw) for raw in _codes(resource.get("code"), ICD10_SYSTEM_PREFIX, prefix=True)
                    ]
                    icd10 = next((code for code in codes if code), None)
                    if icd10:
                        for key in _reference_keys("Condition", resource, record.full_url):
                            self.condition_icd10[key] = icd10
                elif kind == "Encounter":
                    reference = _reference(resource.get("subject"))
                    if reference:
                        pending_encounters.append((reference, _encounter_summary_fields(resource)))
        for reference, fields in pending_encounters:
            patient = self.patients.get(reference)
            if patient is not None and fields["kind"]:
                self.encounters[patient[1]].append(
                    _EncounterSummary(patient[1], fields["kind"], fields["start"], fields["end"])
                )

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


def _reference(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
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
    nhs_numbers = [
        str(identifier.get("value") or "").replace(" ", "")
        for identifier in resource.get("identifier") or []
        if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER_SYSTEM
    ]
    if nhs_numbers:
        number = nhs_numbers[0]
        if not is_nhs_number(number):
            person.problem = ("identifier", "invalid NHS number (format or check digit)")
            return person
        if number in opt_outs:
            person.excluded = True
            return person
        person.person_id = pseudonymiser.pseudonym(number)
    else:
        local = _local_identifier(resource)
        if local is None:
            person.problem = ("identifier", "no NHS number and no other identifier")
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
class _FileOutcome:
    path: Path
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
            resource, _ = self.export.patients[canonical_key]
            self.people[canonical_key] = _person(self.export, resource, self.pseudonymiser, self.opt_outs)
        return self.people[canonical_key]

    def subject(self, resource: Mapping[str, Any]) -> _Subject | tuple[str, str]:
        """A resource's subject Patient, or the problem (field, reason) that stops its use."""
        reference = _reference(resource.get("subject")) or _reference(resource.get("patient"))
        if reference is None:
            return ("subject", "no subject (Patient reference)")
        found = self.export.patients.get(reference)
        if found is None:
            return ("subject", "the subject Patient is not in the export")
        person = self.person(found[1])
        if person.problem is not None:
            return ("subject", f"the subject Patient was quarantined ({person.problem[1]})")
        return _Subject(found[1], person)

    def map_record(
        self, record: _Record, outcome: _FileOutcome, pending_conditions: list[dict[str, Any]]
    ) -> None:
        outcome.rows_read += 1
        if record.resource is None:
            field_name, reason = record.problem or ("", "unreadable")
            outcome.problems.append((record.row, field_name, reason))
            return
        resource = record.resource
        kind = str(resource.get("resourceType"))
        if kind == "Patient":
            self._patient(record, resource, outcome)
        elif kind == "Organization":
            outcome.unmapped(kind, "reference data: resolves ODS codes for other records")
        elif kind == "Encounter":
            self._encounter(record, resource, outcome)
        elif kind == "Condition":
            self._condition(record, resource, outcome, pending_conditions)
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

    def _patient(self, record: _Record, resource: dict[str, Any], outcome: _FileOutcome) -> None:
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

    def _encounter(self, record: _Record, resource: dict[str, Any], outcome: _FileOutcome) -> None:
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
        self, record: _Record, resource: dict[str, Any], person: _Person, outcome: _FileOutcome
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
        self, record: _Record, resource: dict[str, Any], key: str, person: _Person, outcome: _FileOutcome
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
        record: _Record,
        resource: dict[str, Any],
        key: str,
        person: _Person,
        outcome: _FileOutcome,
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
        record: _Record,
        resource: dict[str, Any],
        person: _Person,
        outcome: _FileOutcome,
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
        self, record: _Record, resource: dict[str, Any], outcome: _FileOutcome, pending: list[dict[str, Any]]
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


def _icd10(raw: str) -> str | None:
    match = _ICD10.match(raw.strip().upper())
    if not match:
        return None
    return match.group(1) + (match.group(2) or "X")


def _keep_first_conditions(pending: list[dict[str, Any]], outcome: _FileOutcome) -> None:
    """One row per person and condition: the earliest dated record (the table's meaning); the others
    are counted. Undated records go on, to be quarantined by the validator."""
    earliest: dict[tuple[str, str], dict[str, Any]] = {}
    undated: list[dict[str, Any]] = []
    for row in pending:
        date = row["diagnosis_date"]
        if date is None or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", date):
            undated.append(row)
            continue
        group = (row["person_id"], row["condition"])
        kept = earliest.get(group)
        if kept is None or (date, row["_row"]) < (kept["diagnosis_date"], kept["_row"]):
            if kept is not None:
                outcome.unmapped("Condition", "a later record of a condition already recorded for the person")
            earliest[group] = row
        else:
            outcome.unmapped("Condition", "a later record of a condition already recorded for the person")
    rows = sorted([*earliest.values(), *undated], key=lambda row: int(row["_row"]))
    if rows:
        outcome.rows["conditions"].extend(rows)


def _group_name(paths: list[Path]) -> str:
    """The export's name: the folder holding its files (their common folder)."""
    common = Path(os.path.commonpath([str(path.resolve().parent) for path in paths]))
    return common.name or "fhir"


def load_fhir(
    warehouse: Warehouse,
    paths: list[Path],
    *,
    pseudonymiser: Pseudonymiser,
    opt_outs: frozenset[str] = frozenset(),
    strict: bool = False,
    today: dt.date | None = None,
    mapping: LoadedMapping | None = None,
    failures: list[DataError] | None = None,
    replace_overlapping: bool = False,
) -> list[LoadResult]:
    """Load a set of FHIR files (one export) as one batch per file, in one transaction.

    A file that cannot be read at all (``check_readable``) raises DataError; with a ``failures`` list
    it is appended there instead and the other files load without it.
    """
    readable = []
    for path in paths:
        try:
            check_readable(path)
        except DataError as error:
            if failures is None:
                raise
            failures.append(error)
        else:
            readable.append(path)
    paths = readable
    if not paths:
        return []
    if warehouse.key_fingerprint() not in (None, pseudonymiser.fingerprint):
        warehouse.claim_key(pseudonymiser.fingerprint)  # raises KeyMismatchError before reading
    today = today or dt.date.today()
    paths = sorted(paths, key=lambda path: path.name)
    group = _group_name(paths)
    hashes = {path: file_hash(path) for path in paths}
    group_hash = hashlib.sha256(
        "".join(f"{path.name}:{hashes[path]};" for path in paths).encode()
        + (mapping.content_hash.encode() if mapping else b"")
    ).hexdigest()
    batch_ids = {
        path: "fhir-" + hashlib.sha256(f"{group_hash}:{path.name}".encode()).hexdigest()[:16]
        for path in paths
    }
    sources = {path: f"{group}/{path.name}" for path in paths}
    previous = {path: existing_batches(warehouse, table=None, source=sources[path]) for path in paths}
    if all(any(old == batch_ids[path] for old, _ in previous[path]) for path in paths):
        return [recorded_result(warehouse, batch_ids[path], file=path.name) for path in paths]

    options = mapping.mapping.fhir if mapping else FhirOptions()
    export = _Export(paths, options)
    mapper = _Mapper(export, pseudonymiser, opt_outs, condition_map(options))
    outcomes = []
    for path in paths:
        outcome = _FileOutcome(path)
        pending_conditions: list[dict[str, Any]] = []
        for record in _read_records(path):
            mapper.map_record(record, outcome, pending_conditions)
        _keep_first_conditions(pending_conditions, outcome)
        outcomes.append(outcome)

    staging = staging_connection()
    try:
        batches = []
        for index, outcome in enumerate(outcomes):
            path = outcome.path
            problems = [pd.DataFrame(outcome.problems, columns=["row_number", "field", "reason"])]
            rows: list[TableRows] = []
            for table in sorted(outcome.rows):
                spec = SOURCE_TABLES[table]
                staged = f"staged_{index}_{table}"
                _stage_rows(staging, staged, table, outcome.rows[table])
                checked = check_staged(
                    staging,
                    staged,
                    spec,
                    typed_columns={},
                    today=today,
                    expected_formats={
                        column.name: _FHIR_FORMAT
                        for column in spec.columns
                        if column.type in ("date", "timestamp")
                    },
                    person_column="person_id",
                    result=f"checked_{index}_{table}",
                )
                problems.append(problem_frame(staging, checked))
                rows.append(good_rows_sql(spec, checked, batch_id=batch_ids[path], pseudonyms=None))
            all_problems = pd.concat(problems, ignore_index=True).astype({"row_number": "int64"})
            all_problems = all_problems.sort_values("row_number", kind="stable", ignore_index=True)
            if strict and len(all_problems):
                raise strict_failure(all_problems, path)
            batches.append(
                PreparedBatch(
                    batch_id=batch_ids[path],
                    source=sources[path],
                    file=path.name,
                    table_names=tuple(sorted(outcome.rows)),
                    content_hash=hashes[path],
                    source_format="fhir-ndjson" if ".ndjson" in path.name.lower() else "fhir-json",
                    mapping=mapping.label if mapping else "",
                    rows_read=outcome.rows_read,
                    problems=all_problems,
                    excluded=outcome.excluded,
                    rows=rows,
                    notes=dict(outcome.notes),
                    replaces=previous[path],
                )
            )
        loaded = write_batches(
            warehouse,
            staging,
            batches,
            pseudonymiser_fingerprint=pseudonymiser.fingerprint,
            replace_overlapping=replace_overlapping,
        )
    finally:
        staging.close()
    return [result_of(batch, loaded[batch.batch_id]) for batch in batches]


def _stage_rows(connection: Any, name: str, table: str, rows: list[dict[str, Any]]) -> None:
    spec = SOURCE_TABLES[table]
    columns = ["_row", "person_id", *(column.name for column in spec.columns if column.name != "nhs_number")]
    frame = pd.DataFrame(rows, columns=columns).astype({"_row": "int64"})
    for column in columns[1:]:
        frame[column] = frame[column].astype("string")
    connection.register("_fhir_rows", frame)
    try:
        selects = ["_row", "person_id"] + [
            f"{text_expression(quote(column.name), column)} AS {quote(column.name)}"
            for column in spec.columns
            if column.name != "nhs_number"
        ]
        connection.execute(
            f"CREATE OR REPLACE TABLE {quote(name)} AS SELECT {', '.join(selects)} FROM _fhir_rows"
        )
    finally:
        connection.unregister("_fhir_rows")
