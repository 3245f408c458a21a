"""A small, exact consortium for the gateway tests: trusts (members from the consortium file, one
outside), a practice outside the consortium, patients with NHS numbers, demo users, written straight
into a store; two trusts' archives behind the gateway."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from caremodels.care_record.registry import NHS_NUMBER_SYSTEM, ODS_SYSTEM, resource_type
from caremodels.care_record.resources import now_text, write_resource
from caremodels.care_record.store import Store, users
from caremodels.imaging.consortium import ensure_consortium, load_consortium
from caremodels.imaging.synthetic import StudySpec, make_study
from caremodels.synth.nhs_number import synthetic_nhs_numbers

TRUSTS = ("RX1", "RK5")  # the two archives
DERBY, OUTSIDE, PRACTICE = "RTG", "RJZ", "C84001"
USERS = {
    "radiologist": ("R8000", "RX1"),
    "sherwood-radiographer": ("R8003", "RK5"),
    "derby-clinician": ("R8000", DERBY),
    "outside-clinician": ("R8000", OUTSIDE),
    "privacy-officer": ("R0001", "RX1"),
    "clerk": ("R8010", "RX1"),
}


def build(store: Store, patients: int = 3) -> list[str]:
    """The world; the patients' NHS numbers (patient ids are p0, p1, ...)."""
    moment = now_text(dt.datetime.now(dt.UTC))
    numbers = [str(n) for n in synthetic_nhs_numbers(np.arange(patients), population=patients, seed=11)]
    with store.begin() as conn:
        for code in (*TRUSTS, DERBY, OUTSIDE, PRACTICE):
            body = {
                "resourceType": "Organization",
                "identifier": [{"system": ODS_SYSTEM, "value": code}],
                "name": code,
            }
            write_resource(
                conn,
                resource_type("Organization"),
                body,
                resource_id=f"org-{code}",
                patient_id=None,
                moment=moment,
                expected_version=None,
            )  # type: ignore[arg-type]
        for position, number in enumerate(numbers):
            body: dict[str, Any] = {
                "resourceType": "Patient",
                "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": number}],
                "birthDate": "1950-02-03",
                "generalPractitioner": [{"reference": f"Organization/org-{PRACTICE}"}],
            }
            write_resource(
                conn,
                resource_type("Patient"),
                body,
                resource_id=f"p{position}",
                patient_id=f"p{position}",
                moment=moment,
                expected_version=None,
            )  # type: ignore[arg-type]
        for user_id, (role, org) in USERS.items():
            conn.execute(
                users.insert().values(
                    id=user_id,
                    name=user_id,
                    sds_user_id=f"sds-{user_id}",
                    role_profile_id=f"rp-{user_id}",
                    role_code=role,
                    org_code=org,
                    practitioner_id=None,
                    description="",
                )
            )
        ensure_consortium(conn, load_consortium())
    return numbers


def study(key: str, nhs_number: str, modality: str, trust: str, seed: int = 1) -> list[bytes]:
    spec = StudySpec(
        key, nhs_number, "Test", "Pat", "19500203", "F", modality, "20240301", f"A{key}"[:16], trust
    )
    return make_study(spec, np.random.default_rng(seed))
