"""The advice and guidance state machine through the API: every legal path, every illegal transition
refused with an OperationOutcome (and audited), conversion only when authorised, only the right party
at each step, the relationship for the life of the request, and the working-day clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from caremodels.advice import workflow as wf
from caremodels.care_record.store import audit_events
from tests.advice.conftest import Advice
from tests.advice.fixture import request_body

GP, SPECIALIST = "gp", "specialist"
PATHS: dict[str, list[tuple[str, str]]] = {
    wf.AWAITING_PROVIDER: [],
    wf.AWAITING_REQUESTER: [("ask", SPECIALIST)],
    wf.ADVICE_GIVEN: [("advise", SPECIALIST)],
    wf.CONVERTED: [("convert", SPECIALIST)],
    wf.REFERRAL_ADVISED: [("advise-referral", SPECIALIST)],
    wf.WITHDRAWN: [("withdraw", GP)],
}
ACTOR_USER = {"provider": SPECIALIST, "requester": GP}


def _make(advice: Advice, **flags: Any) -> str:
    response = advice.client.post(  # type: ignore[attr-defined]
        "/api/advice/requests", json=request_body(advice.patient(), **flags), headers=advice.token(GP)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["request"])


def _step(
    advice: Advice, request_id: str, event: str, user: str, message: str = "See the attached plan."
) -> Any:
    return advice.client.post(  # type: ignore[attr-defined]
        f"/api/advice/requests/{request_id}/{event}", json={"message": message}, headers=advice.token(user)
    )


def _conversation(advice: Advice, request_id: str, user: str = GP) -> dict[str, Any]:
    response = advice.client.get(f"/api/advice/requests/{request_id}", headers=advice.token(user))  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return dict(response.json())


def _in_state(advice: Advice, state: str) -> str:
    request_id = _make(advice)
    for event, user in PATHS[state]:
        assert _step(advice, request_id, event, user).status_code == 200
    assert _conversation(advice, request_id)["summary"]["state"] == state
    return request_id


def test_legal_paths_end_in_their_outcomes(advice: Advice) -> None:
    request_id = _make(advice)
    for event, user in [
        ("ask", SPECIALIST),
        ("reply", GP),
        ("ask", SPECIALIST),
        ("reply", GP),
        ("advise", SPECIALIST),
    ]:
        response = _step(advice, request_id, event, user)
        assert response.status_code == 200, response.text
    found = _conversation(advice, request_id)
    assert found["summary"]["state"] == wf.ADVICE_GIVEN
    assert [c["category"][0]["coding"][0]["code"] for c in found["communications"]] == [
        "ask",
        "reply",
        "ask",
        "reply",
        "advise",
    ]
    assert found["request"]["status"] == "completed"
    assert found["task"]["status"] == "completed"
    assert found["task"]["executionPeriod"]["start"] <= found["task"]["executionPeriod"]["end"]


def test_conversion_makes_a_referral_based_on_the_request(advice: Advice) -> None:
    request_id = _in_state(advice, wf.CONVERTED)
    found = _conversation(advice, request_id)
    (referral,) = found["referrals"]
    assert referral["basedOn"] == [{"reference": f"CommunicationRequest/{request_id}"}]
    assert referral["performer"] == found["request"]["recipient"]
    assert referral["category"][0]["coding"][0]["code"] == "330"


@pytest.mark.parametrize("state", sorted(PATHS))
def test_every_illegal_transition_is_refused_and_audited(advice: Advice, state: str) -> None:
    request_id = _in_state(advice, state)
    illegal = [name for name, event in wf.EVENTS.items() if state not in event.sources]
    assert illegal  # every state refuses something
    for name in illegal:
        before = _audit_count(advice)
        # A closed request ends the specialist's relationship (unless a referral made a new one), so on
        # a closed request the GP, who can still read it, tries every step.
        user = GP if state in wf.TERMINAL else ACTOR_USER[wf.EVENTS[name].actor]
        response = _step(advice, request_id, name, user)
        assert response.status_code == 409, (state, name, response.text)
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "business-rule"
        assert "illegal transition" in outcome["issue"][0]["diagnostics"]
        assert _audit_count(advice) > before  # the reads before the refusal are audited
        assert _conversation(advice, request_id)["summary"]["state"] == state  # nothing changed
    if state in wf.TERMINAL:
        # The specialist: refused by the policy (no relationship left), or, after a conversion (the open
        # referral is a relationship), by the state machine.
        response = _step(advice, request_id, "advise", SPECIALIST)
        assert response.status_code == (409 if state == wf.CONVERTED else 403), response.text


def test_illegal_transitions_are_refused_through_the_generic_fhir_api_too(advice: Advice) -> None:
    request_id = _in_state(advice, wf.ADVICE_GIVEN)
    task = _conversation(advice, request_id)["task"]
    reopened = {**{k: v for k, v in task.items() if k != "meta"}, "status": "requested"}
    reopened["businessStatus"] = wf.state_concept(wf.AWAITING_PROVIDER)
    response = advice.client.put(f"/fhir/Task/{task['id']}", json=reopened, headers=advice.token(GP))  # type: ignore[attr-defined]
    assert response.status_code == 409
    assert "illegal transition" in response.json()["issue"][0]["diagnostics"]
    with advice.store.begin() as conn:  # type: ignore[attr-defined]
        refused = conn.execute(
            sa.select(audit_events.c.outcome).order_by(audit_events.c.seq.desc()).limit(1)
        ).scalar_one()
    assert refused == "4"  # the refused write is in the audit as a failed access


def test_conversion_without_authorisation_is_refused(advice: Advice) -> None:
    request_id = _make(advice, authorised=False)
    response = _step(advice, request_id, "convert", SPECIALIST)
    assert response.status_code == 422
    assert "did not authorise" in response.json()["issue"][0]["diagnostics"]
    found = _conversation(advice, request_id)
    assert found["summary"]["state"] == wf.AWAITING_PROVIDER
    assert found["referrals"] == [] and found["communications"] == []
    # Nor can a referral based on it be written straight to the FHIR API.
    referral = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "basedOn": [{"reference": f"CommunicationRequest/{request_id}"}],
        "subject": found["request"]["subject"],
    }
    response = advice.client.post("/fhir/ServiceRequest", json=referral, headers=advice.token(SPECIALIST))  # type: ignore[attr-defined]
    assert response.status_code == 422
    assert _step(advice, request_id, "advise-referral", SPECIALIST).status_code == 200


def test_only_the_party_of_each_step_may_take_it(advice: Advice) -> None:
    request_id = _make(advice)
    response = _step(advice, request_id, "advise", GP)
    assert response.status_code == 422 and "provider" in response.json()["issue"][0]["diagnostics"]
    assert _step(advice, request_id, "ask", SPECIALIST).status_code == 200
    response = _step(advice, request_id, "reply", SPECIALIST)
    assert response.status_code == 422 and "requesting practice" in response.json()["issue"][0]["diagnostics"]


def test_the_answers_are_required_and_never_change(advice: Advice) -> None:
    body = request_body(advice.patient())
    del body["would_otherwise_refer"]
    response = advice.client.post("/api/advice/requests", json=body, headers=advice.token(GP))  # type: ignore[attr-defined]
    assert response.status_code == 422 and "would_otherwise_refer" in response.text
    request_id = _make(advice, intended=False)
    found = _conversation(advice, request_id)
    changed = {k: v for k, v in found["request"].items() if k != "meta"}
    changed["extension"] = [
        {"url": wf.EXT_INTENDED, "valueBoolean": True},
        {"url": wf.EXT_AUTHORISED, "valueBoolean": True},
    ]
    response = advice.client.put(
        f"/fhir/CommunicationRequest/{request_id}", json=changed, headers=advice.token(GP)
    )  # type: ignore[attr-defined]
    assert response.status_code == 422 and "cannot change" in response.text


def test_the_specialist_has_a_relationship_for_the_life_of_the_request(advice: Advice) -> None:
    request_id = _make(advice)
    patient = _conversation(advice, request_id)["request"]["subject"]["reference"]
    # Same data-sharing agreement, but it requires a relationship: another trust's clinician has none.
    assert advice.client.get(f"/fhir/{patient}", headers=advice.token("other-specialist")).status_code == 403  # type: ignore[attr-defined]
    assert advice.client.get(f"/fhir/{patient}", headers=advice.token(SPECIALIST)).status_code == 200  # type: ignore[attr-defined]
    worklist = advice.client.get("/api/advice/worklist", headers=advice.token(SPECIALIST)).json()["requests"]  # type: ignore[attr-defined]
    assert request_id in [row["id"] for row in worklist]
    assert _step(advice, request_id, "advise", SPECIALIST).status_code == 200
    assert advice.client.get(f"/fhir/{patient}", headers=advice.token(SPECIALIST)).status_code == 403  # type: ignore[attr-defined]
    worklist = advice.client.get("/api/advice/worklist", headers=advice.token(SPECIALIST)).json()["requests"]  # type: ignore[attr-defined]
    assert request_id not in [row["id"] for row in worklist]
    mine = advice.client.get("/api/advice/requests", headers=advice.token(GP)).json()["requests"]  # type: ignore[attr-defined]
    assert request_id in [row["id"] for row in mine]


def test_a_request_is_due_two_working_days_later() -> None:
    # Friday 22 December 2023: the weekend, Christmas Day and Boxing Day pass; due Thursday 28th.
    assert wf.add_working_days(dt.date(2023, 12, 22), 2) == dt.date(2023, 12, 28)
    # Thursday before Easter 2026 (Good Friday 3 April, Easter Monday 6 April): due Wednesday 8th.
    assert wf.add_working_days(dt.date(2026, 4, 2), 2) == dt.date(2026, 4, 8)
    assert wf.add_working_days(dt.date(2026, 12, 2), 2) == dt.date(2026, 12, 4)
    assert wf.working_days_between(dt.date(2023, 12, 22), dt.date(2023, 12, 28)) == 2


def _audit_count(advice: Advice) -> int:
    with advice.store.begin() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar_one())
