"""The FHIR API over the scenario store: the CapabilityStatement, tokens, writes with versions,
transactions, search rules and cross-patient probes, OperationOutcomes with the right status."""

from __future__ import annotations

import sqlalchemy as sa

from caremodels.care_record.registry import NHS_NUMBER_SYSTEM, registered
from caremodels.care_record.store import audit_events
from tests.care_record.scenario import Case

GP = "clinician-practice-legitimate"
TRUST = "clinician-trust-legitimate"


def _patient(scenario, **facts) -> str:
    values = {
        "role": "clinician",
        "org": "practice",
        "relationship": "none",
        "dissent": False,
        "sensitive": False,
        "glass": False,
        "mode": "legitimate",
    }
    values.update(facts)
    return scenario.patients[Case(**values).key]


def test_metadata_lists_what_is_served(scenario) -> None:
    response = scenario.app.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    statement = response.json()
    types = {entry["type"]: entry for entry in statement["rest"][0]["resource"]}
    assert set(types) == set(registered())
    assert "create" not in {i["code"] for i in types["AuditEvent"]["interaction"]}
    assert {p["name"] for p in types["Patient"]["searchParam"]} >= {"identifier", "birthdate", "_id"}
    assert types["Patient"]["operation"][0]["name"] == "everything"


def test_missing_or_bad_tokens_are_401(scenario) -> None:
    client = scenario.app
    patient = _patient(scenario)
    assert client.get(f"/fhir/Patient/{patient}").status_code == 401
    bad = client.get(f"/fhir/Patient/{patient}", headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401
    assert bad.json()["resourceType"] == "OperationOutcome"
    token = scenario.token(GP)["Authorization"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert client.get(f"/fhir/Patient/{patient}", headers={"Authorization": tampered}).status_code == 401


def test_create_update_versions_and_if_match(scenario) -> None:
    client, headers = scenario.app, scenario.token(GP)
    patient = _patient(scenario)
    condition = {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"text": "Frailty"},
    }
    created = client.post("/fhir/Condition", json=condition, headers=headers)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert created.headers["etag"] == 'W/"1"'
    assert created.headers["location"].endswith(f"/Condition/{body['id']}/_history/1")
    changed = {**condition, "id": body["id"], "code": {"text": "Severe frailty"}}
    stale = client.put(
        f"/fhir/Condition/{body['id']}", json=changed, headers={**headers, "If-Match": 'W/"7"'}
    )
    assert stale.status_code == 412
    updated = client.put(
        f"/fhir/Condition/{body['id']}", json=changed, headers={**headers, "If-Match": 'W/"1"'}
    )
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"
    first = client.get(f"/fhir/Condition/{body['id']}/_history/1", headers=headers)
    assert first.json()["code"]["text"] == "Frailty"
    assert (
        client.get(f"/fhir/Condition/{body['id']}", headers=headers).json()["code"]["text"]
        == "Severe frailty"
    )
    other = _patient(scenario, mode="consortium")
    moved = {**changed, "subject": {"reference": f"Patient/{other}"}}
    assert client.put(f"/fhir/Condition/{body['id']}", json=moved, headers=headers).status_code == 422


def test_writes_are_validated_and_refused_with_outcomes(scenario) -> None:
    client, headers = scenario.app, scenario.token(GP)
    patient = _patient(scenario)
    assert client.post("/fhir/Condition", content=b"{not json", headers=headers).status_code == 400
    invalid = client.post(
        "/fhir/Condition",
        json={
            "resourceType": "Condition",
            "subject": {"reference": f"Patient/{patient}"},
            "onsetDateTime": "yesterday",
        },
        headers=headers,
    )
    assert invalid.status_code == 422
    assert invalid.json()["issue"][0]["code"] == "processing"
    no_patient = client.post(
        "/fhir/Condition", json={"resourceType": "Condition", "code": {"text": "x"}}, headers=headers
    )
    assert no_patient.status_code == 422
    bad_number = {
        "resourceType": "Patient",
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": "9434765918"}],
    }
    response = client.post("/fhir/Patient", json=bad_number, headers=headers)
    assert response.status_code == 422
    assert "9434765918" not in response.text  # errors never quote the value
    assert (
        client.post("/fhir/AuditEvent", json={"resourceType": "AuditEvent"}, headers=headers).status_code
        == 405
    )
    assert client.get("/fhir/Nonsense/1", headers=headers).status_code == 404
    assert client.get("/fhir/Condition/does-not-exist", headers=headers).status_code == 404
    # Someone without a relationship cannot write into the record either.
    stranger = client.post(
        "/fhir/Condition",
        json={
            "resourceType": "Condition",
            "subject": {"reference": f"Patient/{patient}"},
            "code": {"text": "x"},
        },
        headers=scenario.token(TRUST),
    )
    assert stranger.status_code == 403


def test_transaction_bundle_resolves_references_and_is_atomic(scenario) -> None:
    client, headers = scenario.app, scenario.token(GP)
    patient = _patient(scenario)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": {"reference": f"Patient/{patient}"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "Pulse"},
                    "subject": {"reference": f"Patient/{patient}"},
                    "encounter": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = client.post("/fhir", json=bundle, headers=headers)
    assert response.status_code == 200, response.json()
    locations = [entry["response"]["location"] for entry in response.json()["entry"]]
    observation = client.get("/fhir/" + locations[1].split("/_history")[0], headers=headers).json()
    assert observation["encounter"]["reference"] == locations[0].split("/_history")[0]
    # One refused entry refuses the whole bundle: nothing of it is written.
    other = _patient(scenario, mode="consortium", sensitive=True)
    bundle["entry"][1]["resource"]["subject"]["reference"] = f"Patient/{other}"
    bundle["entry"][1]["resource"].pop("encounter")
    before = client.get(f"/fhir/Encounter?patient={patient}", headers=headers).json()["total"]
    refused = client.post("/fhir", json=bundle, headers=scenario.token(GP))
    assert refused.status_code == 403
    assert client.get(f"/fhir/Encounter?patient={patient}", headers=headers).json()["total"] == before


def test_search_rules_and_cross_patient_probes(scenario) -> None:
    client, headers = scenario.app, scenario.token(GP)
    mine, theirs = _patient(scenario), _patient(scenario, mode="consortium")
    assert client.get("/fhir/Encounter?subject.identifier=x", headers=headers).status_code == 403
    assert (
        client.get("/fhir/Patient?_has:Encounter:patient:status=finished", headers=headers).status_code == 403
    )
    assert client.get("/fhir/Encounter?colour=blue", headers=headers).status_code == 400
    assert client.get("/fhir/Encounter?status:not=finished", headers=headers).status_code == 400
    assert client.get(f"/fhir/Patient/{theirs}/$everything", headers=headers).status_code == 403
    # Filtered before paging and total: the GP sees only the patients they may see.
    everyone = client.get("/fhir/Encounter?status=finished&_count=1000", headers=headers).json()
    assert everyone["total"] == len(everyone["entry"]) or len(everyone["entry"]) == 100
    subjects = {entry["resource"]["subject"]["reference"] for entry in everyone["entry"]}
    assert f"Patient/{theirs}" not in subjects
    first = client.get("/fhir/Encounter?status=finished&_count=2", headers=headers).json()
    assert len(first["entry"]) == 2
    assert first["total"] == everyone["total"]
    assert any(link["relation"] == "next" for link in first["link"])
    assert client.get(f"/fhir/Encounter?patient={mine}", headers=headers).json()["total"] >= 1


def test_only_privacy_officers_search_the_audit(scenario) -> None:
    client = scenario.app
    patient = _patient(scenario)
    client.get(f"/fhir/Patient/{patient}", headers=scenario.token(GP))
    assert (
        client.get(f"/fhir/AuditEvent?patient=Patient/{patient}", headers=scenario.token(GP)).status_code
        == 403
    )
    found = client.get(
        f"/fhir/AuditEvent?patient=Patient/{patient}", headers=scenario.token("privacy-practice-legitimate")
    )
    assert found.status_code == 200
    events = found.json()["entry"]
    assert events and all(
        e["resource"]["entity"][0]["what"]["reference"] == f"Patient/{patient}" for e in events
    )


def test_every_access_is_audited_once_per_patient_in_balp_shape(scenario) -> None:
    client, headers = scenario.app, scenario.token(GP)
    with scenario.store.begin() as conn:
        start = conn.execute(sa.select(sa.func.max(audit_events.c.seq))).scalar()
    page = client.get("/fhir/Encounter?status=finished&_count=5", headers=headers).json()
    patients = {entry["resource"]["subject"]["reference"].removeprefix("Patient/") for entry in page["entry"]}
    with scenario.store.begin() as conn:
        rows = conn.execute(sa.select(audit_events).where(audit_events.c.seq > start)).all()
    assert sorted(row.patient_id for row in rows) == sorted(patients)
    import json

    event = json.loads(rows[0].content)
    assert event["type"]["code"] == "rest"
    assert event["subtype"][0]["code"] == "search-type"
    assert event["action"] == "E"
    assert event["meta"]["profile"][0].endswith("IHE.BasicAudit.PatientQuery")
    assert {entity["role"]["code"] for entity in event["entity"]} == {"1", "24"}
    text = "".join(row.content for row in rows)
    assert NHS_NUMBER_SYSTEM not in text  # patients named by id, never by NHS number


def _new_patient(scenario) -> str:
    import numpy as np

    from caremodels.synth.nhs_number import synthetic_nhs_numbers

    count = scenario.app.get(
        "/fhir/Patient?general-practitioner=Organization/org-A00001&_count=0", headers=scenario.token(GP)
    ).json()["total"]
    number = str(synthetic_nhs_numbers(np.array([count + 100]), population=100_000, seed=11)[0])
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": number}],
        "generalPractitioner": [{"reference": "Organization/org-A00001"}],
        "meta": {
            "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]
        },
    }
    created = scenario.app.post("/fhir/Patient", json=body, headers=scenario.token(GP))
    assert created.status_code == 201, created.json()
    return str(created.json()["id"])


RELATIONSHIPS = {
    "care-home": lambda p: {
        "resourceType": "EpisodeOfCare",
        "status": "active",
        "patient": {"reference": f"Patient/{p}"},
        "type": [
            {
                "coding": [
                    {
                        "system": "https://caremodels.example/CodeSystem/episode-of-care-type",
                        "code": "care-home-residence",
                    }
                ]
            }
        ],
        "managingOrganization": {"reference": "Organization/org-RT001"},
    },
    "advice-and-guidance": lambda p: {
        "resourceType": "CommunicationRequest",
        "status": "active",
        "subject": {"reference": f"Patient/{p}"},
        "recipient": [{"reference": "Organization/org-RT001"}],
    },
    "caseload": lambda p: {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{p}"},
        "participant": [{"member": {"reference": "Organization/org-RT001"}}],
    },
    "referral": lambda p: {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{p}"},
        "performer": [{"reference": "Organization/org-RT001"}],
    },
}


def test_relationship_providers_open_a_sensitive_record(scenario) -> None:
    """Each built-in provider: an open resource naming the trust gives its clinician access (even to a
    sensitive record); closing it takes the access away again."""
    client = scenario.app
    for kind, make in RELATIONSHIPS.items():
        patient = _new_patient(scenario)
        assert client.get(f"/fhir/Patient/{patient}", headers=scenario.token(TRUST)).status_code == 403, kind
        created = client.post(
            f"/fhir/{make(patient)['resourceType']}", json=make(patient), headers=scenario.token(GP)
        )
        assert created.status_code == 201, (kind, created.json())
        assert client.get(f"/fhir/Patient/{patient}", headers=scenario.token(TRUST)).status_code == 200, kind
        closed = {
            **created.json(),
            "status": "revoked"
            if kind in ("referral", "advice-and-guidance")
            else "inactive"
            if kind == "caseload"
            else "finished",
        }
        body = created.json()
        assert (
            client.put(
                f"/fhir/{body['resourceType']}/{body['id']}", json=closed, headers=scenario.token(GP)
            ).status_code
            == 200
        ), kind
        assert client.get(f"/fhir/Patient/{patient}", headers=scenario.token(TRUST)).status_code == 403, kind


def test_a_service_can_register_its_own_relationship_provider(scenario, monkeypatch) -> None:
    from caremodels.care_record import policy

    patient = _new_patient(scenario)

    class OnCall:
        kind = "on-call"

        def find(self, conn, principal, actor_refs, patient_ids):
            return {patient: {"on-call"}} if principal.user_id == TRUST and patient in patient_ids else {}

    monkeypatch.setattr(policy, "_PROVIDERS", [*policy.relationship_providers()])
    assert scenario.app.get(f"/fhir/Patient/{patient}", headers=scenario.token(TRUST)).status_code == 403
    policy.register_relationship_provider(OnCall())
    assert scenario.app.get(f"/fhir/Patient/{patient}", headers=scenario.token(TRUST)).status_code == 200


def test_a_search_too_broad_to_decide_is_refused(scenario, monkeypatch) -> None:
    monkeypatch.setattr("caremodels.care_record.service.MAX_CANDIDATES", 3)
    response = scenario.app.get("/fhir/Encounter?status=finished", headers=scenario.token(GP))
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "too-costly"
