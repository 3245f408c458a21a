"""The pages: log in as a demo user, find a patient by NHS number, the record, break-glass (with its
alert to the privacy officer), a self-claimed relationship, and the privacy officer's pages. The pages
use the same policy and audit as the API (the matrix test covers the patient page)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.care_record.scenario import Case


def _case(**facts) -> Case:
    values = {
        "role": "clinician",
        "org": "trust",
        "relationship": "none",
        "dissent": False,
        "sensitive": False,
        "glass": False,
        "mode": "legitimate",
    }
    values.update(facts)
    return Case(**values)


def _new_patient(scenario, *, sensitive: bool) -> str:
    """A patient of its own for a test that changes what users may see (break-glass, claims), so that
    the shared scenario's patients keep the facts the matrix expects."""
    import numpy as np

    from caremodels.synth.nhs_number import synthetic_nhs_numbers

    number = str(
        synthetic_nhs_numbers(
            np.array([len(scenario.cases) + 7 + int(sensitive)]), population=10_000, seed=3
        )[0]
    )
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": number}],
        "generalPractitioner": [{"reference": "Organization/org-A00001"}],
    }
    if sensitive:
        body["meta"] = {
            "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]
        }
    created = scenario.app.post(
        "/fhir/Patient", json=body, headers=scenario.token("clinician-practice-legitimate")
    )
    assert created.status_code == 201, created.json()
    return str(created.json()["id"])


def _login(scenario, user_id: str) -> TestClient:
    client = TestClient(scenario.app.app)
    response = client.post("/login", data={"user_id": user_id}, follow_redirects=False)
    assert response.status_code == 303
    return client


def test_login_page_lists_users_and_pages_need_a_login(scenario) -> None:
    client = TestClient(scenario.app.app)
    assert client.get("/", follow_redirects=False).status_code == 303
    page = client.get("/login")
    assert page.status_code == 200
    assert "clinician-practice-legitimate" in page.text
    assert "/static/nhsuk-frontend.min.css" in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # nothing from another host
    # An unofficial tool carries neither the NHS logo nor a crown-copyright line.
    assert "nhsuk-header__logo" not in page.text and "©" not in page.text
    assert client.get("/privacy/alerts").status_code == 401


def test_find_a_patient_shows_only_those_the_user_may_see(scenario) -> None:
    gp = _login(scenario, "clinician-practice-legitimate")
    trust = _login(scenario, "clinician-trust-legitimate")
    patient_id = scenario.patients[_case(org="practice").key]
    record = gp.get(
        f"/fhir/Patient/{patient_id}", headers=scenario.token("clinician-practice-legitimate")
    ).json()
    number = record["identifier"][0]["value"]
    assert f"/patients/{patient_id}" in gp.post("/", data={"nhs_number": number}).text
    assert f"/patients/{patient_id}" not in trust.post("/", data={"nhs_number": number}).text


def test_break_glass_opens_the_record_and_alerts_the_privacy_officer(scenario) -> None:
    patient_id = _new_patient(scenario, sensitive=True)  # at the trust's partner practice, no relationship
    clinician = _login(scenario, "clinician-trust-legitimate")
    refused = clinician.get(f"/patients/{patient_id}")
    assert refused.status_code == 403
    assert "break-glass" in refused.text
    form = clinician.get(f"/patients/{patient_id}/break-glass")
    assert form.status_code == 200
    too_short = clinician.post(
        f"/patients/{patient_id}/break-glass", data={"reason": "urgent", "minutes": "30"}
    )
    assert too_short.status_code == 422
    opened = clinician.post(
        f"/patients/{patient_id}/break-glass",
        data={"reason": "Unconscious in A&E, no history available", "minutes": "30"},
    )
    assert opened.status_code == 200
    assert "Patient record" in opened.text
    assert "Emergency access" in opened.text  # the page says the view is a break-glass one
    assert 'href="/privacy/alerts"' not in opened.text  # no links to the privacy officer's pages
    privacy = _login(scenario, "privacy-trust-legitimate")
    assert 'href="/privacy/alerts"' in privacy.get("/privacy/alerts").text
    alerts = privacy.get("/privacy/alerts")
    assert alerts.status_code == 200
    assert "Unconscious in A&amp;E" in alerts.text
    assert patient_id in alerts.text
    seen = privacy.get(f"/privacy/accesses?patient={patient_id}")
    assert "clinician-trust-legitimate" in seen.text
    assert "break-glass" in seen.text
    # Clinicians do not see the privacy officer's pages.
    assert clinician.get("/privacy/alerts").status_code == 403


def test_a_self_claimed_relationship_alerts(scenario) -> None:
    patient_id = _new_patient(scenario, sensitive=False)
    clinician = _login(scenario, "nurse-trust-legitimate")
    assert clinician.get(f"/patients/{patient_id}").status_code == 403
    claimed = clinician.post(
        f"/patients/{patient_id}/claim", data={"reason": "Taking over their community nursing care"}
    )
    assert claimed.status_code == 200
    assert "Patient record" in claimed.text
    privacy = _login(scenario, "privacy-trust-legitimate")
    assert "Taking over their community nursing care" in privacy.get("/privacy/alerts").text
    outside = _login(scenario, "clinician-outside-legitimate")
    assert (
        outside.post(
            f"/patients/{patient_id}/claim", data={"reason": "I would like to see this record"}
        ).status_code
        == 403
    )


def test_a_refused_page_offers_only_what_the_role_can_do(scenario) -> None:
    """A privacy officer refused a clinical record is not offered break-glass or a claim (the role has
    neither), nor the link to find a patient."""
    patient_id = scenario.patients[_case(org="practice").key]
    officer = _login(scenario, "privacy-trust-legitimate")
    refused = officer.get(f"/patients/{patient_id}")
    assert refused.status_code == 403
    assert "/break-glass" not in refused.text and "/claim" not in refused.text
    assert "Find a patient" not in refused.text
