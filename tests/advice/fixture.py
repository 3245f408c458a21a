"""A small directory for advice and guidance: two practices and two trusts in one data-sharing agreement
that requires a legitimate relationship, a trust outside it, their users, and patients registered at
the first practice, written straight into a store (the requests themselves go through the API)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from caremodels.care_record.policy import LEGITIMATE_RELATIONSHIP
from caremodels.care_record.registry import NHS_NUMBER_SYSTEM, ODS_SYSTEM, resource_type
from caremodels.care_record.resources import now_text, write_resource
from caremodels.care_record.store import Store, agreement_members, sharing_agreements, users
from caremodels.synth.nhs_number import synthetic_nhs_numbers

PRACTICE = "A81001"
OTHER_PRACTICE = "A81002"
TRUST = "RTX"
OTHER_TRUST = "RXN"
OUTSIDE = "RX999"
USERS = {
    "gp": ("R8000", PRACTICE),
    "gp-other-practice": ("R8000", OTHER_PRACTICE),
    "receptionist": ("R8010", PRACTICE),
    "specialist": ("R8000", TRUST),
    "other-specialist": ("R8000", OTHER_TRUST),
    "outside-clinician": ("R8000", OUTSIDE),
}


def build(store: Store, patients: int) -> list[str]:
    """Write the directory and ``patients`` patients at PRACTICE; their ids."""
    moment = now_text(dt.datetime.now(dt.UTC))
    numbers = synthetic_nhs_numbers(np.arange(patients), population=patients, seed=16)
    ids = [f"ag{position:05d}" for position in range(patients)]
    with store.begin() as conn:
        for code in (PRACTICE, OTHER_PRACTICE, TRUST, OTHER_TRUST, OUTSIDE):
            body: dict[str, Any] = {
                "resourceType": "Organization",
                "identifier": [{"system": ODS_SYSTEM, "value": code}],
                "name": code,
                "active": True,
            }
            write_resource(
                conn,
                resource_type("Organization"),  # type: ignore[arg-type]
                body,
                resource_id=f"org-{code}",
                patient_id=None,
                moment=moment,
                expected_version=None,
            )
        conn.execute(sharing_agreements.insert().values(id="icr", name="ICR", mode=LEGITIMATE_RELATIONSHIP))
        conn.execute(
            agreement_members.insert(),
            [
                {"agreement_id": "icr", "org_code": code}
                for code in (PRACTICE, OTHER_PRACTICE, TRUST, OTHER_TRUST)
            ],
        )
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
        for position, patient_id in enumerate(ids):
            write_resource(
                conn,
                resource_type("Patient"),  # type: ignore[arg-type]
                {
                    "resourceType": "Patient",
                    "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": str(numbers[position])}],
                    "gender": "female" if position % 2 else "male",
                    "birthDate": "1960-06-15",
                    "generalPractitioner": [{"reference": f"Organization/org-{PRACTICE}"}],
                },
                resource_id=patient_id,
                patient_id=patient_id,
                moment=moment,
                expected_version=None,
            )
    return ids


def request_body(
    patient_id: str, *, intended: bool = True, authorised: bool = True, specialty: str = "330"
) -> dict[str, Any]:
    return {
        "patient": patient_id,
        "provider": TRUST,
        "specialty": specialty,
        "question": "Widespread plaque psoriasis despite potent topical steroids: next step?",
        "would_otherwise_refer": intended,
        "authorised_to_convert": authorised,
    }
