"""Fill the operational store from a ``caremodels synth`` folder: the same synthetic people as the
warehouse, identifiable here (NHS numbers), for direct care.

What is loaded (FHIR R4, UK Core identifier systems):
- Organization: every GP practice and trust named in the files (ODS codes) and every care home (CQC
  location id);
- Patient: every person with an open GP registration (``gp_registrations``), NHS number, sex, date of
  birth and registered practice;
- EpisodeOfCare: care-home residence (active while the residence is open);
- Condition: long-term conditions (SNOMED CT, the synth's own concepts);
- Encounter: hospital spells, A&E attendances and attended outpatient appointments since ``since``
  (default: the economy's last six months), shaped as ``caremodels synth --fhir`` writes them, so
  ``extract`` gives NDJSON that ``caremodels ingest`` maps to the same tables;
- ServiceRequest (referrals) and CommunicationRequest (advice and guidance) in the same window, open
  when recent (the last 90 days) or unanswered: these are the relationship providers' open referrals
  and requests;
- demo users (``DEMO_USERS``) and two data-sharing agreements (an integrated care record requiring a
  legitimate relationship, and a consortium-wide imaging network).

Ids are UUID 5 of the store's own random salt and stable keys, so loading again adds only what is
missing (idempotent) and ids do not encode NHS numbers. One transaction: all or nothing. A bulk load
is audited as one system AuditEvent (no user, no patient), not as a user's access.

Boundaries: reads the synth folder (its manifest names the files); writes only through the store's
tables; validates every resource it writes with the R4B models (and NHS numbers, modulus 11) before
anything is written; an invalid one stops the load naming the synth file, its row (1 is the file's first
record), the FHIR field and the reason, never a value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from caremodels.care_record.audit import AuditRecord, write_audit
from caremodels.care_record.policy import (
    CARE_HOME_EPISODE,
    CONSORTIUM_WIDE,
    LEGITIMATE_RELATIONSHIP,
    Decision,
)
from caremodels.care_record.registry import NHS_NUMBER_SYSTEM, ODS_SYSTEM, resource_type
from caremodels.care_record.resources import now_text, prepare, problems
from caremodels.care_record.store import (
    Store,
    agreement_members,
    resource_versions,
    resources,
    search_index,
    settings,
    sharing_agreements,
    users,
)
from caremodels.errors import DataError
from caremodels.synth.fhir import (
    ACT_CODE_SYSTEM,
    ADMISSION_METHOD_EXTENSION,
    ADMISSION_METHOD_SYSTEM,
    CONDITION_CONCEPTS,
    DISCHARGE_DISPOSITION_SYSTEM,
    DISCHARGE_METHOD_EXTENSION,
    DISCHARGE_METHOD_SYSTEM,
    FOLLOW_UP_ENCOUNTER,
    ICD10_SYSTEM,
    SNOMED_SYSTEM,
    TREATMENT_FUNCTION_SYSTEM,
    URGENT_CARE_CLINIC,
)

__all__ = ["CQC_LOCATION_SYSTEM", "DEMO_USERS", "EPISODE_TYPE_SYSTEM", "LoadSummary", "load_synth"]

CQC_LOCATION_SYSTEM = "https://www.cqc.org.uk/location"
EPISODE_TYPE_SYSTEM = "https://caremodels.example/CodeSystem/episode-of-care-type"
OUTSIDE_TRUST = "RJZ"  # King's College Hospital: a trust outside the synthetic economy's agreements
OPEN_DAYS = 90
_AE_DISPOSITIONS = {"discharged": "home", "referred": "home", "transferred": "other-hcf", "left": "aadvice"}
_PROFILE = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-{}"
_ROW, _FILE = "_source_row", "_source_file"
Source = tuple[str, int | None]  # the synth file a resource was built from, and the row in it


@dataclass(frozen=True)
class DemoUser:
    id: str
    name: str
    role_code: str
    org: str  # "practice", "care-home", "trust", "outside" or an organisation code
    description: str


DEMO_USERS = (
    DemoUser("gp", "Dr Asha Patel", "R8000", "practice", "GP at the practice with care homes"),
    DemoUser(
        "care-home-nurse",
        "Nurse Tom Hughes",
        "R8001",
        "care-home",
        "nurse at a care home aligned to that practice",
    ),
    DemoUser(
        "radiologist",
        "Dr Lena Okafor",
        "R8000",
        "trust",
        "consultant radiologist at the imaging network's trust",
    ),
    DemoUser("receptionist", "Sam Jones", "R8010", "practice", "receptionist at the GP practice"),
    DemoUser(
        "outside-clinician",
        "Dr Ravi Shah",
        "R8000",
        OUTSIDE_TRUST,
        "clinician at a trust outside the consortium",
    ),
    DemoUser("privacy-officer", "Morgan Lee", "R0001", "trust", "privacy officer for the consortium"),
)


@dataclass
class LoadSummary:
    loaded: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    users: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"loaded": self.loaded, "already_present": self.skipped, "users": self.users}


def _read(folder: Path, manifest: dict[str, Any], table: str) -> pa.Table:
    name = (manifest.get("files") or {}).get(table)
    if not name:
        raise DataError(
            f"the synth manifest lists no {table} file", file=folder / "manifest.json", field="files"
        )
    path = folder / name
    if not path.is_file():
        raise DataError("file listed in the manifest is missing", file=path)
    table_read = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
    # Each record's row in its file (1 = the first record), kept through filters and sorts so that an
    # invalid resource is reported where it came from.
    return table_read.append_column(
        _ROW, pa.array(range(1, table_read.num_rows + 1), pa.int64())
    ).append_column(_FILE, pa.array([name] * table_read.num_rows, pa.string()))


def _day(value: Any) -> str:
    return value.isoformat()[:10]


def _instant(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _icd10_with_dot(code: str) -> str:
    stem, rest = code[:3], code[3:].rstrip("X")
    return f"{stem}.{rest}" if rest else stem


def _coded_extension(url: str, system: str, code: str) -> dict[str, Any]:
    return {"url": url, "valueCodeableConcept": {"coding": [{"system": system, "code": code}]}}


class _Builder:
    def __init__(self, salt: str) -> None:
        self.salt = f"urn:caremodels:care-record:{salt}/".encode()
        self.rows: dict[str, list[tuple[str, str | None, dict[str, Any], Source]]] = {}
        self.organisations: dict[str, tuple[str, str, str]] = {}

    def id(self, kind: str, key: str) -> str:
        # 32 hex digits of SHA-256 over the store's salt and a stable key (uuid5 objects cost ten times more).
        return hashlib.sha256(self.salt + f"{kind}/{key}".encode()).hexdigest()[:32]

    def add(self, body: dict[str, Any], patient_id: str | None, row: dict[str, Any] | None = None) -> None:
        source: Source = (
            (str(row[_FILE]), int(row[_ROW])) if row else ("the organisations named in the files", None)
        )
        self.rows.setdefault(body["resourceType"], []).append((body["id"], patient_id, body, source))

    def organisation(self, code: str, system: str = ODS_SYSTEM, kind: str = "NHS trust") -> dict[str, Any]:
        if code not in self.organisations:
            self.organisations[code] = (system, kind, self.id("Organization", code))
        return {
            "reference": f"Organization/{self.organisations[code][2]}",
            "identifier": {"system": system, "value": code},
        }

    def finish_organisations(self) -> None:
        for code, (system, kind, org_id) in sorted(self.organisations.items()):
            self.add(
                {
                    "resourceType": "Organization",
                    "id": org_id,
                    "meta": {"profile": [_PROFILE.format("Organization")]},
                    "identifier": [{"system": system, "value": code}],
                    "active": True,
                    "name": f"{kind} {code}",
                },
                None,
            )


def _status_coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def load_synth(
    store: Store,
    folder: Path,
    *,
    since: dt.date | None = None,
    patients: int | None = None,
    now: dt.datetime | None = None,
) -> LoadSummary:
    """Load a synth folder into the store (one transaction); see the module docstring for what."""
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(
            f"not a caremodels synth folder ({type(error).__name__})", file=manifest_path
        ) from None
    end = dt.date.fromisoformat(str(manifest.get("config", {}).get("end", "2020-03-01"))[:10])
    end_of_data = (end.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    window_start = since or (end_of_data - dt.timedelta(days=182))
    open_after = end_of_data - dt.timedelta(days=OPEN_DAYS)
    moment = now_text(now or dt.datetime.now(dt.UTC))

    registrations = _read(folder, manifest, "gp_registrations")
    current = registrations.filter(pc.is_null(registrations["registration_end"]))
    current = current.sort_by([("practice_code", "ascending"), ("nhs_number", "ascending")])
    if patients is not None:
        current = current.slice(0, patients)
    wanted = current["nhs_number"]

    with store.begin() as conn:
        salt = conn.execute(sa.select(settings.c.value).where(settings.c.key == "id_salt")).scalar()
        if salt is None:
            salt = secrets.token_hex(16)
            conn.execute(settings.insert().values(key="id_salt", value=salt))
        build = _Builder(salt)
        patient_ids: dict[str, str] = {}
        for row in current.to_pylist():
            patient_id = build.id("Patient", row["nhs_number"])
            patient_ids[row["nhs_number"]] = patient_id
            build.add(
                {
                    "resourceType": "Patient",
                    "id": patient_id,
                    "meta": {"profile": [_PROFILE.format("Patient")]},
                    "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": row["nhs_number"]}],
                    "gender": "male" if str(row["sex"]) == "1" else "female",
                    "birthDate": _day(row["date_of_birth"]),
                    "generalPractitioner": [build.organisation(row["practice_code"], kind="GP practice")],
                },
                patient_id,
                row,
            )
        care_homes: dict[str, str] = {}
        residence = _read(folder, manifest, "care_home_residence")
        for row in residence.filter(pc.is_in(residence["nhs_number"], wanted)).to_pylist():
            care_homes.setdefault(row["care_home_id"], row["practice_code"])
            open_now = row["residence_end"] is None
            episode: dict[str, Any] = {
                "resourceType": "EpisodeOfCare",
                "id": build.id(
                    "EpisodeOfCare", f"{row['nhs_number']}/{row['care_home_id']}/{row['residence_start']}"
                ),
                "status": "active" if open_now else "finished",
                "type": [
                    {
                        "coding": [
                            {
                                "system": EPISODE_TYPE_SYSTEM,
                                "code": CARE_HOME_EPISODE,
                                "display": f"{row['care_home_type']} care home residence",
                            }
                        ]
                    }
                ],
                "patient": {"reference": f"Patient/{patient_ids[row['nhs_number']]}"},
                "managingOrganization": build.organisation(
                    row["care_home_id"], CQC_LOCATION_SYSTEM, "Care home"
                ),
                "period": {"start": _day(row["residence_start"])},
            }
            if not open_now:
                episode["period"]["end"] = _day(row["residence_end"])
            build.add(episode, patient_ids[row["nhs_number"]], row)
        conditions = _read(folder, manifest, "conditions")
        for row in conditions.filter(pc.is_in(conditions["nhs_number"], wanted)).to_pylist():
            code, display = CONDITION_CONCEPTS[row["condition"]]
            patient_id = patient_ids[row["nhs_number"]]
            build.add(
                {
                    "resourceType": "Condition",
                    "id": build.id("Condition", f"{row['nhs_number']}/{row['condition']}"),
                    "meta": {"profile": [_PROFILE.format("Condition")]},
                    "clinicalStatus": _status_coding(
                        "http://terminology.hl7.org/CodeSystem/condition-clinical", "active"
                    ),
                    "verificationStatus": _status_coding(
                        "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"
                    ),
                    "code": {"coding": [{"system": SNOMED_SYSTEM, "code": code, "display": display}]},
                    "subject": {"reference": f"Patient/{patient_id}"},
                    "onsetDateTime": _day(row["diagnosis_date"]),
                    "recordedDate": _day(row["diagnosis_date"]),
                },
                patient_id,
                row,
            )
        _encounters(build, folder, manifest, wanted, patient_ids, window_start)
        _requests(build, folder, manifest, wanted, patient_ids, window_start, open_after)
        build.organisation(OUTSIDE_TRUST)
        build.finish_organisations()
        summary = LoadSummary()
        fresh = {name: _fresh(conn, name, items) for name, items in build.rows.items()}
        # Every resource to be written is validated before any is (an invalid one stops the load, and
        # the transaction leaves the store as it was).
        _validate_all(fresh, folder)
        for name, items in build.rows.items():
            _write_bulk(conn, name, fresh[name], moment)
            summary.loaded[name] = len(fresh[name])
            summary.skipped[name] = len(items) - len(fresh[name])
        summary.users = _demo_directory(conn, build, current, care_homes)
        write_audit(
            conn,
            principal=None,
            record=AuditRecord("create", "Bundle", query=f"load synth folder {folder.name}"),
            decision=Decision(True, "bulk load from a synthetic economy", basis="system"),
            patient_ids=[],
            recorded=moment,
        )
    return summary


def _encounters(
    build: _Builder,
    folder: Path,
    manifest: dict[str, Any],
    wanted: pa.ChunkedArray,
    patient_ids: dict[str, str],
    start: dt.date,
) -> None:
    for table, date_column in (
        ("apc_spells", "admission_date"),
        ("ae_attendances", "arrival_time"),
        ("op_attendances", "appointment_date"),
    ):
        rows = _read(folder, manifest, table)
        rows = rows.filter(pc.is_in(rows["nhs_number"], wanted))
        column = rows[date_column]
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.date32())
        rows = rows.filter(pc.greater_equal(column, pa.scalar(start, pa.date32())))
        if table == "op_attendances":
            rows = rows.filter(pc.is_in(rows["attended"], pa.array(["5", "6"])))
        for row in rows.to_pylist():
            patient_id = patient_ids[row["nhs_number"]]
            encounter: dict[str, Any] = {
                "resourceType": "Encounter",
                "meta": {"profile": [_PROFILE.format("Encounter")]},
                "status": "finished",
                "subject": {"reference": f"Patient/{patient_id}"},
                "serviceProvider": build.organisation(row["provider_code"]),
            }
            if table == "apc_spells":
                encounter["id"] = build.id("Encounter", row["spell_id"])
                encounter["class"] = {
                    "system": ACT_CODE_SYSTEM,
                    "code": "IMP",
                    "display": "inpatient encounter",
                }
                encounter["period"] = {
                    "start": _day(row["admission_date"]),
                    "end": _day(row["discharge_date"]),
                }
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
                    "dischargeDisposition": _status_coding(DISCHARGE_DISPOSITION_SYSTEM, disposition)
                }
            elif table == "ae_attendances":
                encounter["id"] = build.id("Encounter", row["attendance_id"])
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
                        "dischargeDisposition": _status_coding(
                            DISCHARGE_DISPOSITION_SYSTEM, _AE_DISPOSITIONS[row["disposal"]]
                        )
                    }
            else:
                encounter["id"] = build.id("Encounter", row["appointment_id"])
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
            build.add(encounter, patient_id, row)


def _requests(
    build: _Builder,
    folder: Path,
    manifest: dict[str, Any],
    wanted: pa.ChunkedArray,
    patient_ids: dict[str, str],
    start: dt.date,
    open_after: dt.date,
) -> None:
    referrals = _read(folder, manifest, "referrals")
    referrals = referrals.filter(pc.is_in(referrals["nhs_number"], wanted))
    referrals = referrals.filter(pc.greater_equal(referrals["referral_date"], pa.scalar(start, pa.date32())))
    for row in referrals.to_pylist():
        patient_id = patient_ids[row["nhs_number"]]
        build.add(
            {
                "resourceType": "ServiceRequest",
                "id": build.id("ServiceRequest", row["referral_id"]),
                "status": "active" if row["referral_date"] > open_after else "completed",
                "intent": "order",
                "priority": "urgent" if row["priority"] == "two_week_wait" else "routine",
                "category": [
                    {"coding": [{"system": SNOMED_SYSTEM, "code": "3457005", "display": "Patient referral"}]}
                ],
                "subject": {"reference": f"Patient/{patient_id}"},
                "authoredOn": _day(row["referral_date"]),
                "requester": build.organisation(row["gp_practice_code"], kind="GP practice"),
                "performer": [build.organisation(row["provider_code"])],
            },
            patient_id,
            row,
        )
    advice = _read(folder, manifest, "advice_and_guidance")
    advice = advice.filter(pc.is_in(advice["nhs_number"], wanted))
    advice = advice.filter(pc.greater_equal(advice["request_date"], pa.scalar(start, pa.date32())))
    for row in advice.to_pylist():
        patient_id = patient_ids[row["nhs_number"]]
        build.add(
            {
                "resourceType": "CommunicationRequest",
                "id": build.id("CommunicationRequest", row["request_id"]),
                "status": "active"
                if row["response_date"] is None or row["request_date"] > open_after
                else "completed",
                "subject": {"reference": f"Patient/{patient_id}"},
                "authoredOn": _day(row["request_date"]),
                "requester": build.organisation(row["gp_practice_code"], kind="GP practice"),
                "recipient": [build.organisation(row["provider_code"])],
                "payload": [
                    {
                        "contentString": f"Advice and guidance request, treatment function {row['treatment_specialty']}"
                    }
                ],
            },
            patient_id,
            row,
        )


def _fresh(
    conn: Connection, name: str, items: list[tuple[str, str | None, dict[str, Any], Source]]
) -> list[tuple[str, str | None, dict[str, Any], Source]]:
    """The items not in the store yet (loading again adds only what is missing), each id once."""
    existing: set[str] = set()
    ids = [item[0] for item in items]
    for start in range(0, len(ids), 500):
        existing.update(
            conn.execute(
                sa.select(resources.c.id).where(
                    resources.c.resource_type == name, resources.c.id.in_(ids[start : start + 500])
                )
            ).scalars()
        )
    return [item for item in dict((item[0], item) for item in items).values() if item[0] not in existing]


def _write_bulk(
    conn: Connection,
    name: str,
    fresh: list[tuple[str, str | None, dict[str, Any], Source]],
    moment: str,
) -> None:
    rt = resource_type(name)
    if rt is None:  # pragma: no cover - the loader writes registered types only
        raise DataError(f"{name} is not a registered resource type")
    for start in range(0, len(fresh), 2000):
        chunk = fresh[start : start + 2000]
        resource_rows, version_rows, index_rows = [], [], []
        for resource_id, patient_id, body, _source in chunk:
            prepared, rows = prepare(rt, body, resource_id, 1, moment)
            resource_rows.append(
                {
                    "resource_type": name,
                    "id": resource_id,
                    "version_id": 1,
                    "last_updated": moment,
                    "patient_id": patient_id,
                }
            )
            version_rows.append(
                {
                    "resource_type": name,
                    "id": resource_id,
                    "version_id": 1,
                    "last_updated": moment,
                    "content": json.dumps(prepared, separators=(",", ":"), ensure_ascii=False),
                }
            )
            index_rows.extend(rows)
        bulk_insert(conn, resources, resource_rows)
        bulk_insert(conn, resource_versions, version_rows)
        bulk_insert(conn, search_index, index_rows)


def _first_problem(name: str, bodies: list[dict[str, Any]]) -> tuple[int, str, str] | None:
    """The position, field and reason of the first invalid resource of these, or None."""
    rt = resource_type(name)
    if rt is None:  # pragma: no cover - the loader writes registered types only
        raise DataError(f"{name} is not a registered resource type")
    for position, body in enumerate(bodies):
        found = problems(rt, body)
        if found:
            return position, found[0][0], found[0][1]
    return None


_VALIDATE_CHUNK = 5000


def _validate_all(
    builds: dict[str, list[tuple[str, str | None, dict[str, Any], Source]]], folder: Path
) -> None:
    """Every resource against its R4B model and NHS numbers; the first invalid one stops the load.
    The models take about a millisecond a resource, so a large load validates in chunks on every core
    (forked processes: the resources are already built, nothing else is shared)."""
    chunks = [
        (name, start, [item[2] for item in items[start : start + _VALIDATE_CHUNK]])
        for name, items in builds.items()
        for start in range(0, len(items), _VALIDATE_CHUNK)
    ]
    workers = min(os.cpu_count() or 1, len(chunks))
    if workers > 1 and hasattr(os, "fork"):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_first_problem, [c[0] for c in chunks], [c[2] for c in chunks]))
    else:
        results = [_first_problem(name, bodies) for name, _, bodies in chunks]
    for (name, start, _), result in zip(chunks, results, strict=True):
        if result is None:
            continue
        position, field_name, reason = result
        file_name, row = builds[name][start + position][3]
        raise DataError(
            f"the {name} built from this row does not validate: {reason}",
            file=folder / file_name if row is not None else file_name,
            row=row,
            field=f"{name}.{field_name}",
        )


def bulk_insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Many rows at once through the driver: COPY on PostgreSQL, executemany on SQLite (both inside
    the caller's transaction); SQLAlchemy's per-row executemany costs several times more."""
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(columns)
    values = [tuple(row[column] for column in columns) for row in rows]
    driver = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with driver.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for value in values:
                copy.write_row(value)
    else:
        marks = ", ".join("?" for _ in columns)
        driver.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values)  # type: ignore[union-attr]


def _demo_directory(conn: Connection, build: _Builder, current: pa.Table, care_homes: dict[str, str]) -> int:
    """Demo users and the two data-sharing agreements, chosen from what was loaded."""
    practices = sorted(set(current["practice_code"].to_pylist()))
    trusts = sorted(
        code
        for code, (system, kind, _) in build.organisations.items()
        if kind == "NHS trust" and code != OUTSIDE_TRUST
    )
    if not practices:
        raise DataError("no open GP registrations to load", field="registration_end")
    # The GP practice with the most care homes aligned to it, so that the care-home nurse's patients
    # are the GP's too; the trust that most encounters were at, for the radiologist.
    by_practice: dict[str, int] = {}
    for practice in care_homes.values():
        by_practice[practice] = by_practice.get(practice, 0) + 1
    practice = (
        max(practices, key=lambda code: (by_practice.get(code, 0), code)) if by_practice else practices[0]
    )
    home = sorted(code for code, aligned in care_homes.items() if aligned == practice)
    counts: dict[str, int] = {}
    for _, _, body, _ in build.rows.get("Encounter", []):
        code = body["serviceProvider"]["identifier"]["value"]
        counts[code] = counts.get(code, 0) + 1
    trust = max(trusts, key=lambda code: (counts.get(code, 0), code)) if trusts else OUTSIDE_TRUST
    orgs = {"practice": practice, "care-home": home[0] if home else practice, "trust": trust}
    existing = set(conn.execute(sa.select(users.c.id)).scalars())
    added = 0
    for position, user in enumerate(DEMO_USERS):
        if user.id in existing:
            continue
        conn.execute(
            users.insert().values(
                id=user.id,
                name=user.name,
                sds_user_id=f"5550{position + 1:08d}",
                role_profile_id=f"5551{position + 1:08d}",
                role_code=user.role_code,
                org_code=orgs.get(user.org, user.org),
                practitioner_id=None,
                description=user.description,
            )
        )
        added += 1
    agreements = {
        "integrated-care-record": (
            "Integrated care record (legitimate relationship required)",
            LEGITIMATE_RELATIONSHIP,
            [*practices, *sorted(care_homes), *trusts],
        ),
        # The imaging network: the radiologist's trust with the GP's practice and half of the others,
        # consortium-wide as EMRAD (any member's clinician may see any member practice's patients).
        "imaging-network": (
            "Imaging network (consortium-wide)",
            CONSORTIUM_WIDE,
            [trust, practice, *practices[: max(1, len(practices) // 2)]],
        ),
    }
    present = set(conn.execute(sa.select(sharing_agreements.c.id)).scalars())
    for agreement_id, (name, mode, members) in agreements.items():
        if agreement_id in present:
            continue
        conn.execute(sharing_agreements.insert().values(id=agreement_id, name=name, mode=mode))
        conn.execute(
            agreement_members.insert(),
            [{"agreement_id": agreement_id, "org_code": code} for code in sorted(set(members))],
        )
    return added
