"""FHIR R4 NDJSON export of a sample of the synthetic patients: Patient, Encounter, Condition and
Organization resources, with the UK Core identifier systems for NHS numbers and ODS codes.

One resource per line, keys sorted, resource ids derived from the seed and stable keys (UUID 5), so the
same run always writes the same bytes. Encounters come from hospital spells (inpatient), A&E
attendances (emergency) and attended outpatient appointments (ambulatory).

Boundaries: reads the practice's tables in memory; writes ``fhir/<Resource>.ndjson`` in the output folder.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from caremodels.reference.fhir import (
    ADMISSION_METHOD_EXTENSION,
    DISCHARGE_METHOD_EXTENSION,
    ICD10_SYSTEM_PREFIX,
    NHS_NUMBER_SYSTEM,
    ODS_SYSTEMS,
    SNOMED,
    TREATMENT_FUNCTION_SYSTEM,
)
from caremodels.synth.activity import PracticeOutput

__all__ = ["FhirWriter"]

# The systems the reader (caremodels.ingest) maps, from the shared resource-access module.
ODS_SYSTEM = ODS_SYSTEMS[0]
ICD10_SYSTEM = ICD10_SYSTEM_PREFIX
SNOMED_SYSTEM = SNOMED
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DISCHARGE_DISPOSITION_SYSTEM = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
ADMISSION_METHOD_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdmissionMethodEngland"
DISCHARGE_METHOD_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-DischargeMethodEngland"
URGENT_CARE_CLINIC = ("702927004", "Urgent care clinic")  # SNOMED CT: A&E types 3 and 4
FOLLOW_UP_ENCOUNTER = ("390906007", "Follow-up encounter")  # SNOMED CT
# A&E disposals as FHIR discharge dispositions (an admission is shown by the spell that follows).
_AE_DISPOSITIONS = {"discharged": "home", "referred": "home", "transferred": "other-hcf", "left": "aadvice"}
_PROFILE = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-{}"
_NAMESPACE = uuid.UUID("5b0c7a8e-6f1d-4a55-9d0e-3c9a1f2e7b40")  # caremodels synthetic FHIR ids
# SNOMED CT concepts for the long-term conditions, in the order of ``rates.CONDITIONS``.
CONDITION_CONCEPTS = {
    "hypertension": ("38341003", "Hypertensive disorder, systemic arterial"),
    "diabetes": ("73211009", "Diabetes mellitus"),
    "copd": ("13645005", "Chronic obstructive lung disease"),
    "asthma": ("195967001", "Asthma"),
    "chd": ("414545008", "Ischemic heart disease"),
    "heart_failure": ("84114007", "Heart failure"),
    "atrial_fibrillation": ("49436004", "Atrial fibrillation"),
    "stroke": ("230690007", "Cerebrovascular accident"),
    "ckd": ("709044004", "Chronic kidney disease"),
    "dementia": ("52448006", "Dementia"),
    "cancer": ("363346000", "Malignant neoplastic disease"),
    "depression": ("35489007", "Depressive disorder"),
    "serious_mental_illness": ("69322001", "Psychotic disorder"),
}
_RESOURCES = ("Patient", "Encounter", "Condition", "Organization")


def _id(seed: int, kind: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{seed}/{kind}/{key}"))


def _day(value: dt.date) -> str:
    return value.isoformat()


def _instant(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class FhirWriter:
    """Writes the sampled patients of each practice as they arrive, and the organisations at the end."""

    def __init__(self, folder: Path, seed: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self.paths = {name: folder / f"{name}.ndjson" for name in _RESOURCES}
        self._handles: dict[str, TextIO] = {
            name: path.open("w", encoding="utf-8", newline="\n") for name, path in self.paths.items()
        }
        self._organizations: dict[str, str] = {}
        self._left_ae: dict[tuple[str, dt.date], dt.datetime] = {}
        self.counts = dict.fromkeys(_RESOURCES, 0)

    def _write(self, resource: dict[str, Any]) -> None:
        kind = resource["resourceType"]
        self._handles[kind].write(json.dumps(resource, sort_keys=True, separators=(",", ":")) + "\n")
        self.counts[kind] += 1

    def _organization(self, code: str, role: str) -> dict[str, Any]:
        self._organizations.setdefault(code, role)
        return {
            "reference": f"Organization/{_id(self.seed, 'Organization', code)}",
            "identifier": {"system": ODS_SYSTEM, "value": code},
        }

    def add(self, output: PracticeOutput) -> None:
        people = output.people
        if people is None or len(output.fhir_people) == 0:
            return
        sampled = np.array(people.nhs_number.take(pa.array(output.fhir_people, type=pa.int64())).to_pylist())
        patient_ids = {
            str(number): _id(self.seed, "Patient", f"{output.practice_code}/{index}")
            for number, index in zip(sampled, output.fhir_people, strict=True)
        }
        practice = self._organization(output.practice_code, "GP practice")
        for index, number in zip(output.fhir_people, sampled, strict=True):
            patient: dict[str, Any] = {
                "resourceType": "Patient",
                "id": patient_ids[str(number)],
                "meta": {"profile": [_PROFILE.format("Patient")]},
                "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": str(number)}],
                "gender": "male" if people.sex[index] == 0 else "female",
                "birthDate": str(np.datetime64(int(people.birth[index]), "D")),
                "generalPractitioner": [practice],
            }
            if people.died[index]:
                patient["deceasedDateTime"] = str(np.datetime64(int(people.exit[index]), "D"))
            self._write(patient)
        wanted = pa.array(sampled.astype(str))
        # An admission through A&E starts when the patient leaves A&E: give the spell that time, so
        # that readers can pair the two (the spell file itself holds dates only).
        attendances = output.tables["ae_attendances"]
        admitted = attendances.filter(
            pc.and_(
                pc.is_in(attendances["nhs_number"], wanted), pc.equal(attendances["disposal"], "admitted")
            )
        )
        self._left_ae = {
            (row["nhs_number"], row["arrival_time"].date()): row["departure_time"]
            for row in admitted.select(["nhs_number", "arrival_time", "departure_time"]).to_pylist()
        }
        self._encounters(output.tables["apc_spells"], wanted, patient_ids, "apc")
        self._encounters(output.tables["ae_attendances"], wanted, patient_ids, "ae")
        self._encounters(output.tables["op_attendances"], wanted, patient_ids, "op")
        conditions = output.tables["conditions"].filter(
            pc.is_in(output.tables["conditions"]["nhs_number"], wanted)
        )
        for row in conditions.to_pylist():
            code, display = CONDITION_CONCEPTS[row["condition"]]
            self._write(
                {
                    "resourceType": "Condition",
                    "id": _id(self.seed, "Condition", f"{patient_ids[row['nhs_number']]}/{row['condition']}"),
                    "meta": {"profile": [_PROFILE.format("Condition")]},
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "verificationStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                "code": "confirmed",
                            }
                        ]
                    },
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                    "code": "problem-list-item",
                                }
                            ]
                        }
                    ],
                    "code": {"coding": [{"system": SNOMED_SYSTEM, "code": code, "display": display}]},
                    "subject": {"reference": f"Patient/{patient_ids[row['nhs_number']]}"},
                    "onsetDateTime": _day(row["diagnosis_date"]),
                    "recordedDate": _day(row["diagnosis_date"]),
                }
            )

    def _encounters(self, table: pa.Table, wanted: pa.Array, patient_ids: dict[str, str], kind: str) -> None:
        rows = table.filter(pc.is_in(table["nhs_number"], wanted))
        if kind == "op":
            rows = rows.filter(pc.is_in(rows["attended"], pa.array(["5", "6"])))
        for row in rows.to_pylist():
            provider = self._organization(row["provider_code"], "NHS trust")
            encounter: dict[str, Any] = {
                "resourceType": "Encounter",
                "meta": {"profile": [_PROFILE.format("Encounter")]},
                "status": "finished",
                "subject": {"reference": f"Patient/{patient_ids[row['nhs_number']]}"},
                "serviceProvider": provider,
            }
            if kind == "apc":
                encounter["id"] = _id(self.seed, "Encounter", row["spell_id"])
                encounter["class"] = {
                    "system": ACT_CODE_SYSTEM,
                    "code": "IMP",
                    "display": "inpatient encounter",
                }
                left_ae = self._left_ae.get((row["nhs_number"], row["admission_date"]))
                start = (
                    _instant(left_ae)
                    if row["admission_method"] == "21" and left_ae
                    else _day(row["admission_date"])
                )
                end = _day(row["discharge_date"])
                if left_ae and left_ae.date() > row["discharge_date"]:
                    end = start
                encounter["period"] = {"start": start, "end": end}
                encounter["reasonCode"] = [
                    {"coding": [{"system": ICD10_SYSTEM, "code": _icd10_with_dot(row["primary_diagnosis"])}]}
                ]
                encounter["extension"] = [
                    _coded_extension(
                        ADMISSION_METHOD_EXTENSION, ADMISSION_METHOD_SYSTEM, row["admission_method"]
                    ),
                    _coded_extension(
                        DISCHARGE_METHOD_EXTENSION, DISCHARGE_METHOD_SYSTEM, row["discharge_method"]
                    ),
                ]
                disposition = "exp" if row["discharge_method"] == "4" else "home"
                encounter["hospitalization"] = {
                    "dischargeDisposition": {
                        "coding": [{"system": DISCHARGE_DISPOSITION_SYSTEM, "code": disposition}]
                    }
                }
            elif kind == "ae":
                encounter["id"] = _id(self.seed, "Encounter", row["attendance_id"])
                encounter["period"] = {
                    "start": _instant(row["arrival_time"]),
                    "end": _instant(row["departure_time"]),
                }
                if row["department_type"] in ("3", "4"):
                    encounter["class"] = {"system": ACT_CODE_SYSTEM, "code": "AMB", "display": "ambulatory"}
                    code, display = URGENT_CARE_CLINIC
                    encounter["type"] = [
                        {"coding": [{"system": SNOMED_SYSTEM, "code": code, "display": display}]}
                    ]
                else:
                    encounter["class"] = {"system": ACT_CODE_SYSTEM, "code": "EMER", "display": "emergency"}
                    encounter["type"] = [{"text": f"A&E department type {row['department_type']}"}]
                if row["disposal"] in _AE_DISPOSITIONS:
                    encounter["hospitalization"] = {
                        "dischargeDisposition": {
                            "coding": [
                                {
                                    "system": DISCHARGE_DISPOSITION_SYSTEM,
                                    "code": _AE_DISPOSITIONS[row["disposal"]],
                                }
                            ]
                        }
                    }
            else:
                encounter["id"] = _id(self.seed, "Encounter", row["appointment_id"])
                virtual = row["first_attendance"] in ("3", "4")
                encounter["class"] = (
                    {"system": ACT_CODE_SYSTEM, "code": "VR", "display": "virtual"}
                    if virtual
                    else {"system": ACT_CODE_SYSTEM, "code": "AMB", "display": "ambulatory"}
                )
                encounter["period"] = {
                    "start": _day(row["appointment_date"]),
                    "end": _day(row["appointment_date"]),
                }
                encounter["serviceType"] = {
                    "coding": [{"system": TREATMENT_FUNCTION_SYSTEM, "code": row["treatment_specialty"]}]
                }
                if row["first_attendance"] in ("2", "4"):
                    code, display = FOLLOW_UP_ENCOUNTER
                    encounter["type"] = [
                        {"coding": [{"system": SNOMED_SYSTEM, "code": code, "display": display}]}
                    ]
            self._write(encounter)

    def close(self) -> dict[str, Path]:
        for code in sorted(self._organizations):
            self._write(
                {
                    "resourceType": "Organization",
                    "id": _id(self.seed, "Organization", code),
                    "meta": {"profile": [_PROFILE.format("Organization")]},
                    "identifier": [{"system": ODS_SYSTEM, "value": code}],
                    "active": True,
                    "name": f"{self._organizations[code]} {code}",
                }
            )
        for handle in self._handles.values():
            handle.close()
        return dict(self.paths)


def _coded_extension(url: str, system: str, code: str) -> dict[str, Any]:
    return {"url": url, "valueCodeableConcept": {"coding": [{"system": system, "code": code}]}}


def _icd10_with_dot(code: str) -> str:
    """HES writes ICD-10 without the dot (J441, R55X); FHIR uses the WHO form (J44.1, R55)."""
    stem, rest = code[:3], code[3:].rstrip("X")
    return f"{stem}.{rest}" if rest else stem
