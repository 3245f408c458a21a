"""Schemathesis against /fhir with a GP's token: generated requests never cause a server error, and
no answer carries a patient the GP may not see.

Each generated request is also sent again aimed at a real resource type and a real patient (random
strings mostly miss), so the fuzzing reaches the store, the policy and the audit. Kept small
(derandomised, a few examples per operation); the operations are walked as in the dashboard's test.
"""

from __future__ import annotations

import itertools

import schemathesis
from hypothesis import HealthCheck, given, settings

from caremodels.care_record.registry import registered
from tests.care_record.scenario import expected

EXAMPLES_PER_OPERATION = 12
GP = "clinician-practice-legitimate"


def test_fhir_api_fuzzing(scenario) -> None:
    app = scenario.app.app
    headers = scenario.token(GP)
    forbidden = {
        patient_id
        for case in scenario.cases
        if case.mode == "consortium"  # the GP's practice shares no agreement with that practice
        for patient_id in [scenario.patients[case.key]]
    }
    assert all(
        expected(case) != "allow" or case.user_id() != GP
        for case in scenario.cases
        if scenario.patients[case.key] in forbidden
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path.startswith("/fhir")
    ]
    assert len(operations) >= 8
    names = itertools.cycle(sorted(registered()))
    targets = itertools.cycle(sorted(scenario.patients.values()))
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            responses = [case.call(headers=headers)]
            if case.path_parameters:
                if "resource_type" in case.path_parameters:
                    case.path_parameters["resource_type"] = next(names)
                for key in ("resource_id", "patient_id"):
                    if key in case.path_parameters:
                        case.path_parameters[key] = next(targets)
                responses.append(case.call(headers=headers))
            for response in responses:
                assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
                if response.status_code == 200:
                    leaked = {
                        patient_id
                        for patient_id in forbidden
                        if f"Patient/{patient_id}" in response.text or f'"id":"{patient_id}"' in response.text
                    }
                    assert not leaked, (case.method, case.formatted_path)

        check()
