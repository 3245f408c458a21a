"""Extensive care caseloads: the monthly risk list re-identified inside the care record for the
patient's own practice, enrolment with an extensive care team (EpisodeOfCare, CareTeam, CarePlan),
contacts and exit; the team reads the record while the patient is enrolled with it, another practice's
team never does, and every access is audited."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from caremodels.care_record import init_store, open_store
from caremodels.care_record.app import create_app
from caremodels.care_record.caseloads import contact, enrol, exit_enrolment, load_risk_list
from caremodels.care_record.identity import demo_token, rotate_demo_key
from caremodels.care_record.policy import Principal
from caremodels.care_record.registry import NHS_NUMBER_SYSTEM, ODS_SYSTEM, resource_type
from caremodels.care_record.resources import CareRecordError, now_text, write_resource
from caremodels.care_record.service import CareRecord
from caremodels.care_record.store import Store, audit_events, users
from caremodels.ingest.pseudonymise import Pseudonymiser

KEY = b"test-only-pseudonymisation-key-0123456789"
PRACTICE_A, PRACTICE_B = "P81001", "P81002"
TEAM_A, TEAM_B = "RXLA1", "RXLB1"  # the extensive care teams of practice A and of practice B
NUMBERS = {"enrolled": "9434765919", "elsewhere": "9434765870"}
USERS = {
    "gp-a": PRACTICE_A,
    "gp-b": PRACTICE_B,
    "team-a": TEAM_A,
    "team-b": TEAM_B,
}


def _write(conn: Any, type_name: str, body: dict[str, Any], resource_id: str, patient_id: str | None) -> None:
    write_resource(
        conn,
        resource_type(type_name),  # type: ignore[arg-type]
        body,
        resource_id=resource_id,
        patient_id=patient_id,
        moment=now_text(dt.datetime.now(dt.UTC)),
        expected_version=None,
    )


def _build(store: Store) -> None:
    with store.begin() as conn:
        for code in (PRACTICE_A, PRACTICE_B, TEAM_A, TEAM_B):
            _write(
                conn,
                "Organization",
                {
                    "resourceType": "Organization",
                    "identifier": [{"system": ODS_SYSTEM, "value": code}],
                    "name": code,
                },
                f"org-{code}",
                None,
            )
        for user, org in USERS.items():
            conn.execute(
                users.insert().values(
                    id=user,
                    name=user,
                    sds_user_id=f"sds-{user}",
                    role_profile_id=f"rp-{user}",
                    role_code="R8000",
                    org_code=org,
                    practitioner_id=None,
                    description="",
                )
            )
        for patient, practice in (("enrolled", PRACTICE_A), ("elsewhere", PRACTICE_B)):
            _write(
                conn,
                "Patient",
                {
                    "resourceType": "Patient",
                    "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": NUMBERS[patient]}],
                    "birthDate": "1941-03-01",
                    "generalPractitioner": [{"reference": f"Organization/org-{practice}"}],
                },
                patient,
                patient,
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def care_record(request: pytest.FixtureRequest, new_store_url: Callable[[str], str]) -> Any:
    url = new_store_url(str(request.param))
    init_store(url)
    store = open_store(url)
    rotate_demo_key(store)
    _build(store)
    with TestClient(create_app(store)) as client:
        yield store, client
    store.close()


def _principal(user: str) -> Principal:
    return Principal(user, user, "R8000", USERS[user], f"sds-{user}")


def _risk_list(folder: Path, pseudonymiser: Pseudonymiser) -> Path:
    path = folder / "risk_list.parquet"
    pd.DataFrame(
        {
            "practice_code": [PRACTICE_A, PRACTICE_A, PRACTICE_A],
            "rank": [1, 2, 3],
            # the enrolled patient; a patient of practice B listed under A; a pseudonym of no one here
            "person_id": [
                pseudonymiser.pseudonym(NUMBERS["enrolled"]),
                pseudonymiser.pseudonym(NUMBERS["elsewhere"]),
                pseudonymiser.pseudonym("9434765838"),
            ],
            "risk": [0.61, 0.48, 0.40],
            "drivers": [json.dumps(["emergency admissions in the last year", "heart failure"]), "[]", "[]"],
            "list_date": [dt.date(2016, 4, 1)] * 3,
            "model": ["cpm"] * 3,
        }
    ).to_parquet(path, index=False)
    return path


def _audits(store: Store, patient_id: str) -> list[dict[str, Any]]:
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(audit_events.c.content)
            .where(audit_events.c.patient_id == patient_id)
            .order_by(audit_events.c.seq)
        )
        return [json.loads(row.content) for row in rows]


def _reads(store: Store, client: TestClient, user: str, patient_id: str) -> int:
    """Status of the user reading the patient, and the access audited exactly once with its outcome."""
    before = len(_audits(store, patient_id))
    headers = {"Authorization": f"Bearer {demo_token(store, user)}"}
    status = client.get(f"/fhir/Patient/{patient_id}", headers=headers).status_code
    events = _audits(store, patient_id)
    assert len(events) == before + 1, user
    requestor = next(agent for agent in events[-1]["agent"] if agent.get("requestor"))
    assert requestor["who"]["identifier"]["value"] == f"sds-{user}"
    assert events[-1]["outcome"] == ("0" if status == 200 else "4")
    return status


def test_enrolment_opens_the_record_to_the_patients_team_only(care_record: Any, tmp_path: Path) -> None:
    store, client = care_record
    pseudonymiser = Pseudonymiser(KEY)
    summary = load_risk_list(store, _risk_list(tmp_path, pseudonymiser), pseudonymiser.pseudonym)
    assert (summary.reidentified, summary.other_practice, summary.unmatched) == (1, 1, 1)
    # The re-identification itself is in the patient's audit trail.
    assert _audits(store, "enrolled")[-1]["entity"][0]["what"]["reference"] == "Patient/enrolled"
    # The practice sees its list, with the drivers; the teams see nothing yet.
    gp = {"Authorization": f"Bearer {demo_token(store, 'gp-a')}"}
    listed = client.get("/fhir/RiskAssessment?patient=enrolled", headers=gp).json()
    assert listed["total"] == 1
    prediction = listed["entry"][0]["resource"]["prediction"][0]
    assert prediction["probabilityDecimal"] == 0.61
    assert "heart failure" in prediction["rationale"]
    assert _reads(store, client, "team-a", "enrolled") == 403

    service = CareRecord(store)
    enrolment = enrol(
        service,
        _principal("gp-a"),
        "enrolled",
        f"Organization/org-{TEAM_A}",
        dt.date(2016, 4, 11),
        goal="Fewer crises: a named care coordinator, a shared plan",
    )
    assert _reads(store, client, "team-a", "enrolled") == 200  # their extensive care team
    assert _reads(store, client, "team-b", "enrolled") == 403  # another practice's team
    assert _reads(store, client, "gp-b", "enrolled") == 403  # another practice
    assert _reads(store, client, "gp-a", "enrolled") == 200  # their own practice, throughout
    contact(service, _principal("team-a"), "enrolled", enrolment, dt.date(2016, 4, 20), "home visit")
    with pytest.raises(CareRecordError):
        contact(service, _principal("team-b"), "enrolled", enrolment, dt.date(2016, 4, 20), "home visit")

    exit_enrolment(service, _principal("gp-a"), enrolment, dt.date(2017, 4, 10), "stable for six months")
    assert _reads(store, client, "team-a", "enrolled") == 403  # the relationship ended with the episode
    episode = service.read(_principal("gp-a"), "EpisodeOfCare", enrolment.episode_id)
    assert episode["status"] == "finished" and episode["period"]["end"] == "2017-04-10"


def test_a_bad_risk_list_is_refused_naming_the_row(care_record: Any, tmp_path: Path) -> None:
    store, _ = care_record
    pseudonymiser = Pseudonymiser(KEY)
    path = _risk_list(tmp_path, pseudonymiser)
    frame = pd.read_parquet(path)
    frame.loc[1, "risk"] = 1.7
    frame.to_parquet(path, index=False)
    with pytest.raises(CareRecordError, match="row 2, field risk") as error:
        load_risk_list(store, path, pseudonymiser.pseudonym)
    assert NUMBERS["enrolled"] not in str(error.value)
