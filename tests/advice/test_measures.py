"""The whole path: advice and guidance requests made through the API (in process), the care record's
extract, ingest under pseudonyms, and the diversion indicator with its Wilson interval.

Morecambe Bay's figure: of 2,422 patients whose GP would otherwise have referred, 820 were referred;
1,602 diverted, 66.1%. The fixture makes 4,600 requests (2,422 with "would have referred" = yes) and
closes them as the service would, so the indicator must reproduce 66.1% from the warehouse alone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from caremodels.advice.app import create_app
from caremodels.care_record import init_store, open_store
from caremodels.care_record.extract import extract_ndjson
from caremodels.care_record.identity import demo_token, rotate_demo_key
from caremodels.indicators.advice import advice_measures, diversion
from caremodels.ingest import Pseudonymiser
from caremodels.ingest.fhir import load_fhir
from caremodels.reference.fhir import TREATMENT_FUNCTION_SYSTEM
from caremodels.warehouse import Warehouse
from tests.advice.fixture import build, request_body

START = dt.datetime(2025, 4, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


def _referral(
    client: TestClient, headers: dict[str, str], patient: str, specialty: str, when: dt.datetime
) -> None:
    response = client.post(
        "/fhir/ServiceRequest",
        json={
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "priority": "routine",
            "category": [{"coding": [{"system": TREATMENT_FUNCTION_SYSTEM, "code": specialty}]}],
            "subject": {"reference": f"Patient/{patient}"},
            "authoredOn": when.isoformat(),
            "requester": {"reference": "Organization/org-A81001"},
            "performer": [{"reference": "Organization/org-RTX"}],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text


def _run_fixture(
    url: str, total: int, intended: int, converted: int, advised_then_referred: int
) -> dict[str, Any]:
    """Make ``total`` requests through the API and close them; the counts of each kind made."""
    init_store(url)
    store = open_store(url)
    rotate_demo_key(store)
    patients = build(store, total)
    app = create_app(store)
    clock = Clock()
    app.state.service.clock = clock
    gp = {"Authorization": f"Bearer {demo_token(store, 'gp')}"}
    specialist = {"Authorization": f"Bearer {demo_token(store, 'specialist')}"}
    latest = START
    late = {"day 120": 0, "day 200": 0, "other specialty": 0, "not intended, referred": 0}
    with TestClient(app) as client:
        for position, patient in enumerate(patients):
            # Spread over a year, a request every working hour or so.
            clock.now = START + dt.timedelta(hours=2 * position)
            wants = position < intended
            body = request_body(patient, intended=wants, authorised=position % 3 != 0, specialty="330")
            made = client.post("/api/advice/requests", json=body, headers=gp)
            assert made.status_code == 201, made.text
            request_id = made.json()["request"]
            clock.now += dt.timedelta(hours=20)
            if wants and position < converted:
                body_ok = body["authorised_to_convert"]
                event = "convert" if body_ok else "advise-referral"
            elif wants and position < converted + advised_then_referred:
                event = "advise-referral"
            else:
                event = "advise"
            step = client.post(
                f"/api/advice/requests/{request_id}/{event}",
                json={"message": "Plan attached."},
                headers=specialist,
            )
            assert step.status_code == 200, step.text
            if event == "advise-referral":
                # The GP refers as advised, a week later.
                clock.now += dt.timedelta(days=7)
                _referral(client, gp, patient, "330", clock.now)
            elif event == "advise" and wants and position % 40 == 21:
                # Diverted, then referred after the 90-day window (but inside 180 days) ...
                clock.now += dt.timedelta(days=120)
                _referral(client, gp, patient, "330", clock.now)
                late["day 120"] += 1
            elif event == "advise" and wants and position % 40 == 22:
                # ... or after both windows, or to another specialty: still diverted from this one.
                clock.now += dt.timedelta(days=200)
                _referral(client, gp, patient, "330", clock.now)
                late["day 200"] += 1
            elif event == "advise" and wants and position % 40 == 23:
                _referral(client, gp, patient, "300", clock.now)
                late["other specialty"] += 1
            elif not wants and position % 10 == 0:
                _referral(client, gp, patient, "330", clock.now)
                late["not intended, referred"] += 1
            latest = max(latest, clock.now)
    return {"store": store, "late": late, "last": latest}


def _warehouse(store: Any, tmp_path: Path) -> Path:
    out = tmp_path / "extract"
    extract_ndjson(store, out)
    path = tmp_path / "warehouse.duckdb"
    with Warehouse(path) as warehouse:
        results = load_fhir(warehouse, sorted(out.glob("*.ndjson")), pseudonymiser=Pseudonymiser(b"k" * 32))
    assert all(result.rows_quarantined == 0 for result in results), [
        r.file for r in results if r.rows_quarantined
    ]
    return path


# About 4 minutes of CPU on one core (several transactions per request, every one decided and
# audited); on a shared machine it can take far longer, hence the generous timeout.
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_morecambe_bay_diversion_through_the_whole_path(
    tmp_path: Path, new_store_url: Callable[[str], str]
) -> None:
    # 820 referred = every request the specialist converted or advised a referral for (the GP then
    # referred): positions 0..819 of the 2,422 intended.
    made = _run_fixture(
        new_store_url("sqlite"), total=4_600, intended=2_422, converted=600, advised_then_referred=220
    )
    path = _warehouse(made["store"], tmp_path)
    made["store"].close()
    as_of = made["last"].date() + dt.timedelta(days=1)
    with Warehouse(path, read_only=True) as warehouse:
        assert warehouse.query("SELECT count(*) FROM advice_and_guidance")[0][0] == 4_600
        ninety = diversion(warehouse, 90, as_of=as_of)
        # The last requests are too recent for a 180-day window as of the end of the fixture: a later
        # date brings them in (the window is part of the result).
        year_on = diversion(warehouse, 180, as_of=as_of + dt.timedelta(days=365))
        measures = advice_measures(warehouse, as_of=as_of + dt.timedelta(days=365))
    assert (ninety.intended, ninety.referred, ninety.diverted) == (2_422, 820, 1_602)
    assert round(ninety.estimate.value, 1) == 66.1  # type: ignore[arg-type]
    assert (round(ninety.estimate.lower, 1), round(ninety.estimate.upper, 1)) == (64.2, 68.0)  # type: ignore[arg-type]
    # Within 180 days the referrals made at day 120 count too.
    assert year_on.referred == 820 + made["late"]["day 120"]
    assert measures.requests == 4_600 and measures.specialties == 1
    assert measures.response_days_median is not None and measures.response_days_median <= 1
    # Converted only when authorised: of the first 600, a third had no authorisation.
    assert measures.conversion is not None and measures.conversion.numerator == 400


def test_a_small_fixture_through_the_whole_path(tmp_path: Path, new_store_url: Callable[[str], str]) -> None:
    made = _run_fixture(new_store_url("sqlite"), total=60, intended=40, converted=9, advised_then_referred=5)
    path = _warehouse(made["store"], tmp_path)
    made["store"].close()
    with Warehouse(path, read_only=True) as warehouse:
        ninety = diversion(warehouse, 90, as_of=made["last"].date() + dt.timedelta(days=100))
        later = diversion(warehouse, 180, as_of=made["last"].date() + dt.timedelta(days=400))
        rows = warehouse.query(
            "SELECT intended_referral, count(*) FROM advice_and_guidance GROUP BY 1 ORDER BY 1"
        )
    assert rows == [("N", 20), ("Y", 40)]
    assert (ninety.intended, ninety.referred) == (40, 14)
    assert later.referred == 14 + made["late"]["day 120"]
    assert made["late"]["day 120"] == 1 and made["late"]["other specialty"] == 1
