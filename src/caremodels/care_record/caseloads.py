"""Extensive care caseloads in the care record: the monthly risk list re-identified for each patient's
own practice, enrolment (EpisodeOfCare, CareTeam, CarePlan), contacts and exit, and the extensive care
team's legitimate relationship from enrolment.

The re-identification link (docs/care-record.md, "Extensive care caseloads"): the warehouse holds
keyed pseudonyms only (``person_id`` = HMAC-SHA256 of the NHS number under the pseudonymisation key,
``caremodels.ingest.pseudonymise``), and its risk list carries nothing else about the person. The care
record already holds its patients' NHS numbers; given the same key it computes the pseudonym of each
of its own patients and so finds the patient a list row names. The key never enters the warehouse and
no NHS number ever leaves the care record: the link is a keyed lookup run inside the operational store,
by its operator (the organisation that runs the care record for direct care, which holds the key under
its data-processing agreement with the practices), on the lists the practices asked for. A row whose
patient is not registered with the practice the list is for is not re-identified. Every patient
re-identified gets an AuditEvent in their record in the same transaction as the RiskAssessment.

Who then sees a patient's risk: the policy, unchanged. Their own practice (registration) sees its list;
an extensive care team sees a patient once the patient is enrolled with it (an active EpisodeOfCare of
type ``extensive-care`` naming the team's organisation: the relationship provider registered below),
and no longer after exit.

Boundaries: writes through ``caremodels.care_record.resources`` (the list load, a system job) and
through ``CareRecord`` (enrolment, contacts, exit: users' actions, decided and audited by the policy).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from caremodels.care_record.audit import AuditRecord, write_audit
from caremodels.care_record.policy import (
    Decision,
    IndexedRelationship,
    Principal,
    organisation_refs,
    register_relationship_provider,
)
from caremodels.care_record.registry import (
    NHS_NUMBER_SYSTEM,
    ResourceType,
    SearchParam,
    register,
    resource_type,
)
from caremodels.care_record.resources import CareRecordError, now_text, read_resource, write_resource
from caremodels.care_record.service import CareRecord
from caremodels.care_record.store import Store, search_index

__all__ = [
    "EXTENSIVE_CARE",
    "EXTENSIVE_CARE_RELATIONSHIP",
    "Enrolment",
    "ListLoad",
    "contact",
    "enrol",
    "exit_enrolment",
    "load_risk_list",
    "reidentify",
]

EXTENSIVE_CARE = "extensive-care"
RISK_LIST_SYSTEM = "https://caremodels.example/fhir/Id/risk-list"
_LIST_COLUMNS = ("practice_code", "rank", "person_id", "risk", "drivers", "list_date", "model")

register(
    ResourceType(
        "RiskAssessment",
        ("subject.reference",),
        {
            "_id": SearchParam("_id", "token", ("id",)),
            "patient": SearchParam("patient", "reference", ("subject.reference",), "Patient"),
            "status": SearchParam("status", "token", ("status",)),
            "date": SearchParam("date", "date", ("occurrenceDateTime",)),
            "performer": SearchParam("performer", "reference", ("performer.reference",)),
            "identifier": SearchParam("identifier", "token", ("identifier",)),
        },
        documentation="A person's risk on a practice's monthly risk list, with its drivers (caseloads).",
    )
)
# The extensive care team's relationship: an active enrolment naming the team's organisation.
EXTENSIVE_CARE_RELATIONSHIP = IndexedRelationship(
    EXTENSIVE_CARE, "EpisodeOfCare", "organization", where=(("type", EXTENSIVE_CARE),)
)
register_relationship_provider(EXTENSIVE_CARE_RELATIONSHIP)


@dataclass
class ListLoad:
    """What a risk list load did: rows re-identified (and written), rows whose pseudonym matched no
    patient of the care record, rows whose patient is registered elsewhere, rows already loaded."""

    rows: int = 0
    reidentified: int = 0
    unmatched: int = 0
    other_practice: int = 0
    already_loaded: int = 0
    patients: list[str] = field(default_factory=list)


def _patients(conn: Connection) -> dict[str, tuple[str, str | None]]:
    """Every patient's NHS number -> (patient id, ODS code of their registered practice)."""
    numbers = {
        row.resource_id: row.value.split("|", 1)[1]
        for row in conn.execute(
            sa.select(search_index.c.resource_id, search_index.c.value).where(
                search_index.c.resource_type == "Patient",
                search_index.c.param == "identifier",
                search_index.c.value.startswith(NHS_NUMBER_SYSTEM + "|"),
            )
        )
    }
    practice_ref = {
        row.resource_id: row.value
        for row in conn.execute(
            sa.select(search_index.c.resource_id, search_index.c.value).where(
                search_index.c.resource_type == "Patient", search_index.c.param == "general-practitioner"
            )
        )
    }
    codes = {
        f"Organization/{row.resource_id}": row.value
        for row in conn.execute(
            sa.select(search_index.c.resource_id, search_index.c.value).where(
                search_index.c.resource_type == "Organization",
                search_index.c.param == "identifier",
                ~search_index.c.value.contains("|"),
            )
        )
    }
    return {
        number: (patient_id, codes.get(practice_ref.get(patient_id, "")))
        for patient_id, number in numbers.items()
    }


def reidentify(conn: Connection, pseudonym: Callable[[str], str]) -> dict[str, tuple[str, str | None]]:
    """The keyed lookup: each patient's pseudonym -> (patient id, their practice's ODS code). Computed
    inside the care record from its own NHS numbers; nothing is written. ``pseudonym`` is the keyed
    function the warehouse's pseudonyms were made with (``Pseudonymiser.pseudonym``, given by the
    caller, so the care record holds no copy of the ingest code and the key stays with the caller)."""
    patients = _patients(conn)
    return {pseudonym(number): found for number, found in patients.items()}


def _read_list(path: Path) -> list[dict[str, Any]]:
    # Imported here: the care record's app imports this module (for its registrations) and should not
    # pay for Parquet at start-up.
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as error:
        raise CareRecordError(
            f"{path.name}: cannot read the risk list as Parquet ({type(error).__name__})"
        ) from error
    missing = [column for column in _LIST_COLUMNS if column not in table.column_names]
    if missing:
        raise CareRecordError(f"{path.name}: not a risk list: missing column(s) {', '.join(missing)}")
    rows: list[dict[str, Any]] = table.select(list(_LIST_COLUMNS)).to_pylist()
    for number, row in enumerate(rows, start=1):
        risk = row["risk"]
        if not isinstance(risk, float) or not 0.0 <= risk <= 1.0:
            raise CareRecordError(f"{path.name}: row {number}, field risk: not a probability between 0 and 1")
        try:
            drivers = json.loads(row["drivers"])
        except (TypeError, ValueError) as error:
            raise CareRecordError(f"{path.name}: row {number}, field drivers: not a JSON list") from error
        if not isinstance(drivers, list) or not all(isinstance(item, str) for item in drivers):
            raise CareRecordError(f"{path.name}: row {number}, field drivers: not a JSON list of labels")
        row["drivers"] = drivers
    return rows


def _organisation(conn: Connection, code: str) -> str | None:
    refs = sorted(organisation_refs(conn, code))
    return refs[0] if refs else None


def load_risk_list(store: Store, path: Path, pseudonym: Callable[[str], str]) -> ListLoad:
    """Re-identify a monthly risk list (``caremodels.risk.caseload``) and write one RiskAssessment per
    person into their record, performed for their practice, with the drivers of their risk; each
    patient re-identified is audited in the same transaction."""
    rows = _read_list(path)
    summary = ListLoad(rows=len(rows))
    moment = now_text(dt.datetime.now(dt.UTC))
    rt = resource_type("RiskAssessment")
    if rt is None:  # registered at import: a missing type is a broken installation
        raise CareRecordError("the RiskAssessment type is not registered")
    with store.begin() as conn:
        lookup = reidentify(conn, pseudonym)
        practices: dict[str, str | None] = {}
        for row in rows:
            found = lookup.get(str(row["person_id"]))
            if found is None:
                summary.unmatched += 1
                continue
            patient_id, registered = found
            practice = str(row["practice_code"])
            if registered != practice:
                summary.other_practice += 1
                continue
            list_date = row["list_date"]
            month = list_date.isoformat() if isinstance(list_date, dt.date) else str(list_date)[:10]
            resource_id = f"risk-{month}-{patient_id}"[:64]
            if read_resource(conn, "RiskAssessment", resource_id) is not None:
                summary.already_loaded += 1
                continue
            if practice not in practices:
                practices[practice] = _organisation(conn, practice)
            body: dict[str, Any] = {
                "resourceType": "RiskAssessment",
                "identifier": [{"system": RISK_LIST_SYSTEM, "value": f"{practice}/{month}/{row['rank']}"}],
                "status": "final",
                "subject": {"reference": f"Patient/{patient_id}"},
                "occurrenceDateTime": month,
                "method": {"text": f"caremodels risk model {row['model']}"},
                "prediction": [
                    {
                        "outcome": {"text": "emergency admission in the next year"},
                        "probabilityDecimal": round(float(row["risk"]), 4),
                        "rationale": "Drivers: " + ("; ".join(row["drivers"]) or "none above the reference"),
                    }
                ],
                "note": [
                    {"text": f"Rank {row['rank']} on the practice's extensive care risk list for {month}."}
                ],
            }
            if practices[practice]:
                body["performer"] = {"reference": practices[practice]}
            write_resource(
                conn,
                rt,
                body,
                resource_id=resource_id,
                patient_id=patient_id,
                moment=moment,
                expected_version=None,
            )
            summary.reidentified += 1
            summary.patients.append(patient_id)
        write_audit(
            conn,
            principal=None,
            record=AuditRecord(
                "create",
                "RiskAssessment",
                query=f"risk list {path.name}",
                description="re-identified for direct care",
            ),
            decision=Decision(
                True, "monthly risk list re-identified for the patient's practice", basis="system"
            ),
            patient_ids=summary.patients,
            recorded=moment,
        )
    return summary


@dataclass(frozen=True)
class Enrolment:
    episode_id: str
    care_team_id: str
    care_plan_id: str


def _type_coding() -> dict[str, Any]:
    from caremodels.care_record.load import EPISODE_TYPE_SYSTEM  # one definition, with the bulk loader

    return {"coding": [{"system": EPISODE_TYPE_SYSTEM, "code": EXTENSIVE_CARE, "display": "Extensive care"}]}


def enrol(
    service: CareRecord, principal: Principal, patient_id: str, team: str, start: dt.date, *, goal: str
) -> Enrolment:
    """Enrol a patient with an extensive care team (``team``: an Organization reference): an active
    EpisodeOfCare managed by the team, its CareTeam and a CarePlan, in one transaction, each decided by
    the policy for ``principal`` (who enrols: the patient's practice) and audited."""
    if not team.startswith("Organization/"):
        raise CareRecordError("the extensive care team is an Organization reference")
    subject = {"reference": f"Patient/{patient_id}"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:episode",
                "request": {"method": "POST", "url": "EpisodeOfCare"},
                "resource": {
                    "resourceType": "EpisodeOfCare",
                    "status": "active",
                    "type": [_type_coding()],
                    "patient": subject,
                    "managingOrganization": {"reference": team},
                    "period": {"start": start.isoformat()},
                },
            },
            {
                "fullUrl": "urn:uuid:team",
                "request": {"method": "POST", "url": "CareTeam"},
                "resource": {
                    "resourceType": "CareTeam",
                    "status": "active",
                    "category": [_type_coding()],
                    "name": "Extensive care team",
                    "subject": subject,
                    "period": {"start": start.isoformat()},
                    "participant": [{"member": {"reference": team}}],
                    "managingOrganization": [{"reference": team}],
                },
            },
            {
                "fullUrl": "urn:uuid:plan",
                "request": {"method": "POST", "url": "CarePlan"},
                "resource": {
                    "resourceType": "CarePlan",
                    "status": "active",
                    "intent": "plan",
                    "category": [_type_coding()],
                    "title": "Extensive care plan",
                    "description": goal,
                    "subject": subject,
                    "period": {"start": start.isoformat()},
                    "careTeam": [{"reference": "urn:uuid:team"}],
                },
            },
        ],
    }
    response = service.transaction(principal, bundle)
    ids = [entry["response"]["location"].split("/")[1] for entry in response["entry"]]
    return Enrolment(*ids)


def contact(
    service: CareRecord, principal: Principal, patient_id: str, enrolment: Enrolment, day: dt.date, kind: str
) -> str:
    """Record a contact of the extensive care team (an Encounter of the episode); its id."""
    stored = service.create(
        principal,
        "Encounter",
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [{"text": kind}],
            "subject": {"reference": f"Patient/{patient_id}"},
            "episodeOfCare": [{"reference": f"EpisodeOfCare/{enrolment.episode_id}"}],
            "period": {"start": day.isoformat(), "end": day.isoformat()},
        },
    )
    return str(stored["id"])


def exit_enrolment(
    service: CareRecord, principal: Principal, enrolment: Enrolment, end: dt.date, reason: str
) -> None:
    """End an enrolment: the episode finished, the care team inactive, the plan completed, in one
    transaction. With the episode closed the team's relationship, and its access, end."""
    entries = []
    for type_name, resource_id, status in (
        ("EpisodeOfCare", enrolment.episode_id, "finished"),
        ("CareTeam", enrolment.care_team_id, "inactive"),
        ("CarePlan", enrolment.care_plan_id, "completed"),
    ):
        current = service.read(principal, type_name, resource_id)
        body = {key: value for key, value in current.items() if key != "meta"}
        body["status"] = status
        body["period"] = {**body.get("period", {}), "end": end.isoformat()}
        if type_name == "CarePlan":
            body["note"] = [*body.get("note", []), {"text": f"Discharged from extensive care: {reason}"}]
        entries.append(
            {
                "request": {
                    "method": "PUT",
                    "url": f"{type_name}/{resource_id}",
                    "ifMatch": f'W/"{current["meta"]["versionId"]}"',
                },
                "resource": body,
            }
        )
    service.transaction(principal, {"resourceType": "Bundle", "type": "transaction", "entry": entries})
