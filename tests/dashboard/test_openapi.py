"""Schemathesis against the dashboard's OpenAPI document: generated requests to every operation
never cause a server error, answer with a documented status, and every JSON answer matches its
documented response model.

Kept small (a few derandomised examples per operation) so that it runs in seconds. The operations
are walked here rather than through ``schema.parametrize`` because the app needs the session's
warehouse fixture, and schemathesis' lazy fixture loader does not work with pytest 9.
"""

from __future__ import annotations

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

EXAMPLES_PER_OPERATION = 5


def test_no_server_errors_and_answers_match_the_schema(dashboard_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", dashboard_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
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
            case.call_and_validate(
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
            )

        check()


def test_every_endpoint_has_a_response_model(dashboard_app: FastAPI) -> None:
    document = dashboard_app.openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation["responses"]["200"]["content"]
            if path.startswith("/api/"):
                assert "$ref" in str(content["application/json"]["schema"]), (method, path)
            else:
                assert "text/csv" in content, (method, path)
